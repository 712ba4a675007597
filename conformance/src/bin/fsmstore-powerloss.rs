//! Cuts the power under writers on the power-cut filesystem and reports what survived.
//!
//! ```text
//! fsmstore-powerloss --probe PATH [--backend NAME] [--mode sync|nosync]
//!                    [--meta posix|journal] [--data drop|keep-random|tear]
//!                    [--cuts N] [--seed N]
//! ```
//! Prints one Markdown row per engine, sync mode and metadata mode: cuts, where they
//! landed, torn batches, lost acknowledged applies, writes, checkpoints, closes,
//! restores and store creations, stores that did not reopen, and NoSync kept %. Exits 1
//! if any promise was broken, 2 on bad arguments, 3 when FUSE cannot be mounted.

use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("fsmstore-powerloss: the power-cut filesystem needs Linux");
    ExitCode::from(3)
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    use conformance::crash::Jitter;
    use conformance::powerloss::{Campaign, available, campaign};
    use fsmstore::{Backend, SyncMode};
    use powercut::MetaMode;

    struct Options {
        probe: PathBuf,
        backends: Vec<Backend>,
        modes: Vec<SyncMode>,
        metas: Vec<MetaMode>,
        cuts: u64,
        seed: Option<u64>,
        data: Option<powercut::DataMode>,
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            probe: PathBuf::new(),
            backends: Backend::compiled()
                .into_iter()
                .filter(|b| b.is_durable() == Some(true))
                .collect(),
            modes: vec![SyncMode::Sync, SyncMode::NoSync],
            metas: vec![MetaMode::Posix, MetaMode::Journal],
            cuts: 200,
            seed: None,
            data: None,
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--probe" => options.probe = value.into(),
                "--backend" => options.backends = vec![value.parse().map_err(|e| format!("{e}"))?],
                "--mode" => options.modes = vec![value.parse().map_err(|e| format!("{e}"))?],
                "--meta" => options.metas = vec![value.parse().map_err(|e| format!("{e}"))?],
                "--data" => options.data = Some(value.parse().map_err(|e| format!("{e}"))?),
                "--cuts" => options.cuts = value.parse().map_err(|_| "--cuts takes a number")?,
                "--seed" => {
                    options.seed = Some(value.parse().map_err(|_| "--seed takes a number")?)
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.probe.as_os_str().is_empty() {
            return Err("--probe PATH is required".to_owned());
        }
        Ok(options)
    }

    pub(super) fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let options = match parse(&args) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("fsmstore-powerloss: {message}");
                return ExitCode::from(2);
            }
        };
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
        println!(
            "| engine | mode | disk | cuts | landed in | torn | lost applies | lost writes | lost checkpoints | lost closes | lost restores | lost stores | unopenable (typed / other) | NoSync kept % |"
        );
        println!("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for backend in &options.backends {
            for mode in &options.modes {
                for meta in &options.metas {
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
                            probe: &options.probe,
                            backend: *backend,
                            mode: *mode,
                            meta: *meta,
                            cuts: options.cuts,
                            workdir: dir.path(),
                            data: options.data,
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
                            println!(
                                "| {backend} | {mode} | {meta} | {} | {landed} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {kept} |",
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
                                "| {backend} | {mode} | {meta} | error: {error} | | | | | | | | | | |"
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
