//! What fsync costs on each engine: `apply`, the checkpoint, the same writes through the
//! engine's own API, and the raw-disk floor. See the crate docs for the case names.
//!
//! `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement (what `cargo xtask bench
//! --quick` sets); criterion's `--warm-up-time` and `--measurement-time` override both.
//! `FSMSTORE_BENCH_LARGE=1` adds 10M-key cold-start cases (`cargo xtask bench --large`).
//! `cargo test --benches -p fsmstore-benches` runs every case once.
//!
//! The `after_kill` cold-start cases need a store left by a process killed with SIGKILL:
//! the bench runs itself as that process, with [`KILLED_WRITER_ENV`] set.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group};
use fsmstore::{
    ApplyOutcome, Backend, Config, Engine, RestoreDecision, SyncMode, WriteBatch, decide_restore,
};
use fsmstore_benches::{
    BATCH_SIZES, CHECKPOINT_APPLIES, Workload, bulk_fill, checkpoint_measurement, native, pair,
};
use tempfile::TempDir;

/// Set (to anything but `0`) for short runs.
const QUICK_ENV: &str = "FSMSTORE_BENCH_QUICK";

/// Set (to anything but `0`) to add 10M-key cold-start cases.
const LARGE_ENV: &str = "FSMSTORE_BENCH_LARGE";

/// Set by the bench in the child it runs as a writer to kill: `<engine> <keys> <dir>`.
const KILLED_WRITER_ENV: &str = "FSMSTORE_BENCH_KILLED_WRITER";

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Warm-up and measurement time of one case.
#[derive(Clone, Copy, Debug)]
struct Timing {
    warm_up: Duration,
    measurement: Duration,
}

impl Timing {
    fn from_env() -> Self {
        if flag(QUICK_ENV) {
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

/// Keys in the cold-start stores: 100k and 1M when benchmarking, and 10M with
/// [`LARGE_ENV`]. Criterion's test mode (`cargo test --benches`, no `--bench` argument)
/// runs each case once, to check it works; 1000 keys keep that fast.
fn cold_start_sizes() -> Vec<usize> {
    if !std::env::args().any(|arg| arg == "--bench") {
        return vec![1_000];
    }
    let mut sizes = vec![100_000, 1_000_000];
    if flag(LARGE_ENV) {
        sizes.push(10_000_000);
    }
    sizes
}

/// Applies between two checkpoints of the killed writer: the kill lands at most this
/// many applies after the last checkpoint.
const KILLED_WRITER_CHECKPOINT_EVERY: u64 = 4096;

/// How long the killed writer goes on applying after the checkpoint the kill waits for:
/// some thousands of one-put NoSync applies on every engine.
const KILL_DELAY: Duration = Duration::from_millis(30);

/// The child process of the `after_kill` cases: bulk-fills a NoSync store and
/// checkpoints, then applies one-put batches (overwriting keys of the store), with a
/// checkpoint every [`KILLED_WRITER_CHECKPOINT_EVERY`] applies, until it is killed.
/// Prints `checkpoint <index>` after each checkpoint and `applied <index>` after each
/// apply.
fn run_killed_writer(spec: &str) {
    let mut words = spec.splitn(3, ' ');
    let (Some(engine), Some(keys), Some(dir)) = (words.next(), words.next(), words.next()) else {
        panic!("{KILLED_WRITER_ENV} is `<engine> <keys> <dir>`, not {spec:?}");
    };
    let engine: Backend = engine.parse().expect("an engine name");
    let keys: usize = keys.parse().expect("a key count");
    let store = fsmstore::open(engine, dir, &Config::new(SyncMode::NoSync))
        .unwrap_or_else(|error| panic!("cannot open a {engine} store: {error}"));
    let mut index = bulk_fill(&*store, keys);
    let mut out = std::io::stdout().lock();
    let checkpoint = |index: u64, out: &mut std::io::StdoutLock<'_>| {
        store.set_durable_applied_index(index).expect("checkpoint");
        writeln!(out, "checkpoint {index}").expect("report the checkpoint");
        out.flush().expect("report the checkpoint");
    };
    checkpoint(index, &mut out);
    for slot in (0..keys as u64).cycle() {
        let (key, value) = pair(slot);
        let mut batch = WriteBatch::with_capacity(1);
        batch.put(key.to_vec(), value.to_vec());
        index += 1;
        store.apply(&batch, Some(index)).expect("apply");
        // Unbuffered, so the parent knows the last acknowledged apply when it kills.
        writeln!(out, "applied {index}").expect("report the apply");
        out.flush().expect("report the apply");
        if index.is_multiple_of(KILLED_WRITER_CHECKPOINT_EVERY) {
            checkpoint(index, &mut out);
        }
    }
}

/// What the parent saw of a killed writer: its last checkpoint and its last
/// acknowledged apply.
#[derive(Clone, Copy, Debug)]
struct Killed {
    checkpoint: u64,
    last_applied: u64,
}

/// Runs this bench binary as a writer on a new store in `dir` and kills it with SIGKILL
/// [`KILL_DELAY`] after its third checkpoint (the fill's and two more), while it applies.
fn kill_a_writer(engine: Backend, keys: usize, dir: &Path) -> Killed {
    let spec = format!("{engine} {keys} {}", dir.display());
    let mut child = Command::new(std::env::current_exe().expect("the bench binary"))
        .env(KILLED_WRITER_ENV, spec)
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("the writer's stdout");
    // Read on a thread, so the writer never waits on a full pipe: the kill lands in
    // the middle of its applies.
    let (lines_sender, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
        {
            if lines_sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut killed = Killed {
        checkpoint: 0,
        last_applied: 0,
    };
    let record = |line: &str, killed: &mut Killed| {
        if let Some(index) = line.strip_prefix("checkpoint ") {
            killed.checkpoint = index.parse().expect("an index");
            true
        } else {
            if let Some(index) = line.strip_prefix("applied ") {
                killed.last_applied = index.parse().expect("an index");
            }
            false
        }
    };
    let mut checkpoints = 0;
    while checkpoints < 3 {
        let line = lines
            .recv()
            .expect("the writer stopped before its third checkpoint");
        if record(&line, &mut killed) {
            checkpoints += 1;
        }
    }
    std::thread::sleep(KILL_DELAY);
    child.kill().expect("kill the writer");
    child.wait().expect("reap the writer");
    reader.join().expect("the reader thread");
    for line in lines.try_iter() {
        record(&line, &mut killed);
    }
    killed
}

/// Copies the store directory `from` into `to`, file by file.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("list the store") {
        let entry = entry.expect("list the store");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("stat").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a store file");
        }
    }
}

/// `cold_start/<engine>/skip/<keys>` and `cold_start/<engine>/restore/<keys>`: what a
/// node pays at start-up when its store already covers the leader's snapshot (reopen,
/// and `decide_restore` says `Skip`) and when it does not (reopen, then restore the
/// snapshot from a file). The page cache is warm: this is the engines' own cost, not the
/// disk's read speed.
///
/// `cold_start/<engine>/after_kill/<keys>` (durable engines): the reopen and the gate
/// after the writer was killed with SIGKILL in the middle of NoSync applies, its last
/// checkpoint a few thousand applies back, so the engine recovers what the kill left.
/// Each iteration opens a fresh copy of the killed store (copied untimed).
fn cold_start(c: &mut Criterion, engine: Backend) {
    for keys in cold_start_sizes() {
        let dir = bench_dir();
        let store_dir = dir.path().join("store");
        let snapshot = dir.path().join("snapshot.bin");
        let config = Config::new(SyncMode::NoSync);
        let open = |store_dir: &Path| {
            fsmstore::open(engine, store_dir, &config)
                .unwrap_or_else(|error| panic!("cannot open a {engine} store: {error}"))
        };
        // Filled on first use: a run whose filter skips these cases skips the fill.
        let prepared = std::cell::OnceCell::new();
        let index = || {
            *prepared.get_or_init(|| {
                let store = open(&store_dir);
                let index = bulk_fill(&*store, keys);
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
                let store = open(&store_dir);
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
        drop(dir);
        if engine.is_durable() == Some(true) {
            after_kill(c, engine, keys);
        }
    }
}

/// `cold_start/<engine>/after_kill/<keys>`: see [`cold_start`].
fn after_kill(c: &mut Criterion, engine: Backend, keys: usize) {
    let dir = bench_dir();
    let killed_dir = dir.path().join("killed");
    let config = Config::new(SyncMode::NoSync);
    // Killed on first use, and checked once: the engine opens what the kill left, and
    // the gate skips a snapshot at the last checkpoint and restores one past the last
    // acknowledged apply (one apply may have landed unacknowledged).
    let prepared = std::cell::OnceCell::new();
    let killed = || {
        *prepared.get_or_init(|| {
            let killed = kill_a_writer(engine, keys, &killed_dir);
            let copy = dir.path().join("check");
            copy_tree(&killed_dir, &copy);
            let store = fsmstore::open(engine, &copy, &config)
                .unwrap_or_else(|error| panic!("{engine} cannot open a killed store: {error}"));
            let decision = decide_restore(&*store, killed.checkpoint);
            assert!(
                matches!(decision, RestoreDecision::Skip { applied } if applied >= killed.checkpoint && applied <= killed.last_applied + 1),
                "{engine} after a kill at {killed:?}: {decision:?}"
            );
            let decision = decide_restore(&*store, killed.last_applied + 2);
            assert!(decision.must_restore(), "{engine} after a kill at {killed:?}: {decision:?}");
            store.close().expect("close");
            std::fs::remove_dir_all(&copy).expect("remove the check's copy");
            killed
        })
    };
    let mut group = c.benchmark_group(format!("cold_start/{engine}"));
    group
        .throughput(Throughput::Elements(keys as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    group.bench_function(format!("after_kill/{keys}"), |b| {
        let killed = killed();
        let mut round = 0u32;
        b.iter_batched(
            || {
                round += 1;
                let copy = dir.path().join(format!("copy-{round}"));
                copy_tree(&killed_dir, &copy);
                copy
            },
            |copy| {
                let store = fsmstore::open(engine, &copy, &config)
                    .unwrap_or_else(|error| panic!("{engine} cannot open a killed store: {error}"));
                let decision = decide_restore(&*store, killed.checkpoint);
                assert!(!decision.must_restore(), "{decision:?}");
                // Closed and removed outside the timing (criterion drops it later).
                RemovedOnDrop {
                    store: Some(store),
                    dir: copy,
                }
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// A store opened from a copy, closed and its copy removed when dropped.
struct RemovedOnDrop {
    store: Option<Box<dyn Engine>>,
    dir: PathBuf,
}

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            store.close().expect("close");
        }
        std::fs::remove_dir_all(&self.dir).expect("remove a copy of the killed store");
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

/// `criterion_main!`, but the binary is also the writer the `after_kill` cases kill.
fn main() {
    if let Some(spec) = std::env::var_os(KILLED_WRITER_ENV) {
        run_killed_writer(&spec.to_string_lossy());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
