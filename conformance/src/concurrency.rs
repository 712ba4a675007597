//! Concurrency: applies, pins and readers racing on one store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use fsmstore::{ApplyOutcome, Bytes, Engine, Error, SyncMode, WriteBatch};

use crate::Harness;
use crate::support::{applied, put};

const APPLIES: u64 = 300;

/// How long the writer waits, halfway, for a pinner to pin ahead of it.
const PIN_WAIT: Duration = Duration::from_secs(10);

/// Threads applying increasing indices while others pin older ones and newer ones: the
/// index never goes backwards, as seen by any reader; a pin at or below the applied
/// index makes at least that index durable; a pin ahead of the applies is refused and
/// writes nothing, so no apply is ever skipped; and the index ends at the last apply.
/// Halfway, the writer waits until a pinner has tried to pin ahead of it, and at three
/// quarters until a pin has held, so that both race the applies whatever the scheduler
/// does.
pub fn racing_pins_never_move_the_index_backwards(h: &Harness) {
    let store = h.open_nosync();
    let store: &dyn Engine = &*store;
    let done = AtomicBool::new(false);
    let last_applied = AtomicU64::new(0);
    let pins_ahead = AtomicU64::new(0);
    let pins_held = AtomicU64::new(0);
    let (writer_waits, pinned_while_waiting) = (AtomicBool::new(false), AtomicBool::new(false));
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for index in 1..=APPLIES {
                if index == APPLIES / 2 {
                    writer_waits.store(true, Ordering::SeqCst);
                    let deadline = Instant::now() + PIN_WAIT;
                    while !pinned_while_waiting.load(Ordering::SeqCst) && Instant::now() < deadline
                    {
                        thread::yield_now();
                    }
                    writer_waits.store(false, Ordering::SeqCst);
                }
                if index == APPLIES * 3 / 4 {
                    // And until a pin at or below the index held, which the rounds that
                    // do not pin ahead make as soon as a pinner runs.
                    let deadline = Instant::now() + PIN_WAIT;
                    while pins_held.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
                        thread::yield_now();
                    }
                }
                let outcome = store
                    .apply(&put("k", &index.to_string()), Some(index))
                    .expect("apply");
                assert_eq!(
                    outcome,
                    ApplyOutcome::Applied { index: Some(index) },
                    "a pin made a new entry a replay"
                );
                last_applied.store(index, Ordering::SeqCst);
                thread::yield_now();
            }
            done.store(true, Ordering::SeqCst);
        });
        for pinner in 0..2u64 {
            let (done, last_applied, pins_ahead, pins_held) =
                (&done, &last_applied, &pins_ahead, &pins_held);
            let (writer_waits, pinned_while_waiting) = (&writer_waits, &pinned_while_waiting);
            scope.spawn(move || {
                let mut round = 0u64;
                while !done.load(Ordering::SeqCst) {
                    round += 1;
                    // Read before the index: while the writer waits, it cannot move.
                    let waiting = writer_waits.load(Ordering::SeqCst);
                    let now = last_applied.load(Ordering::SeqCst);
                    // Older pins keep the index; every third round pins ahead of the
                    // applies, which must be refused.
                    let index = if waiting || round.is_multiple_of(3) {
                        now + 2 + pinner
                    } else {
                        now.saturating_sub(5 + pinner)
                    };
                    if index > 0 {
                        match store.set_durable_applied_index(index) {
                            Ok(pinned) => {
                                assert!(pinned >= index);
                                pins_held.fetch_add(1, Ordering::SeqCst);
                            }
                            // Ahead of the applies: the writer may have caught up
                            // meanwhile, so only a refusal names the case.
                            Err(Error::InvalidArgument(_)) if index > now => {
                                pins_ahead.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(error) => panic!("pin {index} failed: {error}"),
                        }
                        if waiting {
                            pinned_while_waiting.store(true, Ordering::SeqCst);
                        }
                    }
                    thread::yield_now();
                }
            });
        }
        scope.spawn(|| {
            let mut seen = 0;
            while !done.load(Ordering::SeqCst) {
                let now = applied(store).unwrap_or(0);
                assert!(now >= seen, "applied index went back from {seen} to {now}");
                seen = now;
            }
        });
        writer.join().expect("the writer");
    });
    assert!(
        pins_ahead.load(Ordering::SeqCst) > 0,
        "no pin ran ahead of the applies"
    );
    assert!(pins_held.load(Ordering::SeqCst) > 0, "no pin ever held");
    assert_eq!(applied(store), Some(APPLIES));
}

/// Several threads race to apply the same raft entries: each index is applied exactly
/// once, whichever thread wins.
pub fn racing_appliers_apply_each_index_exactly_once(h: &Harness) {
    let store = h.open_nosync();
    let store: &dyn Engine = &*store;
    let wins = AtomicU64::new(0);
    thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                for index in 1..=100u64 {
                    let mut batch = WriteBatch::new();
                    batch.put(format!("entry/{index:03}"), "x");
                    match store.apply(&batch, Some(index)).expect("apply") {
                        ApplyOutcome::Applied { .. } => {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                        ApplyOutcome::Skipped { applied } => assert!(applied >= index),
                    }
                }
            });
        }
    });
    assert_eq!(wins.load(Ordering::SeqCst), 100);
    assert_eq!(store.scan_prefix(b"entry/").expect("scan").len(), 100);
    assert_eq!(applied(store), Some(100));
}

/// A scan is one consistent view: a writer that sets two keys to the same value in each
/// batch never lets a reader see them differ.
pub fn a_scan_never_sees_half_a_batch(h: &Harness) {
    let store = h.open(SyncMode::NoSync);
    let store: &dyn Engine = &*store;
    store
        .apply(
            &crate::support::puts(&[("pair/a", "0"), ("pair/b", "0")]),
            Some(1),
        )
        .expect("seed");
    let done = AtomicBool::new(false);
    let scans = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            for index in 2..=200u64 {
                let value = index.to_string();
                let batch = crate::support::puts(&[("pair/a", &value), ("pair/b", &value)]);
                store.apply(&batch, Some(index)).expect("apply");
            }
            done.store(true, Ordering::SeqCst);
        });
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) || scans.load(Ordering::SeqCst) < 2 {
                let pairs = store.scan_prefix(b"pair/").expect("scan");
                assert_eq!(pairs.len(), 2);
                assert_eq!(pairs[0].1, pairs[1].1, "a scan saw half a batch");
                scans.fetch_add(1, Ordering::SeqCst);
            }
        });
    });
    assert!(
        scans.load(Ordering::SeqCst) >= 2,
        "the reader never scanned"
    );
    let pairs = store.scan_prefix(b"pair/").expect("scan");
    assert_eq!(pairs[0].1, Bytes::from("200"));
}
