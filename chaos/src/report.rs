//! The progress bar, the history file, the checks and the summary table.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use comfy_table::Table;
use fsmstore_history::{Entry, Op, Outcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::api::State;
use crate::args::Args;
use crate::faults::FaultLog;

/// A bar of the operations recorded, with the faults so far as its message.
pub fn progress_bar(ops: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(ops);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} ops  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The bar's message: faults by kind.
pub fn fault_message(log: &FaultLog) -> String {
    let faults: Vec<String> = log
        .injected
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.name()))
        .collect();
    format!("faults: {}", faults.join(", "))
}

/// Writes the history as JSON lines.
pub fn write_history(path: &Path, history: &[Entry]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for entry in history {
        serde_json::to_writer(&mut out, entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes the faults' timeline, one event a line.
pub fn write_timeline(path: &Path, log: &FaultLog) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for (time, event) in &log.timeline {
        writeln!(out, "{time}  {event}")?;
    }
    out.flush()
}

/// How the campaign ended, after the faults.
pub struct Ending {
    /// The state every node converged to, or what differed.
    pub converged: Result<State, String>,
    /// Nodes that did not exit 0 on SIGTERM in time.
    pub unclean: Vec<u64>,
    /// The crash filesystem's watchdog reports.
    pub disk_faults: Vec<String>,
    /// Snapshots the nodes installed from a leader, in total.
    pub installs: u64,
    /// How long the operations ran.
    pub ran_for: Duration,
}

/// Every check's result, and the counts the table shows.
pub struct Summary {
    ops: BTreeMap<(&'static str, &'static str), u64>,
    faults: Vec<(String, u64)>,
    faults_missing: Vec<String>,
    fault_errors: Vec<String>,
    snapshots: u64,
    purges: u64,
    pages_dropped: u64,
    violations: Vec<String>,
    lost: Vec<String>,
    converged: Result<State, String>,
    restarts: usize,
    restarts_after_cuts: usize,
    restores: u64,
    installs: u64,
    restore_anomalies: Vec<String>,
    unclean: Vec<u64>,
    disk_faults: Vec<String>,
    crashes: Vec<String>,
    ran_for: Duration,
}

impl Summary {
    /// Checks the history and gathers the rest.
    pub fn new(history: &[Entry], log: &FaultLog, end: Ending, args: &Args) -> Summary {
        let Ending {
            converged,
            unclean,
            disk_faults,
            installs,
            ran_for,
        } = end;
        let requested = &args.faults;
        let mut ops = BTreeMap::new();
        for entry in history {
            let kind = match entry.op {
                Op::Read => "read",
                Op::Write(_) => "write",
                Op::Cas { .. } => "cas",
            };
            let outcome = match entry.outcome {
                Outcome::Ok(_) => "ok",
                Outcome::Failed => "failed",
                Outcome::Unknown => "unknown",
            };
            *ops.entry((kind, outcome)).or_default() += 1;
        }
        let report = fsmstore_history::check_linearizable(history);
        let violations = report
            .violations()
            .map(|(key, v)| format!("key {key}: not linearizable: {v}"))
            .chain(
                report
                    .undecided()
                    .map(|key| format!("key {key}: the check ran out of budget (undecided)")),
            )
            .chain(
                report
                    .malformed()
                    .map(|(key, why)| format!("key {key}: malformed history: {why}")),
            )
            .collect();
        let lost = match &converged {
            Ok(state) => {
                let finals: BTreeMap<String, Option<String>> = history
                    .iter()
                    .map(|e| (e.key.clone(), state.data.get(&e.key).cloned()))
                    .collect();
                fsmstore_history::lost_writes(history, &finals)
                    .iter()
                    .map(|l| l.to_string())
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        // A store that covers its snapshot skips the restore; one behind it (a death
        // between an install's publish and its restore, a NoSync store after a power
        // cut) restores it at start.
        let mut restore_anomalies = Vec::new();
        for r in &log.restarts {
            match (r.on_start.as_str(), r.restores_at_start) {
                ("covered", 0) | ("no-snapshot", 0) => {}
                ("restore", n) if n > 0 => {}
                (found, n) => restore_anomalies.push(format!(
                    "node {}: found {found:?} at start, and restored {n} snapshot(s) then",
                    r.id
                )),
            }
        }
        Summary {
            ops,
            faults: log
                .injected
                .iter()
                .map(|(k, n)| (k.name().to_owned(), *n))
                .collect(),
            faults_missing: requested
                .iter()
                .filter(|k| !log.injected.contains_key(k))
                .map(|k| k.name().to_owned())
                .collect(),
            fault_errors: log.errors.clone(),
            snapshots: log.snapshots,
            purges: log.purges,
            pages_dropped: log.pages_dropped,
            violations,
            lost,
            converged,
            restarts: log.restarts.len(),
            restarts_after_cuts: log.restarts.iter().filter(|r| r.power_cut).count(),
            restores: log.restarts.iter().map(|r| r.restores_at_start).sum(),
            installs,
            restore_anomalies,
            unclean,
            disk_faults,
            crashes: log.crashes.clone(),
            ran_for,
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.lost.is_empty()
            && self.converged.is_ok()
            && self.restore_anomalies.is_empty()
            && self.unclean.is_empty()
            && self.disk_faults.is_empty()
            && self.fault_errors.is_empty()
            && self.faults_missing.is_empty()
            && self.crashes.is_empty()
    }

    /// Prints the tables and every anomaly.
    pub fn print(&self, seed: u64, nodes: &[(u64, String, String)]) {
        let mut table = Table::new();
        table.set_header(["operation", "ok", "failed", "unknown"]);
        for kind in ["read", "write", "cas"] {
            let n = |o| self.ops.get(&(kind, o)).copied().unwrap_or(0).to_string();
            table.add_row([kind.to_owned(), n("ok"), n("failed"), n("unknown")]);
        }
        println!("{table}");

        let mut table = Table::new();
        table.set_header(["fault", "injected"]);
        for (kind, n) in &self.faults {
            table.add_row([kind.clone(), n.to_string()]);
        }
        table.add_row([
            "restarts (after a power cut) / restores at start".to_owned(),
            format!(
                "{} ({}) / {}",
                self.restarts, self.restarts_after_cuts, self.restores
            ),
        ]);
        table.add_row([
            "snapshots installed from a leader (since last starts)".to_owned(),
            self.installs.to_string(),
        ]);
        table.add_row([
            "snapshots / purges requested".to_owned(),
            format!("{} / {}", self.snapshots, self.purges),
        ]);
        table.add_row([
            "unsynced pages dropped by cuts".to_owned(),
            self.pages_dropped.to_string(),
        ]);
        println!("{table}");

        let mut table = Table::new();
        table.set_header(["check", "result"]);
        let verdict = |problems: usize| {
            if problems == 0 {
                "ok".to_owned()
            } else {
                format!("FAILED ({problems})")
            }
        };
        table.add_row([
            "linearizable per key".to_owned(),
            verdict(self.violations.len()),
        ]);
        table.add_row([
            "no acknowledged write lost".to_owned(),
            verdict(self.lost.len()),
        ]);
        table.add_row([
            "all nodes converged".to_owned(),
            match &self.converged {
                Ok(state) => format!(
                    "ok (applied {}, {} keys)",
                    state.last_applied.map_or("-".to_owned(), |i| i.to_string()),
                    state.data.len()
                ),
                Err(_) => "FAILED".to_owned(),
            },
        ]);
        table.add_row([
            "snapshot restored at start iff behind".to_owned(),
            verdict(self.restore_anomalies.len()),
        ]);
        table.add_row([
            "no node exited by itself".to_owned(),
            verdict(self.crashes.len()),
        ]);
        table.add_row([
            "clean stop on SIGTERM".to_owned(),
            verdict(self.unclean.len()),
        ]);
        table.add_row([
            "every fault kind injected".to_owned(),
            verdict(self.faults_missing.len() + self.fault_errors.len()),
        ]);
        table.add_row([
            "crash filesystem healthy".to_owned(),
            verdict(self.disk_faults.len()),
        ]);
        println!("{table}");

        for problem in self
            .violations
            .iter()
            .chain(&self.lost)
            .chain(&self.restore_anomalies)
            .chain(&self.fault_errors)
            .chain(&self.disk_faults)
            .chain(&self.crashes)
        {
            println!("  {problem}");
        }
        if let Err(e) = &self.converged {
            println!("  {e}");
        }
        if !self.faults_missing.is_empty() {
            println!("  never injected: {}", self.faults_missing.join(", "));
        }
        if !self.unclean.is_empty() {
            println!("  no clean exit on SIGTERM: nodes {:?}", self.unclean);
        }
        let total: u64 = self.ops.values().sum();
        let faults: u64 = self.faults.iter().map(|(_, n)| n).sum();
        println!(
            "seed {seed}: {total} operations, {faults} faults in {:.0?} on {}: {}",
            self.ran_for,
            nodes
                .iter()
                .map(|(id, engine, _)| format!("{id}={engine}"))
                .collect::<Vec<_>>()
                .join(" "),
            if self.passed() { "PASSED" } else { "FAILED" }
        );
    }
}
