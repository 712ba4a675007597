//! An in-process network: each call goes straight to the target's `Raft` handle.
//!
//! The handles are keyed by (group id, node id), so one router serves every raft group of
//! every node of a process. A `Router` is the network of one group ([`Router::group`]
//! gives the same table seen from another group); `Router::default()` is group 0, the
//! only group of a node that runs one.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::RaftStateMachine;
use openraft::{BasicNode, OptionalSend, Raft};

use super::{Sm, TypeConfig};

/// The raft handles of one process by (group id, node id).
type Rafts<SM> = BTreeMap<(u64, u64), Raft<TypeConfig, SM>>;

/// The raft handles of one process by (group, node), seen from one group; for any state
/// machine (the tests' by default, the benches' in-memory one too).
pub struct Router<SM: RaftStateMachine<TypeConfig> = Sm> {
    rafts: Arc<Mutex<Rafts<SM>>>,
    group: u64,
}

impl<SM: RaftStateMachine<TypeConfig>> Clone for Router<SM> {
    fn clone(&self) -> Self {
        Self {
            rafts: self.rafts.clone(),
            group: self.group,
        }
    }
}

impl<SM: RaftStateMachine<TypeConfig>> Default for Router<SM> {
    /// An empty table, seen from group 0.
    fn default() -> Self {
        Self {
            rafts: Arc::default(),
            group: 0,
        }
    }
}

/// A connection to one node's raft of one group through the router.
pub struct Connection<SM: RaftStateMachine<TypeConfig> = Sm> {
    router: Router<SM>,
    target: u64,
}

#[derive(Debug)]
struct NotRunning {
    group: u64,
    node: u64,
}

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "group {} is not running on node {}",
            self.group, self.node
        )
    }
}

impl std::error::Error for NotRunning {}

impl<SM: RaftStateMachine<TypeConfig>> Router<SM> {
    /// The same table, as the network of group `group`: a raft of that group is given
    /// this, and its RPCs reach that group's raft on the target node.
    pub fn group(&self, group: u64) -> Self {
        Router {
            rafts: self.rafts.clone(),
            group,
        }
    }

    /// Registers (or replaces) node `id`'s raft of this group.
    pub fn add(&self, id: u64, raft: Raft<TypeConfig, SM>) {
        self.rafts
            .lock()
            .expect("router lock")
            .insert((self.group, id), raft);
    }

    /// Unregisters node `id`'s raft of this group and returns it.
    pub fn remove(&self, id: u64) -> Option<Raft<TypeConfig, SM>> {
        self.rafts
            .lock()
            .expect("router lock")
            .remove(&(self.group, id))
    }

    /// Unregisters every raft of every group and returns them.
    pub fn take_all(&self) -> Vec<Raft<TypeConfig, SM>> {
        std::mem::take(&mut *self.rafts.lock().expect("router lock"))
            .into_values()
            .collect()
    }

    fn get(&self, id: u64) -> Result<Raft<TypeConfig, SM>, Unreachable<TypeConfig>> {
        self.rafts
            .lock()
            .expect("router lock")
            .get(&(self.group, id))
            .cloned()
            .ok_or_else(|| {
                Unreachable::new(&NotRunning {
                    group: self.group,
                    node: id,
                })
            })
    }
}

impl<SM: RaftStateMachine<TypeConfig>> RaftNetworkFactory<TypeConfig> for Router<SM> {
    type Network = Connection<SM>;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection<SM> {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

impl<SM: RaftStateMachine<TypeConfig>> RaftNetworkV2<TypeConfig> for Connection<SM> {
    type SnapshotData = SM::SnapshotData;

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
        snapshot: SnapshotOf<TypeConfig, SM::SnapshotData>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let raft = self.router.get(self.target)?;
        raft.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
    }
}
