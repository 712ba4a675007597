//! Meta namespace isolation: data operations never see or touch meta keys.

use fsmstore::{APPLIED_INDEX_KEY, Bytes, WriteBatch};

use crate::Harness;
use crate::support::{apply_at, get_string, put, scan_keys};

/// A data key and a meta key with the same name are independent values.
pub fn a_data_key_and_a_meta_key_with_one_name_are_independent(h: &Harness) {
    let store = h.open_sync();
    let mut batch = put("same", "data");
    batch.put_meta("same", "meta");
    apply_at(&*store, &batch, 1);
    assert_eq!(get_string(&*store, "same").as_deref(), Some("data"));
    assert_eq!(
        store.get_meta(b"same").expect("meta"),
        Some(Bytes::from_static(b"meta"))
    );
}

/// Scans never return meta keys, not even the applied index.
pub fn scans_never_return_meta_keys(h: &Harness) {
    let store = h.open_sync();
    let mut batch = put("_meta_data_key", "d");
    batch.put_meta("_meta_other", "m");
    apply_at(&*store, &batch, 7);
    assert_eq!(scan_keys(&*store, ""), vec!["_meta_data_key"]);
    assert_eq!(scan_keys(&*store, "_meta"), vec!["_meta_data_key"]);
    assert_eq!(store.get(APPLIED_INDEX_KEY).expect("get"), None);
}

/// `delete_prefix` whose prefix matches meta names leaves the meta keys alone.
pub fn delete_prefix_never_touches_meta_keys(h: &Harness) {
    let store = h.open_sync();
    let mut batch = put("_meta_x", "d");
    batch.put_meta("_meta_x", "m");
    apply_at(&*store, &batch, 3);
    let mut delete = WriteBatch::new();
    delete.delete_prefix("_meta", None);
    apply_at(&*store, &delete, 4);
    assert_eq!(get_string(&*store, "_meta_x"), None);
    assert_eq!(
        store.get_meta(b"_meta_x").expect("meta"),
        Some(Bytes::from_static(b"m"))
    );
    assert_eq!(store.applied_index().expect("index"), Some(4));
}

/// `delete_meta` removes one meta key and no data key.
pub fn delete_meta_removes_only_that_meta_key(h: &Harness) {
    let store = h.open_sync();
    let mut batch = put("k", "d");
    batch.put_meta("k", "m").put_meta("other", "o");
    apply_at(&*store, &batch, 1);
    let mut delete = WriteBatch::new();
    delete.delete_meta("k");
    apply_at(&*store, &delete, 2);
    assert_eq!(store.get_meta(b"k").expect("meta"), None);
    assert_eq!(
        store.get_meta(b"other").expect("meta"),
        Some(Bytes::from_static(b"o"))
    );
    assert_eq!(get_string(&*store, "k").as_deref(), Some("d"));
}

/// A meta key that was never written reads as `None`.
pub fn a_missing_meta_key_reads_as_none(h: &Harness) {
    let store = h.open_sync();
    assert_eq!(store.get_meta(b"nothing").expect("meta"), None);
}

/// One batch spanning data and meta lands whole and survives reopen.
pub fn one_batch_spans_data_and_meta_across_reopen(h: &Harness) {
    let store = h.open_sync();
    let mut batch = put("k", "d");
    batch.put_meta("m", "v");
    apply_at(&*store, &batch, 5);
    let store = h.reopen(store, fsmstore::SyncMode::Sync);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("d"));
    assert_eq!(
        store.get_meta(b"m").expect("meta"),
        Some(Bytes::from_static(b"v"))
    );
    assert_eq!(store.applied_index().expect("index"), Some(5));
}
