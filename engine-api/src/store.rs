//! `Store`: the shared applied-index logic over any [`RawEngine`].

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index};
use crate::batch::{Commit, MAX_KEY_LEN, WriteBatch};
use crate::config::Config;
use crate::engine::{ApplyOutcome, Engine};
use crate::error::{Error, Result};
use crate::marker::claim_dir;
use crate::raw::{Durability, RawEngine};
use crate::sync_mode::{SYNC_MODE_ENV, SyncMode};

/// The applied index as the store knows it, guarded by the apply lock.
#[derive(Debug, Default)]
struct IndexState {
    /// The applied index on disk (committed, maybe not yet durable). Cached so that
    /// `apply` compares without a read.
    applied: Option<u64>,
    /// The highest applied index known to be durable; `None` when unknown.
    durable: Option<u64>,
}

/// A state-machine store over the engine `R`: implements [`Engine`].
///
/// All engine-independent behaviour lives here, once: the apply lock, the cached applied
/// index, exactly-once apply, the monotonic forced-sync pin, durable `write`, the
/// environment override of the sync mode, directory ownership, and sync on close.
pub struct Store<R: RawEngine> {
    raw: Option<R>,
    sync_mode: SyncMode,
    index: Mutex<IndexState>,
}

impl<R: RawEngine> Store<R> {
    /// Opens the store in `dir`, creating it (and the directory, whose parent must
    /// exist) when missing.
    ///
    /// The sync mode is `config.sync_mode` unless `FSMSTORE_SYNC_MODE` overrides it; an
    /// invalid override is [`Error::Config`] and nothing is created. A directory of
    /// another engine, or a non-empty directory without a marker, is
    /// [`Error::BackendMismatch`].
    pub fn open(dir: impl AsRef<Path>, config: &Config) -> Result<Self> {
        let dir = dir.as_ref();
        let sync_mode =
            SyncMode::resolve(config.sync_mode, std::env::var_os(SYNC_MODE_ENV).as_deref())?;
        claim_dir(dir, R::NAME, sync_mode)?;
        let config = config.clone().with_sync_mode(sync_mode);
        let raw = R::open(dir, &config)?;
        let applied = decode_applied_index(raw.get_meta(APPLIED_INDEX_KEY)?.as_deref());
        Ok(Self {
            raw: Some(raw),
            sync_mode,
            index: Mutex::new(IndexState {
                applied,
                durable: None,
            }),
        })
    }

    /// The backend, for engine-specific tools. Writing through it bypasses the cached
    /// applied index; prefer [`Engine::write`].
    pub fn raw(&self) -> &R {
        self.raw
            .as_ref()
            .unwrap_or_else(|| unreachable!("the backend is only taken by close or drop"))
    }

    /// Makes every commit durable and closes the store, reporting a failure that `Drop`
    /// could only log.
    pub fn close(mut self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<()> {
        match self.raw.take() {
            Some(raw) => raw.sync(),
            None => Ok(()),
        }
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
        if let Err(error) = self.raw().commit(&Commit::new(batch, index), durability) {
            // An engine may fail after the commit became visible (e.g. the fsync after
            // the write): re-read what is really there, and trust no durability.
            if let Ok(applied) = self.read_applied_index() {
                state.applied = applied;
            }
            state.durable = None;
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

    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> Result<ApplyOutcome> {
        let summary = batch.validate()?;
        if index == Some(0) {
            return Err(Error::invalid_argument(
                "raft index 0 is not a valid applied index",
            ));
        }
        let mut state = self.lock();
        if let (Some(index), Some(applied)) = (index, state.applied)
            && index <= applied
        {
            return Ok(ApplyOutcome::Skipped { applied });
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
        Ok(ApplyOutcome::Applied { index })
    }

    fn write(&self, batch: &WriteBatch) -> Result<()> {
        let summary = batch.validate()?;
        let mut state = self.lock();
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
        if index == 0 {
            return Err(Error::invalid_argument(
                "raft index 0 is not a valid applied index",
            ));
        }
        let mut state = self.lock();
        match (state.applied, state.durable) {
            (_, Some(durable)) if durable >= index => Ok(durable),
            (Some(applied), _) if applied >= index => {
                self.raw().sync()?;
                state.durable = Some(applied);
                Ok(applied)
            }
            _ => {
                self.commit_locked(
                    &mut state,
                    &WriteBatch::new(),
                    Some(index),
                    Durability::Durable,
                    false,
                )?;
                Ok(index)
            }
        }
    }

    fn sync(&self) -> Result<()> {
        let mut state = self.lock();
        self.raw().sync()?;
        state.durable = state.applied;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if !storable(key) {
            return Ok(None);
        }
        self.raw().get(key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        if !storable(name) {
            return Ok(None);
        }
        self.raw().get_meta(name)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        if prefix.len() > MAX_KEY_LEN {
            return Ok(Vec::new());
        }
        self.raw().scan_prefix(prefix)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Store::close(*self)
    }
}

/// Whether a key of this length can be stored at all. Other keys cannot exist, so reads
/// answer without asking an engine that may not accept them.
fn storable(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN
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
