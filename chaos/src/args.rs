//! The campaign's command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A fault campaign against fsmstore node processes on the loopback network: clients
/// read, write and compare-and-set keys while nodes are killed, lose power and are
/// partitioned; then the history is checked for linearizability, no acknowledged write
/// may be lost, and every node must converge.
#[derive(Debug, Clone, Parser)]
#[command(name = "fsmstore-chaos", version)]
pub struct Args {
    /// The node binary (`fsmstore-node`); by default the one next to this binary.
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// One engine per node, comma separated (redb, fjall, heed or lmdb, rocksdb when the
    /// node binary has it): as many nodes as engines.
    #[arg(long, value_delimiter = ',', default_value = "redb,fjall,heed")]
    pub engines: Vec<String>,
    /// The state machines' sync mode (the log is always durable).
    #[arg(long, value_enum, default_value_t = SyncModeArg::Sync)]
    pub sync_mode: SyncModeArg,
    /// Seed of every random choice (keys, operations, which fault, which node, how
    /// long); printed, so a run can be repeated (timing still varies).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many client operations.
    #[arg(long, default_value_t = 2_000)]
    pub ops: u64,
    /// Stop after this long (seconds), whichever comes first.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Keys the clients use.
    #[arg(long, default_value_t = 4)]
    pub keys: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    pub clients: u32,
    /// The faults to inject, comma separated, taken in a seeded order that goes through
    /// every kind before it repeats one.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "kill-leader,kill-follower,power-cut,partition,slow-network,snapshot-purge"
    )]
    pub faults: Vec<FaultKind>,
    /// Pause between the end of one fault and the start of the next (milliseconds).
    #[arg(long, default_value_t = 1_500)]
    pub fault_interval_ms: u64,
    /// Where the nodes' mounts, logs and the history go (a temporary directory if not
    /// given; kept when a check fails).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Raft groups per node (`fsmstore-node --groups`): key `k<i>` lives in group
    /// `i % groups`; the leader the faults aim at is group 0's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub groups: u32,
    /// Entries since the last snapshot after which a node builds one by itself.
    #[arg(long, default_value_t = 300)]
    pub snapshot_logs: u64,
    /// No progress bar (the summary is printed either way).
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// How long the campaign may run operations.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }
}

/// `--sync-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncModeArg {
    /// Every apply is durable when it returns.
    Sync,
    /// Applies are atomic but not fsynced; the durable log replays them.
    Nosync,
}

impl SyncModeArg {
    /// The node's `--sync-mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncModeArg::Sync => "sync",
            SyncModeArg::Nosync => "nosync",
        }
    }
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum FaultKind {
    /// SIGKILL the leader, restart it after a pause.
    KillLeader,
    /// SIGKILL a follower, restart it after a pause.
    KillFollower,
    /// Cut the power of one node's disk (the crash filesystem), kill the node, remount
    /// the disk from what survived, restart the node.
    PowerCut,
    /// Cut one node off from the others in both directions, then heal.
    Partition,
    /// Delay every raft message one node sends (the leader half the time) by tens to
    /// hundreds of milliseconds, around the heartbeat and election timeouts, then heal.
    SlowNetwork,
    /// While a follower is down: a snapshot and a log purge on the leader and a snapshot
    /// on the other follower; the follower then catches up by the snapshot.
    SnapshotPurge,
}

impl FaultKind {
    /// The name the command line and the summary use.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::KillFollower => "kill-follower",
            FaultKind::PowerCut => "power-cut",
            FaultKind::Partition => "partition",
            FaultKind::SlowNetwork => "slow-network",
            FaultKind::SnapshotPurge => "snapshot-purge",
        }
    }
}
