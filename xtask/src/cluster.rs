//! `cargo xtask cluster`: node processes on loopback ports, each with its own data
//! directory and engine, initialised as one cluster; stopped by pid on Ctrl-C.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use clap::Args;

use crate::crash::target_dir;
use crate::{cargo, engines};

/// How long a node may take to listen, and to exit after SIGTERM.
const READY_WITHIN: Duration = Duration::from_secs(60);
const EXIT_WITHIN: Duration = Duration::from_secs(15);

/// `cargo xtask cluster` options.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// One engine per node, comma separated (redb, fjall, heed or lmdb; rocksdb with
    /// `--all`): as many nodes as engines
    #[arg(long, value_delimiter = ',', default_value = "redb,fjall,heed")]
    pub engines: Vec<String>,
    /// Build RocksDB into the node binary (libclang, about 20 minutes of C++ the first
    /// time)
    #[arg(long)]
    pub all: bool,
    /// The state machines' sync mode: sync or nosync
    #[arg(long, default_value = "sync")]
    pub sync_mode: String,
    /// The nodes' directories go under this one (emptied first) [default:
    /// target/cluster]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Make the README's calls (write, read, linearizable read, compare-and-set,
    /// metrics), check their answers, then stop every node instead of waiting for
    /// Ctrl-C
    #[arg(long)]
    pub check: bool,
}

/// A node process this task started.
struct Started {
    id: u64,
    engine: String,
    addr: String,
    child: Child,
}

/// Builds the node binary, starts the nodes, initialises the cluster, prints how to talk
/// to it and waits for Ctrl-C (or runs the README's calls with `--check`); stops every
/// node it started either way.
pub fn run(options: &Options) -> Result<(), String> {
    let bin = build_node(options.all || options.engines.iter().any(|e| e == "rocksdb"))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    {
        let interrupted = interrupted.clone();
        ctrlc::set_handler(move || {
            interrupted.store(true, Ordering::SeqCst);
            let _ = tx.send(());
        })
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    }
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(|| target_dir().join("cluster"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Printed for the user to find the nodes' logs: without `..` in it.
    let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut nodes = Vec::new();
    let result = bring_up(&bin, options, &dir, &mut nodes, &interrupted).and_then(|()| {
        print_usage(&nodes, &dir);
        if options.check {
            readme_calls(&nodes)
        } else {
            println!("Ctrl-C stops every node.");
            let _ = rx.recv();
            Ok(())
        }
    });
    let stopped = stop(&mut nodes);
    result.and(stopped)
}

/// Builds `fsmstore-node` (with RocksDB when asked) and returns its path.
pub fn build_node(rocksdb: bool) -> Result<PathBuf, String> {
    let mut args = vec!["build", "-p", "fsmstore-node", "--bins"];
    if rocksdb {
        // With the test targets and the conformance crate, the build shares RocksDB's
        // C++ build with the workspace tests (see `engines::SAME_BUILD_AS_WORKSPACE`).
        args.extend(["--features", "fsmstore-node/rocksdb", "--tests"]);
        args.extend(engines::SAME_BUILD_AS_WORKSPACE);
    }
    cargo::run(&args)?;
    Ok(target_dir().join("debug").join("fsmstore-node"))
}

fn bring_up(
    bin: &Path,
    options: &Options,
    root: &Path,
    nodes: &mut Vec<Started>,
    interrupted: &AtomicBool,
) -> Result<(), String> {
    for (i, engine) in options.engines.iter().enumerate() {
        let id = i as u64 + 1;
        let dir = root.join(format!("node{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ready = dir.join("ready");
        let log = std::fs::File::create(dir.join("node.log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args([
                "--id",
                &id.to_string(),
                "--addr",
                "127.0.0.1:0",
                "--engine",
                engine,
            ])
            .args(["--sync-mode", &options.sync_mode])
            .arg("--dir")
            .arg(dir.join("data"))
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        nodes.push(Started {
            id,
            engine: engine.clone(),
            addr: String::new(),
            child,
        });
        let node = nodes.last_mut().expect("pushed above");
        node.addr = wait_ready(node, &ready, &dir, interrupted)?;
    }
    let members: Vec<String> = nodes
        .iter()
        .map(|n| format!("\"{}\":\"{}\"", n.id, n.addr))
        .collect();
    let body = format!("{{\"members\":{{{}}}}}", members.join(","));
    expect_ok(http(&nodes[0].addr, "POST", "/cluster/init", Some(&body))?)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader(nodes).is_none() {
        if Instant::now() > deadline || interrupted.load(Ordering::SeqCst) {
            return Err("no leader was elected within 30 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn wait_ready(
    node: &mut Started,
    ready: &Path,
    dir: &Path,
    interrupted: &AtomicBool,
) -> Result<String, String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(text) = std::fs::read_to_string(ready) {
            return Ok(text.trim().to_owned());
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(format!(
                "node {} exited ({status}); see {}",
                node.id,
                dir.join("node.log").display()
            ));
        }
        if Instant::now() > deadline || interrupted.load(Ordering::SeqCst) {
            return Err(format!("node {} did not listen in time", node.id));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The node that says it leads, if exactly one does.
fn leader(nodes: &[Started]) -> Option<&Started> {
    let leaders: Vec<&Started> = nodes
        .iter()
        .filter(|n| {
            http(&n.addr, "GET", "/metrics", None)
                .is_ok_and(|(status, body)| status == 200 && body.contains("\"state\":\"Leader\""))
        })
        .collect();
    match leaders[..] {
        [one] => Some(one),
        _ => None,
    }
}

fn print_usage(nodes: &[Started], dir: &Path) {
    println!("A cluster of {} node processes:", nodes.len());
    for n in nodes {
        println!(
            "  node {} ({}) at http://{}  pid {}  dir {}",
            n.id,
            n.engine,
            n.addr,
            n.child.id(),
            dir.join(format!("node{}", n.id)).display()
        );
    }
    if let Some(l) = leader(nodes) {
        let a = &l.addr;
        println!("Talk to the leader (node {}):", l.id);
        println!(
            "  curl -s -X POST http://{a}/kv/write -H 'content-type: application/json' -d '{{\"key\":\"hello\",\"value\":\"world\"}}'"
        );
        println!("  curl -s http://{a}/kv/linearizable-read/hello");
        println!(
            "  curl -s -X POST http://{a}/kv/cas -H 'content-type: application/json' -d '{{\"key\":\"hello\",\"expected\":\"world\",\"new\":\"there\"}}'"
        );
        println!("  curl -s http://{a}/metrics");
        println!(
            "Any node: curl -s http://{}/kv/read/hello",
            nodes[nodes.len() - 1].addr
        );
    }
}

/// The README's calls, each answer checked.
fn readme_calls(nodes: &[Started]) -> Result<(), String> {
    let leader = leader(nodes).ok_or("no single leader")?.addr.clone();
    let json = Some;
    expect_ok(http(
        &leader,
        "POST",
        "/kv/write",
        json(r#"{"key":"hello","value":"world"}"#),
    )?)?;
    expect_body(
        http(&leader, "GET", "/kv/linearizable-read/hello", None)?,
        "\"value\":\"world\"",
    )?;
    expect_body(
        http(
            &leader,
            "POST",
            "/kv/cas",
            json(r#"{"key":"hello","expected":"world","new":"there"}"#),
        )?,
        "\"swapped\":true",
    )?;
    expect_body(
        http(
            &leader,
            "POST",
            "/kv/cas",
            json(r#"{"key":"hello","expected":"world","new":"again"}"#),
        )?,
        "\"swapped\":false",
    )?;
    expect_body(
        http(&leader, "GET", "/metrics", None)?,
        "\"state\":\"Leader\"",
    )?;
    // Every node applies the write; a follower's local read shows it in time.
    for n in nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = http(&n.addr, "GET", "/kv/read/hello", None)?;
            if status == 200 && body.contains("\"value\":\"there\"") {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("node {}: read answered {status} {body}", n.id));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    println!("the README's calls answered as documented");
    Ok(())
}

fn expect_ok((status, body): (u16, String)) -> Result<String, String> {
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("answered {status}: {body}"))
    }
}

fn expect_body(answer: (u16, String), needle: &str) -> Result<(), String> {
    let body = expect_ok(answer)?;
    if body.contains(needle) {
        Ok(())
    } else {
        Err(format!("expected {needle} in {body}"))
    }
}

/// Sends SIGTERM to every node this task started (by pid), waits for each to exit, and
/// kills any that does not within the bound.
fn stop(nodes: &mut [Started]) -> Result<(), String> {
    let mut unclean = Vec::new();
    for n in nodes.iter() {
        let _ = Command::new("kill")
            .args(["-TERM", &n.child.id().to_string()])
            .status();
    }
    for n in nodes.iter_mut() {
        let deadline = Instant::now() + EXIT_WITHIN;
        let status = loop {
            match n.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break None,
            }
        };
        match status {
            Some(status) if status.success() => {}
            other => {
                let _ = n.child.kill();
                let _ = n.child.wait();
                unclean.push(format!("node {} ({other:?})", n.id));
            }
        }
    }
    println!("stopped {} node processes", nodes.len());
    if unclean.is_empty() {
        Ok(())
    } else {
        Err(format!("no clean exit on SIGTERM: {}", unclean.join(", ")))
    }
}

/// One HTTP/1.1 request on a fresh loopback connection, bounded in time: the status and
/// the body.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let fail = |e: std::io::Error| format!("{method} {addr}{path}: {e}");
    let socket: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, Duration::from_secs(2)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(fail)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {addr}{path}: no status in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
