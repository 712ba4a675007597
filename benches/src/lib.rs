//! Workloads and native-engine baselines for fsmstore's fsync benches.
//!
//! The criterion bench `benches/fsync.rs` measures, for every compiled-in engine (one cargo
//! feature per engine, as in the facade):
//!
//! - `apply/<engine>/<sync|nosync>/<ops>`: one [`Engine::apply`]
//!   of a batch of `ops` puts with an increasing index;
//! - `checkpoint/<engine>/after_1000_nosync`: one
//!   [`Engine::set_durable_applied_index`] after
//!   1000 NoSync applies, timed alone;
//! - `native/<engine>/<sync|nosync>/<ops>`: the same writes through the engine's own API
//!   ([`native`]), with the same durability and the same applied-index write;
//! - `floor/fdatasync_4k` and `floor/write_4k`: a 4 KiB append with and without
//!   `fdatasync`, on the same disk;
//! - `cold_start/<engine>/<skip|restore|after_kill>/<keys>`: a reopen and the restore
//!   gate after a clean close, a reopen and a restore, and (durable engines) a reopen
//!   and the gate of a store a writer killed with SIGKILL left; 100k and 1M keys, and
//!   10M with `FSMSTORE_BENCH_LARGE=1` (`cargo xtask bench --large`).
//!
//! `cargo xtask bench` runs it and `cargo xtask report` turns criterion's output into a
//! table and a chart. The example `overhead` measures `apply / native` in alternating
//! pairs, which a shared disk's drift between two criterion cases cannot blur.

use std::time::Duration;

use fsmstore::{Engine, WriteBatch};

pub mod native;

/// Length of every key the benches write.
pub const KEY_LEN: usize = 16;

/// Length of every value the benches write.
pub const VALUE_LEN: usize = 128;

/// The batch sizes (puts per apply) every engine is measured with.
pub const BATCH_SIZES: [usize; 3] = [1, 16, 256];

/// Distinct keys a workload cycles through, whatever its batch size. Bounded so that a
/// long run overwrites keys instead of growing the store without limit, and the same for
/// every batch size so every case works on a tree of the same size.
pub const KEY_SPACE: usize = 16 * 1024;

/// NoSync applies made before each measured checkpoint.
pub const CHECKPOINT_APPLIES: u64 = 1000;

/// One put: a key and a value.
pub type Pair = ([u8; KEY_LEN], [u8; VALUE_LEN]);

/// Prebuilt batches of `ops` puts, so building a batch is never part of a measurement.
///
/// Batch `n` holds keys `n * ops .. (n + 1) * ops` of the key space (wrapping), each
/// scattered by a hash so that inserts land all over the tree as real keys do, with
/// pseudo-random values that do not compress.
#[derive(Debug)]
pub struct Workload {
    ops: usize,
    pairs: Vec<Pair>,
    batches: Vec<WriteBatch>,
}

impl Workload {
    /// The batches of `ops` puts (`ops` between 1 and [`KEY_SPACE`]).
    pub fn new(ops: usize) -> Self {
        assert!(
            (1..=KEY_SPACE).contains(&ops),
            "a batch holds 1 to {KEY_SPACE} puts"
        );
        let count = KEY_SPACE / ops;
        let pairs: Vec<Pair> = (0..count * ops).map(|slot| pair(slot as u64)).collect();
        let batches = pairs
            .chunks(ops)
            .map(|chunk| {
                let mut batch = WriteBatch::with_capacity(ops);
                for (key, value) in chunk {
                    batch.put(key.to_vec(), value.to_vec());
                }
                batch
            })
            .collect();
        Self {
            ops,
            pairs,
            batches,
        }
    }

    /// Puts per batch.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// The batch to apply with raft index `index`.
    pub fn batch(&self, index: u64) -> &WriteBatch {
        &self.batches[self.slot(index)]
    }

    /// The same puts as [`Workload::batch`], as plain bytes for a native engine.
    pub fn pairs(&self, index: u64) -> &[Pair] {
        let start = self.slot(index) * self.ops;
        &self.pairs[start..start + self.ops]
    }

    fn slot(&self, index: u64) -> usize {
        // The modulus is below `batches.len()`, which is a usize.
        (index % self.batches.len() as u64) as usize
    }
}

/// The put for slot `slot` of the key space (any `u64`: stores larger than
/// [`KEY_SPACE`] use it too).
pub fn pair(slot: u64) -> Pair {
    let mut key = [0u8; KEY_LEN];
    key[..8].copy_from_slice(&mix(slot).to_be_bytes());
    key[8..].copy_from_slice(&slot.to_be_bytes());
    let mut value = [0u8; VALUE_LEN];
    let mut state = mix(slot ^ 0x5eed);
    for chunk in value.chunks_mut(8) {
        state = mix(state);
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    (key, value)
}

/// The put for slot `slot` of a scan store: keys in slot order (eight zero bytes, then
/// the slot big-endian), so that slots `a..b` are the key range
/// `scan_pair(a).0..scan_pair(b).0`.
pub fn scan_pair(slot: u64) -> Pair {
    let (_, value) = pair(slot);
    let mut key = [0u8; KEY_LEN];
    key[8..].copy_from_slice(&slot.to_be_bytes());
    (key, value)
}

/// Puts per apply while a cold-start store is filled: a bulk load in big NoSync batches
/// (10M keys fill in a few minutes), then one checkpoint.
pub fn fill_batch(keys: usize) -> usize {
    if keys > 1_000_000 { 100_000 } else { 10_000 }
}

/// Fills `store` with `keys` keys ([`pair`] slots `0..keys`) in NoSync applies of
/// [`fill_batch`] puts, the first at index 1; returns the last index (not checkpointed).
pub fn bulk_fill(store: &dyn Engine, keys: usize) -> u64 {
    let batch_len = fill_batch(keys);
    let mut index = 0;
    for start in (0..keys).step_by(batch_len) {
        let mut batch = WriteBatch::with_capacity(batch_len);
        for slot in start..(start + batch_len).min(keys) {
            let (key, value) = pair(slot as u64);
            batch.put(key.to_vec(), value.to_vec());
        }
        index += 1;
        store
            .apply(&batch, Some(index))
            .unwrap_or_else(|error| panic!("{} fill failed: {error}", store.engine_name()));
    }
    index
}

/// The measurement time to give criterion for the checkpoint case.
///
/// Criterion sizes a run by the timed part alone, but every timed checkpoint also costs
/// [`CHECKPOINT_APPLIES`] untimed applies: with the full measurement time a cheap
/// checkpoint would make a run of hours. Given one timed checkpoint (`timed`) and one
/// whole round (`round`: the applies plus the checkpoint), this is the measurement time
/// whose rounds take about `budget` of wall time, but at least one checkpoint per sample
/// (criterion runs that many whatever it is told), and never zero.
pub fn checkpoint_measurement(
    timed: Duration,
    round: Duration,
    budget: Duration,
    samples: u32,
) -> Duration {
    let rounds = budget.as_secs_f64() / round.as_secs_f64().max(1e-9);
    let timed_share = (timed.as_secs_f64() * rounds / budget.as_secs_f64().max(1e-9)).min(1.0);
    budget
        .mul_f64(timed_share)
        .max(timed * samples)
        .max(Duration::from_millis(1))
}

/// The median of `values` (the upper one of an even count); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// splitmix64's finaliser: a cheap, well-spread hash.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use fsmstore::Op;

    use super::*;

    #[test]
    fn a_cheap_checkpoint_gets_a_short_measurement() {
        let budget = Duration::from_secs(5);
        let ms = Duration::from_millis;
        // 2 ms checkpoints after 10 ms of applies: 5 s of rounds is ~417 checkpoints.
        let measured = checkpoint_measurement(ms(2), ms(12), budget, 100);
        assert!((800..=850).contains(&measured.as_millis()), "{measured:?}");
        // A checkpoint that costs nothing still gets a positive measurement time.
        let measured =
            checkpoint_measurement(Duration::ZERO, Duration::from_micros(500), budget, 100);
        assert_eq!(measured, ms(1));
        // A round that is all checkpoint keeps the whole budget.
        assert_eq!(checkpoint_measurement(ms(5), ms(5), budget, 100), budget);
        // Never less than one checkpoint per sample.
        assert_eq!(
            checkpoint_measurement(ms(20), ms(200), budget, 100),
            ms(2000)
        );
        assert_eq!(
            checkpoint_measurement(ms(60), ms(60), budget, 100),
            ms(6000)
        );
    }

    #[test]
    fn every_batch_size_cycles_through_the_whole_key_space() {
        for ops in BATCH_SIZES {
            let workload = Workload::new(ops);
            let count = (KEY_SPACE / ops) as u64;
            let mut keys = HashSet::new();
            for index in 0..count {
                assert_eq!(workload.batch(index).len(), ops);
                for (key, value) in workload.pairs(index) {
                    assert_eq!((key.len(), value.len()), (KEY_LEN, VALUE_LEN));
                    keys.insert(*key);
                }
            }
            assert_eq!(keys.len(), KEY_SPACE, "{ops} ops per batch");
            assert_eq!(workload.pairs(count), workload.pairs(0));
        }
    }

    #[test]
    fn the_batch_and_the_pairs_of_an_index_hold_the_same_puts() {
        let workload = Workload::new(16);
        for index in [1, 7, 1023, 1024, 5000] {
            let from_batch: Vec<(&[u8], &[u8])> = workload
                .batch(index)
                .ops()
                .iter()
                .map(|op| match op {
                    Op::Put { key, value } => (key.as_ref(), value.as_ref()),
                    other => panic!("unexpected op {other:?}"),
                })
                .collect();
            let from_pairs: Vec<(&[u8], &[u8])> = workload
                .pairs(index)
                .iter()
                .map(|(key, value)| (&key[..], &value[..]))
                .collect();
            assert_eq!(from_batch, from_pairs);
        }
    }
}
