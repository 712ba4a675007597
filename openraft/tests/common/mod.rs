//! A small key-value application and its raft type config, shared by the tests.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use fsmstore::{Backend, Config, Engine, SyncMode, WriteBatch};
use fsmstore_openraft::{Application, LogStore, PendingReads, StateMachine};
use openraft::Raft;
use openraft::alias::{EntryOf, LeaderIdOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::vote::RaftLeaderIdExt;
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

/// The entry type of the tests.
pub type Entry = EntryOf<TypeConfig>;

/// The log id at `index` of a term led by node 1.
pub fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
    LogIdOf::<TypeConfig>::new(LeaderIdOf::<TypeConfig>::new_committed(term, 1), index)
}

/// A normal entry of term 1 at `index`.
pub fn normal(index: u64, request: Request) -> Entry {
    Entry::new_normal(log_id(1, index), request)
}

/// A request that sets `key` to `value`.
pub fn set(key: &str, value: &str) -> Request {
    Request::Set {
        key: key.into(),
        value: value.into(),
    }
}

/// Applies `entries` to `sm` in one apply call, without responders.
pub async fn apply(sm: &mut Sm, entries: Vec<Entry>) {
    let stream = futures_util::stream::iter(entries.into_iter().map(|entry| Ok((entry, None))));
    sm.apply(stream).await.expect("apply");
}

/// The engines compiled into this test build.
pub fn engines() -> Vec<Backend> {
    Backend::compiled()
}

/// Opens a node's state machine and log store under `root`: `root/sm`, `root/snapshots`
/// and `root/log`.
pub fn open_node(backend: Backend, root: &Path, sync_mode: SyncMode) -> (Log, Sm) {
    std::fs::create_dir_all(root).expect("node directory");
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

/// A running node of the tests and the stores it holds.
pub struct Node {
    pub raft: Raft<TypeConfig, Sm>,
    pub engine: Arc<dyn Engine>,
    pub log_engine: Arc<dyn Engine>,
    pub restores: Arc<AtomicU64>,
}

/// Starts node `id` on the stores under `root` and registers it with `router`.
pub async fn start(
    id: u64,
    backend: Backend,
    root: &Path,
    sync_mode: SyncMode,
    router: &router::Router,
) -> Node {
    let (log, sm) = open_node(backend, root, sync_mode);
    let engine = sm.engine().clone();
    let log_engine = log.engine().clone();
    let restores = sm.restore_counter();
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        ..Default::default()
    };
    let config = Arc::new(config.validate().expect("config"));
    let raft = Raft::new(id, config, router.clone(), log, sm)
        .await
        .expect("raft");
    router.add(id, raft.clone());
    Node {
        raft,
        engine,
        log_engine,
        restores,
    }
}

/// Starts node 1 alone on the stores under `root`, makes it a one-node cluster and waits
/// until it leads.
pub async fn start_leader(
    backend: Backend,
    root: &Path,
    sync_mode: SyncMode,
    router: &router::Router,
) -> Node {
    let node = start(1, backend, root, sync_mode, router).await;
    node.raft
        .initialize(std::collections::BTreeMap::from([(
            1u64,
            openraft::BasicNode::default(),
        )]))
        .await
        .expect("initialize");
    node.raft
        .wait(Some(Duration::from_secs(10)))
        .current_leader(1, "leader")
        .await
        .expect("leader");
    node
}

/// Stops a node and waits until its stores are closed.
pub async fn stop(node: Node, router: &router::Router, id: u64) {
    router.remove(id);
    node.raft.shutdown().await.expect("shutdown");
    drop(node.raft);
    // The stores are released with the raft core's tasks; wait until they are ours.
    for _ in 0..500 {
        if Arc::strong_count(&node.engine) == 1 && Arc::strong_count(&node.log_engine) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the stores are still in use after shutdown");
}

/// An in-process network: each call goes straight to the target's `Raft` handle.
pub mod router {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex};

    use openraft::alias::{SnapshotOf, VoteOf};
    use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
    use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
    };
    use openraft::{BasicNode, OptionalSend, Raft};

    use super::{Sm, TypeConfig};

    /// The nodes of one process, by id.
    #[derive(Clone, Default)]
    pub struct Router {
        nodes: Arc<Mutex<BTreeMap<u64, Raft<TypeConfig, Sm>>>>,
    }

    /// A connection to one node through the router.
    pub struct Connection {
        router: Router,
        target: u64,
    }

    #[derive(Debug)]
    struct NotRunning(u64);

    impl std::fmt::Display for NotRunning {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "node {} is not running", self.0)
        }
    }

    impl std::error::Error for NotRunning {}

    impl Router {
        /// Registers (or replaces) node `id`.
        pub fn add(&self, id: u64, raft: Raft<TypeConfig, Sm>) {
            self.nodes.lock().expect("router lock").insert(id, raft);
        }

        /// Unregisters node `id` and returns its handle.
        pub fn remove(&self, id: u64) -> Option<Raft<TypeConfig, Sm>> {
            self.nodes.lock().expect("router lock").remove(&id)
        }

        fn get(&self, id: u64) -> Result<Raft<TypeConfig, Sm>, Unreachable<TypeConfig>> {
            self.nodes
                .lock()
                .expect("router lock")
                .get(&id)
                .cloned()
                .ok_or_else(|| Unreachable::new(&NotRunning(id)))
        }
    }

    impl RaftNetworkFactory<TypeConfig> for Router {
        type Network = Connection;

        async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
            Connection {
                router: self.clone(),
                target,
            }
        }
    }

    impl RaftNetworkV2<TypeConfig> for Connection {
        type SnapshotData = std::fs::File;

        async fn append_entries(
            &mut self,
            rpc: AppendEntriesRequest<TypeConfig>,
            _option: RPCOption,
        ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
            let raft = self.router.get(self.target)?;
            raft.append_entries(rpc)
                .await
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
        }

        async fn vote(
            &mut self,
            rpc: VoteRequest<TypeConfig>,
            _option: RPCOption,
        ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
            let raft = self.router.get(self.target)?;
            raft.vote(rpc)
                .await
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
        }

        async fn full_snapshot(
            &mut self,
            vote: VoteOf<TypeConfig>,
            snapshot: SnapshotOf<TypeConfig, std::fs::File>,
            _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
            _option: RPCOption,
        ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
            let raft = self.router.get(self.target)?;
            raft.install_full_snapshot(vote, snapshot)
                .await
                .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
        }
    }
}
