//! Checkpoint-before-save: the pin is durable before the save starts, and a failed pin
//! means no save.

use std::cell::RefCell;

use fsmstore::{CheckpointError, Engine, Error, SyncMode, WriteBatch, checkpoint_then};

use crate::Harness;
use crate::support::{FaultyEngine, applied, apply_at, put};

/// The events are exactly `[pin@42, save@42]`: the save sees the index already pinned.
pub fn checkpoint_then_pins_before_it_saves(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &put("k", "v"), 42);
    let recorder = FaultyEngine::new(&*store);
    let saved = checkpoint_then(&recorder, 42, || {
        let index = recorder.applied_index()?;
        recorder.record(format!("save@{}", index.unwrap_or(0)));
        Ok::<_, Error>("snapshot-42")
    })
    .expect("checkpoint");
    assert_eq!(saved, "snapshot-42");
    assert_eq!(recorder.events(), vec!["pin@42", "save@42"]);
}

/// A pin that fails (here: index 0, rejected by the engine) returns the pin error and
/// never calls the save.
pub fn a_rejected_pin_never_calls_the_save(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 5);
    let saves = RefCell::new(0);
    let result = checkpoint_then(&*store, 0, || {
        *saves.borrow_mut() += 1;
        Ok::<_, Error>(())
    });
    assert!(matches!(
        result,
        Err(CheckpointError::Pin(Error::InvalidArgument(_)))
    ));
    assert_eq!(*saves.borrow(), 0);
    assert_eq!(applied(&*store), Some(5));
}

/// A pin that fails with an I/O error surfaces it and never calls the save; the index
/// is not moved.
pub fn a_failing_pin_surfaces_its_error_and_skips_the_save(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 5);
    let mut faulty = FaultyEngine::new(&*store);
    faulty.fail_pins = true;
    let result = checkpoint_then(&faulty, 9, || {
        faulty.record("save".to_owned());
        Ok::<_, Error>(())
    });
    assert!(matches!(result, Err(CheckpointError::Pin(Error::Io(_)))));
    assert_eq!(faulty.events(), vec!["pin@9"]);
    assert_eq!(applied(&*store), Some(5));
}

/// A save that fails after the pin is reported as a save error; the pin stays.
pub fn a_failing_save_is_reported_after_the_pin_held(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &WriteBatch::new(), 17);
    let result = checkpoint_then(&*store, 17, || Err::<(), _>("disk full"));
    assert!(matches!(result, Err(CheckpointError::Save("disk full"))));
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(17));
}

/// The index pinned by `checkpoint_then` under NoSync survives close and reopen.
pub fn checkpoint_then_survives_reopen_under_nosync(h: &Harness) {
    let store = h.open_nosync();
    for index in 1..=30 {
        apply_at(&*store, &put(&format!("k{index}"), "v"), index);
    }
    checkpoint_then(&*store, 30, || Ok::<_, Error>(())).expect("checkpoint");
    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(applied(&*store), Some(30));
    assert_eq!(store.scan_prefix(b"k").expect("scan").len(), 30);
}
