//! Three raft nodes in one process on one fsmstore engine, with an in-process network:
//! initialise, write keys, build a snapshot, add a learner that catches up by the
//! snapshot, then restart a node from its directories and watch it skip the restore and
//! catch up from the log.
//!
//! With `--groups N` (N > 1) each node serves N raft groups on exactly two groups
//! stores, one for every group's log and one for every group's state machine: write
//! into every group, snapshot every group on one node, restart that node from its
//! directories and watch every group skip its restore and catch up.
//!
//! ```text
//! cargo run -p fsmstore-openraft --example cluster -- --engine fjall
//! cargo run -p fsmstore-openraft --example cluster -- --engine fjall --groups 4
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::groups::{GroupsNode, start_groups, stop_groups};
use common::router::Router;
use common::{Request, TypeConfig, open_node};
use fsmstore::{Backend, Engine, SyncMode};
use openraft::alias::LogIdOf;
use openraft::{BasicNode, Raft};

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
    let raft = Raft::new(id, common::purging_raft_config(), router.clone(), log, sm).await?;
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
    if !common::released(&[&node.engine, &node.log_engine]).await {
        return Err(format!("node {id}: the stores are still in use after shutdown").into());
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

/// Three raft nodes in one process on one fsmstore engine.
#[derive(clap::Parser)]
struct Args {
    /// The engine of every store (a durable one: the example restarts a node).
    #[arg(long, default_value = "redb", value_parser = durable_engine)]
    engine: Backend,
    /// How many raft groups each node serves, on two groups stores.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    groups: u64,
}

fn durable_engine(name: &str) -> Result<Backend, String> {
    match name.parse::<Backend>().map_err(|error| error.to_string())? {
        Backend::Memory => {
            Err("the restart needs a durable engine: pick redb, fjall, heed or rocksdb".into())
        }
        backend => Ok(backend),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = <Args as clap::Parser>::parse();
    match args.groups {
        1 => one_group(args.engine).await,
        groups => many_groups(args.engine, groups).await,
    }
}

/// Three nodes of one raft group, each on a store for its log and one for its state
/// machine, and a learner.
async fn one_group(backend: Backend) -> Result<(), Error> {
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

/// Writes into group `group` through its leader, following the leader as it changes
/// (after a node stops, for instance).
async fn write_group(
    nodes: &BTreeMap<u64, GroupsNode>,
    group: u64,
    request: Request,
) -> Result<LogIdOf<TypeConfig>, Error> {
    let mut target = leader_of(nodes, group).await.unwrap_or(1);
    for _ in 0..50 {
        let Some(node) = nodes.get(&target) else {
            // A stopped node is still named leader until the others elect a new one.
            tokio::time::sleep(Duration::from_millis(100)).await;
            target = leader_of(nodes, group).await.unwrap_or(1);
            continue;
        };
        match node.groups[&group].raft.client_write(request.clone()).await {
            Ok(written) => return Ok(written.log_id),
            Err(error) => match error.forward_to_leader() {
                Some(forward) => {
                    match forward.leader_id {
                        Some(leader) if leader != target => target = leader,
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    };
                }
                None => return Err(error.into()),
            },
        }
    }
    Err(format!("group {group}: no leader took the write").into())
}

/// The leader of `group` as the running nodes know it.
async fn leader_of(nodes: &BTreeMap<u64, GroupsNode>, group: u64) -> Option<u64> {
    for node in nodes.values() {
        if let Some(leader) = node.groups[&group].raft.current_leader().await {
            return Some(leader);
        }
    }
    None
}

/// Three nodes of `groups` raft groups, each node on two groups stores: one for every
/// group's log, one for every group's state machine.
async fn many_groups(backend: Backend, groups: u64) -> Result<(), Error> {
    let root = tempfile::tempdir()?;
    let router = Router::default();
    let config = common::purging_raft_config();
    let node_root = |id: u64| root.path().join(format!("node{id}"));
    println!(
        "engine {}, {groups} groups, directories under {}",
        backend.name(),
        root.path().display()
    );

    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        let node = start_groups(
            id,
            backend,
            &node_root(id),
            SyncMode::NoSync,
            0..groups,
            &config,
            &router,
        )
        .await?;
        nodes.insert(id, node);
    }
    println!("nodes 1-3: {groups} groups each, on two stores per node (log, sm)");
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    for group in 0..groups {
        nodes[&1].groups[&group]
            .raft
            .initialize(members.clone())
            .await?;
    }
    for group in 0..groups {
        let metrics = nodes[&1].groups[&group]
            .raft
            .wait(TIMEOUT)
            .metrics(|m| m.current_leader.is_some(), "leader")
            .await?;
        println!(
            "group {group}: node {} leads",
            metrics.current_leader.ok_or("no leader")?
        );
    }

    let mut last = BTreeMap::new();
    for group in 0..groups {
        for i in 0..10 {
            let request = set(format!("key/{i:02}"), format!("g{group}-{i}"));
            last.insert(group, write_group(&nodes, group, request).await?);
        }
    }
    println!("wrote 10 keys into each group");

    // The node to restart leads no group if it can: its groups then keep their leaders.
    let mut leaders = BTreeSet::new();
    for group in 0..groups {
        leaders.extend(leader_of(&nodes, group).await);
    }
    let restarted = (1..=3).rev().find(|id| !leaders.contains(id)).unwrap_or(3);
    let node = nodes.remove(&restarted).ok_or("no such node")?;
    for (&group, member) in &node.groups {
        member
            .raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(last[&group].index), "caught up")
            .await?;
        member.raft.trigger().snapshot().await?;
        let metrics = member
            .raft
            .wait(TIMEOUT)
            .metrics(|m| m.snapshot.is_some(), "snapshot")
            .await?;
        let snapshot = metrics.snapshot.ok_or("no snapshot")?;
        println!(
            "node {restarted}, group {group}: snapshot at log index {}",
            snapshot.index
        );
    }
    stop_groups(node, &router).await?;
    println!("node {restarted}: stopped, its two stores closed");

    let mut newest = BTreeMap::new();
    for group in 0..groups {
        for i in 10..15 {
            let request = set(format!("key/{i:02}"), format!("g{group}-{i}"));
            newest.insert(group, write_group(&nodes, group, request).await?);
        }
    }
    println!("wrote 5 more keys into each group");

    let node = start_groups(
        restarted,
        backend,
        &node_root(restarted),
        SyncMode::NoSync,
        0..groups,
        &config,
        &router,
    )
    .await?;
    println!("node {restarted}: restarted from its directories");
    let mut restored = Vec::new();
    for (&group, member) in &node.groups {
        member
            .raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(newest[&group].index), "restarted")
            .await?;
        let restores = member.restores.load(Ordering::Relaxed);
        let value = member
            .engine
            .get(b"key/14")?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        println!(
            "node {restarted}, group {group}: {restores} restore(s), caught up to log index {}, key/14 = {value:?}",
            newest[&group].index
        );
        if restores != 0 {
            restored.push(group);
        }
        if value.as_deref() != Some(format!("g{group}-14").as_str()) {
            return Err(format!("group {group}: key/14 is {value:?} after the restart").into());
        }
    }
    if !restored.is_empty() {
        return Err(
            format!("groups {restored:?} restored a snapshot their store already covers").into(),
        );
    }
    println!("node {restarted}: every group skipped its restore");
    let stats = node.stores().log.commit_stats();
    println!(
        "node {restarted}, log store: {} commits of {groups} groups in {} fsyncs",
        stats.commits, stats.durable_rounds
    );
    nodes.insert(restarted, node);

    println!("shutting down");
    let ids: Vec<u64> = nodes.keys().copied().collect();
    for id in ids {
        if let Some(node) = nodes.remove(&id) {
            stop_groups(node, &router).await?;
        }
    }
    Ok(())
}
