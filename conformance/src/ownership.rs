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

/// While one handle holds a store, a second open in the same process is `Locked` on
/// every engine (the memory engine included), and the first handle keeps working.
pub fn a_second_handle_in_one_process_is_refused_as_locked(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    match h.try_open(&Config::default()) {
        Err(Error::Locked(path)) => assert_eq!(path, h.dir()),
        Err(error) => panic!("expected Locked, got {error}"),
        Ok(_) => panic!("a second handle opened a held store"),
    }
    assert!(matches!(
        h.try_open(&Config::default().with_read_only()),
        Err(Error::Locked(_))
    ));
    apply_at(&*store, &put("k", "w"), 2);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("w"));
}

/// A store held by a process is `Locked` for every other process, whatever the engine
/// allows on its own (LMDB lets several processes open one environment).
pub fn a_store_held_by_another_process_is_refused_as_locked(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    let stdout = open_in_a_child(h);
    assert!(stdout.starts_with("error kind=locked"), "{stdout}");
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
    store.close().expect("close");
    let stdout = open_in_a_child(h);
    assert!(stdout.starts_with("opened"), "{stdout}");
}

/// What the probe prints when it opens the store in a process of its own.
fn open_in_a_child(h: &Harness) -> String {
    let output = std::process::Command::new(h.probe())
        .args(["open", h.backend().name()])
        .arg(h.dir())
        .arg("sync")
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .output()
        .expect("run the probe");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A marked store whose engine files are gone is `Corruption` naming what is missing,
/// for a writer and a reader alike, and the open creates nothing.
pub fn a_store_without_its_engine_files_is_corruption_not_an_empty_store(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    store.close().expect("close");
    for entry in fs::read_dir(h.dir()).expect("list") {
        let entry = entry.expect("entry");
        if entry.file_name() == MARKER_FILE {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            fs::remove_dir_all(&path).expect("remove engine dir");
        } else {
            fs::remove_file(&path).expect("remove engine file");
        }
    }
    for config in [Config::default(), Config::default().with_read_only()] {
        match h.try_open(&config) {
            Err(Error::Corruption(message)) => {
                assert!(message.contains("missing"), "{message}");
                assert!(message.contains(h.backend().name()), "{message}");
            }
            Err(error) => panic!("expected Corruption, got {error}"),
            Ok(store) => panic!(
                "opened a store without its files; applied index {:?}",
                store.applied_index()
            ),
        }
    }
    let left: Vec<_> = fs::read_dir(h.dir())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| name != fsmstore::backend::LOCK_FILE)
        .collect();
    assert_eq!(left, [MARKER_FILE], "the failed opens created engine files");
}

/// A creation that died before its marker was renamed into place (only the marker's
/// temporary file is left) and one that died after the incomplete marker (engine files
/// half made) both open as a new, empty store.
pub fn an_interrupted_creation_is_started_over(h: &Harness) {
    fs::create_dir(h.dir()).expect("mkdir");
    fs::write(h.dir().join(".FSMSTORE.tmp"), b"fsmstore store mar").expect("torn temp");
    let store = h.open_sync();
    assert_eq!(store.applied_index().expect("read"), None);
    apply_at(&*store, &put("k", "v"), 1);
    store.close().expect("close");
    assert!(read_marker(h.dir()).expect("marker").complete);

    let again = h.scratch("again");
    claim_dir(&again, h.backend().name(), SyncMode::Sync).expect("incomplete marker");
    assert!(!read_marker(&again).expect("marker").complete);
    fs::write(again.join("half-made-engine-file"), b"junk").expect("junk");
    let store = h.try_open_at(&again, &Config::default()).expect("open");
    assert_eq!(store.applied_index().expect("read"), None);
    assert!(!again.join("half-made-engine-file").exists());
    store.close().expect("close");
    assert!(read_marker(&again).expect("marker").complete);
}

/// A read-only open creates nothing, refuses writes with `ReadOnly` and keeps writers
/// out. (Whether a second reader may share the store is the engine's choice: the store's
/// lock lets readers share, but redb, fjall and LMDB allow one open per process.)
pub fn a_read_only_open_creates_nothing_and_writes_nothing(h: &Harness) {
    let read_only = Config::default().with_read_only();
    assert!(h.try_open(&read_only).is_err());
    assert!(!h.dir().exists(), "a read-only open created the directory");
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    store.close().expect("close");
    let reader = h.try_open(&read_only).expect("read-only open");
    assert_eq!(get_string(&*reader, "k").as_deref(), Some("v"));
    assert!(matches!(
        reader.apply(&put("k", "w"), Some(2)),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(
        reader.write(&put("k", "w")),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(
        reader.set_durable_applied_index(5),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(reader.sync(), Err(Error::ReadOnly(_))));
    assert!(matches!(
        h.try_open(&Config::default()),
        Err(Error::Locked(_))
    ));
    reader.close().expect("close reader");
    let store = h.open_sync();
    assert_eq!(store.applied_index().expect("read"), Some(1));
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}
