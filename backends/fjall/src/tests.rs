use std::path::Path;

use engine_api::{Bytes, Config, Engine, Error, SyncMode, WriteBatch};

use crate::FjallStore;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn open(dir: &Path, mode: SyncMode) -> engine_api::Result<FjallStore> {
    FjallStore::open(dir, &Config::new(mode))
}

fn keys(store: &FjallStore, prefix: &str) -> engine_api::Result<Vec<String>> {
    Ok(store
        .scan_prefix(prefix.as_bytes())?
        .into_iter()
        .map(|(key, _)| String::from_utf8_lossy(&key).into_owned())
        .collect())
}

fn put_all(store: &FjallStore, keys: &[&str]) -> engine_api::Result<()> {
    let mut batch = WriteBatch::new();
    for key in keys {
        batch.put(key.to_string(), format!("value of {key}"));
    }
    store.write(&batch)
}

/// Copies every file of `from` into `to`, as a process killed right now would leave
/// them for the next open (the OS's page cache included).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == engine_api::LOCK_FILE {
            // Closing a copy's descriptor of the lock file would drop the live store's
            // lock; a killed process's lock dies with it anyway.
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            match std::fs::copy(entry.path(), target) {
                // fjall's workers replace version files and remove old tables while
                // the store is open: what they removed is not part of any state a later
                // open reads.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_fjall_database_lives_beside_the_store_marker() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    assert!(dir.path().join(engine_api::MARKER_FILE).is_file());
    let database_path = store.with_raw(|raw| raw.database_path().to_owned());
    assert_eq!(database_path, dir.path().join("fjall"));
    assert!(database_path.join("version").is_file());
    Ok(())
}

#[test]
fn a_put_after_a_delete_prefix_survives_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::NoSync)?;
        put_all(&store, &["p/1", "p/2"])?;
        let mut batch = WriteBatch::new();
        batch.delete_prefix("p/", None).put("p/1", "again");
        store.apply(&batch, Some(1))?;
    }
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(
        store.scan_prefix(b"p/")?,
        [(Bytes::from("p/1"), Bytes::from("again"))]
    );
    Ok(())
}

#[test]
fn delete_prefix_of_a_large_range_removes_every_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    for i in 0..5_000 {
        batch.put(format!("big/{i:05}"), vec![0u8; 64]);
    }
    store.apply(&batch, Some(1))?;

    let mut batch = WriteBatch::new();
    batch.delete_prefix("big/", Some(Bytes::from("big/0499")));
    store.apply(&batch, Some(2))?;

    let left = keys(&store, "big/")?;
    assert_eq!(left.len(), 10);
    assert!(left.iter().all(|key| key.starts_with("big/0499")));
    Ok(())
}

#[test]
fn the_same_key_written_twice_in_one_commit_keeps_the_last_op() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path(), SyncMode::NoSync)?;
        put_all(&store, &["deleted-then-put"])?;
        let mut batch = WriteBatch::new();
        batch
            .put("put-twice", "first")
            .put("put-twice", "second")
            .put("put-then-deleted", "x")
            .delete("put-then-deleted")
            .delete("deleted-then-put")
            .put("deleted-then-put", "back")
            .put_meta("meta-twice", "first")
            .put_meta("meta-twice", "second");
        store.apply(&batch, Some(1))?;

        // The bundled index is the commit's last op: it wins over an earlier write.
        let mut batch = WriteBatch::new();
        batch.put_meta(engine_api::APPLIED_INDEX_KEY, 99u64.to_le_bytes().to_vec());
        store.apply(&batch, Some(2))?;

        assert_eq!(store.get(b"put-twice")?, Some(Bytes::from("second")));
        assert_eq!(store.get(b"put-then-deleted")?, None);
        assert_eq!(store.get(b"deleted-then-put")?, Some(Bytes::from("back")));
        assert_eq!(store.get_meta(b"meta-twice")?, Some(Bytes::from("second")));
        assert_eq!(store.applied_index()?, Some(2));
    }
    // Replaying the journal gives the same answer.
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.get(b"put-twice")?, Some(Bytes::from("second")));
    assert_eq!(store.get(b"put-then-deleted")?, None);
    assert_eq!(store.get(b"deleted-then-put")?, Some(Bytes::from("back")));
    assert_eq!(store.get_meta(b"meta-twice")?, Some(Bytes::from("second")));
    assert_eq!(store.applied_index()?, Some(2));
    Ok(())
}

#[test]
fn a_garbage_version_file_is_a_corruption_error_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    open(dir.path(), SyncMode::Sync)?.close()?;
    let version = dir.path().join("fjall").join("version");

    std::fs::write(&version, b"definitely not a fjall version header")?;
    assert!(matches!(
        open(dir.path(), SyncMode::Sync),
        Err(Error::Corruption(_))
    ));

    std::fs::write(&version, b"FJ")?;
    assert!(matches!(
        open(dir.path(), SyncMode::Sync),
        Err(Error::Corruption(_))
    ));
    Ok(())
}

/// fjall creates a new, empty database where its `version` file is missing, beside the
/// old keyspaces (and finds the old keyspace under the same name at a later open, so a
/// write made meanwhile vanishes). The store refuses to open instead, naming the file.
#[test]
fn a_missing_version_file_or_keyspaces_directory_is_corruption_not_a_new_database() -> TestResult {
    for missing in ["version", "keyspaces"] {
        let dir = tempfile::tempdir()?;
        let store = open(dir.path(), SyncMode::Sync)?;
        put_all(&store, &["a"])?;
        store.close()?;
        let path = dir.path().join("fjall").join(missing);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        match open(dir.path(), SyncMode::Sync) {
            Err(Error::Corruption(message)) => {
                assert!(message.contains(missing), "{message}")
            }
            other => panic!("without fjall/{missing}: expected corruption, got {other:?}"),
        }
    }
    Ok(())
}

/// A closed store whose `data` keyspace has been flushed to table files.
fn store_with_tables(dir: &Path) -> TestResult {
    let store = open(dir, SyncMode::Sync)?;
    put_all(&store, &["a", "b", "c"])?;
    store.with_raw(|raw| raw.data.rotate_memtable_and_wait())?;
    store.close()?;
    Ok(())
}

fn table_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut tables = Vec::new();
    for keyspace in std::fs::read_dir(dir.join("fjall").join("keyspaces"))? {
        let folder = keyspace?.path().join("tables");
        if folder.is_dir() {
            for table in std::fs::read_dir(folder)? {
                tables.push(table?.path());
            }
        }
    }
    Ok(tables)
}

#[test]
fn a_garbage_or_truncated_table_file_is_a_corruption_error_at_open() -> TestResult {
    for damage in ["garbage", "truncated", "bit flip"] {
        let dir = tempfile::tempdir()?;
        store_with_tables(dir.path())?;
        let tables = table_files(dir.path())?;
        assert!(!tables.is_empty());
        for table in tables {
            let mut bytes = std::fs::read(&table)?;
            match damage {
                "garbage" => bytes.fill(0xAB),
                "truncated" => bytes.truncate(bytes.len() / 2),
                _ => {
                    let middle = bytes.len() / 2;
                    if let Some(byte) = bytes.get_mut(middle) {
                        *byte ^= 0xFF;
                    }
                }
            }
            std::fs::write(&table, bytes)?;
        }
        let opened = open(dir.path(), SyncMode::Sync);
        assert!(
            matches!(opened, Err(Error::Corruption(_))),
            "{damage}: {opened:?}"
        );
    }
    Ok(())
}

#[test]
fn an_empty_table_file_is_a_typed_error_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    store_with_tables(dir.path())?;
    for table in table_files(dir.path())? {
        std::fs::write(&table, b"")?;
    }
    // fjall seeks to the trailer of the empty file and the OS answers EINVAL.
    let opened = open(dir.path(), SyncMode::Sync);
    assert!(
        matches!(opened, Err(Error::Corruption(_) | Error::Io(_))),
        "{opened:?}"
    );
    Ok(())
}

#[test]
fn a_torn_journal_loses_whole_commits_and_data_agrees_with_the_index() -> TestResult {
    let live = tempfile::tempdir()?;
    // The store as a kill leaves it: every commit in the journal only (a clean close
    // would flush them to tables).
    let dir = tempfile::tempdir()?;
    let store = open(live.path(), SyncMode::NoSync)?;
    for index in 1..=20u64 {
        let mut batch = WriteBatch::new();
        batch
            .put(format!("k/{index:02}"), vec![b'v'; 100])
            .put(format!("k/{index:02}/twin"), vec![b'w'; 100]);
        store.apply(&batch, Some(index))?;
    }
    copy_dir(live.path(), dir.path())?;
    let journal = dir.path().join("fjall").join("0.jnl");
    let bytes = std::fs::read(&journal)?;
    // The journal file is preallocated; what was written ends at the last non-zero byte.
    let used = bytes
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    assert!(used > 0);

    for cut in [used / 7, used / 3, used / 2, used * 2 / 3, used - 1] {
        let copy = tempfile::tempdir()?;
        copy_dir(dir.path(), copy.path())?;
        let torn = copy.path().join("fjall").join("0.jnl");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&torn)?
            .set_len(cut as u64)?;

        let store = open(copy.path(), SyncMode::NoSync)?;
        let applied = store.applied_index()?.unwrap_or(0);
        assert!(applied < 20, "cut at {cut} of {used} kept everything");
        let expected: Vec<String> = (1..=applied)
            .flat_map(|index| [format!("k/{index:02}"), format!("k/{index:02}/twin")])
            .collect();
        assert_eq!(keys(&store, "k/")?, expected, "cut at {cut} of {used}");
    }
    Ok(())
}

#[test]
fn nosync_commits_are_in_the_os_before_any_sync() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    batch.put("k", "v");
    store.apply(&batch, Some(5))?;

    copy_dir(dir.path(), copy.path())?;
    let reopened = open(copy.path(), SyncMode::NoSync)?;
    assert_eq!(reopened.get(b"k")?, Some(Bytes::from("v")));
    assert_eq!(reopened.applied_index()?, Some(5));
    Ok(())
}

#[test]
fn sync_makes_buffered_commits_survive_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    for index in 1..=3u64 {
        let mut batch = WriteBatch::new();
        batch.put(format!("k{index}"), "v");
        store.apply(&batch, Some(index))?;
    }
    store.sync()?;

    copy_dir(dir.path(), copy.path())?;
    let reopened = open(copy.path(), SyncMode::NoSync)?;
    assert_eq!(keys(&reopened, "k")?, ["k1", "k2", "k3"]);
    assert_eq!(reopened.applied_index()?, Some(3));
    Ok(())
}

#[test]
fn a_checkpoint_with_nothing_new_to_write_still_succeeds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    batch.put("k", "v");
    store.apply(&batch, Some(9))?;
    assert_eq!(store.set_durable_applied_index(9)?, 9);
    store.write(&WriteBatch::new())?;
    let mut batch = WriteBatch::new();
    batch.delete_prefix("nothing/", None);
    store.write(&batch)?;
    assert_eq!(store.get(b"k")?, Some(Bytes::from("v")));
    Ok(())
}

/// The bytes of memtable an open of `dir` rebuilt from the journal.
fn replayed_at_open(dir: &Path) -> engine_api::Result<(u64, FjallStore)> {
    let store = open(dir, SyncMode::NoSync)?;
    let replayed = store.with_raw(|raw| raw.db.write_buffer_size());
    Ok((replayed, store))
}

#[test]
fn a_clean_close_leaves_nothing_for_the_next_open_to_replay() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    for i in 0..2_000 {
        batch.put(format!("k/{i:05}"), vec![9u8; 64]);
    }
    store.apply(&batch, Some(7))?;
    store.close()?;

    let (replayed, store) = replayed_at_open(dir.path())?;
    assert_eq!(
        replayed, 0,
        "the open replayed journal entries into a memtable"
    );
    assert_eq!(store.applied_index()?, Some(7));
    assert_eq!(keys(&store, "k/")?.len(), 2_000);
    Ok(())
}

/// The length of every journal file of the fjall database in `dir`.
fn journal_lengths(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut lengths = Vec::new();
    for entry in std::fs::read_dir(dir.join("fjall"))? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|ext| ext == "jnl") {
            lengths.push(entry.metadata()?.len());
        }
    }
    Ok(lengths)
}

#[test]
fn a_clean_close_leaves_no_journal_entry_for_the_next_open_to_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    put_all(&store, &["a", "b"])?;
    assert!(
        journal_lengths(dir.path())?
            .iter()
            .any(|&length| length > 0)
    );
    store.close()?;

    assert_eq!(journal_lengths(dir.path())?, [0]);
    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(keys(&store, "")?, ["a", "b"]);
    Ok(())
}

#[test]
fn commits_after_an_emptied_journal_win_over_the_tables() -> TestResult {
    let dir = tempfile::tempdir()?;
    let killed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    put_all(&store, &["kept", "overwritten", "deleted"])?;
    store.apply(&WriteBatch::new(), Some(4))?;
    store.close()?;

    // The open takes its next sequence number from the tables alone: a commit after it
    // must still be newer than every table entry, through a kill and through a close.
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    batch.put("overwritten", "new").delete("deleted");
    store.apply(&batch, Some(5))?;
    copy_dir(dir.path(), killed.path())?;
    store.close()?;

    for (dir, how) in [(killed.path(), "a kill"), (dir.path(), "a close")] {
        let store = open(dir, SyncMode::NoSync)?;
        assert_eq!(keys(&store, "")?, ["kept", "overwritten"], "after {how}");
        assert_eq!(
            store.get(b"overwritten")?,
            Some(Bytes::from("new")),
            "after {how}"
        );
        assert_eq!(store.applied_index()?, Some(5), "after {how}");
    }
    Ok(())
}

#[test]
fn an_open_after_a_kill_replays_what_no_close_flushed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let killed = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    put_all(&store, &["flushed"])?;
    store.close()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut batch = WriteBatch::new();
    batch.put("journal only", "x");
    store.apply(&batch, Some(3))?;

    copy_dir(dir.path(), killed.path())?;
    let (replayed, after_kill) = replayed_at_open(killed.path())?;
    assert!(replayed > 0, "the commit after the close was not replayed");
    assert_eq!(keys(&after_kill, "")?, ["flushed", "journal only"]);
    assert_eq!(after_kill.applied_index()?, Some(3));
    Ok(())
}

/// A store whose `data` keyspace holds `count` keys of 100-byte values in table files,
/// closed.
fn closed_store_of(dir: &Path, count: u32) -> TestResult {
    let store = open(dir, SyncMode::NoSync)?;
    for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
        let mut batch = WriteBatch::new();
        for i in chunk {
            batch.put(format!("k/{i:08}"), i.to_le_bytes().repeat(25));
        }
        store.write(&batch)?;
    }
    store.close()?;
    Ok(())
}

/// The bytes of block index and filter an open of `dir` holds in memory for the `data`
/// keyspace, and its number of tables.
fn pinned_at_open(dir: &Path) -> engine_api::Result<(usize, usize)> {
    use fjall::AbstractTree;
    let store = open(dir, SyncMode::NoSync)?;
    let pinned = store.with_raw(|raw| {
        let tree = &raw.data.tree;
        (
            tree.pinned_block_index_size() + tree.pinned_filter_size(),
            tree.table_count(),
        )
    });
    store.close()?;
    Ok(pinned)
}

#[test]
fn an_open_holds_a_top_level_index_per_table_not_the_whole_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    // About 12 MB of data in one table. Its whole block index and filter are about
    // 290 KB; its top-level index and filter index, under 1 KB.
    closed_store_of(dir.path(), 100_000)?;

    let (pinned, tables) = pinned_at_open(dir.path())?;
    assert!(tables >= 1, "the data is in no table");
    assert!(
        pinned <= 1024 * tables,
        "the open holds {pinned} bytes of index and filter for {tables} table(s)"
    );
    Ok(())
}

#[test]
fn a_store_created_with_fjalls_default_layout_keeps_it_until_a_restore() -> TestResult {
    use fjall::{KeyspaceCreateOptions, config::PartitioningPolicy};
    let dir = tempfile::tempdir()?;
    open(dir.path(), SyncMode::Sync)?.close()?;
    // Recreate the (empty) `data` keyspace as fjall creates it by default.
    {
        let db = fjall::Database::builder(dir.path().join("fjall")).open()?;
        db.delete_keyspace(db.keyspace("data", KeyspaceCreateOptions::default)?)?;
        db.keyspace("data", KeyspaceCreateOptions::default)?;
    }

    let store = open(dir.path(), SyncMode::Sync)?;
    put_all(&store, &["a", "b"])?;
    store.close()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    assert_eq!(keys(&store, "")?, ["a", "b"]);
    let partitioning = |store: &FjallStore| {
        store.with_raw(|raw| raw.data.config.index_block_partitioning_policy.clone())
    };
    assert_eq!(
        partitioning(&store),
        KeyspaceCreateOptions::default().index_block_partitioning_policy
    );
    assert_ne!(partitioning(&store), PartitioningPolicy::all(true));

    // A restore builds a new database, which gets fsmstore's layout.
    let mut snapshot = Vec::new();
    store.export(&mut snapshot)?;
    store.restore(&mut snapshot.as_slice())?;
    assert_eq!(keys(&store, "")?, ["a", "b"]);
    assert_eq!(partitioning(&store), PartitioningPolicy::all(true));
    store.close()?;
    let store = open(dir.path(), SyncMode::Sync)?;
    assert_eq!(partitioning(&store), PartitioningPolicy::all(true));
    assert_eq!(keys(&store, "")?, ["a", "b"]);
    Ok(())
}

/// `count` bytes that no compressor shrinks (xorshift), different for every `seed`.
fn incompressible(seed: u64, count: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(count + 8);
    while bytes.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(count);
    bytes
}

/// Seals the data keyspace's memtable and waits until fjall has flushed it to a table.
fn flush_data(store: &FjallStore) -> TestResult {
    store.with_raw(|raw| raw.data.rotate_memtable_and_wait())?;
    Ok(())
}

/// A history past fjall's journal rotation: more than 64 MB of puts (fjall seals the
/// active journal at the next flush), then deletes of every key, flushed, and a major
/// compaction into the last level that drops the tombstones with the values they
/// deleted, which lowers the keyspace's persisted sequence number below the sealed
/// journal's, so fjall keeps that journal. A clean close must not empty the active
/// journal then: it holds the tombstones, and the next open replays the sealed journal's
/// puts. Deleted keys must stay deleted, and the data must agree with the index.
#[test]
fn a_clean_close_after_a_journal_rotation_keeps_deleted_keys_deleted() -> TestResult {
    const CHUNKS: u64 = 36;
    const VALUES_PER_CHUNK: u64 = 32;
    const VALUE_LEN: usize = 64 * 1024;
    let dir = tempfile::tempdir()?;
    let store = open(dir.path(), SyncMode::NoSync)?;
    let mut index = 0;
    for chunk in 0..CHUNKS {
        let mut batch = WriteBatch::new();
        for i in 0..VALUES_PER_CHUNK {
            batch.put(
                format!("k/{chunk:03}/{i:03}"),
                incompressible(chunk * VALUES_PER_CHUNK + i, VALUE_LEN),
            );
        }
        index += 1;
        store.apply(&batch, Some(index))?;
        if chunk % 9 == 8 {
            flush_data(&store)?;
        }
    }
    flush_data(&store)?;
    let journals = journal_lengths(dir.path())?;
    println!(
        "journals after {} MB of puts: {journals:?}",
        (CHUNKS * VALUES_PER_CHUNK * VALUE_LEN as u64) >> 20
    );
    assert!(
        journals.len() >= 2,
        "the history never rotated fjall's journal: {journals:?}"
    );
    let mut batch = WriteBatch::new();
    batch.delete_prefix("k/", None);
    index += 1;
    store.apply(&batch, Some(index))?;
    flush_data(&store)?;
    store.with_raw(|raw| raw.data.major_compact())?;
    assert_eq!(
        store.with_raw(|raw| raw.data.table_count()),
        0,
        "the compaction kept a table: the tombstones were not dropped"
    );
    let journals = journal_lengths(dir.path())?;
    assert!(
        journals.len() >= 2,
        "fjall dropped the sealed journal, so the hazard is gone: {journals:?}"
    );
    store.close()?;
    println!(
        "journals after the close: {:?}",
        journal_lengths(dir.path())?
    );

    let store = open(dir.path(), SyncMode::NoSync)?;
    assert_eq!(store.applied_index()?, Some(index));
    assert_eq!(keys(&store, "k/")?.len(), 0, "deleted keys came back");
    Ok(())
}

/// fjall's reader cuts a journal at the first entry it cannot read, in Sync mode too,
/// and opens at an earlier commit without an error. A cut below a checkpoint (20) is
/// what the marker's pin turns into `RolledBack`, instead of a store that silently
/// lost commits acknowledged as durable.
#[test]
fn a_journal_cut_below_a_checkpoint_is_refused_as_a_rollback() -> TestResult {
    let live = tempfile::tempdir()?;
    let dir = tempfile::tempdir()?;
    let store = open(live.path(), SyncMode::Sync)?;
    for index in 1..=20u64 {
        let mut batch = WriteBatch::new();
        batch.put(format!("k/{index:02}"), vec![b'v'; 100]);
        store.apply(&batch, Some(index))?;
    }
    assert_eq!(store.set_durable_applied_index(20)?, 20);
    // The store as a kill leaves it: every commit in the journal only.
    copy_dir(live.path(), dir.path())?;
    let journal = dir.path().join("fjall").join("0.jnl");
    let used = std::fs::read(&journal)?
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)?
        .set_len(used as u64 / 2)?;

    match open(dir.path(), SyncMode::Sync) {
        Err(Error::RolledBack {
            recovered, pinned, ..
        }) => {
            assert_eq!(pinned, 20);
            assert!(recovered < Some(20), "recovered {recovered:?}");
        }
        other => panic!("expected RolledBack, got {other:?}"),
    }
    Ok(())
}
