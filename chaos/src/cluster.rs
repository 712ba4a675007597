//! The nodes as a cluster: start, find the leader, restart checks, convergence.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::{Api, Metrics, State};
use crate::node::{Node, NodeConfig};

/// The nodes (behind a lock: process and disk operations block, and run on tokio's
/// blocking pool).
#[derive(Clone)]
pub struct Cluster {
    nodes: Arc<Mutex<Vec<Node>>>,
    config: NodeConfig,
    /// The nodes' addresses, by id - 1 (fixed by the first start).
    pub addrs: Vec<String>,
    api: Api,
}

/// What a restarted node said about its snapshot.
#[derive(Debug, Clone)]
pub struct Restart {
    /// Node id.
    pub id: u64,
    /// Whether its disk lost power (otherwise it was killed).
    pub power_cut: bool,
    /// What its state machine found at start: `covered`, `restore` or `no-snapshot`.
    pub on_start: String,
    /// Snapshots restored at start.
    pub restores_at_start: u64,
}

impl Cluster {
    /// Starts every node and initialises the cluster with all of them as voters.
    pub async fn start(nodes: Vec<Node>, config: NodeConfig, api: Api) -> Result<Cluster, String> {
        let nodes = Arc::new(Mutex::new(nodes));
        let addrs = {
            let (nodes, config) = (nodes.clone(), config.clone());
            tokio::task::spawn_blocking(move || {
                let mut nodes = lock(&nodes);
                for node in nodes.iter_mut() {
                    node.start(&config).map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(nodes.iter().map(Node::addr).collect::<Vec<_>>())
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let cluster = Cluster {
            nodes,
            config,
            addrs,
            api,
        };
        let members: BTreeMap<u64, String> = cluster
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.clone()))
            .collect();
        cluster.api.init(&cluster.addrs[0], &members).await?;
        cluster.leader(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// The leader every running node that knows one agrees on, waiting up to `within`.
    pub async fn leader(&self, within: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for addr in &self.addrs {
                if let Ok(m) = self.api.metrics(addr).await
                    && m.state == "Leader"
                {
                    leaders.push(m.id);
                }
            }
            if let [leader] = leaders[..] {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                return Err(format!("no single leader within {within:?}: {leaders:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /metrics` of node `id`.
    pub async fn metrics(&self, id: u64) -> Result<Metrics, String> {
        self.api.metrics(self.addr(id)).await
    }

    /// The address of node `id`.
    pub fn addr(&self, id: u64) -> &str {
        &self.addrs[(id - 1) as usize]
    }

    /// Runs `f` on node `id` on the blocking pool.
    pub async fn with_node<T: Send + 'static>(
        &self,
        id: u64,
        f: impl FnOnce(&mut Node, &NodeConfig) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (nodes, config) = (self.nodes.clone(), self.config.clone());
        tokio::task::spawn_blocking(move || {
            let mut nodes = lock(&nodes);
            f(&mut nodes[(id - 1) as usize], &config)
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// SIGKILL node `id`.
    pub async fn kill(&self, id: u64) -> Result<(), String> {
        self.with_node(id, |n, _| n.kill()).await
    }

    /// Cuts node `id`'s power and remounts its disk from what survived (the node is
    /// down afterwards); the pages the cut dropped.
    pub async fn power_cut(&self, id: u64) -> Result<u64, String> {
        self.with_node(id, |n, _| n.power_cut().map_err(|e| e.to_string()))
            .await?
    }

    /// Starts node `id` again and reads what its state machine did with its snapshot.
    pub async fn restart(&self, id: u64, power_cut: bool) -> Result<Restart, String> {
        self.with_node(id, |n, config| n.start(config).map_err(|e| e.to_string()))
            .await??;
        let m = self.metrics(id).await?;
        Ok(Restart {
            id,
            power_cut,
            on_start: m.on_start.unwrap_or_default(),
            restores_at_start: m.restores_at_start,
        })
    }

    /// Builds a snapshot on node `id` now; its index.
    pub async fn snapshot(&self, id: u64) -> Result<u64, String> {
        self.api.snapshot(self.addr(id)).await
    }

    /// Purges node `id`'s log up to `upto`.
    pub async fn purge(&self, id: u64, upto: u64) -> Result<(), String> {
        self.api.purge(self.addr(id), upto).await
    }

    /// Delays every raft message node `id` sends by `delay_ms` (0 heals).
    pub async fn delay(&self, id: u64, delay_ms: u64) -> Result<(), String> {
        self.api.fault(self.addr(id), &[], delay_ms).await
    }

    /// Sets a partition: `isolated` drops traffic to and from every other node, and
    /// they drop it to and from `isolated`. `None` heals every node.
    pub async fn partition(&self, isolated: Option<u64>) -> Result<(), String> {
        let ids: Vec<u64> = (1..=self.len() as u64).collect();
        for &id in &ids {
            let blocked: Vec<u64> = match isolated {
                None => Vec::new(),
                Some(i) if i == id => ids.iter().copied().filter(|o| *o != i).collect(),
                Some(i) => vec![i],
            };
            self.api.fault(self.addr(id), &blocked, 0).await?;
        }
        Ok(())
    }

    /// Waits until, in every group, every node has the same applied index and the same
    /// data; returns every group's data merged (keys live in one group each) with group
    /// 0's applied index, or what differed.
    pub async fn converged(&self, within: Duration, groups: u32) -> Result<State, String> {
        let mut merged = State {
            last_applied: None,
            data: BTreeMap::new(),
        };
        for group in 0..groups {
            let state = self.group_converged(within, group).await?;
            if group == 0 {
                merged.last_applied = state.last_applied;
            }
            merged.data.extend(state.data);
        }
        Ok(merged)
    }

    async fn group_converged(&self, within: Duration, group: u32) -> Result<State, String> {
        let deadline = Instant::now() + within;
        loop {
            let mut states = Vec::new();
            let mut last_error = None;
            for addr in &self.addrs {
                match self.api.state(addr, group).await {
                    Ok(s) => states.push(s),
                    Err(e) => last_error = Some(e),
                }
            }
            if last_error.is_none() && states.windows(2).all(|w| w[0] == w[1]) {
                return Ok(states.swap_remove(0));
            }
            if Instant::now() > deadline {
                let applied: Vec<_> = states.iter().map(|s| s.last_applied).collect();
                return Err(format!(
                    "group {group} not converged within {within:?}: applied {applied:?}, {} distinct states{}",
                    states.windows(2).filter(|w| w[0] != w[1]).count() + 1,
                    last_error.map(|e| format!(", {e}")).unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Nodes whose process ended by itself (each an anomaly), started again so the
    /// campaign goes on.
    pub async fn revive_crashed(&self) -> Vec<String> {
        let mut crashed = Vec::new();
        for id in 1..=self.len() as u64 {
            if let Ok(Some(why)) = self.with_node(id, |n, _| n.exited()).await {
                crashed.push(why);
                if let Err(e) = self.restart(id, false).await {
                    crashed.push(format!("node {id}: restart after its crash: {e}"));
                }
            }
        }
        crashed
    }

    /// Starts every node that is down (after a fault that failed half-way).
    pub async fn start_stopped(&self) {
        for id in 1..=self.len() as u64 {
            if !self.with_node(id, |n, _| n.is_up()).await.unwrap_or(true) {
                let _ = self.restart(id, false).await;
            }
        }
    }

    /// Snapshots the running nodes installed from a leader, in total (each node counts
    /// since its last start).
    pub async fn installs(&self) -> u64 {
        let mut total = 0;
        for addr in &self.addrs {
            total += self
                .api
                .metrics(addr)
                .await
                .map_or(0, |m| m.restores_received);
        }
        total
    }

    /// Stops every node with SIGTERM; the ids of those that did not exit 0 in time.
    pub async fn terminate_all(&self) -> Vec<u64> {
        let nodes = self.nodes.clone();
        tokio::task::spawn_blocking(move || {
            lock(&nodes)
                .iter_mut()
                .filter_map(|n| (!n.terminate()).then_some(n.id))
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Watchdog reports of the nodes' disks.
    pub async fn disk_faults(&self) -> Vec<String> {
        let nodes = self.nodes.clone();
        tokio::task::spawn_blocking(move || {
            lock(&nodes)
                .iter()
                .filter_map(|n| n.disk_fault().map(|f| format!("node {}: {f}", n.id)))
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Each node's engine and log file.
    pub async fn describe(&self) -> Vec<(u64, String, String)> {
        let nodes = self.nodes.clone();
        tokio::task::spawn_blocking(move || {
            lock(&nodes)
                .iter()
                .map(|n| (n.id, n.engine.clone(), n.log_path().display().to_string()))
                .collect()
        })
        .await
        .unwrap_or_default()
    }
}

fn lock(nodes: &Mutex<Vec<Node>>) -> MutexGuard<'_, Vec<Node>> {
    nodes.lock().unwrap_or_else(|e| e.into_inner())
}
