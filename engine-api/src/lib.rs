//! The fsmstore engine contract: one storage API for a raft state machine.
//!
//! This crate holds traits, plain types and the engine-independent logic, and depends
//! on no storage engine. A backend crate implements [`RawEngine`] — a handful of engine
//! primitives — and gets the whole [`Engine`] API from [`Store`]:
//!
//! | capability | where |
//! |---|---|
//! | batches over the data and meta namespaces | [`WriteBatch`], [`Commit`] |
//! | the user API | [`Engine`] |
//! | shared apply / pin / skip logic | [`Store`] |
//! | what a backend supplies | [`RawEngine`] |
//! | the applied-index encoding | [`APPLIED_INDEX_KEY`], [`decode_applied_index`] |
//! | sync mode and its env override | [`SyncMode`], [`SYNC_MODE_ENV`] |
//! | checkpoint before snapshot save | [`checkpoint_then`] |
//! | cold-start restore gate | [`decide_restore`] |
//! | directory ownership, one process per store | [`claim_dir`], [`MARKER_FILE`], [`LOCK_FILE`] |
//! | async callers (feature `async`) | `AsyncEngine` |
//! | portable snapshots | [`Engine::export`], [`Engine::restore`], [`SnapshotReader`] |
//!
//! The semantics: every raft apply commits its batch and the applied index in one
//! atomic engine commit; replaying an applied index is a no-op; the checkpoint pins the
//! index with a forced sync even when applies do not fsync; the pin never goes
//! backwards; a missing or damaged index reads as `None`.

mod applied_index;
#[cfg(feature = "async")]
mod async_engine;
mod batch;
mod checkpoint;
mod config;
mod engine;
mod error;
mod fsync;
mod generation;
mod keys;
mod lock;
mod marker;
mod raw;
mod restore_gate;
mod snapshot;
mod store;
mod sync_mode;

pub use applied_index::{APPLIED_INDEX_KEY, decode_applied_index, encode_applied_index};
#[cfg(feature = "async")]
pub use async_engine::AsyncEngine;
pub use batch::{Commit, MAX_KEY_LEN, MAX_VALUE_LEN, Op, OpRef, WriteBatch};
pub use bytes::Bytes;
pub use checkpoint::{CheckpointError, checkpoint_then};
pub use config::{Config, DEFAULT_LMDB_MAP_SIZE};
pub use engine::{ApplyOutcome, Engine};
pub use error::{Error, Result};
pub use fsync::{sync_dir, sync_parent, sync_tree};
pub use keys::{deleted_by_prefix, prefix_successor};
pub use lock::LOCK_FILE;
pub use marker::{MARKER_FILE, Marker, STORE_FORMAT_VERSION, check_dir, claim_dir, read_marker};
pub use raw::{Durability, EntryVisitor, RawEngine, ReadView};
pub use restore_gate::{FallbackReason, RestoreDecision, decide_restore};
pub use snapshot::{
    Namespace, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, SnapshotHeader, SnapshotReader,
    SnapshotRecord, SnapshotWriter, verify_snapshot,
};
pub use store::Store;
pub use sync_mode::{SYNC_MODE_ENV, SyncMode};
