//! Making directory entries durable.
//!
//! An fsync of a file makes its contents durable, not its name: POSIX promises a new,
//! renamed or removed entry durable only after an fsync of the directory that holds it.
//! Engines fsync their own files, but not always the directories they create (fjall 3.1
//! creates `keyspaces/<id>` without an fsync of `keyspaces/`), so fsmstore makes a new
//! store, and each new engine generation, durable itself: every file and directory of
//! the tree bottom-up, then the directory that holds the tree.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::Result;
use crate::lock::LOCK_FILE;

/// Fsyncs a directory so that a create, rename or removal inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Fsyncs every file and directory under `root`, bottom-up, then `root` itself.
///
/// `locked` names files, relative to `root`, that are never opened: the engine's own
/// `fcntl`-locked files ([`RawEngine::LOCK_FILES`](crate::RawEngine::LOCK_FILES)), and
/// the store's [`LOCK_FILE`] at any depth. Closing any descriptor of a file drops every
/// record lock the process holds on it, so opening one of them here would silently
/// unlock a running engine (LMDB's `lock.mdb`, RocksDB's `LOCK`). They hold no data
/// that needs an fsync; their directory entries are made durable with the directory.
///
/// Files that vanish while the tree is walked (an engine's temporary files) are skipped:
/// only what stays needs to be durable.
pub fn sync_tree(root: &Path, locked: &[&str]) -> Result<()> {
    sync_subtree(root, Path::new(""), locked)
}

fn sync_subtree(root: &Path, relative: &Path, locked: &[&str]) -> Result<()> {
    let dir = root.join(relative);
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let inside = relative.join(&name);
        if name == LOCK_FILE || locked.iter().any(|path| Path::new(path) == inside) {
            continue;
        }
        let outcome = match entry.file_type() {
            Ok(kind) if kind.is_dir() => sync_subtree(root, &inside, locked),
            Ok(kind) if kind.is_file() => sync_file(&entry.path()),
            Ok(_) => Ok(()),
            Err(error) => Err(error.into()),
        };
        match outcome {
            Err(crate::Error::Io(error)) if error.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    sync_dir(&dir)
}

/// Fsyncs the directory that holds `path`, so that `path`'s own entry is durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Creates `dir` and every missing ancestor (`create_dir_all`), then fsyncs the parent
/// of each directory it may have created, so that the whole chain survives a power cut.
///
/// A store made durable by fsmstore syncs its own directory's entry, not the entries of
/// the directories above it: a data directory created with a plain `create_dir_all` just
/// before the store is opened can vanish at a power cut together with everything the
/// store fsynced inside it. The directory itself is synced into its parent even when it
/// existed already, because the process that created it may have died before syncing.
pub fn create_dir_all_durably(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut ancestor = Some(dir);
    while let Some(path) = ancestor.filter(|path| !path.as_os_str().is_empty() && !path.is_dir()) {
        missing.push(path.to_path_buf());
        ancestor = path.parent();
    }
    fs::create_dir_all(dir)?;
    if missing.is_empty() {
        missing.push(dir.to_path_buf());
    }
    for path in missing {
        sync_parent(&path)?;
    }
    Ok(())
}

fn sync_file(path: &Path) -> Result<()> {
    // A read-only descriptor is enough: fsync acts on the file, not the descriptor.
    fs::File::open(path)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_with_nested_files_syncs_and_a_missing_root_is_an_error() {
        let root = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(root.path().join("a/b")).expect("dirs");
        fs::write(root.path().join("a/b/file"), b"x").expect("file");
        sync_tree(root.path(), &[]).expect("sync");
        sync_parent(&root.path().join("a")).expect("sync parent");
        assert!(matches!(
            sync_tree(&root.path().join("missing"), &[]),
            Err(crate::Error::Io(error)) if error.kind() == io::ErrorKind::NotFound
        ));
    }

    /// The files the engine locks are never opened, at the depth they are named, while
    /// a file of the same name elsewhere is synced. A descriptor opened and closed on a
    /// locked file would drop the process's record lock on it: the test holds one and
    /// asks the kernel afterwards.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_tree_sync_never_opens_the_engines_locked_files() {
        use nix::fcntl::{FcntlArg, fcntl};
        use rustix::fs::{FlockOperation, fcntl_lock};

        let root = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(root.path().join("engine")).expect("dirs");
        fs::write(root.path().join("engine/LOCK"), b"").expect("lock file");
        fs::write(root.path().join("LOCK"), b"").expect("same name, not locked");
        let held = fs::File::options()
            .read(true)
            .write(true)
            .open(root.path().join("engine/LOCK"))
            .expect("open");
        fcntl_lock(&held, FlockOperation::NonBlockingLockExclusive).expect("lock");
        sync_tree(root.path(), &["engine/LOCK"]).expect("sync");
        let probe = fs::File::open(root.path().join("engine/LOCK")).expect("probe");
        let mut query = nix::libc::flock {
            l_type: nix::libc::F_RDLCK as nix::libc::c_short,
            l_whence: nix::libc::SEEK_SET as nix::libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        fcntl(&probe, FcntlArg::F_OFD_GETLK(&mut query)).expect("F_OFD_GETLK");
        assert_ne!(
            query.l_type,
            nix::libc::F_UNLCK as nix::libc::c_short,
            "the tree sync dropped the record lock"
        );
    }
}
