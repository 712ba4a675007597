//! The cold-start restore gate: skip a snapshot restore the store already covers.

use crate::engine::Engine;
use crate::error::Error;

/// Why [`decide_restore`] could not prove a skip safe.
#[derive(Debug)]
pub enum FallbackReason {
    /// No applied index is stored (or it is damaged): nothing vouches for the data.
    MissingMeta,
    /// Reading the applied index failed.
    ReadError(Error),
}

/// What a raft engine should do with the snapshot at hand on cold start.
#[derive(Debug)]
pub enum RestoreDecision {
    /// The store is already at or past the snapshot: do not restore. The raft engine must
    /// then not re-apply entries at or below `applied` ([`Engine::apply`] skips them).
    Skip {
        /// The store's applied index.
        applied: u64,
    },
    /// The store is behind the snapshot: restore it.
    Execute {
        /// The store's applied index, below the snapshot's.
        applied: u64,
    },
    /// In doubt: restore. A wrong skip loses data; a wasted restore only costs time.
    Fallback(FallbackReason),
}

impl RestoreDecision {
    /// Whether the snapshot must be restored (everything but [`RestoreDecision::Skip`]).
    pub fn must_restore(&self) -> bool {
        !matches!(self, RestoreDecision::Skip { .. })
    }

    /// A short label for logs and metrics: `skipped`, `executed` or `fallback`.
    pub fn outcome(&self) -> &'static str {
        match self {
            RestoreDecision::Skip { .. } => "skipped",
            RestoreDecision::Execute { .. } => "executed",
            RestoreDecision::Fallback(_) => "fallback",
        }
    }
}

/// Decides whether the snapshot at `snapshot_index` must be restored into `engine`.
///
/// `Skip` when the stored applied index is at least `snapshot_index`, `Execute` when it
/// is below, `Fallback` when it is missing, damaged or unreadable.
pub fn decide_restore<E: Engine + ?Sized>(engine: &E, snapshot_index: u64) -> RestoreDecision {
    let decision = match engine.applied_index() {
        Ok(Some(applied)) if applied >= snapshot_index => RestoreDecision::Skip { applied },
        Ok(Some(applied)) => RestoreDecision::Execute { applied },
        Ok(None) => RestoreDecision::Fallback(FallbackReason::MissingMeta),
        Err(error) => RestoreDecision::Fallback(FallbackReason::ReadError(error)),
    };
    crate::metrics::cold_start(engine.engine_name(), snapshot_index, &decision);
    decision
}
