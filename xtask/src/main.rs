//! fsmstore developer tasks, run as `cargo xtask <task>` (`cargo xtask help` lists them,
//! `cargo xtask <task> --help` explains one).
//!
//! - `test [--all]`: the workspace tests, then the conformance suite on every engine.
//!   Without `--all`, RocksDB (which needs libclang and ~20 minutes to build) is left out.
//! - `conformance [--backend NAME]`: the suite once per engine, one cargo invocation per
//!   engine (`--no-default-features --features NAME`), then a pass/fail table. RocksDB is
//!   skipped, and says so in the table, when libclang is not installed.
//! - `crash` and `powerloss`: the long kill and power-cut campaigns. Their options are
//!   the campaign binaries' own (`campaign_args`): this task parses them to pick the
//!   engines to compile, then hands them on unchanged.
//! - `cluster [--engines LIST] [--check]`: node processes (`fsmstore-node`) on loopback
//!   ports, initialised as one cluster, stopped by pid on Ctrl-C (or after the README's
//!   calls with `--check`).
//! - `chaos [--all] [--short] [-- CHAOS_ARGS]`: the fault campaign (`fsmstore-chaos`)
//!   against node processes: kills, power cuts, partitions, snapshots and purges, then a
//!   linearizability check of the history.
//! - `bench [--backend NAME]... [--quick] [-- CRITERION_ARGS]`: the criterion benches,
//!   one cargo invocation per engine; `report`: their medians as
//!   `target/fsmstore-report/report.md` and `report.svg`.
//! - `msrv`: fails when a dependency declares a newer `rust-version` than the workspace.
//! - `package [--allow-dirty]`: `cargo package` for the publishable crates.
//! - `ci [--all]`: `cargo fmt --check`, `msrv`, `cargo clippy -D warnings`, `test`, then
//!   `cluster --check` and `chaos --short`.

mod bench;
mod cargo;
mod chaos;
mod cluster;
mod conformance;
mod crash;
mod engines;
mod msrv;
mod package;
mod powerloss;
mod report;
mod run;

use std::ffi::OsString;
use std::process::ExitCode;

use campaign_args::{CrashArgs, PowerlossArgs};
use clap::{Args, Parser, Subcommand};

use engines::Engines;

/// fsmstore developer tasks.
#[derive(Parser, Debug)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Workspace tests, then the conformance suite on every engine
    Test(EngineChoice),
    /// The conformance suite once per engine, with a pass/fail table
    Conformance {
        /// One engine (`lmdb` is heed) [default: every engine this machine can build;
        /// RocksDB only when libclang is installed]
        #[arg(long, value_name = "NAME", value_parser = Engines::one)]
        backend: Option<Engines>,
    },
    /// Kill writers at random points and print what survived
    Crash(CrashArgs),
    /// Cut the power under writers on the power-cut filesystem (Linux, root) and print
    /// what survived
    Powerloss(PowerlossArgs),
    /// Node processes on loopback ports, initialised as one cluster; Ctrl-C stops them
    Cluster(cluster::Options),
    /// Kill, power-cut and partition node processes under clients, then check the
    /// history for linearizability, lost writes and convergence
    Chaos(chaos::Options),
    /// The criterion benches, one cargo invocation per engine
    Bench(bench::Options),
    /// The bench medians as target/fsmstore-report/report.{md,svg}
    Report,
    /// Fail when a dependency declares a newer rust-version than the workspace
    Msrv,
    /// `cargo package` the publishable crates (all but RocksDB's verified by a build)
    Package(package::Options),
    /// fmt check, the MSRV check, clippy -D warnings, then test
    Ci(EngineChoice),
}

/// Whether a task covers RocksDB.
#[derive(Args, Debug)]
struct EngineChoice {
    /// Include RocksDB (needs libclang and about 20 minutes of C++ build)
    #[arg(long)]
    all: bool,
}

impl EngineChoice {
    fn engines(&self) -> Engines {
        if self.all {
            Engines::all()
        } else {
            Engines::without_system_libraries()
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&argv);
    match run(cli.task, &argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task, argv: &[OsString]) -> Result<(), String> {
    match task {
        Task::Test(choice) => test(choice.engines()),
        Task::Conformance { backend } => {
            conformance::run(&backend.unwrap_or_else(Engines::all_available))
        }
        Task::Crash(options) => crash::run(&options, task_args(argv)),
        Task::Powerloss(options) => powerloss::run(&options, task_args(argv)),
        Task::Cluster(options) => cluster::run(&options),
        Task::Chaos(options) => chaos::run(&options),
        Task::Bench(options) => bench::run(&options),
        // clap has refused any argument already, so the usage text is never shown.
        Task::Report => report::run(),
        Task::Msrv => msrv::run(),
        Task::Package(options) => package::run(&options),
        Task::Ci(choice) => ci(choice.engines()),
    }
}

/// The arguments after the task's name. The campaign binaries parse them again with the
/// same definitions, so they are passed on as they were typed.
fn task_args(argv: &[OsString]) -> &[OsString] {
    argv.get(2..).unwrap_or_default()
}

fn test(engines: Engines) -> Result<(), String> {
    let mut workspace = vec!["test", "--workspace"];
    workspace.extend(engines.workspace_excludes());
    cargo::run(&workspace)?;
    // The workspace run unifies features, so every engine is compiled into the facade;
    // this run checks the facade's behaviour when the default engine is left out, and
    // the metrics (a feature no workspace crate turns on) against a known history.
    cargo::run(&[
        "test",
        "-p",
        "fsmstore",
        "--no-default-features",
        "--features",
        "memory,metrics",
        "--lib",
        "--test",
        "metrics",
    ])?;
    // The openraft crate's snapshot-install counters (its `metrics` feature).
    cargo::run(&[
        "test",
        "-p",
        "fsmstore-openraft",
        "--features",
        "metrics",
        "--test",
        "metrics",
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
        // The openraft integration: openraft's storage suite, the raft tests, the kill
        // and power-cut tests of a node and the groups tests on RocksDB too (the
        // workspace run covers the other engines).
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
            "--test",
            "kill",
            "--test",
            "power_cut",
            "--test",
            "groups",
        ];
        openraft.extend(engines::SAME_BUILD_AS_WORKSPACE);
        cargo::run(&openraft)?;
    }
    conformance::run(&engines)
}

fn ci(engines: Engines) -> Result<(), String> {
    cargo::run(&["fmt", "--all", "--", "--check"])?;
    // Before any build: it reads the lockfile's metadata only.
    msrv::run()?;
    let mut clippy = vec!["clippy", "--workspace", "--all-targets"];
    clippy.extend(engines.workspace_excludes());
    clippy.extend(["--", "-D", "warnings"]);
    cargo::run(&clippy)?;
    for engine in engines.names() {
        // Each engine alone, as a user with one feature builds the facade (and as the
        // suite is built for one engine); with the memory engine, the metrics too.
        let mut features = format!("fsmstore/{engine},conformance/{engine}");
        if *engine == "memory" {
            features.push_str(",fsmstore/metrics");
        }
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
    let rocksdb = engines.names().contains(&"rocksdb");
    test(engines)?;
    // Node processes: the README's three-process cluster and its calls, then the short
    // fault campaigns (Sync and NoSync, every fault kind, mixed engines).
    cluster::run(&cluster::Options {
        engines: vec!["redb".into(), "fjall".into(), "heed".into()],
        all: false,
        sync_mode: "sync".into(),
        dir: None,
        check: true,
    })?;
    chaos::run(&chaos::Options {
        all: rocksdb,
        short: true,
        chaos_args: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use campaign_args::{CrashCommand, PowerlossCommand};
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Task, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
            .map(|cli| cli.task)
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("xtask")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn all_adds_rocksdb_to_test_and_ci() {
        let Ok(Task::Test(choice)) = parse(&["test"]) else {
            panic!("`test` did not parse");
        };
        assert!(!choice.engines().names().contains(&"rocksdb"));
        let Ok(Task::Ci(choice)) = parse(&["ci", "--all"]) else {
            panic!("`ci --all` did not parse");
        };
        assert_eq!(
            choice.engines().names(),
            ["memory", "redb", "fjall", "heed", "rocksdb"]
        );
    }

    #[test]
    fn conformance_takes_one_engine_and_lmdb_means_heed() {
        let Ok(Task::Conformance {
            backend: Some(engines),
        }) = parse(&["conformance", "--backend", "lmdb"])
        else {
            panic!("`conformance --backend lmdb` did not parse");
        };
        assert_eq!(engines.names(), ["heed"]);
        assert!(matches!(
            parse(&["conformance"]),
            Ok(Task::Conformance { backend: None })
        ));
    }

    #[test]
    fn unknown_tasks_flags_and_engines_are_errors() {
        for args in [
            &[][..],
            &["lint"],
            &["test", "--fast"],
            &["conformance", "--backend", "sqlite"],
            &["conformance", "--backend"],
            &["crash", "--backend", "sqlite"],
            &["crash", "--kills", "many"],
            &["powerloss", "--meta", "ext4"],
            &["powerloss", "--kills", "3"],
            &["powerloss", "--reopen-mode", "sometimes"],
            &["report", "--svg"],
            &["msrv", "--all"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn a_crash_campaign_binary_parses_what_xtask_passes_on_to_the_same_options() {
        let typed = [
            "crash",
            "--backend",
            "lmdb",
            "--mode",
            "nosync",
            "--kills",
            "9",
            "--large",
        ];
        let Ok(Task::Crash(options)) = parse(&typed) else {
            panic!("`crash` did not parse");
        };
        assert_eq!(options.kills, 9);
        assert!(options.large);
        assert_eq!(
            crash::engines(&options.coverage).map(|e| e.names().to_vec()),
            Ok(vec!["heed"])
        );
        let argv = argv(&typed);
        let binary = CrashCommand::try_parse_from(
            ["fsmstore-crash", "--probe", "probe"]
                .map(OsString::from)
                .into_iter()
                .chain(task_args(&argv).iter().cloned()),
        )
        .expect("the binary parses what xtask passed on");
        assert_eq!(binary.campaign, options);
    }

    #[test]
    fn a_powerloss_campaign_binary_parses_what_xtask_passes_on_to_the_same_options() {
        let typed = [
            "powerloss",
            "--meta",
            "posix",
            "--data",
            "tear",
            "--cuts",
            "5",
            "--seed",
            "42",
            "--large",
            "--reopen-mode",
            "other",
        ];
        let Ok(Task::Powerloss(options)) = parse(&typed) else {
            panic!("`powerloss` did not parse");
        };
        assert_eq!((options.cuts, options.seed), (5, Some(42)));
        assert!(options.large);
        assert_eq!(options.reopen_mode, campaign_args::ReopenMode::Other);
        let argv = argv(&typed);
        let binary = PowerlossCommand::try_parse_from(
            ["fsmstore-powerloss", "--probe", "probe"]
                .map(OsString::from)
                .into_iter()
                .chain(task_args(&argv).iter().cloned()),
        )
        .expect("the binary parses what xtask passed on");
        assert_eq!(binary.campaign, options);
    }
}
