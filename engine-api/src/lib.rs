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
//! | ordered range reads, several reads at one point in time | [`RangeQuery`], [`Engine::scan`], [`Engine::range`], [`Engine::view`], [`View`] |
//! | range deletes | [`WriteBatch::delete_range`], [`WriteBatch::delete_prefix`] |
//! | shared apply / pin / skip logic | [`Store`] |
//! | many groups in one store, one fsync per round of their commits | [`GroupStore`], [`Groups`], [`GroupRaw`] |
//! | what a backend supplies | [`RawEngine`] |
//! | the applied-index encoding | [`APPLIED_INDEX_KEY`], [`decode_applied_index`] |
//! | sync mode and its env override | [`SyncMode`], [`SYNC_MODE_ENV`] |
//! | checkpoint before snapshot save | [`checkpoint_then`] |
//! | cold-start restore gate | [`decide_restore`] |
//! | directory ownership, one process per store | [`claim_dir`], [`MARKER_FILE`], [`LOCK_FILE`] |
//! | async callers (feature `async`) | `AsyncEngine` |
//! | counters and histograms (feature `metrics`), tracing spans of the slow paths | `describe_metrics`, the README's Metrics section |
//! | portable snapshots | [`Engine::export`], [`Engine::restore`], [`SnapshotReader`] |
//! | the whole-store check | [`Engine::verify_deep`], [`DeepCheck`], [`RawEngine::check_engine`] |
//!
//! # Range reads: a visitor over one view
//!
//! [`Engine::scan`] hands each entry of a range to a visitor,
//! `FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>>` ([`ScanVisitor`]), while the backend
//! holds one read transaction or snapshot for the whole scan; it does not return an
//! iterator. On redb and LMDB an iterator borrows its read transaction, so an iterator
//! that owned its view would be a self-referential struct (`unsafe`, or a crate that
//! hides it), and one that re-opened a view for every page would no longer read one
//! point in time. A visitor gives one consistent view per scan on every engine without
//! either, and keeps [`Engine`] object safe (the visitor is a `dyn FnMut`). Entries are
//! borrowed from the engine, so memory is what the visitor keeps, whatever the range's
//! size; [`ControlFlow::Break`](std::ops::ControlFlow::Break) stops the walk at once,
//! so stopping early reads nothing more. [`Engine::range`] collects into a `Vec` for
//! callers that bound the range or set a limit, and [`Engine::view`] gives several reads
//! (`get`, `get_meta`, ranges) one point in time. Each backend has one range walk
//! ([`ReadView::scan`]), which range reads, `scan_prefix`, views and export all use.
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
mod deep_check;
mod engine;
mod error;
mod fsync;
mod generation;
mod groups;
mod home;
mod keys;
mod lock;
mod marker;
mod metrics;
mod observe;
mod range;
mod raw;
mod restore_gate;
mod snapshot;
mod store;
mod sync_mode;

#[cfg(feature = "metrics")]
pub use crate::metrics::describe_metrics;
pub use applied_index::{APPLIED_INDEX_KEY, decode_applied_index, encode_applied_index};
#[cfg(feature = "async")]
pub use async_engine::AsyncEngine;
pub use batch::{Commit, MAX_KEY_LEN, MAX_VALUE_LEN, Op, OpRef, WriteBatch};
pub use bytes::Bytes;
pub use checkpoint::{CheckpointError, checkpoint_then};
pub use config::{Config, DEFAULT_LMDB_MAP_SIZE};
pub use deep_check::{DeepCheck, check_view};
pub use engine::{ApplyOutcome, Engine, View};
pub use error::{Error, Result};
pub use fsync::{create_dir_all_durably, sync_dir, sync_parent, sync_tree};
pub use groups::{
    CommitStats, GROUP_KEY_PREFIX_LEN, GROUP_MAX_KEY_LEN, GroupInfo, GroupRaw, GroupStore, Groups,
};
pub use keys::{deleted_by_prefix, prefix_successor};
pub use lock::LOCK_FILE;
pub use marker::{
    Layout, MARKER_FILE, Marker, STORE_FORMAT_VERSION, check_dir, claim_dir, read_marker,
};
pub use range::{DeletedRanges, Direction, KeyRange, RangeQuery, ScanVisitor, visit_each};
pub use raw::{Durability, RawEngine, ReadView, Recovery};
pub use restore_gate::{FallbackReason, RestoreDecision, decide_restore};
pub use snapshot::{
    Namespace, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC, SnapshotHeader, SnapshotReader,
    SnapshotRecord, SnapshotWriter, verify_snapshot,
};
pub use store::Store;
pub use sync_mode::{SYNC_MODE_ENV, SyncMode};
