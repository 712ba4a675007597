//! A whole node: the stores, the raft, the HTTP server, and the shutdown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fsmstore::{Config, Engine, GroupStore, SyncMode};
use fsmstore_openraft::{Closer, LogStore, StateMachine};
use futures_util::future::{Either, select, select_all};
use openraft::async_runtime::WatchReceiver;
use openraft::{Raft, SnapshotPolicy};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{Kv, Log, NodeRaft, Sm};
use crate::args::Args;
use crate::network::{Faults, Network};
use crate::server::{NodeState, router};

/// How long a shutdown lets in-flight requests finish before raft stops under them.
const DRAIN: Duration = Duration::from_secs(1);
/// How long the server may take to finish once raft has stopped.
const SERVER_STOP: Duration = Duration::from_secs(5);
/// How long each store's close waits for openraft's tasks to let go of it.
const CLOSE: Duration = Duration::from_secs(10);
/// The file in a node's directory recording how many groups its stores hold; present
/// only in the directory of a node of several groups.
const GROUPS_FILE: &str = "groups";

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

/// One raft group's stores, before its raft starts.
struct GroupStores {
    log: Log,
    sm: Sm,
    snapshot_dir: PathBuf,
}

/// The stores of a node: one log store and one state machine per group, and for a node
/// of several groups the two groups stores those are groups of.
struct Stores {
    groups: Vec<GroupStores>,
    /// The log's and the state machine's groups stores (`None` for a node of one group).
    shared: Option<(Box<dyn GroupStore>, Box<dyn GroupStore>)>,
}

/// The two stores of a node of one group, each a store of its own.
fn open_single(args: &Args, config: &Config) -> Result<Stores, String> {
    let dir = &args.dir;
    // A directory of several groups is refused here, before a store of the wrong layout
    // is touched; fsmstore would refuse it too, with a less helpful message.
    if let Some(groups) = recorded_groups(dir)? {
        return Err(format!(
            "{} holds the stores of a node of {groups} groups: start it with --groups {groups}",
            dir.display()
        ));
    }
    let log = LogStore::open(args.engine, dir.join("log"), config).map_err(|e| {
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
        config,
        Kv,
    )
    .map_err(|e| {
        format!(
            "opening the state machine in {}: {e}",
            dir.join("sm").display()
        )
    })?;
    Ok(Stores {
        groups: vec![GroupStores {
            log,
            sm,
            snapshot_dir,
        }],
        shared: None,
    })
}

/// The number of groups `dir`'s stores were made with, when that is more than one.
fn recorded_groups(dir: &Path) -> Result<Option<u64>, String> {
    let path = dir.join(GROUPS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map(Some).map_err(|_| {
            format!(
                "{} does not hold a number of groups: {text:?}",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// Records `groups` in `dir`, durably, before any group is created: a crash between
/// the groups' creations then leaves a directory that a restart with the same number
/// completes rather than refuses.
fn record_groups(dir: &Path, groups: u64) -> Result<(), String> {
    let path = dir.join(GROUPS_FILE);
    let tmp = dir.join(format!("{GROUPS_FILE}.tmp"));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, format!("{groups}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    written.map_err(|e| format!("writing {}: {e}", path.display()))?;
    fsmstore::backend::sync_dir(dir).map_err(|e| format!("syncing {}: {e}", dir.display()))
}

/// Opens group `group` of `store`, creating it first when it does not exist.
fn open_or_create(store: &dyn GroupStore, group: u64) -> fsmstore::Result<Box<dyn Engine>> {
    match store.open_group(group) {
        Err(fsmstore::Error::NoSuchGroup(_)) => {
            store.create_group(group)?;
            store.open_group(group)
        }
        opened => opened,
    }
}

/// The two groups stores of a node of `args.groups` groups and every group on them.
fn open_many(args: &Args, config: &Config) -> Result<Stores, String> {
    let (dir, groups) = (&args.dir, args.groups);
    match recorded_groups(dir)? {
        Some(recorded) if recorded != groups => {
            return Err(format!(
                "{} holds the stores of a node of {recorded} groups, not {groups}: start it \
                 with --groups {recorded}",
                dir.display()
            ));
        }
        Some(_) => {}
        None => {
            if dir.join("log").exists() || dir.join("sm").exists() {
                return Err(format!(
                    "{} holds the stores of a node of one group: start it without --groups \
                     (or with --groups 1)",
                    dir.display()
                ));
            }
            record_groups(dir, groups)?;
        }
    }
    let open = |name: &str, config: &Config| {
        fsmstore::open_groups(args.engine, dir.join(name), config)
            .map_err(|e| format!("opening the groups store {}: {e}", dir.join(name).display()))
    };
    // As for a log store of its own: it syncs where raft needs it, whatever the mode.
    let log_store = open("log", &config.clone().with_sync_mode(SyncMode::NoSync))?;
    let sm_store = open("sm", config)?;
    for (name, store) in [("log", &log_store), ("sm", &sm_store)] {
        let held = store
            .groups()
            .map_err(|e| format!("listing the groups of {name}: {e}"))?;
        if let Some(extra) = held.iter().find(|info| info.id >= groups) {
            return Err(format!(
                "{} holds group {}, beyond --groups {groups}",
                dir.join(name).display(),
                extra.id
            ));
        }
    }
    let mut opened = Vec::new();
    for group in 0..groups {
        let open_group = |store: &dyn GroupStore, name: &str| {
            open_or_create(store, group)
                .map_err(|e| format!("opening group {group} of {}: {e}", dir.join(name).display()))
        };
        let log = LogStore::new(Arc::<dyn Engine>::from(open_group(&*log_store, "log")?))
            .map_err(|e| format!("group {group}: the log store: {e}"))?;
        let snapshot_dir = dir.join("snapshots").join(group.to_string());
        let sm = StateMachine::new(
            Arc::<dyn Engine>::from(open_group(&*sm_store, "sm")?),
            snapshot_dir.clone(),
            Kv,
        )
        .map_err(|e| format!("group {group}: the state machine: {e}"))?;
        opened.push(GroupStores {
            log,
            sm,
            snapshot_dir,
        });
    }
    Ok(Stores {
        groups: opened,
        shared: Some((log_store, sm_store)),
    })
}

/// A started group: its raft and the closers of its two stores.
struct Running {
    raft: NodeRaft,
    log_closer: Closer,
    sm_closer: Closer,
}

async fn serve(args: Args) -> Result<(), String> {
    let dir = &args.dir;
    // Durably: the stores sync their own entries in `dir`, not `dir`'s in its parent, and
    // a data directory lost at a power cut takes the whole log with it (the node would
    // come back empty, a follower whose acknowledged entries are gone).
    fsmstore::create_dir_all_durably(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let config = Config::new(args.sync_mode);
    let Stores { groups, shared } = if args.groups == 1 {
        open_single(&args, &config)?
    } else {
        open_many(&args, &config)?
    };
    let many = shared.is_some();

    let raft_config = Arc::new(
        openraft::Config {
            heartbeat_interval: args.heartbeat_ms,
            election_timeout_min: args.election_timeout_ms,
            election_timeout_max: args.election_timeout_ms * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(args.snapshot_logs),
            max_in_snapshot_log_to_keep: args.max_in_snapshot_log_to_keep,
            // A leader that restarts takes its leadership back without an election by
            // default, and then reads at its old no-op entry or its stored commit index,
            // whichever is higher. The commit index is stored lazily, and a NoSync state
            // machine may come back below writes it had acknowledged (redb loses NoSync
            // commits at a kill), so linearizable reads could miss them: an election
            // after a restart makes the leader commit a new no-op before it reads.
            enable_leader_restore: Some(false),
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft config: {e}"))?,
    );
    let faults = Arc::new(Faults::default());
    let network = Network::new(args.id, faults.clone()).map_err(|e| format!("HTTP client: {e}"))?;
    let mut running = Vec::new();
    let mut states = Vec::new();
    for (group, stores) in (0u64..).zip(groups) {
        let GroupStores {
            log,
            sm,
            snapshot_dir,
        } = stores;
        let (log_closer, sm_closer) = (log.closer(), sm.closer());
        let engine = sm.engine().clone();
        let observer = sm.observer();
        // Before openraft starts: its start-up restore (a store behind its snapshot)
        // makes the store cover the snapshot, and a later look would say so.
        let on_start = crate::server::on_restart_name(&observer);
        let network = if many {
            network.for_group(group)
        } else {
            network.clone()
        };
        let raft = Raft::new(args.id, raft_config.clone(), network, log, sm)
            .await
            .map_err(|e| match many {
                true => format!("starting the raft of group {group}: {e}"),
                false => format!("starting raft: {e}"),
            })?;
        states.push(Arc::new(NodeState {
            id: args.id,
            group: many.then_some(group),
            raft: raft.clone(),
            engine_name: engine.engine_name().to_owned(),
            sync_mode: engine.sync_mode(),
            engine,
            observer,
            on_start,
            faults: faults.clone(),
            snapshot_dir,
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            max_in_snapshot_log_to_keep: args.max_in_snapshot_log_to_keep,
        }));
        running.push(Running {
            raft,
            log_closer,
            sm_closer,
        });
    }

    // Installed before the node reports ready: a signal from then on is a clean stop.
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let engine_name = states[0].engine_name.clone();
    let app = router(states);
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
    if many {
        eprintln!(
            "fsmstore-node {}: listening on {local}, {} groups on two {engine_name} groups \
             stores in {}",
            args.id,
            args.groups,
            dir.display()
        );
    } else {
        eprintln!(
            "fsmstore-node {}: listening on {local}, {engine_name} stores in {}",
            args.id,
            dir.display()
        );
    }

    let on_terminate = std::pin::pin!(terminate.recv());
    let on_interrupt = std::pin::pin!(interrupt.recv());
    // A fatal error in any group stops the node: its stores are shared with the others.
    let on_fatal = select_all((0u64..).zip(&running).map(|(group, member)| {
        let raft = member.raft.clone();
        Box::pin(async move {
            let fatal = fatal(raft).await;
            match many {
                true => format!("group {group}: {fatal}"),
                false => fatal,
            }
        })
    }));
    let stop = match select(select(on_terminate, on_interrupt), on_fatal).await {
        Either::Left((Either::Left(_), _)) => Stop::Signal("SIGTERM"),
        Either::Left((Either::Right(_), _)) => Stop::Signal("SIGINT"),
        Either::Right(((fatal, _, _), _)) => Stop::Fatal(fatal),
    };
    match &stop {
        Stop::Signal(name) => eprintln!("fsmstore-node {}: {name}, shutting down", args.id),
        Stop::Fatal(error) => eprintln!("fsmstore-node {}: fatal: {error}", args.id),
    }

    let _ = stop_server.send(());
    let drained = tokio::time::timeout(DRAIN, &mut server).await.is_ok();
    let shutdowns =
        futures_util::future::join_all(running.iter().map(|member| member.raft.shutdown())).await;
    if !drained
        && tokio::time::timeout(SERVER_STOP, &mut server)
            .await
            .is_err()
    {
        server.abort();
        let _ = server.await;
    }
    let mut close_failed = None;
    for ((group, member), shutdown) in (0u64..).zip(running).zip(shutdowns) {
        let Running {
            raft,
            log_closer,
            sm_closer,
        } = member;
        drop(raft);
        let of_group = match many {
            true => format!(" of group {group}"),
            false => String::new(),
        };
        if let Err(error) = shutdown {
            eprintln!(
                "fsmstore-node {}: raft shutdown{of_group}: {error}",
                args.id
            );
        }
        for (name, closer) in [("state machine", sm_closer), ("log", log_closer)] {
            if let Err(error) = closer.close(CLOSE).await {
                eprintln!(
                    "fsmstore-node {}: closing the {name} store{of_group}: {error}",
                    args.id
                );
                close_failed = Some(format!("closing the {name} store{of_group}: {error}"));
            }
        }
    }
    if let Some((log_store, sm_store)) = shared {
        // Last: a group still open would keep its groups store's engine open.
        for (name, store) in [("state machine", sm_store), ("log", log_store)] {
            if let Err(error) = store.close() {
                eprintln!(
                    "fsmstore-node {}: closing the {name} groups store: {error}",
                    args.id
                );
                close_failed = Some(format!("closing the {name} groups store: {error}"));
            }
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
