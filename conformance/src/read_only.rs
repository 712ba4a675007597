//! Read-only opens: they leave the store's files as they were, and they read a store
//! that cannot be written at all.
//!
//! An engine either leaves every file as it found it (names, sizes and bytes; the
//! contents of its `fcntl`-locked files aside, which are its shared lock state) or says
//! that it has no read-only mode ([`Backend::read_only_open_writes_nothing`]); bodies
//! read that fact instead of naming engines.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fsmstore::{Backend, Config, Engine, RangeQuery, SyncMode};

use crate::Harness;
use crate::support::{applied, apply_at, get_string, put, puts, scan_strings};

/// One file of a store directory: its size and its bytes.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    len: u64,
    contents: Vec<u8>,
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, FileState> {
    let mut found = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in fs::read_dir(dir.join(&relative)).expect("read the store directory") {
            let entry = entry.expect("read a directory entry");
            let inside = relative.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                pending.push(inside);
            } else {
                let contents = fs::read(entry.path()).expect("read a store file");
                let len = entry.metadata().expect("file metadata").len();
                found.insert(inside, FileState { len, contents });
            }
        }
    }
    found
}

/// Whether `path` (relative to the store directory) is one of the engine's lock files,
/// in the store directory itself or in a generation directory below it.
fn is_lock_file(backend: Backend, path: &Path) -> bool {
    backend
        .lock_files()
        .unwrap_or_default()
        .iter()
        .any(|lock_file| path.ends_with(lock_file))
}

/// A closed store whose live engine files are a restored generation, written by a Sync
/// and then a NoSync session: keys `k/00` to `k/19`, `restored`, and the index at 22.
fn a_closed_store_with_history(h: &Harness) {
    let store = h.open_sync();
    for index in 1..=10 {
        apply_at(&*store, &put(&format!("k/{index:02}"), "sync"), index);
    }
    apply_at(&*store, &put("restored", "yes"), 11);
    let mut snapshot = Vec::new();
    store.export(&mut snapshot).expect("export");
    store.restore(&mut snapshot.as_slice()).expect("restore");
    let store = h.reopen(store, SyncMode::NoSync);
    for index in 11..=20 {
        apply_at(&*store, &put(&format!("k/{index:02}"), "nosync"), index + 1);
    }
    apply_at(&*store, &puts(&[("k/00", "last")]), 22);
    store.set_durable_applied_index(22).expect("checkpoint");
    store.close().expect("close");
}

/// Reads everything [`a_closed_store_with_history`] wrote, through every read path.
fn read_the_history(store: &dyn Engine) {
    assert_eq!(applied(store), Some(22));
    assert_eq!(get_string(store, "restored").as_deref(), Some("yes"));
    assert_eq!(get_string(store, "k/00").as_deref(), Some("last"));
    let all = scan_strings(store, "k/");
    assert_eq!(all.len(), 21);
    assert_eq!(all[5], ("k/05".to_owned(), "sync".to_owned()));
    assert_eq!(all[15], ("k/15".to_owned(), "nosync".to_owned()));
    let newest = store
        .range(&RangeQuery::prefix("k/").reverse().limit(1))
        .expect("range");
    assert_eq!(newest.len(), 1);
    assert_eq!(&newest[0].0[..], b"k/20");
    let mut exported = Vec::new();
    store.export(&mut exported).expect("export");
    assert!(!exported.is_empty());
}

/// A read-only open of a closed store, its reads and its close leave every file of the
/// directory as it was: no name, size or byte changes, except the bytes of the engine's
/// lock files. An engine without a read-only mode only has to read right.
pub fn a_read_only_open_leaves_every_file_as_it_was(h: &Harness) {
    a_closed_store_with_history(h);
    let before = files(h.dir());

    let reader = h
        .try_open(&Config::default().with_read_only())
        .expect("read-only open");
    read_the_history(&*reader);
    reader.close().expect("close the reader");

    let after = files(h.dir());
    if h.backend().read_only_open_writes_nothing() != Some(true) {
        // Its opens recover and may write; what matters is that the store is intact.
        let store = h.open_sync();
        read_the_history(&*store);
        return;
    }
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "a read-only open created, removed or renamed a file"
    );
    for (path, was) in &before {
        let now = &after[path];
        assert_eq!(now.len, was.len, "{} changed size", path.display());
        if !is_lock_file(h.backend(), path) {
            assert!(now == was, "{} changed", path.display());
        }
    }
}

/// A read-only bind mount of a directory, unmounted when dropped (a failing body
/// included).
struct ReadOnlyMount {
    at: PathBuf,
}

impl ReadOnlyMount {
    /// Mounts `dir` read-only at `at`; `None` where this process may not mount (not
    /// root, no `CAP_SYS_ADMIN`, no `mount` command).
    fn of(dir: &Path, at: PathBuf) -> Option<Self> {
        fs::create_dir(&at).expect("create the mount point");
        if !run(Command::new("mount").arg("--bind").arg(dir).arg(&at)) {
            return None;
        }
        // Mounted now: from here on, dropping it unmounts.
        let mount = Self { at };
        // A bind mount takes the flags of the mount it copies; read-only needs a remount.
        run(Command::new("mount")
            .args(["-o", "remount,ro,bind"])
            .arg(&mount.at))
        .then_some(mount)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        if !run(Command::new("umount").arg(&self.at)) {
            // Still busy: detach it now, and the kernel drops it with its last user.
            run(Command::new("umount").arg("-l").arg(&self.at));
        }
    }
}

/// Runs `command` quietly; whether it ran and succeeded.
fn run(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A store on a filesystem that refuses every write (a read-only mount) opens read-only
/// and reads everything, on every engine with a read-only mode. An engine without one
/// may refuse the open, with an error.
///
/// Mounting needs root; elsewhere the body says so and checks nothing.
pub fn a_read_only_open_reads_a_store_on_a_filesystem_that_refuses_writes(h: &Harness) {
    a_closed_store_with_history(h);
    let Some(mount) = ReadOnlyMount::of(h.dir(), h.scratch("read-only")) else {
        eprintln!("skipped: this process cannot mount a read-only bind mount (needs root)");
        return;
    };
    assert!(
        fs::write(mount.at.join("probe"), b"").is_err(),
        "the read-only mount accepted a write"
    );

    let opened = h.try_open_at(&mount.at, &Config::default().with_read_only());
    match (opened, h.backend().read_only_open_writes_nothing()) {
        (Ok(reader), _) => {
            read_the_history(&*reader);
            reader.close().expect("close the reader");
        }
        (Err(error), Some(true)) => {
            panic!("a read-only open of a read-only filesystem failed: {error}")
        }
        (Err(_), _) => {}
    }
    drop(mount);

    let store = h.open_sync();
    read_the_history(&*store);
}
