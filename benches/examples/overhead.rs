//! fsmstore's overhead over each engine's own API, measured in pairs.
//!
//! The criterion cases `apply/…` and `native/…` run one after the other, seconds apart;
//! on a shared disk the drift between them can exceed the few percent the ratio is
//! about. This measures the two sides in alternating blocks on the same workload (which
//! side goes first alternates too), and reports the median of the per-round ratios, so
//! drift hits both sides alike.
//!
//! ```sh
//! cargo run --release -p fsmstore-benches --example overhead               # every engine, both modes
//! cargo run --release -p fsmstore-benches --example overhead -- fjall nosync 256
//! # one side alone, e.g. to count syscalls or profile:
//! strace -f -c -e trace=fsync,fdatasync ./target/release/examples/overhead redb sync 1 --only apply --iters 1000
//! ```

use std::path::Path;
use std::time::Instant;

use fsmstore::{Backend, Config, Engine, SyncMode};
use fsmstore_benches::native::{self, NativeStore};
use fsmstore_benches::{BATCH_SIZES, Workload, median};

/// Alternating rounds per case (odd, so the median is one round).
const ROUNDS: usize = 41;

/// What to measure.
struct Options {
    engines: Vec<Backend>,
    modes: Vec<SyncMode>,
    sizes: Vec<usize>,
    only: Option<Side>,
    iters: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Apply,
    Native,
}

fn usage() -> ! {
    eprintln!(
        "usage: overhead [ENGINE]... [sync|nosync] [PUTS]... [--only apply|native] [--iters N]"
    );
    std::process::exit(2)
}

fn parse() -> Options {
    let mut options = Options {
        engines: Vec::new(),
        modes: Vec::new(),
        sizes: Vec::new(),
        only: None,
        iters: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => {
                options.only = match args.next().as_deref() {
                    Some("apply") => Some(Side::Apply),
                    Some("native") => Some(Side::Native),
                    _ => usage(),
                }
            }
            "--iters" => {
                options.iters = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            other => {
                if let Ok(mode) = other.parse::<SyncMode>() {
                    options.modes.push(mode);
                } else if let Ok(size) = other.parse::<usize>() {
                    options.sizes.push(size);
                } else if let Ok(engine) = other.parse::<Backend>() {
                    options.engines.push(engine);
                } else {
                    usage()
                }
            }
        }
    }
    if options.engines.is_empty() {
        options.engines = Backend::compiled();
    }
    options.engines.retain(|engine| *engine != Backend::Memory);
    if options.modes.is_empty() {
        options.modes = vec![SyncMode::Sync, SyncMode::NoSync];
    }
    if options.sizes.is_empty() {
        options.sizes = BATCH_SIZES.to_vec();
    }
    options
}

/// Applies in a block: enough for ~20-100 ms per block whatever the case costs.
fn block(mode: SyncMode, ops: usize) -> u64 {
    match (mode, ops) {
        (SyncMode::Sync, _) => 20,
        (SyncMode::NoSync, 1) => 4000,
        (SyncMode::NoSync, 16) => 1000,
        (SyncMode::NoSync, _) => 100,
    }
}

/// Both sides of one case, each with its own store and index.
struct Pair<'a> {
    workload: &'a Workload,
    store: Box<dyn Engine>,
    native: Box<dyn NativeStore>,
    store_index: u64,
    native_index: u64,
}

impl Pair<'_> {
    /// Seconds per apply over `n` applies on `side`.
    fn run(&mut self, side: Side, n: u64) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            match side {
                Side::Apply => {
                    self.store_index += 1;
                    let index = self.store_index;
                    self.store
                        .apply(self.workload.batch(index), Some(index))
                        .expect("apply failed");
                }
                Side::Native => {
                    self.native_index += 1;
                    let index = self.native_index;
                    self.native
                        .apply(self.workload.pairs(index), index)
                        .expect("native apply failed");
                }
            }
        }
        start.elapsed().as_secs_f64() / n.max(1) as f64
    }
}

fn main() {
    let options = parse();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    std::fs::create_dir_all(&target).expect("cannot create target/tmp");
    if options.only.is_none() {
        println!(
            "| engine | mode | puts/batch | apply | native | paired apply ÷ native (p25–p75) |"
        );
        println!("|---|---|---:|---:|---:|---:|");
    }
    for engine in &options.engines {
        for mode in &options.modes {
            for &ops in &options.sizes {
                let workload = Workload::new(ops);
                let dir = tempfile::tempdir_in(&target).expect("cannot create a directory");
                let store = fsmstore::open(*engine, dir.path().join("store"), &Config::new(*mode))
                    .expect("cannot open the store");
                assert_eq!(store.sync_mode(), *mode, "unset FSMSTORE_SYNC_MODE");
                let Some(native) = native::open(*engine, &dir.path().join("native"), *mode)
                    .expect("cannot open the native engine")
                else {
                    continue;
                };
                let mut pair = Pair {
                    workload: &workload,
                    store,
                    native,
                    store_index: 0,
                    native_index: 0,
                };
                let block = block(*mode, ops);
                if let Some(side) = options.only {
                    pair.run(side, options.iters.unwrap_or(block * 10));
                    continue;
                }
                pair.run(Side::Apply, block * 3);
                pair.run(Side::Native, block * 3);
                let (mut apply, mut native, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    let (a, n) = if round % 2 == 0 {
                        let a = pair.run(Side::Apply, block);
                        (a, pair.run(Side::Native, block))
                    } else {
                        let n = pair.run(Side::Native, block);
                        (pair.run(Side::Apply, block), n)
                    };
                    apply.push(a);
                    native.push(n);
                    ratios.push(a / n);
                }
                let ratio = median(&mut ratios);
                println!(
                    "| {engine} | {mode} | {ops} | {:.1} µs | {:.1} µs | {ratio:.3} ({:.3}–{:.3}) |",
                    median(&mut apply) * 1e6,
                    median(&mut native) * 1e6,
                    ratios[ROUNDS / 4],
                    ratios[ROUNDS * 3 / 4],
                );
            }
        }
    }
}
