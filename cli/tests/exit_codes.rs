//! Every case of the README's exit-code table that needs no RocksDB, through the real
//! `fsmstore` binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::path;
use fsmstore::{Backend, Config, SyncMode, WriteBatch};

/// Runs `fsmstore args`, with `FSMSTORE_SYNC_MODE` set to `sync_mode_env` or unset.
fn run_with(args: &[&str], sync_mode_env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fsmstore"));
    command.args(args).env_remove(fsmstore::SYNC_MODE_ENV);
    if let Some(value) = sync_mode_env {
        command.env(fsmstore::SYNC_MODE_ENV, value);
    }
    command.output().expect("run the fsmstore binary")
}

/// Asserts that `fsmstore args` exits with `code` and says `said` on stderr.
fn expect_exit(code: i32, args: &[&str], said: &str) {
    expect_exit_with(code, args, None, said);
}

fn expect_exit_with(code: i32, args: &[&str], sync_mode_env: Option<&str>, said: &str) {
    let output = run_with(args, sync_mode_env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "fsmstore {args:?} (FSMSTORE_SYNC_MODE={sync_mode_env:?}): {stderr}"
    );
    assert!(
        stderr.contains(said),
        "fsmstore {args:?}: expected {said:?} on stderr, got: {stderr}"
    );
}

/// A redb store with a few keys and applied index 9.
fn make_store(dir: &Path) {
    let store = fsmstore::open(Backend::Redb, dir, &Config::new(SyncMode::Sync)).expect("create");
    let mut batch = WriteBatch::new();
    batch.put("key", "value");
    store.apply(&batch, Some(9)).expect("apply");
    store.close().expect("close");
}

/// A redb groups store whose group 1 holds a key and applied index 9.
fn make_groups_store(dir: &Path) {
    let store =
        fsmstore::open_groups(Backend::Redb, dir, &Config::new(SyncMode::Sync)).expect("create");
    store.create_group(1).expect("create group 1");
    let group = store.open_group(1).expect("open group 1");
    let mut batch = WriteBatch::new();
    batch.put("key", "value");
    group.apply(&batch, Some(9)).expect("apply");
    group.close().expect("close group 1");
    store.close().expect("close");
}

/// A copy of the redb store at `dir` whose marker line `from` is replaced by `to`.
fn with_marker_line(root: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let store = root.join(name);
    make_store(&store);
    let marker = store.join(fsmstore::backend::MARKER_FILE);
    let text = std::fs::read_to_string(&marker).expect("read the marker");
    assert!(text.contains(from), "{text}");
    std::fs::write(&marker, text.replace(from, to)).expect("write the marker");
    store
}

struct Fixture {
    _root: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
    snapshot: PathBuf,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    make_store(&store);
    let snapshot = root.path().join("snapshot.bin");
    let output = run_with(&["export", path(&store), path(&snapshot)], None);
    assert!(output.status.success(), "{output:?}");
    Fixture {
        root: root.path().to_owned(),
        _root: root,
        store,
        snapshot,
    }
}

#[test]
fn zero_when_done() {
    let f = fixture();
    expect_exit(0, &["verify", path(&f.snapshot)], "");
    expect_exit(0, &["inspect", path(&f.store)], "");
    expect_exit(0, &["--help"], "");
    expect_exit(0, &["--version"], "");
}

#[test]
fn one_for_any_other_failure() {
    let f = fixture();
    let nowhere = f.root.join("no-such-dir").join("snapshot.bin");
    expect_exit(1, &["export", path(&f.store), path(&nowhere)], "I/O error");
}

#[test]
fn two_for_bad_usage() {
    let f = fixture();
    let target = f.root.join("target");
    expect_exit(2, &[], "Usage");
    expect_exit(2, &["compact", path(&f.store)], "unrecognized subcommand");
    expect_exit(2, &["inspect"], "required");
    expect_exit(
        2,
        &["inspect", path(&f.store), "--yaml"],
        "unexpected argument",
    );
    expect_exit(
        2,
        &[
            "import",
            path(&f.snapshot),
            path(&target),
            "--engine",
            "sqlite",
        ],
        "unknown engine",
    );
    expect_exit(
        2,
        &[
            "import",
            path(&f.snapshot),
            path(&target),
            "--engine",
            "redb",
            "--sync-mode",
            "sometimes",
        ],
        "not a sync mode",
    );
    expect_exit_with(
        2,
        &["inspect", path(&f.store)],
        Some("sometimes"),
        fsmstore::SYNC_MODE_ENV,
    );
}

#[test]
fn three_for_an_engine_not_compiled_in() {
    let Some(absent) = Backend::ALL.iter().find(|backend| !backend.is_compiled()) else {
        // Every engine is compiled into this build: nothing can be missing.
        return;
    };
    let f = fixture();
    let feature = format!("feature `{}`", absent.feature());
    let target = f.root.join("target");
    expect_exit(
        3,
        &[
            "import",
            path(&f.snapshot),
            path(&target),
            "--engine",
            absent.name(),
        ],
        &feature,
    );
    expect_exit(
        3,
        &[
            "migrate",
            path(&f.store),
            path(&target),
            "--engine",
            absent.name(),
        ],
        &feature,
    );
    let foreign = with_marker_line(
        &f.root,
        "foreign",
        "engine=redb",
        &format!("engine={}", absent.name()),
    );
    expect_exit(3, &["inspect", path(&foreign)], &feature);
}

#[test]
fn four_for_a_missing_path_a_non_store_or_an_occupied_destination() {
    let f = fixture();
    let missing = f.root.join("missing");
    expect_exit(4, &["inspect", path(&missing)], "no such store");
    expect_exit(4, &["export", path(&missing), "-"], "no such store");
    let empty = f.root.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    expect_exit(4, &["inspect", path(&empty)], "no marker file");
    expect_exit(4, &["inspect", path(&f.snapshot)], "not a directory");
    expect_exit(4, &["verify", path(&missing)], "cannot open the snapshot");
    expect_exit(
        4,
        &[
            "import",
            path(&missing),
            path(&f.root.join("target")),
            "--engine",
            "redb",
        ],
        "cannot open the snapshot",
    );
    expect_exit(
        4,
        &[
            "import",
            path(&f.snapshot),
            path(&f.store),
            "--engine",
            "redb",
        ],
        "--force",
    );
    let other = f.root.join("other");
    make_store(&other);
    expect_exit(
        4,
        &["migrate", path(&f.store), path(&other), "--engine", "fjall"],
        "--force",
    );
    // `--force` replaces a store's contents, never another engine's store.
    expect_exit(
        4,
        &[
            "import",
            path(&f.snapshot),
            path(&other),
            "--engine",
            "fjall",
            "--force",
        ],
        "refusing to open it",
    );

    // The layout: `--group` on a store of one group, a groups store without it, a
    // missing group, an import into a group that holds something without `--force`.
    let groups = f.root.join("groups");
    make_groups_store(&groups);
    expect_exit(
        4,
        &["export", path(&f.store), "-", "--group", "1"],
        "is a one-group store",
    );
    expect_exit(4, &["export", path(&groups), "-"], "is a groups store");
    expect_exit(
        4,
        &["export", path(&groups), "-", "--group", "2"],
        "no group 2",
    );
    expect_exit(
        4,
        &[
            "import",
            path(&f.snapshot),
            path(&groups),
            "--engine",
            "redb",
            "--group",
            "1",
        ],
        "--force",
    );
}

#[test]
fn five_for_a_damaged_stream_or_store() {
    let f = fixture();
    let mut bytes = std::fs::read(&f.snapshot).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let corrupt = f.root.join("corrupt.bin");
    std::fs::write(&corrupt, &bytes).expect("write");
    expect_exit(5, &["verify", path(&corrupt)], "invalid snapshot");
    expect_exit(
        5,
        &[
            "import",
            path(&corrupt),
            path(&f.root.join("target")),
            "--engine",
            "redb",
        ],
        "invalid snapshot",
    );

    let unknown = with_marker_line(&f.root, "unknown", "engine=redb", "engine=sqlite");
    expect_exit(5, &["inspect", path(&unknown)], "does not know");
    // A store of one group records its layout's version; the newest this build reads is
    // `STORE_FORMAT_VERSION`.
    let newer = with_marker_line(
        &f.root,
        "newer",
        &format!("format={}\n", fsmstore::Layout::Single.format_version()),
        &format!("format={}\n", fsmstore::backend::STORE_FORMAT_VERSION + 1),
    );
    expect_exit(5, &["inspect", path(&newer)], "this build supports up to");
    let garbled = f.root.join("garbled");
    make_store(&garbled);
    std::fs::write(
        garbled.join(fsmstore::backend::MARKER_FILE),
        "not a marker\n",
    )
    .expect("write");
    expect_exit(5, &["inspect", path(&garbled)], "corruption");

    let emptied = f.root.join("emptied");
    make_store(&emptied);
    for entry in std::fs::read_dir(&emptied).expect("list") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if entry.file_name() == fsmstore::backend::MARKER_FILE {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(path).expect("remove an engine directory");
        } else {
            std::fs::remove_file(path).expect("remove an engine file");
        }
    }
    expect_exit(5, &["inspect", path(&emptied)], "missing");
}

#[test]
fn six_for_a_store_in_use() {
    let f = fixture();
    let held = fsmstore::open(Backend::Redb, &f.store, &Config::new(SyncMode::Sync)).expect("hold");
    expect_exit(6, &["inspect", path(&f.store)], "in use");
    expect_exit(6, &["export", path(&f.store), "-"], "in use");
    held.close().expect("close");

    let groups = f.root.join("groups");
    make_groups_store(&groups);
    let held =
        fsmstore::open_groups(Backend::Redb, &groups, &Config::new(SyncMode::Sync)).expect("hold");
    expect_exit(6, &["inspect", path(&groups)], "in use");
    expect_exit(6, &["export", path(&groups), "-", "--group", "1"], "in use");
    held.close().expect("close");
}
