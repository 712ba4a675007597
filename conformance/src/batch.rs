//! Batch semantics: order, overwrite, delete, delete-prefix, scans, bad input.

use fsmstore::{Bytes, Error, MAX_KEY_LEN, WriteBatch};

use crate::Harness;
use crate::support::{applied, apply_at, get_string, put, puts, scan_keys, scan_strings};

/// A put is visible to `get` once `apply` returns.
pub fn a_put_is_visible_to_get(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "v"), 1);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("v"));
}

/// Reading a key that was never written is `None`, not an error.
pub fn a_missing_key_reads_as_none(h: &Harness) {
    let store = h.open_sync();
    assert_eq!(store.get(b"never-written").expect("get"), None);
}

/// Within one batch, ops apply in order: the last op on a key decides its value.
pub fn later_ops_in_a_batch_win_over_earlier_ones(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    batch
        .put("twice", "first")
        .put("twice", "second")
        .put("put-then-delete", "x")
        .delete("put-then-delete")
        .delete("delete-then-put")
        .put("delete-then-put", "back");
    apply_at(&*store, &batch, 1);
    assert_eq!(get_string(&*store, "twice").as_deref(), Some("second"));
    assert_eq!(get_string(&*store, "put-then-delete"), None);
    assert_eq!(
        get_string(&*store, "delete-then-put").as_deref(),
        Some("back")
    );
}

/// A later batch overwrites a value written by an earlier one.
pub fn a_later_batch_overwrites_a_value(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("k", "old"), 1);
    apply_at(&*store, &put("k", "new"), 2);
    assert_eq!(get_string(&*store, "k").as_deref(), Some("new"));
}

/// Deleting a key removes it; deleting an absent key is not an error.
pub fn delete_removes_a_key_and_tolerates_absent_keys(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &puts(&[("a", "1"), ("b", "2")]), 1);
    let mut batch = WriteBatch::new();
    batch.delete("a").delete("never-existed");
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_strings(&*store, ""), vec![("b".into(), "2".into())]);
}

/// `delete_prefix` removes exactly the keys that start with the prefix.
pub fn delete_prefix_removes_only_matching_keys(h: &Harness) {
    let store = h.open_sync();
    apply_at(
        &*store,
        &puts(&[
            ("user/1", "a"),
            ("user/2", "b"),
            ("users", "c"),
            ("usea", "d"),
            ("v", "e"),
        ]),
        1,
    );
    let mut batch = WriteBatch::new();
    batch.delete_prefix("user/", None);
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), vec!["usea", "users", "v"]);
}

/// `delete_prefix` with an exclude prefix keeps the keys under the exclude prefix.
pub fn delete_prefix_with_exclude_keeps_the_excluded_keys(h: &Harness) {
    let store = h.open_sync();
    apply_at(
        &*store,
        &puts(&[
            ("t/a", "1"),
            ("t/keep", "2"),
            ("t/keep/x", "3"),
            ("t/kept", "4"),
            ("t/z", "5"),
            ("u", "6"),
        ]),
        1,
    );
    let mut batch = WriteBatch::new();
    batch.delete_prefix("t/", Some(Bytes::from_static(b"t/keep")));
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), vec!["t/keep", "t/keep/x", "u"]);
}

/// An exclude prefix that lies outside the deleted prefix changes nothing.
pub fn delete_prefix_with_an_unrelated_exclude_deletes_the_whole_prefix(h: &Harness) {
    let store = h.open_sync();
    apply_at(
        &*store,
        &puts(&[("a/1", "1"), ("a/2", "2"), ("b/1", "3")]),
        1,
    );
    let mut batch = WriteBatch::new();
    batch.delete_prefix("a/", Some(Bytes::from_static(b"b/")));
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), vec!["b/1"]);
}

/// An exclude prefix that contains the deleted prefix (the deleted keys all start with
/// it) keeps every key; an exclude ending in `0xFF` keeps only its own keys.
pub fn an_exclude_prefix_containing_the_deleted_prefix_keeps_every_key(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &puts(&[("user/1", "1"), ("user/2", "2")]), 1);
    let mut batch = WriteBatch::new();
    batch.delete_prefix("user/1", Some(Bytes::from_static(b"user/")));
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), vec!["user/1", "user/2"]);

    let mut batch = WriteBatch::new();
    batch
        .put(&b"p\xff"[..], "kept")
        .put(&b"p\xff\x01"[..], "kept")
        .put(&b"p\xfe"[..], "gone")
        .put("q", "other");
    apply_at(&*store, &batch, 3);
    let mut batch = WriteBatch::new();
    batch.delete_prefix("p", Some(Bytes::from_static(b"p\xff")));
    apply_at(&*store, &batch, 4);
    let left: Vec<Bytes> = store
        .scan_prefix(b"")
        .expect("scan")
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| !key.starts_with(b"user/"))
        .collect();
    assert_eq!(
        left,
        [
            Bytes::from_static(b"p\xff"),
            Bytes::from_static(b"p\xff\x01"),
            Bytes::from_static(b"q")
        ]
    );
}

/// A key put earlier in the same batch is removed by a later matching `delete_prefix`.
pub fn delete_prefix_removes_puts_made_earlier_in_the_same_batch(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("p/old", "1"), 1);
    let mut batch = WriteBatch::new();
    batch
        .put("p/new", "2")
        .put("p/keep/new", "3")
        .put("q", "4")
        .delete_prefix("p/", Some(Bytes::from_static(b"p/keep/")));
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), vec!["p/keep/new", "q"]);
}

/// A put after a `delete_prefix` in the same batch survives it.
pub fn a_put_after_delete_prefix_in_the_same_batch_survives(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &puts(&[("p/1", "old"), ("p/2", "old")]), 1);
    let mut batch = WriteBatch::new();
    batch.delete_prefix("p/", None).put("p/1", "new");
    apply_at(&*store, &batch, 2);
    assert_eq!(
        scan_strings(&*store, "p/"),
        vec![("p/1".into(), "new".into())]
    );
}

/// An empty prefix deletes every data key and leaves every meta key.
pub fn empty_prefix_delete_removes_all_data_and_keeps_meta(h: &Harness) {
    let store = h.open_sync();
    let mut batch = puts(&[("a", "1"), ("b", "2"), ("\u{ff}", "3")]);
    batch.put_meta("schema", "v1");
    apply_at(&*store, &batch, 1);
    let mut wipe = WriteBatch::new();
    wipe.delete_prefix("", None);
    apply_at(&*store, &wipe, 2);
    assert!(store.scan_prefix(b"").expect("scan").is_empty());
    assert_eq!(
        store.get_meta(b"schema").expect("meta"),
        Some(Bytes::from_static(b"v1"))
    );
    assert_eq!(applied(&*store), Some(2));
}

/// Deleting a prefix of all-`0xFF` bytes (whose range has no upper bound) works.
pub fn delete_prefix_of_ff_bytes_reaches_the_end_of_the_keyspace(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    batch
        .put(vec![0xFE], "a")
        .put(vec![0xFF], "b")
        .put(vec![0xFF, 0xFF], "c")
        .put(vec![0xFF, 0xFF, 0x00], "d");
    apply_at(&*store, &batch, 1);
    let mut delete = WriteBatch::new();
    delete.delete_prefix(vec![0xFF, 0xFF], None);
    apply_at(&*store, &delete, 2);
    let keys: Vec<Vec<u8>> = store
        .scan_prefix(b"")
        .expect("scan")
        .into_iter()
        .map(|(key, _)| key.to_vec())
        .collect();
    assert_eq!(keys, vec![vec![0xFE], vec![0xFF]]);
}

/// `scan_prefix` returns matching keys in ascending byte order, whatever the write order.
pub fn scan_prefix_returns_keys_in_ascending_byte_order(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    for key in [
        &b"k\xff"[..],
        b"k\x00",
        b"k",
        b"k\x7f\x01",
        b"k\x7f",
        b"j",
        b"l",
    ] {
        batch.put(key.to_vec(), "v");
    }
    apply_at(&*store, &batch, 1);
    let keys: Vec<Vec<u8>> = store
        .scan_prefix(b"k")
        .expect("scan")
        .into_iter()
        .map(|(key, _)| key.to_vec())
        .collect();
    assert_eq!(
        keys,
        vec![
            b"k".to_vec(),
            b"k\x00".to_vec(),
            b"k\x7f".to_vec(),
            b"k\x7f\x01".to_vec(),
            b"k\xff".to_vec()
        ]
    );
}

/// Scanning a prefix nothing matches returns an empty list.
pub fn scan_of_an_unmatched_prefix_is_empty(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("a", "1"), 1);
    assert!(store.scan_prefix(b"zzz").expect("scan").is_empty());
}

/// An empty value is stored as empty, which is different from a missing key.
pub fn an_empty_value_is_stored_and_differs_from_missing(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("empty", ""), 1);
    assert_eq!(store.get(b"empty").expect("get"), Some(Bytes::new()));
    assert_eq!(store.get(b"missing").expect("get"), None);
}

/// Keys and values are arbitrary bytes, including NUL and `0xFF`.
pub fn binary_keys_and_values_round_trip(h: &Harness) {
    let store = h.open_sync();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let mut batch = WriteBatch::new();
    batch.put(vec![0, 0xFF, 0], all_bytes.clone());
    apply_at(&*store, &batch, 1);
    assert_eq!(
        store.get(&[0, 0xFF, 0]).expect("get").as_deref(),
        Some(&all_bytes[..])
    );
}

/// A batch with an empty key is rejected whole with `InvalidArgument`: none of its
/// other ops land and the applied index does not move.
pub fn a_batch_with_an_empty_key_is_rejected_whole(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("before", "1"), 1);
    let mut batch = WriteBatch::new();
    batch.put("good", "x").put("", "bad");
    assert!(matches!(
        store.apply(&batch, Some(2)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        store.write(&batch),
        Err(Error::InvalidArgument(_))
    ));
    let mut delete = WriteBatch::new();
    delete.delete("");
    assert!(matches!(
        store.apply(&delete, None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(get_string(&*store, "good"), None);
    assert_eq!(get_string(&*store, "before").as_deref(), Some("1"));
    assert_eq!(applied(&*store), Some(1));
}

/// An empty exclude prefix (which would exclude everything) and an empty meta name are
/// rejected with `InvalidArgument`.
pub fn an_empty_exclude_prefix_or_meta_name_is_rejected(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    batch.delete_prefix("p", Some(Bytes::new()));
    assert!(matches!(
        store.apply(&batch, Some(1)),
        Err(Error::InvalidArgument(_))
    ));
    let mut meta = WriteBatch::new();
    meta.put_meta("", "x");
    assert!(matches!(store.write(&meta), Err(Error::InvalidArgument(_))));
    assert_eq!(applied(&*store), None);
}

/// Keys and meta names of up to `max_key_len()` bytes (`MAX_KEY_LEN` for a store of its own)
/// are stored on every engine; a longer
/// one rejects its batch whole, and reading such a key is simply `None`.
pub fn keys_up_to_the_maximum_length_work_and_longer_ones_are_rejected(h: &Harness) {
    let store = h.open_sync();
    let max_key_len = store.max_key_len();
    assert!(max_key_len <= MAX_KEY_LEN);
    let longest = vec![b'k'; max_key_len];
    let mut batch = WriteBatch::new();
    batch
        .put(longest.clone(), "v")
        .put_meta(longest.clone(), "m");
    apply_at(&*store, &batch, 1);
    assert_eq!(
        store.get(&longest).expect("get"),
        Some(Bytes::from_static(b"v"))
    );
    assert_eq!(
        store.get_meta(&longest).expect("meta"),
        Some(Bytes::from_static(b"m"))
    );

    let too_long = vec![b'k'; max_key_len + 1];
    let mut batch = put("first", "x");
    batch.put(too_long.clone(), "v");
    assert!(matches!(
        store.apply(&batch, Some(2)),
        Err(Error::InvalidArgument(_))
    ));
    let mut batch = WriteBatch::new();
    batch.put_meta(too_long.clone(), "v");
    assert!(matches!(
        store.write(&batch),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(get_string(&*store, "first"), None);
    assert_eq!(applied(&*store), Some(1));
    assert_eq!(store.get(&too_long).expect("get"), None);
    assert_eq!(store.get_meta(&too_long).expect("meta"), None);
    assert!(store.scan_prefix(&too_long).expect("scan").is_empty());

    let mut delete = WriteBatch::new();
    delete.delete_prefix(too_long, None);
    apply_at(&*store, &delete, 3);
    assert_eq!(
        store.get(&longest).expect("get"),
        Some(Bytes::from_static(b"v"))
    );
}

/// A thousand puts in one batch are all visible, in order.
pub fn a_large_batch_is_fully_visible(h: &Harness) {
    let store = h.open_nosync();
    let mut batch = WriteBatch::with_capacity(1000);
    for i in 0..1000u32 {
        batch.put(format!("big/{i:04}"), vec![b'x'; 100]);
    }
    apply_at(&*store, &batch, 1);
    let keys = scan_keys(&*store, "big/");
    assert_eq!(keys.len(), 1000);
    assert_eq!(keys.first().map(String::as_str), Some("big/0000"));
    assert_eq!(keys.last().map(String::as_str), Some("big/0999"));
}

/// Data written in one session is there after close and reopen.
pub fn data_survives_close_and_reopen(h: &Harness) {
    let store = h.open_nosync();
    apply_at(&*store, &puts(&[("a", "1"), ("b", "2")]), 1);
    let mut delete = WriteBatch::new();
    delete.delete("a");
    apply_at(&*store, &delete, 2);
    let store = h.reopen(store, fsmstore::SyncMode::Sync);
    assert_eq!(scan_strings(&*store, ""), vec![("b".into(), "2".into())]);
}

/// A value longer than [`MAX_VALUE_LEN`](fsmstore::MAX_VALUE_LEN) (what a snapshot can
/// carry) is refused when it is applied, not when the store is exported: the batch is
/// rejected whole and the store still exports.
pub fn a_value_over_the_limit_is_refused_when_applied(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &put("kept", "v"), 1);
    // Zeroed memory is mapped lazily: the value costs no RAM until it is read.
    let huge = Bytes::from(vec![0_u8; fsmstore::MAX_VALUE_LEN + 1]);
    for batch in [
        {
            let mut batch = WriteBatch::new();
            batch.put("small", "v").put("huge", huge.clone());
            batch
        },
        {
            let mut batch = WriteBatch::new();
            batch.put_meta("huge", huge.clone());
            batch
        },
    ] {
        assert!(matches!(
            store.apply(&batch, Some(2)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            store.write(&batch),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!(get_string(&*store, "small"), None);
    assert_eq!(applied(&*store), Some(1));
    let mut stream = Vec::new();
    store.export(&mut stream).expect("the store still exports");
}
