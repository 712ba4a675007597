//! The client API's request and response bodies (JSON): the contract between a node and
//! its clients.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// `POST /cluster/init`: the first membership, node id (as a string key) to address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRequest {
    /// Every voter of the new cluster: id to `127.0.0.1:PORT`.
    pub members: BTreeMap<u64, String>,
}

/// `POST /cluster/add-learner`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddLearnerRequest {
    /// The learner's node id.
    pub id: u64,
    /// The learner's address, `127.0.0.1:PORT`.
    pub addr: String,
}

/// `POST /cluster/change-membership`: the voters after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMembershipRequest {
    /// The ids of the voters.
    pub members: BTreeSet<u64>,
}

/// The log index a write or membership change was committed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexResponse {
    /// The raft log index of the entry.
    pub index: u64,
}

/// `POST /kv/write`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRequest {
    /// The key (not empty).
    pub key: String,
    /// The value.
    pub value: String,
}

/// `POST /kv/cas`: swap `key` to `new` only if its value is `expected` (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasRequest {
    /// The key (not empty).
    pub key: String,
    /// The value the key must hold for the swap; `None` (JSON `null`) means absent.
    pub expected: Option<String>,
    /// The value written when the swap happens.
    pub new: String,
}

/// The outcome of a compare-and-swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasResponse {
    /// Whether the value was swapped.
    pub swapped: bool,
    /// The value before the entry was applied (`None`: absent).
    pub previous: Option<String>,
    /// The raft log index of the entry (committed whether or not it swapped).
    pub index: u64,
}

/// `GET /kv/read/{key}` and `GET /kv/linearizable-read/{key}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// The value, `None` when the key is absent.
    pub value: Option<String>,
}

/// `GET /state`: the whole key-value state, read at one point in time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateResponse {
    /// The last log index applied in that state (`None` before the first apply).
    pub last_applied: Option<u64>,
    /// Every key and its value.
    pub data: BTreeMap<String, String>,
}

/// `POST /admin/snapshot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResponse {
    /// The log index the node's current snapshot covers.
    pub snapshot_index: u64,
}

/// `POST /admin/purge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRequest {
    /// Purge the raft log up to this index (inclusive, at most the snapshot's).
    pub upto: u64,
}

/// `POST /admin/fault`: the network fault layer's whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRequest {
    /// Peers whose raft traffic to and from this node is cut.
    pub blocked: BTreeSet<u64>,
    /// Milliseconds every outgoing raft RPC waits before it is sent.
    #[serde(default)]
    pub delay_ms: u64,
}

/// The body of a success without data: `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `GET /metrics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsResponse {
    /// This node's id.
    pub id: u64,
    /// The raft group these metrics are of, on a node of several groups (absent from
    /// the JSON on a node of one group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u64>,
    /// The raft server state: `Leader`, `Follower`, `Candidate`, `Learner`, `Shutdown`.
    pub state: String,
    /// The leader this node knows of.
    pub current_leader: Option<u64>,
    /// The current term.
    pub current_term: u64,
    /// The last log index appended here.
    pub last_log_index: Option<u64>,
    /// The last log index applied to the state machine.
    pub last_applied: Option<u64>,
    /// The log index the current snapshot covers.
    pub snapshot_index: Option<u64>,
    /// The last purged log index.
    pub purged_index: Option<u64>,
    /// The voters of the effective membership.
    pub voters: Vec<u64>,
    /// The learners of the effective membership.
    pub learners: Vec<u64>,
    /// The engine of both stores.
    pub engine: String,
    /// The stores' sync mode, `sync` or `nosync`.
    pub sync_mode: String,
    /// What a restart would do with the current snapshot: `no-snapshot`, `covered`
    /// or `restore` (`None` when the store could not be read).
    pub on_restart: Option<String>,
    /// What the node found at start, before openraft restored anything: the same names
    /// (`restore` means its store was behind its snapshot and the start restored it).
    pub on_start: Option<String>,
    /// Snapshots restored into the store since the node started.
    pub restores: u64,
    /// Of those, the node's own snapshot restored at start-up.
    pub restores_at_start: u64,
    /// Of those, snapshots received from a leader.
    pub restores_received: u64,
    /// Snapshot installs that found the store already at the snapshot.
    pub installs_skipped: u64,
}

/// Error kinds of [`ErrorBody::error`].
pub mod kind {
    /// 421: refused before anything was proposed; the operation did not take effect.
    pub const NOT_LEADER: &str = "not-leader";
    /// 503: the outcome is unknown (the operation may or may not take effect).
    pub const UNKNOWN: &str = "unknown";
    /// 504: the request timed out; the outcome is unknown.
    pub const TIMEOUT: &str = "timeout";
    /// 400: bad input.
    pub const BAD_REQUEST: &str = "bad-request";
    /// 409: the request conflicts with the cluster's state (an initialised cluster, a
    /// membership change refused before it was proposed).
    pub const CONFLICT: &str = "conflict";
    /// 500: a storage error before anything was proposed.
    pub const STORAGE: &str = "storage";
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The kind (see [`kind`]).
    pub error: String,
    /// What happened, for people.
    pub message: String,
    /// The leader this node knows of, on a `not-leader` or `unknown` error.
    pub leader: Option<u64>,
    /// That leader's address.
    pub leader_addr: Option<String>,
}
