//! fsmstore: one storage API for a raft state machine over RocksDB, fjall, LMDB and redb.
//!
//! Pick engines with cargo features; program against [`Engine`]:
//!
//! ```
//! use fsmstore::{Config, Engine, SyncMode, WriteBatch, decide_restore};
//!
//! # fn main() -> fsmstore::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let store = fsmstore::open_default(dir.path(), &Config::new(SyncMode::NoSync))?;
//! let mut batch = WriteBatch::new();
//! batch.put("user/1", "alice");
//! store.apply(&batch, Some(42))?;                  // data + applied index, one commit
//! store.set_durable_applied_index(42)?;            // checkpoint: forced sync
//! assert!(!decide_restore(&store, 40).must_restore()); // already past the snapshot
//! # Ok(()) }
//! ```
//!
//! | feature | engine | crate |
//! |---|---|---|
//! | `redb` (default) | redb | `fsmstore-redb` |
//! | `fjall` | fjall | `fsmstore-fjall` |
//! | `heed` | LMDB (through heed) | `fsmstore-heed` |
//! | `memory` | in-memory reference engine | `fsmstore-memory` |
//! | `rocksdb` | RocksDB (needs libclang to build) | `fsmstore-rocksdb` |
//!
//! Feature `async` adds `AsyncEngine`; feature `metrics` records counters and
//! histograms through the `metrics` facade (the README's Metrics section lists them).
//!
//! [`DefaultEngine`] is the store type of the first compiled-in engine in the order
//! redb, fjall, heed, memory; [`open`] picks any compiled-in engine at run time by [`Backend`].
//!
//! The crate root is the API a state machine uses: [`Engine`] (applies, the checkpoint,
//! point and range reads, views, snapshots), [`WriteBatch`], [`RangeQuery`], [`Config`]
//! and [`SyncMode`], [`Backend`] and [`open`], snapshots, the restore gate, the
//! checkpoint helper, [`read_marker`] (which engine a directory holds) and the errors.
//! What only an engine backend needs (the primitives a backend implements, the shared
//! `Store`, directory ownership, key-range helpers) is in [`backend`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

#[cfg(feature = "async")]
pub use engine_api::AsyncEngine;
#[cfg(feature = "metrics")]
pub use engine_api::describe_metrics;
pub use engine_api::{
    APPLIED_INDEX_KEY, ApplyOutcome, Bytes, CheckpointError, CommitStats, Config,
    DEFAULT_LMDB_MAP_SIZE, DeepCheck, Direction, Engine, Error, FallbackReason, GROUP_MAX_KEY_LEN,
    GroupInfo, GroupStore, Layout, MAX_KEY_LEN, MAX_VALUE_LEN, Marker, Namespace, Op, RangeQuery,
    RestoreDecision, Result, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, SYNC_MODE_ENV, ScanVisitor,
    SnapshotHeader, SnapshotReader, SnapshotRecord, SnapshotWriter, SyncMode, View, WriteBatch,
    checkpoint_then, create_dir_all_durably, decide_restore, read_marker, verify_snapshot,
};

/// What an engine backend needs and a state machine does not: the primitives a backend
/// implements ([`RawEngine`](backend::RawEngine), [`ReadView`](backend::ReadView)), what
/// it is handed ([`Commit`](backend::Commit), [`OpRef`](backend::OpRef),
/// [`KeyRange`](backend::KeyRange)), the shared [`Store`](backend::Store) every backend
/// is wrapped in, directory ownership, locking and fsync helpers, and key-range helpers.
pub mod backend {
    pub use engine_api::{
        Commit, DeletedRanges, Durability, GROUP_KEY_PREFIX_LEN, GroupRaw, Groups, KeyRange,
        LOCK_FILE, MARKER_FILE, OpRef, RawEngine, ReadView, Recovery, STORE_FORMAT_VERSION, Store,
        check_dir, check_view, claim_dir, decode_applied_index, deleted_by_prefix,
        encode_applied_index, prefix_successor, sync_dir, sync_parent, sync_tree, visit_each,
    };
}

// The backend crates' associated consts are read through it.
#[allow(unused_imports)]
use engine_api::RawEngine as _;

#[cfg(feature = "fjall")]
pub use fsmstore_fjall as fjall;
#[cfg(feature = "heed")]
pub use fsmstore_heed as heed;
#[cfg(feature = "memory")]
pub use fsmstore_memory as memory;
#[cfg(feature = "redb")]
pub use fsmstore_redb as redb;
#[cfg(feature = "rocksdb")]
pub use fsmstore_rocksdb as rocksdb;

/// The store type of the default engine (the first compiled in of redb, fjall, heed, memory).
#[cfg(feature = "redb")]
pub type DefaultEngine = fsmstore_redb::RedbStore;
/// The store type of the default engine (the first compiled in of redb, fjall, heed, memory).
#[cfg(all(feature = "fjall", not(feature = "redb")))]
pub type DefaultEngine = fsmstore_fjall::FjallStore;
/// The store type of the default engine (the first compiled in of redb, fjall, heed, memory).
#[cfg(all(feature = "heed", not(any(feature = "redb", feature = "fjall"))))]
pub type DefaultEngine = fsmstore_heed::HeedStore;
/// The store type of the default engine (the first compiled in of redb, fjall, heed, memory).
#[cfg(all(
    feature = "memory",
    not(any(feature = "redb", feature = "fjall", feature = "heed"))
))]
pub type DefaultEngine = fsmstore_memory::MemoryStore;

/// The [`Backend`] of [`DefaultEngine`].
#[cfg(feature = "redb")]
pub const DEFAULT_BACKEND: Backend = Backend::Redb;
/// The [`Backend`] of [`DefaultEngine`].
#[cfg(all(feature = "fjall", not(feature = "redb")))]
pub const DEFAULT_BACKEND: Backend = Backend::Fjall;
/// The [`Backend`] of [`DefaultEngine`].
#[cfg(all(feature = "heed", not(any(feature = "redb", feature = "fjall"))))]
pub const DEFAULT_BACKEND: Backend = Backend::Heed;
/// The [`Backend`] of [`DefaultEngine`].
#[cfg(all(
    feature = "memory",
    not(any(feature = "redb", feature = "fjall", feature = "heed"))
))]
pub const DEFAULT_BACKEND: Backend = Backend::Memory;

/// Opens a store of the [`DefaultEngine`] in `dir`.
#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "memory"
))]
pub fn open_default(dir: impl AsRef<Path>, config: &Config) -> Result<DefaultEngine> {
    DefaultEngine::open(dir, config)
}

/// An engine fsmstore knows, compiled in or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The in-memory reference engine (feature `memory`).
    Memory,
    /// redb (feature `redb`).
    Redb,
    /// fjall (feature `fjall`).
    Fjall,
    /// LMDB through heed (feature `heed`; also parsed from `lmdb`).
    Heed,
    /// RocksDB (feature `rocksdb`).
    RocksDb,
}

impl Backend {
    /// Every engine fsmstore knows, compiled in or not.
    pub const ALL: &'static [Backend] = &[
        Backend::Memory,
        Backend::Redb,
        Backend::Fjall,
        Backend::Heed,
        Backend::RocksDb,
    ];

    /// The engine's name, as written in directory markers: the backend crate's
    /// `RawEngine::NAME` when the engine is compiled in.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "memory")]
            Backend::Memory => fsmstore_memory::MemoryEngine::NAME,
            #[cfg(feature = "redb")]
            Backend::Redb => fsmstore_redb::RedbEngine::NAME,
            #[cfg(feature = "fjall")]
            Backend::Fjall => fsmstore_fjall::FjallEngine::NAME,
            #[cfg(feature = "heed")]
            Backend::Heed => fsmstore_heed::HeedEngine::NAME,
            #[cfg(feature = "rocksdb")]
            Backend::RocksDb => fsmstore_rocksdb::RocksDbEngine::NAME,
            #[allow(unreachable_patterns)]
            other => other.marker_name(),
        }
    }

    /// The name an engine writes in its markers, known without compiling it in (to
    /// parse names and to say which feature is missing).
    fn marker_name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redb => "redb",
            Backend::Fjall => "fjall",
            Backend::Heed => "heed",
            Backend::RocksDb => "rocksdb",
        }
    }

    /// The cargo feature of this crate that compiles the engine in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether the engine is compiled into this build.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Memory => cfg!(feature = "memory"),
            Backend::Redb => cfg!(feature = "redb"),
            Backend::Fjall => cfg!(feature = "fjall"),
            Backend::Heed => cfg!(feature = "heed"),
            Backend::RocksDb => cfg!(feature = "rocksdb"),
        }
    }

    /// The engines compiled into this build.
    pub fn compiled() -> Vec<Backend> {
        Self::ALL
            .iter()
            .copied()
            .filter(|backend| backend.is_compiled())
            .collect()
    }

    /// Whether the engine keeps data across processes (the backend crate's
    /// `RawEngine::IS_DURABLE`), or `None` when it is not compiled in.
    pub fn is_durable(self) -> Option<bool> {
        self.facts().map(|facts| facts.durable)
    }

    /// Whether a NoSync apply that returned survives a kill -9 of the process (not a
    /// power loss): the "after kill -9" column of the fsync table, as the backend crate
    /// states it (`RawEngine::KEEPS_NOSYNC_APPLIES_AFTER_A_KILL`). `None` when the engine
    /// is not compiled in.
    pub fn keeps_nosync_applies_after_a_kill(self) -> Option<bool> {
        self.facts()
            .map(|facts| facts.keeps_nosync_applies_after_a_kill)
    }

    /// Whether a read-only open leaves the store's files as it found them, the
    /// engine's lock files' contents aside (the backend crate's
    /// `RawEngine::READ_ONLY_OPEN_WRITES_NOTHING`). `None` when the engine is not
    /// compiled in.
    pub fn read_only_open_writes_nothing(self) -> Option<bool> {
        self.facts()
            .map(|facts| facts.read_only_open_writes_nothing)
    }

    /// The files, relative to the engine's directory, that the engine `fcntl`-locks
    /// while it is open (the backend crate's `RawEngine::LOCK_FILES`). `None` when the
    /// engine is not compiled in.
    pub fn lock_files(self) -> Option<&'static [&'static str]> {
        self.facts().map(|facts| facts.lock_files)
    }

    fn facts(self) -> Option<Facts> {
        match self {
            #[cfg(feature = "memory")]
            Backend::Memory => Some(Facts::of::<fsmstore_memory::MemoryEngine>()),
            #[cfg(feature = "redb")]
            Backend::Redb => Some(Facts::of::<fsmstore_redb::RedbEngine>()),
            #[cfg(feature = "fjall")]
            Backend::Fjall => Some(Facts::of::<fsmstore_fjall::FjallEngine>()),
            #[cfg(feature = "heed")]
            Backend::Heed => Some(Facts::of::<fsmstore_heed::HeedEngine>()),
            #[cfg(feature = "rocksdb")]
            Backend::RocksDb => Some(Facts::of::<fsmstore_rocksdb::RocksDbEngine>()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// What a backend crate states about its engine.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Facts {
    durable: bool,
    keeps_nosync_applies_after_a_kill: bool,
    read_only_open_writes_nothing: bool,
    lock_files: &'static [&'static str],
}

impl Facts {
    #[allow(dead_code)]
    fn of<R: engine_api::RawEngine>() -> Self {
        Self {
            durable: R::IS_DURABLE,
            keeps_nosync_applies_after_a_kill: R::KEEPS_NOSYNC_APPLIES_AFTER_A_KILL,
            read_only_open_writes_nothing: R::READ_ONLY_OPEN_WRITES_NOTHING,
            lock_files: R::LOCK_FILES,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses an engine name, case-insensitive: `memory`, `redb`, `fjall`, `heed` (or
    /// `lmdb`) and `rocksdb`.
    fn from_str(name: &str) -> Result<Self> {
        let lowered = name.trim().to_ascii_lowercase();
        if lowered == "lmdb" {
            return Ok(Backend::Heed);
        }
        Backend::ALL
            .iter()
            .copied()
            .find(|backend| backend.marker_name() == lowered)
            .ok_or_else(|| {
                let known: Vec<_> = Backend::ALL.iter().map(|backend| backend.name()).collect();
                Error::Config(format!(
                    "unknown engine {name:?}; known engines: {}",
                    known.join(", ")
                ))
            })
    }
}

/// Opens a store of `backend` in `dir`, for programs that pick the engine at run time.
///
/// An engine that is not compiled in is [`Error::NotCompiled`], naming the feature.
pub fn open(backend: Backend, dir: impl AsRef<Path>, config: &Config) -> Result<Box<dyn Engine>> {
    let dir = dir.as_ref();
    match backend {
        #[cfg(feature = "memory")]
        Backend::Memory => Ok(Box::new(fsmstore_memory::MemoryStore::open(dir, config)?)),
        #[cfg(feature = "redb")]
        Backend::Redb => Ok(Box::new(fsmstore_redb::RedbStore::open(dir, config)?)),
        #[cfg(feature = "fjall")]
        Backend::Fjall => Ok(Box::new(fsmstore_fjall::FjallStore::open(dir, config)?)),
        #[cfg(feature = "heed")]
        Backend::Heed => Ok(Box::new(fsmstore_heed::HeedStore::open(dir, config)?)),
        #[cfg(feature = "rocksdb")]
        Backend::RocksDb => Ok(Box::new(fsmstore_rocksdb::RocksDbStore::open(dir, config)?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = (dir, config);
            Err(Error::NotCompiled {
                engine: other.name().to_owned(),
                feature: other.feature().to_owned(),
            })
        }
    }
}

/// Opens a groups store of `backend` in `dir`: many groups, each an [`Engine`], in one
/// engine, whose concurrent commits share one fsync (see [`GroupStore`]).
///
/// An engine that is not compiled in is [`Error::NotCompiled`]; a store of one group in
/// `dir` is [`Error::LayoutMismatch`].
pub fn open_groups(
    backend: Backend,
    dir: impl AsRef<Path>,
    config: &Config,
) -> Result<Box<dyn GroupStore>> {
    #[allow(unused_imports)]
    use engine_api::Groups;
    let dir = dir.as_ref();
    match backend {
        #[cfg(feature = "memory")]
        Backend::Memory => Ok(Box::new(Groups::<fsmstore_memory::MemoryEngine>::open(
            dir, config,
        )?)),
        #[cfg(feature = "redb")]
        Backend::Redb => Ok(Box::new(Groups::<fsmstore_redb::RedbEngine>::open(
            dir, config,
        )?)),
        #[cfg(feature = "fjall")]
        Backend::Fjall => Ok(Box::new(Groups::<fsmstore_fjall::FjallEngine>::open(
            dir, config,
        )?)),
        #[cfg(feature = "heed")]
        Backend::Heed => Ok(Box::new(Groups::<fsmstore_heed::HeedEngine>::open(
            dir, config,
        )?)),
        #[cfg(feature = "rocksdb")]
        Backend::RocksDb => Ok(Box::new(Groups::<fsmstore_rocksdb::RocksDbEngine>::open(
            dir, config,
        )?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = (dir, config);
            Err(Error::NotCompiled {
                engine: other.name().to_owned(),
                feature: other.feature().to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_parse_case_insensitively_and_lmdb_means_heed() {
        assert_eq!("REDB".parse::<Backend>().ok(), Some(Backend::Redb));
        assert_eq!(" fjall ".parse::<Backend>().ok(), Some(Backend::Fjall));
        assert_eq!("lmdb".parse::<Backend>().ok(), Some(Backend::Heed));
        assert_eq!("heed".parse::<Backend>().ok(), Some(Backend::Heed));
        assert_eq!("memory".parse::<Backend>().ok(), Some(Backend::Memory));
        for backend in Backend::ALL {
            assert_eq!(backend.to_string().parse::<Backend>().ok(), Some(*backend));
        }
    }

    #[test]
    fn compiled_engines_are_named_as_their_crates_name_them() {
        for backend in Backend::ALL.iter().copied() {
            assert_eq!(backend.name(), backend.marker_name());
            assert_eq!(backend.is_durable().is_some(), backend.is_compiled());
        }
        #[cfg(feature = "memory")]
        assert_eq!(Backend::Memory.is_durable(), Some(false));
        #[cfg(feature = "redb")]
        assert_eq!(
            Backend::Redb.keeps_nosync_applies_after_a_kill(),
            Some(false)
        );
        #[cfg(feature = "heed")]
        assert_eq!(
            Backend::Heed.keeps_nosync_applies_after_a_kill(),
            Some(true)
        );
    }

    #[test]
    fn an_unknown_engine_name_is_a_config_error_listing_the_known_ones() {
        match "sqlite".parse::<Backend>() {
            Err(Error::Config(message)) => assert!(message.contains("redb"), "{message}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn opening_an_engine_that_is_not_compiled_names_its_feature() {
        for backend in Backend::ALL.iter().copied() {
            let dir = tempfile::tempdir().expect("temp dir");
            let result = open(backend, dir.path().join("store"), &Config::default());
            match (backend.is_compiled(), result) {
                (true, Ok(store)) => assert_eq!(store.engine_name(), backend.name()),
                (false, Err(Error::NotCompiled { engine, feature })) => {
                    assert_eq!(engine, backend.name());
                    assert_eq!(feature, backend.feature());
                    assert!(!dir.path().join("store").exists());
                }
                (compiled, other) => {
                    panic!(
                        "{backend} (compiled: {compiled}) opened as {:?}",
                        other.err()
                    )
                }
            }
        }
    }

    #[cfg(any(
        feature = "redb",
        feature = "fjall",
        feature = "heed",
        feature = "memory"
    ))]
    #[test]
    fn the_default_engine_is_compiled() {
        assert!(Backend::compiled().contains(&DEFAULT_BACKEND));
    }
}
