//! Many raft groups in one store: what concurrent Sync applies of different groups gain
//! from sharing one commit pipeline (one fsync per round) over a store per group.
//!
//! Case ids are `groups/<engine>/<layout>/<puts per batch>/<appliers>`, with one thread
//! per applier, each applying Sync batches to a group of its own with increasing raft
//! indexes, in three layouts measured in the same run:
//!
//! - `groups`: the appliers' groups in one groups store ([`fsmstore::open_groups`]);
//! - `stores`: a store per applier ([`fsmstore::open`]), in sibling directories;
//! - `alone`: one group alone in a groups store, the baseline (one applier only).
//!
//! An iteration is [`BATCHES_PER_ITERATION`] applies by every applier, and criterion's
//! throughput counts applies, so its rate is applies per second. Beside criterion's
//! results the bench records, per case, the median and 99th percentile of the applies'
//! own latencies and the durable engine commits (fsyncs) they took, in
//! `<criterion home>/fsmstore-groups/<engine>.json` (read by `cargo xtask report`), and
//! it prints a summary per engine: throughput per layout, the ratios to `alone` and to
//! `stores`, the latency ratio to `alone` and the fsyncs per apply.
//!
//! Engines that do not persist (memory) have no fsync to share and are skipped.
//! `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement (what `cargo xtask bench
//! --quick` sets). `cargo test --benches -p fsmstore-benches` runs every case once.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fsmstore::{ApplyOutcome, Backend, Config, Engine, GroupStore, SyncMode};
use fsmstore_benches::Workload;
use tempfile::TempDir;

/// Set (to anything but `0`) for short runs.
const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// The numbers of concurrent appliers (threads, one group each).
const APPLIERS: [usize; 4] = [1, 4, 16, 64];

/// Puts per batch.
const PUTS: [usize; 2] = [1, 16];

/// Applies each applier makes per iteration.
const BATCHES_PER_ITERATION: u64 = 16;

/// Samples per case: the fewest criterion takes. Each sample is one run of every
/// applier, many applies long.
const SAMPLES: usize = 10;

/// The appliers compared in the printed summary's verdict.
const TARGET_APPLIERS: usize = 16;

/// What the groups layout at [`TARGET_APPLIERS`] should reach: its throughput over
/// `alone`'s, over `stores`', and its median latency over `alone`'s at most.
const TARGETS: (f64, f64, f64) = (8.0, 4.0, 3.0);

fn quick() -> bool {
    std::env::var_os(QUICK_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

fn config() -> Criterion {
    let (warm_up, measurement) = if quick() {
        (Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(3))
    };
    Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .without_plots()
}

/// A fresh directory under the target directory: on the project's disk, as a store would
/// be (a temp dir on tmpfs would make fsync free).
fn bench_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fsmstore-bench-groups-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("cannot create a directory under the target directory")
}

/// How the appliers' groups are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layout {
    /// One groups store, one group per applier.
    Groups,
    /// One store per applier.
    Stores,
    /// One group alone in a groups store.
    Alone,
}

impl Layout {
    /// The layout's name in case ids.
    fn name(self) -> &'static str {
        match self {
            Layout::Groups => "groups",
            Layout::Stores => "stores",
            Layout::Alone => "alone",
        }
    }
}

/// The open stores of one case and each applier's last raft index.
struct Setup {
    groups: Option<Box<dyn GroupStore>>,
    engines: Vec<Box<dyn Engine>>,
    indexes: Vec<u64>,
    _dir: TempDir,
}

impl Setup {
    /// `appliers` groups or stores of `engine` in a new directory, in Sync mode.
    fn open(engine: Backend, layout: Layout, appliers: usize) -> Self {
        let dir = bench_dir();
        let config = Config::new(SyncMode::Sync);
        let (groups, engines) = match layout {
            Layout::Groups | Layout::Alone => {
                let store = fsmstore::open_groups(engine, dir.path().join("groups"), &config)
                    .unwrap_or_else(|error| panic!("cannot open a {engine} groups store: {error}"));
                assert_eq!(
                    store.sync_mode(),
                    SyncMode::Sync,
                    "{} overrides the sync mode; unset it to bench",
                    fsmstore::SYNC_MODE_ENV
                );
                let engines = (0..appliers as u64)
                    .map(|id| {
                        store.create_group(id).expect("create a group");
                        store.open_group(id).expect("open a group")
                    })
                    .collect();
                (Some(store), engines)
            }
            Layout::Stores => {
                let engines = (0..appliers)
                    .map(|n| {
                        let store =
                            fsmstore::open(engine, dir.path().join(format!("store-{n}")), &config)
                                .unwrap_or_else(|error| {
                                    panic!("cannot open a {engine} store: {error}")
                                });
                        assert_eq!(
                            store.sync_mode(),
                            SyncMode::Sync,
                            "{} overrides the sync mode; unset it to bench",
                            fsmstore::SYNC_MODE_ENV
                        );
                        store
                    })
                    .collect();
                (None, engines)
            }
        };
        Self {
            groups,
            indexes: vec![0; appliers],
            engines,
            _dir: dir,
        }
    }

    /// Durable engine commits so far: the groups store's count, or one per apply for
    /// separate stores (every Sync apply of a store is one durable commit).
    fn durable_rounds(&self) -> u64 {
        match &self.groups {
            Some(groups) => groups.commit_stats().durable_rounds,
            None => self.indexes.iter().sum(),
        }
    }

    /// Every applier on a thread of its own, `applies` Sync applies each, started
    /// together. Returns the time from the start to the last applier's end and every
    /// apply's latency in nanoseconds.
    fn run(&mut self, workload: &Workload, applies: u64) -> (Duration, Vec<u64>) {
        let barrier = Barrier::new(self.engines.len() + 1);
        std::thread::scope(|scope| {
            let threads: Vec<_> = self
                .engines
                .iter()
                .zip(self.indexes.iter_mut())
                .map(|(engine, index)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mut latencies = Vec::with_capacity(applies as usize);
                        barrier.wait();
                        for _ in 0..applies {
                            *index += 1;
                            let start = Instant::now();
                            let outcome = engine
                                .apply(workload.batch(*index), Some(*index))
                                .unwrap_or_else(|error| panic!("apply failed: {error}"));
                            latencies.push(start.elapsed().as_nanos() as u64);
                            assert!(matches!(outcome, ApplyOutcome::Applied { .. }));
                        }
                        latencies
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            let mut latencies = Vec::new();
            for thread in threads {
                latencies.extend(thread.join().expect("an applier panicked"));
            }
            (start.elapsed(), latencies)
        })
    }

    fn close(self) {
        for engine in self.engines {
            engine.close().expect("close a group or store");
        }
        if let Some(groups) = self.groups {
            groups.close().expect("close the groups store");
        }
    }
}

/// One call of the measured routine: one sample, or one round of warm-up.
struct Call {
    applies: u64,
    elapsed: Duration,
    durable_rounds: u64,
    latencies: Vec<u64>,
}

/// What one case measured, over its last [`SAMPLES`] calls (criterion's samples: the
/// warm-up calls come first).
#[derive(Clone, Copy, Debug)]
struct Measured {
    applies: u64,
    seconds: f64,
    /// The median of the samples' applies per second.
    applies_per_second: f64,
    latency_median_ns: f64,
    latency_p99_ns: f64,
    durable_rounds: u64,
}

impl Measured {
    fn from_calls(calls: &VecDeque<Call>) -> Option<Self> {
        let applies: u64 = calls.iter().map(|call| call.applies).sum();
        if applies == 0 {
            return None;
        }
        let mut rates: Vec<f64> = calls
            .iter()
            .map(|call| call.applies as f64 / call.elapsed.as_secs_f64().max(1e-9))
            .collect();
        let mut latencies: Vec<u64> = calls
            .iter()
            .flat_map(|call| call.latencies.iter().copied())
            .collect();
        latencies.sort_unstable();
        let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        Some(Self {
            applies,
            seconds: calls.iter().map(|call| call.elapsed.as_secs_f64()).sum(),
            applies_per_second: fsmstore_benches::median(&mut rates),
            latency_median_ns: percentile(0.5) as f64,
            latency_p99_ns: percentile(0.99) as f64,
            durable_rounds: calls.iter().map(|call| call.durable_rounds).sum(),
        })
    }

    fn durable_rounds_per_apply(&self) -> f64 {
        self.durable_rounds as f64 / self.applies as f64
    }

    fn fsyncs_per_second(&self) -> f64 {
        self.durable_rounds as f64 / self.seconds.max(1e-9)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "applies": self.applies,
            "seconds": self.seconds,
            "applies_per_second": self.applies_per_second,
            "latency_median_ns": self.latency_median_ns,
            "latency_p99_ns": self.latency_p99_ns,
            "durable_rounds": self.durable_rounds,
        })
    }
}

/// One case's key: layout, puts per batch, appliers.
type Key = (Layout, usize, usize);

/// Measures one case; `None` when criterion's filter skipped it.
fn case(
    c: &mut Criterion,
    engine: Backend,
    layout: Layout,
    puts: usize,
    appliers: usize,
    workload: &Workload,
) -> Option<Measured> {
    let mut setup = None;
    let mut calls = VecDeque::with_capacity(SAMPLES + 1);
    let mut group = c.benchmark_group(format!("groups/{engine}/{}/{puts}", layout.name()));
    group
        .throughput(Throughput::Elements(
            appliers as u64 * BATCHES_PER_ITERATION,
        ))
        .sampling_mode(SamplingMode::Flat);
    group.bench_function(appliers.to_string(), |b| {
        let setup = setup.get_or_insert_with(|| Setup::open(engine, layout, appliers));
        b.iter_custom(|iters| {
            let before = setup.durable_rounds();
            let (elapsed, latencies) = setup.run(workload, iters * BATCHES_PER_ITERATION);
            if calls.len() == SAMPLES {
                calls.pop_front();
            }
            calls.push_back(Call {
                applies: latencies.len() as u64,
                elapsed,
                durable_rounds: setup.durable_rounds() - before,
                latencies,
            });
            elapsed
        });
    });
    group.finish();
    if let Some(setup) = setup {
        setup.close();
    }
    Measured::from_calls(&calls)
}

/// Where criterion writes its results: `CRITERION_HOME`, or `criterion` in the target
/// directory.
fn criterion_home() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target directory")
            .join("criterion"),
    }
}

/// Merges `measured` into `<criterion home>/fsmstore-groups/<engine>.json`, by case id.
fn record(engine: Backend, measured: &BTreeMap<Key, Measured>) {
    let dir = criterion_home().join("fsmstore-groups");
    let path = dir.join(format!("{engine}.json"));
    let mut cases: serde_json::Map<String, serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    for (&(layout, puts, appliers), measured) in measured {
        let id = format!("groups/{engine}/{}/{puts}/{appliers}", layout.name());
        cases.insert(id, measured.json());
    }
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::Value::Object(cases).to_string()))
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// `12.3k`, `1.23M`: a rate with three significant digits.
fn rate(per_second: f64) -> String {
    match per_second {
        r if r >= 1e6 => format!("{:.2}M", r / 1e6),
        r if r >= 1e4 => format!("{:.0}k", r / 1e3),
        r if r >= 1e3 => format!("{:.1}k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

/// A duration in ns, in µs or ms.
fn latency(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

/// Prints the engine's summary: per batch size and appliers, the throughput of each
/// layout, the ratios, the latencies and the fsyncs per apply.
fn summary(engine: Backend, measured: &BTreeMap<Key, Measured>) {
    if measured.is_empty() {
        return;
    }
    let dash = || "—".to_owned();
    let header = [
        "puts",
        "N",
        "groups/s",
        "stores/s",
        "alone/s",
        "g÷alone",
        "g÷stores",
        "lat g",
        "lat s",
        "lat a",
        "lat g÷a",
        "fsync/apply",
        "fsyncs/s",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for puts in PUTS {
        let alone = measured.get(&(Layout::Alone, puts, 1));
        for appliers in APPLIERS {
            let groups = measured.get(&(Layout::Groups, puts, appliers));
            let stores = measured.get(&(Layout::Stores, puts, appliers));
            let over = |a: Option<&Measured>, b: Option<&Measured>, f: fn(&Measured) -> f64| {
                a.zip(b)
                    .map_or_else(dash, |(a, b)| format!("{:.2}×", f(a) / f(b)))
            };
            let per_second =
                |m: Option<&Measured>| m.map_or_else(dash, |m| rate(m.applies_per_second));
            let lat = |m: Option<&Measured>| m.map_or_else(dash, |m| latency(m.latency_median_ns));
            rows.push(vec![
                puts.to_string(),
                appliers.to_string(),
                per_second(groups),
                per_second(stores),
                if appliers == 1 {
                    per_second(alone)
                } else {
                    String::new()
                },
                over(groups, alone, |m| m.applies_per_second),
                over(groups, stores, |m| m.applies_per_second),
                lat(groups),
                lat(stores),
                if appliers == 1 {
                    lat(alone)
                } else {
                    String::new()
                },
                over(groups, alone, |m| m.latency_median_ns),
                groups.map_or_else(dash, |m| format!("{:.3}", m.durable_rounds_per_apply())),
                groups.map_or_else(dash, |m| rate(m.fsyncs_per_second())),
            ]);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!();
    println!(
        "groups/{engine}: Sync applies per second by layout (g = groups, s = stores, a = alone)"
    );
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:>width$}"))
            .collect();
        println!("  {}", cells.join("  "));
    }
    for puts in PUTS {
        let groups = measured.get(&(Layout::Groups, puts, TARGET_APPLIERS));
        let stores = measured.get(&(Layout::Stores, puts, TARGET_APPLIERS));
        let alone = measured.get(&(Layout::Alone, puts, 1));
        let (Some(groups), Some(stores), Some(alone)) = (groups, stores, alone) else {
            continue;
        };
        let (to_alone, to_stores, latency) = (
            groups.applies_per_second / alone.applies_per_second,
            groups.applies_per_second / stores.applies_per_second,
            groups.latency_median_ns / alone.latency_median_ns,
        );
        let met = to_alone >= TARGETS.0 && to_stores >= TARGETS.1 && latency <= TARGETS.2;
        println!(
            "  {puts} put(s), N={TARGET_APPLIERS}: {to_alone:.2}× alone (target ≥ {}×), \
             {to_stores:.2}× stores (≥ {}×), latency {latency:.2}× alone (≤ {}×): {}",
            TARGETS.0,
            TARGETS.1,
            TARGETS.2,
            if met { "met" } else { "NOT met" }
        );
    }
    println!();
}

/// Every case of one engine: per batch size, the baseline, then per number of appliers
/// the groups store and the separate stores, so the cases of a ratio run close together.
fn engine_cases(c: &mut Criterion, engine: Backend) {
    let mut measured = BTreeMap::new();
    for puts in PUTS {
        let workload = Workload::new(puts);
        let mut one = |c: &mut Criterion, layout, appliers| {
            if let Some(m) = case(c, engine, layout, puts, appliers, &workload) {
                measured.insert((layout, puts, appliers), m);
            }
        };
        one(c, Layout::Alone, 1);
        for appliers in APPLIERS {
            one(c, Layout::Groups, appliers);
            one(c, Layout::Stores, appliers);
        }
    }
    summary(engine, &measured);
    // Criterion's test mode (no `--bench` argument) checks the cases and records nothing.
    if std::env::args().any(|arg| arg == "--bench") && !measured.is_empty() {
        record(engine, &measured);
    }
}

fn all(c: &mut Criterion) {
    for engine in Backend::compiled() {
        if engine.is_durable() == Some(true) {
            engine_cases(c, engine);
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
