//! Many raft groups per node on exactly two groups stores, whatever the number of groups:
//! one holds every group's log (`root/log`), the other every group's state machine
//! (`root/sm`), so the commits of all groups share each store's fsyncs. Raft group `g`
//! runs on group `g` of each store, with its snapshots in `root/snapshots/<g>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fsmstore::{Backend, Config, Engine, GroupStore, SyncMode};
use fsmstore_openraft::{LogStore, StateMachine};
use openraft::{BasicNode, Raft};

use super::router::Router;
use super::{Kv, Log, Node, Sm, raft_config, released};

/// What the helpers of this module fail with.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A node's two groups stores.
pub struct GroupStores {
    /// Every group's log: `root/log`, in [`SyncMode::NoSync`] whatever the node's mode,
    /// because a log store syncs where raft needs it.
    pub log: Box<dyn GroupStore>,
    /// Every group's state machine: `root/sm`, in the node's sync mode.
    pub sm: Box<dyn GroupStore>,
    snapshots: PathBuf,
}

impl GroupStores {
    /// Opens (or creates) the two groups stores of the node under `root`.
    pub fn open(backend: Backend, root: &Path, sync_mode: SyncMode) -> Result<Self, Error> {
        std::fs::create_dir_all(root)?;
        let log = fsmstore::open_groups(backend, root.join("log"), &Config::new(SyncMode::NoSync))?;
        let sm = fsmstore::open_groups(backend, root.join("sm"), &Config::new(sync_mode))?;
        Ok(Self {
            log,
            sm,
            snapshots: root.join("snapshots"),
        })
    }

    /// Raft group `group`'s log store and state machine, on group `group` of each store
    /// (created first where it does not exist yet).
    pub fn open_group(&self, group: u64) -> Result<(Log, Sm), Error> {
        let log = LogStore::new(Arc::<dyn Engine>::from(open_or_create(&*self.log, group)?))?;
        let sm = StateMachine::new(
            Arc::<dyn Engine>::from(open_or_create(&*self.sm, group)?),
            self.snapshots.join(group.to_string()),
            Kv,
        )?;
        Ok((log, sm))
    }

    /// Closes both stores (syncing them). A group still open keeps its store's engine
    /// open until its handle goes: close them first.
    pub fn close(self) -> Result<(), Error> {
        let log = self.log.close();
        self.sm.close()?;
        Ok(log?)
    }
}

/// Opens group `group` of `store`, creating it first when it does not exist.
fn open_or_create(store: &dyn GroupStore, group: u64) -> fsmstore::Result<Box<dyn Engine>> {
    match store.open_group(group) {
        Err(fsmstore::Error::NoSuchGroup(_)) => {
            store.create_group(group)?;
            store.open_group(group)
        }
        opened => opened,
    }
}

/// A running node of many raft groups and the two groups stores they live in.
pub struct GroupsNode {
    /// The node's id, the same in every group.
    pub id: u64,
    /// Each raft group's handle and stores, by group id.
    pub groups: BTreeMap<u64, Node>,
    stores: GroupStores,
}

impl GroupsNode {
    /// The node's two groups stores.
    pub fn stores(&self) -> &GroupStores {
        &self.stores
    }
}

/// Starts node `id` on the groups stores under `root`, one raft for each of `groups`
/// (with `config`), each registered with `router` under its group.
pub async fn start_groups(
    id: u64,
    backend: Backend,
    root: &Path,
    sync_mode: SyncMode,
    groups: impl IntoIterator<Item = u64>,
    config: &Arc<openraft::Config>,
    router: &Router,
) -> Result<GroupsNode, Error> {
    let mut node = GroupsNode {
        id,
        groups: BTreeMap::new(),
        stores: GroupStores::open(backend, root, sync_mode)?,
    };
    for group in groups {
        match start_group(&node, group, config, router).await {
            Ok(member) => {
                node.groups.insert(group, member);
            }
            Err(error) => {
                // The groups already running would keep the stores open.
                let _ = stop_groups(node, router).await;
                return Err(error);
            }
        }
    }
    Ok(node)
}

async fn start_group(
    node: &GroupsNode,
    group: u64,
    config: &Arc<openraft::Config>,
    router: &Router,
) -> Result<Node, Error> {
    let (log, sm) = node.stores.open_group(group)?;
    let (engine, log_engine, restores) = (
        sm.engine().clone(),
        log.engine().clone(),
        sm.restore_counter(),
    );
    let router = router.group(group);
    let raft = Raft::new(node.id, config.clone(), router.clone(), log, sm).await?;
    router.add(node.id, raft.clone());
    Ok(Node {
        raft,
        engine,
        log_engine,
        restores,
    })
}

/// Starts node 1 alone on new groups stores under `root`, makes each of `groups` a
/// one-node cluster and waits until it leads every one.
pub async fn start_groups_leader(
    backend: Backend,
    root: &Path,
    sync_mode: SyncMode,
    groups: impl IntoIterator<Item = u64>,
    router: &Router,
) -> Result<GroupsNode, Error> {
    let node = start_groups(1, backend, root, sync_mode, groups, &raft_config(), router).await?;
    for member in node.groups.values() {
        member
            .raft
            .initialize(BTreeMap::from([(1u64, BasicNode::default())]))
            .await?;
    }
    for member in node.groups.values() {
        member
            .raft
            .wait(Some(Duration::from_secs(10)))
            .current_leader(1, "leader")
            .await?;
    }
    Ok(node)
}

/// Stops every raft of `node`, waits until none of them uses its groups any more, then
/// closes the groups and the two stores.
pub async fn stop_groups(node: GroupsNode, router: &Router) -> Result<(), Error> {
    let GroupsNode { id, groups, stores } = node;
    for &group in groups.keys() {
        router.group(group).remove(id);
    }
    let shutdowns = groups.values().map(|member| member.raft.shutdown());
    for shutdown in futures_util::future::join_all(shutdowns).await {
        shutdown?;
    }
    let engines: Vec<Arc<dyn Engine>> = groups
        .into_values()
        .flat_map(|member| [member.engine, member.log_engine])
        .collect();
    if !released(&engines.iter().collect::<Vec<_>>()).await {
        return Err(format!("node {id}: the groups are still in use after shutdown").into());
    }
    // Each group's handle syncs it as it goes; the stores close once none is left.
    drop(engines);
    stores.close()
}
