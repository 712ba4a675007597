//! A state machine's state in plain types, for the application and its operators.

use std::io;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fsmstore::Engine;
use openraft::RaftTypeConfig;
use openraft::alias::{LogIdOf, SnapshotMetaOf, StoredMembershipOf};
use serde::de::DeserializeOwned;

use crate::io_error;
use crate::state_machine::{current, stored_state};

/// What a restart of the node would do with the state machine's current snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRestart {
    /// The snapshot directory holds no snapshot.
    NoSnapshot,
    /// The store is at or past the current snapshot: openraft installs nothing, and an
    /// install of that snapshot would restore nothing (it counts as skipped).
    Covered,
    /// The store is behind the current snapshot (a NoSync store that lost applies, or
    /// a snapshot received but not installed): the restart restores it.
    Restore,
}

/// What the snapshot installs of a state machine did, shared with its observers.
#[derive(Default)]
pub(crate) struct InstallCounts {
    /// Snapshots restored into the store (shared with `StateMachine::restore_counter`).
    pub(crate) restores: Arc<AtomicU64>,
    /// Of those, the directory's own current snapshot (openraft's start-up install into
    /// a store behind it), not one received from a leader.
    pub(crate) own: AtomicU64,
    /// Installs that found the store already at the snapshot.
    pub(crate) skipped: AtomicU64,
}

/// Reads a [`StateMachine`](crate::StateMachine)'s state in plain types, without
/// openraft's async traits: made by [`StateMachine::observer`](crate::StateMachine::observer),
/// cheap to clone, and valid after the state machine has moved into a `Raft`. Each call
/// reads the store or the snapshot directory as they are at that moment. Like every
/// handle on the store, an observer keeps it open while it lives.
pub struct Observer<C> {
    engine: Arc<dyn Engine>,
    snapshot_dir: PathBuf,
    counts: Arc<InstallCounts>,
    _config: PhantomData<fn() -> C>,
}

impl<C> Clone for Observer<C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
            counts: self.counts.clone(),
            _config: PhantomData,
        }
    }
}

impl<C> Observer<C>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    pub(crate) fn new(
        engine: Arc<dyn Engine>,
        snapshot_dir: PathBuf,
        counts: Arc<InstallCounts>,
    ) -> Self {
        Self {
            engine,
            snapshot_dir,
            counts,
            _config: PhantomData,
        }
    }

    /// The last log id the store holds the effects of (`None` before the first apply).
    pub fn last_applied(&self) -> io::Result<Option<LogIdOf<C>>> {
        Ok(stored_state::<C>(&*self.engine)?.0)
    }

    /// The last membership the store applied (the default one before any).
    pub fn membership(&self) -> io::Result<StoredMembershipOf<C>> {
        Ok(stored_state::<C>(&*self.engine)?.1)
    }

    /// The store's fsmstore applied index: [`fsmstore_index`](crate::fsmstore_index) of
    /// the last applied log index.
    pub fn applied_index(&self) -> io::Result<Option<u64>> {
        self.engine.applied_index().map_err(io_error)
    }

    /// The meta (last log id and membership) of the current snapshot: the newest
    /// complete one of the snapshot directory.
    pub fn current_snapshot(&self) -> io::Result<Option<SnapshotMetaOf<C>>> {
        Ok(current::<C>(&self.snapshot_dir)?.map(|snapshot| snapshot.meta))
    }

    /// What a restart would do with the current snapshot, judged from the store's last
    /// applied log id.
    pub fn on_restart(&self) -> io::Result<OnRestart> {
        let Some(snapshot) = self.current_snapshot()? else {
            return Ok(OnRestart::NoSnapshot);
        };
        Ok(if self.last_applied()? >= snapshot.last_log_id {
            OnRestart::Covered
        } else {
            OnRestart::Restore
        })
    }

    /// How many snapshots the state machine restored into its store since it was made:
    /// [`restores_at_start`](Self::restores_at_start) plus
    /// [`restores_received`](Self::restores_received).
    pub fn restores(&self) -> u64 {
        self.counts.restores.load(Ordering::Relaxed)
    }

    /// Restores of the snapshot directory's own current snapshot: what openraft installs
    /// at start-up into a store behind it (a NoSync store that lost applies).
    pub fn restores_at_start(&self) -> u64 {
        self.counts.own.load(Ordering::Relaxed)
    }

    /// Restores of snapshots received from a leader.
    pub fn restores_received(&self) -> u64 {
        self.restores().saturating_sub(self.restores_at_start())
    }

    /// How many snapshot installs found the store already at the snapshot and restored
    /// nothing, since the state machine was made.
    pub fn installs_skipped(&self) -> u64 {
        self.counts.skipped.load(Ordering::Relaxed)
    }
}
