//! End-to-end on groups stores: the real `fsmstore` binary with `--group`.

mod common;

use std::path::{Path, PathBuf};

use common::{fill, fsmstore, make_store, path, stdout};
use fsmstore::{Backend, Bytes, Config, Engine, RangeQuery, SyncMode, WriteBatch};
use tempfile::TempDir;

/// Asserts that `fsmstore args` exits with `code` and says each of `said` on stderr.
fn expect_exit(code: i32, args: &[&str], said: &[&str]) {
    let output = fsmstore(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "fsmstore {args:?}: {stderr}"
    );
    for said in said {
        assert!(
            stderr.contains(said),
            "fsmstore {args:?}: expected {said:?} on stderr, got: {stderr}"
        );
    }
}

/// Group 2: other keys under the same names, and applied index 5.
fn fill_group_two(group: &dyn Engine) {
    let mut batch = WriteBatch::new();
    for i in 0..10 {
        batch.put(format!("key/{i:04}"), format!("other {i}"));
    }
    group.apply(&batch, Some(5)).expect("apply to group 2");
}

/// A groups store of `backend` with groups 1 (see [`fill`]) and 2 (see `fill_group_two`).
fn make_groups_store(backend: Backend, dir: &Path) {
    let store = fsmstore::open_groups(backend, dir, &Config::new(SyncMode::Sync))
        .expect("create the groups store");
    for (id, fill_group) in [
        (1, fill as fn(&dyn Engine)),
        (2, fill_group_two as fn(&dyn Engine)),
    ] {
        store.create_group(id).expect("create a group");
        let group = store.open_group(id).expect("open a group");
        fill_group(&*group);
        group.close().expect("close a group");
    }
    store.close().expect("close the groups store");
}

/// A temporary directory and, at `groups` in it, a groups store of `backend` made by
/// [`make_groups_store`].
fn temp_groups_store(backend: Backend) -> (TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("temp dir");
    let groups = root.path().join("groups");
    make_groups_store(backend, &groups);
    (root, groups)
}

/// Every data entry, the meta key `term` and the applied index.
type Contents = (Vec<(Bytes, Bytes)>, Option<Bytes>, Option<u64>);

fn contents(engine: &dyn Engine) -> Contents {
    (
        engine.range(&RangeQuery::all()).expect("read the data"),
        engine.get_meta(b"term").expect("read the meta key"),
        engine.applied_index().expect("read the applied index"),
    )
}

/// The contents of a store of one group.
fn store_contents(backend: Backend, dir: &Path) -> Contents {
    let store = fsmstore::open(backend, dir, &Config::default()).expect("open the store");
    let read = contents(&*store);
    store.close().expect("close");
    read
}

/// The contents of group `id` of a groups store.
fn group_contents(backend: Backend, dir: &Path, id: u64) -> Contents {
    let store = fsmstore::open_groups(backend, dir, &Config::default()).expect("open the store");
    let group = store.open_group(id).expect("open the group");
    let read = contents(&*group);
    group.close().expect("close the group");
    store.close().expect("close the store");
    read
}

#[test]
fn a_group_moves_to_a_store_of_another_engine_and_back_into_groups_unchanged() {
    let (root, groups) = temp_groups_store(Backend::Redb);
    let original = group_contents(Backend::Redb, &groups, 1);
    assert_eq!(original.0.len(), 300);
    assert_eq!(original.2, Some(42));
    let untouched = group_contents(Backend::Redb, &groups, 2);

    let snapshot = root.path().join("group-1.bin");
    let output = fsmstore(&["export", path(&groups), path(&snapshot), "--group", "1"]);
    stdout(&output);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(
        summary.starts_with("exported 300 data keys and 2 meta keys at applied index 42"),
        "{summary}"
    );

    // Into a store of one group of another engine ...
    let standalone = root.path().join("fjall");
    stdout(&fsmstore(&[
        "import",
        path(&snapshot),
        path(&standalone),
        "--engine",
        "fjall",
    ]));
    assert_eq!(store_contents(Backend::Fjall, &standalone), original);

    // ... and back into a new group of the first store, and into a group of a groups
    // store that `import` creates, of a third engine.
    let back = root.path().join("back.bin");
    stdout(&fsmstore(&["export", path(&standalone), path(&back)]));
    stdout(&fsmstore(&[
        "import",
        path(&back),
        path(&groups),
        "--engine",
        "redb",
        "--group",
        "3",
    ]));
    assert_eq!(group_contents(Backend::Redb, &groups, 3), original);
    assert_eq!(group_contents(Backend::Redb, &groups, 2), untouched);
    assert_eq!(group_contents(Backend::Redb, &groups, 1), original);

    let created = root.path().join("heed-groups");
    let output = fsmstore(&[
        "import",
        path(&back),
        path(&created),
        "--engine",
        "heed",
        "--group",
        "9",
    ]);
    stdout(&output);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("into group 9 of heed"),
        "{output:?}"
    );
    let marker = fsmstore::read_marker(&created).expect("read the marker");
    assert_eq!(marker.layout, fsmstore::Layout::Groups);
    assert_eq!(group_contents(Backend::Heed, &created, 9), original);

    // The stream is the same bytes wherever the group went.
    let again = root.path().join("group-9.bin");
    stdout(&fsmstore(&[
        "export",
        path(&created),
        path(&again),
        "--group",
        "9",
    ]));
    let bytes = std::fs::read(&snapshot).expect("read");
    assert_eq!(std::fs::read(&back).expect("read"), bytes);
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
}

#[test]
fn inspect_lists_the_groups_and_shows_one_group_like_a_store() {
    let (root, groups) = temp_groups_store(Backend::Redb);
    // A restore gives group 2 its next generation.
    let snapshot = root.path().join("group-2.bin");
    stdout(&fsmstore(&[
        "export",
        path(&groups),
        path(&snapshot),
        "--group",
        "2",
    ]));
    stdout(&fsmstore(&[
        "import",
        path(&snapshot),
        path(&groups),
        "--engine",
        "redb",
        "--group",
        "2",
        "--force",
    ]));
    {
        let store = fsmstore::open_groups(Backend::Redb, &groups, &Config::new(SyncMode::Sync))
            .expect("open");
        store.create_group(4).expect("an empty group");
        store.close().expect("close");
    }

    let text = stdout(&fsmstore(&["inspect", path(&groups)]));
    assert!(text.contains("engine: redb\n"), "{text}");
    assert!(text.contains("layout: groups\n"), "{text}");
    assert!(text.contains("groups: 3\n"), "{text}");
    assert!(
        text.contains("  group 1: applied index 42, generation 0\n"),
        "{text}"
    );
    assert!(
        text.contains("  group 2: applied index 5, generation 1\n"),
        "{text}"
    );
    assert!(
        text.contains("  group 4: applied index none, generation 0\n"),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&fsmstore(&["inspect", "--json", path(&groups)])))
            .expect("valid JSON");
    assert_eq!(json["engine"], "redb");
    assert_eq!(json["layout"], "groups");
    assert_eq!(
        json["groups"],
        serde_json::json!([
            {"id": 1, "applied_index": 42, "generation": 0},
            {"id": 2, "applied_index": 5, "generation": 1},
            {"id": 4, "applied_index": null, "generation": 0},
        ])
    );

    // One group reads like a store of its own.
    let text = stdout(&fsmstore(&["inspect", path(&groups), "--group", "1"]));
    assert!(text.contains("layout: groups\ngroup: 1\n"), "{text}");
    assert!(
        text.contains("applied index: 42 (raw 2a00000000000000)\n"),
        "{text}"
    );
    assert!(text.contains("  term = \"7\"\n"), "{text}");
    assert!(text.contains("data keys: 300\n"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&fsmstore(&[
        "inspect",
        "--json",
        path(&groups),
        "--group",
        "2",
    ])))
    .expect("valid JSON");
    assert_eq!(json["layout"], "groups");
    assert_eq!(json["group"], 2);
    assert_eq!(json["group_generation"], 1);
    assert_eq!(json["applied_index"]["value"], 5);
    assert_eq!(json["data_keys"], 10);

    // A store of one group says so too.
    let single = root.path().join("single");
    make_store(Backend::Redb, &single);
    let text = stdout(&fsmstore(&["inspect", path(&single)]));
    assert!(text.contains("layout: single\n"), "{text}");
    assert!(!text.contains("group"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&fsmstore(&["inspect", "--json", path(&single)])))
            .expect("valid JSON");
    assert_eq!(json["layout"], "single");
    assert!(json.get("groups").is_none(), "{json}");
}

#[test]
fn verify_deep_checks_a_whole_groups_store_or_one_group() {
    let (_root, groups) = temp_groups_store(Backend::Fjall);
    let text = stdout(&fsmstore(&["verify", "--deep", path(&groups)]));
    assert!(text.contains("store passes the deep check\n"), "{text}");
    assert!(text.contains("layout: groups\n"), "{text}");
    assert!(text.contains("groups: 2\n"), "{text}");
    assert!(text.contains("data entries: 310\n"), "{text}");

    let text = stdout(&fsmstore(&[
        "verify",
        "--deep",
        path(&groups),
        "--group",
        "2",
    ]));
    assert!(text.contains("group 2 passes the deep check\n"), "{text}");
    assert!(text.contains("applied index: 5\n"), "{text}");
    assert!(text.contains("data entries: 10\n"), "{text}");
    assert!(text.contains("meta entries: 1\n"), "{text}");
}

#[test]
fn group_flags_that_do_not_fit_the_store_fail_with_clear_messages() {
    let (root, groups) = temp_groups_store(Backend::Redb);
    let single = root.path().join("single");
    make_store(Backend::Redb, &single);
    let snapshot = root.path().join("snapshot.bin");
    stdout(&fsmstore(&["export", path(&single), path(&snapshot)]));
    let unwritten = root.path().join("unwritten.bin");

    // A groups store without `--group`, where a command reads or writes one stream.
    let groups_store = ["is a groups store", "--group ID"];
    expect_exit(4, &["export", path(&groups), "-"], &groups_store);
    expect_exit(
        4,
        &[
            "import",
            path(&snapshot),
            path(&groups),
            "--engine",
            "redb",
            "--force",
        ],
        &groups_store,
    );
    expect_exit(
        4,
        &[
            "migrate",
            path(&groups),
            path(&root.path().join("migrated")),
            "--engine",
            "fjall",
        ],
        &["is a groups store", "export --group"],
    );

    // `--group` on a store of one group.
    let one_group = ["is a one-group store", "leave it out"];
    for args in [
        vec!["inspect", path(&single), "--group", "1"],
        vec!["export", path(&single), path(&unwritten), "--group", "1"],
        vec!["verify", "--deep", path(&single), "--group", "1"],
        vec![
            "import",
            path(&snapshot),
            path(&single),
            "--engine",
            "redb",
            "--group",
            "1",
            "--force",
        ],
    ] {
        expect_exit(4, &args, &one_group);
    }
    assert!(!unwritten.exists(), "a refused export created its output");

    // A group that is not there.
    expect_exit(
        4,
        &["export", path(&groups), path(&unwritten), "--group", "99"],
        &["no group 99"],
    );
    expect_exit(
        4,
        &["inspect", path(&groups), "--group", "99"],
        &["no group 99"],
    );

    // An import replaces a group that holds something only with `--force`.
    let import_into_one = [
        "import",
        path(&snapshot),
        path(&groups),
        "--engine",
        "redb",
        "--group",
        "2",
    ];
    expect_exit(4, &import_into_one, &["group 2", "--force"]);
    let mut forced = import_into_one.to_vec();
    forced.push("--force");
    stdout(&fsmstore(&forced));
    assert_eq!(
        group_contents(Backend::Redb, &groups, 2),
        store_contents(Backend::Redb, &single)
    );

    // Another engine's groups store, as without `--group`.
    expect_exit(
        4,
        &[
            "import",
            path(&snapshot),
            path(&groups),
            "--engine",
            "fjall",
            "--group",
            "5",
        ],
        &["refusing to open it"],
    );

    // `--group` names a group of a store, not of a snapshot file.
    expect_exit(2, &["verify", path(&snapshot), "--group", "1"], &["--deep"]);

    // A groups store held by another handle is in use.
    let held =
        fsmstore::open_groups(Backend::Redb, &groups, &Config::new(SyncMode::Sync)).expect("hold");
    expect_exit(
        6,
        &["export", path(&groups), "-", "--group", "1"],
        &["in use"],
    );
    expect_exit(6, &["inspect", path(&groups)], &["in use"]);
    held.close().expect("close");
}
