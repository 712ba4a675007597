//! The deep check (`Engine::verify_deep`): what it reads on a healthy store, and what it
//! refuses. Damage to engine files is in `crash_tests`.

use fsmstore::{APPLIED_INDEX_KEY, DeepCheck, Error, SyncMode, WriteBatch};

use crate::Harness;
use crate::support::apply_at;

fn fill(count: usize) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for i in 0..count {
        batch.put(format!("k/{i:05}"), format!("value {i}"));
    }
    batch
}

/// A healthy store passes, and the check reports every entry it read and the applied
/// index: while NoSync applies are still buffered, and again after a reopen.
pub fn the_deep_check_counts_every_entry_of_a_healthy_store(h: &Harness) {
    let store = h.open_nosync();
    assert_eq!(
        store.verify_deep().expect("check a new store"),
        DeepCheck {
            data_entries: 0,
            meta_entries: 0,
            applied_index: None,
        }
    );
    apply_at(&*store, &fill(300), 5);
    let mut schema = WriteBatch::new();
    schema.put_meta("schema", "v2").delete("k/00000");
    store.write(&schema).expect("write");
    let expected = DeepCheck {
        data_entries: 299,
        meta_entries: 2,
        applied_index: Some(5),
    };
    assert_eq!(store.verify_deep().expect("check"), expected);
    // The check changed nothing a reader sees, and the store goes on working.
    assert_eq!(store.applied_index().expect("index"), Some(5));
    let mut one_more = WriteBatch::new();
    one_more.put("later", "x");
    apply_at(&*store, &one_more, 6);

    let store = h.reopen(store, SyncMode::NoSync);
    assert_eq!(
        store.verify_deep().expect("check after reopen"),
        DeepCheck {
            data_entries: 300,
            applied_index: Some(6),
            ..expected
        }
    );
}

/// An applied index that is not 8 bytes reads as "no index" (a cold start goes on and
/// restores), but the deep check reports it as corruption.
pub fn a_badly_encoded_applied_index_fails_the_deep_check(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &fill(10), 9);
    let mut damage = WriteBatch::new();
    damage.put_meta(APPLIED_INDEX_KEY, vec![9u8, 0, 0]);
    store.write(&damage).expect("write");
    assert_eq!(store.applied_index().expect("index"), None);
    match store.verify_deep() {
        Err(Error::Corruption(message)) => {
            assert!(message.contains("applied index"), "{message}")
        }
        other => panic!(
            "{}: expected a corruption error, got {other:?}",
            h.backend()
        ),
    }
}
