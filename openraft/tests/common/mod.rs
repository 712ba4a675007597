//! A small key-value application and its raft type config, shared by the tests.

#![allow(dead_code)]

pub mod group_writes;
pub mod groups;
pub mod router;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fsmstore::{Backend, Config, Engine, SyncMode, WriteBatch};
use fsmstore_openraft::{Application, ApplyError, LogStore, PendingReads, StateMachine};
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
    /// Adds `by` to the number at `key` (0 when absent). Rejected, with the reason as
    /// the response, when `by` or the stored value is not a number; it marks
    /// `touched/<key>` first, so a rejection shows that the entry's ops were dropped.
    Increment { key: String, by: String },
    /// Reads the keys starting with `prefix` (in reverse key order with `reverse`, at
    /// most `limit`) through the pending writes, and sets `into` to `key=value` of each,
    /// comma-separated.
    ScanInto {
        prefix: String,
        reverse: bool,
        limit: Option<usize>,
        into: String,
    },
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
    ) -> Result<Response, ApplyError<Response>> {
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
            Request::Increment { key, by } => {
                batch.put(format!("touched/{key}"), "yes");
                let not_a_number = |what: &str| {
                    ApplyError::Rejected(Response(Some(format!("not a number: {what}"))))
                };
                let by: i64 = by.parse().map_err(|_| not_a_number(by))?;
                let old = match reads.get(key.as_bytes())? {
                    Some(old) => {
                        let old = String::from_utf8_lossy(&old).into_owned();
                        old.parse::<i64>().map_err(|_| not_a_number(&old))?
                    }
                    None => 0,
                };
                let new = (old + by).to_string();
                batch.put(key.clone(), new.clone());
                Response(Some(new))
            }
            Request::ScanInto {
                prefix,
                reverse,
                limit,
                into,
            } => {
                let mut query = fsmstore::RangeQuery::prefix(prefix.clone());
                if *reverse {
                    query = query.reverse();
                }
                if let Some(limit) = limit {
                    query = query.limit(*limit);
                }
                let found: Vec<String> = reads
                    .range(&query)?
                    .iter()
                    .map(|(key, value)| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(key),
                            String::from_utf8_lossy(value)
                        )
                    })
                    .collect();
                let found = found.join(",");
                batch.put(into.clone(), found.clone());
                Response(Some(found))
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

/// A number in `[low, high)` that varies from run to run (print it, for a re-run).
pub fn varying(low: u64, high: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    low + nanos % (high - low)
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

/// A running node of the tests and the stores it holds (on a node of many groups: one
/// group's raft and its two groups).
pub struct Node {
    /// The raft.
    pub raft: Raft<TypeConfig, Sm>,
    /// The state machine's store.
    pub engine: Arc<dyn Engine>,
    /// The log store's store.
    pub log_engine: Arc<dyn Engine>,
    /// How many snapshots the state machine restored (see `StateMachine::restores`).
    pub restores: Arc<AtomicU64>,
}

/// The raft config of the tests' nodes: short timeouts, so elections end quickly.
pub fn raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        ..Default::default()
    };
    Arc::new(config.validate().expect("config"))
}

/// A multi-threaded runtime of two workers (the machine's cores), with timers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// [`raft_config`] that purges the log right behind each snapshot, so a node that joins
/// must take the snapshot.
pub fn purging_raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Default::default()
    };
    Arc::new(config.validate().expect("config"))
}

/// Node 1 on `log` and `sm`, registered with `router`, made a one-node cluster, once it
/// leads.
pub async fn lead_alone(log: Log, sm: Sm, router: &router::Router) -> Raft<TypeConfig, Sm> {
    let raft = Raft::new(1, raft_config(), router.clone(), log, sm)
        .await
        .expect("raft");
    router.add(1, raft.clone());
    raft.initialize(std::collections::BTreeMap::from([(
        1u64,
        openraft::BasicNode::default(),
    )]))
    .await
    .expect("initialize");
    raft.wait(Some(Duration::from_secs(10)))
        .current_leader(1, "leader")
        .await
        .expect("leader");
    raft
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
    let raft = Raft::new(id, raft_config(), router.clone(), log, sm)
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
    assert!(
        released(&[&node.engine, &node.log_engine]).await,
        "the stores are still in use after shutdown"
    );
}

/// Waits until each of `engines` has no other handle than the one given here, at most
/// five seconds; returns whether they got there. A shut-down raft releases its stores
/// with its core's tasks, after `shutdown` returns.
pub async fn released(engines: &[&Arc<dyn Engine>]) -> bool {
    for _ in 0..500 {
        if engines.iter().all(|engine| Arc::strong_count(engine) == 1) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
