//! Client writes through an in-process 3-node cluster, with 1 and 64 concurrent clients,
//! in three set-ups measured in one run:
//!
//! - `ceiling`: an in-memory log and an in-memory state machine (openraft alone);
//! - `sm`: an in-memory log and the fsmstore state machine, per engine and sync mode
//!   (what the state machine costs);
//! - `full`: the fsmstore log store and state machine (a fully durable node).
//!
//! Case ids are `cluster/<setup>/<engine>/<sync|nosync>/<clients>`; one iteration is a
//! fixed number of writes spread over the clients, so the throughput is in writes per
//! second. The stores live under the target directory. `FSMSTORE_BENCH_QUICK=1` shortens
//! warm-up and measurement.
//!
//! ```text
//! cargo bench -p fsmstore-openraft --bench cluster
//! ```

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Kv, Request, TypeConfig};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use fsmstore::{Backend, Config, SyncMode};
use fsmstore_openraft::{LogStore, StateMachine};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use support::{MemLog, MemSm, Router};

const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
const CLIENTS: [u64; 2] = [1, 64];

/// A running 3-node cluster and the leader's handle.
struct Cluster<SM: RaftStateMachine<TypeConfig>> {
    router: Router<SM>,
    leader: Raft<TypeConfig, SM>,
    next_key: Arc<AtomicU64>,
}

fn raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        heartbeat_interval: 100,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    };
    Arc::new(config.validate().expect("raft config"))
}

/// Starts three nodes, each on the stores `open(id)` gives, and elects node 1.
async fn start<L, SM>(mut open: impl FnMut(u64) -> (L, SM)) -> Cluster<SM>
where
    L: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig>,
{
    let router = Router::<SM>::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let (log, sm) = open(id);
        let raft = Raft::new(id, raft_config(), router.clone(), log, sm)
            .await
            .expect("raft");
        router.add(id, raft.clone());
        nodes.insert(id, raft);
    }
    let leader = nodes.remove(&1).expect("node 1");
    leader
        .initialize(
            (1..=3u64)
                .map(|id| (id, BasicNode::default()))
                .collect::<BTreeMap<_, _>>(),
        )
        .await
        .expect("initialize");
    leader
        .wait(TIMEOUT)
        .current_leader(1, "leader")
        .await
        .expect("node 1 leads");
    Cluster {
        router,
        leader,
        next_key: Arc::default(),
    }
}

/// Writes `request` through the leader, retrying (for a bounded time) while it renews its
/// lease, which a busy machine can let expire between heartbeats.
async fn write<SM: RaftStateMachine<TypeConfig>>(raft: &Raft<TypeConfig, SM>, request: Request) {
    for _ in 0..1000 {
        match raft.client_write(request.clone()).await {
            Ok(_) => return,
            Err(error) if error.forward_to_leader().is_some() => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => panic!("client write: {error}"),
        }
    }
    panic!("no leader for 10 s");
}

impl<SM: RaftStateMachine<TypeConfig>> Cluster<SM> {
    /// Writes `writes` new keys through `clients` concurrent clients; the elapsed time.
    async fn write(&self, writes: u64, clients: u64) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let raft = self.leader.clone();
                let next_key = self.next_key.clone();
                let mine = writes / clients + u64::from(client < writes % clients);
                tokio::spawn(async move {
                    for _ in 0..mine {
                        let n = next_key.fetch_add(1, Ordering::Relaxed);
                        let request = Request::Set {
                            key: format!("key/{n:012}"),
                            value: format!("value-{n:010}"),
                        };
                        write(&raft, request).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("client task");
        }
        started.elapsed()
    }

    async fn shutdown(self) {
        drop(self.leader);
        for raft in self.router.take_all() {
            raft.shutdown().await.expect("shutdown");
        }
    }
}

/// Writes per iteration: enough to fill every client's pipeline a few times.
fn writes_per_iteration(clients: u64, quick_test: bool) -> u64 {
    match (clients, quick_test) {
        (1, true) => 4,
        (_, true) => clients,
        (1, false) => 32,
        (_, false) => clients * 10,
    }
}

fn measure<SM: RaftStateMachine<TypeConfig>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    cluster: Cluster<SM>,
    quick_test: bool,
) {
    for clients in CLIENTS {
        let writes = writes_per_iteration(clients, quick_test);
        group.throughput(Throughput::Elements(writes));
        group.bench_function(format!("{name}/{clients}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += cluster.write(writes, clients).await;
                    }
                    total
                })
            });
        });
    }
    rt.block_on(cluster.shutdown());
}

fn mode_name(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Sync => "sync",
        SyncMode::NoSync => "nosync",
    }
}

fn bench_cluster(c: &mut Criterion) {
    // criterion's test mode (`cargo test --benches`) runs each case once: keep it small.
    let quick_test = !std::env::args().any(|arg| arg == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench directory");
    let mut group = c.benchmark_group("cluster");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    if std::env::var_os(QUICK_ENV).is_some() {
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
    }

    let cluster = rt.block_on(start(|_| (MemLog::default(), MemSm::default())));
    measure(&mut group, &rt, "ceiling/mem/-", cluster, quick_test);

    let engines: Vec<Backend> = Backend::compiled()
        .into_iter()
        .filter(|backend| *backend != Backend::Memory)
        .collect();
    for setup in ["sm", "full"] {
        for &backend in &engines {
            for mode in [SyncMode::Sync, SyncMode::NoSync] {
                let name = format!("{setup}/{}/{}", backend.name(), mode_name(mode));
                let dir = root.path().join(&name);
                let config = Config::new(mode);
                let open_sm = |id: u64| {
                    let node = dir.join(format!("node{id}"));
                    std::fs::create_dir_all(&node).expect("node directory");
                    StateMachine::<TypeConfig, Kv>::open(
                        backend,
                        node.join("sm"),
                        node.join("snapshots"),
                        &config,
                        Kv,
                    )
                    .expect("open state machine")
                };
                if setup == "sm" {
                    let cluster = rt.block_on(start(|id| (MemLog::default(), open_sm(id))));
                    measure(&mut group, &rt, &name, cluster, quick_test);
                } else {
                    let cluster = rt.block_on(start(|id| {
                        let sm = open_sm(id);
                        let log = LogStore::<TypeConfig>::open(
                            backend,
                            dir.join(format!("node{id}")).join("log"),
                            &config,
                        )
                        .expect("open log store");
                        (log, sm)
                    }));
                    measure(&mut group, &rt, &name, cluster, quick_test);
                }
            }
        }
    }
    group.finish();
}

criterion::criterion_group!(benches, bench_cluster);
criterion::criterion_main!(benches);
