//! `RaftLogStorage` and `RaftLogReader` on an fsmstore store of their own.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use fsmstore::{Backend, Config, Engine, RangeQuery, SyncMode, WriteBatch};
use openraft::alias::{LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::LogFormat;
use crate::io_error;
use crate::log_writer::{LogWriter, LogWriterStats, OnDurable};

/// The meta key of the vote.
const META_VOTE: &[u8] = b"openraft_vote";
/// The meta key of the last purged log id.
const META_LAST_PURGED: &[u8] = b"openraft_last_purged";
/// The meta key of the last log id (absent when no entry was ever appended).
const META_LAST_LOG: &[u8] = b"openraft_last_log";
/// The meta key of the committed log id.
const META_COMMITTED: &[u8] = b"openraft_committed";

/// The key of the entry at `index`: its big-endian bytes, so keys sort like indexes.
fn entry_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// One past every entry key (a 9-byte key sorts after every 8-byte one with its prefix).
const PAST_LAST_KEY: [u8; 9] = [0xFF; 9];

/// openraft's log on an fsmstore store: entries under big-endian `u64` keys, the vote,
/// the last purged and last log ids and the committed log id in meta, all in the store's
/// [`LogFormat`] (postcard for a new store).
///
/// Every write goes through the store's writer, two threads of its own, so no commit and
/// no fsync runs on an async runtime worker:
///
/// - `append` returns once its entries are committed (readable), and its `IOFlushed`
///   callback is completed by the writer after an fsync that covers them; every append
///   queued while one fsync runs rides the next one.
/// - `save_vote` and `truncate_after` return once their write is durable, awaiting the
///   writer without blocking a worker.
/// - `purge` returns once committed, `save_committed` once queued (both are read back
///   in order); both become durable with the writer's next fsync: with appends flowing
///   they ride the appends' fsyncs and cost none of their own, and on an idle log the
///   writer syncs them on its own 2 ms later (a sync started for them at once would,
///   on engines whose sync holds back commits, hold back the next append).
///
/// Open the store with [`SyncMode::NoSync`] ([`LogStore::open`] does): the writer syncs
/// where raft needs it. The store may be a group of a groups store
/// ([`fsmstore::open_groups`]): the syncs of all its groups' log stores then share
/// fsyncs. Cloning gives another handle on the same store and writer (the log reader);
/// the writer's threads end when the last handle goes, after what is queued.
pub struct LogStore<C> {
    engine: Arc<dyn Engine>,
    format: LogFormat,
    writer: Arc<LogWriter>,
    stats: Arc<Mutex<LogWriterStats>>,
    _config: PhantomData<fn() -> C>,
}

impl<C> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            format: self.format,
            writer: self.writer.clone(),
            stats: self.stats.clone(),
            _config: PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> LogStore<C> {
    /// A log store on `engine`, a store of its own (not the state machine's), and its
    /// writer. A new store gets [`LogFormat::CURRENT`]; a store that records a format
    /// this build does not know, or that holds data but no log, is refused with
    /// [`UnknownLogFormat`](crate::UnknownLogFormat).
    pub fn new(engine: impl Into<Arc<dyn Engine>>) -> io::Result<Self> {
        let engine = engine.into();
        let format = LogFormat::of_store(&*engine)?;
        let stats = Arc::new(Mutex::new(LogWriterStats::default()));
        let writer = Arc::new(LogWriter::start(engine.clone(), stats.clone()));
        Ok(Self {
            engine,
            format,
            writer,
            stats,
            _config: PhantomData,
        })
    }

    /// Opens the store of `backend` in `dir` in [`SyncMode::NoSync`] (whatever
    /// `config` says: this store syncs where the raft protocol needs it) and a log store
    /// on it.
    pub fn open(backend: Backend, dir: impl AsRef<Path>, config: &Config) -> io::Result<Self> {
        let config = config.clone().with_sync_mode(SyncMode::NoSync);
        Self::new(fsmstore::open(backend, dir, &config).map_err(io_error)?)
    }

    /// The store.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// A handle that closes the store once openraft and the writer have let go of it
    /// (see [`Closer`](crate::Closer)).
    pub fn closer(&self) -> crate::Closer {
        crate::Closer::new(self.engine.clone())
    }

    /// The format the store's values are encoded in.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// How many batches the writer committed and made durable, and with how many syncs,
    /// since this log store was made.
    pub fn writer_stats(&self) -> LogWriterStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn meta<T: DeserializeOwned>(&self, name: &[u8]) -> io::Result<Option<T>> {
        self.engine
            .get_meta(name)
            .map_err(io_error)?
            .map(|bytes| self.format.decode(&bytes, &String::from_utf8_lossy(name)))
            .transpose()
    }

    fn encode<T: Serialize>(&self, value: &T) -> io::Result<Vec<u8>> {
        self.format.encode(value)
    }

    /// Commits `batch` through the writer: returns once it is visible.
    async fn commit(&self, batch: WriteBatch, durable: Option<OnDurable>) -> io::Result<()> {
        self.writer
            .submit(Some(batch), durable)
            .await
            .unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Returns once every batch queued before this call is visible.
    async fn barrier(&self) -> io::Result<()> {
        self.writer
            .submit(None, None)
            .await
            .unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Commits `batch` through the writer: returns once it is durable.
    async fn commit_durably(&self, batch: WriteBatch) -> io::Result<()> {
        let (durable, receiver) = tokio::sync::oneshot::channel();
        let on_durable: OnDurable = Box::new(move |result| {
            let _ = durable.send(result);
        });
        self.commit(batch, Some(on_durable)).await?;
        receiver.await.unwrap_or_else(|_| Err(writer_gone()))
    }
}

fn writer_gone() -> io::Error {
    io::Error::other("the log writer ended before it answered")
}

fn bound_key(bound: Bound<&u64>) -> Bound<[u8; 8]> {
    match bound {
        Bound::Included(index) => Bound::Included(entry_key(*index)),
        Bound::Excluded(index) => Bound::Excluded(entry_key(*index)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        let query = RangeQuery::new((bound_key(range.start_bound()), bound_key(range.end_bound())));
        self.engine
            .range(&query)
            .map_err(io_error)?
            .iter()
            .map(|(_, value)| self.format.decode(value, "log entry"))
            .collect()
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.meta(META_VOTE)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
    VoteOf<C>: Serialize + DeserializeOwned,
    LogIdOf<C>: Serialize + DeserializeOwned,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let last_purged_log_id: Option<LogIdOf<C>> = self.meta(META_LAST_PURGED)?;
        let last_log_id: Option<LogIdOf<C>> = self.meta(META_LAST_LOG)?;
        let last_log_id = last_log_id.max(last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    /// Durable before it returns: one fsync, shared with the appends queued beside it.
    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::new();
        batch.put_meta(META_VOTE, self.encode(vote)?);
        self.commit_durably(batch).await
    }

    /// Queued before it returns (a later read of this log store sees it), committed by
    /// the writer in order with every other write and durable with its next fsync,
    /// shared with the appends beside it (on an idle log, one of its own 2 ms later).
    /// openraft calls this once per advance of the commit, before it applies the newly
    /// committed entries, so it does not wait for the writer. openraft re-applies the
    /// log at start-up only up to the committed log id it reads back, and a state
    /// machine in [`SyncMode::NoSync`] may lose applies in a crash: the committed log id
    /// must not stay volatile behind them. A failed commit stops the writer: the next
    /// append, vote or truncation reports it.
    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::new();
        match committed {
            Some(committed) => batch.put_meta(META_COMMITTED, self.encode(&committed)?),
            None => batch.delete_meta(META_COMMITTED),
        };
        // The receiver is dropped: the writer commits the batch all the same.
        drop(self.writer.submit(Some(batch), None));
        Ok(())
    }

    /// Waits until every write queued before it is committed, then reads.
    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.barrier().await?;
        self.meta(META_COMMITTED)
    }

    /// One engine commit for every entry of the call, readable when this returns; the
    /// callback is completed by the writer after an fsync that covers them.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut last = None;
        for entry in entries {
            batch.put(entry_key(entry.index()).to_vec(), self.encode(&entry)?);
            last = Some(entry.log_id());
        }
        let Some(last) = last else {
            callback.io_completed(Ok(()));
            return Ok(());
        };
        batch.put_meta(META_LAST_LOG, self.encode(&last)?);
        let on_durable: OnDurable = Box::new(move |result| callback.io_completed(result));
        self.commit(batch, Some(on_durable)).await
    }

    /// Durable before it returns: a truncated entry must not come back after a crash
    /// once a new entry at its index was accepted.
    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let first_removed = last_log_id.as_ref().map_or(0, |log_id| log_id.index() + 1);
        // Truncating after a log id past the last entry removes nothing.
        let current: Option<LogIdOf<C>> = self.meta(META_LAST_LOG)?;
        let last_log_id = last_log_id.min(current);
        let mut batch = WriteBatch::new();
        batch.delete_range(entry_key(first_removed).to_vec(), PAST_LAST_KEY.to_vec());
        match last_log_id {
            Some(log_id) => batch.put_meta(META_LAST_LOG, self.encode(&log_id)?),
            None => batch.delete_meta(META_LAST_LOG),
        };
        self.commit_durably(batch).await
    }

    /// Committed before it returns, durable with the writer's next fsync: a purge lost in
    /// a crash only leaves more log.
    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let last_log: Option<LogIdOf<C>> = self.meta(META_LAST_LOG)?;
        let mut batch = WriteBatch::new();
        batch.delete_range(Vec::new(), entry_key(log_id.index() + 1).to_vec());
        batch.put_meta(META_LAST_PURGED, self.encode(&log_id)?);
        if last_log.as_ref().is_none_or(|last| last < &log_id) {
            batch.put_meta(META_LAST_LOG, self.encode(&log_id)?);
        }
        self.commit(batch, None).await
    }
}
