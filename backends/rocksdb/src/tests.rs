use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine_api::{Bytes, Config, Engine, Error, RawEngine, Recovery, SyncMode, WriteBatch};

use crate::{DATABASE_DIR, RocksDbEngine, RocksDbStore};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn open(dir: &Path, mode: SyncMode) -> engine_api::Result<RocksDbStore> {
    RocksDbStore::open(dir, &Config::new(mode))
}

fn keys(store: &RocksDbStore, prefix: &[u8]) -> engine_api::Result<Vec<Bytes>> {
    Ok(store
        .scan_prefix(prefix)?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

fn put_all(store: &RocksDbStore, keys: &[&[u8]]) -> engine_api::Result<()> {
    let mut batch = WriteBatch::new();
    for key in keys {
        batch.put(Bytes::copy_from_slice(key), "v");
    }
    store.write(&batch)
}

/// The RocksDB files in a store directory whose name passes `matches`, sorted.
fn database_files(dir: &Path, matches: impl Fn(&str) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.join(DATABASE_DIR))? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(&matches)
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The one file of the database whose name passes `matches`.
fn database_file(
    dir: &Path,
    matches: impl Fn(&str) -> bool,
) -> std::result::Result<PathBuf, Box<dyn std::error::Error>> {
    let mut files = database_files(dir, matches)?;
    match (files.pop(), files.is_empty()) {
        (Some(file), true) => Ok(file),
        _ => Err(format!("expected one matching file in {}", dir.display()).into()),
    }
}

fn is_wal(name: &str) -> bool {
    name.ends_with(".log")
}

fn is_table(name: &str) -> bool {
    name.ends_with(".sst")
}

fn is_manifest(name: &str) -> bool {
    name.starts_with("MANIFEST-")
}

/// A closed store with a few keys in a table file (flushed from the memtables) and the
/// applied index at 1.
fn store_with_a_table_file() -> std::result::Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    let mut batch = WriteBatch::new();
    for i in 0..100 {
        batch.put(format!("key/{i:03}"), vec![b'v'; 100]);
    }
    store.apply(&batch, Some(1))?;
    flush(&store)?;
    store.close()?;
    Ok(dir)
}

/// Writes the memtables of both column families to table files.
fn flush(store: &RocksDbStore) -> std::result::Result<(), Box<dyn std::error::Error>> {
    store.with_raw(
        |raw| -> std::result::Result<(), Box<dyn std::error::Error>> {
            let db = &raw.db;
            for family in [crate::DATA, crate::META] {
                db.flush_cf(db.cf_handle(family).ok_or("no such column family")?)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// A closed store whose commits are only in the WAL: 1 to `commits`, one key of 10 KiB
/// each, so that a few commits fill several of the WAL's 32 KiB blocks.
fn store_with_only_a_wal(
    commits: u64,
) -> std::result::Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    for index in 1..=commits {
        let mut batch = WriteBatch::new();
        batch.put(format!("key/{index:03}"), vec![b'v'; 10 << 10]);
        store.apply(&batch, Some(index))?;
    }
    store.close()?;
    Ok(dir)
}

fn is_corruption(result: &engine_api::Result<RocksDbStore>) -> bool {
    matches!(result, Err(Error::Corruption(_)))
}

#[test]
fn a_dropped_nosync_store_keeps_its_commits() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::NoSync)?;
        let mut batch = WriteBatch::new();
        batch.put("k", "v");
        store.apply(&batch, Some(3))?;
    }
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.get(b"k")?, Some(Bytes::from("v")));
    assert_eq!(store.applied_index()?, Some(3));
    Ok(())
}

#[test]
fn the_database_lives_in_a_subdirectory_beside_the_store_marker() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    assert!(dir.path().join(engine_api::MARKER_FILE).is_file());
    assert_eq!(
        store.with_raw(|raw| raw.database_path().to_owned()),
        dir.path().join(DATABASE_DIR)
    );
    assert!(dir.path().join(DATABASE_DIR).join("CURRENT").is_file());
    Ok(())
}

#[test]
fn a_fresh_store_has_the_data_and_meta_column_families_and_reads_as_empty() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.get(b"anything")?, None);
    assert_eq!(store.get_meta(b"anything")?, None);
    assert_eq!(store.applied_index()?, None);
    assert!(store.scan_prefix(b"")?.is_empty());
    store.close()?;

    let mut families =
        rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path().join(DATABASE_DIR))?;
    families.sort();
    assert_eq!(families, ["data", "default", "meta"]);
    Ok(())
}

#[test]
fn a_database_with_an_extra_column_family_still_opens() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    put_all(&store, &[b"k"])?;
    store.close()?;
    {
        let path = dir.path().join(DATABASE_DIR);
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, ["data", "meta"])?;
        db.create_cf("added later", &rocksdb::Options::default())?;
    }

    let store = open(dir.path(), SyncMode::Sync)?;
    assert_eq!(store.get(b"k")?, Some(Bytes::from("v")));
    Ok(())
}

#[test]
fn a_prefix_longer_than_any_key_deletes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    let longest = vec![0xFF; engine_api::MAX_KEY_LEN];
    put_all(&store, &[&longest, b"k"])?;

    let mut batch = WriteBatch::new();
    batch.delete_prefix(vec![0xFF; engine_api::MAX_KEY_LEN + 10], None);
    store.write(&batch)?;

    assert_eq!(keys(&store, b"")?.len(), 2);
    Ok(())
}

#[test]
fn range_deletes_survive_a_flush_and_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::NoSync)?;
        put_all(&store, &[b"a/1", b"a/2", b"a/keep", b"b"])?;
        flush(&store)?;
        let mut batch = WriteBatch::new();
        batch.delete_prefix("a/", Some(Bytes::from("a/keep")));
        store.apply(&batch, Some(1))?;
        flush(&store)?;
        store.close()?;
    }
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(keys(&store, b"")?, [&b"a/keep"[..], b"b"]);
    assert_eq!(store.get(b"a/1")?, None);
    Ok(())
}

#[test]
fn opening_a_store_that_is_already_open_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let _store = open(dir.path(), SyncMode::Sync)?;
    assert!(open(dir.path(), SyncMode::Sync).is_err());
    Ok(())
}

#[test]
fn a_garbage_current_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_only_a_wal(3)?;
    std::fs::write(
        dir.path().join(DATABASE_DIR).join("CURRENT"),
        b"\x00garbage\xFF",
    )?;
    let result = open(dir.path(), SyncMode::Sync);
    assert!(is_corruption(&result), "{result:?}");
    Ok(())
}

#[test]
fn a_truncated_current_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_only_a_wal(3)?;
    let current = dir.path().join(DATABASE_DIR).join("CURRENT");
    let contents = std::fs::read(&current)?;
    for length in [0, contents.len() - 1] {
        std::fs::write(&current, &contents[..length])?;
        let result = open(dir.path(), SyncMode::Sync);
        assert!(is_corruption(&result), "cut to {length} bytes: {result:?}");
    }
    Ok(())
}

#[test]
fn a_missing_current_file_is_a_corruption_error_at_every_open() -> TestResult {
    for dir in [store_with_only_a_wal(3)?, store_with_a_table_file()?] {
        let path = dir.path().join(DATABASE_DIR);
        std::fs::remove_file(path.join("CURRENT"))?;
        let before = database_files(dir.path(), |_| true)?;
        // RocksDB itself refuses only the first open, after writing a new empty database
        // that a second open would accept, deleting the old files.
        for _ in 0..2 {
            let result = open(dir.path(), SyncMode::Sync);
            assert!(is_corruption(&result), "{result:?}");
        }
        assert_eq!(database_files(dir.path(), |_| true)?, before);
    }
    Ok(())
}

#[test]
fn a_garbage_manifest_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_a_table_file()?;
    let manifest = database_file(dir.path(), is_manifest)?;
    let length = std::fs::metadata(&manifest)?.len();
    std::fs::write(&manifest, vec![0xA5; usize::try_from(length)?])?;
    let result = open(dir.path(), SyncMode::Sync);
    assert!(is_corruption(&result), "{result:?}");
    Ok(())
}

#[test]
fn a_manifest_cut_inside_its_first_edit_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_a_table_file()?;
    let manifest = database_file(dir.path(), is_manifest)?;
    let contents = std::fs::read(&manifest)?;
    // The first edit names the files and sequence numbers every open needs. A cut
    // inside a later edit is what a crash in the middle of that edit leaves, and RocksDB
    // opens at the edit before it (see the crate docs).
    for length in [0, 10, 100] {
        std::fs::write(&manifest, &contents[..length])?;
        let result = open(dir.path(), SyncMode::Sync);
        assert!(is_corruption(&result), "cut to {length} bytes: {result:?}");
    }
    Ok(())
}

#[test]
fn a_garbage_table_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_a_table_file()?;
    for table in database_files(dir.path(), is_table)? {
        let length = std::fs::metadata(&table)?.len();
        std::fs::write(&table, vec![0xA5; usize::try_from(length)?])?;
    }
    let result = open(dir.path(), SyncMode::Sync);
    assert!(is_corruption(&result), "{result:?}");
    Ok(())
}

#[test]
fn a_truncated_table_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_a_table_file()?;
    let tables = database_files(dir.path(), is_table)?;
    assert_eq!(tables.len(), 2, "one table file per column family");
    let table = &tables[0];
    let contents = std::fs::read(table)?;
    for length in [0, 20, contents.len() / 2, contents.len() - 1] {
        std::fs::write(table, &contents[..length])?;
        let result = open(dir.path(), SyncMode::Sync);
        assert!(is_corruption(&result), "cut to {length} bytes: {result:?}");
    }
    Ok(())
}

#[test]
fn a_garbage_wal_is_a_corruption_error_at_open() -> TestResult {
    // 100 KiB: the garbage in the first block cannot pass for a record cut short.
    let dir = store_with_only_a_wal(10)?;
    let wal = database_file(dir.path(), is_wal)?;
    let length = std::fs::metadata(&wal)?.len();
    std::fs::write(&wal, vec![0xA5; usize::try_from(length)?])?;
    let result = open(dir.path(), SyncMode::Sync);
    assert!(is_corruption(&result), "{result:?}");
    Ok(())
}

#[test]
fn a_wal_damaged_before_its_last_record_is_a_corruption_error_at_open() -> TestResult {
    let dir = store_with_only_a_wal(10)?;
    let wal = database_file(dir.path(), is_wal)?;
    let mut contents = std::fs::read(&wal)?;
    let middle = contents.len() / 2;
    contents[middle] ^= 0x5A;
    std::fs::write(&wal, &contents)?;
    let result = open(dir.path(), SyncMode::Sync);
    assert!(is_corruption(&result), "{result:?}");
    Ok(())
}

/// A copy of the directory tree at `from` in a new temporary directory.
fn copy_of(from: &Path) -> std::result::Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let to = tempfile::tempdir()?;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        std::fs::create_dir_all(to.path().join(&relative))?;
        for entry in std::fs::read_dir(from.join(&relative))? {
            let entry = entry?;
            let inside = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(inside);
            } else {
                std::fs::copy(entry.path(), to.path().join(&inside))?;
            }
        }
    }
    Ok(to)
}

/// The applied index and how many of the keys `store_with_only_a_wal` writes `engine` reads.
fn contents_of(engine: &RocksDbEngine) -> engine_api::Result<(Option<u64>, usize)> {
    let applied = engine_api::decode_applied_index(
        engine.get_meta(engine_api::APPLIED_INDEX_KEY)?.as_deref(),
    );
    let mut keys = 0;
    for index in 1..=10 {
        keys += usize::from(engine.get(format!("key/{index:03}").as_bytes())?.is_some());
    }
    Ok((applied, keys))
}

#[test]
fn a_wal_with_a_hole_opens_at_the_record_before_it_only_after_unsynced_writes() -> TestResult {
    // What a power cut leaves of a WAL tail that was never fsynced: some pages written
    // back, some not (zeros), in no particular order.
    let damaged = store_with_only_a_wal(10)?;
    let wal = database_file(damaged.path(), is_wal)?;
    let mut contents = std::fs::read(&wal)?;
    let middle = contents.len() / 2;
    contents[middle..middle + 4096].fill(0);
    std::fs::write(&wal, &contents)?;

    // The recovery follows who wrote the log, whatever this open's own sync mode.
    for mode in [SyncMode::Sync, SyncMode::NoSync] {
        let config = Config::new(mode);
        let copy = copy_of(damaged.path())?;
        let strict = RocksDbEngine::open_recovering(copy.path(), &config, Recovery::STRICT);
        assert!(
            matches!(strict, Err(Error::Corruption(_))),
            "{mode}: {:?}",
            strict.map(|_| ())
        );

        let engine =
            RocksDbEngine::open_recovering(copy.path(), &config, Recovery::AFTER_UNSYNCED_WRITES)?;
        let (applied, keys) = contents_of(&engine)?;
        let applied = applied.ok_or("an index from before the hole")?;
        assert!((1..10).contains(&applied), "{mode}: {applied}");
        assert_eq!(keys as u64, applied, "{mode}");
    }
    Ok(())
}

#[test]
fn a_wal_cut_inside_its_last_record_drops_that_commit_whole() -> TestResult {
    let dir = store_with_only_a_wal(10)?;
    let wal = database_file(dir.path(), is_wal)?;
    let contents = std::fs::read(&wal)?;
    // What a process killed in the middle of its last write leaves behind.
    std::fs::write(&wal, &contents[..contents.len() - 20])?;

    let store = open(dir.path(), SyncMode::Sync)?;
    assert_eq!(store.applied_index()?, Some(9));
    assert_eq!(keys(&store, b"key/")?.len(), 9);
    assert_eq!(store.get(b"key/010")?, None);
    Ok(())
}

#[test]
fn garbage_that_reads_as_a_record_cut_short_at_the_end_of_the_wal_is_a_torn_write() -> TestResult {
    // The limit of the WAL format: a record header whose length runs past the end of the
    // file is what a process killed in the middle of a write leaves, so RocksDB drops
    // the log from there instead of failing the open.
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    put_all(&store, &[b"k"])?;
    store.close()?;
    let wal = database_file(dir.path(), is_wal)?;
    let length = std::fs::metadata(&wal)?.len();
    // 0xA5A5 as a length: 42 405 bytes, past the end of this small log.
    std::fs::write(&wal, vec![0xA5; usize::try_from(length)?])?;

    let store = open(dir.path(), SyncMode::Sync)?;
    assert_eq!(store.get(b"k")?, None);
    Ok(())
}

/// Every file under `dir` (relative path) with its contents.
fn files(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_owned();
                found.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(found)
}

#[test]
fn a_read_only_open_of_a_closed_store_changes_no_file() -> TestResult {
    let dir = store_with_a_table_file()?;
    // A commit only in the WAL too, which the read-only open replays into memory.
    let store = open(dir.path(), SyncMode::Sync)?;
    put_all(&store, &[b"in the wal"])?;
    store.close()?;
    let before = files(dir.path())?;

    let reader = RocksDbStore::open(dir.path(), &Config::default().with_read_only())?;
    assert_eq!(reader.get(b"in the wal")?, Some(Bytes::from("v")));
    assert_eq!(keys(&reader, b"key/")?.len(), 100);
    assert_eq!(reader.applied_index()?, Some(1));
    reader.close()?;

    let after = files(dir.path())?;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, contents) in &before {
        assert!(&after[name] == contents, "{} changed", name.display());
    }
    Ok(())
}

#[test]
fn a_read_only_database_refuses_writes_and_syncs_itself() -> TestResult {
    let dir = tempfile::tempdir()?;
    open(dir.path(), SyncMode::Sync)?.close()?;
    let engine = RocksDbEngine::open(dir.path(), &Config::default().with_read_only())?;
    let written = engine.db.put_cf(engine.family(crate::DATA)?, b"k", b"v");
    assert!(written.is_err(), "{written:?}");
    assert!(engine.sync().is_err());
    assert_eq!(engine.get(b"k")?, None);
    Ok(())
}

/// Whether a record lock of any owner covers `path` (RocksDB locks the whole `LOCK`
/// file). The query is an open-file-description lock, which conflicts with this
/// process's own `fcntl` locks too, so it sees the one the database holds. Closing the
/// query's descriptor drops every `fcntl` lock this process holds on the file: a test
/// calls it last, just before the store is dropped.
#[cfg(target_os = "linux")]
fn is_locked(path: &Path) -> std::io::Result<bool> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::libc::{F_UNLCK, F_WRLCK, SEEK_SET, c_short, flock};
    let file = std::fs::File::open(path)?;
    let mut query = flock {
        l_type: F_WRLCK as c_short,
        l_whence: SEEK_SET as c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&file, FcntlArg::F_OFD_GETLK(&mut query))?;
    Ok(query.l_type != F_UNLCK as c_short)
}

/// The lock file of the store's live database.
#[cfg(target_os = "linux")]
fn live_lock_file(store: &RocksDbStore) -> PathBuf {
    store.with_raw(|raw| raw.database_path().join("LOCK"))
}

#[cfg(target_os = "linux")]
#[test]
fn a_new_store_holds_the_database_lock_while_it_is_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    assert!(is_locked(&live_lock_file(&store))?);
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn a_restored_store_holds_the_database_lock_of_its_new_generation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    put_all(&store, &[b"k"])?;
    let mut snapshot = Vec::new();
    store.export(&mut snapshot)?;
    store.restore(&mut snapshot.as_slice())?;
    let lock_file = live_lock_file(&store);
    assert_ne!(
        lock_file,
        dir.path().join(DATABASE_DIR).join("LOCK"),
        "a new generation"
    );
    assert!(is_locked(&lock_file)?);
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn a_reopened_store_holds_the_database_lock_while_it_is_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    open(dir.path(), SyncMode::Sync)?.close()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert!(is_locked(&live_lock_file(&store))?);
    Ok(())
}
