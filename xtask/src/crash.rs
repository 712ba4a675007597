//! `cargo xtask crash`: kill writer processes at random points, per engine and mode.

use std::path::PathBuf;
use std::process::Command;

use crate::cargo;
use crate::engines::Engines;

/// Options of `cargo xtask crash`.
#[derive(Debug)]
pub struct Options {
    engines: Engines,
    mode: Option<String>,
    kills: u64,
}

/// Parses `[--backend NAME] [--mode sync|nosync] [--kills N]`.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        engines: Engines::all_available(),
        mode: None,
        kills: 200,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => options.engines = Engines::one(value)?,
            "--mode" if value == "sync" || value == "nosync" => options.mode = Some(value.clone()),
            "--kills" => {
                options.kills = value
                    .parse()
                    .map_err(|_| "--kills takes a number".to_owned())?
            }
            _ => return Err(format!("unknown option {flag} {value}")),
        }
    }
    Ok(options)
}

/// Builds the probe and the campaign binary with the chosen engines, then runs it.
pub fn run(options: &Options) -> Result<(), String> {
    let mut args = vec!["--kills".to_owned(), options.kills.to_string()];
    if let Some(mode) = &options.mode {
        args.extend(["--mode".to_owned(), mode.clone()]);
    }
    match run_campaign(&options.engines, "fsmstore-crash", &args)? {
        Some(0) => Ok(()),
        _ => Err("a kill broke a durability promise (see above)".to_owned()),
    }
}

/// Builds the conformance crate's binaries with the durable engines of `engines`, runs
/// the campaign binary `binary` with the probe, `args` and (for one engine) `--backend`,
/// and returns its exit code.
pub fn run_campaign(
    engines: &Engines,
    binary: &str,
    args: &[String],
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
    if let [only] = durable.as_slice() {
        campaign.args(["--backend", only]);
    }
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
