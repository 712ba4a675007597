//! `cargo xtask bench`: the criterion benches, one cargo invocation per engine.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::cargo;
use crate::engines::Engines;
use crate::run::{BenchRun, report_dir, target_dir};

/// The environment variable the bench reads for short runs.
const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// The environment variable that adds the bench's 10M-key cold-start cases.
const LARGE_ENV: &str = "FSMSTORE_BENCH_LARGE";

/// The code generation flags of a bench build: every function and every loop starts on
/// a 64-byte boundary.
///
/// A bench ratio compares two hot loops compiled in different crates, and where the
/// linker happens to place each loop decides up to 10% of a scan: the same LMDB scan
/// code measured 1.08–1.11× its baseline forward and 0.96–0.98× in reverse in one
/// binary, and 0.98–1.01× both ways once aligned. Aligned, a ratio no longer depends
/// on an unrelated change moving the code.
const ALIGNED_CODE: &str = "-C llvm-args=-align-all-functions=6 -C llvm-args=-align-loops=64";

/// The bench builds' own target directory, under the workspace's: [`ALIGNED_CODE`]
/// changes every crate's build, build scripts included (RocksDB's C++ among them), so a
/// bench build sharing the target directory would rebuild every other build after it,
/// and each of them the bench build.
fn bench_target_dir() -> std::path::PathBuf {
    target_dir().join("bench")
}

/// What `cargo xtask bench` was asked for.
#[derive(clap::Args, Debug, PartialEq, Eq)]
pub struct Options {
    /// An engine to bench, repeatable (`lmdb` is heed) [default: every engine this
    /// machine can build]
    #[arg(long = "backend", value_name = "NAME", value_parser = parse_engine)]
    engines: Vec<&'static str>,
    /// Short measurements: a first look, not numbers to publish
    #[arg(long)]
    quick: bool,
    /// Adds 10M-key cold-start cases (a fill of a few minutes per engine)
    #[arg(long)]
    large: bool,
    /// Only the cases whose name after `<group>/<engine>/` matches this regex, e.g.
    /// `skip/10000000$` (with `--large`) for the 10M-key cold-start skips
    #[arg(long, value_name = "REGEX")]
    cases: Option<String>,
    /// Flags passed to criterion after the case filter (the filter itself is `--cases`)
    #[arg(last = true, value_name = "CRITERION_ARGS")]
    criterion_args: Vec<String>,
}

impl Options {
    /// The engines asked for, each once, in the order first named; empty means every
    /// available engine.
    fn engines(&self) -> Vec<&'static str> {
        let mut engines = Vec::new();
        for engine in &self.engines {
            if !engines.contains(engine) {
                engines.push(*engine);
            }
        }
        engines
    }
}

fn parse_engine(name: &str) -> Result<&'static str, String> {
    Ok(Engines::one(name)?.names()[0])
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
pub fn run(options: &Options) -> Result<(), String> {
    let (engines, skipped) = if options.engines.is_empty() {
        let available = Engines::all_available();
        (available.names().to_vec(), available.skipped().to_vec())
    } else {
        (options.engines(), Vec::new())
    };
    for (engine, reason) in &skipped {
        eprintln!("== bench: skipping {engine}: {reason}");
    }

    let started = SystemTime::now();
    let mut runs = Vec::new();
    for (position, engine) in engines.iter().copied().enumerate() {
        // The floor is measured once, with the first engine, in the same run.
        let filter = case_filter(engine, position == 0, options.cases.as_deref());
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
        let ok = bench_engine(engine, &filter, options)?;
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
    // A run in which every engine failed measured nothing: the last record stays.
    if runs.iter().any(|run| run.ok) {
        record_run(options, &runs, started)?;
    }

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

/// The criterion filter for `engine`'s cases (and the floor's, with `floor`), narrowed
/// to the cases whose name after the group and engine matches `cases`.
fn case_filter(engine: &str, floor: bool, cases: Option<&str>) -> String {
    let groups = "apply|native|checkpoint|cold_start|scan|scan_native|groups";
    let floor = if floor { "floor|" } else { "" };
    match cases {
        None => format!("^({floor}({groups})/{engine})/"),
        Some(cases) => format!("^({floor}({groups})/{engine})/({cases})"),
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
        "--bench",
        "groups",
        "--",
        filter,
    ];
    args.extend(options.criterion_args.iter().map(String::as_str));
    eprintln!(
        "$ RUSTFLAGS=\"{ALIGNED_CODE}\" CARGO_TARGET_DIR={} cargo {}",
        bench_target_dir().display(),
        args.join(" ")
    );
    let mut command = cargo::command();
    command
        .args(&args)
        .env("RUSTFLAGS", ALIGNED_CODE)
        .env("CARGO_TARGET_DIR", bench_target_dir())
        // Where `cargo xtask report` reads the results, whatever the build's directory.
        .env("CRITERION_HOME", target_dir().join("criterion"))
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

/// Leaves a record for `cargo xtask report`: when, which engines, which mode.
fn record_run(options: &Options, runs: &[EngineRun], started: SystemTime) -> Result<(), String> {
    BenchRun {
        started,
        finished: SystemTime::now(),
        quick: options.quick,
        large: options.large,
        engines: runs
            .iter()
            .filter(|run| run.ok)
            .map(|run| run.engine.to_owned())
            .collect(),
        criterion_args: options.criterion_args.clone(),
    }
    .save(&report_dir())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Task};

    fn parse(args: &[&str]) -> Result<Options, String> {
        match Cli::try_parse_from(["xtask", "bench"].iter().chain(args)) {
            Ok(Cli {
                task: Task::Bench(options),
            }) => Ok(options),
            Ok(other) => Err(format!("parsed as {other:?}")),
            Err(error) => Err(error.kind().to_string()),
        }
    }

    #[test]
    fn backends_repeat_lmdb_means_heed_and_the_rest_goes_to_criterion() {
        let options = parse(&[
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
        ])
        .expect("parse");
        assert_eq!(options.engines(), ["redb", "heed"]);
        assert!(options.quick && options.large);
        assert_eq!(options.criterion_args, ["--measurement-time", "2"]);
    }

    #[test]
    fn unknown_flags_and_engines_are_errors() {
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--backend"]).is_err());
        assert!(parse(&["--backend", "sqlite"]).is_err());
        // Criterion's own flags only after `--`.
        assert!(parse(&["--measurement-time", "2"]).is_err());
        assert_eq!(
            parse(&[]),
            Ok(Options {
                engines: Vec::new(),
                quick: false,
                large: false,
                cases: None,
                criterion_args: Vec::new(),
            })
        );
    }

    /// The cases `case_filter` selects from `names`.
    fn selected<'a>(filter: &str, names: &[&'a str]) -> Vec<&'a str> {
        let filter = regex::Regex::new(filter).expect("a valid filter");
        names
            .iter()
            .copied()
            .filter(|name| filter.is_match(name))
            .collect()
    }

    const CASES: [&str; 9] = [
        "floor/fdatasync_4k",
        "apply/fjall/sync/1",
        "cold_start/fjall/skip/1000000",
        "cold_start/fjall/skip/10000000",
        "cold_start/fjall/restore/10000000",
        "cold_start/redb/skip/10000000",
        "scan_native/fjall/forward/1000",
        "groups/fjall/groups/16/64",
        "groups/redb/alone/1/1",
    ];

    #[test]
    fn the_filter_takes_the_engines_cases_and_the_floor_once() {
        assert_eq!(
            selected(&case_filter("fjall", true, None), &CASES),
            [&CASES[..5], &CASES[6..8]].concat()
        );
        assert_eq!(
            selected(&case_filter("fjall", false, None), &CASES),
            [&CASES[1..5], &CASES[6..8]].concat()
        );
    }

    #[test]
    fn cases_narrow_the_filter_to_names_after_the_engine() {
        let options = parse(&["--large", "--cases", "skip/10000000$"]).expect("parse");
        let cases = options.cases.as_deref();
        assert_eq!(
            selected(&case_filter("fjall", false, cases), &CASES),
            ["cold_start/fjall/skip/10000000"]
        );
        assert_eq!(
            selected(&case_filter("redb", true, cases), &CASES),
            ["cold_start/redb/skip/10000000"]
        );
        assert_eq!(
            selected(&case_filter("fjall", true, Some("fdatasync")), &CASES),
            ["floor/fdatasync_4k"]
        );
        // The groups bench's cases: `groups/<engine>/<layout>/<puts>/<appliers>`.
        assert_eq!(
            selected(
                &case_filter("redb", false, Some("(groups|stores|alone)/")),
                &CASES
            ),
            ["groups/redb/alone/1/1"]
        );
    }
}
