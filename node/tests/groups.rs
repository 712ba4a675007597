//! `--groups 3`: three raft groups per node on two groups stores, each group's data its
//! own, a snapshot and purge in one group, a follower killed and restarted, and a
//! directory refused when started with another number of groups.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, NodeProc, TempDir, node, runtime, start_nodes, wait_for};
use serde_json::{Value, json};

const GROUPS: u64 = 3;

/// The leader of `group` every running node names, once they agree and it leads.
async fn group_leader(client: &Client, nodes: &[NodeProc], group: u64) -> u64 {
    wait_for(
        &format!("an agreed leader of group {group}"),
        Duration::from_secs(10),
        || async {
            let mut leader = None;
            for node in nodes {
                let metrics = client
                    .get_ok(&node.addr, &format!("/metrics?group={group}"))
                    .await;
                assert_eq!(metrics["group"], group, "{metrics}");
                let named = metrics["current_leader"].as_u64()?;
                if leader.is_some_and(|l| l != named) {
                    return None;
                }
                leader = Some(named);
            }
            let leader = leader?;
            let node = nodes.iter().find(|n| n.id == leader)?;
            let metrics = client
                .get_ok(&node.addr, &format!("/metrics?group={group}"))
                .await;
            (metrics["state"] == "Leader").then_some(leader)
        },
    )
    .await
}

/// Writes `key` = `value` into `group` through its leader; the entry's index.
async fn write(client: &Client, nodes: &[NodeProc], group: u64, key: &str, value: &str) -> u64 {
    let body = json!({"key": key, "value": value});
    wait_for(
        &format!("group {group} took {key}={value}"),
        Duration::from_secs(10),
        || async {
            let leader = group_leader(client, nodes, group).await;
            let path = format!("/kv/write?group={group}");
            let (status, answer) = client
                .post(&node(nodes, leader).addr, &path, body.clone())
                .await;
            // A leader lost between the look-up and the write refuses before proposing.
            assert!(status == 200 || status == 421, "{status}: {answer}");
            answer["index"].as_u64()
        },
    )
    .await
}

/// Waits until `/state?group=G` of every node is the same and at least at `index`.
async fn group_converged(client: &Client, nodes: &[NodeProc], group: u64, index: u64) -> Value {
    wait_for(
        &format!("every node at the same state of group {group}"),
        Duration::from_secs(15),
        || async {
            let mut first: Option<Value> = None;
            for node in nodes {
                let state = client
                    .get_ok(&node.addr, &format!("/state?group={group}"))
                    .await;
                if state["last_applied"].as_u64()? < index {
                    return None;
                }
                match &first {
                    None => first = Some(state),
                    Some(first) if first["data"] == state["data"] => {}
                    Some(_) => return None,
                }
            }
            first
        },
    )
    .await
}

/// Runs the node binary on `dir` with `groups` and expects it to exit, refused, within
/// a bound; its stderr.
fn refused_start(dir: &Path, engine: &str, groups: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fsmstore-node"))
        .args(["--id", "9", "--addr", "127.0.0.1:0", "--engine", engine])
        .args(["--groups", groups])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("--groups {groups} on {} did not exit", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "--groups {groups}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn help_documents_groups() {
    let output = Command::new(env!("CARGO_BIN_EXE_fsmstore-node"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--groups"), "{help}");
    assert!(help.contains("?group="), "{help}");
}

#[test]
fn three_groups_on_three_nodes() {
    let root = TempDir::new("groups");
    let flags = ["--groups", "3", "--max-in-snapshot-log-to-keep", "0"];
    let mut nodes = start_nodes(&["redb", "fjall", "heed"], &root.0, &flags);
    let rt = runtime();
    let client = Client::default();

    let killed = rt.block_on(async {
        let members: BTreeMap<String, String> = nodes
            .iter()
            .map(|n| (n.id.to_string(), n.addr.clone()))
            .collect();
        client
            .post_ok(
                &nodes[0].addr,
                "/cluster/init",
                json!({ "members": members }),
            )
            .await;
        // Every group was initialised: a second init of any is a conflict.
        let (status, body) = client
            .post(
                &nodes[0].addr,
                "/cluster/init?group=2",
                json!({ "members": members }),
            )
            .await;
        assert_eq!(status, 409, "{body}");

        let mut last = BTreeMap::new();
        for group in 0..GROUPS {
            last.insert(
                group,
                write(&client, &nodes, group, "k", &format!("g{group}")).await,
            );
        }
        // More entries in group 1, for its snapshot to cover.
        for i in 0..20 {
            let index = write(&client, &nodes, 1, &format!("n{i:02}"), "1").await;
            last.insert(1, index);
        }
        for group in 0..GROUPS {
            let leader = node(&nodes, group_leader(&client, &nodes, group).await);
            let read = client
                .get_ok(
                    &leader.addr,
                    &format!("/kv/linearizable-read/k?group={group}"),
                )
                .await;
            assert_eq!(read["value"], format!("g{group}"), "group {group}");
            let state = group_converged(&client, &nodes, group, last[&group]).await;
            assert_eq!(state["data"]["k"], format!("g{group}"), "{state}");
            let expected_keys = if group == 1 { 21 } else { 1 };
            assert_eq!(
                state["data"].as_object().expect("data").len(),
                expected_keys
            );
            for node in &nodes {
                let read = client
                    .get_ok(&node.addr, &format!("/kv/read/k?group={group}"))
                    .await;
                assert_eq!(read["value"], format!("g{group}"), "node {}", node.id);
            }
        }
        // No group given: group 0.
        let read = client.get_ok(&nodes[0].addr, "/kv/read/k").await;
        assert_eq!(read["value"], "g0");

        // A snapshot and a purge in group 1 on its leader; the other groups keep theirs.
        let group1_leader = group_leader(&client, &nodes, 1).await;
        let leader = node(&nodes, group1_leader);
        let snapshot = client
            .post_ok(&leader.addr, "/admin/snapshot?group=1", json!({}))
            .await;
        let snapshot_index = snapshot["snapshot_index"].as_u64().expect("index");
        assert!(snapshot_index >= last[&1], "{snapshot}");
        client
            .post_ok(
                &leader.addr,
                "/admin/purge?group=1",
                json!({"upto": snapshot_index}),
            )
            .await;
        wait_for("group 1 purged", Duration::from_secs(10), || async {
            let metrics = client.get_ok(&leader.addr, "/metrics?group=1").await;
            (metrics["purged_index"].as_u64() == Some(snapshot_index)).then_some(())
        })
        .await;
        for group in [0, 2] {
            let metrics = client
                .get_ok(&leader.addr, &format!("/metrics?group={group}"))
                .await;
            assert_eq!(metrics["purged_index"], Value::Null, "{metrics}");
            assert_eq!(metrics["snapshot_index"], Value::Null, "{metrics}");
        }
        assert!(
            std::fs::read_dir(leader.dir.join("snapshots/1"))
                .expect("group 1's snapshots")
                .next()
                .is_some()
        );

        // The group of a route is checked: 3 is not served, `x` is not a group.
        for path in ["/kv/read/k?group=3", "/metrics?group=3", "/state?group=3"] {
            let (status, body) = client.get(&nodes[0].addr, path).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"], "bad-request", "{path}: {body}");
        }
        let (status, body) = client
            .post(
                &nodes[0].addr,
                "/kv/write?group=3",
                json!({"key": "k", "value": "v"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad-request", "{body}");
        let (status, body) = client.get(&nodes[0].addr, "/kv/read/k?group=x").await;
        assert_eq!(status, 400, "{body}");

        // The follower to kill: one not leading group 1, leading no group if it can.
        let mut leaders = Vec::new();
        for group in 0..GROUPS {
            leaders.push(group_leader(&client, &nodes, group).await);
        }
        nodes
            .iter()
            .map(|n| n.id)
            .filter(|&id| id != group1_leader)
            .min_by_key(|id| leaders.contains(id))
            .expect("a follower")
    });

    let at = nodes.iter().position(|n| n.id == killed).expect("node");
    let victim = nodes.remove(at);
    let (port, engine) = (victim.port(), victim.engine.clone());
    // Dropping it kills it with SIGKILL.
    drop(victim);

    let newest = rt.block_on(async {
        let mut newest = BTreeMap::new();
        for group in 0..GROUPS {
            let index = write(&client, &nodes, group, "down", &format!("d{group}")).await;
            newest.insert(group, index);
        }
        newest
    });

    nodes.push(NodeProc::start(killed, &engine, &root.0, port, &flags));
    rt.block_on(async {
        for group in 0..GROUPS {
            let state = group_converged(&client, &nodes, group, newest[&group]).await;
            assert_eq!(state["data"]["k"], format!("g{group}"), "{state}");
            assert_eq!(state["data"]["down"], format!("d{group}"), "{state}");
            let expected_keys = if group == 1 { 22 } else { 2 };
            assert_eq!(
                state["data"].as_object().expect("data").len(),
                expected_keys
            );
        }
        let restarted = node(&nodes, killed);
        let metrics = client.get_ok(&restarted.addr, "/metrics?group=1").await;
        assert_eq!(metrics["voters"], json!([1, 2, 3]), "{metrics}");
        assert!(metrics["current_leader"].as_u64().is_some(), "{metrics}");
    });

    // A clean stop closes every raft and both stores; the directory then refuses any
    // other number of groups.
    let dir = node(&nodes, killed).dir.clone();
    let at = nodes.iter().position(|n| n.id == killed).expect("node");
    let status = nodes.remove(at).terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
    let stderr = refused_start(&dir, &engine, "2");
    assert!(stderr.contains("--groups 3"), "{stderr}");
    let stderr = refused_start(&dir, &engine, "1");
    assert!(stderr.contains("--groups 3"), "{stderr}");
    // And a directory of one group refuses `--groups`.
    let one = NodeProc::start(7, "redb", &root.0, 0, &[]);
    let one_dir = one.dir.clone();
    assert_eq!(one.terminate(Duration::from_secs(10)).code(), Some(0));
    let stderr = refused_start(&one_dir, "redb", "3");
    assert!(stderr.contains("one group"), "{stderr}");
}
