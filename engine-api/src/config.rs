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
}

impl Config {
    /// A configuration with the given sync mode and defaults for everything else.
    pub fn new(sync_mode: SyncMode) -> Self {
        Self {
            sync_mode,
            lmdb_map_size: DEFAULT_LMDB_MAP_SIZE,
        }
    }

    /// Sets the sync mode.
    pub fn with_sync_mode(mut self, sync_mode: SyncMode) -> Self {
        self.sync_mode = sync_mode;
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
