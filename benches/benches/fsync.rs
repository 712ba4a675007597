//! What fsync costs on each engine: `apply`, the checkpoint, the same writes through the
//! engine's own API, and the raw-disk floor. See the crate docs for the case names.
//!
//! `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement (what `cargo xtask bench
//! --quick` sets); criterion's `--warm-up-time` and `--measurement-time` override both.
//! `cargo test --benches -p fsmstore-benches` runs every case once.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fsmstore::{
    ApplyOutcome, Backend, Config, Engine, RestoreDecision, SyncMode, WriteBatch, decide_restore,
};
use fsmstore_benches::{
    BATCH_SIZES, CHECKPOINT_APPLIES, Workload, checkpoint_measurement, native, pair,
};
use tempfile::TempDir;

/// Set (to anything but `0`) for short runs.
const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// Warm-up and measurement time of one case.
#[derive(Clone, Copy, Debug)]
struct Timing {
    warm_up: Duration,
    measurement: Duration,
}

impl Timing {
    fn from_env() -> Self {
        let quick =
            std::env::var_os(QUICK_ENV).is_some_and(|value| !value.is_empty() && value != "0");
        if quick {
            Self {
                warm_up: Duration::from_millis(300),
                measurement: Duration::from_secs(1),
            }
        } else {
            Self {
                warm_up: Duration::from_secs(1),
                measurement: Duration::from_secs(5),
            }
        }
    }
}

/// Criterion's default sample count, kept: fsync latency is noisy, and the median of
/// many samples is what the report compares.
const SAMPLES: u32 = 100;

fn config() -> Criterion {
    let timing = Timing::from_env();
    // No plots: the report draws its own chart.
    Criterion::default()
        .sample_size(SAMPLES as usize)
        .warm_up_time(timing.warm_up)
        .measurement_time(timing.measurement)
        .without_plots()
}

/// A fresh directory under the target directory: on the project's disk, as a store would
/// be (a temp dir on tmpfs would make fsync free).
fn bench_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fsmstore-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("cannot create a directory under the target directory")
}

fn open_store(engine: Backend, dir: &TempDir, mode: SyncMode) -> Box<dyn Engine> {
    let store = fsmstore::open(engine, dir.path().join("store"), &Config::new(mode))
        .unwrap_or_else(|error| panic!("cannot open a {engine} store: {error}"));
    assert_eq!(
        store.sync_mode(),
        mode,
        "{} overrides the sync mode; unset it to bench",
        fsmstore::SYNC_MODE_ENV
    );
    store
}

/// Measures one case, `elements` ops per iteration.
fn measure(
    c: &mut Criterion,
    group: &str,
    case: &str,
    elements: u64,
    tune: impl FnOnce(&mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>),
    mut routine: impl FnMut(u64) -> Duration,
) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(elements));
    tune(&mut group);
    group.bench_function(case, |b| b.iter_custom(&mut routine));
    group.finish();
}

fn modes() -> [SyncMode; 2] {
    [SyncMode::Sync, SyncMode::NoSync]
}

/// `apply/<engine>/<mode>/<ops>`, each followed by `native/<engine>/<mode>/<ops>` so the
/// two cases of a ratio are measured minutes apart at most.
fn apply_and_native(c: &mut Criterion, engine: Backend) {
    for mode in modes() {
        for ops in BATCH_SIZES {
            let workload = Workload::new(ops);
            let elements = ops as u64;

            let dir = bench_dir();
            let store = open_store(engine, &dir, mode);
            let mut index = 0;
            measure(
                c,
                &format!("apply/{engine}/{mode}"),
                &ops.to_string(),
                elements,
                |_| {},
                |iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        index += 1;
                        let outcome = store
                            .apply(workload.batch(index), Some(index))
                            .unwrap_or_else(|error| panic!("{engine} apply failed: {error}"));
                        assert!(matches!(outcome, ApplyOutcome::Applied { .. }));
                    }
                    start.elapsed()
                },
            );
            store.close().expect("close failed");
            drop(dir);

            let dir = bench_dir();
            let Some(store) = native::open(engine, &dir.path().join("native"), mode)
                .unwrap_or_else(|error| panic!("cannot open native {engine}: {error}"))
            else {
                continue;
            };
            let mut index = 0;
            measure(
                c,
                &format!("native/{engine}/{mode}"),
                &ops.to_string(),
                elements,
                |_| {},
                |iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        index += 1;
                        store
                            .apply(workload.pairs(index), index)
                            .unwrap_or_else(|error| {
                                panic!("native {engine} apply failed: {error}")
                            });
                    }
                    start.elapsed()
                },
            );
        }
    }
}

/// `checkpoint/<engine>/after_1000_nosync`: the pin alone, after 1000 one-put NoSync
/// applies that are not timed.
fn checkpoint(c: &mut Criterion, engine: Backend, timing: Timing) {
    let workload = Workload::new(1);
    let dir = bench_dir();
    let store = open_store(engine, &dir, SyncMode::NoSync);
    let mut index = 0;
    let round = |index: &mut u64| {
        for _ in 0..CHECKPOINT_APPLIES {
            *index += 1;
            store
                .apply(workload.batch(*index), Some(*index))
                .unwrap_or_else(|error| panic!("{engine} apply failed: {error}"));
        }
        let start = Instant::now();
        let durable = store
            .set_durable_applied_index(*index)
            .unwrap_or_else(|error| panic!("{engine} checkpoint failed: {error}"));
        let elapsed = start.elapsed();
        assert_eq!(durable, *index);
        elapsed
    };

    // A few untimed rounds size the measurement (see `checkpoint_measurement`).
    let mut setup = Vec::new();
    let mut timed = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        timed.push(round(&mut index));
        setup.push(start.elapsed());
    }
    let measurement = checkpoint_measurement(
        median(&mut timed),
        median(&mut setup),
        timing.measurement,
        SAMPLES,
    );

    measure(
        c,
        &format!("checkpoint/{engine}"),
        &format!("after_{CHECKPOINT_APPLIES}_nosync"),
        1,
        |group| {
            group
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(measurement);
        },
        |iters| (0..iters).map(|_| round(&mut index)).sum(),
    );
    store.close().expect("close failed");
}

fn median(durations: &mut [Duration]) -> Duration {
    durations.sort();
    durations[durations.len() / 2]
}

/// Bytes per floor write.
const BLOCK: usize = 4096;

/// The floor file is cut back to empty before it outgrows this, so a long run does not
/// fill the disk (or the page cache) with a file nobody reads.
const FLOOR_FILE_LIMIT: u64 = 64 << 20;

/// A file in a bench directory that grows by appends.
struct AppendFile {
    file: File,
    len: u64,
    _dir: TempDir,
}

impl AppendFile {
    fn new() -> Self {
        let dir = bench_dir();
        let path: PathBuf = dir.path().join("floor");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("cannot create the floor file");
        Self {
            file,
            len: 0,
            _dir: dir,
        }
    }

    /// `iters` appends of 4 KiB, each followed by `fdatasync` when `sync`; times them.
    fn append(&mut self, iters: u64, sync: bool, block: &[u8; BLOCK]) -> Duration {
        let bytes = iters.saturating_mul(BLOCK as u64);
        if self.len.saturating_add(bytes) > FLOOR_FILE_LIMIT {
            self.file
                .set_len(0)
                .expect("cannot truncate the floor file");
            self.file.sync_all().expect("cannot sync the floor file");
            self.len = 0;
        }
        let start = Instant::now();
        for _ in 0..iters {
            self.file
                .write_all(black_box(block))
                .expect("floor write failed");
            if sync {
                self.file.sync_data().expect("floor fdatasync failed");
            }
        }
        let elapsed = start.elapsed();
        self.len += bytes;
        elapsed
    }
}

/// `floor/fdatasync_4k` and `floor/write_4k`.
fn floor(c: &mut Criterion) {
    let mut block = [0u8; BLOCK];
    for (i, byte) in block.iter_mut().enumerate() {
        *byte = (i * 31 % 251) as u8;
    }
    for (case, sync) in [("fdatasync_4k", true), ("write_4k", false)] {
        let mut file = AppendFile::new();
        measure(
            c,
            "floor",
            case,
            1,
            |_| {},
            |iters| file.append(iters, sync, &block),
        );
    }
}

/// Keys in the cold-start stores: 100k and 1M when benchmarking. Criterion's test mode
/// (`cargo test --benches`, no `--bench` argument) runs each case once, to check it
/// works; 1000 keys keep that fast.
fn cold_start_sizes() -> Vec<usize> {
    if std::env::args().any(|arg| arg == "--bench") {
        vec![100_000, 1_000_000]
    } else {
        vec![1_000]
    }
}

/// Puts per apply while a cold-start store is filled.
const FILL_BATCH: usize = 10_000;

/// `cold_start/<engine>/skip/<keys>` and `cold_start/<engine>/restore/<keys>`: what a
/// node pays at start-up when its store already covers the leader's snapshot (reopen,
/// and `decide_restore` says `Skip`) and when it does not (reopen, then restore the
/// snapshot from a file). The page cache is warm: this is the engines' own cost, not the
/// disk's read speed.
fn cold_start(c: &mut Criterion, engine: Backend) {
    for keys in cold_start_sizes() {
        let dir = bench_dir();
        let store_dir = dir.path().join("store");
        let snapshot = dir.path().join("snapshot.bin");
        let config = Config::new(SyncMode::NoSync);
        let open = || {
            fsmstore::open(engine, &store_dir, &config)
                .unwrap_or_else(|error| panic!("cannot open a {engine} store: {error}"))
        };
        // Filled on first use: a run whose filter skips these cases skips the fill.
        let prepared = std::cell::OnceCell::new();
        let index = || {
            *prepared.get_or_init(|| {
                let store = open();
                let mut index = 0;
                for start in (0..keys).step_by(FILL_BATCH) {
                    let mut batch = WriteBatch::with_capacity(FILL_BATCH);
                    for slot in start..(start + FILL_BATCH).min(keys) {
                        let (key, value) = pair(slot as u64);
                        batch.put(key.to_vec(), value.to_vec());
                    }
                    index += 1;
                    store
                        .apply(&batch, Some(index))
                        .unwrap_or_else(|error| panic!("{engine} fill failed: {error}"));
                }
                store.set_durable_applied_index(index).expect("checkpoint");
                let mut file = File::create(&snapshot).expect("create the snapshot file");
                store.export(&mut file).expect("export");
                store.close().expect("close");
                index
            })
        };
        let group = format!("cold_start/{engine}");
        let tune = |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>| {
            group.sampling_mode(SamplingMode::Flat).sample_size(10);
        };
        // Times `iters` rounds of reopen + `then`; the close after each is not timed.
        let reopen_then = |iters: u64, then: &dyn Fn(&dyn Engine)| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let store = open();
                then(&*store);
                total += start.elapsed();
                store.close().expect("close");
            }
            total
        };
        measure(
            c,
            &group,
            &format!("skip/{keys}"),
            keys as u64,
            tune,
            |iters| {
                let index = index();
                reopen_then(iters, &|store| {
                    let decision = decide_restore(store, index);
                    assert!(
                        matches!(decision, RestoreDecision::Skip { .. }),
                        "{decision:?}"
                    );
                })
            },
        );
        measure(
            c,
            &group,
            &format!("restore/{keys}"),
            keys as u64,
            tune,
            |iters| {
                let index = index();
                reopen_then(iters, &|store| {
                    let mut file = File::open(&snapshot).expect("open the snapshot file");
                    let header = store.restore(&mut file).expect("restore");
                    assert_eq!(header.applied_index, Some(index));
                })
            },
        );
    }
}

fn all(c: &mut Criterion) {
    let timing = Timing::from_env();
    floor(c);
    for engine in Backend::compiled() {
        apply_and_native(c, engine);
        checkpoint(c, engine, timing);
    }
    for engine in Backend::compiled() {
        cold_start(c, engine);
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
