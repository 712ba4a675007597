//! `cargo xtask bench`: the criterion benches, one cargo invocation per engine.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cargo;
use crate::engines::Engines;
use crate::report;

/// The environment variable the bench reads for short runs.
const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// The environment variable that adds the bench's 10M-key cold-start cases.
const LARGE_ENV: &str = "FSMSTORE_BENCH_LARGE";

/// The file, in the report directory, that tells the report how the last run was made.
pub const RUN_FILE: &str = "last-bench.txt";

/// What `cargo xtask bench` was asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// The engines to bench; empty means every available engine.
    engines: Vec<&'static str>,
    quick: bool,
    /// Adds the 10M-key cold-start cases (a fill of a few minutes per engine).
    large: bool,
    /// Passed to criterion after the case filter.
    criterion_args: Vec<String>,
}

fn parse(args: &[String], usage: &str) -> Result<Options, String> {
    let mut options = Options {
        engines: Vec::new(),
        quick: false,
        large: false,
        criterion_args: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--large" => options.large = true,
            "--backend" => {
                let name = args.next().ok_or_else(|| usage.to_owned())?;
                for engine in Engines::one(name)?.names() {
                    if !options.engines.contains(engine) {
                        options.engines.push(engine);
                    }
                }
            }
            "--" => options.criterion_args.extend(args.by_ref().cloned()),
            _ => return Err(usage.to_owned()),
        }
    }
    Ok(options)
}

/// One engine's bench run.
struct EngineRun {
    engine: &'static str,
    ok: bool,
    elapsed: Duration,
}

/// Runs the benches: `--backend NAME` (repeatable) picks engines, `--quick` shortens
/// every case, `--large` adds 10M-key cold-start cases, and arguments after `--` go to
/// criterion.
pub fn run(args: &[String], usage: &str) -> Result<(), String> {
    let options = parse(args, usage)?;
    let (engines, skipped) = if options.engines.is_empty() {
        let available = Engines::all_available();
        (available.names().to_vec(), available.skipped().to_vec())
    } else {
        (options.engines.clone(), Vec::new())
    };
    for (engine, reason) in &skipped {
        eprintln!("== bench: skipping {engine}: {reason}");
    }

    let started = SystemTime::now();
    let mut runs = Vec::new();
    for (position, engine) in engines.iter().copied().enumerate() {
        // The floor is measured once, with the first engine, in the same run.
        let filter = if position == 0 {
            format!("^(floor/|(apply|native|checkpoint|cold_start|scan|scan_native)/{engine}/)")
        } else {
            format!("^(apply|native|checkpoint|cold_start|scan|scan_native)/{engine}/")
        };
        eprintln!(
            "== bench {engine} ({}/{}){}",
            position + 1,
            engines.len(),
            match (options.quick, options.large) {
                (true, true) => ", quick, large",
                (true, false) => ", quick",
                (false, true) => ", large",
                (false, false) => "",
            }
        );
        let started = Instant::now();
        let ok = bench_engine(engine, &filter, &options)?;
        let elapsed = started.elapsed();
        eprintln!(
            "== bench {engine}: {} in {:.0} s",
            if ok { "done" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
        runs.push(EngineRun {
            engine,
            ok,
            elapsed,
        });
    }
    record_run(&options, &runs, started)?;

    println!();
    println!("| engine | bench | time |");
    println!("|---|---|---:|");
    for run in &runs {
        println!(
            "| {} | {} | {:.0} s |",
            run.engine,
            if run.ok { "done" } else { "failed" },
            run.elapsed.as_secs_f64()
        );
    }
    for (engine, reason) in &skipped {
        println!("| {engine} | skipped: {reason} | |");
    }
    println!();
    println!("next: cargo xtask report");
    let failed: Vec<&str> = runs
        .iter()
        .filter(|run| !run.ok)
        .map(|run| run.engine)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("bench failed on: {}", failed.join(", ")))
    }
}

/// Benches one engine: its feature alone, the cases that `filter` selects.
fn bench_engine(engine: &str, filter: &str, options: &Options) -> Result<bool, String> {
    let mut args = vec![
        "bench",
        "-p",
        "fsmstore-benches",
        "--no-default-features",
        "--features",
        engine,
        "--bench",
        "fsync",
        "--bench",
        "scan",
        "--",
        filter,
    ];
    args.extend(options.criterion_args.iter().map(String::as_str));
    eprintln!("$ cargo {}", args.join(" "));
    let mut command = cargo::command();
    command
        .args(&args)
        // The benches set the sync mode of every store; an override would mislabel cases.
        .env_remove("FSMSTORE_SYNC_MODE")
        .stdin(Stdio::null());
    for (set, name) in [(options.quick, QUICK_ENV), (options.large, LARGE_ENV)] {
        if set {
            command.env(name, "1");
        } else {
            command.env_remove(name);
        }
    }
    let status = command
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    Ok(status.success())
}

/// Leaves a note for `cargo xtask report`: when, which engines, which mode.
fn record_run(options: &Options, runs: &[EngineRun], started: SystemTime) -> Result<(), String> {
    let dir = report::report_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let seconds = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0)
    };
    let engines: Vec<&str> = runs
        .iter()
        .filter(|run| run.ok)
        .map(|run| run.engine)
        .collect();
    let text = format!(
        "started={}\nfinished={}\nquick={}\nlarge={}\nengines={}\ncriterion_args={}\n",
        seconds(started),
        seconds(SystemTime::now()),
        options.quick,
        options.large,
        engines.join(","),
        options.criterion_args.join(" "),
    );
    write(&dir.join(RUN_FILE), &text)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn backends_repeat_lmdb_means_heed_and_the_rest_goes_to_criterion() {
        let options = parse(
            &strings(&[
                "--backend",
                "redb",
                "--quick",
                "--large",
                "--backend",
                "lmdb",
                "--backend",
                "heed",
                "--",
                "--measurement-time",
                "2",
            ]),
            "usage",
        );
        assert_eq!(
            options,
            Ok(Options {
                engines: vec!["redb", "heed"],
                quick: true,
                large: true,
                criterion_args: strings(&["--measurement-time", "2"]),
            })
        );
    }

    #[test]
    fn unknown_flags_and_engines_are_errors() {
        assert_eq!(
            parse(&strings(&["--fast"]), "usage"),
            Err("usage".to_owned())
        );
        assert_eq!(
            parse(&strings(&["--backend"]), "usage"),
            Err("usage".to_owned())
        );
        assert!(parse(&strings(&["--backend", "sqlite"]), "usage").is_err());
        assert_eq!(
            parse(&[], "usage"),
            Ok(Options {
                engines: Vec::new(),
                quick: false,
                large: false,
                criterion_args: Vec::new(),
            })
        );
    }
}
