//! Cuts the power under writers on the power-cut filesystem and reports what survived.
//!
//! ```text
//! fsmstore-powerloss --probe PATH [--backend NAME] [--mode sync|nosync]
//!                    [--meta posix|journal] [--data drop|keep-random|tear]
//!                    [--cuts N] [--seed N] [--large | --groups]
//!                    [--reopen-mode same|other|sync|nosync]
//! ```
//! Prints one Markdown row per engine, sync mode and metadata mode: the mode the stores
//! were reopened in, cuts, where they landed, torn batches, lost acknowledged applies,
//! writes, checkpoints, closes, restores and store creations, stores that did not
//! reopen, NoSync kept %, and for the large history the cuts that came after a close
//! past 64 MB, the megabytes of large values written and the most files of each kind a
//! cut left on the disk. With `--groups` the cuts land under the groups writer (see
//! `conformance::group_crash`), and the last columns are the groups checked, torn groups,
//! entries of one group found in another, groups lost, deep checks failed and restores
//! acknowledged. Exits 1 if any promise was broken, 2 on bad arguments, 3 when
//! FUSE cannot be mounted. The options are [`campaign_args::PowerlossCommand`]'s.

use std::process::ExitCode;

use campaign_args::PowerlossCommand;
use clap::Parser;

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    linux::main(PowerlossCommand::parse())
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    // Parsed all the same, so `--help` and bad arguments behave as on Linux.
    PowerlossCommand::parse();
    eprintln!("fsmstore-powerloss: the power-cut filesystem needs Linux");
    ExitCode::from(3)
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    use campaign_args::ReopenMode;
    use conformance::crash::Jitter;
    use conformance::powerloss::{Campaign, Scenario, available, campaign, data_mode, meta_mode};
    use fsmstore::SyncMode;

    pub(super) fn main(command: PowerlossCommand) -> ExitCode {
        let PowerlossCommand {
            probe,
            campaign: options,
        } = command;
        if let Err(why) = available() {
            eprintln!("fsmstore-powerloss: cannot mount the power-cut filesystem: {why}");
            return ExitCode::from(3);
        }
        let seed = options
            .seed
            .unwrap_or_else(|| Jitter::from_clock().between(1, u64::MAX));
        eprintln!("cuts seeded with {seed} (--seed {seed} repeats the choices)");
        let mut jitter = Jitter::new(seed);
        let mut failed = false;
        let scenarios: &[Scenario] = match (options.large, options.reopen_mode) {
            _ if options.groups => &Scenario::GROUPS,
            (true, _) => &Scenario::LARGE,
            (false, ReopenMode::Same) => &Scenario::ALL,
            (false, _) => &Scenario::MODE_MATRIX,
        };
        let history = match (options.large, options.reopen_mode) {
            _ if options.groups => "groups",
            (true, _) => "large",
            (false, ReopenMode::Same) => "small",
            // One scenario in five writes large values, to leave holes in the logs.
            (false, _) => "small + short large",
        };
        let last_columns = if options.groups {
            "groups checked | torn groups | lost groups, cross-group entries, failed deep checks, restores"
        } else {
            "after a close past 64 MB | MB of large values | most files a cut left"
        };
        println!(
            "| engine | mode | reopened in | disk | history | cuts | landed in | torn | lost applies | lost writes | lost checkpoints | lost closes | lost restores | lost stores | unopenable (typed / other) | NoSync kept % | {last_columns} |"
        );
        println!(
            "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for backend in &options.coverage.backends() {
            for mode in &options.coverage.modes() {
                let reopened = options.reopen_mode.resolve(*mode);
                for meta in options.metas().into_iter().map(meta_mode) {
                    let dir = match tempfile::Builder::new()
                        .prefix("fsmstore-powerloss-")
                        .tempdir()
                    {
                        Ok(dir) => dir,
                        Err(error) => {
                            eprintln!("fsmstore-powerloss: {error}");
                            return ExitCode::FAILURE;
                        }
                    };
                    let result = campaign(
                        Campaign {
                            probe: &probe.path,
                            backend: *backend,
                            mode: *mode,
                            meta,
                            cuts: options.cuts,
                            workdir: dir.path(),
                            data: options.data.map(data_mode),
                            reopen_mode: Some(reopened),
                            scenarios,
                        },
                        &mut jitter,
                    );
                    match result {
                        Ok((summary, broken)) => {
                            let kept = match (mode, summary.nosync_kept_percent()) {
                                (SyncMode::NoSync, Some(percent)) => format!("{percent:.1}"),
                                _ => "—".to_owned(),
                            };
                            let landed = summary
                                .phases
                                .iter()
                                .map(|(phase, count)| format!("{phase} {count}"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let (past_a_close, megabytes, files) = if options.groups {
                                let groups = &summary.groups;
                                (
                                    groups.groups.to_string(),
                                    groups.torn_groups.to_string(),
                                    format!(
                                        "{} lost groups, {} cross-group entries, {} deep checks failed, {} restores acknowledged ({} cut mid-restore and switched)",
                                        groups.lost_groups,
                                        groups.cross_group,
                                        groups.deep_check_failures,
                                        groups.restores,
                                        groups.restores_switched,
                                    ),
                                )
                            } else if options.large {
                                (
                                    summary.past_a_large_close.to_string(),
                                    format!("{:.0}", summary.large_bytes as f64 / 1e6),
                                    summary.files_seen.to_string(),
                                )
                            } else {
                                ("—".to_owned(), "—".to_owned(), "—".to_owned())
                            };
                            println!(
                                "| {backend} | {mode} | {reopened} | {meta} | {history} | {} | {landed} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {kept} | {past_a_close} | {megabytes} | {files} |",
                                summary.cuts,
                                summary.torn,
                                summary.lost_applies,
                                summary.lost_writes,
                                summary.lost_checkpoints,
                                summary.lost_closes,
                                summary.lost_restores,
                                summary.lost_stores,
                                summary.unopenable_typed,
                                summary.unopenable_other,
                            );
                            if !broken.is_empty() {
                                failed = true;
                                eprintln!(
                                    "{backend} {mode} {meta}: {} cuts broke a promise (work directory kept at {}):",
                                    broken.len(),
                                    dir.keep().display()
                                );
                                for outcome in &broken {
                                    eprintln!("- {outcome}");
                                }
                            }
                        }
                        Err(error) => {
                            failed = true;
                            println!(
                                "| {backend} | {mode} | {reopened} | {meta} | {history} | error: {error} | | | | | | | | | | | | | |"
                            );
                        }
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
}
