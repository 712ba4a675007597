//! Kills writer processes at random points and reports what survived.
//!
//! ```text
//! fsmstore-crash --probe PATH [--backend NAME] [--mode sync|nosync] [--kills N] [--large]
//! ```
//! Prints one Markdown row per engine and mode: kills, torn, lost acknowledged applies,
//! lost checkpoints, lost writes, lost closes, NoSync kept %, and for the large history
//! the kills that landed after a close past 64 MB, the megabytes of large values
//! written and the most files of each kind a kill left. Exits 1 if any promise was
//! broken, 2 on bad arguments. The options are [`campaign_args::CrashCommand`]'s.

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
    let (plan, delays_ms) = if options.large {
        (WriterPlan::LARGE, (0, 50))
    } else {
        (WriterPlan::MIXED, (5, 150))
    };
    println!(
        "| engine | mode | history | kills | torn | lost acknowledged | lost checkpoints | lost writes | lost closes | NoSync kept % | after a close past 64 MB | MB of large values | most files a kill left |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
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
                plan,
            };
            let history = plan.history.as_str();
            let result = campaign(writer, options.kills, delays_ms, &mut jitter);
            match result {
                Ok((summary, broken)) => {
                    let kept = match (mode, summary.nosync_kept_percent()) {
                        (SyncMode::NoSync, Some(percent)) => format!("{percent:.1}"),
                        _ => "—".to_owned(),
                    };
                    let (past_a_close, megabytes, files) = if options.large {
                        (
                            summary.past_a_large_close.to_string(),
                            format!("{:.0}", summary.large_bytes as f64 / 1e6),
                            summary.files_seen.to_string(),
                        )
                    } else {
                        ("—".to_owned(), "—".to_owned(), "—".to_owned())
                    };
                    println!(
                        "| {backend} | {mode} | {history} | {} | {} | {} | {} | {} | {} | {kept} | {past_a_close} | {megabytes} | {files} |",
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
                    println!(
                        "| {backend} | {mode} | {history} | error: {error} | | | | | | | | | |"
                    );
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
