//! fsmstore's conformance suite: one set of test bodies, run against every engine.
//!
//! Each public function in the group modules is one test body, written against a
//! [`Harness`] and the [`Engine`](fsmstore::Engine) trait only, so it cannot tell which
//! engine it runs on. `tests/suite.rs` instantiates every body once per compiled-in
//! engine with an `rstest` template, so
//!
//! ```text
//! cargo test -p conformance --no-default-features --features fjall
//! ```
//!
//! runs the whole suite on fjall alone, and the default run covers every engine that
//! needs no system library.
//!
//! Bodies panic (through `assert!`/`expect`) on failure, like any test.

#![allow(clippy::missing_panics_doc)]

pub mod applied_index;
pub mod batch;
pub mod checkpoint;
pub mod concurrency;
pub mod config;
pub mod crash;
pub mod crash_tests;
pub mod deep_check;
pub mod group_crash;
pub mod groups;
pub mod harness;
#[cfg(target_os = "linux")]
pub mod locking;
pub mod meta;
pub mod model;
pub mod ownership;
#[cfg(target_os = "linux")]
pub mod power_tests;
#[cfg(target_os = "linux")]
pub mod powerloss;
pub mod range;
pub mod read_only;
pub mod restore_gate;
pub mod rollback;
pub mod snapshot;
pub mod support;

pub use harness::Harness;
