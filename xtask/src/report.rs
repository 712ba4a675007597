//! `cargo xtask report`: criterion's medians as one Markdown report and one SVG chart.
//!
//! Reads `target/criterion/**/new/estimates.json` (the median and its 95% confidence
//! interval, in ns per iteration) with the case id from the `benchmark.json` beside it,
//! keeps the cases of `benches/benches/fsync.rs`, `scan.rs` and `groups.rs` (with what
//! the groups bench records beside them, see [`groups`]), and writes
//! `target/fsmstore-report/report.md` and `report.svg` (see [`chart`]).

mod chart;
mod groups;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use walkdir::WalkDir;

use crate::engines::ALL;
use crate::run::{BenchRun, report_dir, target_dir};

/// fsmstore's overhead over the engine's own API that a Sync apply may have.
pub const SYNC_OVERHEAD_TARGET: f64 = 1.05;

/// fsmstore's overhead over the engine's own API that a NoSync apply may have.
pub const NOSYNC_OVERHEAD_TARGET: f64 = 1.15;

/// The most a range read through fsmstore may cost, relative to the engine's own API.
const SCAN_TARGET: f64 = 1.10;

/// Results further apart than this come from more than one run.
const ONE_RUN: Duration = Duration::from_secs(3 * 3600);

/// Writes the report from criterion's output and prints the Markdown.
pub fn run() -> Result<(), String> {
    let out = report_dir();
    println!("{}", write_report(&target_dir().join("criterion"), &out)?);
    let (markdown, svg) = (out.join("report.md"), out.join("report.svg"));
    eprintln!("wrote {} and {}", markdown.display(), svg.display());
    Ok(())
}

/// Reads the results under `criterion`, writes `report.md` and `report.svg` into `out`,
/// and returns the Markdown.
pub fn write_report(criterion: &Path, out: &Path) -> Result<String, String> {
    let results = Results::from_estimates(load(criterion)?).with_groups(groups::load(criterion)?);
    if results.0.is_empty() {
        let criterion = criterion.display();
        return Err(format!(
            "no fsmstore bench results under {criterion}; {RUN_THE_BENCH}"
        ));
    }
    let context = Context::new(&results, BenchRun::load(out).as_ref());
    let markdown = markdown(&results, &context);
    let svg = chart::svg(&results, &context)?;
    let error = |error: std::io::Error| format!("cannot write into {}: {error}", out.display());
    std::fs::create_dir_all(out).map_err(error)?;
    std::fs::write(out.join("report.md"), &markdown).map_err(error)?;
    std::fs::write(out.join("report.svg"), svg).map_err(error)?;
    Ok(markdown)
}

/// What an error says when there is nothing to report on.
const RUN_THE_BENCH: &str = "run `cargo xtask bench` first";

/// One criterion result, as `estimates.json` has it: the median time of one iteration and
/// its 95% confidence interval, in nanoseconds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Estimate {
    /// Median time per iteration.
    #[serde(rename = "point_estimate")]
    pub median_ns: f64,
    /// The median's confidence interval.
    #[serde(rename = "confidence_interval")]
    pub interval: Interval,
    /// When criterion wrote the result: the file's time.
    #[serde(skip)]
    pub measured: Option<SystemTime>,
    /// The elements one iteration counts, when the bench set an element throughput.
    #[serde(skip)]
    pub elements: Option<u64>,
}

/// A confidence interval, in nanoseconds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Interval {
    /// The lower bound.
    #[serde(rename = "lower_bound")]
    pub low: f64,
    /// The upper bound.
    #[serde(rename = "upper_bound")]
    pub high: f64,
}

/// What the report reads of criterion's `estimates.json`.
#[derive(Deserialize)]
struct CriterionEstimates {
    median: Estimate,
}

/// What the report reads of criterion's `benchmark.json`: the id as the bench wrote it
/// (the directory names have every `/` replaced by `_`).
#[derive(Deserialize)]
struct CriterionBenchmark {
    full_id: String,
    /// `{"Elements": n}`, `{"Bytes": n}`, ... or absent.
    #[serde(default)]
    throughput: Option<serde_json::Value>,
}

/// Every `new/estimates.json` under `dir`, by criterion's full benchmark id.
pub fn load(dir: &Path) -> Result<BTreeMap<String, Estimate>, String> {
    if !dir.is_dir() {
        return Err(format!("{} does not exist; {RUN_THE_BENCH}", dir.display()));
    }
    let mut found = BTreeMap::new();
    for entry in WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|error| error.to_string())?;
        let path = entry.path();
        let Some(new) = path.parent().filter(|new| new.ends_with("new")) else {
            continue;
        };
        if entry.file_name() != "estimates.json" || !entry.file_type().is_file() {
            continue;
        }
        let mut elements = None;
        let id = match read_json::<CriterionBenchmark>(&new.join("benchmark.json")) {
            Ok(benchmark) => {
                let throughput = benchmark.throughput.as_ref();
                elements = throughput.and_then(|t| t.get("Elements")?.as_u64());
                benchmark.full_id
            }
            // Without it, the case's directories stand in for the id.
            Err(_) => {
                let case = new.parent().and_then(|case| case.strip_prefix(dir).ok());
                let parts = case.into_iter().flat_map(|case| case.iter());
                parts
                    .map(|part| part.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            }
        };
        let CriterionEstimates { mut median } = read_json(path)?;
        if !(median.median_ns.is_finite() && median.median_ns > 0.0) {
            return Err(format!("{}: no positive median", path.display()));
        }
        median.measured = entry.metadata().ok().and_then(|meta| meta.modified().ok());
        median.elements = elements;
        found.insert(id, median);
    }
    Ok(found)
}

/// A JSON file as `T`.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string());
    let json = text.and_then(|text| serde_json::from_str(&text).map_err(|error| error.to_string()));
    json.map_err(|error| format!("{}: {error}", path.display()))
}

/// A store's sync mode: how case ids spell it, how the report names it, and the overhead
/// over the engine's own API that an apply in it may have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mode {
    id: &'static str,
    name: &'static str,
    overhead_target: f64,
}

impl Mode {
    /// Every apply fsyncs.
    pub const SYNC: Mode = Mode {
        id: "sync",
        name: "Sync",
        overhead_target: SYNC_OVERHEAD_TARGET,
    };
    /// Applies are buffered.
    pub const NOSYNC: Mode = Mode {
        id: "nosync",
        name: "NoSync",
        overhead_target: NOSYNC_OVERHEAD_TARGET,
    };
}

/// A case id in parts: (bench, engine, variant, size), e.g. `apply/redb/sync/16` or
/// `scan/heed/reverse/1000`; a floor has no engine, a floor or a checkpoint no size (0).
type Case<'a> = (&'a str, &'a str, &'a str, u64);

/// The parts of `id` if it is a case of these benches.
fn case(id: &str) -> Option<Case<'_>> {
    let parts: Vec<&str> = id.split('/').collect();
    match parts[..] {
        ["floor", floor @ ("fdatasync_4k" | "write_4k")] => Some(("floor", "", floor, 0)),
        ["checkpoint", engine, "after_1000_nosync"] => Some(("checkpoint", engine, "", 0)),
        [
            bench @ ("apply" | "native"),
            engine,
            variant @ ("sync" | "nosync"),
            size,
        ]
        | [
            bench @ "cold_start",
            engine,
            variant @ ("skip" | "restore" | "after_kill"),
            size,
        ]
        | [bench @ ("scan" | "scan_native"), engine, variant, size] => {
            Some((bench, engine, variant, size.parse().ok()?))
        }
        _ => None,
    }
}

/// Engines in the usual order: memory, redb, fjall, heed, rocksdb, then any other by name.
fn rank(engine: &str) -> (usize, &str) {
    let known = ALL.iter().position(|known| *known == engine);
    (known.unwrap_or(ALL.len()), engine)
}

/// One median over another, when both were measured.
fn ratio(numerator: Option<&Estimate>, denominator: Option<&Estimate>) -> Option<f64> {
    Some(numerator?.median_ns / denominator?.median_ns)
}

/// The floor case: 4 KiB appended and `fdatasync`ed.
const FDATASYNC: &str = "floor/fdatasync_4k";

/// The NoSync applies before each checkpoint in `checkpoint/<engine>/after_1000_nosync`.
const CHECKPOINT_EVERY: f64 = 1000.0;

/// The floor case: 4 KiB appended, no sync.
const WRITE: &str = "floor/write_4k";

/// The results of these benches' cases, by criterion id, and what the groups bench
/// recorded of its cases besides their time.
#[derive(Debug, Default)]
pub struct Results(
    BTreeMap<String, Estimate>,
    BTreeMap<String, groups::Measured>,
);

impl Results {
    /// Keeps the cases of these benches; ids of other benches are ignored.
    pub fn from_estimates(estimates: BTreeMap<String, Estimate>) -> Self {
        Self(
            estimates
                .into_iter()
                .filter(|(id, _)| case(id).is_some() || groups::case(id).is_some())
                .collect(),
            BTreeMap::new(),
        )
    }

    /// Adds what the groups bench recorded of its cases (latencies, fsyncs).
    pub fn with_groups(mut self, measured: BTreeMap<String, groups::Measured>) -> Self {
        self.1 = measured;
        self
    }

    /// The cases of the given benches, engines in the usual order, then by size and variant.
    fn cases(&self, benches: &[&str]) -> Vec<Case<'_>> {
        let mut cases: Vec<Case> = self.0.keys().filter_map(|id| case(id)).collect();
        cases.retain(|(bench, ..)| benches.contains(bench));
        cases.sort_by_key(|&(_, engine, variant, size)| (rank(engine), size, variant));
        cases
    }

    /// The results the chart draws and the report dates: floors, applies and checkpoints.
    fn timed(&self) -> impl Iterator<Item = &Estimate> {
        let timed = ["floor/", "apply/", "native/", "checkpoint/"];
        let timed = move |id: &str| timed.iter().any(|bench| id.starts_with(bench));
        self.0
            .iter()
            .filter(move |(id, _)| timed(id))
            .map(|(_, estimate)| estimate)
    }

    /// The engines with apply or checkpoint results, in the usual order.
    pub fn engines(&self) -> Vec<&str> {
        let cases = self.cases(&["apply", "native", "checkpoint"]);
        let mut engines: Vec<&str> = cases.iter().map(|case| case.1).collect();
        engines.dedup();
        engines
    }

    /// The batch sizes with results, ascending.
    pub fn batch_sizes(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .cases(&["apply", "native"])
            .iter()
            .map(|case| case.3)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// The result of one case, by id.
    fn get(&self, id: &str) -> Option<&Estimate> {
        self.0.get(id)
    }

    /// The `apply` result of one case.
    pub fn apply(&self, engine: &str, mode: Mode, ops: u64) -> Option<&Estimate> {
        self.get(&format!("apply/{engine}/{}/{ops}", mode.id))
    }

    /// The `native` result of one case.
    pub fn native(&self, engine: &str, mode: Mode, ops: u64) -> Option<&Estimate> {
        self.get(&format!("native/{engine}/{}/{ops}", mode.id))
    }

    /// The checkpoint result of one engine.
    pub fn checkpoint(&self, engine: &str) -> Option<&Estimate> {
        self.get(&format!("checkpoint/{engine}/after_1000_nosync"))
    }

    /// fsmstore's overhead in one case: `apply / native`.
    pub fn overhead(&self, engine: &str, mode: Mode, ops: u64) -> Option<f64> {
        let native = self.native(engine, mode, ops);
        ratio(self.apply(engine, mode, ops), native)
    }

    /// The range of `apply / native` that the two medians' confidence intervals allow.
    pub fn overhead_range(&self, engine: &str, mode: Mode, ops: u64) -> Option<(f64, f64)> {
        let apply = self.apply(engine, mode, ops)?;
        let native = self.native(engine, mode, ops)?;
        Some((
            apply.interval.low / native.interval.high,
            apply.interval.high / native.interval.low,
        ))
    }

    /// A one-put Sync apply relative to a 4 KiB append plus `fdatasync`.
    pub fn sync_to_floor(&self, engine: &str) -> Option<f64> {
        ratio(self.apply(engine, Mode::SYNC, 1), self.get(FDATASYNC))
    }

    /// How many times faster a NoSync apply of `ops` puts is than a Sync one.
    pub fn nosync_speedup(&self, engine: &str, ops: u64) -> Option<f64> {
        let nosync = self.apply(engine, Mode::NOSYNC, ops);
        ratio(self.apply(engine, Mode::SYNC, ops), nosync)
    }

    /// The checkpoint relative to one one-put Sync apply.
    pub fn checkpoint_to_sync_apply(&self, engine: &str) -> Option<f64> {
        ratio(self.checkpoint(engine), self.apply(engine, Mode::SYNC, 1))
    }

    /// The throughput of one-put NoSync applies with a checkpoint after every
    /// [`CHECKPOINT_EVERY`] of them, relative to one-put Sync applies: what a node that
    /// pins its applied index periodically gains over syncing every apply.
    pub fn amortised_speedup(&self, engine: &str) -> Option<f64> {
        let nosync = self.apply(engine, Mode::NOSYNC, 1)?.median_ns;
        let checkpoint = self.checkpoint(engine)?.median_ns;
        let per_apply = nosync + checkpoint / CHECKPOINT_EVERY;
        Some(self.apply(engine, Mode::SYNC, 1)?.median_ns / per_apply)
    }
}

/// What the report says about where its numbers come from.
struct Context {
    /// When the results were measured, e.g. `measured 2026-11-24 14:03 UTC`.
    measured: String,
    /// The results come from runs hours apart.
    mixed_runs: bool,
    /// How the bench was run, when known.
    run: Option<String>,
}

impl Context {
    /// What `results` and the record of the last bench run, if it made them, say.
    fn new(results: &Results, run: Option<&BenchRun>) -> Self {
        let times: Vec<SystemTime> = results.timed().filter_map(|e| e.measured).collect();
        let span = times.iter().min().copied().zip(times.iter().max().copied());
        let measured = match span.map(|(first, last)| (utc(first), utc(last))) {
            Some((first, last)) if first == last => format!("measured {first}"),
            Some((first, last)) => format!("measured {first} to {last}"),
            None => "measurement time unknown".to_owned(),
        };
        let spread = span.and_then(|(first, last)| last.duration_since(first).ok());
        let run = run.filter(|run| span.is_some_and(|(first, last)| run.covers(first, last)));
        let run = run.map(|run| {
            let how = if run.quick {
                "`cargo xtask bench --quick` (0.3 s warm-up, 1 s measurement per case)"
            } else {
                "`cargo xtask bench` (1 s warm-up, 5 s measurement per case)"
            };
            match run.criterion_args.join(" ") {
                args if args.is_empty() => how.to_owned(),
                args => format!("{how} with criterion arguments `{args}`"),
            }
        });
        let mixed_runs = spread.is_some_and(|spread| spread > ONE_RUN);
        Self {
            measured,
            mixed_runs,
            run,
        }
    }
}

/// The Markdown report.
fn markdown(results: &Results, context: &Context) -> String {
    let (engines, sizes) = (results.engines(), results.batch_sizes());
    let median = |estimate: Option<&Estimate>| or_dash(estimate.map(|e| duration(e.median_ns)));
    let by = context.run.as_ref().map(|run| format!(", by {run}"));
    let (measured, by) = (&context.measured, by.unwrap_or_default());
    let mut out = format!(
        "# fsmstore: what fsync costs, per engine\n\nCriterion medians, {measured} on this \
         machine{by}. Absolute numbers vary by disk and from run to run (fsync especially); \
         compare ratios from one run only.\n\n"
    );
    if context.mixed_runs {
        out += "**Warning:** these results were measured hours apart, so they come from more \
                than one run and their ratios do not compare. Run `cargo xtask bench` again for \
                one consistent set.\n\n";
    }

    out += "## Floor: the disk itself\n\n| case | median | per second |\n|---|---:|---:|\n";
    for (case, id) in [
        ("4 KiB append + `fdatasync`", FDATASYNC),
        ("4 KiB append, no sync", WRITE),
    ] {
        let floor = results.get(id);
        let (time, rate) = (
            median(floor),
            or_dash(floor.map(|e| rate(1e9 / e.median_ns))),
        );
        out += &format!("| {case} | {time} | {rate} |\n");
    }

    let batches: Vec<String> = sizes.iter().map(u64::to_string).collect();
    out += &format!(
        "\n## Summary\n\n| engine | Sync apply, 1 put | ÷ fdatasync floor | NoSync apply, 1 put | \
         NoSync speed-up ({} puts) | checkpoint after 1000 NoSync | ÷ Sync apply | \
         NoSync + a checkpoint every 1000 ÷ Sync, throughput |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        batches.join(" / ")
    );
    for &engine in &engines {
        let speedup = |ops: &u64| or_dash(results.nosync_speedup(engine, *ops).map(times));
        let speedups = sizes.iter().map(speedup).collect::<Vec<_>>().join(" / ");
        let sync = median(results.apply(engine, Mode::SYNC, 1));
        let nosync = median(results.apply(engine, Mode::NOSYNC, 1));
        let to_floor = or_dash(results.sync_to_floor(engine).map(times));
        let checkpoint = median(results.checkpoint(engine));
        let to_sync = or_dash(results.checkpoint_to_sync_apply(engine).map(times));
        let amortised = or_dash(results.amortised_speedup(engine).map(times));
        out += &format!(
            "| {engine} | {sync} | {to_floor} | {nosync} | {speedups} | {checkpoint} | {to_sync} | {amortised} |\n"
        );
    }

    out += &format!(
        "\n## Every case\n\n\
         Latency is the median time of one `apply` (one batch, one commit) with its 95% \
         confidence interval; puts/s counts puts. `native` is the same writes through the \
         engine's own API with the same durability and the same applied-index write. \
         `apply ÷ native` is fsmstore's overhead, with the range the two confidence \
         intervals allow. The target is ≤ {SYNC_OVERHEAD_TARGET:.2} for Sync and \
         ≤ {NOSYNC_OVERHEAD_TARGET:.2} for NoSync; a ratio is bold when even the low end of \
         its range is over the target. The range covers the noise within each case, not \
         the drift of a shared disk between two cases measured seconds apart: before acting \
         on a bold Sync ratio, measure it in pairs with `cargo run --release -p \
         fsmstore-benches --example overhead`.\n\n\
         | engine | mode | puts/batch | apply | apply puts/s | native | native puts/s | apply ÷ native |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for &engine in &engines {
        for mode in [Mode::SYNC, Mode::NOSYNC] {
            for &ops in &sizes {
                let apply = results.apply(engine, mode, ops);
                let native = results.native(engine, mode, ops);
                if apply.is_none() && native.is_none() {
                    continue;
                }
                let range = results.overhead_range(engine, mode, ops);
                let overhead = results.overhead(engine, mode, ops).zip(range);
                let overhead = or_dash(overhead.map(|(ratio, (low, high))| {
                    let bold = if low > mode.overhead_target { "**" } else { "" };
                    format!("{bold}{ratio:.2}{bold} ({low:.2}–{high:.2})")
                }));
                let puts = |e: &Estimate| rate(1e9 / e.median_ns * ops as f64);
                let (apply_puts, native_puts) =
                    (or_dash(apply.map(puts)), or_dash(native.map(puts)));
                let (apply, native) = (or_dash(apply.map(latency)), or_dash(native.map(latency)));
                let mode = mode.name;
                out += &format!(
                    "| {engine} | {mode} | {ops} | {apply} | {apply_puts} | {native} | {native_puts} | {overhead} |\n"
                );
            }
        }
    }

    let mut cold = results.cases(&["cold_start"]);
    cold.dedup_by_key(|&mut (_, engine, _, keys)| (engine, keys));
    if !cold.is_empty() {
        out += "\n### Cold start: skip the restore, or restore the snapshot\n\n\
                What a node pays at start-up: reopen the store and let `decide_restore` say \
                `Skip` (the store already covers the snapshot), or reopen and restore the \
                snapshot from a file (the whole store rewritten, made durable and switched \
                in); and reopen, then skip, a store left by a writer killed with SIGKILL in \
                the middle of NoSync applies (the engine recovers what the kill left). \
                Medians; the page cache is warm.\n\n\
                | engine | keys | reopen + skip | reopen + restore | restore ÷ skip | reopen after a kill + skip |\n\
                |---|---:|---:|---:|---:|---:|\n";
    }
    for (_, engine, _, keys) in cold {
        let skip = results.get(&format!("cold_start/{engine}/skip/{keys}"));
        let restore = results.get(&format!("cold_start/{engine}/restore/{keys}"));
        let killed = results.get(&format!("cold_start/{engine}/after_kill/{keys}"));
        let ratio = or_dash(ratio(restore, skip).map(times));
        let (skip, restore) = (or_dash(skip.map(latency)), or_dash(restore.map(latency)));
        let (killed, keys) = (or_dash(killed.map(latency)), group_digits(keys));
        out += &format!("| {engine} | {keys} | {skip} | {restore} | {ratio} | {killed} |\n");
    }

    let mut scans = results.cases(&["scan", "scan_native"]);
    scans.dedup_by_key(|&mut (_, engine, direction, entries)| (engine, direction, entries));
    if !scans.is_empty() {
        out += &format!(
            "\n### Range reads: through fsmstore ÷ through the engine's own API\n\n\
             One scan of consecutive keys from the middle of a filled store, from one view, \
             through `Engine::scan` and through the engine's own range iterator, measured in \
             the same run. Target: at most {SCAN_TARGET:.2}.\n\n\
             | engine | direction | entries | fsmstore | engine's API | ratio |\n\
             |---|---|---:|---:|---:|---:|\n"
        );
    }
    for (_, engine, direction, entries) in scans {
        let ours = results.get(&format!("scan/{engine}/{direction}/{entries}"));
        let native = results.get(&format!("scan_native/{engine}/{direction}/{entries}"));
        let ratio = or_dash(ratio(ours, native).map(|ratio| {
            let bold = if ratio > SCAN_TARGET { "**" } else { "" };
            format!("{bold}{ratio:.2}{bold}")
        }));
        let (ours, native) = (or_dash(ours.map(latency)), or_dash(native.map(latency)));
        let entries = group_digits(entries);
        out += &format!("| {engine} | {direction} | {entries} | {ours} | {native} | {ratio} |\n");
    }
    out += &groups::markdown(results);
    out + "\n![Median latency per engine](report.svg)\n"
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

/// The text, or a dash where there is no value.
fn or_dash(text: Option<String>) -> String {
    text.unwrap_or_else(|| "—".to_owned())
}

/// A median with its confidence interval, e.g. `1.23 ms ±4%`.
fn latency(estimate: &Estimate) -> String {
    let interval = &estimate.interval;
    let noise = (interval.high - interval.low) / 2.0 / estimate.median_ns;
    format!("{} ±{:.0}%", duration(estimate.median_ns), noise * 100.0)
}

/// The unit a duration in ns is written in: (ns per unit, unit).
fn unit(ns: f64) -> (f64, &'static str) {
    let units = [(1e9, "s"), (1e6, "ms"), (1e3, "µs")];
    units
        .into_iter()
        .find(|(scale, _)| ns >= *scale)
        .unwrap_or((1.0, "ns"))
}

/// A duration in ns with three significant digits and a fitting unit.
pub fn duration(ns: f64) -> String {
    let (scale, unit) = unit(ns);
    let rounded = round_significant(ns / scale, 3);
    // Rounding can carry into the next unit (999.96 µs): print that as 1.00 ms.
    if rounded >= 1000.0 && unit != "s" {
        return duration(rounded * scale);
    }
    let decimals = match rounded {
        hundreds if hundreds >= 100.0 => 0,
        tens if tens >= 10.0 => 1,
        _ => 2,
    };
    format!("{rounded:.decimals$} {unit}")
}

/// `10 µs`, `1 ms`: a decade as an axis label.
fn decade_label(ns: f64) -> String {
    let (scale, unit) = unit(ns);
    format!("{:.0} {unit}", ns / scale)
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

/// `value` rounded to `digits` significant digits.
fn round_significant(value: f64, digits: i32) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

/// `2026-11-24 14:03 UTC`.
fn utc(time: SystemTime) -> String {
    let time = chrono::DateTime::<chrono::Utc>::from(time);
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests;
