//! Range reads and range deletes: bounds, order, limits, early stops, one view per scan,
//! the meta namespace kept apart.

use std::ops::{Bound, ControlFlow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use fsmstore::{Bytes, Direction, Engine, Error, MAX_KEY_LEN, RangeQuery, WriteBatch};

use crate::Harness;
use crate::support::{apply_at, get_string, put, puts, scan_keys};

/// The data keys of the "many" store, ascending.
const MANY: &[&[u8]] = &[
    b"a",
    b"a/1",
    b"a/2",
    b"b",
    b"b/1",
    b"c",
    b"\xff",
    b"\xff\xff",
];

/// The keys bounds are made of: stored keys, keys between them, the empty key, and a
/// key longer than any key a store can hold.
fn bound_keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = [&b""[..], b"a", b"a/1", b"a/15", b"b", b"c", b"zz", b"\xff"]
        .iter()
        .map(|key| key.to_vec())
        .collect();
    keys.push(vec![b'b'; MAX_KEY_LEN + 5]);
    keys
}

fn bounds() -> Vec<Bound<Bytes>> {
    let mut bounds = vec![Bound::Unbounded];
    for key in bound_keys() {
        bounds.push(Bound::Included(Bytes::from(key.clone())));
        bounds.push(Bound::Excluded(Bytes::from(key)));
    }
    bounds
}

fn within(key: &[u8], start: &Bound<Bytes>, end: &Bound<Bytes>) -> bool {
    let above = match start {
        Bound::Included(start) => key >= start.as_ref(),
        Bound::Excluded(start) => key > start.as_ref(),
        Bound::Unbounded => true,
    };
    let below = match end {
        Bound::Included(end) => key <= end.as_ref(),
        Bound::Excluded(end) => key < end.as_ref(),
        Bound::Unbounded => true,
    };
    above && below
}

fn value_of(key: &[u8]) -> Vec<u8> {
    let mut value = b"v:".to_vec();
    value.extend_from_slice(key);
    value
}

/// Every range shape (each bound included, excluded or unbounded, over keys inside,
/// between, before and after the stored ones, empty and over-long), in both orders,
/// with and without a limit, on an empty store, a store of one key and a store of many,
/// reads exactly the stored keys in the range, in order, up to the limit.
pub fn every_range_shape_reads_exactly_the_keys_in_it(h: &Harness) {
    let store = h.open_nosync();
    let sizes: [&[&[u8]]; 3] = [&[], &[b"b"], MANY];
    let mut scans = 0;
    for (step, stored) in sizes.iter().enumerate() {
        let mut batch = WriteBatch::new();
        batch.delete_prefix("", None);
        for key in *stored {
            batch.put(Bytes::copy_from_slice(key), value_of(key));
        }
        apply_at(&*store, &batch, step as u64 + 1);
        for start in bounds() {
            for end in bounds() {
                let mut expected: Vec<(Bytes, Bytes)> = stored
                    .iter()
                    .filter(|key| within(key, &start, &end))
                    .map(|key| (Bytes::copy_from_slice(key), Bytes::from(value_of(key))))
                    .collect();
                for direction in [Direction::Forward, Direction::Reverse] {
                    if direction == Direction::Reverse {
                        expected.reverse();
                    }
                    for limit in [None, Some(0), Some(1), Some(2), Some(100)] {
                        let mut query = RangeQuery::from_bounds(start.clone(), end.clone())
                            .direction_of(direction);
                        if let Some(limit) = limit {
                            query = query.limit(limit);
                        }
                        let wanted = &expected[..limit.unwrap_or(usize::MAX).min(expected.len())];
                        assert_eq!(
                            store.range(&query).expect("range"),
                            wanted,
                            "{query:?} over {} keys",
                            stored.len()
                        );
                        scans += 1;
                    }
                }
            }
        }
    }
    assert!(scans > 1000);
}

/// `scan_prefix` reads what the equivalent range read reads.
pub fn scan_prefix_is_the_range_read_of_the_prefix(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    for key in MANY {
        batch.put(Bytes::copy_from_slice(key), value_of(key));
    }
    apply_at(&*store, &batch, 1);
    for prefix in [&b""[..], b"a", b"a/", b"b", b"\xff", b"\xff\xff", b"zz"] {
        assert_eq!(
            store.scan_prefix(prefix).expect("scan"),
            store
                .range(&RangeQuery::prefix(Bytes::copy_from_slice(prefix)))
                .expect("range"),
            "prefix {prefix:?}"
        );
    }
    assert_eq!(scan_keys(&*store, "a"), ["a", "a/1", "a/2"]);
}

/// Range reads that cover meta names (and the applied-index key) never return them,
/// in either order, and neither does a view's `get`.
pub fn range_reads_never_return_meta_keys(h: &Harness) {
    let store = h.open_sync();
    let mut batch = puts(&[("m", "data")]);
    batch
        .put_meta("a", "meta")
        .put_meta("m", "meta")
        .put_meta("z", "meta");
    apply_at(&*store, &batch, 9);
    for query in [RangeQuery::all(), RangeQuery::all().reverse()] {
        let found = store.range(&query).expect("range");
        assert_eq!(found, vec![(Bytes::from("m"), Bytes::from("data"))]);
    }
    store
        .view(&mut |view| {
            assert_eq!(view.get(b"a")?, None);
            assert_eq!(view.get(b"m")?, Some(Bytes::from("data")));
            assert_eq!(view.get_meta(b"m")?, Some(Bytes::from("meta")));
            assert_eq!(view.range(&RangeQuery::new("a"..="z"))?.len(), 1);
            Ok(())
        })
        .expect("view");
}

/// A visitor that breaks is not called again, and an error it returns ends the scan
/// and comes back to the caller.
pub fn a_scan_stops_where_the_visitor_says(h: &Harness) {
    let store = h.open_sync();
    let mut batch = WriteBatch::new();
    for i in 0..50 {
        batch.put(format!("k/{i:02}"), "v");
    }
    apply_at(&*store, &batch, 1);
    for direction in [Direction::Forward, Direction::Reverse] {
        let mut seen = Vec::new();
        store
            .scan(
                &RangeQuery::prefix("k/").direction_of(direction),
                &mut |key, _| {
                    seen.push(String::from_utf8_lossy(key).into_owned());
                    Ok(if seen.len() == 3 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    })
                },
            )
            .expect("scan");
        let wanted = match direction {
            Direction::Forward => ["k/00", "k/01", "k/02"],
            Direction::Reverse => ["k/49", "k/48", "k/47"],
        };
        assert_eq!(seen, wanted);
    }
    let mut calls = 0;
    let result = store.scan(&RangeQuery::all(), &mut |_, _| {
        calls += 1;
        Err(Error::invalid_argument("stop here"))
    });
    assert!(matches!(result, Err(Error::InvalidArgument(_))));
    assert_eq!(calls, 1);
}

/// A view reads one point in time: a batch committed while the view is held is not
/// seen through it (by `get`, `get_meta` or a range), and is seen afterwards.
pub fn a_view_reads_one_point_in_time(h: &Harness) {
    let store = h.open_nosync();
    let mut first = puts(&[("k/1", "old"), ("k/2", "old")]);
    first.put_meta("schema", "1");
    apply_at(&*store, &first, 1);
    let store: &dyn Engine = &*store;
    store
        .view(&mut |view| {
            assert_eq!(view.get(b"k/1")?, Some(Bytes::from("old")));
            thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let mut batch = puts(&[("k/1", "new"), ("k/3", "new")]);
                        batch.delete("k/2").put_meta("schema", "2");
                        apply_at(store, &batch, 2);
                    })
                    .join()
                    .expect("the writer");
            });
            assert_eq!(view.get(b"k/1")?, Some(Bytes::from("old")));
            assert_eq!(view.get(b"k/3")?, None);
            assert_eq!(view.get_meta(b"schema")?, Some(Bytes::from("1")));
            let keys: Vec<Bytes> = view
                .range(&RangeQuery::prefix("k/"))?
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            assert_eq!(keys, [Bytes::from("k/1"), Bytes::from("k/2")]);
            Ok(())
        })
        .expect("view");
    assert_eq!(get_string(store, "k/1").as_deref(), Some("new"));
    assert_eq!(scan_keys(store, "k/"), ["k/1", "k/3"]);
}

/// Range scans in both orders racing commits that each rewrite a whole range (a range
/// delete and fresh puts) see every batch wholly or not at all.
pub fn a_range_scan_racing_commits_sees_each_batch_wholly_or_not(h: &Harness) {
    const KEYS: usize = 20;
    let store = h.open_nosync();
    let store: &dyn Engine = &*store;
    let rewrite = |round: u64| {
        let mut batch = WriteBatch::new();
        batch.delete_range("r/", "r0");
        // Each round writes a different half of the keys, so a torn batch shows.
        for i in 0..KEYS {
            if (i as u64 + round).is_multiple_of(2) {
                batch.put(format!("r/{i:02}"), round.to_string());
            }
        }
        batch
    };
    apply_at(store, &rewrite(1), 1);
    let done = AtomicBool::new(false);
    let scans = AtomicU64::new(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            for round in 2..=150u64 {
                apply_at(store, &rewrite(round), round);
            }
            done.store(true, Ordering::SeqCst);
        });
        for direction in [Direction::Forward, Direction::Reverse] {
            let (done, scans) = (&done, &scans);
            scope.spawn(move || {
                let query = RangeQuery::new("r/".."r0").direction_of(direction);
                while !done.load(Ordering::SeqCst) || scans.load(Ordering::SeqCst) < 2 {
                    let found = store.range(&query).expect("range");
                    assert_eq!(found.len(), KEYS / 2, "a scan saw a torn batch");
                    let round = &found[0].1;
                    assert!(
                        found.iter().all(|(_, value)| value == round),
                        "a scan saw two batches: {found:?}"
                    );
                    scans.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert!(
        scans.load(Ordering::SeqCst) >= 2,
        "the readers never scanned"
    );
}

/// `delete_range(start, end)` removes exactly the keys `start <= k < end`.
pub fn delete_range_removes_the_half_open_range_and_nothing_else(h: &Harness) {
    let store = h.open_sync();
    apply_at(
        &*store,
        &puts(&[("a", "1"), ("b", "2"), ("b/1", "3"), ("c", "4"), ("d", "5")]),
        1,
    );
    let mut batch = WriteBatch::new();
    batch.delete_range("b", "d");
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), ["a", "d"]);
}

/// A range delete is ordered and atomic with the rest of its batch: an earlier put in
/// the range goes, a later one stays, and the index and meta writes land with it.
pub fn delete_range_is_ordered_and_atomic_with_its_batch(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &puts(&[("r/old", "1"), ("s", "2")]), 1);
    let mut batch = put("r/early", "1");
    batch
        .delete_range("r/", "r0")
        .put("r/late", "2")
        .put_meta("schema", "2");
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), ["r/late", "s"]);
    assert_eq!(
        store.get_meta(b"schema").expect("meta"),
        Some(Bytes::from("2"))
    );
    assert_eq!(store.applied_index().expect("index"), Some(2));

    // A rejected batch (an empty key later on) leaves the range in place.
    let mut bad = WriteBatch::new();
    bad.delete_range("", "zz").put("", "x");
    assert!(matches!(
        store.apply(&bad, Some(3)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(scan_keys(&*store, ""), ["r/late", "s"]);
}

/// A range delete over names that are also meta names leaves the meta keys alone.
pub fn delete_range_never_touches_meta_keys(h: &Harness) {
    let store = h.open_sync();
    let mut batch = puts(&[("m", "d")]);
    batch.put_meta("m", "meta").put_meta("n", "meta");
    apply_at(&*store, &batch, 5);
    let mut delete = WriteBatch::new();
    delete.delete_range("", "\u{7f}");
    apply_at(&*store, &delete, 6);
    assert_eq!(scan_keys(&*store, ""), Vec::<String>::new());
    assert_eq!(
        store.get_meta(b"m").expect("meta"),
        Some(Bytes::from("meta"))
    );
    assert_eq!(
        store.get_meta(b"n").expect("meta"),
        Some(Bytes::from("meta"))
    );
    assert_eq!(store.applied_index().expect("index"), Some(6));
}

/// An inverted or empty range deletes nothing and is not an error; an empty start
/// starts at the first key.
pub fn empty_and_inverted_delete_ranges_delete_nothing(h: &Harness) {
    let store = h.open_sync();
    apply_at(&*store, &puts(&[("a", "1"), ("b", "2"), ("c", "3")]), 1);
    let mut batch = WriteBatch::new();
    batch
        .delete_range("c", "a")
        .delete_range("b", "b")
        .delete_range("a", "");
    apply_at(&*store, &batch, 2);
    assert_eq!(scan_keys(&*store, ""), ["a", "b", "c"]);
    let mut batch = WriteBatch::new();
    batch.delete_range("", "b");
    apply_at(&*store, &batch, 3);
    assert_eq!(scan_keys(&*store, ""), ["b", "c"]);
}

/// Bounds longer than any key work: the range still holds exactly the keys between.
pub fn delete_range_with_over_long_bounds_deletes_exactly_the_keys_between(h: &Harness) {
    let store = h.open_sync();
    let longest = vec![b'k'; store.max_key_len()];
    let mut above = longest.clone();
    above[store.max_key_len() - 1] = b'l';
    let mut batch = WriteBatch::new();
    batch
        .put(longest.clone(), "t")
        .put(above.clone(), "above")
        .put("l", "l")
        .put("m", "m");
    apply_at(&*store, &batch, 1);
    let mut start = longest.clone();
    start.push(b'x');
    let mut end = b"m".to_vec();
    end.extend(vec![0; MAX_KEY_LEN + 3]);
    let mut delete = WriteBatch::new();
    delete.delete_range(start, end);
    apply_at(&*store, &delete, 2);
    let left: Vec<Bytes> = store
        .range(&RangeQuery::all())
        .expect("range")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(left, [Bytes::from(longest)]);
}

/// Through `AsyncEngine`, `read_range` reads what `range` reads and `read_view` runs
/// its reads at one point in time and returns their result.
pub fn async_range_reads_and_views_read_what_the_sync_ones_read(h: &Harness) {
    use fsmstore::AsyncEngine;
    use std::sync::Arc;

    let store: Arc<dyn Engine> = Arc::from(h.open_sync());
    let mut batch = puts(&[("k/1", "a"), ("k/2", "b"), ("k/3", "c")]);
    batch.put_meta("schema", "7");
    apply_at(&*store, &batch, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let query = RangeQuery::prefix("k/").reverse().limit(2);
    let found = runtime
        .block_on(AsyncEngine::read_range(&store, query.clone()))
        .expect("read_range");
    assert_eq!(found, store.range(&query).expect("range"));
    assert_eq!(found.len(), 2);
    let (schema, keys) = runtime
        .block_on(AsyncEngine::read_view(&store, |view| {
            Ok((
                view.get_meta(b"schema")?,
                view.range(&RangeQuery::prefix("k/"))?.len(),
            ))
        }))
        .expect("read_view");
    assert_eq!(schema, Some(Bytes::from("7")));
    assert_eq!(keys, 3);
}
