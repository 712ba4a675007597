//! Engine generations: which copy of the engine's files in a store directory is live.
//!
//! A store starts at generation 0, with the engine's files in the store directory
//! itself. A restore builds generation `n + 1` in the subdirectory `gen-<n+1>`, makes it
//! durable, and switches by rewriting the marker (one atomic rename). Whatever a crash
//! interrupts, the marker names a complete generation: the old one until the rename, the
//! new one after it. Leftovers of the other generations are removed at the next open.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lock::LOCK_FILE;
use crate::marker::MARKER_FILE;

const PREFIX: &str = "gen-";

/// Where the engine files of `generation` live inside the store directory `dir`.
pub(crate) fn engine_dir(dir: &Path, generation: u64) -> PathBuf {
    if generation == 0 {
        dir.to_owned()
    } else {
        dir.join(format!("{PREFIX}{generation}"))
    }
}

/// Checks that the live generation's files exist: a marker that names a generation
/// whose directory or engine files are gone must not open as an empty store.
/// `engine_files` are paths relative to the generation's directory that every store of
/// the engine has once created.
pub(crate) fn check_live(
    dir: &Path,
    engine: &str,
    generation: u64,
    engine_files: &[&str],
) -> Result<()> {
    let engine_dir = engine_dir(dir, generation);
    let missing = std::iter::once(engine_dir.clone())
        .chain(engine_files.iter().map(|file| engine_dir.join(file)))
        .find(|path| fs::symlink_metadata(path).is_err());
    match missing {
        None => Ok(()),
        Some(path) => Err(Error::Corruption(format!(
            "{}: the marker names a {engine} store (generation {generation}), but {} is missing",
            dir.display(),
            path.display()
        ))),
    }
}

/// Removes everything an interrupted creation may have left in the store directory `dir`
/// except the marker and the lock file.
pub(crate) fn clear_unfinished(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == MARKER_FILE || name == LOCK_FILE {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            remove_dir(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// An empty directory for building generation `generation`, replacing any leftover of
/// an earlier attempt.
pub(crate) fn fresh_dir(dir: &Path, generation: u64) -> Result<PathBuf> {
    let path = engine_dir(dir, generation);
    remove_dir(&path)?;
    fs::create_dir(&path)?;
    Ok(path)
}

/// Removes the files of every generation but `live`: a finished restore's predecessor
/// and an unfinished restore's partial copy.
pub(crate) fn remove_others(dir: &Path, live: u64) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let generation = name
            .strip_prefix(PREFIX)
            .and_then(|number| number.parse::<u64>().ok());
        let remove = match generation {
            Some(generation) => generation != live,
            // Generation 0's files are everything but the marker, the temporary file
            // the marker is written through, the lock file and the other generations.
            None => live != 0 && name != MARKER_FILE && name != LOCK_FILE && !name.starts_with('.'),
        };
        if remove {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                remove_dir(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

fn remove_dir(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn generation_zero_keeps_its_files_and_drops_partial_generations() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path();
        fs::write(dir.join(MARKER_FILE), "m").expect("marker");
        fs::write(dir.join("data.redb"), "d").expect("engine file");
        fresh_dir(dir, 1).expect("partial restore");
        fs::write(dir.join("gen-1").join("data.redb"), "half").expect("partial file");
        remove_others(dir, 0).expect("clean");
        assert_eq!(names(dir), ["FSMSTORE", "data.redb"]);
    }

    #[test]
    fn a_later_generation_drops_generation_zero_and_older_ones() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path();
        fs::write(dir.join(MARKER_FILE), "m").expect("marker");
        fs::write(dir.join(LOCK_FILE), "").expect("lock");
        fs::create_dir(dir.join("fjall")).expect("engine dir");
        // Generation 0's files are removed by what they are, whatever their name.
        fs::write(dir.join("FSMSTORE-engine-file"), "d").expect("engine file");
        fresh_dir(dir, 2).expect("old generation");
        fresh_dir(dir, 3).expect("live generation");
        fresh_dir(dir, 4).expect("partial generation");
        remove_others(dir, 3).expect("clean");
        assert_eq!(names(dir), ["FSMSTORE", "FSMSTORE.lock", "gen-3"]);
        check_live(dir, "fjall", 3, &[]).expect("live");
        assert!(matches!(
            check_live(dir, "fjall", 4, &[]),
            Err(Error::Corruption(_))
        ));
    }

    #[test]
    fn a_live_generation_without_its_engine_files_is_corruption_naming_the_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path();
        fs::write(dir.join(MARKER_FILE), "m").expect("marker");
        match check_live(dir, "redb", 0, &["data.redb"]) {
            Err(Error::Corruption(message)) => {
                assert!(message.contains("data.redb"), "{message}");
                assert!(message.contains("redb store"), "{message}");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        fs::write(dir.join("data.redb"), "d").expect("engine file");
        check_live(dir, "redb", 0, &["data.redb"]).expect("complete");
    }

    #[test]
    fn clearing_an_unfinished_creation_keeps_only_the_marker_and_the_lock() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path();
        fs::write(dir.join(MARKER_FILE), "m").expect("marker");
        fs::write(dir.join(LOCK_FILE), "").expect("lock");
        fs::write(dir.join(".FSMSTORE.tmp"), "t").expect("temporary marker");
        fs::create_dir_all(dir.join("fjall/keyspaces/1")).expect("engine dirs");
        clear_unfinished(dir).expect("clear");
        assert_eq!(names(dir), ["FSMSTORE", "FSMSTORE.lock"]);
    }
}
