//! Store configuration.

use crate::sync_mode::SyncMode;

/// Default LMDB map size: 1 GiB. The map grows automatically when full.
pub const DEFAULT_LMDB_MAP_SIZE: usize = 1 << 30;

/// How to open a store.
///
/// ```
/// use engine_api::{Config, SyncMode};
/// let config = Config::new(SyncMode::NoSync);
/// assert_eq!(config.sync_mode, SyncMode::NoSync);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Whether `apply` fsyncs. The `FSMSTORE_SYNC_MODE` environment variable overrides it
    /// at open (see [`SyncMode::resolve`]).
    pub sync_mode: SyncMode,
    /// Initial LMDB map size in bytes (other engines ignore it). The map grows when a
    /// commit does not fit, so this is a starting point, not a limit.
    pub lmdb_map_size: usize,
    /// Open for reading only: the store takes a shared lock instead of an exclusive one
    /// (readers in several processes exclude a writer, not each other; within one
    /// process a store has one handle at a time), creates nothing, cleans up nothing,
    /// and refuses every write with [`Error::ReadOnly`](crate::Error::ReadOnly). A
    /// directory that is not already a complete store of this engine is an error.
    pub read_only: bool,
}

impl Config {
    /// A configuration with the given sync mode and defaults for everything else.
    pub fn new(sync_mode: SyncMode) -> Self {
        Self {
            sync_mode,
            lmdb_map_size: DEFAULT_LMDB_MAP_SIZE,
            read_only: false,
        }
    }

    /// Sets the sync mode.
    pub fn with_sync_mode(mut self, sync_mode: SyncMode) -> Self {
        self.sync_mode = sync_mode;
        self
    }

    /// Opens the store for reading only (see the field [`read_only`](Config#structfield.read_only)).
    pub fn with_read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Sets the initial LMDB map size in bytes.
    pub fn with_lmdb_map_size(mut self, bytes: usize) -> Self {
        self.lmdb_map_size = bytes;
        self
    }
}

impl Default for Config {
    /// [`SyncMode::Sync`] and default engine options.
    fn default() -> Self {
        Self::new(SyncMode::Sync)
    }
}
