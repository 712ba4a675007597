//! Client writes through in-process 3-node clusters, and the cost of the disk under them,
//! measured in one run:
//!
//! - `floor/fsync`: a 4 KiB write at offset 0 of a file beside the stores, then
//!   `sync_data` (fsyncs per second: what one durable write can cost at least);
//! - `commit/<engine>`: one durable `Engine::apply` of a one-put batch (16-byte key,
//!   100-byte value) on a store in `SyncMode::Sync` (a lone durable write);
//! - `ceiling/mem/-/<clients>`: an in-memory log and an in-memory state machine
//!   (openraft alone);
//! - `sm/<engine>/<sync|nosync>/<clients>`: an in-memory log and the fsmstore state
//!   machine (what the state machine costs);
//! - `full/<engine>/<sync|nosync>/<clients>`: the fsmstore log store and state machine
//!   (a fully durable node);
//! - `groups/<engine>/sync/<groups>x4`: many raft groups on shared stores. Each node
//!   holds one groups store for the logs (`SyncMode::NoSync`; the fsmstore log store on
//!   group `g`) and one for the state machines (`SyncMode::Sync`; the fsmstore state
//!   machine on group `g`, snapshots in a directory per group); node 1 leads every group,
//!   and four clients write to each group (16 groups: 64 clients; 1 group: 4).
//!
//! The `ceiling`, `sm` and `full` cases run with 1 and 64 concurrent clients. In the
//! cluster cases one iteration is a fixed number of writes spread over the clients, so
//! the throughput is in writes per second; in `floor` and `commit` one iteration is one
//! fsync or one commit. Case ids start with `cluster/`. The stores live under the target
//! directory. `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement.
//!
//! ```text
//! cargo bench -p fsmstore-openraft --bench cluster
//! ```

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::router::Router;
use common::{Kv, Request, TypeConfig};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use fsmstore::{Backend, Config, GroupStore, SyncMode, WriteBatch};
use fsmstore_openraft::{LogStore, StateMachine};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use support::{MemLog, MemSm};

const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
const CLIENTS: [u64; 2] = [1, 64];
/// The group counts of the `groups` set-up: 1 is the baseline 16 is compared with.
const GROUPS: [u64; 2] = [1, 16];
const CLIENTS_PER_GROUP: u64 = 4;
const NODES: u64 = 3;

/// Running 3-node clusters, one per raft group, each led by its node 1.
struct Cluster<SM: RaftStateMachine<TypeConfig>> {
    router: Router<SM>,
    leaders: Vec<Raft<TypeConfig, SM>>,
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

/// Starts `groups` raft groups of three nodes each, node `n` of group `g` on the stores
/// `open(g, n)` gives, and elects node 1 in every group. Groups are numbered from 1.
async fn start<L, SM>(groups: u64, mut open: impl FnMut(u64, u64) -> (L, SM)) -> Cluster<SM>
where
    L: RaftLogStorage<TypeConfig>,
    SM: RaftStateMachine<TypeConfig>,
{
    let router = Router::<SM>::default();
    let mut leaders = Vec::new();
    for group in 1..=groups {
        let routes = router.group(group);
        for id in 1..=NODES {
            let (log, sm) = open(group, id);
            let raft = Raft::new(id, raft_config(), routes.clone(), log, sm)
                .await
                .expect("raft");
            routes.add(id, raft.clone());
            if id == 1 {
                leaders.push(raft);
            }
        }
    }
    let members: BTreeMap<u64, BasicNode> =
        (1..=NODES).map(|id| (id, BasicNode::default())).collect();
    for leader in &leaders {
        leader
            .initialize(members.clone())
            .await
            .expect("initialize");
    }
    for leader in &leaders {
        leader
            .wait(TIMEOUT)
            .current_leader(1, "leader")
            .await
            .expect("node 1 leads");
    }
    Cluster {
        router,
        leaders,
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

/// A new 16-byte key for write `n`.
fn key(n: u64) -> String {
    format!("key/{n:012}")
}

impl<SM: RaftStateMachine<TypeConfig>> Cluster<SM> {
    /// Writes `writes` new keys through `clients` concurrent clients, spread evenly over
    /// the groups; the elapsed time.
    async fn write(&self, writes: u64, clients: u64) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let raft = self.leaders[(client % self.leaders.len() as u64) as usize].clone();
                let next_key = self.next_key.clone();
                let mine = writes / clients + u64::from(client < writes % clients);
                tokio::spawn(async move {
                    for _ in 0..mine {
                        let n = next_key.fetch_add(1, Ordering::Relaxed);
                        let request = Request::Set {
                            key: key(n),
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
        drop(self.leaders);
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

/// Measures case `id`: writes through `clients` concurrent clients.
fn measure_clients<SM: RaftStateMachine<TypeConfig>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: &str,
    cluster: &Cluster<SM>,
    clients: u64,
    quick_test: bool,
) {
    let writes = writes_per_iteration(clients, quick_test);
    group.throughput(Throughput::Elements(writes));
    group.bench_function(id, |b| {
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

/// Measures `cluster` with each count of [`CLIENTS`], then shuts it down.
fn measure<SM: RaftStateMachine<TypeConfig>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    cluster: Cluster<SM>,
    quick_test: bool,
) {
    for clients in CLIENTS {
        let id = format!("{name}/{clients}");
        measure_clients(group, rt, &id, &cluster, clients, quick_test);
    }
    rt.block_on(cluster.shutdown());
}

fn mode_name(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Sync => "sync",
        SyncMode::NoSync => "nosync",
    }
}

/// The fsyncs per second of the disk the stores are on: rewrite one 4 KiB block in
/// place and `sync_data` it.
fn bench_floor(group: &mut BenchmarkGroup<'_, WallTime>, dir: &Path) {
    fn rewrite(mut file: &File, block: &[u8]) {
        file.seek(SeekFrom::Start(0)).expect("seek");
        file.write_all(block).expect("write");
        file.sync_data().expect("sync_data");
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join("fsync-floor"))
        .expect("floor file");
    let block = [0xA5; 4096];
    // The block is allocated here, so each iteration overwrites it and its size never
    // changes: the fsync carries data, not metadata.
    rewrite(&file, &block);
    file.sync_all().expect("sync_all");
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor/fsync", |b| b.iter(|| rewrite(&file, &block)));
}

/// One durable commit of a one-put batch on a `SyncMode::Sync` store of `backend`.
fn bench_commit(group: &mut BenchmarkGroup<'_, WallTime>, dir: &Path, backend: Backend) {
    let dir = dir.join(format!("commit/{}", backend.name()));
    std::fs::create_dir_all(dir.parent().expect("parent")).expect("commit directory");
    let engine = fsmstore::open(backend, &dir, &Config::new(SyncMode::Sync)).expect("open store");
    let value = vec![b'v'; 100];
    let mut index = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("commit/{}", backend.name()), |b| {
        b.iter(|| {
            index += 1;
            let mut batch = WriteBatch::new();
            batch.put(key(index), value.clone());
            engine.apply(&batch, Some(index)).expect("apply")
        });
    });
    engine.close().expect("close");
}

/// One node of the `groups` set-up: its two groups stores, each holding every group.
struct GroupsNode {
    dir: PathBuf,
    logs: Box<dyn GroupStore>,
    sms: Box<dyn GroupStore>,
}

impl GroupsNode {
    fn open(backend: Backend, dir: PathBuf, groups: u64) -> Self {
        std::fs::create_dir_all(&dir).expect("node directory");
        let open = |name: &str, mode: SyncMode| {
            let store = fsmstore::open_groups(backend, dir.join(name), &Config::new(mode))
                .expect("open groups store");
            for group in 1..=groups {
                store.create_group(group).expect("create group");
            }
            store
        };
        let logs = open("log", SyncMode::NoSync);
        let sms = open("sm", SyncMode::Sync);
        Self { dir, logs, sms }
    }

    /// The log store and state machine of group `group`.
    fn stores(&self, group: u64) -> (LogStore<TypeConfig>, StateMachine<TypeConfig, Kv>) {
        let log =
            LogStore::new(self.logs.open_group(group).expect("open log group")).expect("log store");
        let snapshots = self.dir.join("snapshots").join(format!("group{group}"));
        let sm = StateMachine::new(
            self.sms
                .open_group(group)
                .expect("open state machine group"),
            snapshots,
            Kv,
        )
        .expect("state machine");
        (log, sm)
    }
}

/// Commits, engine commits (rounds) and durable rounds of one kind of groups store,
/// summed over the nodes.
#[derive(Clone, Copy, Default)]
struct Rounds {
    commits: u64,
    rounds: u64,
    durable: u64,
}

impl Rounds {
    fn of<'a>(stores: impl Iterator<Item = &'a Box<dyn GroupStore>>) -> Self {
        stores.fold(Self::default(), |sum, store| {
            let stats = store.commit_stats();
            Self {
                commits: sum.commits + stats.commits,
                rounds: sum.rounds + stats.rounds,
                durable: sum.durable + stats.durable_rounds,
            }
        })
    }

    /// What happened since `before`, per write of `writes`.
    fn per_write(self, before: Self, writes: u64) -> String {
        let per = |now: u64, then: u64| (now - then) as f64 / writes.max(1) as f64;
        format!(
            "{:.2} commits, {:.2} rounds, {:.2} fsyncs",
            per(self.commits, before.commits),
            per(self.rounds, before.rounds),
            per(self.durable, before.durable)
        )
    }
}

fn bench_groups(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    root: &Path,
    backend: Backend,
    quick_test: bool,
) {
    for groups in GROUPS {
        let id = format!(
            "groups/{}/sync/{groups}x{CLIENTS_PER_GROUP}",
            backend.name()
        );
        let dir = root.join(&id);
        let nodes: Vec<GroupsNode> = (1..=NODES)
            .map(|node| GroupsNode::open(backend, dir.join(format!("node{node}")), groups))
            .collect();
        let cluster = rt.block_on(start(groups, |group, node| {
            nodes[(node - 1) as usize].stores(group)
        }));
        let logs = || Rounds::of(nodes.iter().map(|node| &node.logs));
        let sms = || Rounds::of(nodes.iter().map(|node| &node.sms));
        let (logs_before, sms_before) = (logs(), sms());
        measure_clients(
            group,
            rt,
            &id,
            &cluster,
            groups * CLIENTS_PER_GROUP,
            quick_test,
        );
        // Fewer rounds and fsyncs per write with more groups is the sharing at work.
        let writes = cluster.next_key.load(Ordering::Relaxed);
        if writes > 0 {
            println!(
                "cluster/{id}: {writes} writes; per write, over the {NODES} nodes: logs {}; \
                 state machines {}",
                logs().per_write(logs_before, writes),
                sms().per_write(sms_before, writes)
            );
        }
        rt.block_on(cluster.shutdown());
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
    let engines: Vec<Backend> = Backend::compiled()
        .into_iter()
        .filter(|backend| *backend != Backend::Memory)
        .collect();

    bench_floor(&mut group, root.path());
    for &backend in &engines {
        bench_commit(&mut group, root.path(), backend);
    }

    let cluster = rt.block_on(start(1, |_, _| (MemLog::default(), MemSm::default())));
    measure(&mut group, &rt, "ceiling/mem/-", cluster, quick_test);

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
                    let cluster = rt.block_on(start(1, |_, id| (MemLog::default(), open_sm(id))));
                    measure(&mut group, &rt, &name, cluster, quick_test);
                } else {
                    let cluster = rt.block_on(start(1, |_, id| {
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

    for &backend in &engines {
        bench_groups(&mut group, &rt, root.path(), backend, quick_test);
    }
    group.finish();
}

criterion::criterion_group!(benches, bench_cluster);
criterion::criterion_main!(benches);
