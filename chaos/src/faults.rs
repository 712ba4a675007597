//! The faults, one at a time, so a majority is always up: each is injected, held for a
//! while, and healed before the next.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::args::FaultKind;
use crate::client::Shared;
use crate::cluster::{Cluster, Restart};

/// What the faults did.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// Every restart and what the node said about its snapshot.
    pub restarts: Vec<Restart>,
    /// Snapshots built on request, and purges.
    pub snapshots: u64,
    /// Log purges requested.
    pub purges: u64,
    /// Unsynced pages power cuts dropped.
    pub pages_dropped: u64,
    /// What happened when: `(wall-clock time of day, UTC, as HH:MM:SS.mmm; event)`.
    pub timeline: Vec<(String, String)>,
    /// Errors that stopped a fault (a node that did not restart, ...): each is an
    /// anomaly.
    pub errors: Vec<String>,
    /// Nodes that exited by themselves (a panic, a fatal storage error).
    pub crashes: Vec<String>,
}

/// Injects faults until the clients stop; `progress` is told each one.
pub async fn run(
    cluster: Cluster,
    shared: Arc<Shared>,
    kinds: Vec<FaultKind>,
    interval: Duration,
    seed: u64,
    progress: impl Fn(&FaultLog),
) -> FaultLog {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut log = FaultLog::default();
    let mut queue: Vec<FaultKind> = Vec::new();
    loop {
        let pause = interval.mul_f64(rng.random_range(0.5..1.5));
        tokio::time::sleep(pause).await;
        if shared.stop.load(Ordering::Relaxed) || kinds.is_empty() {
            break;
        }
        if queue.is_empty() {
            queue = kinds.clone();
            queue.shuffle(&mut rng);
        }
        log.crashes.extend(cluster.revive_crashed().await);
        let kind = queue.pop().expect("refilled above");
        let mut note =
            |log: &mut FaultLog, event: String| log.timeline.push((time_of_day(), event));
        note(&mut log, format!("{} begins", kind.name()));
        let result = inject(&cluster, kind, &mut rng, &mut log, &mut note).await;
        note(&mut log, format!("{} ends", kind.name()));
        match result {
            Ok(()) => *log.injected.entry(kind).or_default() += 1,
            Err(e) => {
                log.errors.push(format!("{}: {e}", kind.name()));
                // Leave the cluster whole for the checks: heal, and start what is down.
                let _ = cluster.partition(None).await;
                log.crashes.extend(cluster.revive_crashed().await);
                cluster.start_stopped().await;
            }
        }
        progress(&log);
    }
    log
}

/// The wall-clock time of day (UTC), to match the nodes' log lines.
fn time_of_day() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (now.as_secs() % 86_400, now.subsec_millis());
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn hold(rng: &mut StdRng, low_ms: u64, high_ms: u64) -> Duration {
    Duration::from_millis(rng.random_range(low_ms..high_ms))
}

async fn inject(
    cluster: &Cluster,
    kind: FaultKind,
    rng: &mut StdRng,
    log: &mut FaultLog,
    note: &mut impl FnMut(&mut FaultLog, String),
) -> Result<(), String> {
    let leader = cluster.leader(Duration::from_secs(20)).await?;
    note(log, format!("leader {leader}"));
    let followers: Vec<u64> = (1..=cluster.len() as u64)
        .filter(|id| *id != leader)
        .collect();
    let follower = followers[rng.random_range(0..followers.len())];
    match kind {
        FaultKind::KillLeader | FaultKind::KillFollower => {
            let victim = if kind == FaultKind::KillLeader {
                leader
            } else {
                follower
            };
            cluster.kill(victim).await?;
            note(log, format!("killed {victim}"));
            tokio::time::sleep(hold(rng, 200, 1_500)).await;
            let restart = cluster.restart(victim, false).await?;
            note(log, format!("restarted {victim}: {restart:?}"));
            log.restarts.push(restart);
        }
        FaultKind::PowerCut => {
            let victim = rng.random_range(1..=cluster.len() as u64);
            let dropped = cluster.power_cut(victim).await?;
            note(
                log,
                format!("cut the power of {victim}: {dropped} unsynced pages dropped"),
            );
            log.pages_dropped += dropped;
            tokio::time::sleep(hold(rng, 200, 1_500)).await;
            let restart = cluster.restart(victim, true).await?;
            note(log, format!("restarted {victim}: {restart:?}"));
            log.restarts.push(restart);
        }
        FaultKind::Partition => {
            let isolated = if rng.random_bool(0.5) {
                leader
            } else {
                follower
            };
            cluster.partition(Some(isolated)).await?;
            note(log, format!("isolated {isolated}"));
            tokio::time::sleep(hold(rng, 800, 3_000)).await;
            cluster.partition(None).await?;
        }
        FaultKind::SlowNetwork => {
            let slowed = if rng.random_bool(0.5) {
                leader
            } else {
                follower
            };
            let delay_ms = rng.random_range(20..400);
            cluster.delay(slowed, delay_ms).await?;
            note(log, format!("delayed what {slowed} sends by {delay_ms} ms"));
            tokio::time::sleep(hold(rng, 800, 3_000)).await;
            cluster.delay(slowed, 0).await?;
        }
        FaultKind::SnapshotPurge => {
            cluster.kill(follower).await?;
            note(log, format!("killed {follower}"));
            let other = followers.iter().copied().find(|id| *id != follower);
            let index = cluster.snapshot(leader).await?;
            log.snapshots += 1;
            note(log, format!("snapshot at {index} on {leader}"));
            cluster.purge(leader, index).await?;
            log.purges += 1;
            if let Some(other) = other {
                cluster.snapshot(other).await?;
                log.snapshots += 1;
            }
            tokio::time::sleep(hold(rng, 200, 1_000)).await;
            let restart = cluster.restart(follower, false).await?;
            note(log, format!("restarted {follower}: {restart:?}"));
            log.restarts.push(restart);
        }
    }
    Ok(())
}
