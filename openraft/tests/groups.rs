//! Many raft groups on one node's two groups stores: a snapshot of one group is built on
//! one node, sent to another and installed there, and no other group of either node
//! changes.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::groups::{GroupStores, start_groups, stop_groups};
use common::router::Router;
use common::{Request, purging_raft_config, runtime};
use fsmstore::{Backend, Bytes, Engine, SyncMode, WriteBatch};
use openraft::BasicNode;
use rstest::rstest;

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// The raft groups node 1 leads; the snapshot is of the first.
const GROUPS: [u64; 3] = [1, 2, 3];
/// Groups of node 2's stores that no raft runs: data the install must leave alone.
const BYSTANDERS: [u64; 2] = [0, 2];

/// Everything a group's state machine holds: data, and its applied index.
fn contents(engine: &dyn Engine) -> (Vec<(Bytes, Bytes)>, Option<u64>) {
    (
        engine.scan_prefix(b"").expect("scan"),
        engine.applied_index().expect("applied index"),
    )
}

#[rstest]
#[case::redb(Backend::Redb)]
#[case::fjall(Backend::Fjall)]
#[case::heed(Backend::Heed)]
#[cfg_attr(feature = "rocksdb", case::rocksdb(Backend::RocksDb))]
fn a_snapshot_of_one_group_is_built_sent_and_installed_without_touching_the_others(
    #[case] backend: Backend,
) {
    let work = tempfile::tempdir().expect("tempdir");
    let (root1, root2) = (work.path().join("node1"), work.path().join("node2"));
    // Node 2's stores already hold groups of their own, with data.
    {
        let stores = GroupStores::open(backend, &root2, SyncMode::NoSync).expect("stores");
        for group in BYSTANDERS {
            stores.sm.create_group(group).expect("create");
            let mut batch = WriteBatch::new();
            batch.put(format!("bystander/{group}"), "kept");
            let engine = stores.sm.open_group(group).expect("open");
            engine.apply(&batch, Some(5)).expect("apply");
        }
        stores.close().expect("close");
    }
    runtime().block_on(async {
        let router = Router::default();
        let node1 = start_groups(
            1,
            backend,
            &root1,
            SyncMode::NoSync,
            GROUPS,
            &purging_raft_config(),
            &router,
        )
        .await
        .expect("node 1");
        for member in node1.groups.values() {
            member
                .raft
                .initialize(BTreeMap::from([(1u64, BasicNode::default())]))
                .await
                .expect("initialize");
            member
                .raft
                .wait(TIMEOUT)
                .current_leader(1, "node 1 leads")
                .await
                .expect("leader");
        }
        let mut last = BTreeMap::new();
        for (&group, member) in &node1.groups {
            for i in 0..10 {
                let request = Request::Set {
                    key: format!("key/{i:02}"),
                    value: format!("g{group}-{i}"),
                };
                let written = member.raft.client_write(request).await.expect("write");
                last.insert(group, written.log_id);
            }
        }
        let sent = &node1.groups[&GROUPS[0]];
        let snapshot = last[&GROUPS[0]];
        sent.raft.trigger().snapshot().await.expect("snapshot");
        let waits = sent.raft.wait(TIMEOUT);
        waits.snapshot(snapshot, "snapshot").await.expect("built");
        waits
            .purged(Some(snapshot), "purged")
            .await
            .expect("purged behind the snapshot");
        let others_before: Vec<_> = GROUPS[1..]
            .iter()
            .map(|group| contents(&*node1.groups[group].engine))
            .collect();

        let node2 = start_groups(
            2,
            backend,
            &root2,
            SyncMode::NoSync,
            [GROUPS[0]],
            &purging_raft_config(),
            &router,
        )
        .await
        .expect("node 2");
        sent.raft
            .add_learner(2, BasicNode::default(), true)
            .await
            .expect("add node 2 as a learner");
        let received = &node2.groups[&GROUPS[0]];
        received
            .raft
            .wait(TIMEOUT)
            .applied_index_at_least(Some(snapshot.index), "node 2 caught up")
            .await
            .expect("caught up");
        assert_eq!(
            received.restores.load(Ordering::Relaxed),
            1,
            "node 2 took the group by its snapshot"
        );
        assert_eq!(
            received.engine.scan_prefix(b"").expect("scan"),
            sent.engine.scan_prefix(b"").expect("scan"),
            "the installed group holds the sent one's data"
        );
        for group in BYSTANDERS {
            let engine = node2.stores().sm.open_group(group).expect("open");
            assert_eq!(
                contents(&*engine),
                (
                    vec![(
                        Bytes::from(format!("bystander/{group}")),
                        Bytes::from_static(b"kept")
                    )],
                    Some(5)
                ),
                "group {group} of node 2 after the install"
            );
        }
        for (group, before) in GROUPS[1..].iter().zip(others_before) {
            let member = &node1.groups[group];
            assert_eq!(contents(&*member.engine), before, "group {group} of node 1");
            assert_eq!(member.restores.load(Ordering::Relaxed), 0);
        }
        stop_groups(node2, &router).await.expect("stop node 2");
        stop_groups(node1, &router).await.expect("stop node 1");
    });
}
