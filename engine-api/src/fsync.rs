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
/// Files that vanish while the tree is walked (an engine's temporary files) are skipped:
/// only what stays needs to be durable.
pub fn sync_tree(root: &Path) -> Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_name() == LOCK_FILE {
            // Holds nothing, and closing a descriptor of it would drop this process's
            // record lock on it.
            continue;
        }
        let path = entry.path();
        let outcome = match entry.file_type() {
            Ok(kind) if kind.is_dir() => sync_tree(&path),
            Ok(kind) if kind.is_file() => sync_file(&path),
            Ok(_) => Ok(()),
            Err(error) => Err(error.into()),
        };
        match outcome {
            Err(crate::Error::Io(error)) if error.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    sync_dir(root)
}

/// Fsyncs the directory that holds `path`, so that `path`'s own entry is durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
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
        sync_tree(root.path()).expect("sync");
        sync_parent(&root.path().join("a")).expect("sync parent");
        assert!(matches!(
            sync_tree(&root.path().join("missing")),
            Err(crate::Error::Io(error)) if error.kind() == io::ErrorKind::NotFound
        ));
    }
}
