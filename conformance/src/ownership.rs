//! Directory ownership: a store opens only its own directory.

use std::fs;

use fsmstore::backend::{MARKER_FILE, claim_dir};
use fsmstore::{Backend, Config, Error, SyncMode, read_marker};

use crate::Harness;
use crate::support::{apply_at, get_string, put};

/// Opening a missing directory creates it and marks it with the engine's name.
pub fn a_new_directory_is_created_and_marked_with_the_engine(h: &Harness) {
    assert!(!h.dir().exists());
    let store = h.open_nosync();
    store.close().expect("close");
    let marker = read_marker(h.dir()).expect("marker");
    assert_eq!(marker.engine, h.backend().name());
    assert_eq!(marker.created_sync_mode, Some(SyncMode::NoSync));
}

/// A store reopens its own directory.
pub fn a_store_reopens_its_own_directory(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// A directory of another engine is refused with `BackendMismatch` naming both, and the
/// other engine's store is left as it was.
pub fn another_engines_directory_is_refused(h: &Harness) {
    let other = Backend::ALL
        .iter()
        .copied()
        .find(|backend| *backend != h.backend() && backend.is_compiled())
        .unwrap_or(if h.backend() == Backend::Memory {
            Backend::Redb
        } else {
            Backend::Memory
        });
    if other.is_compiled() {
        let store = fsmstore::open(other, h.dir(), &Config::default()).expect("open other");
        apply_at(&*store, &put("theirs", "v"), 1);
        store.close().expect("close other");
    } else {
        claim_dir(h.dir(), other.name(), SyncMode::Sync).expect("mark for the other engine");
    }
    let before = fs::read(h.dir().join(MARKER_FILE)).expect("marker");
    match h.try_open(&Config::default()) {
        Err(Error::BackendMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected, h.backend().name());
            assert!(found.contains(other.name()), "{found}");
        }
        Err(error) => panic!("expected BackendMismatch, got {error}"),
        Ok(_) => panic!("opened a {other} directory as {}", h.backend()),
    }
    assert_eq!(fs::read(h.dir().join(MARKER_FILE)).expect("marker"), before);
    if other.is_compiled() {
        let store = fsmstore::open(other, h.dir(), &Config::default()).expect("reopen other");
        assert_eq!(get_string(&*store, "theirs").as_deref(), Some("v"));
    }
}

/// A non-empty directory with no marker is refused and left untouched.
pub fn an_unmarked_non_empty_directory_is_refused(h: &Harness) {
    fs::create_dir(h.dir()).expect("mkdir");
    fs::write(h.dir().join("precious.db"), b"not yours").expect("write");
    assert!(matches!(
        h.try_open(&Config::default()),
        Err(Error::BackendMismatch { .. })
    ));
    let entries: Vec<_> = fs::read_dir(h.dir()).expect("list").collect();
    assert_eq!(
        entries.len(),
        1,
        "nothing may be created beside the foreign file"
    );
    assert_eq!(
        fs::read(h.dir().join("precious.db")).expect("read"),
        b"not yours"
    );
}

/// A path that is a regular file is refused with `NotADirectory` and left untouched.
pub fn a_file_path_is_refused_as_not_a_directory(h: &Harness) {
    let file = h.scratch("a-file");
    fs::write(&file, b"data").expect("write");
    assert!(matches!(
        h.try_open_at(&file, &Config::default()),
        Err(Error::NotADirectory(_))
    ));
    assert_eq!(fs::read(&file).expect("read"), b"data");
}

/// A store path whose parent does not exist is an I/O error; nothing is created.
pub fn a_missing_parent_directory_is_an_io_error(h: &Harness) {
    let parent = h.scratch("no-such-parent");
    let result = h.try_open_at(&parent.join("store"), &Config::default());
    assert!(matches!(result, Err(Error::Io(_))), "{:?}", result.err());
    assert!(!parent.exists());
}

/// A damaged marker file is `Corruption`, and the store's files are left alone.
pub fn a_corrupt_marker_is_reported_as_corruption(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    store.close().expect("close");
    fs::write(h.dir().join(MARKER_FILE), b"\x00\x01 not a marker").expect("damage");
    assert!(matches!(
        h.try_open(&Config::default()),
        Err(Error::Corruption(_))
    ));
}
