//! Checkpoint-before-save: pin the applied index durably, then persist the snapshot.

use crate::engine::Engine;
use crate::error::Error;

/// Why [`checkpoint_then`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError<E> {
    /// Pinning the applied index failed; the save was never attempted.
    #[error("pinning the applied index failed, snapshot not saved: {0}")]
    Pin(#[source] Error),
    /// The index was pinned, then the save itself failed.
    #[error("snapshot save failed after the applied index was pinned: {0}")]
    Save(#[source] E),
}

/// Pins the applied index at `index` with a forced sync, then runs `save`.
///
/// Call it at every place the raft engine persists a snapshot at `index`. The pin is
/// durable before `save` starts, so there is no moment at which the snapshot pointer is
/// durable at `index` while the applied index is below it. If the pin fails, `save` is
/// never called and the pin's error is returned.
pub fn checkpoint_then<E, T, S, F>(engine: &E, index: u64, save: F) -> Result<T, CheckpointError<S>>
where
    E: Engine + ?Sized,
    F: FnOnce() -> Result<T, S>,
{
    engine
        .set_durable_applied_index(index)
        .map_err(CheckpointError::Pin)?;
    save().map_err(CheckpointError::Save)
}

impl From<CheckpointError<Error>> for Error {
    /// Flattens a checkpoint error whose save also fails with [`Error`], for `?`.
    fn from(error: CheckpointError<Error>) -> Self {
        match error {
            CheckpointError::Pin(error) | CheckpointError::Save(error) => error,
        }
    }
}
