//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use fsmstore::{Backend, SyncMode};

/// One openraft node over fsmstore: raft over HTTP between nodes, a JSON key-value API
/// for clients, and a network fault layer for tests.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "fsmstore-node", version)]
pub struct Args {
    /// This node's raft id (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub id: u64,

    /// The listen address, a loopback IP and a port (`127.0.0.1:7001`); port 0 picks a
    /// free one (see --ready-file). Non-loopback addresses are refused: the API has no
    /// authentication.
    #[arg(long, value_parser = loopback_addr)]
    pub addr: SocketAddr,

    /// Once the server listens, write its actual address (`127.0.0.1:PORT` and a
    /// newline) to this file, atomically (written as PATH.tmp, then renamed).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,

    /// The node's directory: the log store in DIR/log, the state machine's store in
    /// DIR/sm and its snapshots in DIR/snapshots (with --groups N > 1: DIR/log and DIR/sm
    /// are groups stores holding every group, `DIR/snapshots/<G>` group G's snapshots,
    /// and DIR/groups records N).
    #[arg(long)]
    pub dir: PathBuf,

    /// How many raft groups the node serves (ids 0..N), each its own raft with this
    /// node's id and the same peers, all on two stores: DIR/log holds every group's log,
    /// DIR/sm every group's state machine. Client routes, /metrics and /state take
    /// `?group=G` (default 0); /cluster/init without it initialises every group; raft
    /// RPCs of group G go to /raft/G/RPC. A directory is always opened with the N it
    /// was made with: another N is refused at start-up.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub groups: u64,

    /// The engine of both stores: redb, fjall, heed (or lmdb), rocksdb (those compiled
    /// in).
    #[arg(long, default_value = "redb")]
    pub engine: Backend,

    /// The stores' sync mode: `sync` (every commit durable before it is acknowledged)
    /// or `nosync`.
    #[arg(long, default_value = "sync")]
    pub sync_mode: SyncMode,

    /// Build a snapshot once this many log entries were applied since the last one.
    #[arg(long, default_value_t = 500)]
    pub snapshot_logs: u64,

    /// The leader's heartbeat interval, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,

    /// The minimum election timeout in milliseconds; the maximum is twice this.
    #[arg(long, default_value_t = 400)]
    pub election_timeout_ms: u64,

    /// The bound of every client request, in milliseconds: a request not done by then
    /// is answered 504 (outcome unknown).
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,

    /// How many log entries a snapshot leaves in the log behind it, for followers that
    /// lag a little (they then catch up without a snapshot).
    #[arg(long, default_value_t = 1000)]
    pub max_in_snapshot_log_to_keep: u64,
}

fn loopback_addr(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|error| format!("not an IP:PORT address: {error}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address: the node serves an unauthenticated API, so it \
             listens on loopback only (127.0.0.1 or ::1)",
            addr.ip()
        ));
    }
    Ok(addr)
}
