//! What openraft's suite does not cover: normal entries and their responses through a
//! real `Raft`, reads of pending writes inside one apply call, restarts in both sync
//! modes without a needless restore, snapshots between engines, damaged snapshots.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::router::Router;
use common::runtime;
use common::{
    Entry, Request, Response, Sm, TypeConfig, apply, log_id, normal, open_node, set, start,
    start_leader, stop,
};
use fsmstore::{Backend, Engine, SyncMode};
use fsmstore_openraft::{META_LAST_APPLIED, META_MEMBERSHIP, fsmstore_index};
use openraft::alias::{LogIdOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::{Membership, RaftSnapshotBuilder};
use rstest::rstest;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

fn value(engine: &dyn Engine, key: &str) -> Option<String> {
    engine
        .get(key.as_bytes())
        .expect("get")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// The stored last log id and fsmstore's applied index agree.
fn assert_consistent(engine: &dyn Engine) {
    let last: Option<LogIdOf<TypeConfig>> = engine
        .get_meta(META_LAST_APPLIED)
        .expect("meta")
        .map(|bytes| serde_json::from_slice(&bytes).expect("log id"));
    assert_eq!(
        engine.applied_index().expect("applied index"),
        last.map(|log_id| fsmstore_index(log_id.index)),
        "stored last log id and applied index disagree"
    );
}

fn data(engine: &dyn Engine) -> Vec<(String, String)> {
    engine
        .scan_prefix(b"")
        .expect("scan")
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into(),
                String::from_utf8_lossy(&v).into(),
            )
        })
        .collect()
}

/// A request the application rejects (`ApplyError::Rejected`) answers the client with
/// the rejection, commits none of its ops, and leaves the node serving; the entries
/// around it apply.
#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_rejected_request_answers_the_client_commits_nothing_and_the_node_goes_on(
    #[case] backend: Backend,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let router = Router::default();
        let node = start_leader(backend, dir.path(), SyncMode::Sync, &router).await;
        let increment = |key: &str, by: &str| Request::Increment {
            key: key.into(),
            by: by.into(),
        };
        let answer = |written: openraft::raft::ClientWriteResponse<TypeConfig>| written.data.0;
        let write = |request| node.raft.client_write(request);
        assert_eq!(
            answer(write(increment("n", "5")).await.expect("write")),
            Some("5".into())
        );
        let rejected = write(increment("m", "five")).await.expect("answered");
        let rejected_at = rejected.log_id.index;
        assert_eq!(answer(rejected), Some("not a number: five".into()));
        assert_eq!(
            answer(write(increment("n", "2")).await.expect("write")),
            Some("7".into())
        );
        let engine = &*node.engine;
        assert_eq!(value(engine, "n").as_deref(), Some("7"));
        assert_eq!(value(engine, "touched/n").as_deref(), Some("yes"));
        assert_eq!(value(engine, "touched/m"), None, "the rejected entry's ops");
        assert_eq!(value(engine, "m"), None);
        assert!(
            engine.applied_index().expect("index") > Some(fsmstore_index(rejected_at)),
            "the entries after the rejected one applied"
        );
        stop(node, &router, 1).await;
    });
}

/// An application that scans while it applies sees the earlier entries of the same
/// apply call: their puts merged into the store's keys in order, their deletes and
/// prefix deletes applied, in both directions and with a limit.
#[rstest]
#[case::memory(Backend::Memory)]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn range_reads_in_an_apply_call_see_the_earlier_entries_of_the_call(#[case] backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_log, mut sm) = open_node(backend, dir.path(), SyncMode::NoSync);
    let scan = |index, reverse, limit, into: &str| {
        normal(
            index,
            Request::ScanInto {
                prefix: "p/".into(),
                reverse,
                limit,
                into: into.into(),
            },
        )
    };
    runtime().block_on(async {
        apply(
            &mut sm,
            vec![
                normal(1, set("p/1", "a")),
                normal(2, set("p/3", "c")),
                normal(3, set("q/1", "other")),
            ],
        )
        .await;
        apply(
            &mut sm,
            vec![
                normal(4, set("p/2", "b")),
                normal(5, set("p/3", "C")),
                scan(6, false, None, "seen/all"),
                normal(
                    7,
                    Request::DeletePrefix {
                        prefix: "p/".into(),
                    },
                ),
                normal(8, set("p/4", "d")),
                scan(9, false, None, "seen/after-delete"),
                normal(10, set("p/5", "e")),
                scan(11, true, Some(1), "seen/last"),
            ],
        )
        .await;
    });
    let engine = &**sm.engine();
    assert_eq!(
        value(engine, "seen/all").as_deref(),
        Some("p/1=a,p/2=b,p/3=C")
    );
    assert_eq!(value(engine, "seen/after-delete").as_deref(), Some("p/4=d"));
    assert_eq!(value(engine, "seen/last").as_deref(), Some("p/5=e"));
}

#[rstest]
#[case::memory(Backend::Memory)]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn one_apply_call_reads_its_pending_writes_and_commits_once(#[case] backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_log, mut sm) = open_node(backend, dir.path(), SyncMode::Sync);
    runtime().block_on(async {
        apply(
            &mut sm,
            vec![
                Entry::new_blank(log_id(1, 0)),
                normal(1, set("k", "a")),
                normal(2, set("p/1", "x")),
            ],
        )
        .await;
        assert_consistent(&**sm.engine());
        apply(
            &mut sm,
            vec![
                normal(
                    3,
                    Request::Append {
                        key: "k".into(),
                        suffix: "b".into(),
                    },
                ),
                normal(
                    4,
                    Request::Append {
                        key: "k".into(),
                        suffix: "c".into(),
                    },
                ),
                normal(
                    5,
                    Request::DeletePrefix {
                        prefix: "p/".into(),
                    },
                ),
                normal(
                    6,
                    Request::Append {
                        key: "p/1".into(),
                        suffix: "y".into(),
                    },
                ),
                Entry::new_membership(
                    log_id(1, 7),
                    Membership::new_with_defaults(vec![[1u64, 2].into()], []),
                ),
                normal(
                    8,
                    Request::Append {
                        key: "p/2".into(),
                        suffix: "z".into(),
                    },
                ),
            ],
        )
        .await;
    });
    let engine = &**sm.engine();
    assert_eq!(value(engine, "k").as_deref(), Some("abc"));
    assert_eq!(
        value(engine, "p/1").as_deref(),
        Some("y"),
        "the delete of entry 5 is seen by entry 6"
    );
    assert_eq!(value(engine, "p/2").as_deref(), Some("z"));
    assert_eq!(
        engine.applied_index().expect("index"),
        Some(fsmstore_index(8))
    );
    assert_consistent(engine);
    let membership: StoredMembershipOf<TypeConfig> = serde_json::from_slice(
        &engine
            .get_meta(META_MEMBERSHIP)
            .expect("meta")
            .expect("membership"),
    )
    .expect("decode");
    assert_eq!(membership.log_id(), &Some(log_id(1, 7)));
}

#[rstest]
fn a_node_answers_writes_and_restarts_without_restoring_its_snapshot(
    #[values(Backend::Memory, Backend::Redb, Backend::Fjall, Backend::Heed)] backend: Backend,
    #[values(SyncMode::Sync, SyncMode::NoSync)] sync_mode: SyncMode,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = Router::default();
    runtime().block_on(async {
        let node = start_leader(backend, dir.path(), sync_mode, &router).await;
        let written = node.raft.client_write(set("a", "1")).await.expect("write");
        assert_eq!(written.data, Response(Some("1".into())));
        assert_consistent(&*node.engine);
        let appended = node
            .raft
            .client_write(Request::Append {
                key: "a".into(),
                suffix: "2".into(),
            })
            .await
            .expect("write");
        assert_eq!(appended.data, Response(Some("12".into())));
        assert_eq!(
            value(&*node.engine, "a").as_deref(),
            Some("12"),
            "applied before the response"
        );
        assert_consistent(&*node.engine);

        node.raft.trigger().snapshot().await.expect("trigger");
        let snapshot_at = appended.log_id;
        node.raft
            .wait(TIMEOUT)
            .snapshot(snapshot_at, "snapshot")
            .await
            .expect("snapshot");
        let last = node
            .raft
            .client_write(set("b", "3"))
            .await
            .expect("write")
            .log_id;
        assert_consistent(&*node.engine);
        if backend == Backend::Memory {
            // Nothing of the memory engine survives its process.
            return;
        }
        stop(node, &router, 1).await;

        let node = start(1, backend, dir.path(), sync_mode, &router).await;
        node.raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(last.index), "re-applied")
            .await
            .expect("applied");
        assert_eq!(value(&*node.engine, "a").as_deref(), Some("12"));
        assert_eq!(value(&*node.engine, "b").as_deref(), Some("3"));
        assert_eq!(
            node.restores.load(Ordering::Relaxed),
            0,
            "the store already covers the snapshot"
        );
        assert_consistent(&*node.engine);
        stop(node, &router, 1).await;
    });
}

/// Fills a state machine, builds its snapshot and returns it.
async fn snapshot_of(sm: &mut Sm) -> openraft::alias::SnapshotOf<TypeConfig, fs::File> {
    apply(
        sm,
        vec![
            Entry::new_membership(
                log_id(1, 0),
                Membership::new_with_defaults(vec![[1u64].into()], []),
            ),
            normal(1, set("x", "1")),
            normal(2, set("y", "2")),
        ],
    )
    .await;
    let mut builder = sm.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("build")
}

#[rstest]
#[case::redb_to_fjall(Backend::Redb, Backend::Fjall)]
#[case::fjall_to_heed(Backend::Fjall, Backend::Heed)]
#[case::heed_to_memory(Backend::Heed, Backend::Memory)]
#[case::memory_to_redb(Backend::Memory, Backend::Redb)]
#[cfg_attr(
    feature = "rocksdb",
    case::rocksdb_to_fjall(Backend::RocksDb, Backend::Fjall)
)]
#[cfg_attr(
    feature = "rocksdb",
    case::redb_to_rocksdb(Backend::Redb, Backend::RocksDb)
)]
fn a_snapshot_moves_between_engines(#[case] leader: Backend, #[case] follower: Backend) {
    let (dir_l, dir_f) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (_log_l, mut sm_l) = open_node(leader, dir_l.path(), SyncMode::NoSync);
    let (_log_f, mut sm_f) = open_node(follower, dir_f.path(), SyncMode::NoSync);
    runtime().block_on(async {
        let snapshot = snapshot_of(&mut sm_l).await;
        assert_eq!(
            sm_l.engine().applied_index().expect("index"),
            Some(fsmstore_index(2)),
            "pinned at the snapshot"
        );
        sm_f.install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .expect("install");
        assert_eq!(sm_f.restores(), 1);
        assert_eq!(
            sm_f.applied_state().await.expect("state"),
            sm_l.applied_state().await.expect("state")
        );
        assert_eq!(data(&**sm_f.engine()), data(&**sm_l.engine()));
        assert_consistent(&**sm_f.engine());
        let current = sm_f
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, snapshot.meta);

        // Installing its own current snapshot (as openraft does at start-up) restores
        // nothing and leaves the file intact.
        sm_f.install_snapshot(&current.meta, current.snapshot)
            .await
            .expect("reinstall");
        assert_eq!(sm_f.restores(), 1);
        let again = sm_f
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert!(fsmstore::verify_snapshot(again.snapshot).is_ok());
    });
}

#[rstest]
#[case::memory(Backend::Memory)]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_damaged_snapshot_is_refused_before_it_reaches_the_store(#[case] backend: Backend) {
    let (dir_l, dir_f) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (_log_l, mut sm_l) = open_node(Backend::Redb, dir_l.path(), SyncMode::NoSync);
    let (_log_f, mut sm_f) = open_node(backend, dir_f.path(), SyncMode::NoSync);
    runtime().block_on(async {
        let snapshot = snapshot_of(&mut sm_l).await;
        let damaged_path = dir_l.path().join("damaged");
        let mut source = snapshot.snapshot;
        let mut damaged = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&damaged_path)
            .expect("create");
        std::io::copy(&mut source, &mut damaged).expect("copy");
        let len = damaged.metadata().expect("metadata").len();
        damaged.seek(SeekFrom::Start(len / 2)).expect("seek");
        damaged.write_all(b"\xA5\x5A").expect("damage");
        let error = sm_f
            .install_snapshot(&snapshot.meta, damaged)
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::Other, "{error}");
        assert_eq!(sm_f.restores(), 0);
        assert_eq!(sm_f.applied_state().await.expect("state").0, None);
        assert!(data(&**sm_f.engine()).is_empty());
        assert!(
            sm_f.get_current_snapshot()
                .await
                .expect("current")
                .is_none()
        );

        // Right bytes, wrong meta: refused too.
        let snapshot = sm_l
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        let mut meta = snapshot.meta.clone();
        meta.last_log_id = Some(log_id(1, 1));
        assert!(
            sm_f.install_snapshot(&meta, snapshot.snapshot)
                .await
                .is_err()
        );
        assert_eq!(sm_f.restores(), 0);
    });
}
