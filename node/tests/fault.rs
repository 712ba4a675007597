//! The fault layer: a leader cut off from its followers loses its leadership, and
//! writes to it never report success; healed, the cluster converges.

mod common;

use std::time::Duration;

use common::{
    Client, TempDir, agreed_leader, converged, init, node, runtime, start_nodes, wait_for,
};
use serde_json::json;

#[test]
fn partitioned_leader_is_replaced() {
    let root = TempDir::new("fault");
    let nodes = start_nodes(
        &["redb", "fjall", "heed"],
        &root.0,
        &["--request-timeout-ms", "1500"],
    );
    runtime().block_on(async {
        let client = Client::default();
        let old_id = init(&client, &nodes).await;
        let old = node(&nodes, old_id);
        client
            .post_ok(
                &old.addr,
                "/kv/write",
                json!({"key": "before", "value": "1"}),
            )
            .await;
        let old_term = client.metrics(&old.addr).await["current_term"]
            .as_u64()
            .expect("term");

        let followers: Vec<u64> = nodes
            .iter()
            .map(|n| n.id)
            .filter(|&id| id != old_id)
            .collect();
        client
            .post_ok(
                &old.addr,
                "/admin/fault",
                json!({"blocked": followers, "delay_ms": 0}),
            )
            .await;
        for &id in &followers {
            client
                .post_ok(
                    &node(&nodes, id).addr,
                    "/admin/fault",
                    json!({"blocked": [old_id], "delay_ms": 0}),
                )
                .await;
        }

        let new_id = wait_for("a new leader", Duration::from_secs(10), || async {
            let leader = agreed_leader(&client, &nodes, &[old_id]).await;
            (leader != old_id).then_some(leader)
        })
        .await;
        let new = node(&nodes, new_id);
        let new_term = client.metrics(&new.addr).await["current_term"]
            .as_u64()
            .expect("term");
        assert!(new_term > old_term);

        // The old leader cannot commit: whatever it answers, never success.
        let (status, body) = client
            .post(&old.addr, "/kv/write", json!({"key": "lost", "value": "1"}))
            .await;
        assert!(
            matches!(status, 421 | 503 | 504),
            "a write to the cut-off leader answered {status}: {body}"
        );
        if status == 421 {
            assert_eq!(body["error"], "not-leader");
        } else {
            assert!(
                body["error"] == "unknown" || body["error"] == "timeout",
                "{body}"
            );
        }

        let written = client
            .post_ok(
                &new.addr,
                "/kv/write",
                json!({"key": "during", "value": "2"}),
            )
            .await;
        let index = written["index"].as_u64().expect("index");

        for node in &nodes {
            client
                .post_ok(
                    &node.addr,
                    "/admin/fault",
                    json!({"blocked": [], "delay_ms": 0}),
                )
                .await;
        }
        let all: Vec<_> = nodes.iter().collect();
        let state = converged(&client, &all, index).await;
        assert_eq!(state["data"]["before"], "1");
        assert_eq!(state["data"]["during"], "2");
        assert_eq!(agreed_leader(&client, &nodes, &[]).await, new_id);
        let metrics = client.metrics(&old.addr).await;
        assert_eq!(metrics["state"], "Follower", "{metrics}");
    });
}
