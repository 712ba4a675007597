//! Raft RPCs to other nodes over HTTP (postcard bodies), and the network fault layer.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::FaultRequest;
use crate::app::TypeConfig;

/// The header naming the sender of a raft RPC, for the receiver's fault layer.
pub const FROM_HEADER: &str = "x-fsmstore-from";

/// How long a connection attempt may take: peers are on loopback, so a slow connect
/// means a peer that is gone.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A snapshot transfer is bounded by this at least, whatever openraft's RPC option says.
const MIN_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// The network fault layer: the peers cut off from this node and the delay of every
/// outgoing raft RPC.
#[derive(Debug, Default)]
pub struct Faults {
    state: RwLock<FaultRequest>,
}

impl Faults {
    /// Replaces the fault state; returns the previous one.
    pub fn set(&self, faults: FaultRequest) -> FaultRequest {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *state, faults)
    }

    /// The current fault state.
    pub fn get(&self) -> FaultRequest {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether raft traffic with `peer` is cut.
    pub fn is_blocked(&self, peer: u64) -> bool {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .blocked
            .contains(&peer)
    }

    /// The peers currently blocked.
    pub fn blocked(&self) -> BTreeSet<u64> {
        self.get().blocked
    }

    fn delay(&self) -> Duration {
        Duration::from_millis(
            self.state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .delay_ms,
        )
    }
}

/// The raft network of one node: an HTTP client shared by all its connections (so they
/// share a connection pool) and the fault layer.
#[derive(Clone)]
pub struct Network {
    id: u64,
    client: reqwest::Client,
    faults: Arc<Faults>,
    group: Option<u64>,
}

impl Network {
    /// The network of node `id`, under `faults`.
    pub fn new(id: u64, faults: Arc<Faults>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // Peers are on loopback: a proxy from the environment must not be used.
            .no_proxy()
            .build()?;
        Ok(Self {
            id,
            client,
            faults,
            group: None,
        })
    }

    /// The network of raft group `group` of a node of several groups: the same client
    /// and fault layer, its RPCs sent to the peers' `group` (`/raft/{group}/{rpc}`).
    /// Without it, RPCs go to `/raft/{rpc}`, as between nodes of one group.
    pub fn for_group(&self, group: u64) -> Self {
        Self {
            group: Some(group),
            ..self.clone()
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        Connection {
            network: self.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub struct Connection {
    network: Network,
    target: u64,
    addr: String,
}

/// Why an RPC failed, before it is cast into openraft's error of the call.
enum Failure {
    /// The peer cannot be reached now (blocked, refused, timed out, shut down): openraft
    /// backs off before it tries again.
    Unreachable(String),
    /// The exchange went wrong in a way a retry may fix at once.
    Network(String),
}

impl Failure {
    fn rpc(self) -> RPCError<TypeConfig> {
        match self {
            Failure::Unreachable(message) => {
                RPCError::Unreachable(Unreachable::from_string(message))
            }
            Failure::Network(message) => RPCError::Network(NetworkError::from_string(message)),
        }
    }

    fn streaming(self) -> StreamingError<TypeConfig> {
        match self {
            Failure::Unreachable(message) => {
                StreamingError::Unreachable(Unreachable::from_string(message))
            }
            Failure::Network(message) => {
                StreamingError::Network(NetworkError::from_string(message))
            }
        }
    }
}

impl Connection {
    /// Sends `body` to `route` of the peer and returns the response body.
    async fn post(&self, route: &str, body: Bytes, timeout: Duration) -> Result<Bytes, Failure> {
        let faults = &self.network.faults;
        let delay = faults.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if faults.is_blocked(self.target) {
            return Err(Failure::Unreachable(format!(
                "node {} is blocked by the fault layer",
                self.target
            )));
        }
        let url = match self.network.group {
            Some(group) => format!("http://{}/raft/{group}/{route}", self.addr),
            None => format!("http://{}/raft/{route}", self.addr),
        };
        let response = self
            .network
            .client
            .post(url)
            .header(FROM_HEADER, self.network.id.to_string())
            .header("content-type", "application/octet-stream")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport(error))?;
        if !status.is_success() {
            // A peer that refuses (blocked, shutting down) is treated as absent for now.
            return Err(Failure::Unreachable(format!(
                "node {} answered {status}: {}",
                self.target,
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(body)
    }

    fn transport(&self, error: reqwest::Error) -> Failure {
        let message = format!("node {} at {}: {error}", self.target, self.addr);
        if error.is_connect() || error.is_timeout() || error.is_request() {
            Failure::Unreachable(message)
        } else {
            Failure::Network(message)
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        route: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let body = postcard::to_stdvec(request)
            .map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        let body = self
            .post(route, Bytes::from(body), option.hard_ttl())
            .await
            .map_err(Failure::rpc)?;
        decode(&body).map_err(|failure| failure.rpc())
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    postcard::from_bytes(body)
        .map_err(|error| Failure::Network(format!("undecodable response: {error}")))
}

/// The body of a snapshot transfer: the length of the header (u32, big-endian), the
/// header (postcard of the vote and the snapshot meta), then the fsmstore stream.
pub fn snapshot_body(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + header.len() + data.len());
    body.extend_from_slice(&(header.len() as u32).to_be_bytes());
    body.extend_from_slice(header);
    body.extend_from_slice(data);
    body
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = std::fs::File;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("append", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("vote", &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("pre-vote", &rpc, &option).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("transfer-leader", &req, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, std::fs::File>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = postcard::to_stdvec(&(&vote, &snapshot.meta))
            .map_err(|error| StreamingError::Network(NetworkError::new(&error)))?;
        let mut file = snapshot.snapshot;
        // The file is read off the runtime's workers; the sender holds it in memory for
        // the request (the receiver streams it to disk as it arrives).
        let body = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(0))?;
            let mut data = Vec::new();
            file.read_to_end(&mut data)?;
            Ok(snapshot_body(&header, &data))
        })
        .await
        .map_err(|error| StreamingError::Network(NetworkError::new(&error)))?
        .map_err(|error| {
            StreamingError::StorageError(openraft::StorageError::read_snapshot(
                None,
                openraft::error::ErrorSource::from_error(&error),
            ))
        })?;
        let timeout = option.hard_ttl().max(MIN_SNAPSHOT_TIMEOUT);
        let send = std::pin::pin!(self.post("snapshot", Bytes::from(body), timeout));
        let cancel = std::pin::pin!(cancel);
        match futures_util::future::select(send, cancel).await {
            futures_util::future::Either::Left((sent, _)) => {
                let body = sent.map_err(Failure::streaming)?;
                decode(&body).map_err(Failure::streaming)
            }
            futures_util::future::Either::Right((closed, _)) => Err(StreamingError::Closed(closed)),
        }
    }
}
