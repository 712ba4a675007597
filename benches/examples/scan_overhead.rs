//! A range scan through fsmstore ÷ the same scan through the engine's own API, measured
//! in pairs.
//!
//! The criterion cases `scan/…` and `scan_native/…` run seconds apart, and on a shared
//! host a case can land in a period when everything runs slower: one run can put a
//! ratio 10–20% off either way. This fills the same 1M keys as the bench into a store
//! and a baseline, settles both as the bench does, then measures the two sides in
//! alternating blocks (which side goes first alternates too) and prints, per case, the
//! median of the per-round ratios with its p25–p75, so a slow period hits both sides.
//!
//! ```sh
//! cargo run --release -p fsmstore-benches --example scan_overhead             # every engine with a baseline
//! cargo run --release -p fsmstore-benches --example scan_overhead -- heed fjall
//! ```

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use fsmstore::{Backend, Config, Direction, Engine, RangeQuery, SyncMode, WriteBatch};
use fsmstore_benches::native::{self, NativeStore};
use fsmstore_benches::scan_pair;

/// Keys in each store, and the scan lengths: the bench's.
const KEYS: u64 = 1_000_000;
const LENGTHS: [u64; 2] = [1_000, 100_000];

/// Alternating rounds per case (odd, so the median is one round).
const ROUNDS: usize = 21;

/// Entries scanned per block: blocks of a few milliseconds, whatever the scan length.
const BLOCK_ENTRIES: u64 = 400_000;

fn main() {
    let engines: Vec<Backend> = match std::env::args().skip(1).collect::<Vec<_>>() {
        names if names.is_empty() => Backend::compiled(),
        names => names
            .iter()
            .map(|name| {
                name.parse()
                    .unwrap_or_else(|error| panic!("{name}: {error}"))
            })
            .collect(),
    };
    // On the project's disk, as the benches' stores.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    std::fs::create_dir_all(&target).expect("cannot create target/tmp");
    println!("| engine | direction | entries | fsmstore ÷ engine's API (p25–p75) |");
    println!("|---|---|---:|---:|");
    for engine in engines {
        let dir = tempfile::Builder::new()
            .prefix("fsmstore-scan-overhead-")
            .tempdir_in(&target)
            .expect("create a directory under the target directory");
        let Some((store, native)) = filled(engine, dir.path()) else {
            continue;
        };
        for length in LENGTHS {
            let first = KEYS / 2 - length / 2;
            let (start, end) = (scan_pair(first).0, scan_pair(first + length).0);
            for direction in [Direction::Forward, Direction::Reverse] {
                let query = RangeQuery::new(start.to_vec()..end.to_vec()).direction_of(direction);
                let reverse = direction == Direction::Reverse;
                let through_store = || {
                    let mut entries = 0;
                    store
                        .scan(&query, &mut |_, value| {
                            entries += 1;
                            std::hint::black_box(value);
                            Ok(ControlFlow::Continue(()))
                        })
                        .expect("scan");
                    assert_eq!(entries, length);
                };
                let through_engine = || {
                    let mut entries = 0;
                    native
                        .scan(&start, &end, reverse, &mut |_, value| {
                            entries += 1;
                            std::hint::black_box(value);
                        })
                        .expect("native scan");
                    assert_eq!(entries, length);
                };
                let block = (BLOCK_ENTRIES / length).max(1);
                let mut ratios: Vec<f64> = (0..ROUNDS)
                    .map(|round| {
                        let (ours, theirs) = if round % 2 == 0 {
                            let ours = timed(block, through_store);
                            (ours, timed(block, through_engine))
                        } else {
                            let theirs = timed(block, through_engine);
                            (timed(block, through_store), theirs)
                        };
                        ours / theirs
                    })
                    .collect();
                ratios.sort_by(f64::total_cmp);
                let name = if reverse { "reverse" } else { "forward" };
                println!(
                    "| {engine} | {name} | {length} | {:.3} ({:.3}–{:.3}) |",
                    ratios[ROUNDS / 2],
                    ratios[ROUNDS / 4],
                    ratios[ROUNDS * 3 / 4]
                );
            }
        }
        store.close().expect("close the store");
    }
}

/// A store and its baseline with the same keys, settled as the scan bench settles them;
/// `None` for an engine without a baseline.
fn filled(engine: Backend, dir: &Path) -> Option<(Box<dyn Engine>, Box<dyn NativeStore>)> {
    let config = Config::new(SyncMode::NoSync);
    let store_dir = dir.join("store");
    let native =
        native::open(engine, &dir.join("native"), SyncMode::NoSync).expect("open the baseline")?;
    let store = fsmstore::open(engine, &store_dir, &config).expect("open the store");
    for (index, first) in (1..).zip((0..KEYS).step_by(10_000)) {
        let pairs: Vec<_> = (first..(first + 10_000).min(KEYS)).map(scan_pair).collect();
        let mut batch = WriteBatch::with_capacity(pairs.len());
        for (key, value) in &pairs {
            batch.put(key.to_vec(), value.to_vec());
        }
        store.apply(&batch, Some(index)).expect("fill the store");
        native.apply(&pairs, index).expect("fill the baseline");
    }
    if !native::settles(engine) {
        return Some((store, native));
    }
    native.settle().expect("settle the baseline");
    store.close().expect("close the store");
    native::settle_store(engine, &store_dir).expect("settle the store");
    let store = fsmstore::open(engine, &store_dir, &config).expect("reopen the store");
    Some((store, native))
}

/// The median seconds of one call of `scan`, over a block of `calls` calls.
fn timed(calls: u64, scan: impl Fn()) -> f64 {
    let mut times: Vec<f64> = (0..calls)
        .map(|_| {
            let started = Instant::now();
            scan();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
