//! A node whose disk loses power while it writes restarts consistent: the node runs in a
//! child process on the `powercut` filesystem (a directory entry is durable only once its
//! directory is synced), the power goes out after a varying number of acknowledged
//! client writes, the child is killed, and the node restarts, without FUSE, from what
//! the disk kept. Every acknowledged write must come back once the node has re-applied
//! its log (the log store is what makes a write durable), the state must equal the
//! writes in order, and the stored last log id must match the applied index. The same
//! holds for every group of a node of many groups on two groups stores, whose groups
//! share each store's fsyncs. A snapshot directory the state machine creates keeps its
//! snapshot through a cut.

#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::group_writes::{self, WriterChild, check_after_restart};
use common::router::Router;
use common::runtime;
use common::{
    Kv, Request, Sm, TypeConfig, apply, normal, open_node, set, start, start_leader, stop, varying,
};
use fsmstore::{Backend, Config, RangeQuery, SyncMode};
use fsmstore_openraft::{META_LAST_APPLIED, StateMachine, fsmstore_index};
use openraft::RaftSnapshotBuilder;
use openraft::alias::LogIdOf;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use powercut::{MetaMode, Options, PowerCut};
use rstest::rstest;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));
const CHILD_ENV: &str = "FSMSTORE_OPENRAFT_POWER_CHILD";
const GROUPS_CHILD_ENV: &str = "FSMSTORE_OPENRAFT_POWER_GROUPS_CHILD";
/// How long the parent waits for the child's acknowledgements before it gives up.
const LONGEST_RUN: Duration = Duration::from_secs(30);

/// Whether the power-cut filesystem mounts here; outside CI a machine that cannot mount
/// skips the test and says so.
fn can_mount() -> bool {
    match powercut::availability() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "power-cut tests must run in CI, but this machine cannot mount FUSE: {why}"
            );
            eprintln!("skipped: cannot mount the power-cut filesystem here: {why}");
            false
        }
    }
}

/// The child: a single node that writes `key/<i>` until its disk fails, printing the log
/// index of each acknowledged write. It snapshots after the tenth.
#[test]
fn power_writer_child() {
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
        writeln!(stdout, "ready").expect("stdout");
        for i in 0u64.. {
            let request = Request::Set {
                key: format!("key/{i:06}"),
                value: i.to_string(),
            };
            // After the cut every write fails; the parent kills this process.
            let Ok(written) = node.raft.client_write(request).await else {
                std::future::pending::<()>().await;
                unreachable!();
            };
            writeln!(stdout, "{i} {}", written.log_id.index).expect("stdout");
            stdout.flush().expect("flush");
            if i == 10 {
                let _ = node.raft.trigger().snapshot().await;
            }
        }
    });
}

/// Mounts the power-cut filesystem (POSIX metadata: a directory entry is durable once
/// its directory is synced) at `work/mnt`.
fn mount_in(work: &std::path::Path) -> PowerCut {
    PowerCut::mount(
        &work.join("mnt"),
        Options {
            meta: MetaMode::Posix,
            ..Options::default()
        },
    )
    .expect("mount the power-cut filesystem")
}

/// After how many acknowledged writes the power goes out (between `low` and `high`,
/// varying from run to run), said on stderr.
fn cut_after(backend: Backend, sync_mode: SyncMode, low: u64, high: u64) -> u64 {
    let cut_after = varying(low, high);
    eprintln!(
        "{} {}: the power goes out after {cut_after} acknowledged writes",
        backend.name(),
        sync_mode.as_str()
    );
    cut_after
}

#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_node_restarts_consistent_after_a_power_cut(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    if !can_mount() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let image = work.path().join("disk");
    let cut_after = cut_after(backend, sync_mode, 5, 40);
    let mount = mount_in(work.path());
    // The node's directories sit right in the mount's root, which the stores sync when
    // they are created.
    let spec = format!(
        "{}:{}:{}",
        backend.name(),
        sync_mode.as_str(),
        mount.path().display()
    );
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "power_writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let record = |acked: &mut Vec<(u64, u64)>, line: &str| {
        let mut fields = line.split(' ').filter_map(|f| f.parse::<u64>().ok());
        if let (Some(i), Some(index)) = (fields.next(), fields.next()) {
            acked.push((i, index));
        }
    };
    let started = Instant::now();
    while (acked.len() as u64) < cut_after {
        let left = LONGEST_RUN.saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => record(&mut acked, &line),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the writer stopped after {} acknowledged writes: {error:?}",
                    acked.len()
                );
            }
        }
    }
    mount.cut_now();
    // Acknowledgements printed after the cut were made durable before it.
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    while let Ok(line) = lines.try_recv() {
        record(&mut acked, &line);
    }
    mount.finish(&image).expect("write out the disk's image");
    let &(last_key, last_index) = acked.last().expect("acked writes");

    // The stores as the disk kept them.
    {
        let (mut log, sm) = open_node(backend, &image, sync_mode);
        let engine = sm.engine();
        let last: Option<LogIdOf<TypeConfig>> = engine
            .get_meta(META_LAST_APPLIED)
            .expect("meta")
            .map(|bytes| serde_json::from_slice(&bytes).expect("log id"));
        assert_eq!(
            engine.applied_index().expect("index"),
            last.map(|log_id| fsmstore_index(log_id.index)),
            "stored last log id and applied index disagree after the cut"
        );
        let state = runtime().block_on(log.get_log_state()).expect("log state");
        let last_log = state.last_log_id.map(|log_id| log_id.index);
        assert!(
            last_log >= Some(last_index),
            "acknowledged entries are in the log: {last_log:?} < {last_index} ({} acknowledged)",
            acked.len()
        );
    }

    runtime().block_on(async {
        let router = Router::default();
        let node = start(1, backend, &image, sync_mode, &router).await;
        node.raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(last_index), "re-applied")
            .await
            .expect("the node re-applies its log");
        // The model: the writes in order, at least every acknowledged one.
        let data = node.engine.range(&RangeQuery::all()).expect("scan");
        let written = data.len() as u64;
        assert!(
            written > last_key,
            "{written} keys after the restart, {} acknowledged",
            last_key + 1
        );
        for (i, (key, value)) in data.iter().enumerate() {
            assert_eq!(
                (key.as_ref(), value.as_ref()),
                (format!("key/{i:06}").as_bytes(), i.to_string().as_bytes()),
                "key {i} of the state"
            );
        }
        let last: Option<LogIdOf<TypeConfig>> = node
            .engine
            .get_meta(META_LAST_APPLIED)
            .expect("meta")
            .map(|bytes| serde_json::from_slice(&bytes).expect("log id"));
        assert_eq!(
            node.engine.applied_index().expect("index"),
            last.map(|log_id| fsmstore_index(log_id.index)),
            "stored last log id and applied index disagree after the restart"
        );
        stop(node, &router, 1).await;
    });
}

/// The child: a node of many groups on two groups stores, writing into every group from
/// several tasks until its disk fails (see `common::group_writes`).
#[test]
fn power_groups_writer_child() {
    if let Ok(spec) = std::env::var(GROUPS_CHILD_ENV) {
        group_writes::run_writers(&spec);
    }
}

/// A node of many groups, each with several writers at once, on its two groups stores:
/// the groups share each store's fsyncs, so a cut lands between rounds that hold
/// several groups' commits. Every write acknowledged in any group survives.
#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_node_of_many_groups_keeps_every_acknowledged_write_through_a_power_cut(
    #[case] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    if !can_mount() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let image = work.path().join("disk");
    let cut_after = cut_after(backend, sync_mode, 40, 160);
    let mount = mount_in(work.path());
    // Declared after the mount, so a failure kills the child before the mount goes.
    let mut child = WriterChild::spawn(
        "power_groups_writer_child",
        GROUPS_CHILD_ENV,
        &group_writes::spec(backend, sync_mode, mount.path()),
    );
    if let Err(why) = child.wait_for_acks(cut_after as usize, LONGEST_RUN) {
        panic!("{why}");
    }
    mount.cut_now();
    // Acknowledgements printed after the cut were made durable before it.
    let acks = child.kill();
    mount.finish(&image).expect("write out the disk's image");
    check_after_restart(backend, &image, sync_mode, &acks);
}

/// The state machine's store lives outside the mount, so that nothing but the state
/// machine itself syncs the mount's root, which holds the snapshot directory's entry.
#[test]
fn a_snapshot_in_a_new_snapshot_directory_survives_a_power_cut() {
    if !can_mount() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let image = work.path().join("disk");
    let mount = mount_in(work.path());
    let config = Config::new(SyncMode::NoSync);
    let mut sm: Sm = StateMachine::open(
        Backend::Memory,
        work.path().join("sm"),
        mount.path().join("snapshots"),
        &config,
        Kv,
    )
    .expect("open state machine");
    let built = runtime().block_on(async {
        apply(
            &mut sm,
            vec![normal(0, set("a", "1")), normal(1, set("b", "2"))],
        )
        .await;
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.expect("build").meta
    });
    mount.cut_now();
    drop(sm);
    mount.finish(&image).expect("write out the disk's image");

    let mut sm: Sm = StateMachine::open(
        Backend::Memory,
        work.path().join("sm-after"),
        image.join("snapshots"),
        &config,
        Kv,
    )
    .expect("open state machine");
    let current = runtime()
        .block_on(sm.get_current_snapshot())
        .expect("current snapshot")
        .expect("the snapshot built before the cut");
    assert_eq!(current.meta, built);
}

/// A store syncs its own directory's entry, not the entries of the directories above it:
/// a node's data directory must be created with `fsmstore::create_dir_all_durably`. Two
/// stores on one disk, each in a new chain of directories, apply one Sync batch and the
/// power goes out. The chain created durably keeps its store; the one created with a
/// plain `create_dir_all` (after the root's last fsync) is gone with everything its
/// store had made durable inside it.
#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_store_in_a_new_data_directory_survives_a_power_cut_only_if_created_durably(
    #[case] backend: Backend,
) {
    if !can_mount() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let image = work.path().join("disk");
    let mount = mount_in(work.path());
    let durable = mount.path().join("durable/node/data");
    let plain = mount.path().join("plain/node/data");
    fsmstore::create_dir_all_durably(&durable).expect("create durably");
    std::fs::create_dir_all(&plain).expect("create");
    let config = Config::new(SyncMode::Sync);
    for dir in [&durable, &plain] {
        let store = fsmstore::open(backend, dir.join("store"), &config).expect("open");
        let mut batch = fsmstore::WriteBatch::new();
        batch.put("acknowledged", "yes");
        store.apply(&batch, Some(1)).expect("a Sync apply");
    }
    mount.cut_now();
    mount.finish(&image).expect("write out the disk's image");

    let store = fsmstore::open(backend, image.join("durable/node/data/store"), &config)
        .expect("the durably created store opens");
    assert_eq!(store.applied_index().expect("index"), Some(1));
    assert_eq!(
        store.get(b"acknowledged").expect("read").as_deref(),
        Some(&b"yes"[..])
    );
    assert!(
        !image.join("plain").exists(),
        "the plainly created chain survived: the disk no longer models a lost entry"
    );
}
