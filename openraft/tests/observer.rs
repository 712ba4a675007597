//! A state machine's state read through its `Observer` in plain types, as an application
//! would after handing the state machine to `Raft`: the last applied log id, membership
//! and applied index, the current snapshot, what a restart would do with it, and how
//! many installs restored or were skipped.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::router::Router;
use common::{Request, lead_alone, open_node, released, runtime};
use fsmstore::{Backend, SyncMode};
use fsmstore_openraft::{OnRestart, fsmstore_index};
use openraft::storage::RaftStateMachine;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn an_observer_reads_the_state_snapshot_and_restart_plan_of_a_running_node() {
    let work = tempfile::tempdir().expect("tempdir");
    let (root, other) = (work.path().join("node"), work.path().join("other"));
    runtime().block_on(async {
        let (log, sm) = open_node(Backend::Fjall, &root, SyncMode::NoSync);
        let observer = sm.observer();
        let (engine, log_engine) = (sm.engine().clone(), log.engine().clone());
        assert_eq!(observer.last_applied().expect("read"), None);
        assert_eq!(observer.on_restart().expect("read"), OnRestart::NoSnapshot);

        let router = Router::default();
        let raft = lead_alone(log, sm, &router).await;
        let mut last = None;
        for i in 0..5 {
            let request = Request::Set {
                key: format!("key/{i}"),
                value: i.to_string(),
            };
            last = Some(raft.client_write(request).await.expect("write").log_id);
        }
        let last = last.expect("written");

        // The observer reads what the state machine, now inside `Raft`, applied.
        assert_eq!(observer.last_applied().expect("read"), Some(last));
        assert_eq!(
            observer.applied_index().expect("read"),
            Some(fsmstore_index(last.index))
        );
        let voters: BTreeSet<u64> = observer
            .membership()
            .expect("read")
            .membership()
            .voter_ids()
            .collect();
        assert_eq!(voters, BTreeSet::from([1]));
        assert_eq!(observer.current_snapshot().expect("read"), None);

        raft.trigger().snapshot().await.expect("snapshot");
        raft.wait(TIMEOUT)
            .snapshot(last, "snapshot")
            .await
            .expect("built");
        let snapshot = observer
            .current_snapshot()
            .expect("read")
            .expect("a snapshot");
        assert_eq!(snapshot.last_log_id, Some(last));
        assert_eq!(observer.on_restart().expect("read"), OnRestart::Covered);
        raft.shutdown().await.expect("shutdown");
        router.remove(1);
        drop(raft);
        // An observer holds the store open, as every handle on it does.
        drop(observer);
        assert!(
            released(&[&engine, &log_engine]).await,
            "the stores are released"
        );
        drop((engine, log_engine));

        // A store behind the snapshot: a fresh node whose directory holds the snapshot.
        let (_log, mut behind) = open_node(Backend::Redb, &other, SyncMode::NoSync);
        let behind_observer = behind.observer();
        let (_log_at, mut at) = open_node(Backend::Fjall, &root, SyncMode::NoSync);
        let current = at
            .get_current_snapshot()
            .await
            .expect("read")
            .expect("a snapshot");
        behind
            .install_snapshot(&current.meta, current.snapshot)
            .await
            .expect("install into the empty store");
        assert_eq!(behind_observer.restores(), 1);
        assert_eq!(
            behind_observer.restores_received(),
            1,
            "a snapshot from elsewhere"
        );
        assert_eq!(behind_observer.restores_at_start(), 0);
        assert_eq!(behind_observer.installs_skipped(), 0);
        assert_eq!(behind_observer.last_applied().expect("read"), Some(last));
        assert_eq!(
            behind_observer.on_restart().expect("read"),
            OnRestart::Covered
        );

        // The same snapshot into the store that already holds it restores nothing.
        let at_observer = at.observer();
        let current = at
            .get_current_snapshot()
            .await
            .expect("read")
            .expect("a snapshot");
        at.install_snapshot(&current.meta, current.snapshot)
            .await
            .expect("install into the store at the snapshot");
        assert_eq!(at_observer.restores(), 0);
        assert_eq!(at_observer.installs_skipped(), 1);
    });
}

/// A NoSync store that lost applies behind its snapshot is what `Restore` reports, and
/// installing that snapshot counts as a restore at start-up.
#[test]
fn a_store_behind_its_current_snapshot_would_be_restored_on_restart() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, behind) = (work.path().join("source"), work.path().join("behind"));
    runtime().block_on(async {
        let (_log, mut sm) = open_node(Backend::Heed, &source, SyncMode::NoSync);
        common::apply(&mut sm, vec![common::normal(1, common::set("k", "v"))]).await;
        let mut builder = sm.get_snapshot_builder().await;
        let built = openraft::RaftSnapshotBuilder::build_snapshot(&mut builder)
            .await
            .expect("build");
        // The snapshot's files go into the other node's directory; its store stays empty.
        let (_log, behind_sm) = open_node(Backend::Heed, &behind, SyncMode::NoSync);
        for entry in std::fs::read_dir(source.join("snapshots")).expect("list") {
            let path = entry.expect("entry").path();
            std::fs::copy(
                &path,
                behind
                    .join("snapshots")
                    .join(path.file_name().expect("name")),
            )
            .expect("copy");
        }
        let observer = behind_sm.observer();
        assert_eq!(
            observer
                .current_snapshot()
                .expect("read")
                .map(|meta| meta.last_log_id),
            Some(built.meta.last_log_id)
        );
        assert_eq!(observer.last_applied().expect("read"), None);
        assert_eq!(observer.on_restart().expect("read"), OnRestart::Restore);

        // What openraft does at start-up: install the directory's own current snapshot.
        let mut behind_sm = behind_sm;
        let current = behind_sm
            .get_current_snapshot()
            .await
            .expect("read")
            .expect("a snapshot");
        behind_sm
            .install_snapshot(&current.meta, current.snapshot)
            .await
            .expect("install");
        assert_eq!(observer.restores_at_start(), 1);
        assert_eq!(observer.restores_received(), 0);
        assert_eq!(observer.on_restart().expect("read"), OnRestart::Covered);
    });
}
