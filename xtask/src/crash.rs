//! `cargo xtask crash`: kill writer processes at random points, per engine and mode.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use campaign_args::{Coverage, CrashArgs};

use crate::cargo;
use crate::engines::Engines;

/// Builds the probe and the campaign binary with the chosen engines, then runs it with
/// `passed_on`, the arguments `options` was parsed from.
pub fn run(options: &CrashArgs, passed_on: &[OsString]) -> Result<(), String> {
    match run_campaign(&engines(&options.coverage)?, "fsmstore-crash", passed_on)? {
        Some(0) => Ok(()),
        _ => Err("a kill broke a durability promise (see above)".to_owned()),
    }
}

/// The engines a campaign's binary is built with: the one asked for, else every engine
/// this machine can build.
pub fn engines(coverage: &Coverage) -> Result<Engines, String> {
    match coverage.backend {
        // The conformance crate's features are named after the facade's.
        Some(backend) => Engines::one(backend.feature()),
        None => Ok(Engines::all_available()),
    }
}

/// Builds the conformance crate's binaries with the durable engines of `engines`, runs
/// the campaign binary `binary` with the probe and `args`, and returns its exit code.
///
/// Without `--backend` in `args`, the binary covers every durable engine it was built
/// with: the ones of `engines`.
pub fn run_campaign(
    engines: &Engines,
    binary: &str,
    args: &[OsString],
) -> Result<Option<i32>, String> {
    let durable: Vec<&str> = engines
        .names()
        .iter()
        .copied()
        .filter(|name| *name != "memory")
        .collect();
    if durable.is_empty() {
        return Err("the memory engine keeps nothing across a crash: pick a durable engine".into());
    }
    let features = durable.join(",");
    cargo::run(&[
        "build",
        "-p",
        "conformance",
        "--no-default-features",
        "--features",
        &features,
        "--bins",
        // With the test targets, the build shares RocksDB's C++ build with the
        // workspace tests (see `engines::SAME_BUILD_AS_WORKSPACE`).
        "--tests",
    ])?;
    let bin_dir = target_dir().join("debug");
    let mut campaign = Command::new(bin_dir.join(binary));
    campaign
        .arg("--probe")
        .arg(bin_dir.join("fsmstore-probe"))
        .args(args);
    for (engine, reason) in engines.skipped() {
        eprintln!("{engine}: skipped, {reason}");
    }
    let status = campaign
        .status()
        .map_err(|error| format!("cannot run {binary}: {error}"))?;
    Ok(status.code())
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}
