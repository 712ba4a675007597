//! Directory ownership: which engine a store directory belongs to.
//!
//! No engine refuses a directory that another engine made: RocksDB, fjall and LMDB
//! silently create a second, empty database beside the first. So a store writes a small
//! marker file when it creates its directory, and every open checks it before the engine
//! touches anything.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsync::sync_dir;
use crate::lock::LOCK_FILE;
use crate::sync_mode::SyncMode;

/// The marker's file name inside a store directory.
pub const MARKER_FILE: &str = "FSMSTORE";

/// The store layout version this build writes and the newest it reads.
///
/// 1: the engine's files sit in the store directory. 2 adds engine generations (see
/// [`Marker::generation`]); a version-1 store is generation 0 and opens unchanged. 3 is
/// a groups store ([`Layout::Groups`]); a store of one group keeps writing 2, so builds
/// that predate groups still open it, and refuse a groups store.
pub const STORE_FORMAT_VERSION: u32 = 3;

/// What a store directory holds: one state machine, or many groups in one engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// One state machine: a [`Store`](crate::Store).
    #[default]
    Single,
    /// Many groups, each an [`Engine`](crate::Engine) of its own, in one engine: a
    /// [`GroupStore`](crate::GroupStore).
    Groups,
}

impl Layout {
    /// The store format version a marker of this layout is written with.
    pub fn format_version(self) -> u32 {
        match self {
            Layout::Single => 2,
            Layout::Groups => 3,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Single => "a one-group store",
            Layout::Groups => "a groups store",
        })
    }
}

const MAGIC_LINE: &str = "fsmstore store marker";

/// What a directory marker records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The engine that created the store (`redb`, `fjall`, ...).
    pub engine: String,
    /// The store layout version.
    pub format_version: u32,
    /// The sync mode in force when the store was created, if recorded.
    pub created_sync_mode: Option<SyncMode>,
    /// Which copy of the engine's files is live: 0 is the store directory itself, `n`
    /// its subdirectory `gen-n`. A restore builds the next generation beside the live
    /// one and switches by rewriting this marker, which is what makes it atomic.
    pub generation: u64,
    /// Whether the store's creation finished. A new store's marker is written before
    /// the engine creates its files and rewritten as complete once they are durable, so
    /// an incomplete marker means a creation that never returned: nothing in the store
    /// was ever acknowledged, and the next open starts the creation over.
    pub complete: bool,
    /// Whether a writable session since the last clean close ran in
    /// [`SyncMode::NoSync`] committed something: its commits may have reached the OS
    /// without an fsync, so after a power cut the engine's log may hold holes. Set
    /// before the session's first unsynced commit, cleared by a clean close; the open
    /// passes it on to the engine (see [`Recovery`](crate::Recovery)).
    pub unsynced_writes: bool,
    /// The highest applied index a checkpoint or a restore made durable, if recorded.
    /// An open that finds the engine recovered below it fails with
    /// [`Error::RolledBack`] instead of serving an older state. In a groups store
    /// ([`Layout::Groups`]) it is the number of the commit pipeline's durable round that
    /// made a group's checkpoint or restore durable; the engine holds the number of its
    /// last durable round.
    pub pinned: Option<u64>,
    /// One state machine, or many groups.
    pub layout: Layout,
}

impl Marker {
    fn encode(&self) -> String {
        let mut text = format!(
            "{MAGIC_LINE}\nengine={}\nformat={}\n",
            self.engine, self.format_version
        );
        if let Some(mode) = self.created_sync_mode {
            text.push_str(&format!("created_sync_mode={mode}\n"));
        }
        if self.generation > 0 {
            text.push_str(&format!("generation={}\n", self.generation));
        }
        if !self.complete {
            text.push_str("creating=1\n");
        }
        if self.unsynced_writes {
            text.push_str("unsynced_writes=1\n");
        }
        if let Some(pinned) = self.pinned {
            text.push_str(&format!("pinned={pinned}\n"));
        }
        if self.layout == Layout::Groups {
            text.push_str("layout=groups\n");
        }
        text
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        let corrupt = |why: &str| Error::Corruption(format!("{}: {why}", path.display()));
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("marker is not UTF-8"))?;
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC_LINE) {
            return Err(corrupt("not an fsmstore marker"));
        }
        let (mut engine, mut format_version, mut created_sync_mode) = (None, None, None);
        let mut generation = 0;
        let mut complete = true;
        let (mut unsynced_writes, mut pinned) = (false, None);
        let mut layout = Layout::Single;
        for line in lines.filter(|line| !line.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| corrupt("marker line without `=`"))?;
            match key {
                "engine" if !value.is_empty() => engine = Some(value.to_owned()),
                "format" => {
                    format_version = Some(
                        value
                            .parse()
                            .map_err(|_| corrupt("format is not a number"))?,
                    )
                }
                "created_sync_mode" => created_sync_mode = value.parse().ok(),
                "generation" => {
                    generation = value
                        .parse()
                        .map_err(|_| corrupt("generation is not a number"))?
                }
                "creating" => complete = value != "1",
                "unsynced_writes" => unsynced_writes = value == "1",
                "layout" => {
                    layout = match value {
                        "single" => Layout::Single,
                        "groups" => Layout::Groups,
                        _ => return Err(corrupt("unknown layout")),
                    }
                }
                "pinned" => {
                    pinned = Some(
                        value
                            .parse()
                            .map_err(|_| corrupt("pinned is not a number"))?,
                    )
                }
                // Unknown keys come from newer builds; the format number guards meaning.
                _ => {}
            }
        }
        Ok(Marker {
            engine: engine.ok_or_else(|| corrupt("marker names no engine"))?,
            format_version: format_version.ok_or_else(|| corrupt("marker has no format"))?,
            created_sync_mode,
            generation,
            complete,
            unsynced_writes,
            pinned,
            layout,
        })
    }

    /// Writes this marker into `dir`, replacing the old one atomically: a crash leaves
    /// the old marker or this one, whole.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        write_atomically(dir, MARKER_FILE, self.encode().as_bytes())
    }
}

/// Reads the marker of the store at `dir`.
pub fn read_marker(dir: &Path) -> Result<Marker> {
    let path = dir.join(MARKER_FILE);
    let bytes = fs::read(&path)?;
    Marker::decode(&path, &bytes)
}

/// Checks, without writing anything, whether `dir` can be opened as a store of
/// `engine`: returns its marker, or `None` when the directory is missing, empty, or holds
/// only what an interrupted creation leaves before its marker (the lock file and the
/// marker's temporary file).
///
/// - `dir` marked by another engine, or non-empty without a marker: [`Error::BackendMismatch`].
/// - `dir` is a file: [`Error::NotADirectory`]. A damaged marker: [`Error::Corruption`].
/// - A marker of a newer layout: [`Error::UnsupportedFormat`].
pub fn check_dir(dir: &Path, engine: &str) -> Result<Option<Marker>> {
    match fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => return Err(Error::NotADirectory(dir.to_owned())),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    let mismatch = |found: String| Error::BackendMismatch {
        path: dir.to_owned(),
        expected: engine.to_owned(),
        found,
    };
    match read_marker(dir) {
        Ok(marker) if marker.engine != engine => {
            Err(mismatch(format!("engine `{}`", marker.engine)))
        }
        Ok(marker) if marker.format_version > STORE_FORMAT_VERSION => {
            Err(Error::UnsupportedFormat {
                path: dir.to_owned(),
                found: marker.format_version,
                supported: STORE_FORMAT_VERSION,
            })
        }
        Ok(marker) => Ok(Some(marker)),
        Err(Error::Io(error)) if error.kind() == io::ErrorKind::NotFound => {
            for entry in fs::read_dir(dir)? {
                let name = entry?.file_name();
                if name != LOCK_FILE && name != TEMPORARY_MARKER {
                    return Err(mismatch("an unmarked non-empty directory".to_owned()));
                }
            }
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Makes sure `dir` is a store directory of `engine`, creating and marking it if needed,
/// and returns its marker.
///
/// Refuses what [`check_dir`] refuses. A missing `dir` is created (its parent must
/// exist). A new store's marker is written incomplete (see [`Marker::complete`]): the
/// caller creates the engine's files, makes them durable, and then rewrites the marker
/// as complete. The marker is written to a temporary file, fsynced, renamed into place
/// and the directory fsynced, so a crash leaves either no marker or a whole one.
pub fn claim_dir(dir: &Path, engine: &str, sync_mode: SyncMode) -> Result<Marker> {
    claim_dir_as(dir, engine, sync_mode, Layout::Single)
}

/// [`claim_dir`] for a store of `layout`. An existing store of the other layout is
/// returned as it is: the caller compares.
pub(crate) fn claim_dir_as(
    dir: &Path,
    engine: &str,
    sync_mode: SyncMode,
    layout: Layout,
) -> Result<Marker> {
    if let Some(marker) = check_dir(dir, engine)? {
        return Ok(marker);
    }
    match fs::create_dir(dir) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error.into()),
        _ => {}
    }
    let marker = Marker {
        engine: engine.to_owned(),
        format_version: layout.format_version(),
        created_sync_mode: Some(sync_mode),
        generation: 0,
        complete: false,
        unsynced_writes: false,
        pinned: None,
        layout,
    };
    marker.write(dir)?;
    Ok(marker)
}

/// The temporary file a marker is written through before its rename.
const TEMPORARY_MARKER: &str = ".FSMSTORE.tmp";

fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let temporary: PathBuf = dir.join(format!(".{name}.tmp"));
    debug_assert!(name != MARKER_FILE || temporary.ends_with(TEMPORARY_MARKER));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn a_missing_dir_is_created_and_marked() {
        let root = temp();
        let dir = root.path().join("store");
        claim_dir(&dir, "redb", SyncMode::NoSync).expect("claim");
        let marker = read_marker(&dir).expect("marker");
        assert_eq!(marker.engine, "redb");
        assert_eq!(marker.format_version, Layout::Single.format_version());
        assert_eq!(marker.layout, Layout::Single);
        assert_eq!(marker.created_sync_mode, Some(SyncMode::NoSync));
        claim_dir(&dir, "redb", SyncMode::Sync).expect("reclaim by the same engine");
    }

    #[test]
    fn another_engines_dir_is_a_mismatch_naming_both() {
        let root = temp();
        claim_dir(root.path(), "fjall", SyncMode::Sync).expect("claim");
        match claim_dir(root.path(), "redb", SyncMode::Sync) {
            Err(Error::BackendMismatch {
                expected, found, ..
            }) => {
                assert_eq!(expected, "redb");
                assert!(found.contains("fjall"), "{found}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn an_unmarked_non_empty_dir_is_a_mismatch() {
        let root = temp();
        fs::write(root.path().join("data.db"), b"something").expect("write");
        assert!(matches!(
            claim_dir(root.path(), "redb", SyncMode::Sync),
            Err(Error::BackendMismatch { .. })
        ));
        assert!(!root.path().join(MARKER_FILE).exists());
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let root = temp();
        let file = root.path().join("file");
        fs::write(&file, b"x").expect("write");
        assert!(matches!(
            claim_dir(&file, "redb", SyncMode::Sync),
            Err(Error::NotADirectory(_))
        ));
    }

    #[test]
    fn a_missing_parent_is_an_io_error() {
        let root = temp();
        let dir = root.path().join("missing").join("store");
        assert!(matches!(
            claim_dir(&dir, "redb", SyncMode::Sync),
            Err(Error::Io(error)) if error.kind() == io::ErrorKind::NotFound
        ));
    }

    #[test]
    fn a_garbage_marker_is_corruption() {
        let root = temp();
        fs::write(root.path().join(MARKER_FILE), b"\xff\x00garbage").expect("write");
        assert!(matches!(
            claim_dir(root.path(), "redb", SyncMode::Sync),
            Err(Error::Corruption(_))
        ));
        fs::write(
            root.path().join(MARKER_FILE),
            format!("{MAGIC_LINE}\nformat=1\n"),
        )
        .expect("write");
        assert!(matches!(
            read_marker(root.path()),
            Err(Error::Corruption(_))
        ));
    }

    #[test]
    fn a_newer_format_is_refused() {
        let root = temp();
        fs::write(
            root.path().join(MARKER_FILE),
            format!("{MAGIC_LINE}\nengine=redb\nformat=99\n"),
        )
        .expect("write");
        assert!(matches!(
            claim_dir(root.path(), "redb", SyncMode::Sync),
            Err(Error::UnsupportedFormat { found: 99, .. })
        ));
    }
}
