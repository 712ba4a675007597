//! `cargo xtask conformance`: the suite once per engine, and a table.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cargo;
use crate::engines::Engines;

/// One engine's suite run.
struct SuiteRun {
    engine: &'static str,
    passed: usize,
    failed: usize,
    elapsed: Duration,
}

/// Runs the suite on each engine, prints the table, and fails if any engine failed.
pub fn run(engines: &Engines) -> Result<(), String> {
    let mut runs = Vec::new();
    for engine in engines.names() {
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
    for (engine, reason) in engines.skipped() {
        println!("| {engine} | skipped: {reason} | | |");
    }
    let passed: usize = runs.iter().map(|run| run.passed).sum();
    let failed: usize = runs.iter().map(|run| run.failed).sum();
    println!();
    println!("conformance: {passed} passed, {failed} failed");
    let failed: Vec<&str> = runs
        .iter()
        .filter(|run| run.failed > 0 || run.passed == 0)
        .map(|run| run.engine)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("conformance failed on: {}", failed.join(", ")))
    }
}

fn run_suite(engine: &'static str) -> Result<SuiteRun, String> {
    let started = Instant::now();
    let output = cargo::command()
        .args([
            "test",
            "-p",
            "conformance",
            "--no-default-features",
            "--features",
            engine,
            "--test",
            "suite",
            "--",
            "--quiet",
        ])
        .stderr(Stdio::inherit())
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
        // A build failure or crash: count it so the table cannot look green.
        failed = 1;
    }
    Ok(SuiteRun {
        engine,
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
