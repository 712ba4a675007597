//! Kills writer processes at random points and reports what survived.
//!
//! ```text
//! fsmstore-crash --probe PATH [--backend NAME] [--mode sync|nosync] [--kills N]
//! ```
//! Prints one Markdown row per engine and mode: kills, torn, lost acknowledged applies,
//! lost checkpoints, lost writes, NoSync kept %. Exits 1 if any promise was broken, 2 on
//! bad arguments. The options are [`campaign_args::CrashCommand`]'s.

use std::process::ExitCode;

use campaign_args::CrashCommand;
use clap::Parser;
use conformance::crash::{Jitter, Writer, WriterPlan, campaign};
use fsmstore::SyncMode;

fn main() -> ExitCode {
    let CrashCommand {
        probe,
        campaign: options,
    } = CrashCommand::parse();
    let seed = Jitter::from_clock().between(1, u64::MAX);
    eprintln!("kill delays seeded with {seed}");
    let mut jitter = Jitter::new(seed);
    let mut failed = false;
    println!(
        "| engine | mode | kills | torn | lost acknowledged | lost checkpoints | lost writes | lost closes | NoSync kept % |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for backend in &options.coverage.backends() {
        for mode in &options.coverage.modes() {
            let dir = match tempfile::Builder::new().prefix("fsmstore-crash-").tempdir() {
                Ok(dir) => dir,
                Err(error) => {
                    eprintln!("fsmstore-crash: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let store = dir.path().join("store");
            let writer = Writer {
                probe: &probe.path,
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
