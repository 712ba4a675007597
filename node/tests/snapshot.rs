//! A learner on another engine catches up by a snapshot streamed from the leader.

mod common;

use std::time::Duration;

use common::{Client, NodeProc, TempDir, converged, init, node, runtime, start_nodes, wait_for};
use serde_json::json;

#[test]
fn learner_catches_up_by_snapshot_across_engines() {
    let root = TempDir::new("snapshot");
    // Every entry a snapshot covers may be purged.
    let keep_none = ["--max-in-snapshot-log-to-keep", "0"];
    let nodes = start_nodes(&["redb", "fjall", "heed"], &root.0, &keep_none);
    runtime().block_on(async {
        let client = Client::default();
        let leader_id = init(&client, &nodes).await;
        let leader = node(&nodes, leader_id);

        let mut last = 0;
        for i in 0..60 {
            let body = json!({"key": format!("key/{i:03}"), "value": format!("v{i}")});
            let written = client.post_ok(&leader.addr, "/kv/write", body).await;
            last = written["index"].as_u64().expect("index");
        }

        let snapshot = client
            .post_ok(&leader.addr, "/admin/snapshot", json!({}))
            .await;
        let snapshot_index = snapshot["snapshot_index"].as_u64().expect("snapshot index");
        assert!(snapshot_index >= last, "{snapshot}");
        // Past the snapshot, a purge would trip openraft's next policy purge: refused.
        let (status, refused) = client
            .post(
                &leader.addr,
                "/admin/purge",
                json!({"upto": snapshot_index + 1}),
            )
            .await;
        assert_eq!(status, 409, "{refused}");
        client
            .post_ok(
                &leader.addr,
                "/admin/purge",
                json!({"upto": snapshot_index}),
            )
            .await;
        wait_for(
            "the leader's log purged",
            Duration::from_secs(10),
            || async {
                let metrics = client.metrics(&leader.addr).await;
                (metrics["purged_index"].as_u64() == Some(snapshot_index)).then_some(())
            },
        )
        .await;

        // Another engine than the leader's: the snapshot stream is portable.
        let engine = if leader.engine == "fjall" {
            "heed"
        } else {
            "fjall"
        };
        let learner = NodeProc::start(4, engine, &root.0, 0, &[]);
        let added = client
            .post_ok(
                &leader.addr,
                "/cluster/add-learner",
                json!({"id": 4, "addr": learner.addr}),
            )
            .await;
        assert!(added["index"].as_u64().expect("index") > last, "{added}");

        let state = converged(&client, &[leader, &learner], last).await;
        assert_eq!(state["data"].as_object().expect("data").len(), 60);
        assert_eq!(state["data"]["key/059"], "v59");
        let read = client.get_ok(&learner.addr, "/kv/read/key/059").await;
        assert_eq!(read["value"], "v59");

        let metrics = client.metrics(&learner.addr).await;
        assert_eq!(metrics["state"], "Learner", "{metrics}");
        assert_eq!(metrics["engine"], engine);
        assert!(
            metrics["restores_received"].as_u64() >= Some(1),
            "the learner did not install a snapshot: {metrics}"
        );
        assert!(metrics["snapshot_index"].as_u64() >= Some(snapshot_index));
        let leader_metrics = client.metrics(&leader.addr).await;
        assert_eq!(leader_metrics["learners"], json!([4]));

        // It keeps following by the log after the snapshot.
        let written = client
            .post_ok(
                &leader.addr,
                "/kv/write",
                json!({"key": "after", "value": "1"}),
            )
            .await;
        let after = written["index"].as_u64().expect("index");
        let state = converged(&client, &[leader, &learner], after).await;
        assert_eq!(state["data"]["after"], "1");
    });
}
