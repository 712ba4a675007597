//! The applied index: how it is stored, advanced, skipped, pinned and read back, with
//! and without data in the same batch, across reopens.

use fsmstore::{APPLIED_INDEX_KEY, ApplyOutcome, Bytes, Error, SyncMode, WriteBatch};

use crate::Harness;
use crate::support::{applied, apply_at, get_string, put};

/// A new store has no applied index: it reads as `None`, not 0 and not an error.
pub fn a_new_store_has_no_applied_index(h: &Harness) {
    let store = h.open_sync();
    assert_eq!(applied(&*store), None);
    assert_eq!(store.get_meta(APPLIED_INDEX_KEY).expect("meta"), None);
}

/// The index round-trips every bit: 0xDEAD_BEEF_CAFE_F00D, stored as 8 bytes LE.
pub fn the_index_round_trips_0xdead_beef_cafe_f00d(h: &Harness) {
    let index = 0xDEAD_BEEF_CAFE_F00D;
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), index);
    assert_eq!(applied(&*store), Some(index));
    assert_eq!(
        store.get_meta(APPLIED_INDEX_KEY).expect("meta").as_deref(),
        Some(&index.to_le_bytes()[..])
    );
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(applied(&*store), Some(index));
}

/// `apply` with index 42 lands the data and the index together.
pub fn apply_with_an_index_lands_data_and_index_together(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &put("k", "v"), 42);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
    assert_eq!(applied(&*store), Some(42));
}

/// `apply` without an index leaves a seeded index (7) where it was.
pub fn apply_without_an_index_leaves_the_index_alone(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 7);
    let outcome = store.apply(&put("k", "v"), None).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Applied { index: None });
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
    assert_eq!(applied(&*store), Some(7));
}

/// A delete-prefix batch bundles its index (99) like a put batch.
pub fn apply_with_delete_prefix_bundles_the_index(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("p/1", "v"), 1);
    let mut batch = WriteBatch::new();
    batch.delete_prefix("p/", None);
    apply_at(&*store, &batch, 99);
    assert_eq!(get_string(&*store, "p/1"), None);
    assert_eq!(applied(&*store), Some(99));
}

/// Under NoSync, a checkpoint survives close and reopen.
pub fn a_checkpoint_survives_close_and_reopen_under_nosync(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &put("k", "v"), 10);
    assert_eq!(store.set_durable_applied_index(10).expect("pin"), 10);
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(10));
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// A stored index that is not 8 bytes (here 2) reads as missing, also after reopen,
/// and the next apply repairs it.
pub fn a_truncated_index_reads_as_missing(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 5);
    let mut damage = WriteBatch::new();
    damage.put_meta(APPLIED_INDEX_KEY, vec![0x01, 0x02]);
    store.write(&damage).expect("write a truncated index");
    assert_eq!(applied(&*store), None);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(applied(&*store), None);
    apply_at(&*store, &put("k", "v"), 3);
    assert_eq!(applied(&*store), Some(3));
}

/// A checkpoint below a later apply (250, then pin 100) keeps 250.
pub fn a_checkpoint_below_the_applied_index_keeps_the_higher_index(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 250);
    assert_eq!(store.set_durable_applied_index(100).expect("pin"), 250);
    assert_eq!(applied(&*store), Some(250));
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(250));
}

/// Checkpoints only move forward: pins 50, 100, 75, 100 (each after the applies up to
/// it) end at 100.
pub fn checkpoints_only_move_forward(h: &Harness) {
    let store = h.open_nosync();
    for (pin, expected) in [(50, 50), (100, 100), (75, 100), (100, 100)] {
        if applied(&*store) < Some(pin) {
            apply_at(&*store, &WriteBatch::new(), pin);
        }
        assert_eq!(store.set_durable_applied_index(pin).expect("pin"), expected);
        assert_eq!(applied(&*store), Some(expected));
    }
}

/// A pin above the applied index (5) is refused and changes nothing: had it written
/// index 9, the applies of 6 to 9 would be skipped as replays, and those entries lost.
pub fn a_pin_above_the_applied_index_is_refused_and_skips_nothing(h: &Harness) {
    let store = h.open_nosync();
    assert!(matches!(
        store.set_durable_applied_index(1),
        Err(Error::InvalidArgument(_))
    ));
    apply_at(&*store, &put("k5", "v"), 5);
    assert!(matches!(
        store.set_durable_applied_index(9),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(applied(&*store), Some(5));
    for index in 6..=9 {
        let outcome = store
            .apply(&put(&format!("k{index}"), "v"), Some(index))
            .expect("apply");
        assert_eq!(outcome, ApplyOutcome::Applied { index: Some(index) });
    }
    assert_eq!(store.set_durable_applied_index(9).expect("pin"), 9);
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(9));
    assert_eq!(get_string(&*store, "k7").as_deref(), Some("v"));
}

/// Replaying an applied raft entry is a no-op that reports `Skipped`.
pub fn replaying_an_applied_index_is_skipped_and_writes_nothing(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "first"), 5);
    let outcome = store.apply(&put("k", "replayed"), Some(5)).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Skipped { applied: 5 });
    assert_eq!(get_string(&*store, "k").as_deref(), Some("first"));
    assert_eq!(applied(&*store), Some(5));
}

/// An index below the applied one is skipped: nothing it carries is written.
pub fn a_stale_index_is_skipped_and_writes_nothing(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "current"), 10);
    let mut stale = put("k", "stale");
    stale.put("new", "x").put_meta("m", "x");
    let outcome = store.apply(&stale, Some(3)).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Skipped { applied: 10 });
    assert_eq!(get_string(&*store, "k").as_deref(), Some("current"));
    assert_eq!(get_string(&*store, "new"), None);
    assert_eq!(store.get_meta(b"m").expect("meta"), None);
    assert_eq!(applied(&*store), Some(10));
}

/// The skip decision survives reopen: the index is loaded at open.
pub fn a_replay_after_reopen_is_still_skipped(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 8);
    let store = h.reopen(store, SyncMode::Sync);
    let outcome = store.apply(&put("k", "again"), Some(8)).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Skipped { applied: 8 });
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// An empty batch with an index advances the index (entries with no data still count).
pub fn an_empty_batch_with_an_index_advances_the_index(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    apply_at(&*store, &WriteBatch::new(), 2);
    assert_eq!(applied(&*store), Some(2));
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// Index 0 is not a raft index: `apply` and the checkpoint reject it and write nothing.
pub fn index_zero_is_rejected(h: &Harness) {
    let store = h.open_sync();
    assert!(matches!(
        store.apply(&put("k", "v"), Some(0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        store.set_durable_applied_index(0),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(get_string(&*store, "k"), None);
    assert_eq!(applied(&*store), None);
}

/// Indices need not be consecutive, and the largest index is accepted.
pub fn indices_may_jump_up_to_u64_max(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("a", "1"), 3);
    apply_at(&*store, &put("b", "2"), 1_000_000);
    apply_at(&*store, &put("c", "3"), u64::MAX);
    assert_eq!(applied(&*store), Some(u64::MAX));
    let outcome = store.apply(&put("d", "4"), Some(u64::MAX)).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Skipped { applied: u64::MAX });
}

/// In Sync mode an applied index survives close and reopen without any checkpoint.
pub fn a_sync_apply_survives_reopen_without_a_checkpoint(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 12);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(applied(&*store), Some(12));
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// `write` bypasses raft: it never moves the index, and it is durable across reopen
/// even in NoSync.
pub fn write_leaves_the_index_and_survives_reopen_in_nosync(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 4);
    store.write(&put("direct", "v")).expect("write");
    assert_eq!(applied(&*store), Some(4));
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(get_string(&*store, "direct").as_deref(), Some("v"));
    assert_eq!(applied(&*store), Some(4));
}

/// Deleting the index meta key through `write` resets the index; applies start over.
pub fn deleting_the_index_key_resets_the_index(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 20);
    let mut reset = WriteBatch::new();
    reset.delete_meta(APPLIED_INDEX_KEY);
    store.write(&reset).expect("write");
    assert_eq!(applied(&*store), None);
    apply_at(&*store, &put("k", "v"), 1);
    assert_eq!(applied(&*store), Some(1));
}

/// An index written through `put_meta` and a bundled index in the same apply: the
/// bundled one is written last and wins.
pub fn the_bundled_index_wins_over_an_explicit_index_write(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    batch.put_meta(
        APPLIED_INDEX_KEY,
        Bytes::copy_from_slice(&900u64.to_le_bytes()),
    );
    apply_at(&*store, &batch, 30);
    assert_eq!(applied(&*store), Some(30));
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(applied(&*store), Some(30));
}

/// Setting the applied index to 0 through `put_meta` is refused (0 is no raft index, and
/// a snapshot header cannot tell it from "none"): the store stays exportable and its
/// export restores.
pub fn an_applied_index_of_zero_written_as_meta_is_refused(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 3);
    let mut batch = WriteBatch::new();
    batch.put_meta(APPLIED_INDEX_KEY, 0_u64.to_le_bytes().to_vec());
    assert!(matches!(
        store.write(&batch),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        store.apply(&batch, None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(applied(&*store), Some(3));
    let mut stream = Vec::new();
    store.export(&mut stream).expect("export");
    store
        .restore(&mut stream.as_slice())
        .expect("the export restores");
    assert_eq!(applied(&*store), Some(3));
}
