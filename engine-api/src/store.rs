//! `Store`: the shared applied-index logic over any [`RawEngine`].

use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::{ControlFlow, Deref};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use bytes::Bytes;

use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index};
use crate::batch::{Commit, WriteBatch};
use crate::config::Config;
use crate::deep_check::{DeepCheck, check_view};
use crate::engine::{ApplyOutcome, Engine, View};
use crate::error::{Error, Result};
use crate::home::{DirHome, Home, SwitchFailed};
use crate::marker::Layout;
use crate::metrics::{self, SyncTrigger};
use crate::observe::{self, SnapshotTransfer};
use crate::range::{Direction, KeyRange, RangeQuery, ScanVisitor};
use crate::raw::{Durability, RawEngine, ReadView};
use crate::snapshot::{
    Namespace, SNAPSHOT_FORMAT_VERSION, SnapshotHeader, SnapshotReader, SnapshotWriter,
};
use crate::sync_mode::{SYNC_MODE_ENV, SyncMode};

/// A restore commits the snapshot to the new generation in chunks of about this many
/// bytes (keys plus values), or [`RESTORE_CHUNK_OPS`] records, whichever comes first:
/// memory stays bounded whatever the snapshot's size.
const RESTORE_CHUNK_BYTES: usize = 8 << 20;
const RESTORE_CHUNK_OPS: usize = 16 * 1024;

/// What the apply lock guards: the applied index as the store knows it, and whether the
/// store stopped.
#[derive(Debug)]
struct IndexState {
    /// The applied index on disk (committed, maybe not yet durable). Cached so that
    /// `apply` compares without a read.
    applied: Option<u64>,
    /// The highest applied index known to be durable; `None` when unknown.
    durable: Option<u64>,
    /// Why the store stopped accepting writes: a durable commit or a sync failed (see
    /// [`Error::Stopped`]). `None` while it is healthy.
    stopped: Option<String>,
}

/// A state-machine store over the engine `R`: implements [`Engine`].
///
/// All engine-independent behaviour lives here, once: the apply lock, the cached applied
/// index, exactly-once apply, the monotonic forced-sync pin, durable `write`, the
/// environment override of the sync mode, directory ownership, snapshot export and
/// atomic restore (through engine generations), and sync on close.
pub struct Store<R: RawEngine> {
    /// The backend; replaced by a restore, taken by close or drop.
    raw: RwLock<Option<R>>,
    /// Where the store lives: its directory, marker and lock, or its group.
    home: Box<dyn Home<R>>,
    /// The configuration the backend was opened with (sync mode resolved).
    config: Config,
    sync_mode: SyncMode,
    index: Mutex<IndexState>,
}

/// Read access to the live backend.
struct RawGuard<'a, R>(RwLockReadGuard<'a, Option<R>>);

impl<R> Deref for RawGuard<'_, R> {
    type Target = R;

    fn deref(&self) -> &R {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("the backend is only taken by close or drop"))
    }
}

impl<R: RawEngine> Store<R> {
    /// Opens the store in `dir`, creating it (and the directory, whose parent must
    /// exist) when missing.
    ///
    /// The sync mode is `config.sync_mode` unless `FSMSTORE_SYNC_MODE` overrides it; an
    /// invalid override is [`Error::Config`] and nothing is created. A directory of
    /// another engine, or a non-empty directory without a marker, is
    /// [`Error::BackendMismatch`]. A store another handle holds, in this process or any
    /// other, is [`Error::Locked`]. A marked store whose engine files are missing is
    /// [`Error::Corruption`], never a new empty store.
    ///
    /// A new store is durable when `open` returns: its engine files, its directory and
    /// the directory's entry in its parent are fsynced before the marker says the store
    /// is complete. A creation interrupted by a crash leaves an incomplete marker, and
    /// the next open starts it over.
    ///
    /// With [`Config::read_only`] nothing is created or removed, a shared lock lets
    /// readers in other processes in but no writer, and every write is
    /// [`Error::ReadOnly`]. Within one process a store has one handle at a time, read-only
    /// ones included: a second is [`Error::Locked`] (redb, fjall and LMDB cannot open one
    /// database twice in a process).
    ///
    /// The marker records, outside the engine, the highest pinned index and whether a
    /// session since the last clean close ran NoSync. The engine recovers accordingly
    /// ([`RawEngine::open_recovering`]), and an engine that recovered below the pinned
    /// index is [`Error::RolledBack`], never served.
    pub fn open(dir: impl AsRef<Path>, config: &Config) -> Result<Self> {
        let dir = dir.as_ref();
        let _span = observe::open(R::NAME, dir);
        let sync_mode =
            SyncMode::resolve(config.sync_mode, std::env::var_os(SYNC_MODE_ENV).as_deref())?;
        let config = config.clone().with_sync_mode(sync_mode);
        let (raw, home) = DirHome::open::<R>(dir, &config, Layout::Single)?;
        Self::with_home(config, raw, Box::new(home))
    }

    /// A store over `raw` that lives in `home`; `config`'s sync mode is resolved.
    pub(crate) fn with_home(config: Config, raw: R, home: Box<dyn Home<R>>) -> Result<Self> {
        let applied = decode_applied_index(raw.get_meta(APPLIED_INDEX_KEY)?.as_deref());
        observe::opened(applied);
        Ok(Self {
            raw: RwLock::new(Some(raw)),
            home,
            sync_mode: config.sync_mode,
            config,
            index: Mutex::new(IndexState {
                applied,
                durable: None,
                stopped: None,
            }),
        })
    }

    /// Runs `f` on the backend, for engine-specific tools. Writing through it bypasses
    /// the cached applied index; prefer [`Engine::write`].
    pub fn with_raw<T>(&self, f: impl FnOnce(&R) -> T) -> T {
        f(&self.raw())
    }

    /// Makes every commit durable and closes the store, reporting a failure that `Drop`
    /// could only log.
    ///
    /// `Drop` runs the same close, which may take a while: fjall's waits for its
    /// memtables to reach tables (up to a minute). In an async runtime, close or drop
    /// the last handle on a blocking thread (as `AsyncEngine` does for its calls), not
    /// on a worker.
    pub fn close(mut self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<()> {
        let raw = self
            .raw
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let _span = raw
            .is_some()
            .then(|| observe::close(R::NAME, self.home.path()));
        let stopped = self
            .index
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .stopped
            .take();
        match (raw, stopped) {
            (Some(_), _) if self.config.read_only => Ok(()),
            // A sync now could vouch for pages the failed one lost.
            (Some(_), Some(reason)) => Err(Error::Stopped(reason)),
            (Some(raw), None) => self.home.close(raw),
            (None, _) => Ok(()),
        }
    }

    /// Refuses a write on a read-only or stopped store.
    fn writable(&self, state: &IndexState) -> Result<()> {
        if self.config.read_only {
            return Err(Error::ReadOnly(self.home.path().to_owned()));
        }
        match &state.stopped {
            Some(reason) => Err(Error::Stopped(reason.clone())),
            None => Ok(()),
        }
    }

    /// Records a failed durable operation: from now on the store refuses writes.
    fn stop(state: &mut IndexState, error: &Error) {
        if !matches!(error, Error::InvalidArgument(_)) && state.stopped.is_none() {
            tracing::error!(engine = R::NAME, %error, "a durable write failed; the store stops accepting writes until it is reopened");
            state.stopped = Some(error.to_string());
        }
    }

    /// Makes every commit durable, stopping the store if that fails.
    fn sync_locked(&self, state: &mut IndexState) -> Result<()> {
        if let Err(error) = self.raw().sync() {
            Self::stop(state, &error);
            return Err(error);
        }
        state.durable = state.applied;
        Ok(())
    }

    fn raw(&self) -> RawGuard<'_, R> {
        // A panic while the lock was held cannot leave the slot half-written: it holds
        // one backend or none.
        RawGuard(self.raw.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn lock(&self) -> MutexGuard<'_, IndexState> {
        // The guarded state is two numbers updated only after a successful commit, so a
        // panic elsewhere cannot leave it half-written.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_applied_index(&self) -> Result<Option<u64>> {
        Ok(decode_applied_index(
            self.raw().get_meta(APPLIED_INDEX_KEY)?.as_deref(),
        ))
    }

    /// Commits under the apply lock and keeps the cached index true afterwards.
    fn commit_locked(
        &self,
        state: &mut IndexState,
        batch: &WriteBatch,
        index: Option<u64>,
        durability: Durability,
        touches_applied_index: bool,
    ) -> Result<()> {
        if durability == Durability::Buffered {
            self.home.before_unsynced_commit()?;
        }
        if let Err(error) = self.raw().commit(&Commit::new(batch, index), durability) {
            // An engine may fail after the commit became visible (e.g. the fsync after
            // the write): re-read what is really there, and trust no durability. The
            // opposite happens too: fjall writes a batch to its journal before its
            // memtables, so a durable commit whose fsync failed is invisible now and
            // may come back at the next open from the journal. Both are why a failed
            // durable commit stops the store: only a reopen knows what is on disk.
            if let Ok(applied) = self.read_applied_index() {
                state.applied = applied;
            }
            state.durable = None;
            if durability == Durability::Durable {
                Self::stop(state, &error);
            }
            return Err(error);
        }
        match index {
            Some(index) => state.applied = Some(index),
            None if touches_applied_index => state.applied = self.read_applied_index()?,
            None => {}
        }
        if durability == Durability::Durable {
            state.durable = state.applied;
        }
        metrics::committed(R::NAME, durability);
        Ok(())
    }
}

impl<R: RawEngine> Engine for Store<R> {
    fn engine_name(&self) -> &'static str {
        R::NAME
    }

    fn sync_mode(&self) -> SyncMode {
        self.sync_mode
    }

    fn max_key_len(&self) -> usize {
        R::MAX_KEY_LEN
    }

    fn dir(&self) -> Option<&std::path::Path> {
        Some(self.home.path())
    }

    fn close_shared(self: std::sync::Arc<Self>) -> Result<()> {
        match std::sync::Arc::try_unwrap(self) {
            Ok(store) => Engine::close(Box::new(store)),
            Err(shared) => Err(Error::StillShared {
                others: std::sync::Arc::strong_count(&shared) - 1,
            }),
        }
    }

    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> Result<ApplyOutcome> {
        let started = metrics::Started::now();
        let summary = batch.validate_within(R::MAX_KEY_LEN)?;
        if index == Some(0) {
            return Err(Error::invalid_argument(
                "raft index 0 is not a valid applied index",
            ));
        }
        let mut state = self.lock();
        self.writable(&state)?;
        if let (Some(index), Some(applied)) = (index, state.applied)
            && index <= applied
        {
            return Ok(metrics::applied(
                R::NAME,
                started,
                ApplyOutcome::Skipped { applied },
            ));
        }
        let durability = match self.sync_mode {
            SyncMode::Sync => Durability::Durable,
            SyncMode::NoSync => Durability::Buffered,
        };
        self.commit_locked(
            &mut state,
            batch,
            index,
            durability,
            summary.touches_applied_index,
        )?;
        Ok(metrics::applied(
            R::NAME,
            started,
            ApplyOutcome::Applied { index },
        ))
    }

    fn write(&self, batch: &WriteBatch) -> Result<()> {
        let summary = batch.validate_within(R::MAX_KEY_LEN)?;
        let mut state = self.lock();
        self.writable(&state)?;
        self.commit_locked(
            &mut state,
            batch,
            None,
            Durability::Durable,
            summary.touches_applied_index,
        )
    }

    fn applied_index(&self) -> Result<Option<u64>> {
        self.read_applied_index()
    }

    fn set_durable_applied_index(&self, index: u64) -> Result<u64> {
        let started = metrics::Started::now();
        if index == 0 {
            return Err(Error::invalid_argument(
                "raft index 0 is not a valid applied index",
            ));
        }
        let mut state = self.lock();
        self.writable(&state)?;
        let pinned = match (state.applied, state.durable) {
            (_, Some(durable)) if durable >= index => {
                // Durable already (a Sync apply, or an earlier pin): only the marker
                // may lag behind it.
                self.home.record_pin(durable);
                durable
            }
            (Some(applied), _) if applied >= index => {
                let _span = observe::checkpoint(R::NAME, self.home.path(), index);
                self.sync_locked(&mut state)?;
                metrics::synced(R::NAME, SyncTrigger::Checkpoint);
                self.home.record_pin(applied);
                applied
            }
            (applied, _) => {
                // Pinning an index the store has not reached would make every later
                // apply up to it a skip: entries that were never applied.
                return Err(Error::invalid_argument(format!(
                    "cannot pin index {index}: the store has applied only up to {applied:?}"
                )));
            }
        };
        metrics::checkpointed(R::NAME, started);
        Ok(pinned)
    }

    fn sync(&self) -> Result<()> {
        let mut state = self.lock();
        self.writable(&state)?;
        self.sync_locked(&mut state)
            .inspect(|()| metrics::synced(R::NAME, SyncTrigger::Sync))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if !storable(key, R::MAX_KEY_LEN) {
            return Ok(None);
        }
        self.raw().get(key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        if !storable(name, R::MAX_KEY_LEN) {
            return Ok(None);
        }
        self.raw().get_meta(name)
    }

    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()> {
        let Some(range) = query.key_range() else {
            return Ok(());
        };
        if query.max_entries() == Some(0) {
            return Ok(());
        }
        self.raw()
            .with_view(&mut |view| scan_view(view, &range, query, &mut *visit))
    }

    fn view(&self, read: &mut dyn FnMut(&dyn View) -> Result<()>) -> Result<()> {
        self.raw().with_view(&mut |view| {
            read(&StoreView {
                view,
                max_key_len: R::MAX_KEY_LEN,
            })
        })
    }

    fn export(&self, out: &mut dyn Write) -> Result<SnapshotHeader> {
        let transfer = SnapshotTransfer::export(R::NAME, self.home.path());
        let mut out = transfer.counted(out);
        let header = self
            .raw()
            .with_view(&mut |view| export_view(view, &mut out))?;
        transfer.finished(&header);
        Ok(header)
    }

    fn restore(&self, input: &mut dyn Read) -> Result<SnapshotHeader> {
        let transfer = SnapshotTransfer::restore(R::NAME, self.home.path());
        let mut state = self.lock();
        self.writable(&state)?;
        // A stream that is not a snapshot at all fails before anything is created.
        let reader =
            SnapshotReader::new(transfer.counted(BufReader::with_capacity(1 << 16, input)))?;
        let (raw, next) = self.home.stage(&self.config)?;
        let loaded = load_snapshot(&raw, reader, R::MAX_KEY_LEN).and_then(|header| {
            self.home.seal(next)?;
            Ok(header)
        });
        let header = match loaded {
            Ok(header) => header,
            Err(error) => {
                drop(raw);
                self.home.discard(next);
                return Err(error);
            }
        };
        if let Err(SwitchFailed { error, switched }) = self.home.switch(next, header.applied_index)
        {
            // Either way the store's durable state is unknown: stop.
            Self::stop(&mut state, &error);
            if switched {
                self.swap_in(&mut state, raw, header);
            } else {
                drop(raw);
                self.home.discard(next);
            }
            return Err(error);
        }
        self.swap_in(&mut state, raw, header);
        self.home.remove_others(next);
        transfer.finished(&header);
        Ok(header)
    }

    fn verify_deep(&self) -> Result<DeepCheck> {
        {
            // The engine's checker gets the backend to itself: no apply, pin or restore
            // (the apply lock) and no read (the backend's write lock) runs meanwhile.
            let mut state = self.lock();
            let mut slot = self.raw.write().unwrap_or_else(PoisonError::into_inner);
            let raw = slot
                .as_mut()
                .unwrap_or_else(|| unreachable!("the backend is only taken by close or drop"));
            let checked = raw.check_engine();
            drop(slot);
            if checked.is_err() {
                // A checker that found damage may have repaired it to an earlier state:
                // trust nothing cached about the index.
                state.applied = self.read_applied_index().unwrap_or(None);
                state.durable = None;
            }
            checked?;
        }
        // The walk reads one view, so applies may go on while it runs.
        self.raw().with_view(&mut |view| check_view(view))
    }

    fn close(self: Box<Self>) -> Result<()> {
        Store::close(*self)
    }
}

impl<R: RawEngine> Store<R> {
    /// Makes a restored generation the live one (its home already switched to it).
    fn swap_in(&self, state: &mut IndexState, raw: R, header: SnapshotHeader) {
        let replaced = self
            .raw
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(raw);
        // The replaced generation is garbage now: close it without a sync.
        drop(replaced);
        state.applied = header.applied_index;
        state.durable = header.applied_index;
    }
}

/// A backend's read view behind the checks every read gets.
struct StoreView<'a> {
    view: &'a dyn ReadView,
    max_key_len: usize,
}

impl View for StoreView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if !storable(key, self.max_key_len) {
            return Ok(None);
        }
        self.view.get(Namespace::Data, key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        if !storable(name, self.max_key_len) {
            return Ok(None);
        }
        self.view.get(Namespace::Meta, name)
    }

    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()> {
        match query.key_range() {
            Some(range) => scan_view(self.view, &range, query, visit),
            None => Ok(()),
        }
    }
}

/// One range read of the data namespace through `view`, with the query's limit.
fn scan_view(
    view: &dyn ReadView,
    range: &KeyRange,
    query: &RangeQuery,
    visit: &mut ScanVisitor<'_>,
) -> Result<()> {
    let direction = query.direction();
    match query.max_entries() {
        None => view.scan(Namespace::Data, range, direction, visit),
        Some(0) => Ok(()),
        Some(limit) => {
            let mut left = limit;
            view.scan(Namespace::Data, range, direction, &mut |key, value| {
                let flow = visit(key, value)?;
                left -= 1;
                Ok(if left == 0 {
                    ControlFlow::Break(())
                } else {
                    flow
                })
            })
        }
    }
}

/// What [`walk`] calls with each entry.
type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// Calls `visit` with every entry of `namespace`, ascending.
fn walk(view: &dyn ReadView, namespace: Namespace, visit: &mut EntryVisitor<'_>) -> Result<()> {
    view.scan(
        namespace,
        &KeyRange::full(),
        Direction::Forward,
        &mut |key, value| {
            visit(key, value)?;
            Ok(ControlFlow::Continue(()))
        },
    )
}

/// Writes one read view as a snapshot stream: a counting pass for the header, then the
/// records.
fn export_view(view: &dyn ReadView, out: &mut dyn Write) -> Result<SnapshotHeader> {
    let mut data_records = 0;
    walk(view, Namespace::Data, &mut |_, _| {
        data_records += 1;
        Ok(())
    })?;
    let (mut meta_records, mut applied_index) = (0, None);
    walk(view, Namespace::Meta, &mut |name, value| {
        meta_records += 1;
        if name == APPLIED_INDEX_KEY {
            applied_index = decode_applied_index(Some(value));
        }
        Ok(())
    })?;
    let header = SnapshotHeader {
        format_version: SNAPSHOT_FORMAT_VERSION,
        applied_index,
        data_records,
        meta_records,
    };
    let mut writer = SnapshotWriter::new(BufWriter::with_capacity(1 << 16, out), header)?;
    for namespace in [Namespace::Data, Namespace::Meta] {
        walk(view, namespace, &mut |key, value| {
            writer.record(namespace, key, value)
        })?;
    }
    writer.finish()?;
    Ok(header)
}

/// Commits a snapshot stream into `raw` (a fresh generation) in bounded chunks, checks
/// the whole stream, and makes it durable. On error the generation is discarded, so a
/// chunk committed before a bad CRC is never seen.
fn load_snapshot<R: RawEngine>(
    raw: &R,
    mut reader: SnapshotReader<impl Read>,
    max_key_len: usize,
) -> Result<SnapshotHeader> {
    let mut batch = WriteBatch::new();
    let mut bytes = 0;
    while let Some(record) = reader.next_record()? {
        if record.key.len() > max_key_len {
            return Err(Error::invalid_argument(format!(
                "the snapshot holds a key of {} bytes; this store accepts at most {max_key_len}",
                record.key.len()
            )));
        }
        bytes += record.key.len() + record.value.len();
        match record.namespace {
            Namespace::Data => batch.put(record.key, record.value),
            Namespace::Meta => batch.put_meta(record.key, record.value),
        };
        if bytes >= RESTORE_CHUNK_BYTES || batch.len() >= RESTORE_CHUNK_OPS {
            raw.commit(&Commit::new(&batch, None), Durability::Buffered)?;
            batch.clear();
            bytes = 0;
        }
    }
    let header = reader.finish()?;
    if !batch.is_empty() {
        raw.commit(&Commit::new(&batch, None), Durability::Buffered)?;
    }
    raw.sync()?;
    Ok(header)
}

/// Whether a key of this length can be stored at all. Other keys cannot exist, so reads
/// answer without asking an engine that may not accept them.
fn storable(key: &[u8], max_key_len: usize) -> bool {
    !key.is_empty() && key.len() <= max_key_len
}

impl<R: RawEngine> Drop for Store<R> {
    fn drop(&mut self) {
        if let Err(error) = self.shut_down() {
            tracing::error!(engine = R::NAME, %error, "sync on drop failed; NoSync commits may be lost");
        }
    }
}

impl<R: RawEngine> std::fmt::Debug for Store<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &R::NAME)
            .field("sync_mode", &self.sync_mode)
            .finish_non_exhaustive()
    }
}
