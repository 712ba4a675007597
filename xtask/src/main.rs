//! fsmstore developer tasks, run as `cargo xtask <task>`.
//!
//! - `test [--all]`: the workspace tests, then the conformance suite on every engine.
//!   Without `--all`, RocksDB (which needs libclang and ~20 minutes to build) is left out.
//! - `conformance [--backend NAME]`: the suite once per engine, one cargo invocation per
//!   engine (`--no-default-features --features NAME`), then a pass/fail table. RocksDB is
//!   skipped, and says so in the table, when libclang is not installed.
//! - `crash [--backend NAME] [--mode sync|nosync] [--kills N]`: kill writer processes
//!   at random points (200 per engine and mode by default) and print what survived.
//! - `powerloss [--backend NAME] [--mode sync|nosync] [--meta posix|journal]
//!   [--data drop|keep-random|tear] [--cuts N] [--seed N]`: cut the power under writers
//!   on the power-cut filesystem (200 cuts per engine, sync mode and metadata mode by
//!   default) and print what survived.
//! - `bench [--backend NAME]... [--quick] [--large]`: the criterion fsync benches, one
//!   cargo invocation per engine (`--large` adds 10M-key cold-start cases); `report`: their medians as `target/fsmstore-report/report.md`
//!   and `report.svg`.
//! - `ci [--all]`: `cargo fmt --check`, `cargo clippy -D warnings`, then `test`.

mod bench;
mod cargo;
mod conformance;
mod crash;
mod engines;
mod powerloss;
mod report;

use std::process::ExitCode;

use engines::Engines;

const USAGE: &str = "usage: cargo xtask <task>
  test [--all]                 workspace tests + conformance suite (--all: with RocksDB)
  conformance [--backend NAME] the suite per engine, with a pass/fail table
  crash [--backend NAME] [--mode sync|nosync] [--kills N]
                               kill writers at random points; print what survived
  powerloss [--backend NAME] [--mode sync|nosync] [--meta posix|journal]
            [--data drop|keep-random|tear] [--cuts N] [--seed N]
                               cut the power under writers; print what survived
  bench [--backend NAME]... [--quick] [--large] [-- CRITERION_ARGS]
                               fsync benches per engine (criterion);
                               --large adds 10M-key cold-start cases
  report                       bench medians as target/fsmstore-report/report.{md,svg}
  ci [--all]                   fmt check, clippy -D warnings, then test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => all_flag(&args[1..]).and_then(test),
        Some("ci") => all_flag(&args[1..]).and_then(ci),
        Some("crash") => crash::parse(&args[1..]).and_then(|options| crash::run(&options)),
        Some("powerloss") => {
            powerloss::parse(&args[1..]).and_then(|options| powerloss::run(&options))
        }
        Some("bench") => bench::run(&args[1..], USAGE),
        Some("report") => report::run(&args[1..], USAGE),
        Some("conformance") => {
            backend_arg(&args[1..]).and_then(|engines| conformance::run(&engines).map(|_| ()))
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn all_flag(args: &[String]) -> Result<Engines, String> {
    match args {
        [] => Ok(Engines::without_system_libraries()),
        [flag] if flag == "--all" => Ok(Engines::all()),
        _ => Err(USAGE.to_owned()),
    }
}

fn backend_arg(args: &[String]) -> Result<Engines, String> {
    match args {
        [] => Ok(Engines::all_available()),
        [flag, name] if flag == "--backend" => Engines::one(name),
        _ => Err(USAGE.to_owned()),
    }
}

fn test(engines: Engines) -> Result<(), String> {
    let mut workspace = vec!["test", "--workspace"];
    workspace.extend(engines.workspace_excludes());
    cargo::run(&workspace)?;
    // The workspace run unifies features, so every engine is compiled into the facade;
    // this run checks the facade's behaviour when the default engine is left out.
    cargo::run(&[
        "test",
        "-p",
        "fsmstore",
        "--no-default-features",
        "--features",
        "memory",
        "--lib",
    ])?;
    // Criterion's test mode runs every bench case once: the benches stay honest without
    // a release build.
    let mut benches = vec![
        "test",
        "-p",
        "fsmstore-benches",
        "--bench",
        "fsync",
        "--bench",
        "scan",
    ];
    if engines.names().contains(&"rocksdb") {
        benches.extend(["--features", "fsmstore-benches/rocksdb"]);
        benches.extend(engines::SAME_BUILD_AS_WORKSPACE);
    }
    cargo::run(&benches)?;
    if engines.names().contains(&"rocksdb") {
        // The workspace run compiles the suite without RocksDB: the cross-engine
        // snapshot matrix runs again with all five engines compiled in.
        cargo::run(&[
            "test",
            "-p",
            "conformance",
            "--features",
            "rocksdb",
            "--test",
            "suite",
            "--",
            "a_stream_restores_identically_into_every_engine",
        ])?;
        // The command-line tests migrate to RocksDB too when it is compiled in.
        let mut cli = vec![
            "test",
            "-p",
            "fsmstore-cli",
            "--features",
            "fsmstore-cli/rocksdb",
            "--test",
            "cli",
        ];
        cli.extend(engines::SAME_BUILD_AS_WORKSPACE);
        cargo::run(&cli)?;
        // The openraft integration: openraft's storage suite and the raft tests on
        // RocksDB too (the workspace run covers the other engines).
        let mut openraft = vec![
            "test",
            "-p",
            "fsmstore-openraft",
            "--features",
            "fsmstore-openraft/rocksdb",
            "--test",
            "openraft_suite",
            "--test",
            "raft",
        ];
        openraft.extend(engines::SAME_BUILD_AS_WORKSPACE);
        cargo::run(&openraft)?;
    }
    conformance::run(&engines).map(|_| ())
}

fn ci(engines: Engines) -> Result<(), String> {
    cargo::run(&["fmt", "--all", "--", "--check"])?;
    let mut clippy = vec!["clippy", "--workspace", "--all-targets"];
    clippy.extend(engines.workspace_excludes());
    clippy.extend(["--", "-D", "warnings"]);
    cargo::run(&clippy)?;
    for engine in engines.names() {
        // Each engine alone, as a user with one feature builds the facade (and as the
        // suite is built for one engine).
        let features = format!("fsmstore/{engine},conformance/{engine}");
        cargo::run(&[
            "clippy",
            "-p",
            "fsmstore",
            "-p",
            "conformance",
            "--no-default-features",
            "--features",
            &features,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])?;
    }
    test(engines)
}
