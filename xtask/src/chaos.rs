//! `cargo xtask chaos`: the fault campaign against node processes (`fsmstore-chaos`).

use std::ffi::OsString;
use std::process::Command;

use clap::Args;

use crate::cargo;
use crate::crash::target_dir;

/// `cargo xtask chaos` options; everything after `--` goes to `fsmstore-chaos` as typed
/// (`cargo xtask chaos -- --help` lists its flags).
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Build RocksDB into the node binary and add a RocksDB node (libclang, about 20
    /// minutes of C++ the first time)
    #[arg(long)]
    pub all: bool,
    /// The short campaigns CI runs: a Sync campaign, then a NoSync one on nodes of two
    /// raft groups, on mixed engines, every fault kind at least once in each, about a
    /// minute each
    #[arg(long)]
    pub short: bool,
    /// Arguments for `fsmstore-chaos`
    #[arg(last = true)]
    pub chaos_args: Vec<OsString>,
}

/// Builds the node and the campaign, then runs the campaign(s); fails on any anomaly.
pub fn run(options: &Options) -> Result<(), String> {
    let rocksdb = options.all
        || options
            .chaos_args
            .iter()
            .any(|a| a.to_string_lossy().contains("rocksdb"));
    let node = crate::cluster::build_node(rocksdb)?;
    cargo::run(&["build", "-p", "fsmstore-chaos", "--bins"])?;
    let chaos = target_dir().join("debug").join("fsmstore-chaos");
    let engines = if options.all {
        "redb,fjall,heed,rocksdb"
    } else {
        "redb,fjall,heed"
    };
    let campaigns: Vec<Vec<OsString>> = if options.short {
        ["sync", "nosync"]
            .iter()
            .map(|mode| {
                let mut args: Vec<OsString> = [
                    "--sync-mode",
                    mode,
                    "--ops",
                    "100000",
                    "--duration",
                    "60",
                    "--fault-interval-ms",
                    "800",
                    "--snapshot-logs",
                    "200",
                    "--quiet",
                ]
                .iter()
                .map(OsString::from)
                .collect();
                args.extend(["--engines".into(), engines.into()]);
                if *mode == "nosync" {
                    // Nodes of two raft groups each, so both layouts meet the faults.
                    args.extend(["--groups", "2", "--keys", "6"].map(OsString::from));
                }
                args.extend(options.chaos_args.iter().cloned());
                args
            })
            .collect()
    } else {
        let mut args = options.chaos_args.clone();
        if !args.iter().any(|a| a == "--engines") {
            args.extend(["--engines".into(), engines.into()]);
        }
        vec![args]
    };
    for args in campaigns {
        let status = Command::new(&chaos)
            .arg("--node-bin")
            .arg(&node)
            .args(&args)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", chaos.display()))?;
        if !status.success() {
            return Err(format!("the chaos campaign failed ({status}); see above"));
        }
    }
    Ok(())
}
