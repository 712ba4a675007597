use std::path::Path;

use engine_api::{Bytes, Config, Engine, Error, SyncMode, WriteBatch};

use crate::{DATABASE_FILE, RedbStore};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn open(dir: &Path, mode: SyncMode) -> engine_api::Result<RedbStore> {
    RedbStore::open(dir, &Config::new(mode))
}

fn keys(store: &RedbStore, prefix: &[u8]) -> engine_api::Result<Vec<String>> {
    Ok(store
        .scan_prefix(prefix)?
        .into_iter()
        .map(|(key, _)| String::from_utf8_lossy(&key).into_owned())
        .collect())
}

fn put_all(store: &RedbStore, keys: &[&str]) -> engine_api::Result<()> {
    let mut batch = WriteBatch::new();
    for key in keys {
        batch.put(key.to_string(), format!("value of {key}"));
    }
    store.write(&batch)
}

/// Copies the store directory as a process killed right now would leave it for the next
/// open: what redb has written to the file so far, and nothing it holds in memory.
fn copy_store(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == engine_api::LOCK_FILE {
            // Closing a copy's descriptor of the lock file would drop the live store's
            // lock; a killed process's lock dies with it anyway.
            continue;
        }
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Opens a store in a fresh directory whose redb file holds `contents`; the directory
/// is returned too, to outlive the store.
fn open_with_file(
    contents: &[u8],
) -> std::result::Result<
    (tempfile::TempDir, engine_api::Result<RedbStore>),
    Box<dyn std::error::Error>,
> {
    let dir = tempfile::tempdir()?;
    // A store made and closed first, so the directory carries the redb marker and only
    // the database file is damaged.
    open(dir.path(), SyncMode::Sync)?.close()?;
    std::fs::write(dir.path().join(DATABASE_FILE), contents)?;
    let result = open(dir.path(), SyncMode::Sync);
    Ok((dir, result))
}

#[test]
fn the_redb_file_lives_beside_the_store_marker() -> TestResult {
    let dir = tempfile::tempdir()?;
    let _store = open(dir.path(), SyncMode::Sync)?;
    assert!(dir.path().join(engine_api::MARKER_FILE).is_file());
    assert!(dir.path().join(DATABASE_FILE).is_file());
    Ok(())
}

#[test]
fn a_fresh_store_reads_as_empty_without_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.get(b"anything")?, None);
    assert_eq!(store.get_meta(b"anything")?, None);
    assert_eq!(store.applied_index()?, None);
    assert!(store.scan_prefix(b"")?.is_empty());
    Ok(())
}

#[test]
fn nosync_applies_are_lost_at_a_crash_back_to_the_last_durable_commit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let crashed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    batch.put("durable", "1");
    store.apply(&batch, Some(1))?;
    store.set_durable_applied_index(1)?;
    for index in 2..=5 {
        let mut batch = WriteBatch::new();
        batch.put(format!("buffered/{index}"), "x");
        store.apply(&batch, Some(index))?;
    }

    copy_store(dir.path(), crashed.path())?;
    let after_crash = open(crashed.path(), SyncMode::NoSync)?;
    assert_eq!(after_crash.applied_index()?, Some(1));
    assert_eq!(keys(&after_crash, b"")?, ["durable"]);
    Ok(())
}

#[test]
fn sync_makes_every_earlier_nosync_apply_survive_a_crash() -> TestResult {
    let dir = tempfile::tempdir()?;
    let crashed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    for index in 1..=5 {
        let mut batch = WriteBatch::new();
        batch.put(format!("k/{index}"), "x");
        store.apply(&batch, Some(index))?;
    }
    store.sync()?;

    copy_store(dir.path(), crashed.path())?;
    let after_crash = open(crashed.path(), SyncMode::NoSync)?;
    assert_eq!(after_crash.applied_index()?, Some(5));
    assert_eq!(
        keys(&after_crash, b"")?,
        ["k/1", "k/2", "k/3", "k/4", "k/5"]
    );
    Ok(())
}

#[test]
fn sync_after_nosync_applies_keeps_them_across_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::NoSync)?;
        let mut batch = WriteBatch::new();
        batch.put("k", "v");
        store.apply(&batch, Some(9))?;
        store.sync()?;
    }
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.get(b"k")?, Some(Bytes::from("v")));
    assert_eq!(store.applied_index()?, Some(9));
    Ok(())
}

#[test]
fn the_checkpoint_pins_the_index_and_the_data_it_vouches_for() -> TestResult {
    let dir = tempfile::tempdir()?;
    let crashed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    for index in 1..=3 {
        let mut batch = WriteBatch::new();
        batch.put(format!("k/{index}"), "x");
        store.apply(&batch, Some(index))?;
    }
    // Already applied, so the pin commits nothing new: only the forced sync runs.
    assert_eq!(store.set_durable_applied_index(2)?, 3);

    copy_store(dir.path(), crashed.path())?;
    let after_crash = open(crashed.path(), SyncMode::NoSync)?;
    assert_eq!(after_crash.applied_index()?, Some(3));
    assert_eq!(keys(&after_crash, b"")?, ["k/1", "k/2", "k/3"]);
    Ok(())
}

#[test]
fn a_sync_apply_survives_a_crash_without_an_explicit_sync() -> TestResult {
    let dir = tempfile::tempdir()?;
    let crashed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    let mut batch = WriteBatch::new();
    batch.put("k", "v");
    store.apply(&batch, Some(1))?;

    copy_store(dir.path(), crashed.path())?;
    let after_crash = open(crashed.path(), SyncMode::Sync)?;
    assert_eq!(after_crash.get(b"k")?, Some(Bytes::from("v")));
    assert_eq!(after_crash.applied_index()?, Some(1));
    Ok(())
}

#[test]
fn a_garbage_database_file_is_a_corruption_error_at_open() -> TestResult {
    let (_dir, result) = open_with_file(b"this is not a redb database, only some bytes")?;
    assert!(matches!(result, Err(Error::Corruption(_))), "{result:?}");
    Ok(())
}

#[test]
fn a_truncated_database_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::Sync)?;
        put_all(&store, &["a", "b", "c"])?;
    }
    let file = std::fs::read(dir.path().join(DATABASE_FILE))?;
    for length in [12, 100, 4096, file.len() / 2, file.len() - 1] {
        let (_dir, result) = open_with_file(&file[..length])?;
        assert!(
            matches!(result, Err(Error::Corruption(_))),
            "truncated to {length} bytes: {result:?}"
        );
    }
    Ok(())
}

#[test]
fn a_damaged_page_is_a_corruption_error_at_open_not_a_panic() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::Sync)?;
        let mut batch = WriteBatch::new();
        for i in 0..5_000 {
            batch.put(format!("key/{i:06}"), vec![7u8; 100]);
        }
        store.write(&batch)?;
    }
    let mut file = std::fs::read(dir.path().join(DATABASE_FILE))?;
    let middle = file.len() / 2;
    for byte in &mut file[middle..middle + 4096] {
        *byte ^= 0x5A;
    }
    let (_dir, result) = open_with_file(&file)?;
    assert!(matches!(result, Err(Error::Corruption(_))), "{result:?}");
    Ok(())
}

#[test]
fn an_empty_database_file_starts_a_new_store() -> TestResult {
    let (_dir, result) = open_with_file(b"")?;
    let store = result?;
    assert!(store.scan_prefix(b"")?.is_empty());
    Ok(())
}

#[test]
fn damage_the_open_does_not_read_passes_the_open_and_fails_the_deep_check() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::Sync)?;
        let mut batch = WriteBatch::new();
        for i in 0..5_000 {
            batch.put(format!("key/{i:06}"), vec![7u8; 100]);
        }
        store.apply(&batch, Some(1))?;
        let healthy = store.verify_deep()?;
        assert_eq!(
            (healthy.data_entries, healthy.applied_index),
            (5_000, Some(1))
        );
    }
    // A page in the middle of the file: data, which a cold start never reads.
    let mut file = std::fs::read(dir.path().join(DATABASE_FILE))?;
    let page = file.len() / 2 / 4096 * 4096;
    for byte in &mut file[page + 100..page + 200] {
        *byte ^= 0x5A;
    }
    let (_dir, result) = open_with_file(&file)?;
    let store = result?;
    assert_eq!(store.applied_index()?, Some(1));
    let checked = store.verify_deep();
    assert!(matches!(checked, Err(Error::Corruption(_))), "{checked:?}");
    Ok(())
}
