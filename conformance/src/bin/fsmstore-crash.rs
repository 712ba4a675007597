//! Kills writer processes at random points and reports what survived.
//!
//! ```text
//! fsmstore-crash --probe PATH [--backend NAME] [--mode sync|nosync] [--kills N] [--large | --groups]
//! ```
//! Prints one Markdown row per engine and mode: kills, torn, lost acknowledged applies,
//! lost checkpoints, lost writes, lost closes, NoSync kept %, and for the large history
//! the kills that landed after a close past 64 MB, the megabytes of large values
//! written and the most files of each kind a kill left. With `--groups` the row is the
//! groups writer's (see `conformance::group_crash`): applies and checkpoints summed over
//! its groups, the groups checked, torn groups, entries of one group found in another,
//! groups lost, deep checks failed, and restores acknowledged. Exits 1 if any promise was
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
    if options.groups {
        return groups(&probe.path, &options.coverage, options.kills, &mut jitter);
    }
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

/// The groups campaign: one row per engine and mode.
fn groups(
    probe: &std::path::Path,
    coverage: &campaign_args::Coverage,
    kills: u64,
    jitter: &mut Jitter,
) -> ExitCode {
    use conformance::group_crash::{GroupsWriter, campaign, export_snapshot};

    println!(
        "| engine | mode | history | kills | groups checked | torn groups | lost acknowledged | lost checkpoints | lost groups | cross-group entries | deep checks failed | restores acknowledged | NoSync kept % |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for backend in &coverage.backends() {
        for mode in &coverage.modes() {
            let dir = match tempfile::Builder::new().prefix("fsmstore-crash-").tempdir() {
                Ok(dir) => dir,
                Err(error) => {
                    eprintln!("fsmstore-crash: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let snapshot = dir.path().join("groups-snapshot.bin");
            let result =
                export_snapshot(*backend, &dir.path().join("model"), &snapshot).and_then(|()| {
                    let writer = GroupsWriter {
                        probe,
                        backend: *backend,
                        dir: &dir.path().join("store"),
                        mode: *mode,
                        snapshot: Some(&snapshot),
                    };
                    campaign(writer, kills, (5, 250), jitter)
                });
            match result {
                Ok((summary, groups, broken)) => {
                    let kept = match (mode, summary.nosync_kept_percent()) {
                        (SyncMode::NoSync, Some(percent)) => format!("{percent:.1}"),
                        _ => "—".to_owned(),
                    };
                    println!(
                        "| {backend} | {mode} | groups | {} | {} | {} | {} | {} | {} | {} | {} | {} | {kept} |",
                        summary.kills,
                        groups.groups,
                        groups.torn_groups,
                        summary.lost_applies,
                        summary.lost_checkpoints,
                        groups.lost_groups,
                        groups.cross_group,
                        groups.deep_check_failures,
                        groups.restores,
                    );
                    if summary.broke_a_promise() || !broken.is_empty() {
                        failed = true;
                        eprintln!("{backend} {mode}: broken promises: {broken:#?}");
                    }
                }
                Err(error) => {
                    failed = true;
                    println!("| {backend} | {mode} | groups | error: {error} | | | | | | | | | |");
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
