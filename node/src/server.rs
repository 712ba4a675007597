//! The HTTP routes: the JSON client API and the raft RPCs between nodes.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use fsmstore::{Engine, SyncMode};
use fsmstore_openraft::{Observer, OnRestart, SnapshotReceiver};
use futures_util::StreamExt;
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::async_runtime::WatchReceiver;
use openraft::error::{
    ClientWriteError, ForwardToLeader, InitializeError, LinearizableReadError, RaftError,
};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::{BasicNode, ReadPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    AddLearnerRequest, CasRequest, CasResponse, ChangeMembershipRequest, Empty, ErrorBody,
    FaultRequest, IndexResponse, InitRequest, MetricsResponse, PurgeRequest, ReadResponse,
    SnapshotResponse, StateResponse, WriteRequest, kind,
};
use crate::app::{KEY_PREFIX, NodeRaft, Request, TypeConfig, store_key};
use crate::network::{FROM_HEADER, Faults};

/// Raft RPC bodies (a batch of entries) may be larger than axum's default limit.
const RAFT_BODY_LIMIT: usize = 256 << 20;

/// What the routes of one raft group share: its raft, its state machine's store and the
/// node's fault layer.
pub struct NodeState {
    /// This node's id.
    pub id: u64,
    /// The group's id when the node serves several groups; `None` for a node of one
    /// group, whose answers then look as they did before groups existed.
    pub group: Option<u64>,
    /// The raft.
    pub raft: NodeRaft,
    /// The state machine's store, for reads.
    pub engine: Arc<dyn Engine>,
    /// The state machine's observer.
    pub observer: Observer<TypeConfig>,
    /// What the state machine found at start, before openraft restored anything
    /// ([`on_restart_name`] of the observer then).
    pub on_start: Option<String>,
    /// The network fault layer.
    pub faults: Arc<Faults>,
    /// The state machine's snapshot directory, where received snapshots are written.
    pub snapshot_dir: PathBuf,
    /// The bound of every client request.
    pub request_timeout: Duration,
    /// The engine's name.
    pub engine_name: String,
    /// The stores' sync mode.
    pub sync_mode: SyncMode,
    /// Applied entries a snapshot leaves in the log (openraft's purge policy).
    pub max_in_snapshot_log_to_keep: u64,
}

type Shared = Arc<NodeState>;

/// Every group's state, indexed by group id.
type Groups = Arc<Vec<Shared>>;

/// The query parameter naming a route's raft group.
pub const GROUP_PARAM: &str = "group";

/// Every route of a node serving `groups` (group `g` at index `g`, at least one).
///
/// Client routes, `/metrics`, `/state` and `/admin/{snapshot,purge}` act on the group
/// named by `?group=G` (default 0); `/cluster/init` without `?group=` initialises every
/// group; membership changes act on one group (`?group=G`, default 0); `/admin/fault`
/// takes no group and covers the traffic of every group. A group the node does not
/// serve, or a `group` that is not a number, is a 400 `bad-request`. Raft RPCs of group
/// `g` go to `/raft/{g}/{rpc}`; `/raft/{rpc}` is group 0, the routes of a node of one
/// group.
pub fn router(groups: Vec<Shared>) -> Router {
    assert!(!groups.is_empty(), "a node serves at least one group");
    let raft = Router::new()
        .route("/raft/{rpc}", post(raft_default_group))
        .route("/raft/{group}/{rpc}", post(raft_group))
        .layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT));
    Router::new()
        .route("/cluster/init", post(init))
        .route("/cluster/add-learner", post(add_learner))
        .route("/cluster/change-membership", post(change_membership))
        .route("/kv/write", post(write))
        .route("/kv/cas", post(cas))
        .route("/kv/read/{*key}", get(read))
        .route("/kv/linearizable-read/{*key}", get(linearizable_read))
        .route("/metrics", get(metrics))
        .route("/state", get(state_route))
        .route("/admin/snapshot", post(admin_snapshot))
        .route("/admin/purge", post(admin_purge))
        .route("/admin/fault", post(admin_fault))
        .merge(raft)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, kind::BAD_REQUEST, "no such route")
        })
        .with_state(Arc::new(groups))
}

/// The group named by the query's `group` parameter, if any.
fn named_group(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let mut named = None;
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == GROUP_PARAM {
            let group = value.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("bad {GROUP_PARAM} {value:?}: not a group id"))
            })?;
            named = Some(group);
        }
    }
    Ok(named)
}

/// The state of `group`, or a bad request naming the groups this node serves.
fn group_state(groups: &[Shared], group: u64) -> Result<Shared, ApiError> {
    usize::try_from(group)
        .ok()
        .and_then(|index| groups.get(index))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "no group {group}: this node serves groups 0..{}",
                groups.len()
            ))
        })
}

/// The state of the group a client route acts on: `?group=G`, or group 0.
fn group_of(groups: &[Shared], query: Option<&str>) -> Result<Shared, ApiError> {
    group_state(groups, named_group(query)?.unwrap_or(0))
}

/// An error answer of the client API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, kind: &str, message: impl Display) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: kind.to_owned(),
                message: message.to_string(),
                leader: None,
                leader_addr: None,
            },
        }
    }

    /// Names the group in the message, on a node of several groups.
    fn in_group(mut self, state: &NodeState) -> Self {
        if let Some(group) = state.group {
            self.body.message = format!("group {group}: {}", self.body.message);
        }
        self
    }

    fn bad_request(message: impl Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind::BAD_REQUEST, message)
    }

    fn unknown(message: impl Display) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, kind::UNKNOWN, message)
    }

    fn storage(message: impl Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, kind::STORAGE, message)
    }

    fn timeout(what: &str, after: Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            kind::TIMEOUT,
            format!("{what} not done within {after:?}; its outcome is unknown"),
        )
    }

    fn not_leader(state: &NodeState, forward: &ForwardToLeader<TypeConfig>) -> Self {
        Self::new(
            StatusCode::MISDIRECTED_REQUEST,
            kind::NOT_LEADER,
            format!("node {} is not the leader; nothing was proposed", state.id),
        )
        .with_leader(state, forward)
    }

    fn with_leader(mut self, state: &NodeState, forward: &ForwardToLeader<TypeConfig>) -> Self {
        let leader = forward
            .leader_id
            .or_else(|| state.raft.metrics().borrow_watched().current_leader);
        self.body.leader = leader;
        self.body.leader_addr = match &forward.leader_node {
            Some(node) => Some(node.addr.clone()),
            None => leader.and_then(|leader| node_addr(state, leader)),
        };
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// The address of node `id` in the membership this node knows.
fn node_addr(state: &NodeState, id: u64) -> Option<String> {
    let metrics = state.raft.metrics().borrow_watched().clone();
    metrics
        .membership_config
        .membership()
        .get_node(&id)
        .map(|node| node.addr.clone())
}

type ApiResult<T> = Result<axum::Json<T>, ApiError>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("bad JSON: {error}")))
}

/// Runs `future` within the request timeout; past it the answer is `timeout` (unknown).
async fn bounded<T>(
    state: &NodeState,
    what: &str,
    future: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(state.request_timeout, future)
        .await
        .unwrap_or_else(|_| Err(ApiError::timeout(what, state.request_timeout)))
}

/// The answer to a failed write or membership change. Only a refusal openraft makes
/// before it appends anything is a definite failure; everything else may have been
/// appended and is `unknown`.
fn write_error(
    state: &NodeState,
    error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
) -> ApiError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            ApiError::not_leader(state, &forward)
        }
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward)) => ApiError::unknown(
            format!("the entry was discarded on a leader change; it may still commit: {forward}"),
        )
        .with_leader(state, &forward),
        RaftError::APIError(
            error @ (ClientWriteError::ChangeMembershipError(_)
            | ClientWriteError::PreconditionFailed(_)),
        ) => ApiError::new(StatusCode::CONFLICT, kind::CONFLICT, error),
        RaftError::Fatal(fatal) => ApiError::unknown(format!("raft stopped: {fatal}")),
    }
}

fn check_key(state: &NodeState, key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request("the key is empty"));
    }
    // Checked here: a key the store refuses would fail the apply and stop the node.
    let max = state.engine.max_key_len() - KEY_PREFIX.len();
    if key.len() > max {
        return Err(ApiError::bad_request(format!(
            "the key is {} bytes; at most {max}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), ApiError> {
    if value.len() > fsmstore::MAX_VALUE_LEN {
        return Err(ApiError::bad_request(format!(
            "the value is {} bytes; at most {}",
            value.len(),
            fsmstore::MAX_VALUE_LEN
        )));
    }
    Ok(())
}

async fn init(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Empty> {
    let targets = match named_group(query.as_deref())? {
        Some(group) => vec![group_state(&groups, group)?],
        None => groups.to_vec(),
    };
    let request: InitRequest = parse(&body)?;
    if request.members.is_empty() {
        return Err(ApiError::bad_request("no members"));
    }
    let members: BTreeMap<u64, BasicNode> = request
        .members
        .into_iter()
        .map(|(id, addr)| (id, BasicNode::new(addr)))
        .collect();
    // Every group is tried even after one fails: a retry after a partial failure (one
    // group already initialised) then still brings up the others.
    let mut first_error = None;
    for state in &targets {
        let initialised = bounded(state, "init", async {
            state
                .raft
                .initialize(members.clone())
                .await
                .map_err(|error| match error {
                    RaftError::APIError(error @ InitializeError::NotAllowed(_)) => {
                        ApiError::new(StatusCode::CONFLICT, kind::CONFLICT, error)
                    }
                    RaftError::APIError(error) => ApiError::bad_request(error),
                    RaftError::Fatal(fatal) => ApiError::unknown(format!("raft stopped: {fatal}")),
                })
        })
        .await;
        if let Err(error) = initialised {
            first_error.get_or_insert(error.in_group(state));
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(axum::Json(Empty {})),
    }
}

async fn add_learner(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<IndexResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let request: AddLearnerRequest = parse(&body)?;
    if request.addr.is_empty() {
        return Err(ApiError::bad_request("the address is empty"));
    }
    let written = bounded(&state, "add-learner", async {
        state
            .raft
            .add_learner(request.id, BasicNode::new(request.addr), true)
            .await
            .map_err(|error| write_error(&state, error))
    })
    .await?;
    Ok(axum::Json(IndexResponse {
        index: written.log_id.index,
    }))
}

async fn change_membership(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<IndexResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let request: ChangeMembershipRequest = parse(&body)?;
    if request.members.is_empty() {
        return Err(ApiError::bad_request("no members"));
    }
    let written = bounded(&state, "change-membership", async {
        state
            .raft
            .change_membership(request.members, false)
            .await
            .map_err(|error| write_error(&state, error))
    })
    .await?;
    Ok(axum::Json(IndexResponse {
        index: written.log_id.index,
    }))
}

async fn propose(
    state: &NodeState,
    request: Request,
) -> Result<openraft::raft::ClientWriteResponse<TypeConfig>, ApiError> {
    bounded(state, "write", async {
        state
            .raft
            .client_write(request)
            .await
            .map_err(|error| write_error(state, error))
    })
    .await
}

async fn write(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<IndexResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let request: WriteRequest = parse(&body)?;
    check_key(&state, &request.key)?;
    check_value(&request.value)?;
    let written = propose(
        &state,
        Request::Set {
            key: request.key,
            value: request.value,
        },
    )
    .await?;
    Ok(axum::Json(IndexResponse {
        index: written.log_id.index,
    }))
}

async fn cas(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<CasResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let request: CasRequest = parse(&body)?;
    check_key(&state, &request.key)?;
    check_value(&request.new)?;
    let written = propose(
        &state,
        Request::Cas {
            key: request.key,
            expected: request.expected,
            new: request.new,
        },
    )
    .await?;
    Ok(axum::Json(CasResponse {
        swapped: written.data.swapped,
        previous: written.data.previous,
        index: written.log_id.index,
    }))
}

fn get_value(state: &NodeState, key: &str) -> Result<Option<String>, ApiError> {
    let value = state
        .engine
        .get(store_key(key).as_bytes())
        .map_err(ApiError::storage)?;
    Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

async fn read(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    Path(key): Path<String>,
) -> ApiResult<ReadResponse> {
    let state = group_of(&groups, query.as_deref())?;
    check_key(&state, &key)?;
    Ok(axum::Json(ReadResponse {
        value: get_value(&state, &key)?,
    }))
}

async fn linearizable_read(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    Path(key): Path<String>,
) -> ApiResult<ReadResponse> {
    let state = group_of(&groups, query.as_deref())?;
    check_key(&state, &key)?;
    // Returns once this node has confirmed its leadership with a quorum and applied up
    // to the read index: every write acknowledged before this call is then visible.
    bounded(&state, "linearizable read", async {
        state
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|error| match error {
                RaftError::APIError(LinearizableReadError::ForwardToLeader(forward)) => {
                    ApiError::not_leader(&state, &forward)
                }
                RaftError::APIError(error) => ApiError::unknown(error),
                RaftError::Fatal(fatal) => ApiError::unknown(format!("raft stopped: {fatal}")),
            })
    })
    .await?;
    Ok(axum::Json(ReadResponse {
        value: get_value(&state, &key)?,
    }))
}

/// What a restart would do with the current snapshot, as the metrics name it:
/// `no-snapshot`, `covered` or `restore` (`None` when the store cannot be read).
pub fn on_restart_name(observer: &Observer<TypeConfig>) -> Option<String> {
    observer.on_restart().ok().map(|on_restart| {
        match on_restart {
            OnRestart::NoSnapshot => "no-snapshot",
            OnRestart::Covered => "covered",
            OnRestart::Restore => "restore",
        }
        .to_owned()
    })
}

async fn metrics(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
) -> ApiResult<MetricsResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let metrics = state.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership();
    let on_restart = on_restart_name(&state.observer);
    Ok(axum::Json(MetricsResponse {
        id: state.id,
        group: state.group,
        state: format!("{:?}", metrics.state),
        current_leader: metrics.current_leader,
        current_term: metrics.current_term,
        last_log_index: metrics.last_log_index,
        last_applied: metrics.last_applied.map(|log_id| log_id.index),
        snapshot_index: metrics.snapshot.map(|log_id| log_id.index),
        purged_index: metrics.purged.map(|log_id| log_id.index),
        voters: membership.voter_ids().collect(),
        learners: membership.learner_ids().collect(),
        engine: state.engine_name.clone(),
        sync_mode: state.sync_mode.as_str().to_owned(),
        on_restart,
        on_start: state.on_start.clone(),
        restores: state.observer.restores(),
        restores_at_start: state.observer.restores_at_start(),
        restores_received: state.observer.restores_received(),
        installs_skipped: state.observer.installs_skipped(),
    }))
}

async fn state_route(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
) -> ApiResult<StateResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let mut last_applied = None;
    let mut data = BTreeMap::new();
    // One view: the data and the applied log id are of the same commit.
    state
        .engine
        .view(&mut |view| {
            last_applied = view.get_meta(fsmstore_openraft::META_LAST_APPLIED)?;
            data = view
                .range(&fsmstore::RangeQuery::prefix(KEY_PREFIX))?
                .into_iter()
                .map(|(key, value)| {
                    (
                        String::from_utf8_lossy(&key[KEY_PREFIX.len()..]).into_owned(),
                        String::from_utf8_lossy(&value).into_owned(),
                    )
                })
                .collect();
            Ok(())
        })
        .map_err(ApiError::storage)?;
    let last_applied = match last_applied {
        Some(bytes) => {
            let log_id: LogIdOf<TypeConfig> =
                serde_json::from_slice(&bytes).map_err(ApiError::storage)?;
            Some(log_id.index)
        }
        None => None,
    };
    Ok(axum::Json(StateResponse { last_applied, data }))
}

async fn admin_snapshot(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
) -> ApiResult<SnapshotResponse> {
    let state = group_of(&groups, query.as_deref())?;
    let applied = state
        .raft
        .metrics()
        .borrow_watched()
        .last_applied
        .map(|id| id.index);
    let Some(applied) = applied else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            kind::CONFLICT,
            "nothing applied yet: no snapshot to build",
        ));
    };
    state
        .raft
        .trigger()
        .snapshot()
        .await
        .map_err(|fatal| ApiError::unknown(format!("raft stopped: {fatal}")))?;
    let metrics = state
        .raft
        .wait(Some(state.request_timeout))
        .metrics(
            |m| m.snapshot.as_ref().is_some_and(|s| s.index >= applied),
            "snapshot",
        )
        .await
        .map_err(|_| ApiError::timeout("snapshot", state.request_timeout))?;
    Ok(axum::Json(SnapshotResponse {
        snapshot_index: metrics.snapshot.map_or(applied, |s| s.index),
    }))
}

async fn admin_purge(
    State(groups): State<Groups>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Empty> {
    let state = group_of(&groups, query.as_deref())?;
    let request: PurgeRequest = parse(&body)?;
    // openraft's purge policy, run after each snapshot, purges up to the snapshot's index
    // less the entries it keeps, and asserts (in debug builds) that it never lowers the
    // mark: a request above that mark would abort the next policy purge, so it is refused.
    let snapshot = state.raft.metrics().borrow_watched().snapshot;
    let allowed = snapshot.and_then(|s| s.index.checked_sub(state.max_in_snapshot_log_to_keep));
    if allowed.is_none_or(|allowed| request.upto > allowed) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            kind::CONFLICT,
            format!(
                "cannot purge up to {}: at most up to the snapshot's index less \
                 --max-in-snapshot-log-to-keep ({}), {}",
                request.upto,
                state.max_in_snapshot_log_to_keep,
                allowed.map_or("no snapshot covers any entry yet".to_owned(), |a| a
                    .to_string())
            ),
        ));
    }
    state
        .raft
        .trigger()
        .purge_log(request.upto)
        .await
        .map_err(|fatal| ApiError::unknown(format!("raft stopped: {fatal}")))?;
    Ok(axum::Json(Empty {}))
}

/// The fault layer is the node's, not a group's: it takes no `?group=` and every
/// group's raft is told of healed peers.
async fn admin_fault(State(groups): State<Groups>, body: Bytes) -> ApiResult<Empty> {
    let request: FaultRequest = parse(&body)?;
    let previous = groups[0].faults.set(request.clone());
    let healed: Vec<u64> = previous
        .blocked
        .difference(&request.blocked)
        .copied()
        .collect();
    if !healed.is_empty() {
        // openraft backs off from peers it found unreachable; a healed peer is worth
        // trying again at once.
        for state in groups.iter() {
            state
                .raft
                .trigger()
                .reset_backoff(healed.clone())
                .await
                .map_err(|fatal| ApiError::unknown(format!("raft stopped: {fatal}")))?;
        }
    }
    Ok(axum::Json(Empty {}))
}

// ---- raft RPCs ----

fn plain(status: StatusCode, message: impl Display) -> Response {
    (status, message.to_string()).into_response()
}

/// 503 without touching raft when the sender is cut off by the fault layer; also when
/// the header is missing, since every node sends it.
fn refused(state: &NodeState, headers: &HeaderMap) -> Option<Response> {
    let from = headers
        .get(FROM_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match from {
        None => Some(plain(
            StatusCode::BAD_REQUEST,
            format!("missing or bad {FROM_HEADER} header"),
        )),
        Some(from) if state.faults.is_blocked(from) => Some(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node {from} is blocked by the fault layer"),
        )),
        Some(_) => None,
    }
}

fn reply<T: Serialize, E: Display>(result: Result<T, E>) -> Response {
    match result {
        Ok(response) => match postcard::to_stdvec(&response) {
            Ok(body) => (StatusCode::OK, body).into_response(),
            Err(error) => plain(StatusCode::INTERNAL_SERVER_ERROR, error),
        },
        Err(error) => plain(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

fn decode_rpc<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    postcard::from_bytes(body).map_err(|error| Box::new(plain(StatusCode::BAD_REQUEST, error)))
}

/// `/raft/{rpc}`: group 0's RPCs, as a node of one group sends them.
async fn raft_default_group(
    State(groups): State<Groups>,
    Path(rpc): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    raft_rpc(&groups[0], &rpc, &headers, body).await
}

/// `/raft/{group}/{rpc}`: the RPCs of one group of a node of several groups.
async fn raft_group(
    State(groups): State<Groups>,
    Path((group, rpc)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let state = group
        .parse::<usize>()
        .ok()
        .and_then(|index| groups.get(index));
    match state {
        Some(state) => raft_rpc(state, &rpc, &headers, body).await,
        // The sender counts any failure as the peer being unreachable for now: a peer
        // started with fewer groups stays out of that group's quorum.
        None => plain(
            StatusCode::NOT_FOUND,
            format!(
                "no group {group}: this node serves groups 0..{}",
                groups.len()
            ),
        ),
    }
}

async fn raft_rpc(state: &NodeState, rpc: &str, headers: &HeaderMap, body: Body) -> Response {
    const RPCS: [&str; 5] = ["append", "vote", "pre-vote", "transfer-leader", "snapshot"];
    if !RPCS.contains(&rpc) {
        return ApiError::new(StatusCode::NOT_FOUND, kind::BAD_REQUEST, "no such route")
            .into_response();
    }
    if let Some(refused) = refused(state, headers) {
        return refused;
    }
    if rpc == "snapshot" {
        return raft_snapshot(state, body).await;
    }
    let body = match axum::body::to_bytes(body, RAFT_BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => return plain(StatusCode::BAD_REQUEST, error),
    };
    match rpc {
        "append" => match decode_rpc::<AppendEntriesRequest<TypeConfig>>(&body) {
            Ok(rpc) => reply(state.raft.append_entries(rpc).await),
            Err(response) => *response,
        },
        "vote" => match decode_rpc::<VoteRequest<TypeConfig>>(&body) {
            Ok(rpc) => reply(state.raft.vote(rpc).await),
            Err(response) => *response,
        },
        "pre-vote" => match decode_rpc::<VoteRequest<TypeConfig>>(&body) {
            Ok(rpc) => reply(state.raft.pre_vote(rpc).await),
            Err(response) => *response,
        },
        _ => match decode_rpc::<TransferLeaderRequest<TypeConfig>>(&body) {
            Ok(rpc) => reply(state.raft.handle_transfer_leader(rpc).await),
            Err(response) => *response,
        },
    }
}

/// Receives a snapshot: the header (vote and meta), then the fsmstore stream, written
/// to the snapshot directory as it arrives and checked on the way; then installs it.
async fn raft_snapshot(state: &NodeState, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    let header_len = loop {
        if head.len() >= 4 {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if head.len() >= 4 + len {
                break len;
            }
        }
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(error)) => return plain(StatusCode::BAD_REQUEST, error),
            None => return plain(StatusCode::BAD_REQUEST, "the snapshot header was cut short"),
        }
    };
    let (vote, meta): (VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>) =
        match decode_rpc(&head[4..4 + header_len]) {
            Ok(header) => header,
            Err(response) => return *response,
        };
    let rest = Bytes::copy_from_slice(&head[4 + header_len..]);
    drop(head);

    // The receiver's writes (a file and the checker's pipe) block: they run on the
    // blocking pool, fed chunk by chunk.
    let (sender, mut chunks) = tokio::sync::mpsc::channel::<Bytes>(16);
    let dir = state.snapshot_dir.clone();
    let writer = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
        let mut receiver = SnapshotReceiver::new(dir)?;
        while let Some(chunk) = chunks.blocking_recv() {
            receiver.write_all(&chunk)?;
        }
        receiver.finish()
    });
    let mut failed = None;
    if !rest.is_empty() && sender.send(rest).await.is_err() {
        failed = Some("the snapshot writer stopped".to_owned());
    }
    while failed.is_none() {
        match stream.next().await {
            Some(Ok(chunk)) => {
                if sender.send(chunk).await.is_err() {
                    // The writer failed; its error is the answer.
                    break;
                }
            }
            Some(Err(error)) => failed = Some(format!("receiving the snapshot: {error}")),
            None => break,
        }
    }
    drop(sender);
    let written = writer.await;
    if let Some(failed) = failed {
        return plain(StatusCode::BAD_REQUEST, failed);
    }
    let file = match written {
        Ok(Ok(file)) => file,
        Ok(Err(error)) => return plain(StatusCode::BAD_REQUEST, error),
        Err(error) => return plain(StatusCode::INTERNAL_SERVER_ERROR, error),
    };
    let snapshot = SnapshotOf::<TypeConfig, std::fs::File> {
        meta,
        snapshot: file,
    };
    reply(state.raft.install_full_snapshot(vote, snapshot).await)
}
