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
use fsmstore_benches::{bulk_fill, pair};

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

    let mut cases: [Case; 4] =
        ["open (ms)", "first reads (µs)", "hit (ns)", "miss (ns)"].map(|name| Case {
            name,
            ours: Vec::new(),
            default: Vec::new(),
        });
    for round in 0..ROUNDS as u64 {
        let sides = if round % 2 == 0 {
            [(&ours, true), (&default, false)]
        } else {
            [(&default, false), (&ours, true)]
        };
        for (store, is_ours) in sides {
            let started = Instant::now();
            let engine = open(store);
            let opened = started.elapsed().as_secs_f64() * 1e3;
            let first = reads(&*engine, round, FIRST_READS, keys, true) * 1e6;
            let hit = reads(&*engine, round, READS, keys, true) * 1e9;
            let miss = reads(&*engine, round, READS, keys, false) * 1e9;
            engine.close().expect("close");
            for (case, value) in cases.iter_mut().zip([opened, first, hit, miss]) {
                if is_ours {
                    &mut case.ours
                } else {
                    &mut case.default
                }
                .push(value);
            }
        }
    }
    println!("| case | fsmstore | fjall default | fsmstore ÷ default |");
    println!("|---|---:|---:|---:|");
    for case in &cases {
        let ratios = case.ours.iter().zip(&case.default).map(|(a, b)| a / b);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} |",
            case.name,
            median(case.ours.iter().copied()),
            median(case.default.iter().copied()),
            median(ratios)
        );
    }
}

/// One measured quantity, per round, for each layout.
struct Case {
    name: &'static str,
    ours: Vec<f64>,
    default: Vec<f64>,
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
        // A key's first eight bytes are a hash of its slot.
        let slot = pair(round << 32 | read).0[..8]
            .iter()
            .fold(0u64, |slot, byte| slot << 8 | u64::from(*byte))
            % keys;
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

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
