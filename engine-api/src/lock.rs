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
//!   any descriptor of a file drops the process's record locks on it. Within one
//!   process a store has one handle at a time, read-only ones included: redb, fjall
//!   and LMDB refuse to open one database twice in a process, and LMDB's own locks
//!   break if it is.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::{LazyLock, Mutex, PoisonError};

use crate::error::{Error, Result};

/// The lock file's name inside a store directory.
pub const LOCK_FILE: &str = "FSMSTORE.lock";

/// A lock file's identity: its device and inode numbers.
type FileId = (u64, u64);

/// The lock files this process holds.
///
/// The registry owns each held file's one descriptor. Every change, including the
/// close of a descriptor, happens under its mutex, so no second descriptor of a held
/// file is ever opened (closing it would drop the first one's record lock) and no
/// holder's release runs while another thread is in the middle of taking the lock.
static HELD: LazyLock<Mutex<HashMap<FileId, Held>>> = LazyLock::new(Default::default);

/// One lock file held by this process.
#[derive(Debug)]
struct Held {
    /// The one descriptor this process keeps on the lock file while it is held;
    /// closed (by removing the entry) only under the registry's mutex.
    _file: File,
    /// Descriptors of the same file opened by a take that lost a race with a rename of
    /// the lock file: closing one would drop the record lock, so they live as long as
    /// the entry.
    spare: Vec<File>,
}

fn registry() -> std::sync::MutexGuard<'static, HashMap<FileId, Held>> {
    // Every update of the map is a single insert, remove or counter step, so a panic
    // elsewhere cannot leave it half-written.
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A held store lock; released on drop.
#[derive(Debug)]
pub(crate) struct StoreLock {
    /// The registry entry this handle owns; `None` for a shared lock of a store that
    /// has no lock file (and so no writer).
    id: Option<FileId>,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            // Closing the descriptor releases the record lock; under the mutex, so no
            // other thread can have locked the file through another descriptor.
            registry().remove(&id);
        }
    }
}

impl StoreLock {
    /// Takes the exclusive lock of the store in `dir`, creating the lock file.
    pub(crate) fn exclusive(dir: &Path) -> Result<Self> {
        take(dir, true)
    }

    /// Takes a shared lock of the store in `dir` for reading, creating nothing: a store
    /// without a lock file has no writer. Other processes may hold shared locks too;
    /// within this process the store must not be held at all.
    pub(crate) fn shared(dir: &Path) -> Result<Self> {
        take(dir, false)
    }
}

fn take(dir: &Path, exclusive: bool) -> Result<StoreLock> {
    let path = dir.join(LOCK_FILE);
    // The registry's mutex serialises every lock and unlock in this process.
    let mut held = registry();
    // Look the file up by its identity without opening it: closing a second descriptor
    // would release the record lock the first one holds.
    match std::fs::metadata(&path) {
        Ok(metadata) => {
            if held.contains_key(&file_id(&metadata)) {
                return Err(Error::Locked(dir.to_owned()));
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound && !exclusive => {
            return Ok(StoreLock { id: None });
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
    let id = file_id(&file.metadata()?);
    if let Some(entry) = held.get_mut(&id) {
        // The path now names a held file it did not name a moment ago (a rename under
        // a live store). Closing this descriptor would drop the holder's record lock.
        entry.spare.push(file);
        return Err(Error::Locked(dir.to_owned()));
    }
    lock_file(&file, exclusive).map_err(|error| match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::PermissionDenied => {
            Error::Locked(dir.to_owned())
        }
        _ => Error::Io(error),
    })?;
    held.insert(
        id,
        Held {
            _file: file,
            spare: Vec::new(),
        },
    );
    Ok(StoreLock { id: Some(id) })
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
        assert!(matches!(
            StoreLock::exclusive(dir.path()),
            Err(Error::Locked(_))
        ));
        // Engines refuse to open one database twice in a process: so does the lock,
        // for readers too.
        assert!(matches!(
            StoreLock::shared(dir.path()),
            Err(Error::Locked(_))
        ));
        drop(reader);
        StoreLock::exclusive(dir.path()).expect("free again");
    }

    #[test]
    fn a_shared_lock_creates_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        StoreLock::shared(dir.path()).expect("shared");
        assert!(!dir.path().join(LOCK_FILE).exists());
    }

    /// Whether a lock of `kind` on the whole file would conflict with a lock this
    /// process holds, asked of the kernel through the probe's own open file
    /// description: open-file-description locks conflict with classic record locks,
    /// even those of the same process, so this sees what another process would meet.
    #[cfg(target_os = "linux")]
    fn kernel_sees_a_lock(probe: &File, kind: nix::libc::c_short) -> bool {
        use nix::fcntl::{FcntlArg, fcntl};
        let mut query = nix::libc::flock {
            l_type: kind,
            l_whence: nix::libc::SEEK_SET as nix::libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        fcntl(probe, FcntlArg::F_OFD_GETLK(&mut query)).expect("F_OFD_GETLK");
        query.l_type != nix::libc::F_UNLCK as nix::libc::c_short
    }

    /// Threads take and drop shared and exclusive locks of one store as fast as they
    /// can, retrying on `Locked`, while each checks through the kernel that the
    /// cross-process lock is there for as long as it holds a `StoreLock`. A registry
    /// that closes a dying holder's descriptor after a new holder locked the file, or
    /// that drops a holder inside its own mutex, fails this (a lost lock is counted; a
    /// deadlock fails the bounded wait).
    #[cfg(target_os = "linux")]
    #[test]
    fn racing_takes_and_drops_never_leave_a_holder_without_the_kernel_lock() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::{Duration, Instant};

        const THREADS: usize = 4;
        const TAKES_PER_THREAD: u64 = 3_000;
        let dir = tempfile::tempdir().expect("temp dir");
        drop(StoreLock::exclusive(dir.path()).expect("creates the lock file"));
        let probe = Arc::new(File::open(dir.path().join(LOCK_FILE)).expect("probe"));
        let (acquired, unlocked, refused) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (done, finished) = std::sync::mpsc::channel();
        for thread in 0..THREADS {
            let (dir, probe) = (dir.path().to_owned(), Arc::clone(&probe));
            let (acquired, unlocked, refused) = (
                Arc::clone(&acquired),
                Arc::clone(&unlocked),
                Arc::clone(&refused),
            );
            let done = done.clone();
            std::thread::spawn(move || {
                let mut taken = 0;
                let mut attempt = 0u64;
                while taken < TAKES_PER_THREAD {
                    attempt += 1;
                    // Shared and exclusive takes, so that drops race takes of both
                    // kinds and refusals of both kinds.
                    let exclusive = (attempt + thread as u64).is_multiple_of(5);
                    let lock = if exclusive {
                        StoreLock::exclusive(&dir)
                    } else {
                        StoreLock::shared(&dir)
                    };
                    match lock {
                        Ok(lock) => {
                            taken += 1;
                            acquired.fetch_add(1, Ordering::Relaxed);
                            let kind = if exclusive {
                                nix::libc::F_RDLCK
                            } else {
                                nix::libc::F_WRLCK
                            };
                            if !kernel_sees_a_lock(&probe, kind as nix::libc::c_short) {
                                unlocked.fetch_add(1, Ordering::Relaxed);
                            }
                            drop(lock);
                        }
                        Err(Error::Locked(_)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => panic!("unexpected error: {error}"),
                    }
                }
                done.send(()).expect("report");
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        for _ in 0..THREADS {
            let left = deadline.saturating_duration_since(Instant::now());
            finished
                .recv_timeout(left)
                .expect("a thread hung: the lock registry deadlocked");
        }
        let (acquired, unlocked, refused) = (
            acquired.load(Ordering::Relaxed),
            unlocked.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
        );
        println!("acquired {acquired}, refused {refused}, held without the kernel lock {unlocked}");
        assert_eq!(acquired, THREADS as u64 * TAKES_PER_THREAD);
        assert!(refused > 0, "no take ever met another holder");
        assert_eq!(unlocked, 0, "a holder ran without the cross-process lock");
        // Every holder is gone: the lock is free again, across processes too.
        assert!(!kernel_sees_a_lock(
            &probe,
            nix::libc::F_WRLCK as nix::libc::c_short
        ));
        drop(StoreLock::exclusive(dir.path()).expect("free again"));
    }
}
