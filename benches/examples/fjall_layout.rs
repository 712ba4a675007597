//! fsmstore's table layout for fjall's `data` keyspace against fjall's default layout,
//! measured in pairs.
//!
//! Fills two fjall stores through fsmstore as the `cold_start` bench fills its stores
//! (random keys, NoSync applies, a checkpoint, a clean close). One is created as
//! fsmstore creates it (`fsmstore_fjall::layout`); the other has its `data` keyspace
//! recreated with fjall's default options before the fill, which fjall then keeps. It
//! prints what the fill wrote to disk, then measures both stores in alternating rounds
//! (which one goes first alternates too):
//!
//! - **open**: a reopen, timed alone;
//! - **first reads**: the first 100 reads of present keys after that reopen, which load
//!   what the open did not;
//! - **hit** and **miss**: reads of present and absent keys on an open store.
//!
//! Each line is the median over the rounds, and the median of the per-round ratios.
//!
//! ```sh
//! cargo run --release -p fsmstore-benches --example fjall_layout              # 1M keys
//! cargo run --release -p fsmstore-benches --example fjall_layout -- 10000000
//! ```

use std::path::Path;
use std::time::Instant;

use fsmstore::{Backend, Config, Engine, SyncMode};
use fsmstore_benches::{bulk_fill, median, mix, pair};

/// Alternating rounds (odd, so the median is one round).
const ROUNDS: usize = 11;

/// Reads per round of the hit and miss cases.
const READS: u64 = 100_000;

/// Reads timed after each reopen.
const FIRST_READS: u64 = 100;

fn main() {
    let keys: u64 = match std::env::args().nth(1) {
        Some(keys) => keys.parse().expect("a number of keys"),
        None => 1_000_000,
    };
    // On the project's disk, as the benches' stores.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    std::fs::create_dir_all(&target).expect("cannot create target/tmp");
    let dir = tempfile::Builder::new()
        .prefix("fsmstore-fjall-layout-")
        .tempdir_in(&target)
        .expect("create a directory under the target directory");
    let ours = dir.path().join("fsmstore");
    let default = dir.path().join("default");
    let config = Config::new(SyncMode::NoSync);
    let open = |store: &Path| fsmstore::open(Backend::Fjall, store, &config).expect("open");

    fsmstore::open(Backend::Fjall, &default, &config)
        .and_then(|store| store.close())
        .expect("create the store");
    with_default_layout(&default).expect("recreate the data keyspace");
    println!("{keys} keys");
    for (name, store) in [("fsmstore", &ours), ("fjall default", &default)] {
        let written = disk_writes();
        let started = Instant::now();
        let engine = open(store);
        let index = bulk_fill(&*engine, keys as usize);
        engine.set_durable_applied_index(index).expect("checkpoint");
        engine.close().expect("close");
        println!(
            "fill, {name}: {:.1} s, {} MiB written",
            started.elapsed().as_secs_f64(),
            (disk_writes() - written) >> 20
        );
    }

    // Per case, the value of each round for each store, in the order of `stores`.
    let stores = [&ours, &default];
    let names = ["open (ms)", "first reads (µs)", "hit (ns)", "miss (ns)"];
    let mut samples: [[Vec<f64>; 2]; 4] = Default::default();
    for round in 0..ROUNDS as u64 {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let started = Instant::now();
            let engine = open(stores[side]);
            let opened = started.elapsed().as_secs_f64() * 1e3;
            let first = reads(&*engine, round, FIRST_READS, keys, true) * 1e6;
            let hit = reads(&*engine, round, READS, keys, true) * 1e9;
            let miss = reads(&*engine, round, READS, keys, false) * 1e9;
            engine.close().expect("close");
            for (case, value) in samples.iter_mut().zip([opened, first, hit, miss]) {
                case[side].push(value);
            }
        }
    }
    println!("| case | fsmstore | fjall default | fsmstore ÷ default |");
    println!("|---|---:|---:|---:|");
    for (name, [ours, default]) in names.iter().zip(&mut samples) {
        let mut ratios: Vec<f64> = ours.iter().zip(&*default).map(|(a, b)| a / b).collect();
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            median(ours),
            median(default),
            median(&mut ratios)
        );
    }
}

/// Recreates the empty `data` keyspace of the fjall store in `store` with fjall's
/// default options.
fn with_default_layout(store: &Path) -> fjall::Result<()> {
    let db = fjall::Database::builder(store.join("fjall")).open()?;
    db.delete_keyspace(db.keyspace("data", fjall::KeyspaceCreateOptions::default)?)?;
    db.keyspace("data", fjall::KeyspaceCreateOptions::default)?;
    Ok(())
}

/// The mean seconds of one of `count` reads of keys the fill wrote (`present`) or did
/// not, picked by a hash of the round.
fn reads(engine: &dyn Engine, round: u64, count: u64, keys: u64, present: bool) -> f64 {
    let started = Instant::now();
    for read in 0..count {
        let slot = mix(round << 32 | read) % keys;
        let slot = if present { slot } else { keys + slot };
        let value = engine.get(&pair(slot).0).expect("get");
        assert_eq!(value.is_some(), present);
    }
    started.elapsed().as_secs_f64() / count as f64
}

/// Bytes this process has caused to be written to disk so far.
fn disk_writes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("read /proc/self/io");
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|bytes| bytes.parse().ok())
        .expect("write_bytes in /proc/self/io")
}
