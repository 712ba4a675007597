//! What a range read costs on each engine: `scan/<engine>/<direction>/<entries>` reads
//! `entries` consecutive keys from the middle of a filled store through
//! `Engine::scan`, and `scan_native/<engine>/<direction>/<entries>` reads the same
//! keys through the engine's own API (`fsmstore_benches::native`), one view per scan in
//! both. `scan / scan_native` is what fsmstore adds; the target is at most 1.10.
//!
//! With `cargo bench -p fsmstore-benches --bench scan` the stores hold 1M keys and the
//! scans read 1k and 100k entries. Criterion's test mode (`cargo test --benches -p
//! fsmstore-benches`, no `--bench` argument) runs each case once on a store of 2k keys
//! with scans of 10 and 1k entries, to check that every case works.
//! `FSMSTORE_BENCH_QUICK=1` shortens warm-up and measurement; a filter
//! (`-- scan/redb scan_native/redb`) picks engines, and only their stores are filled.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fsmstore::{Backend, Config, Direction, RangeQuery, SyncMode, WriteBatch};
use fsmstore_benches::{Pair, native, scan_pair};
use tempfile::TempDir;

/// Puts per commit while a store is filled.
const FILL_BATCH: u64 = 10_000;

/// The store size and the scan lengths.
fn sizes() -> (u64, [u64; 2]) {
    if std::env::args().any(|arg| arg == "--bench") {
        (1_000_000, [1_000, 100_000])
    } else {
        (2_000, [10, 1_000])
    }
}

fn config() -> Criterion {
    let quick = std::env::var_os("FSMSTORE_BENCH_QUICK")
        .is_some_and(|value| !value.is_empty() && value != "0");
    let (warm_up, measurement) = if quick {
        (Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(5))
    };
    Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .without_plots()
}

/// A fresh directory under the target directory, on the project's disk.
fn bench_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fsmstore-bench-scan-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("cannot create a directory under the target directory")
}

fn fill_batches(keys: u64) -> impl Iterator<Item = Vec<Pair>> {
    (0..keys).step_by(FILL_BATCH as usize).map(move |start| {
        (start..(start + FILL_BATCH).min(keys))
            .map(scan_pair)
            .collect()
    })
}

/// Sums what a scan visits, so that the work cannot be optimised away.
#[derive(Default)]
struct Tally {
    entries: u64,
    bytes: usize,
}

impl Tally {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        self.entries += 1;
        self.bytes += key.len() + value.len();
    }
}

fn scans(c: &mut Criterion, engine: Backend) {
    let (keys, lengths) = sizes();
    let dir = bench_dir();
    let store_dir = dir.path().join("store");
    let open_store = || {
        fsmstore::open(engine, &store_dir, &Config::new(SyncMode::NoSync))
            .unwrap_or_else(|error| panic!("cannot open a {engine} store: {error}"))
    };
    let native = native::open(engine, &dir.path().join("native"), SyncMode::NoSync)
        .unwrap_or_else(|error| panic!("cannot open the {engine} baseline: {error}"));
    // Filled on first use: a run whose filter skips this engine skips the fill. Neither
    // side is synced afterwards, so both read the state their NoSync commits left, but
    // for an LSM tree that state depends on how far its background flushes and
    // compactions got: both sides are settled the same way first (see `native::settle`).
    let filled = std::cell::OnceCell::new();
    let fill = || {
        filled.get_or_init(|| {
            let store = open_store();
            for (index, pairs) in (1..).zip(fill_batches(keys)) {
                let mut batch = WriteBatch::with_capacity(pairs.len());
                for (key, value) in &pairs {
                    batch.put(key.to_vec(), value.to_vec());
                }
                store.apply(&batch, Some(index)).expect("fill the store");
                if let Some(native) = &native {
                    native.apply(&pairs, index).expect("fill the baseline");
                }
            }
            let Some(native) = &native else { return store };
            if !native::settles(engine) {
                return store;
            }
            native.settle().expect("settle the baseline");
            store.close().expect("close the store");
            native::settle_store(engine, &store_dir).expect("settle the store");
            open_store()
        })
    };

    for length in lengths {
        let first = keys / 2 - length / 2;
        let (start, end) = (scan_pair(first).0, scan_pair(first + length).0);
        for direction in [Direction::Forward, Direction::Reverse] {
            let name = match direction {
                Direction::Forward => "forward",
                Direction::Reverse => "reverse",
            };
            let query = RangeQuery::new(start..end).direction_of(direction);
            let mut group = c.benchmark_group(format!("scan/{engine}/{name}"));
            group.throughput(Throughput::Elements(length));
            group.bench_function(length.to_string(), |b| {
                let store = fill();
                b.iter(|| {
                    let mut tally = Tally::default();
                    store
                        .scan(&query, &mut |key, value| {
                            tally.add(key, value);
                            Ok(ControlFlow::Continue(()))
                        })
                        .expect("scan");
                    assert_eq!(tally.entries, length);
                    black_box(tally.bytes)
                });
            });
            group.finish();

            let Some(native) = &native else { continue };
            let mut group = c.benchmark_group(format!("scan_native/{engine}/{name}"));
            group.throughput(Throughput::Elements(length));
            group.bench_function(length.to_string(), |b| {
                fill();
                b.iter(|| {
                    let mut tally = Tally::default();
                    native
                        .scan(
                            &start,
                            &end,
                            direction == Direction::Reverse,
                            &mut |key, value| tally.add(key, value),
                        )
                        .expect("native scan");
                    assert_eq!(tally.entries, length);
                    black_box(tally.bytes)
                });
            });
            group.finish();
        }
    }
    if let Some(store) = filled.into_inner() {
        store.close().expect("close");
    }
}

fn all(c: &mut Criterion) {
    for engine in Backend::compiled() {
        scans(c, engine);
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = all
}
criterion_main!(benches);
