//! `RaftLogStorage` and `RaftLogReader` on an fsmstore store of their own.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use fsmstore::{Backend, Config, Engine, RangeQuery, SyncMode, WriteBatch};
use openraft::alias::{LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{decode, encode, io_error};

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

/// openraft's log on an fsmstore store: entries under big-endian `u64` keys (JSON), the
/// vote, the last purged and last log ids and the committed log id in meta.
///
/// Open the store with [`SyncMode::NoSync`] ([`LogStore::open`] does): appends then
/// commit without an fsync and are made durable by one [`Engine::sync`] per `append`
/// call before its callback; the vote and the committed log id are written with
/// [`Engine::write`], durable before `save_vote` and `save_committed` return. Cloning
/// gives another handle on the same store (the log reader).
pub struct LogStore<C> {
    engine: Arc<dyn Engine>,
    _config: PhantomData<fn() -> C>,
}

impl<C> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            _config: PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> LogStore<C> {
    /// A log store on `engine`, a store of its own (not the state machine's).
    pub fn new(engine: impl Into<Arc<dyn Engine>>) -> Self {
        Self {
            engine: engine.into(),
            _config: PhantomData,
        }
    }

    /// Opens the store of `backend` in `dir` in [`SyncMode::NoSync`] (whatever
    /// `config` says: this store syncs where the raft protocol needs it) and a log store
    /// on it.
    pub fn open(backend: Backend, dir: impl AsRef<Path>, config: &Config) -> io::Result<Self> {
        let config = config.clone().with_sync_mode(SyncMode::NoSync);
        Ok(Self::new(
            fsmstore::open(backend, dir, &config).map_err(io_error)?,
        ))
    }

    /// The store.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    fn meta<T: DeserializeOwned>(&self, name: &[u8]) -> io::Result<Option<T>> {
        self.engine
            .get_meta(name)
            .map_err(io_error)?
            .map(|bytes| decode(&bytes, &String::from_utf8_lossy(name)))
            .transpose()
    }
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
            .map(|(_, value)| decode(value, "log entry"))
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

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::new();
        batch.put_meta(META_VOTE, encode(vote)?);
        self.engine.write(&batch).map_err(io_error)
    }

    /// Durable before it returns ([`Engine::write`]). openraft re-applies the log at
    /// start-up only up to the committed log id it reads back, and a state machine in
    /// [`SyncMode::NoSync`] may lose applies in a crash: a committed log id lost with
    /// them would restart the state machine behind entries whose effects clients have
    /// already read. openraft calls this once per advance of the commit, before it
    /// applies the newly committed entries.
    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::new();
        match committed {
            Some(committed) => batch.put_meta(META_COMMITTED, encode(&committed)?),
            None => batch.delete_meta(META_COMMITTED),
        };
        self.engine.write(&batch).map_err(io_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.meta(META_COMMITTED)
    }

    /// One engine commit for every entry of the call (visible on return), then one sync
    /// before the callback.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut last = None;
        for entry in entries {
            batch.put(entry_key(entry.index()).to_vec(), encode(&entry)?);
            last = Some(entry.log_id());
        }
        let Some(last) = last else {
            callback.io_completed(Ok(()));
            return Ok(());
        };
        batch.put_meta(META_LAST_LOG, encode(&last)?);
        self.engine.apply(&batch, None).map_err(io_error)?;
        let synced = self.engine.sync().map_err(io_error);
        let failed = synced
            .as_ref()
            .err()
            .map(|error| io::Error::new(error.kind(), error.to_string()));
        callback.io_completed(synced);
        match failed {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let first_removed = last_log_id.as_ref().map_or(0, |log_id| log_id.index() + 1);
        // Truncating after a log id past the last entry removes nothing.
        let current: Option<LogIdOf<C>> = self.meta(META_LAST_LOG)?;
        let last_log_id = last_log_id.min(current);
        let mut batch = WriteBatch::new();
        batch.delete_range(entry_key(first_removed).to_vec(), PAST_LAST_KEY.to_vec());
        match last_log_id {
            Some(log_id) => batch.put_meta(META_LAST_LOG, encode(&log_id)?),
            None => batch.delete_meta(META_LAST_LOG),
        };
        self.engine.apply(&batch, None).map_err(io_error)?;
        self.engine.sync().map_err(io_error)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let last_log: Option<LogIdOf<C>> = self.meta(META_LAST_LOG)?;
        let mut batch = WriteBatch::new();
        batch.delete_range(Vec::new(), entry_key(log_id.index() + 1).to_vec());
        batch.put_meta(META_LAST_PURGED, encode(&log_id)?);
        if last_log.as_ref().is_none_or(|last| last < &log_id) {
            batch.put_meta(META_LAST_LOG, encode(&log_id)?);
        }
        self.engine
            .apply(&batch, None)
            .map_err(io_error)
            .map(|_| ())
    }
}
