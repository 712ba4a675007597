//! Three raft nodes in one process on one fsmstore engine, with an in-process network:
//! initialise, write keys, build a snapshot, add a learner that catches up by the
//! snapshot, then restart a node from its directories and watch it skip the restore and
//! catch up from the log.
//!
//! ```text
//! cargo run -p fsmstore-openraft --example cluster -- --engine fjall
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::router::Router;
use common::{Request, TypeConfig, open_node};
use fsmstore::{Backend, Engine, SyncMode};
use openraft::alias::LogIdOf;
use openraft::{BasicNode, Config, Raft};

type Error = Box<dyn std::error::Error + Send + Sync>;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

struct Node {
    raft: Raft<TypeConfig, common::Sm>,
    engine: Arc<dyn Engine>,
    log_engine: Arc<dyn Engine>,
    restores: Arc<AtomicU64>,
}

async fn start(id: u64, backend: Backend, root: &Path, router: &Router) -> Result<Node, Error> {
    let (log, sm) = open_node(backend, &root.join(format!("node{id}")), SyncMode::NoSync);
    let (engine, log_engine, restores) = (
        sm.engine().clone(),
        log.engine().clone(),
        sm.restore_counter(),
    );
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // Purge the log right behind each snapshot, so a new node must take the snapshot.
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Default::default()
    };
    let raft = Raft::new(id, Arc::new(config.validate()?), router.clone(), log, sm).await?;
    router.add(id, raft.clone());
    Ok(Node {
        raft,
        engine,
        log_engine,
        restores,
    })
}

async fn stop(node: Node, router: &Router, id: u64) -> Result<(), Error> {
    router.remove(id);
    node.raft.shutdown().await?;
    drop(node.raft);
    // The stores close when the raft core's tasks have let go of them.
    while Arc::strong_count(&node.engine) > 1 || Arc::strong_count(&node.log_engine) > 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn set(key: String, value: String) -> Request {
    Request::Set { key, value }
}

/// Writes through `raft`, retrying while it re-establishes its leadership (after a
/// follower stops, for instance).
async fn write(
    raft: &Raft<TypeConfig, common::Sm>,
    request: Request,
) -> Result<LogIdOf<TypeConfig>, Error> {
    let mut attempts = 0;
    loop {
        match raft.client_write(request.clone()).await {
            Ok(written) => return Ok(written.log_id),
            Err(error) if attempts < 50 && error.forward_to_leader().is_some() => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

fn engine_from_args() -> Result<Backend, Error> {
    let mut args = std::env::args().skip(1);
    let mut backend = Backend::Redb;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--engine" => backend = args.next().ok_or("--engine needs a name")?.parse()?,
            other => {
                return Err(
                    format!("unknown argument {other:?}; usage: cluster [--engine NAME]").into(),
                );
            }
        }
    }
    if backend == Backend::Memory {
        return Err("the restart needs a durable engine: pick redb, fjall, heed or rocksdb".into());
    }
    Ok(backend)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backend = engine_from_args()?;
    let root = tempfile::tempdir()?;
    let router = Router::default();
    println!(
        "engine {}, directories under {}",
        backend.name(),
        root.path().display()
    );

    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, backend, root.path(), &router).await?);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[&1].raft.initialize(members).await?;
    let leader = nodes[&1]
        .raft
        .wait(TIMEOUT)
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await?;
    let leader = leader.current_leader.ok_or("no leader")?;
    println!("node {leader} leads");

    let mut last = None;
    for i in 0..20 {
        last = Some(
            write(
                &nodes[&leader].raft,
                set(format!("key/{i:02}"), format!("{i}")),
            )
            .await?,
        );
    }
    let last = last.ok_or("nothing written")?;
    println!("wrote 20 keys, last log index {}", last.index);

    nodes[&leader].raft.trigger().snapshot().await?;
    nodes[&leader]
        .raft
        .wait(TIMEOUT)
        .snapshot(last, "snapshot")
        .await?;
    nodes[&leader]
        .raft
        .wait(TIMEOUT)
        .purged(Some(last), "purged")
        .await?;
    println!(
        "node {leader}: snapshot at log index {}, log purged up to it",
        last.index
    );

    nodes.insert(4, start(4, backend, root.path(), &router).await?);
    nodes[&leader]
        .raft
        .add_learner(4, BasicNode::default(), true)
        .await?;
    nodes[&4]
        .raft
        .wait(TIMEOUT)
        .applied_index_at_least(Some(last.index), "learner")
        .await?;
    println!(
        "learner 4 caught up: {} restore(s), key/19 = {:?}",
        nodes[&4].restores.load(Ordering::Relaxed),
        nodes[&4]
            .engine
            .get(b"key/19")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()),
    );

    let follower = (1..=3).find(|id| *id != leader).ok_or("no follower")?;
    let node = nodes.remove(&follower).ok_or("no such node")?;
    node.raft
        .wait(TIMEOUT)
        .applied_index_at_least(Some(last.index), "follower")
        .await?;
    node.raft.trigger().snapshot().await?;
    let snapshot = node
        .raft
        .wait(TIMEOUT)
        .metrics(|m| m.snapshot.is_some(), "follower snapshot")
        .await?;
    let snapshot = snapshot.snapshot.ok_or("no snapshot")?;
    stop(node, &router, follower).await?;
    println!(
        "node {follower}: snapshot at log index {}, stopped",
        snapshot.index
    );
    let mut newest = last;
    for i in 20..25 {
        newest = write(
            &nodes[&leader].raft,
            set(format!("key/{i:02}"), format!("{i}")),
        )
        .await?;
    }
    let node = start(follower, backend, root.path(), &router).await?;
    node.raft
        .wait(TIMEOUT)
        .applied_index_at_least(Some(newest.index), "restarted")
        .await?;
    let restores = node.restores.load(Ordering::Relaxed);
    println!(
        "node {follower} restarted from its directories: {} restore(s) ({}), caught up to log index {}, key/24 = {:?}",
        restores,
        if restores == 0 {
            "skipped: the store already covers the snapshot"
        } else {
            "restored"
        },
        newest.index,
        node.engine
            .get(b"key/24")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()),
    );
    nodes.insert(follower, node);

    let metrics = nodes[&leader]
        .raft
        .wait(TIMEOUT)
        .metrics(|_| true, "metrics")
        .await?;
    let voters: BTreeSet<u64> = metrics.membership_config.voter_ids().collect();
    println!("voters {voters:?}; shutting down");
    let ids: Vec<u64> = nodes.keys().copied().collect();
    for id in ids {
        if let Some(node) = nodes.remove(&id) {
            stop(node, &router, id).await?;
        }
    }
    Ok(())
}
