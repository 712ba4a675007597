//! Three nodes on three engines: writes, compare-and-swap, reads, leader routing.

mod common;

use common::{Client, TempDir, converged, init, node, runtime, start_nodes};
use serde_json::json;

#[test]
fn three_engines_write_cas_read() {
    let root = TempDir::new("basic");
    let nodes = start_nodes(&["redb", "fjall", "heed"], &root.0, &[]);
    runtime().block_on(async {
        let client = Client::default();
        let leader_id = init(&client, &nodes).await;
        let leader = node(&nodes, leader_id);
        let follower = nodes.iter().find(|n| n.id != leader_id).expect("follower");

        // A second init is refused: the cluster already is.
        let members = json!({ "members": { "1": nodes[0].addr } });
        let (status, body) = client.post(&nodes[0].addr, "/cluster/init", members).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"], "conflict");

        let written = client
            .post_ok(&leader.addr, "/kv/write", json!({"key": "a", "value": "1"}))
            .await;
        assert!(written["index"].as_u64().is_some(), "{written}");

        let swap = json!({"key": "a", "expected": "1", "new": "2"});
        let swapped = client.post_ok(&leader.addr, "/kv/cas", swap).await;
        assert_eq!(swapped["swapped"], true, "{swapped}");
        assert_eq!(swapped["previous"], "1");

        let stale = json!({"key": "a", "expected": "1", "new": "3"});
        let refused = client.post_ok(&leader.addr, "/kv/cas", stale).await;
        assert_eq!(refused["swapped"], false, "{refused}");
        assert_eq!(refused["previous"], "2");

        let absent = json!({"key": "b", "expected": null, "new": "x"});
        let created = client
            .post_ok(&leader.addr, "/kv/cas", absent.clone())
            .await;
        assert_eq!(created["swapped"], true, "{created}");
        assert_eq!(created["previous"], serde_json::Value::Null);
        let again = client.post_ok(&leader.addr, "/kv/cas", absent).await;
        assert_eq!(again["swapped"], false, "{again}");
        assert_eq!(again["previous"], "x");
        let last = again["index"].as_u64().expect("index");

        let read = client.get_ok(&leader.addr, "/kv/linearizable-read/a").await;
        assert_eq!(read["value"], "2");
        let missing = client
            .get_ok(&leader.addr, "/kv/linearizable-read/nothing")
            .await;
        assert_eq!(missing["value"], serde_json::Value::Null);

        // A follower refuses writes and linearizable reads, naming the leader.
        let (status, body) = client
            .post(
                &follower.addr,
                "/kv/write",
                json!({"key": "c", "value": "1"}),
            )
            .await;
        assert_eq!(status, 421, "{body}");
        assert_eq!(body["error"], "not-leader");
        assert_eq!(body["leader"], leader_id);
        assert_eq!(body["leader_addr"], leader.addr.as_str());
        let (status, body) = client.get(&follower.addr, "/kv/linearizable-read/a").await;
        assert_eq!(status, 421, "{body}");
        assert_eq!(body["leader"], leader_id);

        // Bad input.
        let (status, body) = client
            .post(&leader.addr, "/kv/write", json!({"key": "", "value": "1"}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad-request");
        let (status, body) = client
            .post_raw(&leader.addr, "/kv/write", "{not json")
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad-request");

        let all: Vec<_> = nodes.iter().collect();
        let state = converged(&client, &all, last).await;
        assert_eq!(state["data"], json!({"a": "2", "b": "x"}));
        let stale_read = client.get_ok(&follower.addr, "/kv/read/a").await;
        assert_eq!(stale_read["value"], "2");

        let metrics = client.metrics(&leader.addr).await;
        assert_eq!(metrics["id"], leader_id);
        assert_eq!(metrics["state"], "Leader");
        assert_eq!(metrics["voters"], json!([1, 2, 3]));
        assert_eq!(metrics["learners"], json!([]));
        assert_eq!(metrics["engine"], leader.engine.as_str());
        assert_eq!(metrics["sync_mode"], "nosync");
        assert_eq!(metrics["on_restart"], "no-snapshot");
        for field in [
            "current_term",
            "last_log_index",
            "last_applied",
            "snapshot_index",
            "purged_index",
            "restores",
            "restores_at_start",
            "installs_skipped",
        ] {
            assert!(metrics.get(field).is_some(), "no {field} in {metrics}");
        }
    });
}
