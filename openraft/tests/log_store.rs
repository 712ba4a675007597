//! The log store beyond openraft's suite: the format it records and refuses, and its
//! writer (appends visible at once and made durable in shared fsyncs, completions in
//! order, threads that end with the last handle).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Log, TypeConfig, engines, log_id, normal, set};
use fsmstore::{Backend, Config, Engine, SyncMode, WriteBatch};
use fsmstore_openraft::{LogFormat, META_LOG_FORMAT, UnknownLogFormat};
use openraft::RaftLogReader;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::TypeConfigExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn durable_engines() -> impl Iterator<Item = Backend> {
    engines().into_iter().filter(|b| *b != Backend::Memory)
}

fn open(backend: Backend, dir: &std::path::Path) -> Arc<dyn Engine> {
    fsmstore::open(backend, dir, &Config::new(SyncMode::NoSync))
        .expect("open")
        .into()
}

fn unknown_format(error: &std::io::Error) -> Option<&UnknownLogFormat> {
    error.get_ref()?.downcast_ref::<UnknownLogFormat>()
}

#[test]
fn a_new_log_store_records_the_current_format_and_keeps_it_across_a_reopen() {
    for backend in durable_engines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::new(open(backend, dir.path())).expect("a new log store");
        assert_eq!(log.format(), LogFormat::CURRENT, "{backend}");
        let recorded = log.engine().get_meta(META_LOG_FORMAT).expect("read");
        assert_eq!(
            recorded.as_deref(),
            Some(&LogFormat::CURRENT.version().to_be_bytes()[..]),
            "{backend}"
        );
        let mut writer = log.clone();
        runtime().block_on(async {
            append(&mut writer, 1..=3).await;
            let entries = writer.try_get_log_entries(1..=3).await.expect("read");
            assert_eq!(entries.len(), 3, "{backend}");
        });
        drop((log, writer));
        let log = Log::new(open(backend, dir.path())).expect("reopen");
        assert_eq!(log.format(), LogFormat::CURRENT, "{backend}");
    }
}

/// A store written before the format was recorded (JSON, no version) is read and
/// written in JSON.
#[test]
fn a_store_without_a_recorded_format_is_json_and_stays_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(Backend::Redb, dir.path());
    let mut batch = WriteBatch::new();
    for index in 1..=2u64 {
        batch.put(
            index.to_be_bytes().to_vec(),
            serde_json::to_vec(&entry(index)).expect("json"),
        );
    }
    batch.put_meta(
        "openraft_last_log",
        serde_json::to_vec(&log_id(1, 2)).expect("json"),
    );
    engine.write(&batch).expect("write a JSON log");

    let mut log = Log::new(engine.clone()).expect("open the JSON log");
    assert_eq!(log.format(), LogFormat::Json);
    runtime().block_on(async {
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(log_id(1, 2)));
        append(&mut log, 3..=3).await;
        let entries = log.try_get_log_entries(1..=3).await.expect("read");
        assert_eq!(entries, (1..=3).map(entry).collect::<Vec<_>>());
    });
    let stored = engine
        .get(&3u64.to_be_bytes())
        .expect("get")
        .expect("entry 3");
    let decoded: common::Entry = serde_json::from_slice(&stored).expect("entry 3 is JSON");
    assert_eq!(decoded, entry(3));
    assert_eq!(engine.get_meta(META_LOG_FORMAT).expect("get"), None);
}

#[test]
fn a_format_this_build_does_not_know_is_refused_and_the_store_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(Backend::Fjall, dir.path());
    for (recorded, expected) in [
        (99u32.to_be_bytes().to_vec(), UnknownLogFormat::Version(99)),
        (0u32.to_be_bytes().to_vec(), UnknownLogFormat::Version(0)),
        (vec![2, 0], UnknownLogFormat::Unreadable(vec![2, 0])),
    ] {
        let mut batch = WriteBatch::new();
        batch.put_meta(META_LOG_FORMAT, recorded.clone());
        batch.put(1u64.to_be_bytes().to_vec(), "an entry of that format");
        engine.write(&batch).expect("write");
        let error = Log::new(engine.clone()).err().expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(unknown_format(&error), Some(&expected), "{error}");
        assert_eq!(
            engine.get_meta(META_LOG_FORMAT).expect("get").as_deref(),
            Some(&recorded[..])
        );
        assert_eq!(
            engine.get(&1u64.to_be_bytes()).expect("get").as_deref(),
            Some(&b"an entry of that format"[..])
        );
    }
}

#[test]
fn a_store_with_data_but_no_log_is_not_a_log_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(Backend::Heed, dir.path());
    let mut batch = WriteBatch::new();
    batch.put("user-key", "a state machine's data");
    engine.apply(&batch, Some(7)).expect("apply");
    let error = Log::new(engine.clone()).err().expect("refused");
    assert_eq!(
        unknown_format(&error),
        Some(&UnknownLogFormat::NotALogStore),
        "{error}"
    );
    assert_eq!(engine.get_meta(META_LOG_FORMAT).expect("get"), None);
}

fn entry(index: u64) -> common::Entry {
    normal(index, set("k", &index.to_string()))
}

/// Appends one entry per index, each in its own append call, awaiting each call but not
/// its callback; then waits for every callback, which must all succeed, in order.
async fn append(log: &mut Log, indexes: std::ops::RangeInclusive<u64>) {
    let mut flushed = Vec::new();
    for index in indexes {
        let (tx, rx) = TypeConfig::oneshot();
        log.append([entry(index)], IOFlushed::signal(tx))
            .await
            .expect("append");
        // Visible when append returns, whether or not its fsync ran.
        let read = log
            .try_get_log_entries(index..=index)
            .await
            .expect("read back");
        assert_eq!(read, vec![entry(index)]);
        flushed.push(rx);
    }
    for rx in flushed {
        rx.await.expect("callback completed").expect("durable");
    }
}

/// A store whose sync takes [`SlowDisk::SYNC`] and that counts what each sync covered:
/// a disk slow enough that the writer's batching is plain to see.
struct SlowDisk {
    inner: Box<dyn Engine>,
    commits: AtomicU64,
    /// Commits that a finished sync covers.
    durable: AtomicU64,
    syncs: AtomicU64,
}

impl SlowDisk {
    const SYNC: Duration = Duration::from_millis(20);

    fn open(dir: &std::path::Path) -> Arc<Self> {
        Arc::new(SlowDisk {
            inner: fsmstore::open(Backend::Memory, dir, &Config::new(SyncMode::NoSync))
                .expect("open"),
            commits: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        })
    }
}

impl Engine for SlowDisk {
    fn get(&self, key: &[u8]) -> fsmstore::Result<Option<fsmstore::Bytes>> {
        self.inner.get(key)
    }
    fn get_meta(&self, name: &[u8]) -> fsmstore::Result<Option<fsmstore::Bytes>> {
        self.inner.get_meta(name)
    }
    fn scan(
        &self,
        query: &fsmstore::RangeQuery,
        visit: &mut fsmstore::ScanVisitor<'_>,
    ) -> fsmstore::Result<()> {
        self.inner.scan(query, visit)
    }
    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }
    fn sync_mode(&self) -> SyncMode {
        self.inner.sync_mode()
    }
    fn apply(
        &self,
        batch: &WriteBatch,
        index: Option<u64>,
    ) -> fsmstore::Result<fsmstore::ApplyOutcome> {
        let outcome = self.inner.apply(batch, index)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(outcome)
    }
    fn write(&self, batch: &WriteBatch) -> fsmstore::Result<()> {
        self.inner.write(batch)
    }
    fn applied_index(&self) -> fsmstore::Result<Option<u64>> {
        self.inner.applied_index()
    }
    fn set_durable_applied_index(&self, index: u64) -> fsmstore::Result<u64> {
        self.inner.set_durable_applied_index(index)
    }
    fn sync(&self) -> fsmstore::Result<()> {
        let covered = self.commits.load(Ordering::SeqCst);
        std::thread::sleep(Self::SYNC);
        self.inner.sync()?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.durable.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }
    fn view(
        &self,
        read: &mut dyn FnMut(&dyn fsmstore::View) -> fsmstore::Result<()>,
    ) -> fsmstore::Result<()> {
        self.inner.view(read)
    }
    fn export(&self, out: &mut dyn std::io::Write) -> fsmstore::Result<fsmstore::SnapshotHeader> {
        self.inner.export(out)
    }
    fn restore(&self, input: &mut dyn std::io::Read) -> fsmstore::Result<fsmstore::SnapshotHeader> {
        self.inner.restore(input)
    }
    fn verify_deep(&self) -> fsmstore::Result<fsmstore::DeepCheck> {
        self.inner.verify_deep()
    }
    fn close(self: Box<Self>) -> fsmstore::Result<()> {
        self.inner.close()
    }
}

/// Appends return before their fsync, so every append made while one fsync runs rides
/// the next: on a disk whose sync takes 20 ms, 60 appends take a handful of syncs; and
/// no callback says an append is durable before a sync that covers it has finished.
#[test]
fn appends_made_during_an_fsync_share_the_next_one_and_complete_after_it() {
    const APPENDS: u64 = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SlowDisk::open(dir.path());
    let mut log = Log::new(disk.clone() as Arc<dyn Engine>).expect("log store");
    // The format record is committed before the writer starts.
    let before = disk.commits.load(Ordering::SeqCst);
    runtime().block_on(async {
        let mut flushed = Vec::new();
        for index in 1..=APPENDS {
            let (tx, rx) = TypeConfig::oneshot();
            log.append([entry(index)], IOFlushed::signal(tx))
                .await
                .expect("append");
            flushed.push((index, rx));
        }
        for (index, rx) in flushed {
            rx.await.expect("callback completed").expect("durable");
            let durable = disk.durable.load(Ordering::SeqCst).saturating_sub(before);
            assert!(
                durable >= index,
                "append {index} was reported durable when syncs covered {durable} commits"
            );
        }
    });
    let stats = log.writer_stats();
    println!(
        "{stats:?}; the disk synced {} times",
        disk.syncs.load(Ordering::SeqCst)
    );
    assert_eq!(stats.commits, APPENDS);
    assert_eq!(stats.durable, APPENDS);
    assert_eq!(stats.syncs, disk.syncs.load(Ordering::SeqCst));
    assert!(
        stats.syncs <= APPENDS / 10,
        "the appends did not share syncs: {stats:?}"
    );
    drop(log);
    assert_eq!(
        Arc::strong_count(&disk),
        1,
        "the writer's threads still hold the store after the last handle went"
    );
}

/// The committed log id needs no sync of its own: saved right before an append, it
/// rides the append's sync (a sync started for it at once would hold the append's
/// commit back on engines whose sync holds back commits); saved alone, it is synced
/// all the same.
#[test]
fn a_saved_committed_log_id_rides_the_next_appends_sync_and_is_synced_when_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SlowDisk::open(dir.path());
    let mut log = Log::new(disk.clone() as Arc<dyn Engine>).expect("log store");
    runtime().block_on(async {
        log.save_committed(Some(log_id(1, 1))).await.expect("save");
        let (tx, rx) = TypeConfig::oneshot();
        log.append([entry(1)], IOFlushed::signal(tx))
            .await
            .expect("append");
        rx.await.expect("callback completed").expect("durable");
    });
    let stats = log.writer_stats();
    assert_eq!((stats.commits, stats.durable), (2, 2), "{stats:?}");
    assert_eq!(
        stats.syncs, 1,
        "the committed log id took a sync of its own: {stats:?}"
    );

    runtime().block_on(async {
        log.save_committed(Some(log_id(1, 2))).await.expect("save");
    });
    for _ in 0..200 {
        if log.writer_stats().durable == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = log.writer_stats();
    assert_eq!(
        (stats.commits, stats.durable, stats.syncs),
        (3, 3, 2),
        "{stats:?}"
    );
}
