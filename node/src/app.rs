//! The key-value application and the node's raft type config.

use fsmstore::WriteBatch;
use fsmstore_openraft::{Application, ApplyError, LogStore, PendingReads, StateMachine};
use serde::{Deserialize, Serialize};

/// Where the application's keys live in the state machine's store: apart from anything
/// else the store may hold one day.
pub const KEY_PREFIX: &str = "kv/";

/// The store key of the application key `key`.
pub fn store_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// A request of the key-value application, as it is replicated in the raft log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Sets `key` to `new` if its value is `expected` (`None`: absent).
    Cas {
        /// The key.
        key: String,
        /// The value the key must hold.
        expected: Option<String>,
        /// The value written on a match.
        new: String,
    },
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The response of an applied request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request wrote its value (always for `Set`).
    pub swapped: bool,
    /// The value before the request (for `Cas`; `None` for `Set`).
    pub previous: Option<String>,
}

openraft::declare_raft_types!(
    /// The node's raft type config: `u64` node ids, [`openraft::BasicNode`] addresses.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// The key-value application.
pub struct Kv;

impl Application<Request, Response> for Kv {
    fn apply(
        &self,
        request: &Request,
        reads: &dyn PendingReads,
        batch: &mut WriteBatch,
    ) -> Result<Response, ApplyError<Response>> {
        Ok(match request {
            Request::Set { key, value } => {
                batch.put(store_key(key), value.clone());
                Response {
                    swapped: true,
                    previous: None,
                }
            }
            Request::Cas { key, expected, new } => {
                let key = store_key(key);
                // Through the pending reads: an earlier entry of the same apply call may
                // have written the key.
                let previous = reads
                    .get(key.as_bytes())?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                let swapped = previous == *expected;
                if swapped {
                    batch.put(key, new.clone());
                }
                Response { swapped, previous }
            }
        })
    }

    fn empty_response(&self) -> Response {
        Response::default()
    }
}

/// The node's state machine.
pub type Sm = StateMachine<TypeConfig, Kv>;
/// The node's log store.
pub type Log = LogStore<TypeConfig>;
/// The node's raft.
pub type NodeRaft = openraft::Raft<TypeConfig, Sm>;
