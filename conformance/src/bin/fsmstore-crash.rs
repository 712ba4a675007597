//! Kills writer processes at random points and reports what survived.
//!
//! ```text
//! fsmstore-crash --probe PATH [--backend NAME] [--mode sync|nosync] [--kills N]
//! ```
//! Prints one Markdown row per engine and mode: kills, torn, lost acknowledged applies,
//! lost checkpoints, lost writes, NoSync kept %. Exits 1 if any promise was broken.

use std::path::PathBuf;
use std::process::ExitCode;

use conformance::crash::{Jitter, Writer, WriterPlan, campaign};
use fsmstore::{Backend, SyncMode};

struct Options {
    probe: PathBuf,
    backends: Vec<Backend>,
    modes: Vec<SyncMode>,
    kills: u64,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        probe: PathBuf::new(),
        backends: Backend::compiled()
            .into_iter()
            .filter(|b| b.is_durable() == Some(true))
            .collect(),
        modes: vec![SyncMode::Sync, SyncMode::NoSync],
        kills: 200,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--probe" => options.probe = value.into(),
            "--backend" => options.backends = vec![value.parse().map_err(|e| format!("{e}"))?],
            "--mode" => options.modes = vec![value.parse().map_err(|e| format!("{e}"))?],
            "--kills" => options.kills = value.parse().map_err(|_| "--kills takes a number")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.probe.as_os_str().is_empty() {
        return Err("--probe PATH is required".to_owned());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fsmstore-crash: {message}");
            return ExitCode::from(2);
        }
    };
    let seed = Jitter::from_clock().between(1, u64::MAX);
    eprintln!("kill delays seeded with {seed}");
    let mut jitter = Jitter::new(seed);
    let mut failed = false;
    println!(
        "| engine | mode | kills | torn | lost acknowledged | lost checkpoints | lost writes | lost closes | NoSync kept % |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for backend in &options.backends {
        for mode in &options.modes {
            let dir = match tempfile::Builder::new().prefix("fsmstore-crash-").tempdir() {
                Ok(dir) => dir,
                Err(error) => {
                    eprintln!("fsmstore-crash: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let store = dir.path().join("store");
            let writer = Writer {
                probe: &options.probe,
                backend: *backend,
                dir: &store,
                mode: *mode,
                plan: WriterPlan::MIXED,
            };
            let result = campaign(writer, options.kills, (5, 150), &mut jitter);
            match result {
                Ok((summary, broken)) => {
                    let kept = match (mode, summary.nosync_kept_percent()) {
                        (SyncMode::NoSync, Some(percent)) => format!("{percent:.1}"),
                        _ => "—".to_owned(),
                    };
                    println!(
                        "| {backend} | {mode} | {} | {} | {} | {} | {} | {} | {kept} |",
                        summary.kills,
                        summary.torn,
                        summary.lost_applies,
                        summary.lost_checkpoints,
                        summary.lost_writes,
                        summary.lost_closes,
                    );
                    if summary.broke_a_promise() {
                        failed = true;
                        eprintln!("{backend} {mode}: broken promises: {broken:#?}");
                    }
                }
                Err(error) => {
                    failed = true;
                    println!("| {backend} | {mode} | error: {error} | | | | | | |");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
