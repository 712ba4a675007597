//! `cargo xtask report`: criterion's medians as one Markdown report and one SVG chart.
//!
//! Reads `target/criterion/**/new/estimates.json` (the median and its 95% confidence
//! interval, in ns per iteration) with the case id from the `benchmark.json` beside it,
//! keeps the cases of `benches/benches/fsync.rs`, and writes
//! `target/fsmstore-report/report.md` and `report.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::bench::RUN_FILE;
use crate::engines::ALL;

/// fsmstore's overhead over the engine's own API that a Sync apply may have.
pub const SYNC_OVERHEAD_TARGET: f64 = 1.05;

/// fsmstore's overhead over the engine's own API that a NoSync apply may have.
pub const NOSYNC_OVERHEAD_TARGET: f64 = 1.15;

/// Results further apart than this come from more than one run.
const ONE_RUN: Duration = Duration::from_secs(3 * 3600);

/// The workspace root: xtask lives one directory below it.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, or `target` in the workspace).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Where the report goes.
pub fn report_dir() -> PathBuf {
    target_dir().join("fsmstore-report")
}

/// Writes the report from criterion's output and prints the Markdown.
pub fn run(args: &[String], usage: &str) -> Result<(), String> {
    if !args.is_empty() {
        return Err(usage.to_owned());
    }
    let criterion = target_dir().join("criterion");
    let out = report_dir();
    let markdown = write_report(&criterion, &out)?;
    println!("{markdown}");
    eprintln!(
        "wrote {} and {}",
        out.join("report.md").display(),
        out.join("report.svg").display()
    );
    Ok(())
}

/// Reads the results under `criterion`, writes `report.md` and `report.svg` into `out`,
/// and returns the Markdown.
pub fn write_report(criterion: &Path, out: &Path) -> Result<String, String> {
    let results = Results::from_estimates(load(criterion)?);
    if results.is_empty() {
        return Err(format!(
            "no fsmstore bench results under {}; run `cargo xtask bench` first",
            criterion.display()
        ));
    }
    let run = RunNote::read(&out.join(RUN_FILE));
    let context = Context::new(&results, run.as_ref());
    let markdown = markdown(&results, &context);
    let svg = svg(&results, &context);
    std::fs::create_dir_all(out)
        .map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    for (name, text) in [("report.md", &markdown), ("report.svg", &svg)] {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(markdown)
}

/// One criterion result: the median time of one iteration and its 95% confidence
/// interval, in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Median time per iteration.
    pub median_ns: f64,
    /// Lower bound of the median's confidence interval.
    pub lower_ns: f64,
    /// Upper bound of the median's confidence interval.
    pub upper_ns: f64,
    /// When criterion wrote the result.
    pub measured: Option<SystemTime>,
}

impl Estimate {
    /// Iterations per second at the median.
    fn per_second(&self) -> f64 {
        1e9 / self.median_ns
    }

    /// Half the confidence interval, relative to the median.
    fn noise(&self) -> f64 {
        (self.upper_ns - self.lower_ns) / 2.0 / self.median_ns
    }
}

/// Every `new/estimates.json` under `dir`, by criterion's full benchmark id.
pub fn load(dir: &Path) -> Result<BTreeMap<String, Estimate>, String> {
    let mut found = BTreeMap::new();
    if !dir.is_dir() {
        return Err(format!(
            "{} does not exist; run `cargo xtask bench` first",
            dir.display()
        ));
    }
    visit(dir, &mut Vec::new(), &mut found)?;
    Ok(found)
}

fn visit(
    dir: &Path,
    components: &mut Vec<String>,
    found: &mut BTreeMap<String, Estimate>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    subdirs.sort();
    for subdir in subdirs {
        let name = subdir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let estimates = subdir.join("estimates.json");
        if name == "new" && estimates.is_file() {
            let id = benchmark_id(&subdir.join("benchmark.json"))
                .unwrap_or_else(|| components.join("/"));
            found.insert(id, read_estimate(&estimates)?);
        } else {
            components.push(name);
            visit(&subdir, components, found)?;
            components.pop();
        }
    }
    Ok(())
}

/// The full id criterion records beside a result (the directory names have every `/`
/// replaced by `_`).
fn benchmark_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    json.get("full_id")?.as_str().map(str::to_owned)
}

fn read_estimate(path: &Path) -> Result<Estimate, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
    let median = &json["median"];
    let number = |value: &Value, what: &str| {
        value
            .as_f64()
            .filter(|number| number.is_finite() && *number > 0.0)
            .ok_or_else(|| format!("{}: no positive {what}", path.display()))
    };
    let median_ns = number(&median["point_estimate"], "median.point_estimate")?;
    let interval = &median["confidence_interval"];
    let lower_ns = number(&interval["lower_bound"], "lower bound").unwrap_or(median_ns);
    let upper_ns = number(&interval["upper_bound"], "upper bound").unwrap_or(median_ns);
    Ok(Estimate {
        median_ns,
        lower_ns,
        upper_ns,
        measured: std::fs::metadata(path)
            .and_then(|metadata| metadata.modified())
            .ok(),
    })
}

/// A store's sync mode, as the case ids spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// `sync`: every apply fsyncs.
    Sync,
    /// `nosync`: applies are buffered.
    NoSync,
}

impl Mode {
    const BOTH: [Mode; 2] = [Mode::Sync, Mode::NoSync];

    fn parse(text: &str) -> Option<Self> {
        match text {
            "sync" => Some(Mode::Sync),
            "nosync" => Some(Mode::NoSync),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Sync => "Sync",
            Mode::NoSync => "NoSync",
        }
    }

    fn overhead_target(self) -> f64 {
        match self {
            Mode::Sync => SYNC_OVERHEAD_TARGET,
            Mode::NoSync => NOSYNC_OVERHEAD_TARGET,
        }
    }
}

/// An engine, a mode and a batch size.
type CaseKey = (String, Mode, u64);

/// The most a range read through fsmstore may cost, relative to the engine's own API.
const SCAN_TARGET: f64 = 1.10;

/// An engine, a scan direction and a number of entries.
type ScanKey = (String, String, u64);

/// The cold-start cases of one engine and size.
#[derive(Debug, Default)]
struct ColdStart {
    /// Reopen after a clean close, and the gate says skip.
    skip: Option<Estimate>,
    /// Reopen, then restore the snapshot.
    restore: Option<Estimate>,
    /// Reopen a store a killed writer left, and the gate says skip.
    after_kill: Option<Estimate>,
}

/// The bench results, by case.
#[derive(Debug, Default)]
pub struct Results {
    apply: BTreeMap<CaseKey, Estimate>,
    native: BTreeMap<CaseKey, Estimate>,
    checkpoint: BTreeMap<String, Estimate>,
    /// `cold_start/<engine>/<skip|restore|after_kill>/<keys>`, by (engine, keys).
    cold_start: BTreeMap<(String, u64), ColdStart>,
    /// `scan/<engine>/<direction>/<entries>` and `scan_native/…`, by (engine, direction,
    /// entries): (through fsmstore, through the engine's own API).
    scan: BTreeMap<ScanKey, (Option<Estimate>, Option<Estimate>)>,
    floor_sync: Option<Estimate>,
    floor_write: Option<Estimate>,
}

impl Results {
    /// Sorts criterion's results into cases; ids of other benches are ignored.
    pub fn from_estimates(estimates: BTreeMap<String, Estimate>) -> Self {
        let mut results = Results::default();
        for (id, estimate) in estimates {
            let parts: Vec<&str> = id.split('/').collect();
            match parts.as_slice() {
                ["floor", "fdatasync_4k"] => results.floor_sync = Some(estimate),
                ["floor", "write_4k"] => results.floor_write = Some(estimate),
                ["checkpoint", engine, "after_1000_nosync"] => {
                    results.checkpoint.insert((*engine).to_owned(), estimate);
                }
                [
                    "cold_start",
                    engine,
                    kind @ ("skip" | "restore" | "after_kill"),
                    keys,
                ] => {
                    let Ok(keys) = keys.parse::<u64>() else {
                        continue;
                    };
                    let entry = results
                        .cold_start
                        .entry(((*engine).to_owned(), keys))
                        .or_default();
                    let slot = match *kind {
                        "skip" => &mut entry.skip,
                        "restore" => &mut entry.restore,
                        _ => &mut entry.after_kill,
                    };
                    *slot = Some(estimate);
                }
                [kind @ ("scan" | "scan_native"), engine, direction, entries] => {
                    let Ok(entries) = entries.parse::<u64>() else {
                        continue;
                    };
                    let entry = results
                        .scan
                        .entry(((*engine).to_owned(), (*direction).to_owned(), entries))
                        .or_default();
                    if *kind == "scan" {
                        entry.0 = Some(estimate);
                    } else {
                        entry.1 = Some(estimate);
                    }
                }
                [kind @ ("apply" | "native"), engine, mode, ops] => {
                    let (Some(mode), Ok(ops)) = (Mode::parse(mode), ops.parse::<u64>()) else {
                        continue;
                    };
                    let key = ((*engine).to_owned(), mode, ops);
                    if *kind == "apply" {
                        results.apply.insert(key, estimate);
                    } else {
                        results.native.insert(key, estimate);
                    }
                }
                _ => {}
            }
        }
        results
    }

    /// Whether no case of these benches was found.
    pub fn is_empty(&self) -> bool {
        self.apply.is_empty()
            && self.native.is_empty()
            && self.checkpoint.is_empty()
            && self.cold_start.is_empty()
            && self.scan.is_empty()
            && self.floor_sync.is_none()
            && self.floor_write.is_none()
    }

    /// The engines with results, in the usual order (memory, redb, fjall, heed, rocksdb,
    /// then any other by name).
    pub fn engines(&self) -> Vec<String> {
        let mut engines: Vec<String> = self
            .apply
            .keys()
            .chain(self.native.keys())
            .map(|(engine, _, _)| engine.clone())
            .chain(self.checkpoint.keys().cloned())
            .collect();
        engines.sort_by_key(|engine| {
            let rank = ALL.iter().position(|known| known == engine);
            (rank.unwrap_or(ALL.len()), engine.clone())
        });
        engines.dedup();
        engines
    }

    /// The batch sizes with results, ascending.
    pub fn batch_sizes(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .apply
            .keys()
            .chain(self.native.keys())
            .map(|(_, _, ops)| *ops)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// The `apply` result of one case.
    pub fn apply(&self, engine: &str, mode: Mode, ops: u64) -> Option<&Estimate> {
        self.apply.get(&(engine.to_owned(), mode, ops))
    }

    /// The `native` result of one case.
    pub fn native(&self, engine: &str, mode: Mode, ops: u64) -> Option<&Estimate> {
        self.native.get(&(engine.to_owned(), mode, ops))
    }

    /// The checkpoint result of one engine.
    pub fn checkpoint(&self, engine: &str) -> Option<&Estimate> {
        self.checkpoint.get(engine)
    }

    /// fsmstore's overhead in one case: `apply / native`.
    pub fn overhead(&self, engine: &str, mode: Mode, ops: u64) -> Option<f64> {
        ratio(
            self.apply(engine, mode, ops),
            self.native(engine, mode, ops),
        )
    }

    /// The range of `apply / native` that the two medians' confidence intervals allow.
    pub fn overhead_range(&self, engine: &str, mode: Mode, ops: u64) -> Option<(f64, f64)> {
        let apply = self.apply(engine, mode, ops)?;
        let native = self.native(engine, mode, ops)?;
        Some((
            apply.lower_ns / native.upper_ns,
            apply.upper_ns / native.lower_ns,
        ))
    }

    /// A one-put Sync apply relative to a 4 KiB append plus `fdatasync`.
    pub fn sync_to_floor(&self, engine: &str) -> Option<f64> {
        ratio(self.apply(engine, Mode::Sync, 1), self.floor_sync.as_ref())
    }

    /// How many times faster a NoSync apply of `ops` puts is than a Sync one.
    pub fn nosync_speedup(&self, engine: &str, ops: u64) -> Option<f64> {
        ratio(
            self.apply(engine, Mode::Sync, ops),
            self.apply(engine, Mode::NoSync, ops),
        )
    }

    /// Cold start at `keys` keys: (reopen + skip, reopen + restore, reopen after a
    /// kill + skip), medians.
    pub fn cold_start(
        &self,
        engine: &str,
        keys: u64,
    ) -> (Option<&Estimate>, Option<&Estimate>, Option<&Estimate>) {
        self.cold_start
            .get(&(engine.to_owned(), keys))
            .map_or((None, None, None), |cases| {
                (
                    cases.skip.as_ref(),
                    cases.restore.as_ref(),
                    cases.after_kill.as_ref(),
                )
            })
    }

    /// Every (engine, keys) with a cold-start result, engines in the usual order.
    fn cold_start_cases(&self) -> Vec<(String, u64)> {
        let mut cases: Vec<(String, u64)> = self.cold_start.keys().cloned().collect();
        cases.sort_by_key(|(engine, keys)| {
            let rank = ALL.iter().position(|known| known == engine);
            (rank.unwrap_or(ALL.len()), engine.clone(), *keys)
        });
        cases
    }

    /// Every range-read case, engines in the usual order: (engine, direction, entries,
    /// through fsmstore, through the engine's own API).
    fn scan_cases(&self) -> Vec<(&ScanKey, Option<&Estimate>, Option<&Estimate>)> {
        let mut cases: Vec<_> = self
            .scan
            .iter()
            .map(|(key, (ours, native))| (key, ours.as_ref(), native.as_ref()))
            .collect();
        cases.sort_by_key(|((engine, direction, entries), _, _)| {
            let rank = ALL.iter().position(|known| known == engine);
            (
                rank.unwrap_or(ALL.len()),
                engine.clone(),
                *entries,
                direction.clone(),
            )
        });
        cases
    }

    /// The checkpoint relative to one one-put Sync apply.
    pub fn checkpoint_to_sync_apply(&self, engine: &str) -> Option<f64> {
        ratio(self.checkpoint(engine), self.apply(engine, Mode::Sync, 1))
    }

    fn all(&self) -> impl Iterator<Item = &Estimate> {
        self.apply
            .values()
            .chain(self.native.values())
            .chain(self.checkpoint.values())
            .chain(self.floor_sync.iter())
            .chain(self.floor_write.iter())
    }
}

fn ratio(numerator: Option<&Estimate>, denominator: Option<&Estimate>) -> Option<f64> {
    Some(numerator?.median_ns / denominator?.median_ns)
}

/// How the last `cargo xtask bench` was run, from the note it leaves.
#[derive(Debug, Default)]
struct RunNote {
    quick: bool,
    criterion_args: String,
    /// When the run started and finished.
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
}

impl RunNote {
    fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut note = RunNote::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("quick", value)) => note.quick = value == "true",
                Some(("criterion_args", value)) => note.criterion_args = value.to_owned(),
                Some(("started", value)) => note.started = seconds(value),
                Some(("finished", value)) => note.finished = seconds(value),
                _ => {}
            }
        }
        Some(note)
    }

    /// Whether the run made every result in `first..=last` (so the note describes them).
    fn covers(&self, first: SystemTime, last: SystemTime) -> bool {
        // File times and the note's whole seconds may differ by a little.
        let slack = Duration::from_secs(5);
        match (self.started, self.finished) {
            (Some(started), Some(finished)) => first + slack >= started && last <= finished + slack,
            _ => false,
        }
    }
}

fn seconds(text: &str) -> Option<SystemTime> {
    text.parse()
        .ok()
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
}

/// What the report says about where its numbers come from.
struct Context {
    /// When the results were measured (first and last), as UTC text.
    span: Option<(String, String)>,
    /// The results come from runs hours apart.
    mixed_runs: bool,
    /// How the bench was run, when known.
    run: Option<String>,
}

impl Context {
    fn new(results: &Results, run: Option<&RunNote>) -> Self {
        let times: Vec<SystemTime> = results.all().filter_map(|e| e.measured).collect();
        let first = times.iter().min().copied();
        let last = times.iter().max().copied();
        let span = first.zip(last).map(|(first, last)| (utc(first), utc(last)));
        let mixed_runs = first
            .zip(last)
            .and_then(|(first, last)| last.duration_since(first).ok())
            .is_some_and(|spread| spread > ONE_RUN);
        let run = run
            .filter(|note| {
                first
                    .zip(last)
                    .is_some_and(|(first, last)| note.covers(first, last))
            })
            .map(|note| {
                let mut text = if note.quick {
                    "`cargo xtask bench --quick` (0.3 s warm-up, 1 s measurement per case)"
                        .to_owned()
                } else {
                    "`cargo xtask bench` (1 s warm-up, 5 s measurement per case)".to_owned()
                };
                if !note.criterion_args.is_empty() {
                    let _ = write!(text, " with criterion arguments `{}`", note.criterion_args);
                }
                text
            });
        Self {
            span,
            mixed_runs,
            run,
        }
    }

    fn measured(&self) -> String {
        match &self.span {
            Some((first, last)) if first == last => format!("measured {first}"),
            Some((first, last)) => format!("measured {first} to {last}"),
            None => "measurement time unknown".to_owned(),
        }
    }
}

/// The Markdown report.
fn markdown(results: &Results, context: &Context) -> String {
    let mut out = String::new();
    let engines = results.engines();
    let sizes = results.batch_sizes();
    let _ = writeln!(out, "# fsmstore: what fsync costs, per engine\n");
    let _ = writeln!(
        out,
        "Criterion medians, {} on this machine{}. Absolute numbers vary by disk and from run \
         to run (fsync especially); compare ratios from one run only.\n",
        context.measured(),
        context
            .run
            .as_ref()
            .map(|run| format!(", by {run}"))
            .unwrap_or_default()
    );
    if context.mixed_runs {
        let _ = writeln!(
            out,
            "**Warning:** these results were measured hours apart, so they come from more \
             than one run and their ratios do not compare. Run `cargo xtask bench` again for \
             one consistent set.\n"
        );
    }

    let _ = writeln!(out, "## Floor: the disk itself\n");
    let _ = writeln!(out, "| case | median | per second |");
    let _ = writeln!(out, "|---|---:|---:|");
    for (label, estimate) in [
        ("4 KiB append + `fdatasync`", &results.floor_sync),
        ("4 KiB append, no sync", &results.floor_write),
    ] {
        match estimate {
            Some(estimate) => {
                let _ = writeln!(
                    out,
                    "| {label} | {} | {} |",
                    duration(estimate.median_ns),
                    rate(estimate.per_second())
                );
            }
            None => {
                let _ = writeln!(out, "| {label} | — | — |");
            }
        }
    }

    let _ = writeln!(out, "\n## Summary\n");
    let speedup_header: Vec<String> = sizes.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        "| engine | Sync apply, 1 put | ÷ fdatasync floor | NoSync apply, 1 put | NoSync \
         speed-up ({} puts) | checkpoint after 1000 NoSync | ÷ Sync apply |",
        speedup_header.join(" / ")
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for engine in &engines {
        let speedups: Vec<String> = sizes
            .iter()
            .map(|ops| or_dash(results.nosync_speedup(engine, *ops).map(times)))
            .collect();
        let _ = writeln!(
            out,
            "| {engine} | {} | {} | {} | {} | {} | {} |",
            or_dash(
                results
                    .apply(engine, Mode::Sync, 1)
                    .map(|e| duration(e.median_ns))
            ),
            or_dash(results.sync_to_floor(engine).map(times)),
            or_dash(
                results
                    .apply(engine, Mode::NoSync, 1)
                    .map(|e| duration(e.median_ns))
            ),
            speedups.join(" / "),
            or_dash(results.checkpoint(engine).map(|e| duration(e.median_ns))),
            or_dash(results.checkpoint_to_sync_apply(engine).map(times)),
        );
    }

    let _ = writeln!(out, "\n## Every case\n");
    let _ = writeln!(
        out,
        "Latency is the median time of one `apply` (one batch, one commit) with its 95% \
         confidence interval; puts/s counts puts. `native` is the same writes through the \
         engine's own API with the same durability and the same applied-index write. \
         `apply ÷ native` is fsmstore's overhead, with the range the two confidence \
         intervals allow. The target is ≤ {SYNC_OVERHEAD_TARGET:.2} for Sync and \
         ≤ {NOSYNC_OVERHEAD_TARGET:.2} for NoSync; a ratio is bold when even the low end of \
         its range is over the target. The range covers the noise within each case, not \
         the drift of a shared disk between two cases measured seconds apart: before acting \
         on a bold Sync ratio, measure it in pairs with `cargo run --release -p \
         fsmstore-benches --example overhead`.\n"
    );
    let _ = writeln!(
        out,
        "| engine | mode | puts/batch | apply | apply puts/s | native | native puts/s | apply ÷ native |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for engine in &engines {
        for mode in Mode::BOTH {
            for ops in &sizes {
                let apply = results.apply(engine, mode, *ops);
                let native = results.native(engine, mode, *ops);
                if apply.is_none() && native.is_none() {
                    continue;
                }
                let overhead = results
                    .overhead(engine, mode, *ops)
                    .zip(results.overhead_range(engine, mode, *ops))
                    .map(|(overhead, (low, high))| {
                        if low > mode.overhead_target() {
                            format!("**{overhead:.2}** ({low:.2}–{high:.2})")
                        } else {
                            format!("{overhead:.2} ({low:.2}–{high:.2})")
                        }
                    });
                let _ = writeln!(
                    out,
                    "| {engine} | {} | {ops} | {} | {} | {} | {} | {} |",
                    mode.name(),
                    or_dash(apply.map(latency)),
                    or_dash(apply.map(|e| rate(e.per_second() * *ops as f64))),
                    or_dash(native.map(latency)),
                    or_dash(native.map(|e| rate(e.per_second() * *ops as f64))),
                    or_dash(overhead),
                );
            }
        }
    }
    let cold = results.cold_start_cases();
    if !cold.is_empty() {
        let _ = writeln!(
            out,
            "\n### Cold start: skip the restore, or restore the snapshot\n\n\
             What a node pays at start-up: reopen the store and let `decide_restore` say \
             `Skip` (the store already covers the snapshot), or reopen and restore the \
             snapshot from a file (the whole store rewritten, made durable and switched \
             in); and reopen, then skip, a store left by a writer killed with SIGKILL in \
             the middle of NoSync applies (the engine recovers what the kill left). \
             Medians; the page cache is warm.\n"
        );
        let _ = writeln!(
            out,
            "| engine | keys | reopen + skip | reopen + restore | restore ÷ skip | reopen after a kill + skip |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (engine, keys) in cold {
            let (skip, restore, after_kill) = results.cold_start(&engine, keys);
            let _ = writeln!(
                out,
                "| {engine} | {} | {} | {} | {} | {} |",
                group_digits(keys),
                or_dash(skip.map(latency)),
                or_dash(restore.map(latency)),
                or_dash(ratio(restore, skip).map(times)),
                or_dash(after_kill.map(latency)),
            );
        }
    }
    let scans = results.scan_cases();
    if !scans.is_empty() {
        let _ = writeln!(
            out,
            "\n### Range reads: through fsmstore ÷ through the engine's own API\n\n\
             One scan of consecutive keys from the middle of a filled store, from one view, \
             through `Engine::scan` and through the engine's own range iterator, measured in \
             the same run. Target: at most {SCAN_TARGET:.2}.\n"
        );
        let _ = writeln!(
            out,
            "| engine | direction | entries | fsmstore | engine's API | ratio |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for ((engine, direction, entries), ours, native) in scans {
            let overhead = ratio(ours, native).map(|value| {
                if value > SCAN_TARGET {
                    format!("**{value:.2}**")
                } else {
                    format!("{value:.2}")
                }
            });
            let _ = writeln!(
                out,
                "| {engine} | {direction} | {} | {} | {} | {} |",
                group_digits(*entries),
                or_dash(ours.map(latency)),
                or_dash(native.map(latency)),
                or_dash(overhead),
            );
        }
    }
    let _ = writeln!(out, "\n![Median latency per engine](report.svg)");
    out
}

/// `1000000` as `1,000,000`.
fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn or_dash(text: Option<String>) -> String {
    text.unwrap_or_else(|| "—".to_owned())
}

/// A median with its confidence interval, e.g. `1.23 ms ±4%`.
fn latency(estimate: &Estimate) -> String {
    format!(
        "{} ±{:.0}%",
        duration(estimate.median_ns),
        estimate.noise() * 100.0
    )
}

/// A duration in ns with three significant digits and a fitting unit.
pub fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    // Rounding can carry into the next unit (999.96 µs): print that as 1.00 ms.
    let rounded = round_significant(value, 3);
    if rounded >= 1000.0 && unit != "s" {
        return duration(
            rounded
                * match unit {
                    "ns" => 1.0,
                    "µs" => 1e3,
                    _ => 1e6,
                },
        );
    }
    if rounded >= 100.0 {
        format!("{rounded:.0} {unit}")
    } else if rounded >= 10.0 {
        format!("{rounded:.1} {unit}")
    } else {
        format!("{rounded:.2} {unit}")
    }
}

/// A rate with three significant digits and thousands separators: `1,230,000`.
pub fn rate(per_second: f64) -> String {
    if per_second < 100.0 {
        return format!("{:.1}", round_significant(per_second, 3));
    }
    // At least 100 and rounded to a whole number here, so the cast is exact.
    group_digits(round_significant(per_second, 3).round() as u64)
}

/// A ratio as a multiplier: `57×`, `3.4×`, `0.063×`.
pub fn times(ratio: f64) -> String {
    if ratio >= 9.95 {
        format!("{ratio:.0}×")
    } else if ratio >= 0.995 {
        format!("{ratio:.1}×")
    } else {
        format!("{}×", round_significant(ratio, 2))
    }
}

fn round_significant(value: f64, digits: i32) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

/// `2026-11-24 14:03 UTC`.
fn utc(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let minutes = seconds % 86_400 / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// The chart: per engine, a Sync and a NoSync bar per batch size and a checkpoint bar, on
// a log axis, with the native baseline marked on each bar and the floors as lines.

const BAR: f64 = 17.0;
const PAIR_GAP: f64 = 2.0;
const SIZE_GAP: f64 = 10.0;
const CHECKPOINT_GAP: f64 = 16.0;
const GROUP_PAD: f64 = 40.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 180.0;
/// Pixels above the tallest bar for its value, written upwards (it may also run into
/// the margin above the plot).
const LABEL_ROOM: f64 = 30.0;
const TOP: f64 = 118.0;
const PLOT_HEIGHT: f64 = 380.0;
const BOTTOM: f64 = 78.0;

const SYNC_COLOUR: &str = "#1f4e9a";
const NOSYNC_COLOUR: &str = "#86b8e8";
const CHECKPOINT_COLOUR: &str = "#e08a2c";
const FDATASYNC_COLOUR: &str = "#c0392b";
const WRITE_COLOUR: &str = "#6b7680";

/// A log-scale axis from `low` to `high` nanoseconds onto the plot's height.
struct Axis {
    low: f64,
    high: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>) -> Self {
        let (mut low, mut high) = (f64::INFINITY, 0f64);
        for value in values.filter(|value| value.is_finite() && *value > 0.0) {
            low = low.min(value);
            high = high.max(value);
        }
        if high == 0.0 {
            (low, high) = (1e3, 1e6);
        }
        // Whole decades, with room above the tallest bar for its label.
        let tallest = high;
        let low = 10f64.powf(low.log10().floor());
        let mut high = 10f64.powf(high.log10().ceil()).max(low * 100.0);
        while PLOT_HEIGHT * (high / tallest).log10() / (high / low).log10() < LABEL_ROOM {
            high *= 10.0;
        }
        Self { low, high }
    }

    fn y(&self, ns: f64) -> f64 {
        let share = (ns.log10() - self.low.log10()) / (self.high.log10() - self.low.log10());
        TOP + PLOT_HEIGHT * (1.0 - share.clamp(0.0, 1.0))
    }

    fn decades(&self) -> Vec<f64> {
        let first = self.low.log10().round() as i32;
        let last = self.high.log10().round() as i32;
        (first..=last)
            .map(|exponent| 10f64.powi(exponent))
            .collect()
    }
}

/// `10 µs`, `1 ms`: a decade as an axis label.
fn decade_label(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{value:.0} {unit}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG chart.
fn svg(results: &Results, context: &Context) -> String {
    let engines = results.engines();
    let sizes = results.batch_sizes();
    let pair = 2.0 * BAR + PAIR_GAP;
    let bars_width = sizes.len() as f64 * pair
        + sizes.len().saturating_sub(1) as f64 * SIZE_GAP
        + CHECKPOINT_GAP
        + BAR;
    let group = bars_width + GROUP_PAD;
    let plot_width = (engines.len() as f64 * group).max(420.0);
    let width = LEFT + plot_width + RIGHT;
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let axis = Axis::new(results.all().map(|estimate| estimate.median_ns));
    let (plot_left, plot_right, plot_bottom) = (LEFT, LEFT + plot_width, TOP + PLOT_HEIGHT);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif">"##
    );
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"##
    );
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="26" font-size="17" font-weight="bold">fsmstore: median latency of one apply, by engine, sync mode and batch size</text>"##
    );
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="46" font-size="12" fill="#444">{}. Log scale. Absolute numbers vary by disk; compare ratios within one run.</text>"##,
        escape(&context.measured())
    );

    // Legend.
    let mut x = LEFT;
    let legend_y = 66.0;
    for (colour, label) in [
        (SYNC_COLOUR, "Sync apply"),
        (NOSYNC_COLOUR, "NoSync apply"),
        (CHECKPOINT_COLOUR, "checkpoint after 1000 NoSync applies"),
    ] {
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="{legend_y}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="12">{label}</text>"##,
            x + 16.0,
            legend_y + 10.5
        );
        x += 16.0 + 7.0 * label.len() as f64 + 18.0;
    }
    let _ = writeln!(
        out,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black" stroke-width="2.5"/><text x="{:.1}" y="{:.1}" font-size="12">native engine API, same writes</text>"##,
        legend_y + 6.0,
        x + 14.0,
        legend_y + 6.0,
        x + 18.0,
        legend_y + 10.5
    );
    let legend_y = legend_y + 20.0;
    let mut x = LEFT;
    for (colour, label) in [
        (FDATASYNC_COLOUR, "floor: 4 KiB append + fdatasync"),
        (WRITE_COLOUR, "floor: 4 KiB append, no sync"),
    ] {
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" font-size="12">{label}</text>"##,
            legend_y + 6.0,
            x + 24.0,
            legend_y + 6.0,
            x + 30.0,
            legend_y + 10.5
        );
        x += 30.0 + 7.0 * label.len() as f64 + 18.0;
    }

    // Grid and axis.
    for decade in axis.decades() {
        for (factor, stroke) in [(2.0, "#f0f0f0"), (5.0, "#f0f0f0"), (1.0, "#cfcfcf")] {
            let value = decade * factor;
            if value > axis.high * 1.0001 {
                continue;
            }
            let y = axis.y(value);
            let _ = writeln!(
                out,
                r##"<line x1="{plot_left}" y1="{y:.1}" x2="{plot_right:.1}" y2="{y:.1}" stroke="{stroke}"/>"##
            );
        }
        let y = axis.y(decade);
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"##,
            plot_left - 8.0,
            y + 4.0,
            decade_label(decade)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{plot_left}" y1="{TOP}" x2="{plot_left}" y2="{plot_bottom}" stroke="#333"/><line x1="{plot_left}" y1="{plot_bottom}" x2="{plot_right:.1}" y2="{plot_bottom}" stroke="#333"/>"##
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate(22 {:.1}) rotate(-90)" font-size="12" text-anchor="middle">median latency per apply or checkpoint (log scale)</text>"##,
        TOP + PLOT_HEIGHT / 2.0
    );

    // The floors: lines behind the bars, labelled in the right margin.
    for (estimate, colour, label) in [
        (&results.floor_sync, FDATASYNC_COLOUR, "append + fdatasync"),
        (&results.floor_write, WRITE_COLOUR, "append, no sync"),
    ] {
        if let Some(estimate) = estimate {
            let y = axis.y(estimate.median_ns);
            let _ = writeln!(
                out,
                r##"<line x1="{plot_left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
                plot_right + 8.0
            );
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}">4 KiB {label}</text><text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="{colour}">{}</text>"##,
                plot_right + 12.0,
                y - 2.0,
                plot_right + 12.0,
                y + 11.0,
                duration(estimate.median_ns)
            );
        }
    }

    // Bars, per engine.
    for (position, engine) in engines.iter().enumerate() {
        let group_left = plot_left + position as f64 * group + GROUP_PAD / 2.0;
        let mut x = group_left;
        for ops in &sizes {
            for (offset, mode, colour) in [
                (0.0, Mode::Sync, SYNC_COLOUR),
                (BAR + PAIR_GAP, Mode::NoSync, NOSYNC_COLOUR),
            ] {
                let left = x + offset;
                let native = results.native(engine, mode, *ops);
                if let Some(estimate) = results.apply(engine, mode, *ops) {
                    let label_above = native.map_or(estimate.median_ns, |native| {
                        native.median_ns.max(estimate.median_ns)
                    });
                    bar(
                        &mut out,
                        &axis,
                        left,
                        estimate.median_ns,
                        label_above,
                        colour,
                    );
                }
                if let Some(native) = native {
                    let y = axis.y(native.median_ns);
                    let _ = writeln!(
                        out,
                        r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="black" stroke-width="2.5"/>"##,
                        left - 2.0,
                        left + BAR + 2.0
                    );
                }
            }
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{ops}</text>"##,
                x + pair / 2.0,
                plot_bottom + 15.0
            );
            x += pair + SIZE_GAP;
        }
        let checkpoint_left = x - SIZE_GAP + CHECKPOINT_GAP;
        if let Some(estimate) = results.checkpoint(engine) {
            bar(
                &mut out,
                &axis,
                checkpoint_left,
                estimate.median_ns,
                estimate.median_ns,
                CHECKPOINT_COLOUR,
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">ckpt</text>"##,
            checkpoint_left + BAR / 2.0,
            plot_bottom + 15.0
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"##,
            group_left + bars_width / 2.0,
            plot_bottom + 36.0,
            escape(engine)
        );
        if position > 0 {
            let separator = group_left - GROUP_PAD / 2.0;
            let _ = writeln!(
                out,
                r##"<line x1="{separator:.1}" y1="{TOP}" x2="{separator:.1}" y2="{plot_bottom}" stroke="#e4e4e4"/>"##
            );
        }
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#444" text-anchor="middle">numbers under the bars: puts per batch (16-byte keys, 128-byte values); one apply = one batch = one commit</text>"##,
        plot_left + plot_width / 2.0,
        plot_bottom + 60.0
    );

    let _ = writeln!(out, "</svg>");
    out
}

/// One bar from the axis up to `ns`, with its value written above `label_above` (the
/// bar's top, or a marker over it).
fn bar(out: &mut String, axis: &Axis, left: f64, ns: f64, label_above: f64, colour: &str) {
    let top = axis.y(ns);
    let label_bottom = axis.y(label_above).min(top) - 4.0;
    let bottom = TOP + PLOT_HEIGHT;
    let _ = writeln!(
        out,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{BAR}" height="{:.1}" fill="{colour}"/>"##,
        (bottom - top).max(0.5)
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="10" fill="#222">{}</text>"##,
        left + BAR / 2.0 + 3.5,
        label_bottom,
        duration(ns)
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Writes one case the way criterion 0.8 does: `<group>/<case>/new/` with the
    /// directory names made file-name safe, and an older result in `base/`.
    fn write_case(root: &Path, id: &str, median_ns: f64) {
        write_case_with_spread(root, id, median_ns, 0.1);
    }

    /// Like [`write_case`], with a confidence interval of `median × (1 ± spread)`.
    fn write_case_with_spread(root: &Path, id: &str, median_ns: f64, spread: f64) {
        let (group, case) = id.rsplit_once('/').unwrap_or(("", id));
        let dir = root.join(group.replace('/', "_")).join(case);
        for (sub, median) in [("new", median_ns), ("base", median_ns * 100.0)] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).expect("mkdir");
            let benchmark = serde_json::json!({
                "group_id": group,
                "function_id": case,
                "value_str": null,
                "throughput": {"Elements": 1},
                "full_id": id,
                "directory_name": format!("{}/{case}", group.replace('/', "_")),
                "title": id,
            });
            let interval = serde_json::json!({
                "confidence_level": 0.95,
                "lower_bound": median * (1.0 - spread),
                "upper_bound": median * (1.0 + spread),
            });
            let estimate = serde_json::json!({"point_estimate": median, "standard_error": 1.0, "confidence_interval": interval});
            let estimates = serde_json::json!({
                "mean": estimate,
                "median": estimate,
                "median_abs_dev": estimate,
                "slope": null,
                "std_dev": estimate,
            });
            std::fs::write(path.join("benchmark.json"), benchmark.to_string()).expect("write");
            std::fs::write(path.join("estimates.json"), estimates.to_string()).expect("write");
        }
    }

    fn fake_tree(root: &Path) {
        write_case(root, "floor/fdatasync_4k", 1_000_000.0);
        write_case(root, "floor/write_4k", 4_000.0);
        for (engine, sync, nosync) in [
            ("redb", 2_000_000.0, 20_000.0),
            ("heed", 3_000_000.0, 10_000.0),
        ] {
            for ops in [1u64, 16, 256] {
                let scale = ops as f64;
                write_case(
                    root,
                    &format!("apply/{engine}/sync/{ops}"),
                    sync + scale * 1000.0,
                );
                // heed's NoSync cases are measured tightly, redb's loosely.
                let spread = if engine == "heed" { 0.01 } else { 0.1 };
                write_case_with_spread(
                    root,
                    &format!("apply/{engine}/nosync/{ops}"),
                    nosync * scale,
                    spread,
                );
                write_case(
                    root,
                    &format!("native/{engine}/sync/{ops}"),
                    sync + scale * 1000.0,
                );
                write_case_with_spread(
                    root,
                    &format!("native/{engine}/nosync/{ops}"),
                    nosync * scale / 1.25,
                    spread,
                );
            }
            write_case(
                root,
                &format!("checkpoint/{engine}/after_1000_nosync"),
                sync * 1.5,
            );
        }
        write_case(root, "apply/memory/sync/1", 800.0);
        write_case(root, "apply/memory/nosync/1", 400.0);
        write_case(root, "checkpoint/memory/after_1000_nosync", 50.0);
        write_case(root, "cold_start/redb/skip/1000000", 2_000_000.0);
        write_case(root, "cold_start/redb/restore/1000000", 3_000_000_000.0);
        write_case(root, "cold_start/redb/after_kill/1000000", 250_000_000.0);
        write_case(root, "cold_start/heed/restore/100000", 40_000_000.0);
        // Another bench's output is ignored.
        write_case(root, "unrelated/thing", 5.0);
    }

    #[test]
    fn a_criterion_tree_is_read_by_full_id_from_the_new_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        fake_tree(dir.path());
        let estimates = load(dir.path()).expect("load");
        assert_eq!(estimates.len(), 2 + 2 * 13 + 3 + 4 + 1);
        let floor = &estimates["floor/fdatasync_4k"];
        assert_eq!(floor.median_ns, 1_000_000.0);
        assert_eq!((floor.lower_ns, floor.upper_ns), (900_000.0, 1_100_000.0));
        assert!(floor.measured.is_some());
        assert_eq!(estimates["apply/redb/nosync/16"].median_ns, 320_000.0);
    }

    #[test]
    fn results_without_a_benchmark_json_are_named_by_their_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_case(dir.path(), "floor/write_4k", 4_000.0);
        std::fs::remove_file(dir.path().join("floor/write_4k/new/benchmark.json")).expect("rm");
        let estimates = load(dir.path()).expect("load");
        assert!(estimates.contains_key("floor/write_4k"), "{estimates:?}");
    }

    #[test]
    fn ratios_are_computed_from_the_medians() {
        let dir = tempfile::tempdir().expect("tempdir");
        fake_tree(dir.path());
        let results = Results::from_estimates(load(dir.path()).expect("load"));
        assert_eq!(results.engines(), ["memory", "redb", "heed"]);
        assert_eq!(results.batch_sizes(), [1, 16, 256]);

        let close = |a: Option<f64>, b: f64| {
            let a = a.expect("a ratio");
            assert!((a - b).abs() < 1e-9, "{a} != {b}");
        };
        close(results.sync_to_floor("redb"), 2.001);
        close(results.sync_to_floor("heed"), 3.001);
        close(results.nosync_speedup("redb", 1), 2_001_000.0 / 20_000.0);
        close(
            results.nosync_speedup("heed", 256),
            3_256_000.0 / 2_560_000.0,
        );
        close(
            results.checkpoint_to_sync_apply("redb"),
            3_000_000.0 / 2_001_000.0,
        );
        close(results.overhead("redb", Mode::Sync, 16), 1.0);
        close(results.overhead("heed", Mode::NoSync, 256), 1.25);
        let (low, high) = results
            .overhead_range("redb", Mode::Sync, 1)
            .expect("a range");
        close(Some(low), 0.9 / 1.1);
        close(Some(high), 1.1 / 0.9);
        assert_eq!(results.overhead("memory", Mode::Sync, 1), None);
        assert_eq!(results.nosync_speedup("memory", 16), None);
        close(results.checkpoint_to_sync_apply("memory"), 50.0 / 800.0);
    }

    #[test]
    fn the_markdown_has_the_floor_the_summary_and_every_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let criterion = dir.path().join("criterion");
        fake_tree(&criterion);
        let out = dir.path().join("report");
        std::fs::create_dir_all(&out).expect("mkdir");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs();
        let note = format!(
            "started={}\nfinished={}\nquick=true\ncriterion_args=\n",
            now - 60,
            now + 60
        );
        std::fs::write(out.join(RUN_FILE), note).expect("write");
        let markdown = write_report(&criterion, &out).expect("report");
        assert_eq!(
            std::fs::read_to_string(out.join("report.md")).expect("read"),
            markdown
        );
        assert!(
            markdown.contains("`cargo xtask bench --quick`"),
            "{markdown}"
        );
        assert!(markdown.contains("| 4 KiB append + `fdatasync` | 1.00 ms | 1,000 |"));
        assert!(markdown.contains("| 4 KiB append, no sync | 4.00 µs | 250,000 |"));
        // redb: Sync 1 put 2.001 ms = 2.0× the floor, NoSync 20 µs = 100× faster (and
        // slower at 256 puts in this fake tree); checkpoint 3 ms = 1.5× a Sync apply.
        assert!(
            markdown.contains(
                "| redb | 2.00 ms | 2.0× | 20.0 µs | 100× / 6.3× / 0.44× | 3.00 ms | 1.5× |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| memory | 800 ns | 0.0008× | 400 ns | 2.0× / — / — | 50.0 ns | 0.063× |"
            )
        );
        // Every case: 16 puts in 320 µs is 50,000 puts/s. A NoSync overhead of 1.25 is
        // over the 1.15 target, but only bold when its whole range is.
        assert!(
            markdown.contains(
                "| redb | NoSync | 16 | 320 µs ±10% | 50,000 | 256 µs ±10% | 62,500 | 1.25 (1.02–1.53) |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| heed | NoSync | 256 | 2.56 ms ±1% | 100,000 | 2.05 ms ±1% | 125,000 | **1.25** (1.23–1.28) |"
            ),
            "{markdown}"
        );
        assert!(markdown.contains(
            "| redb | Sync | 1 | 2.00 ms ±10% | 500 | 2.00 ms ±10% | 500 | 1.00 (0.82–1.22) |"
        ));
        assert!(markdown.contains("| memory | Sync | 1 | 800 ns ±10% | 1,250,000 | — | — | — |"));
        assert!(!markdown.contains("unrelated"));
        assert!(!markdown.contains("Warning"));
        // Cold start: restore ÷ skip, and a dash where one side is missing.
        assert!(
            markdown.contains(
                "| redb | 1,000,000 | 2.00 ms ±10% | 3.00 s ±10% | 1500× | 250 ms ±10% |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| heed | 100,000 | — | 40.0 ms ±10% | — | — |"),
            "{markdown}"
        );
    }

    #[test]
    fn the_chart_has_a_bar_per_case_and_is_well_formed() {
        let dir = tempfile::tempdir().expect("tempdir");
        fake_tree(dir.path());
        let results = Results::from_estimates(load(dir.path()).expect("load"));
        let context = Context::new(&results, None);
        let svg = svg(&results, &context);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        // 2 engines × 6 apply bars + 3 checkpoints + 2 memory applies, plus the
        // background and 3 legend swatches.
        assert_eq!(svg.matches("<rect").count(), 12 + 3 + 2 + 1 + 3);
        for label in [
            "memory",
            "redb",
            "heed",
            "1 ms",
            "10 µs",
            "4 KiB append + fdatasync",
            ">1.00 ms<",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
    }

    #[test]
    fn a_run_note_only_describes_the_results_it_made() {
        let at = |seconds| UNIX_EPOCH + Duration::from_secs(seconds);
        let note = RunNote {
            quick: true,
            criterion_args: String::new(),
            started: Some(at(1000)),
            finished: Some(at(2000)),
        };
        assert!(note.covers(at(1000), at(2000)));
        assert!(note.covers(at(998), at(2003)));
        assert!(!note.covers(at(900), at(1500)));
        assert!(!note.covers(at(1500), at(2100)));
        let results = Results {
            floor_sync: Some(Estimate {
                median_ns: 1.0,
                lower_ns: 1.0,
                upper_ns: 1.0,
                measured: Some(at(3000)),
            }),
            ..Results::default()
        };
        assert_eq!(Context::new(&results, Some(&note)).run, None);
        assert!(!RunNote::default().covers(at(1), at(2)));
    }

    #[test]
    fn results_hours_apart_are_flagged_as_mixed_runs() {
        let mut results = Results::default();
        let estimate = |measured| Estimate {
            median_ns: 1.0,
            lower_ns: 1.0,
            upper_ns: 1.0,
            measured: Some(measured),
        };
        results.floor_sync = Some(estimate(UNIX_EPOCH + Duration::from_secs(1_795_478_400)));
        results.floor_write = Some(estimate(UNIX_EPOCH + Duration::from_secs(1_795_479_000)));
        let context = Context::new(&results, None);
        assert!(!context.mixed_runs);
        assert_eq!(
            context.measured(),
            "measured 2026-11-24 00:00 UTC to 2026-11-24 00:10 UTC"
        );
        results.floor_write = Some(estimate(
            UNIX_EPOCH + Duration::from_secs(1_795_478_400 + 86_400),
        ));
        assert!(Context::new(&results, None).mixed_runs);
    }

    #[test]
    fn an_empty_tree_is_an_error_that_says_what_to_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = write_report(dir.path(), &dir.path().join("out")).expect_err("empty");
        assert!(error.contains("cargo xtask bench"), "{error}");
        let error = load(&dir.path().join("missing")).expect_err("missing");
        assert!(error.contains("cargo xtask bench"), "{error}");
    }

    #[test]
    fn numbers_are_printed_with_three_significant_digits() {
        assert_eq!(duration(850.0), "850 ns");
        assert_eq!(duration(1_234.0), "1.23 µs");
        assert_eq!(duration(12_345.0), "12.3 µs");
        assert_eq!(duration(999_960.0), "1.00 ms");
        assert_eq!(duration(5_432_100.0), "5.43 ms");
        assert_eq!(duration(2.5e9), "2.50 s");
        assert_eq!(rate(1_234_567.0), "1,230,000");
        assert_eq!(rate(812.4), "812");
        assert_eq!(rate(99.44), "99.4");
        assert_eq!(times(57.4), "57×");
        assert_eq!(times(3.44), "3.4×");
        assert_eq!(times(0.0625), "0.063×");
        assert_eq!(decade_label(1e4), "10 µs");
        assert_eq!(decade_label(1e6), "1 ms");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_829_500)),
            "2000-02-29 13:05 UTC"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_795_478_400)),
            "2026-11-24 00:00 UTC"
        );
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn range_reads_are_paired_with_their_native_baseline_and_shown_as_ratios() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write_case(root, "scan/redb/forward/1000", 1_100_000.0);
        write_case(root, "scan_native/redb/forward/1000", 1_000_000.0);
        write_case(root, "scan/heed/reverse/100000", 50_000_000.0);
        write_case(root, "scan_native/heed/reverse/100000", 40_000_000.0);
        let results = Results::from_estimates(load(root).expect("load"));
        assert!(!results.is_empty());
        let markdown = markdown(&results, &Context::new(&results, None));
        assert!(
            markdown.contains("| redb | forward | 1,000 | 1.10 ms ±10% | 1.00 ms ±10% | 1.10 |"),
            "{markdown}"
        );
        assert!(
            markdown
                .contains("| heed | reverse | 100,000 | 50.0 ms ±10% | 40.0 ms ±10% | **1.25** |"),
            "{markdown}"
        );
        let redb = markdown.find("| redb | forward").expect("redb row");
        let heed = markdown.find("| heed | reverse").expect("heed row");
        assert!(redb < heed, "engines in the usual order");
    }
}
