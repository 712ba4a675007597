//! Running `fsmstore-node` processes and talking to them, for the tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// How long a node may take to start listening.
const START: Duration = Duration::from_secs(15);

/// A runtime of two workers, built by hand.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system's temporary directory.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "fsmstore-node-{name}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running node process, killed when dropped.
pub struct NodeProc {
    pub id: u64,
    pub engine: String,
    pub addr: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    /// Starts node `id` with `engine` in `root/node<id>`, listening on `port` (0: any),
    /// with `extra` flags; returns once it is listening.
    pub fn start(id: u64, engine: &str, root: &Path, port: u16, extra: &[&str]) -> Self {
        let dir = root.join(format!("node{id}"));
        let ready = root.join(format!("node{id}.ready"));
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join(format!("node{id}.log")))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_fsmstore-node"))
            .args(["--id", &id.to_string()])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--dir")
            .arg(&dir)
            .args(["--engine", engine])
            .args(["--sync-mode", "nosync"])
            .args(["--heartbeat-ms", "50", "--election-timeout-ms", "300"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.try_clone().expect("log file")))
            .spawn()
            .expect("spawn fsmstore-node");
        let mut node = NodeProc {
            id,
            engine: engine.to_owned(),
            addr: String::new(),
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + START;
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                node.addr = text.trim().to_owned();
                assert!(text.ends_with('\n'), "ready file without newline: {text:?}");
                return node;
            }
            if let Some(status) = node.child_mut().try_wait().expect("try_wait") {
                panic!("node {id} exited before it was ready: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "node {id} not ready within {START:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("running")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let mut child = Reaper(Some(child));
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.0.as_mut().expect("child").try_wait().expect("wait") {
                child.0 = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit within {within:?} of SIGTERM",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Kills a child process it still holds when dropped.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        drop(Reaper(self.child.take()));
    }
}

/// An HTTP client of the nodes' API.
#[derive(Clone)]
pub struct Client(reqwest::Client);

impl Default for Client {
    fn default() -> Self {
        Client(
            reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        )
    }
}

impl Client {
    /// `POST` a JSON body; the status and the JSON answer.
    pub async fn post(&self, addr: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .0
            .post(format!("http://{addr}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {addr}{path}: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// `POST` raw bytes.
    pub async fn post_raw(&self, addr: &str, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .0
            .post(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET`; the status and the JSON answer.
    pub async fn get(&self, addr: &str, path: &str) -> (u16, Value) {
        let response = self
            .0
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET`, expecting 200.
    pub async fn get_ok(&self, addr: &str, path: &str) -> Value {
        let (status, body) = self.get(addr, path).await;
        assert_eq!(status, 200, "GET {addr}{path}: {body}");
        body
    }

    /// `POST`, expecting 200.
    pub async fn post_ok(&self, addr: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(addr, path, body.clone()).await;
        assert_eq!(status, 200, "POST {addr}{path} {body}: {answer}");
        answer
    }

    /// `/metrics` of a node.
    pub async fn metrics(&self, addr: &str) -> Value {
        self.get_ok(addr, "/metrics").await
    }
}

/// Polls `probe` every 50 ms until it gives `Some`, at most `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts nodes 1.. with `engines` under `root`.
pub fn start_nodes(engines: &[&str], root: &Path, extra: &[&str]) -> Vec<NodeProc> {
    engines
        .iter()
        .enumerate()
        .map(|(i, engine)| NodeProc::start(i as u64 + 1, engine, root, 0, extra))
        .collect()
}

/// Initialises a cluster of `nodes` through the first and returns the leader's id, once
/// every node knows it.
pub async fn init(client: &Client, nodes: &[NodeProc]) -> u64 {
    let members: BTreeMap<String, String> = nodes
        .iter()
        .map(|n| (n.id.to_string(), n.addr.clone()))
        .collect();
    client
        .post_ok(
            &nodes[0].addr,
            "/cluster/init",
            json!({ "members": members }),
        )
        .await;
    agreed_leader(client, nodes, &[]).await
}

/// The leader every node of `nodes` but those in `skip` names, once they agree and it
/// says it leads.
pub async fn agreed_leader(client: &Client, nodes: &[NodeProc], skip: &[u64]) -> u64 {
    wait_for("an agreed leader", Duration::from_secs(10), || async {
        let mut leader = None;
        for node in nodes.iter().filter(|n| !skip.contains(&n.id)) {
            let metrics = client.metrics(&node.addr).await;
            let named = metrics["current_leader"].as_u64()?;
            if leader.is_some_and(|l| l != named) {
                return None;
            }
            leader = Some(named);
        }
        let leader = leader?;
        let node = nodes.iter().find(|n| n.id == leader)?;
        let metrics = client.metrics(&node.addr).await;
        (metrics["state"] == "Leader").then_some(leader)
    })
    .await
}

/// The node of `nodes` with id `id`.
pub fn node(nodes: &[NodeProc], id: u64) -> &NodeProc {
    nodes.iter().find(|n| n.id == id).expect("node")
}

/// Waits until every node's `/state` is the same and at least at `index`; returns it.
pub async fn converged(client: &Client, nodes: &[&NodeProc], index: u64) -> Value {
    wait_for(
        "every node at the same state",
        Duration::from_secs(15),
        || async {
            let mut first: Option<Value> = None;
            for node in nodes {
                let state = client.get_ok(&node.addr, "/state").await;
                if state["last_applied"].as_u64()? < index {
                    return None;
                }
                match &first {
                    None => first = Some(state),
                    Some(first) if first["data"] == state["data"] => {}
                    Some(_) => return None,
                }
            }
            first
        },
    )
    .await
}
