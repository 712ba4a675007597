//! A small key-value application and its raft type config, shared by the tests.

#![allow(dead_code)]

use std::path::Path;

use fsmstore::{Backend, Config, SyncMode, WriteBatch};
use fsmstore_openraft::{Application, LogStore, PendingReads, StateMachine};
use serde::{Deserialize, Serialize};

/// A request of the key-value application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Sets `key` to `value`.
    Set { key: String, value: String },
    /// Appends `suffix` to the value of `key` (read through the pending writes).
    Append { key: String, suffix: String },
    /// Deletes every key starting with `prefix`.
    DeletePrefix { prefix: String },
}

/// The value a request left, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response(pub Option<String>);

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

openraft::declare_raft_types!(
    /// The tests' type config.
    pub TypeConfig:
        D = Request,
        R = Response,
);

/// The key-value application.
pub struct Kv;

impl Application<Request, Response> for Kv {
    fn apply(
        &self,
        request: &Request,
        reads: &dyn PendingReads,
        batch: &mut WriteBatch,
    ) -> fsmstore::Result<Response> {
        Ok(match request {
            Request::Set { key, value } => {
                batch.put(key.clone(), value.clone());
                Response(Some(value.clone()))
            }
            Request::Append { key, suffix } => {
                let old = reads.get(key.as_bytes())?;
                let mut value = old
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                value.push_str(suffix);
                batch.put(key.clone(), value.clone());
                Response(Some(value))
            }
            Request::DeletePrefix { prefix } => {
                batch.delete_prefix(prefix.clone(), None);
                Response(None)
            }
        })
    }

    fn empty_response(&self) -> Response {
        Response(None)
    }
}

/// The state machine type of the tests.
pub type Sm = StateMachine<TypeConfig, Kv>;
/// The log store type of the tests.
pub type Log = LogStore<TypeConfig>;

/// The engines compiled into this test build.
pub fn engines() -> Vec<Backend> {
    Backend::compiled()
}

/// Opens a node's state machine and log store under `root`: `root/sm`, `root/snapshots`
/// and `root/log`.
pub fn open_node(backend: Backend, root: &Path, sync_mode: SyncMode) -> (Log, Sm) {
    let config = Config::new(sync_mode);
    let log = LogStore::open(backend, root.join("log"), &config).expect("open log store");
    let sm = StateMachine::open(
        backend,
        root.join("sm"),
        root.join("snapshots"),
        &config,
        Kv,
    )
    .expect("open state machine");
    (log, sm)
}
