//! A whole node: the stores, the raft, the HTTP server, and the shutdown.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fsmstore::Config;
use fsmstore_openraft::{LogStore, StateMachine};
use futures_util::future::{Either, select};
use openraft::async_runtime::WatchReceiver;
use openraft::{Raft, SnapshotPolicy};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{Kv, NodeRaft};
use crate::args::Args;
use crate::network::{Faults, Network};
use crate::server::{NodeState, router};

/// How long a shutdown lets in-flight requests finish before raft stops under them.
const DRAIN: Duration = Duration::from_secs(1);
/// How long the server may take to finish once raft has stopped.
const SERVER_STOP: Duration = Duration::from_secs(5);
/// How long each store's close waits for openraft's tasks to let go of it.
const CLOSE: Duration = Duration::from_secs(10);

/// Runs a node until SIGTERM or SIGINT (exit 0) or a fatal error (exit 1, reported on
/// stderr). Builds its own runtime: two workers, the machine's cores.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fsmstore-node: cannot build the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(serve(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fsmstore-node: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Why the node stops.
enum Stop {
    Signal(&'static str),
    Fatal(String),
}

/// Resolves when raft reports a fatal error (a storage failure above all).
async fn fatal(raft: NodeRaft) -> String {
    let mut metrics = raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow_watched().running_state {
            return fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            return "raft's metrics ended".to_owned();
        }
    }
}

fn write_ready_file(path: &Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, path)
}

async fn serve(args: Args) -> Result<(), String> {
    let dir = &args.dir;
    // Durably: the stores sync their own entries in `dir`, not `dir`'s in its parent, and
    // a data directory lost at a power cut takes the whole log with it (the node would
    // come back empty, a follower whose acknowledged entries are gone).
    fsmstore::create_dir_all_durably(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let config = Config::new(args.sync_mode);
    let log = LogStore::open(args.engine, dir.join("log"), &config).map_err(|e| {
        format!(
            "opening the log store in {}: {e}",
            dir.join("log").display()
        )
    })?;
    let snapshot_dir = dir.join("snapshots");
    let sm = StateMachine::open(
        args.engine,
        dir.join("sm"),
        snapshot_dir.clone(),
        &config,
        Kv,
    )
    .map_err(|e| {
        format!(
            "opening the state machine in {}: {e}",
            dir.join("sm").display()
        )
    })?;
    let (log_closer, sm_closer) = (log.closer(), sm.closer());
    let engine = sm.engine().clone();
    let observer = sm.observer();

    let raft_config = openraft::Config {
        heartbeat_interval: args.heartbeat_ms,
        election_timeout_min: args.election_timeout_ms,
        election_timeout_max: args.election_timeout_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(args.snapshot_logs),
        max_in_snapshot_log_to_keep: args.max_in_snapshot_log_to_keep,
        ..Default::default()
    }
    .validate()
    .map_err(|e| format!("raft config: {e}"))?;
    let faults = Arc::new(Faults::default());
    let network = Network::new(args.id, faults.clone()).map_err(|e| format!("HTTP client: {e}"))?;
    let raft = Raft::new(args.id, Arc::new(raft_config), network, log, sm)
        .await
        .map_err(|e| format!("starting raft: {e}"))?;

    // Installed before the node reports ready: a signal from then on is a clean stop.
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let state = Arc::new(NodeState {
        id: args.id,
        raft: raft.clone(),
        engine: engine.clone(),
        observer,
        faults,
        snapshot_dir,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        engine_name: engine.engine_name().to_owned(),
        sync_mode: engine.sync_mode(),
        max_in_snapshot_log_to_keep: args.max_in_snapshot_log_to_keep,
    });
    drop(engine);
    let app = router(state.clone());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    if let Some(path) = &args.ready_file {
        write_ready_file(path, local)
            .map_err(|e| format!("writing the ready file {}: {e}", path.display()))?;
    }
    eprintln!(
        "fsmstore-node {}: listening on {local}, {} stores in {}",
        args.id,
        state.engine_name,
        dir.display()
    );

    let on_terminate = std::pin::pin!(terminate.recv());
    let on_interrupt = std::pin::pin!(interrupt.recv());
    let on_fatal = std::pin::pin!(fatal(raft.clone()));
    let stop = match select(select(on_terminate, on_interrupt), on_fatal).await {
        Either::Left((Either::Left(_), _)) => Stop::Signal("SIGTERM"),
        Either::Left((Either::Right(_), _)) => Stop::Signal("SIGINT"),
        Either::Right((fatal, _)) => Stop::Fatal(fatal),
    };
    match &stop {
        Stop::Signal(name) => eprintln!("fsmstore-node {}: {name}, shutting down", args.id),
        Stop::Fatal(error) => eprintln!("fsmstore-node {}: fatal: {error}", args.id),
    }

    let _ = stop_server.send(());
    let drained = tokio::time::timeout(DRAIN, &mut server).await.is_ok();
    let shutdown = raft.shutdown().await;
    if !drained
        && tokio::time::timeout(SERVER_STOP, &mut server)
            .await
            .is_err()
    {
        server.abort();
        let _ = server.await;
    }
    drop(state);
    drop(raft);
    if let Err(error) = shutdown {
        eprintln!("fsmstore-node {}: raft shutdown: {error}", args.id);
    }
    let mut close_failed = None;
    for (name, closer) in [("state machine", sm_closer), ("log", log_closer)] {
        if let Err(error) = closer.close(CLOSE).await {
            eprintln!(
                "fsmstore-node {}: closing the {name} store: {error}",
                args.id
            );
            close_failed = Some(format!("closing the {name} store: {error}"));
        }
    }
    match stop {
        Stop::Fatal(error) => Err(error),
        Stop::Signal(_) => match close_failed {
            Some(error) => Err(error),
            None => Ok(()),
        },
    }
}
