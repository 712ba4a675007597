//! A node killed (SIGKILL) while it writes restarts consistent: the stored last log id
//! matches the applied index, every acknowledged write is in the log and comes back,
//! and the snapshot the store already covers is not restored. A committed log id saved
//! just before a kill is read back after it. A node of many groups on two groups stores,
//! written from several tasks per group, keeps every group's acknowledged writes and
//! nothing of another group.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::group_writes::{self, WriterChild, check_after_restart};
use common::router::Router;
use common::runtime;
use common::{Request, TypeConfig, log_id, open_node, start, start_leader, stop, varying};
use fsmstore::{Backend, SyncMode};
use fsmstore_openraft::{META_LAST_APPLIED, fsmstore_index};
use openraft::alias::LogIdOf;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use rstest::rstest;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));
const CHILD_ENV: &str = "FSMSTORE_OPENRAFT_KILL_CHILD";
const COMMITTED_CHILD_ENV: &str = "FSMSTORE_OPENRAFT_COMMITTED_CHILD";
const GROUPS_CHILD_ENV: &str = "FSMSTORE_OPENRAFT_KILL_GROUPS_CHILD";
/// How long the parent waits for a child's acknowledgements before it gives up.
const LONGEST_RUN: Duration = Duration::from_secs(30);

/// The child: a single node that writes `key/<i>` until it is killed, printing the log
/// index of each acknowledged write. It snapshots after the tenth.
#[test]
fn writer_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let backend: Backend = parts.next().expect("backend").parse().expect("backend");
    let sync_mode: SyncMode = parts.next().expect("mode").parse().expect("mode");
    let dir = parts.next().expect("dir").to_string();
    runtime().block_on(async {
        let router = Router::default();
        let node = start_leader(backend, std::path::Path::new(&dir), sync_mode, &router).await;
        let mut stdout = std::io::stdout();
        for i in 0u64.. {
            let request = Request::Set {
                key: format!("key/{i:06}"),
                value: i.to_string(),
            };
            let written = node.raft.client_write(request).await.expect("write");
            writeln!(stdout, "{i} {}", written.log_id.index).expect("stdout");
            stdout.flush().expect("flush");
            if i == 10 {
                node.raft.trigger().snapshot().await.expect("snapshot");
            }
        }
    });
}

#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_killed_node_restarts_consistent(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = format!(
        "{}:{}:{}",
        backend.name(),
        sync_mode.as_str(),
        dir.path().display()
    );
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["writer_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while acked.len() < 40 {
        let line = lines.next().expect("the writer died").expect("read");
        let mut fields = line.split(' ').filter_map(|f| f.parse::<u64>().ok());
        if let (Some(i), Some(index)) = (fields.next(), fields.next()) {
            acked.push((i, index));
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let &(last_key, last_index) = acked.last().expect("acked writes");

    // The stores as the kill left them.
    {
        let (mut log, mut sm) = open_node(backend, dir.path(), sync_mode);
        let engine = sm.engine();
        let last: Option<LogIdOf<TypeConfig>> = engine
            .get_meta(META_LAST_APPLIED)
            .expect("meta")
            .map(|bytes| serde_json::from_slice(&bytes).expect("log id"));
        assert_eq!(
            engine.applied_index().expect("index"),
            last.map(|log_id| fsmstore_index(log_id.index)),
            "stored last log id and applied index disagree after the kill"
        );
        let snapshot = runtime()
            .block_on(sm.get_current_snapshot())
            .expect("current snapshot")
            .expect("the writer's snapshot");
        let snapshot_index = snapshot.meta.last_log_id.expect("snapshot log id").index;
        assert!(
            sm.engine().applied_index().expect("index") >= Some(fsmstore_index(snapshot_index)),
            "the store is at or past its snapshot"
        );
        let state = runtime().block_on(log.get_log_state()).expect("log state");
        let last_log = state.last_log_id.expect("a log");
        assert!(
            last_log.index >= last_index,
            "acknowledged entries are in the log: {last_log:?} < {last_index}"
        );
    }

    runtime().block_on(async {
        let router = Router::default();
        let node = start(1, backend, dir.path(), sync_mode, &router).await;
        node.raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(last_index), "re-applied")
            .await
            .expect("applied");
        for i in 0..=last_key {
            let value = node
                .engine
                .get(format!("key/{i:06}").as_bytes())
                .expect("get");
            assert_eq!(
                value.as_deref(),
                Some(i.to_string().as_bytes()),
                "key/{i:06}"
            );
        }
        assert_eq!(
            node.restores.load(Ordering::Relaxed),
            0,
            "the store covers its snapshot"
        );
        stop(node, &router, 1).await;
    });
}

/// The child: a node of many groups on two groups stores, writing into every group from
/// several tasks until it is killed (see `common::group_writes`).
#[test]
fn groups_writer_child() {
    if let Ok(spec) = std::env::var(GROUPS_CHILD_ENV) {
        group_writes::run_writers(&spec);
    }
}

/// A node of many groups, each with several writers at once, on its two groups stores,
/// killed after a varying number of acknowledged writes: every group comes back with
/// every write acknowledged in it and nothing of another group.
#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_killed_node_of_many_groups_keeps_every_acknowledged_write(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kill_after = varying(40, 200);
    eprintln!(
        "{} {}: killed after {kill_after} acknowledged writes",
        backend.name(),
        sync_mode.as_str()
    );
    let mut child = WriterChild::spawn(
        "groups_writer_child",
        GROUPS_CHILD_ENV,
        &group_writes::spec(backend, sync_mode, dir.path()),
    );
    if let Err(why) = child.wait_for_acks(kill_after as usize, LONGEST_RUN) {
        panic!("{why}");
    }
    let acks = child.kill();
    check_after_restart(backend, dir.path(), sync_mode, &acks);
}

/// The committed log id the child saves.
fn committed() -> LogIdOf<TypeConfig> {
    log_id(3, 41)
}

/// The child: saves the committed log id in a node's log store, waits until the log
/// store's writer made it durable, says so, and waits to be killed. Nothing after the
/// save (no append) asks for a sync: the writer syncs every commit on its own.
#[test]
fn committed_child() {
    let Ok(spec) = std::env::var(COMMITTED_CHILD_ENV) else {
        return;
    };
    let (backend, dir) = spec.split_once(':').expect("backend:dir");
    let backend: Backend = backend.parse().expect("backend");
    let (mut log, _sm) = open_node(backend, std::path::Path::new(dir), SyncMode::NoSync);
    runtime().block_on(async {
        log.save_committed(Some(committed()))
            .await
            .expect("save committed");
    });
    // Nothing else is written: the log store's writer must sync the saved log id on its
    // own, without waiting for an append.
    for _ in 0..1000 {
        let stats = log.writer_stats();
        if stats.commits == 1 && stats.durable == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let stats = log.writer_stats();
    assert_eq!(
        stats.durable, stats.commits,
        "the writer never synced: {stats:?}"
    );
    println!("saved");
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::park();
    }
}

/// redb loses a buffered commit even on a kill: a committed log id the writer did not
/// sync would come back older, and a state machine in NoSync would restart behind it.
#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_saved_committed_log_id_survives_a_kill(#[case] backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "committed_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            COMMITTED_CHILD_ENV,
            format!("{}:{}", backend.name(), dir.path().display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let saved = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .any(|line| line.ends_with("saved"));
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(saved, "the child died before it saved");

    let (mut log, _sm) = open_node(backend, dir.path(), SyncMode::NoSync);
    let read = runtime()
        .block_on(log.read_committed())
        .expect("read committed");
    assert_eq!(
        read,
        Some(committed()),
        "the committed log id after the kill"
    );
}
