//! SIGTERM stops a node cleanly; restarted on its directory it rejoins and skips the
//! restore of a snapshot its store covers.

mod common;

use std::time::Duration;

use common::{Client, NodeProc, TempDir, converged, init, node, runtime, start_nodes};
use serde_json::json;

#[test]
fn sigterm_and_restart() {
    let root = TempDir::new("restart");
    let mut nodes = start_nodes(&["redb", "fjall", "heed"], &root.0, &[]);
    let rt = runtime();
    let client = Client::default();
    let (leader_id, follower_id, last) = rt.block_on(async {
        let leader_id = init(&client, &nodes).await;
        let leader = node(&nodes, leader_id);
        let mut last = 0;
        for i in 0..20 {
            let body = json!({"key": format!("k{i}"), "value": format!("{i}")});
            last = client.post_ok(&leader.addr, "/kv/write", body).await["index"]
                .as_u64()
                .expect("index");
        }
        let follower_id = nodes
            .iter()
            .map(|n| n.id)
            .find(|&id| id != leader_id)
            .expect("follower");
        let follower = node(&nodes, follower_id);
        let all: Vec<_> = nodes.iter().collect();
        converged(&client, &all, last).await;
        let snapshot = client
            .post_ok(&follower.addr, "/admin/snapshot", json!({}))
            .await;
        assert!(
            snapshot["snapshot_index"].as_u64() >= Some(last),
            "{snapshot}"
        );
        (leader_id, follower_id, last)
    });

    let at = nodes
        .iter()
        .position(|n| n.id == follower_id)
        .expect("follower");
    let stopped = nodes.remove(at);
    let (port, engine) = (stopped.port(), stopped.engine.clone());
    let status = stopped.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");

    let newest = rt.block_on(async {
        let leader = node(&nodes, leader_id);
        let body = json!({"key": "while-down", "value": "yes"});
        client.post_ok(&leader.addr, "/kv/write", body).await["index"]
            .as_u64()
            .expect("index")
    });
    assert!(newest > last);

    let restarted = NodeProc::start(follower_id, &engine, &root.0, port, &[]);
    assert_eq!(restarted.port(), port);
    rt.block_on(async {
        let leader = node(&nodes, leader_id);
        let state = converged(&client, &[leader, &restarted], newest).await;
        assert_eq!(state["data"]["while-down"], "yes");
        let metrics = client.metrics(&restarted.addr).await;
        assert_eq!(metrics["on_restart"], "covered", "{metrics}");
        assert_eq!(metrics["on_start"], "covered", "{metrics}");
        assert_eq!(metrics["restores"], 0, "{metrics}");
        assert_eq!(metrics["restores_at_start"], 0, "{metrics}");
        assert_eq!(metrics["current_leader"], leader_id);
    });
}
