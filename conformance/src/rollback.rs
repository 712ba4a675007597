//! The store's own record of what it made durable, kept in its marker outside the
//! engine: the highest pinned index (an engine that recovers below it is refused), and
//! whether a session since the last clean close wrote without fsync (what the engine's
//! recovery is told).

use std::fs;
use std::path::Path;

use fsmstore::backend::{LOCK_FILE, MARKER_FILE};
use fsmstore::{Config, Error, SyncMode, WriteBatch, read_marker};

use crate::Harness;
use crate::support::{applied, apply_at, get_string, put};

/// Copies the engine's files of the store at `dir` (everything but fsmstore's marker
/// and lock file) into `to`.
pub(crate) fn copy_engine_files(dir: &Path, to: &Path) {
    fs::create_dir_all(to).expect("backup dir");
    for entry in fs::read_dir(dir).expect("list the store") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == MARKER_FILE || name == LOCK_FILE {
            continue;
        }
        copy_tree(&entry.path(), &to.join(name));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).expect("dir");
        for entry in fs::read_dir(from).expect("list") {
            let entry = entry.expect("entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        fs::copy(from, to).expect("copy");
    }
}

/// Replaces the engine's files of the closed store at `dir` with the ones in `from`,
/// keeping fsmstore's marker: an engine whose own recovery went back in time.
pub(crate) fn put_back_engine_files(dir: &Path, from: &Path) {
    for entry in fs::read_dir(dir).expect("list the store") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == MARKER_FILE || name == LOCK_FILE {
            continue;
        }
        if entry.path().is_dir() {
            fs::remove_dir_all(entry.path()).expect("remove");
        } else {
            fs::remove_file(entry.path()).expect("remove");
        }
    }
    copy_engine_files(from, dir);
}

/// An engine that comes back at index 5 after a checkpoint pinned 10 (as a log cut at
/// damage, a repair to an older commit or a rolled-back meta page would leave it) is
/// refused with `RolledBack`, by a writable and by a read-only open, instead of serving
/// a state older than one acknowledged as durable. The pin is in the marker.
pub fn an_engine_recovered_below_the_pinned_index_is_refused(h: &Harness) {
    let store = h.open_nosync();
    for index in 1..=5 {
        apply_at(&*store, &put(&format!("k{index}"), "v"), index);
    }
    assert_eq!(store.set_durable_applied_index(5).expect("pin"), 5);
    store.close().expect("close");
    let backup = h.scratch("engine-at-5");
    copy_engine_files(h.dir(), &backup);

    let store = h.open_nosync();
    for index in 6..=10 {
        apply_at(&*store, &put(&format!("k{index}"), "v"), index);
    }
    assert_eq!(store.set_durable_applied_index(10).expect("pin"), 10);
    store.close().expect("close");
    assert_eq!(read_marker(h.dir()).expect("marker").pinned, Some(10));

    put_back_engine_files(h.dir(), &backup);
    for config in [
        Config::new(SyncMode::NoSync),
        Config::new(SyncMode::Sync).with_read_only(),
    ] {
        match h.try_open(&config) {
            Err(Error::RolledBack {
                recovered, pinned, ..
            }) => {
                assert_eq!((recovered, pinned), (Some(5), 10));
            }
            Ok(_) => panic!("a store rolled back to 5 below the pin 10 was opened"),
            Err(error) => panic!("expected RolledBack, got {error}"),
        }
    }
}

/// A restore of an older snapshot (index 3, after a pin of 8) makes 3 the durable pin:
/// the store reopens at 3, with the snapshot's data.
pub fn a_restore_of_an_older_snapshot_lowers_the_pin(h: &Harness) {
    let store = h.open_nosync();
    for index in 1..=3 {
        apply_at(&*store, &put(&format!("k{index}"), "old"), index);
    }
    let mut snapshot = Vec::new();
    store.export(&mut snapshot).expect("export");
    for index in 4..=8 {
        apply_at(&*store, &put(&format!("k{index}"), "new"), index);
    }
    assert_eq!(store.set_durable_applied_index(8).expect("pin"), 8);
    assert_eq!(read_marker(h.dir()).expect("marker").pinned, Some(8));
    store.restore(&mut snapshot.as_slice()).expect("restore");
    assert_eq!(read_marker(h.dir()).expect("marker").pinned, Some(3));
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(3));
    assert_eq!(get_string(&*store, "k8"), None);
}

/// Every pin records the durable index in the marker when it is above the recorded one
/// (in Sync mode too, where the applies made it durable), and a pin at or below the
/// recorded index leaves the marker as it is.
pub fn only_a_rising_pin_rewrites_the_marker(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 4);
    assert_eq!(read_marker(h.dir()).expect("marker").pinned, None);
    assert_eq!(store.set_durable_applied_index(4).expect("pin"), 4);
    let pinned = read_marker(h.dir()).expect("marker");
    assert_eq!(pinned.pinned, Some(4));
    for index in [3, 4] {
        assert_eq!(store.set_durable_applied_index(index).expect("pin"), 4);
        assert_eq!(read_marker(h.dir()).expect("marker"), pinned);
    }
    drop(store);
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 6);
    assert_eq!(store.set_durable_applied_index(5).expect("pin"), 6);
    assert_eq!(read_marker(h.dir()).expect("marker").pinned, Some(6));
}

/// A NoSync session is recorded in the marker before its first unsynced commit and
/// until a clean close, so that the open after a crash tells the engine its log may
/// hold holes; a Sync session, a NoSync session that only reads or only writes durably,
/// record nothing, and a clean close clears the record.
pub fn a_nosync_session_is_recorded_in_the_marker_until_a_clean_close(h: &Harness) {
    let unsynced = || read_marker(h.dir()).expect("marker").unsynced_writes;
    let store = h.open_sync();
    apply_at(&*store, &put("s", "v"), 1);
    assert!(!unsynced(), "a Sync store recorded unsynced writes");
    store.close().expect("close");
    let store = h.open_nosync();
    // Durable whatever the mode, so that the copy below holds it on every engine.
    store.write(&put("k", "v")).expect("write");
    assert!(!unsynced(), "a durable write was recorded as unsynced");
    apply_at(&*store, &put("n", "v"), 2);
    assert!(unsynced(), "a NoSync apply is not recorded");
    let live_marker = fs::read(h.dir().join(MARKER_FILE)).expect("marker");
    store.close().expect("close");
    assert!(!unsynced(), "a clean close kept the record");
    // What a kill leaves, with the engine's files of the closed store (a copy of a live
    // engine's files races its background work): the marker as the session left it.
    let copy = h.scratch("killed");
    copy_engine_files(h.dir(), &copy);
    fs::write(copy.join(MARKER_FILE), live_marker).expect("marker");
    // What a kill leaves: the record stays until a later session closes cleanly, even
    // a Sync one, because the log still holds the unsynced commits.
    assert!(read_marker(&copy).expect("marker").unsynced_writes);
    let store = h
        .try_open_at(&copy, &Config::new(SyncMode::Sync))
        .expect("open the copy");
    assert!(read_marker(&copy).expect("marker").unsynced_writes);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
    store.close().expect("close");
    assert!(!read_marker(&copy).expect("marker").unsynced_writes);
}
