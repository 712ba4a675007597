//! The node's HTTP API as a client sees it: only the fields the campaign reads.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

/// Every request's bound; above the node's own request timeout, so a node that answers
/// "timeout" is heard before the client gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);

/// `GET /metrics`.
#[derive(Debug, Clone, Deserialize)]
pub struct Metrics {
    /// Node id.
    pub id: u64,
    /// `Leader`, `Follower`, ...
    pub state: String,
    /// What the state machine found at start, before openraft restored anything:
    /// `no-snapshot`, `covered` (the store covers its snapshot) or `restore`.
    pub on_start: Option<String>,
    /// Snapshots restored at start.
    #[serde(default)]
    pub restores_at_start: u64,
    /// Snapshots received from a leader and installed.
    #[serde(default)]
    pub restores_received: u64,
}

/// `GET /state`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct State {
    /// The last applied log index.
    pub last_applied: Option<u64>,
    /// Every key and its value.
    pub data: BTreeMap<String, String>,
}

/// An error body.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    /// The leader the node knows.
    pub leader: Option<u64>,
}

/// The query that names `group` (none for group 0, which every node serves).
pub fn group_query(group: u32) -> String {
    if group == 0 {
        String::new()
    } else {
        format!("?group={group}")
    }
}

/// A client of every node (one connection pool).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
}

impl Api {
    /// A client with the campaign's timeouts.
    pub fn new() -> reqwest::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_millis(500))
            .pool_max_idle_per_host(16)
            .build()?;
        Ok(Api { http })
    }

    /// The underlying client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /metrics`.
    pub async fn metrics(&self, addr: &str) -> Result<Metrics, String> {
        self.get_json(addr, "/metrics").await
    }

    /// `GET /state` of one group.
    pub async fn state(&self, addr: &str, group: u32) -> Result<State, String> {
        self.get_json(addr, &format!("/state{}", group_query(group)))
            .await
    }

    /// `POST /cluster/init` with every member.
    pub async fn init(&self, addr: &str, members: &BTreeMap<u64, String>) -> Result<(), String> {
        let members: BTreeMap<String, &String> =
            members.iter().map(|(id, a)| (id.to_string(), a)).collect();
        self.post(addr, "/cluster/init", json!({ "members": members }))
            .await
            .map(drop)
    }

    /// `POST /admin/fault`: the peers this node drops traffic to and from, and the delay
    /// of every raft message it sends.
    pub async fn fault(&self, addr: &str, blocked: &[u64], delay_ms: u64) -> Result<(), String> {
        self.post(
            addr,
            "/admin/fault",
            json!({ "blocked": blocked, "delay_ms": delay_ms }),
        )
        .await
        .map(drop)
    }

    /// `POST /admin/snapshot`; the snapshot's index.
    pub async fn snapshot(&self, addr: &str) -> Result<u64, String> {
        let body = self.post(addr, "/admin/snapshot", json!({})).await?;
        body.get("snapshot_index")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("{addr}: no snapshot_index in {body}"))
    }

    /// `POST /admin/purge`.
    pub async fn purge(&self, addr: &str, upto: u64) -> Result<(), String> {
        self.post(addr, "/admin/purge", json!({ "upto": upto }))
            .await
            .map(drop)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
    ) -> Result<T, String> {
        let response = self
            .http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .map_err(|e| format!("GET {addr}{path}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("GET {addr}{path}: {status} {text}"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {addr}{path}: {e}"))
    }

    async fn post(
        &self,
        addr: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let response = self
            .http
            .post(format!("http://{addr}{path}"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST {addr}{path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("POST {addr}{path}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("POST {addr}{path}: {e}: {text}"))
    }
}
