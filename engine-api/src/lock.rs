//! One process per store: a lock on a file in the store directory.
//!
//! Every engine but LMDB refuses a second writer on its own, and LMDB lets several
//! processes open one environment. A second handle breaks exactly-once apply (each keeps
//! its own apply lock and cached index), and a second open removes generations that are
//! not live, including the one a running restore is building. So a store holds an
//! exclusive lock on [`LOCK_FILE`] for its whole life, on every engine, and a read-only
//! open holds a shared one.
//!
//! The lock has two halves, as RocksDB's is built:
//! - across processes, an `fcntl` record lock. Unlike `flock`, it belongs to the process,
//!   not to the open file, so a child forked by another thread (which holds a copy of
//!   every descriptor until it calls `exec`) never keeps a closed store locked. The
//!   kernel releases it when the process dies, so a crash leaves no stale lock;
//! - within the process, a registry of the lock files held, because record locks never
//!   conflict inside one process. It also keeps one descriptor per lock file: closing
//!   any descriptor of a file drops the process's record locks on it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use crate::error::{Error, Result};

/// The lock file's name inside a store directory.
pub const LOCK_FILE: &str = "FSMSTORE.lock";

/// A lock file's identity: its device and inode numbers.
type FileId = (u64, u64);

/// The lock files this process holds.
static HELD: LazyLock<Mutex<HashMap<FileId, Weak<Held>>>> = LazyLock::new(Default::default);

/// One lock file held by this process.
#[derive(Debug)]
struct Held {
    /// The one descriptor this process keeps on the lock file while it is held.
    _file: File,
    exclusive: bool,
    id: FileId,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        // A new holder may already have replaced a dead entry.
        if held
            .get(&self.id)
            .is_some_and(|entry| entry.strong_count() == 0)
        {
            held.remove(&self.id);
        }
    }
}

/// A held store lock; released on drop.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _held: Option<Arc<Held>>,
}

impl StoreLock {
    /// Takes the exclusive lock of the store in `dir`, creating the lock file.
    pub(crate) fn exclusive(dir: &Path) -> Result<Self> {
        take(dir, true)
    }

    /// Takes a shared lock of the store in `dir` for reading, creating nothing: a store
    /// without a lock file has no writer.
    pub(crate) fn shared(dir: &Path) -> Result<Self> {
        take(dir, false)
    }
}

fn take(dir: &Path, exclusive: bool) -> Result<StoreLock> {
    let path = dir.join(LOCK_FILE);
    // The registry's mutex serialises every lock and unlock in this process.
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    // Look the file up by its identity without opening it: closing a second descriptor
    // would release the record lock the first one holds.
    match std::fs::metadata(&path) {
        Ok(metadata) => {
            if let Some(existing) = held.get(&file_id(&metadata)).and_then(Weak::upgrade) {
                return if exclusive || existing.exclusive {
                    Err(Error::Locked(dir.to_owned()))
                } else {
                    Ok(StoreLock {
                        _held: Some(existing),
                    })
                };
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound && !exclusive => {
            return Ok(StoreLock { _held: None });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    let file = if exclusive {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?
    } else {
        File::open(&path)?
    };
    lock_file(&file, exclusive).map_err(|error| match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::PermissionDenied => {
            Error::Locked(dir.to_owned())
        }
        _ => Error::Io(error),
    })?;
    let id = file_id(&file.metadata()?);
    let entry = Arc::new(Held {
        _file: file,
        exclusive,
        id,
    });
    held.insert(id, Arc::downgrade(&entry));
    Ok(StoreLock { _held: Some(entry) })
}

#[cfg(unix)]
fn file_id(metadata: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(unix)]
fn lock_file(file: &File, exclusive: bool) -> io::Result<()> {
    use rustix::fs::{FlockOperation, fcntl_lock};
    let operation = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    fcntl_lock(file, operation).map_err(io::Error::from)
}

#[cfg(not(unix))]
fn file_id(metadata: &std::fs::Metadata) -> FileId {
    // No inode numbers to go by: one id for every lock file, so this process opens one
    // store at a time.
    let _ = metadata;
    (0, 0)
}

#[cfg(not(unix))]
fn lock_file(file: &File, exclusive: bool) -> io::Result<()> {
    if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    }
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_exclusive_lock_in_one_process_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = StoreLock::exclusive(dir.path()).expect("first");
        assert!(matches!(
            StoreLock::exclusive(dir.path()),
            Err(Error::Locked(path)) if path == dir.path()
        ));
        assert!(matches!(
            StoreLock::shared(dir.path()),
            Err(Error::Locked(_))
        ));
        drop(first);
        let reader = StoreLock::shared(dir.path()).expect("shared after release");
        let second_reader = StoreLock::shared(dir.path()).expect("readers share");
        assert!(matches!(
            StoreLock::exclusive(dir.path()),
            Err(Error::Locked(_))
        ));
        drop(reader);
        // The other reader still holds the file, so a writer is still refused.
        assert!(matches!(
            StoreLock::exclusive(dir.path()),
            Err(Error::Locked(_))
        ));
        drop(second_reader);
        StoreLock::exclusive(dir.path()).expect("free again");
    }

    #[test]
    fn a_shared_lock_creates_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        StoreLock::shared(dir.path()).expect("shared");
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
