//! End-to-end: the real `fsmstore` binary on real stores.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{fsmstore, make_store, path, stdout};
use fsmstore::{Backend, Config, SyncMode, WriteBatch};

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// `inspect` output without its engine line.
fn without_engine(inspect: &str) -> String {
    inspect
        .lines()
        .filter(|line| !line.starts_with("engine: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn inspect_prints_engine_index_meta_and_sizes() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    make_store(Backend::Redb, &store);
    let text = stdout(&fsmstore(&["inspect", path(&store)]));
    assert!(text.contains("engine: redb\n"), "{text}");
    assert!(text.contains("created sync mode: sync\n"), "{text}");
    assert!(
        text.contains("applied index: 42 (raw 2a00000000000000)\n"),
        "{text}"
    );
    assert!(text.contains("meta keys: 2\n"), "{text}");
    assert!(text.contains("  term = \"7\"\n"), "{text}");
    assert!(text.contains("data keys: 300\n"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&fsmstore(&["inspect", "--json", path(&store)])))
            .expect("valid JSON");
    assert_eq!(json["engine"], "redb");
    assert_eq!(json["applied_index"]["state"], "present");
    assert_eq!(json["applied_index"]["value"], 42);
    assert_eq!(json["applied_index"]["raw_hex"], "2a00000000000000");
    assert_eq!(json["data_keys"], 300);
}

/// Meta values that are JSON objects or arrays (openraft's last applied log id and
/// membership) come out of `inspect --json` as JSON, not as strings holding JSON.
#[test]
fn inspect_json_prints_json_meta_values_as_json() {
    let root = tempfile::tempdir().expect("temp dir");
    let store_dir = root.path().join("store");
    let store =
        fsmstore::open(Backend::Redb, &store_dir, &Config::new(SyncMode::Sync)).expect("create");
    let last_applied = r#"{"leader_id":{"term":3,"node_id":1},"index":41}"#;
    let mut batch = WriteBatch::new();
    batch
        .put_meta("openraft_last_applied", last_applied)
        .put_meta("voters", "[1,2,3]")
        .put_meta("term", "7")
        .put_meta("raw", vec![0u8, 1, 2]);
    store.apply(&batch, Some(42)).expect("apply");
    store.close().expect("close");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&fsmstore(&["inspect", "--json", path(&store_dir)])))
            .expect("valid JSON");
    let value = |name: &str| {
        json["meta"]
            .as_array()
            .expect("meta list")
            .iter()
            .find(|entry| entry["name"] == name)
            .unwrap_or_else(|| panic!("meta {name}: {json:#}"))["value"]
            .clone()
    };
    assert_eq!(
        value("openraft_last_applied"),
        serde_json::from_str::<serde_json::Value>(last_applied).expect("json")
    );
    assert_eq!(value("voters"), serde_json::json!([1, 2, 3]));
    // A number that is text stays the text it is; bytes that are not text are null.
    assert_eq!(value("term"), "7");
    assert_eq!(value("raw"), serde_json::Value::Null);
}

#[test]
fn inspect_reports_a_missing_and_a_corrupt_index() {
    let root = tempfile::tempdir().expect("temp dir");
    let store_dir = root.path().join("store");
    let store =
        fsmstore::open(Backend::Redb, &store_dir, &Config::new(SyncMode::Sync)).expect("create");
    store.close().expect("close");
    let text = stdout(&fsmstore(&["inspect", path(&store_dir)]));
    assert!(text.contains("applied index: missing\n"), "{text}");

    let store =
        fsmstore::open(Backend::Redb, &store_dir, &Config::new(SyncMode::Sync)).expect("open");
    let mut batch = WriteBatch::new();
    batch.put_meta(fsmstore::APPLIED_INDEX_KEY, vec![1, 2, 3]);
    store.write(&batch).expect("write a damaged index");
    store.close().expect("close");
    let text = stdout(&fsmstore(&["inspect", path(&store_dir)]));
    assert!(
        text.contains("applied index: corrupt (3 bytes: 010203)\n"),
        "{text}"
    );
}

#[test]
fn export_verify_and_import_round_trip_through_files_and_pipes() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    make_store(Backend::Redb, &store);
    let snapshot = root.path().join("snapshot.bin");
    stdout(&fsmstore(&["export", path(&store), path(&snapshot)]));
    let verified = stdout(&fsmstore(&["verify", path(&snapshot)]));
    assert!(verified.contains("applied index: 42\n"), "{verified}");
    assert!(verified.contains("data records: 300\n"), "{verified}");

    // `-` writes the same stream to stdout.
    let piped = fsmstore(&["export", path(&store), "-"]);
    assert!(piped.status.success());
    assert_eq!(piped.stdout, std::fs::read(&snapshot).expect("read"));

    // ... and `-` reads it from stdin.
    let imported = root.path().join("imported");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fsmstore"))
        .args(["import", "-", path(&imported), "--engine", "fjall"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&piped.stdout)
        .expect("feed the stream");
    let output = child.wait_with_output().expect("import");
    assert!(output.status.success(), "{output:?}");
    let original = stdout(&fsmstore(&["inspect", path(&store)]));
    let copy = stdout(&fsmstore(&["inspect", path(&imported)]));
    assert!(copy.contains("engine: fjall\n"), "{copy}");
    assert_eq!(without_engine(&copy), without_engine(&original));
}

#[test]
fn migrating_a_redb_store_to_other_engines_keeps_everything_but_the_engine_line() {
    let root = tempfile::tempdir().expect("temp dir");
    let source = root.path().join("redb");
    make_store(Backend::Redb, &source);
    let original = stdout(&fsmstore(&["inspect", path(&source)]));
    let mut targets = vec!["fjall", "heed"];
    if Backend::RocksDb.is_compiled() {
        targets.push("rocksdb");
    }
    for engine in targets {
        let target = root.path().join(engine);
        stdout(&fsmstore(&[
            "migrate",
            path(&source),
            path(&target),
            "--engine",
            engine,
        ]));
        let migrated = stdout(&fsmstore(&["inspect", path(&target)]));
        assert!(
            migrated.contains(&format!("engine: {engine}\n")),
            "{migrated}"
        );
        assert_eq!(
            without_engine(&migrated),
            without_engine(&original),
            "{engine}"
        );
        // The applied index came along: a cold start would skip the restore.
        let store = fsmstore::open(engine.parse().expect("engine"), &target, &Config::default())
            .expect("open the migrated store");
        assert_eq!(store.applied_index().expect("index"), Some(42));
    }
}

#[test]
fn failures_have_clear_messages_and_exit_codes() {
    let root = tempfile::tempdir().expect("temp dir");
    let missing = root.path().join("missing");
    let output = fsmstore(&["inspect", path(&missing)]);
    assert_eq!(code(&output), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such store"));

    let output = fsmstore(&["import", "x", path(&missing), "--engine", "sqlite"]);
    assert_eq!(code(&output), Some(2), "an unknown engine is a usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown engine"));

    let store = root.path().join("store");
    make_store(Backend::Redb, &store);
    let snapshot = root.path().join("snapshot.bin");
    stdout(&fsmstore(&["export", path(&store), path(&snapshot)]));
    let mut bytes = std::fs::read(&snapshot).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let corrupt = root.path().join("corrupt.bin");
    std::fs::write(&corrupt, &bytes).expect("write");
    let output = fsmstore(&["verify", path(&corrupt)]);
    assert_eq!(code(&output), Some(5));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid snapshot"));
    let output = fsmstore(&[
        "import",
        path(&corrupt),
        path(&missing),
        "--engine",
        "fjall",
    ]);
    assert_eq!(code(&output), Some(5));

    // Import refuses to replace a store unless told to.
    let output = fsmstore(&["import", path(&snapshot), path(&store), "--engine", "redb"]);
    assert_eq!(code(&output), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force"));

    if let Some(absent) = Backend::ALL.iter().find(|backend| !backend.is_compiled()) {
        let target = root.path().join("absent");
        let output = fsmstore(&[
            "import",
            path(&snapshot),
            path(&target),
            "--engine",
            absent.name(),
        ]);
        assert_eq!(code(&output), Some(3));
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .contains(&format!("feature `{}`", absent.feature())),
            "{output:?}"
        );
    }
}

/// Every path inside a store directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut entries: Vec<String> = walk(dir)
        .iter()
        .map(|entry| {
            entry
                .strip_prefix(dir)
                .expect("inside")
                .display()
                .to_string()
        })
        .collect();
    entries.sort();
    entries
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            paths.extend(walk(&path));
        }
        paths.push(path);
    }
    paths
}

#[test]
fn inspect_of_a_store_without_its_engine_files_is_corruption_and_creates_nothing() {
    let root = tempfile::tempdir().expect("temp dir");
    for backend in Backend::ALL.iter().copied().filter(|b| b.is_compiled()) {
        if backend == Backend::Memory {
            continue;
        }
        let store = root.path().join(backend.name());
        make_store(backend, &store);
        for entry in std::fs::read_dir(&store).expect("list") {
            let entry = entry.expect("entry");
            if entry.file_name() != fsmstore::backend::MARKER_FILE {
                let path = entry.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(path).expect("remove");
                } else {
                    std::fs::remove_file(path).expect("remove");
                }
            }
        }
        let before = listing(&store);
        let output = fsmstore(&["inspect", path(&store)]);
        assert_eq!(code(&output), Some(5), "{backend}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("missing"), "{backend}: {stderr}");
        assert_eq!(
            listing(&store),
            before,
            "{backend}: inspect changed the store"
        );
    }
}

#[test]
fn inspect_creates_and_removes_nothing_and_refuses_a_store_in_use() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    make_store(Backend::Redb, &store);
    // A leftover of an interrupted restore, which a writable open would remove.
    std::fs::create_dir(store.join("gen-7")).expect("leftover generation");
    let before = listing(&store);
    let first = stdout(&fsmstore(&["inspect", path(&store)]));
    assert_eq!(listing(&store), before, "inspect created or removed files");
    assert_eq!(stdout(&fsmstore(&["inspect", path(&store)])), first);

    let held = fsmstore::open(Backend::Redb, &store, &Config::new(SyncMode::Sync)).expect("hold");
    let output = fsmstore(&["inspect", path(&store)]);
    assert_eq!(code(&output), Some(6), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("in use"));
    held.close().expect("close");
}

#[test]
fn copies_through_files_and_pipes_print_their_summary_and_no_progress() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    make_store(Backend::Redb, &store);
    let snapshot = root.path().join("snapshot.bin");
    let copies: [(&str, Vec<String>); 4] = [
        (
            "exported ",
            vec!["export".into(), path(&store).into(), path(&snapshot).into()],
        ),
        (
            "exported ",
            vec!["export".into(), path(&store).into(), "-".into()],
        ),
        (
            "imported ",
            vec![
                "import".into(),
                path(&snapshot).into(),
                path(&root.path().join("imported")).into(),
                "--engine".into(),
                "fjall".into(),
            ],
        ),
        (
            "migrated ",
            vec![
                "migrate".into(),
                path(&store).into(),
                path(&root.path().join("migrated")).into(),
                "--engine".into(),
                "heed".into(),
            ],
        ),
    ];
    for (summary, args) in copies {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = fsmstore(&args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).expect("UTF-8");
        assert!(stderr.starts_with(summary), "{args:?}: {stderr:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(
            stderr.ends_with('\n') && !stderr.contains('\r'),
            "{stderr:?}"
        );
    }
}

#[test]
fn verify_deep_passes_healthy_stores_of_every_engine() {
    for backend in [Backend::Redb, Backend::Fjall, Backend::Heed] {
        let root = tempfile::tempdir().expect("temp dir");
        let store = root.path().join("store");
        make_store(backend, &store);
        let text = stdout(&fsmstore(&["verify", "--deep", path(&store)]));
        assert!(text.contains("store passes the deep check\n"), "{text}");
        assert!(text.contains(&format!("engine: {backend}\n")), "{text}");
        assert!(text.contains("applied index: 42\n"), "{text}");
        assert!(text.contains("data entries: 300\n"), "{text}");
        assert!(text.contains("meta entries: 2\n"), "{text}");
    }
}

#[test]
fn verify_deep_finds_a_damaged_redb_page_that_the_open_does_not_read() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = root.path().join("store");
    {
        let engine = fsmstore::open(Backend::Redb, &store, &Config::new(SyncMode::Sync))
            .expect("create the store");
        let mut batch = WriteBatch::new();
        for i in 0..5_000 {
            batch.put(format!("key/{i:06}"), vec![7u8; 100]);
        }
        engine.apply(&batch, Some(3)).expect("apply");
        engine.close().expect("close");
    }
    let file = store.join("store.redb");
    let mut bytes = std::fs::read(&file).expect("read the redb file");
    let page = bytes.len() / 2 / 4096 * 4096;
    for byte in &mut bytes[page + 100..page + 200] {
        *byte ^= 0x5A;
    }
    std::fs::write(&file, bytes).expect("damage the redb file");

    // The open reads only what a cold start needs: it succeeds, and so does the gate.
    {
        let engine = fsmstore::open(
            Backend::Redb,
            &store,
            &Config::new(SyncMode::Sync).with_read_only(),
        )
        .expect("open the damaged store");
        assert_eq!(engine.applied_index().expect("read the index"), Some(3));
    }
    // A walk that meets the damaged page fails with corruption, not a crash (redb
    // panics on it, and the backend catches the panic).
    let inspect = fsmstore(&["inspect", path(&store)]);
    assert_eq!(code(&inspect), Some(5), "{inspect:?}");

    let deep = fsmstore(&["verify", "--deep", path(&store)]);
    assert_eq!(code(&deep), Some(5), "{deep:?}");
    let message = String::from_utf8_lossy(&deep.stderr);
    assert!(message.contains("corruption"), "{message}");
}
