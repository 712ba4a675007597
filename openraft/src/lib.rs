//! openraft storage over any fsmstore engine: a [`StateMachine`] (the application's data
//! plus the last applied log id and membership, snapshots as portable fsmstore streams)
//! and a [`LogStore`] (the raft log, the vote and the committed log id), each on its own
//! fsmstore store.
//!
//! The application implements one trait, [`Application`]: it turns a request into ops on
//! a [`WriteBatch`] and a response, reading the store plus the writes of the entries
//! before it in the same apply call through [`PendingReads`].
//!
//! Every `apply` call commits as ONE [`Engine::apply`]: the ops of all its entries, the
//! last log id and (when the call holds a membership entry) the membership, with the
//! fsmstore applied index [`fsmstore_index`]`(last log index)`. openraft's first log index
//! is 0 and fsmstore's index 0 means "none", hence the `+ 1`.
//!
//! Both stores are reached through [`Engine`] only: any engine compiled into `fsmstore`
//! works, and a snapshot built on one engine installs on any other. Either may be a
//! group of a groups store ([`fsmstore::open_groups`]), so that one node serves many
//! raft groups on two stores whose groups share fsyncs.
//!
//! The log store commits and syncs on threads of its own (see [`LogStore`]), and the
//! state machine's `Sync` applies run on the blocking pool: no fsync runs on an async
//! runtime worker.

mod closer;
mod codec;
mod log_store;
mod log_writer;
mod observer;
mod pending;
mod receiver;
mod state_machine;

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use closer::Closer;
pub use codec::{LogFormat, META_LOG_FORMAT, UnknownLogFormat};
pub use fsmstore::{Engine, WriteBatch};
pub use log_store::LogStore;
pub use log_writer::LogWriterStats;
pub use observer::{Observer, OnRestart};
pub use pending::PendingReads;
pub use receiver::SnapshotReceiver;
pub use state_machine::{
    INSTALLS_METRIC, SNAPSHOT_DATA_SUFFIX, SNAPSHOT_META_SUFFIX, SnapshotBuilder, StateMachine,
};

/// The meta key holding the last applied log id (JSON).
pub const META_LAST_APPLIED: &[u8] = b"openraft_last_applied";
/// The meta key holding the last applied membership (JSON).
pub const META_MEMBERSHIP: &[u8] = b"openraft_membership";

/// The fsmstore applied index that stands for openraft log index `log_index`.
///
/// openraft numbers its log from 0; fsmstore reserves index 0 for "nothing applied". The
/// state machine therefore stores log index `i` as fsmstore index `i + 1`, everywhere:
/// the index committed with each apply call, the checkpoint pinned for a snapshot, and
/// the index a snapshot stream carries. This is the only place the mapping is written.
pub const fn fsmstore_index(log_index: u64) -> u64 {
    log_index + 1
}

/// What the application supplies: the meaning of a request.
///
/// `C::D` is the request type and `C::R` the response type of the raft type config.
pub trait Application<D, R>: Send + Sync + 'static {
    /// Turns `request` into ops on `batch` and returns its response.
    ///
    /// `reads` sees the store plus the writes of the entries applied before this one in
    /// the same apply call (not yet committed); `batch` is shared by all of them, so an
    /// entry must only add ops. Meta names starting with `openraft_` are reserved.
    ///
    /// Two kinds of error, told apart by [`ApplyError`]:
    /// - [`ApplyError::Rejected`]: the request is invalid for the application (a value
    ///   that is not a number, a failed precondition). The ops this entry added are
    ///   dropped, the given response goes to the client, and the node goes on: every
    ///   replica rejects the same entry the same way, so the decision must depend only
    ///   on the request and what `reads` returns.
    /// - [`ApplyError::Storage`] (what `?` on an fsmstore call gives): the whole apply
    ///   call fails, nothing of it is committed, and openraft stops the node.
    fn apply(
        &self,
        request: &D,
        reads: &dyn PendingReads,
        batch: &mut WriteBatch,
    ) -> Result<R, ApplyError<R>>;

    /// The response sent for a blank or membership entry (no request of the application).
    fn empty_response(&self) -> R;
}

/// Why [`Application::apply`] did not apply a request.
#[derive(Debug)]
pub enum ApplyError<R> {
    /// The request is invalid for the application: the entry's ops are dropped and this
    /// response goes to the client; the node goes on.
    Rejected(R),
    /// The store failed: the apply call fails and openraft stops the node.
    Storage(fsmstore::Error),
}

impl<R> From<fsmstore::Error> for ApplyError<R> {
    fn from(error: fsmstore::Error) -> Self {
        ApplyError::Storage(error)
    }
}

/// Access to the application data of an entry, for the entry types openraft ships.
pub trait EntryData<D> {
    /// The request of a normal entry; `None` for blank and membership entries.
    fn app_data(&self) -> Option<&D>;
}

impl<CLID, D, NID, N> EntryData<D> for openraft::Entry<CLID, openraft::EntryPayload<D, NID, N>>
where
    CLID: openraft::vote::RaftCommittedLeaderId,
    D: openraft::AppData,
    NID: openraft::NodeId,
    N: openraft::Node,
{
    fn app_data(&self) -> Option<&D> {
        match &self.payload {
            openraft::EntryPayload::Normal(data) => Some(data),
            _ => None,
        }
    }
}

/// An fsmstore error as the `io::Error` openraft's storage traits return (an I/O error
/// stays itself).
pub(crate) fn io_error(error: fsmstore::Error) -> io::Error {
    match error {
        fsmstore::Error::Io(error) => error,
        other => io::Error::other(other),
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(io::Error::other)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> io::Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {error}")))
}
