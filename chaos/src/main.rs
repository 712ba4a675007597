//! `fsmstore-chaos`: a fault campaign against fsmstore node processes on the loopback
//! network (see `--help`). Exits 0 only when the history is linearizable, no
//! acknowledged write is lost, every node converged, every restart that found its
//! snapshot covered skipped the restore, and every node stopped cleanly.

mod api;
mod args;
mod client;
mod cluster;
mod faults;
mod node;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fsmstore_history::{Entry, Op, Outcome};

use crate::api::Api;
use crate::args::Args;
use crate::client::Shared;
use crate::cluster::Cluster;
use crate::node::{Node, NodeConfig};
use crate::report::{Ending, Summary};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(why) = powercut::availability() {
        eprintln!("fsmstore-chaos: {why}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fsmstore-chaos: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(campaign(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fsmstore-chaos: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the campaign; `Ok(false)` when a check failed.
async fn campaign(args: Args) -> Result<bool, String> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let bin = match &args.node_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("fsmstore-node"),
    };
    let (work, _temp) = match &args.work {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("fsmstore-chaos-")
                .tempdir()
                .map_err(|e| e.to_string())?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    println!(
        "fsmstore-chaos: seed {seed}, engines {}, sync mode {}, {} group(s), {} ops or {} s, {} clients on {} keys, faults {}; work {}",
        args.engines.join(","),
        args.sync_mode.as_str(),
        args.groups,
        args.ops,
        args.duration,
        args.clients,
        args.keys,
        args.faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(","),
        work.display()
    );
    let nodes = args
        .engines
        .iter()
        .enumerate()
        .map(|(i, engine)| Node::new(i as u64 + 1, engine, work.join(format!("node{}", i + 1))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("mount the nodes' disks: {e}"))?;
    let config = NodeConfig {
        bin,
        sync_mode: args.sync_mode.as_str(),
        snapshot_logs: args.snapshot_logs,
        groups: args.groups,
    };
    let api = Api::new().map_err(|e| e.to_string())?;
    let cluster = Cluster::start(nodes, config, api.clone()).await?;
    let started = Instant::now();
    let shared = Arc::new(Shared::new(cluster.addrs.clone(), args.ops, args.groups));
    let progress = report::progress_bar(args.ops, args.quiet);

    let clients: Vec<_> = (0..args.clients)
        .map(|i| {
            let seed = seed.wrapping_add(u64::from(i) + 1);
            tokio::spawn(client::run(shared.clone(), api.clone(), args.keys, seed))
        })
        .collect();
    let faults = {
        let (cluster, shared, progress) = (cluster.clone(), shared.clone(), progress.clone());
        let interval = Duration::from_millis(args.fault_interval_ms);
        tokio::spawn(faults::run(
            cluster,
            shared,
            args.faults.clone(),
            interval,
            seed,
            move |log| progress.set_message(report::fault_message(log)),
        ))
    };
    let deadline = started + args.duration();
    loop {
        let done = shared.recorded() as u64;
        progress.set_position(done);
        if done >= args.ops || Instant::now() >= deadline {
            break;
        }
        if clients.iter().all(|c| c.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.map_err(|e| e.to_string())?;
    }
    let mut fault_log = faults.await.map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    let ran_for = started.elapsed();

    // The faults are over: heal, then every node must converge.
    fault_log.crashes.extend(cluster.revive_crashed().await);
    cluster.start_stopped().await;
    if let Err(e) = cluster.partition(None).await {
        fault_log.errors.push(format!("heal: {e}"));
    }
    let converged = cluster
        .converged(Duration::from_secs(60), args.groups)
        .await;
    // A last linearizable read of every key joins the history: a lost write shows as a
    // read the order of the writes cannot explain.
    if converged.is_ok() {
        final_reads(&cluster, &shared, &api, args.keys).await;
    }
    let installs = cluster.installs().await;
    let unclean = cluster.terminate_all().await;
    let disk_faults = cluster.disk_faults().await;
    let nodes = cluster.describe().await;

    let history: Vec<Entry> =
        std::mem::take(&mut *shared.history.lock().unwrap_or_else(|e| e.into_inner()));
    let history_path = work.join("history.jsonl");
    report::write_history(&history_path, &history).map_err(|e| e.to_string())?;
    report::write_timeline(&work.join("faults.log"), &fault_log).map_err(|e| e.to_string())?;
    let end = Ending {
        converged,
        unclean,
        disk_faults,
        installs,
        ran_for,
    };
    let summary = Summary::new(&history, &fault_log, end, &args);
    summary.print(seed, &nodes);
    if !summary.passed() {
        if let Some(temp) = _temp {
            let kept: PathBuf = temp.keep();
            println!("kept {} (history.jsonl, node*/node.log)", kept.display());
        } else {
            println!("history: {}", history_path.display());
        }
    }
    Ok(summary.passed())
}

/// A linearizable read of every key through the leader, recorded like the clients'.
async fn final_reads(cluster: &Cluster, shared: &Shared, api: &Api, keys: u32) {
    for key in (0..keys).map(|k| format!("k{k}")) {
        for _attempt in 0..20 {
            let Ok(leader) = cluster.leader(Duration::from_secs(10)).await else {
                break;
            };
            let process = shared.new_process();
            let invoked = shared.now();
            let group = shared.group_of(&key);
            let answer = client::send(api, cluster.addr(leader), &key, group, &Op::Read).await;
            let completed = shared.now();
            if let client::Answer::Ok(ret) = answer {
                shared
                    .history
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Entry {
                        process,
                        key: key.clone(),
                        op: Op::Read,
                        invoked,
                        completed: Some(completed),
                        outcome: Outcome::Ok(ret),
                    });
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
