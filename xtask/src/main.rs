//! fsmstore developer tasks, run as `cargo xtask <task>`.
//!
//! - `test`: the whole workspace with default features, then the conformance suite on
//!   every engine that needs no system library.
//! - `conformance [--backend NAME]`: the suite once per engine, one cargo invocation per
//!   engine (`--no-default-features --features NAME`), then a pass/fail table.
//! - `ci`: `cargo fmt --check`, `cargo clippy -D warnings`, then `test`.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Engines whose build needs nothing but Rust and a C compiler.
const PURE_ENGINES: &[&str] = &["memory", "redb", "fjall", "heed"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("conformance") => {
            backend_arg(&args[1..]).and_then(|only| conformance(only.as_deref()))
        }
        Some("ci") => ci(),
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

const USAGE: &str = "usage: cargo xtask <test | conformance [--backend NAME] | ci>";

fn backend_arg(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [] => Ok(None),
        [flag, name] if flag == "--backend" => {
            let name = if name == "lmdb" {
                "heed"
            } else {
                name.as_str()
            };
            if PURE_ENGINES.contains(&name) {
                Ok(Some(name.to_owned()))
            } else {
                Err(format!(
                    "unknown engine {name:?}; known: {}",
                    PURE_ENGINES.join(", ")
                ))
            }
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn test() -> Result<(), String> {
    cargo(&["test", "--workspace"])?;
    // The workspace run unifies features, so every engine is compiled into the facade;
    // this run checks the facade's behaviour when the default engine is left out.
    cargo(&[
        "test",
        "-p",
        "fsmstore",
        "--no-default-features",
        "--features",
        "memory",
        "--lib",
    ])?;
    conformance(None)
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    for engine in PURE_ENGINES {
        let features = format!("fsmstore/{engine}");
        cargo(&[
            "clippy",
            "-p",
            "fsmstore",
            "--no-default-features",
            "--features",
            &features,
            "--",
            "-D",
            "warnings",
        ])?;
    }
    test()
}

struct SuiteRun {
    engine: String,
    passed: usize,
    failed: usize,
    elapsed: Duration,
}

fn conformance(only: Option<&str>) -> Result<(), String> {
    let engines: Vec<&str> = match only {
        Some(engine) => vec![engine],
        None => PURE_ENGINES.to_vec(),
    };
    let mut runs = Vec::new();
    for engine in engines {
        eprintln!("== conformance suite on {engine}");
        runs.push(run_suite(engine)?);
    }
    println!();
    println!("| engine | passed | failed | time |");
    println!("|---|---:|---:|---:|");
    for run in &runs {
        println!(
            "| {} | {} | {} | {:.1} s |",
            run.engine,
            run.passed,
            run.failed,
            run.elapsed.as_secs_f64()
        );
    }
    let passed: usize = runs.iter().map(|run| run.passed).sum();
    let failed: usize = runs.iter().map(|run| run.failed).sum();
    println!();
    println!("conformance: {passed} passed, {failed} failed");
    let failed: Vec<&str> = runs
        .iter()
        .filter(|run| run.failed > 0 || run.passed == 0)
        .map(|run| run.engine.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("conformance failed on: {}", failed.join(", ")))
    }
}

fn run_suite(engine: &str) -> Result<SuiteRun, String> {
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args([
            "test",
            "-p",
            "conformance",
            "--no-default-features",
            "--features",
            engine,
            "--test",
            "suite",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let (mut passed, mut failed) = (0, 0);
    for line in stdout.lines() {
        if let Some(summary) = line.strip_prefix("test result: ") {
            passed += count_before(summary, " passed");
            failed += count_before(summary, " failed");
        }
    }
    if !output.status.success() && failed == 0 {
        // A build failure or crash: count it as a failure so the table cannot look green.
        failed = 1;
    }
    Ok(SuiteRun {
        engine: engine.to_owned(),
        passed,
        failed,
        elapsed: started.elapsed(),
    })
}

/// The number just before `label` in a libtest summary like `ok. 71 passed; 0 failed`.
fn count_before(summary: &str, label: &str) -> usize {
    summary
        .split(';')
        .find_map(|part| part.trim().strip_suffix(label))
        .and_then(|number| number.rsplit(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::count_before;

    #[test]
    fn counts_are_read_from_a_libtest_summary() {
        let summary = "ok. 71 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(count_before(summary, " passed"), 71);
        assert_eq!(count_before(summary, " failed"), 2);
        let summary = "FAILED. 3 passed; 1 failed; 0 ignored";
        assert_eq!(count_before(summary, " passed"), 3);
    }
}
