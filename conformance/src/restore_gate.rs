//! The cold-start restore gate: skip only when the stored index covers the snapshot.

use fsmstore::{
    APPLIED_INDEX_KEY, FallbackReason, RestoreDecision, SyncMode, WriteBatch, decide_restore,
};

use crate::Harness;
use crate::support::{FaultyEngine, apply_at};

/// A store exactly at the snapshot's index skips the restore.
pub fn a_store_at_the_snapshot_index_skips_the_restore(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 100);
    let decision = decide_restore(&*store, 100);
    assert!(
        matches!(decision, RestoreDecision::Skip { applied: 100 }),
        "{decision:?}"
    );
    assert!(!decision.must_restore());
    assert_eq!(decision.outcome(), "skipped");
}

/// A store past the snapshot's index skips the restore and reports its own index.
pub fn a_store_past_the_snapshot_index_skips_the_restore(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 150);
    assert!(matches!(
        decide_restore(&*store, 100),
        RestoreDecision::Skip { applied: 150 }
    ));
}

/// A store behind the snapshot restores it.
pub fn a_store_behind_the_snapshot_executes_the_restore(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 99);
    let decision = decide_restore(&*store, 100);
    assert!(
        matches!(decision, RestoreDecision::Execute { applied: 99 }),
        "{decision:?}"
    );
    assert!(decision.must_restore());
    assert_eq!(decision.outcome(), "executed");
}

/// A store with no index falls back to restoring.
pub fn a_store_without_an_index_falls_back_to_restoring(h: &Harness) {
    let store = h.open_sync();
    let decision = decide_restore(&*store, 1);
    assert!(matches!(
        decision,
        RestoreDecision::Fallback(FallbackReason::MissingMeta)
    ));
    assert!(decision.must_restore());
    assert_eq!(decision.outcome(), "fallback");
}

/// A damaged index (not 8 bytes) falls back to restoring, even if it looks large.
pub fn a_corrupt_index_falls_back_to_restoring(h: &Harness) {
    let store = h.open_sync();
    let mut damage = WriteBatch::new();
    damage.put_meta(APPLIED_INDEX_KEY, vec![0xFF; 9]);
    store.write(&damage).expect("write");
    let decision = decide_restore(&*store, 1);
    assert!(matches!(
        decision,
        RestoreDecision::Fallback(FallbackReason::MissingMeta)
    ));
}

/// An index that cannot be read falls back to restoring.
pub fn an_unreadable_index_falls_back_to_restoring(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &WriteBatch::new(), 500);
    let mut faulty = FaultyEngine::new(&*store);
    faulty.fail_index_reads = true;
    let decision = decide_restore(&faulty, 1);
    assert!(matches!(
        decision,
        RestoreDecision::Fallback(FallbackReason::ReadError(_))
    ));
    assert!(decision.must_restore());
}

/// After a NoSync run that checkpointed and reopened, the gate sees the durable index.
pub fn the_gate_sees_the_checkpointed_index_after_reopen(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 80);
    store.set_durable_applied_index(80).expect("pin");
    let store = h.reopen(store, SyncMode::NoSync);
    assert!(matches!(
        decide_restore(&*store, 80),
        RestoreDecision::Skip { applied: 80 }
    ));
    assert!(matches!(
        decide_restore(&*store, 81),
        RestoreDecision::Execute { applied: 80 }
    ));
}
