//! Snapshots: export a point-in-time image, restore it atomically into any engine.
//!
//! Exports are canonical (records in key order, nothing engine-specific), so two stores
//! hold the same data, meta and applied index exactly when their exports are the same
//! bytes. Most bodies compare stores that way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fsmstore::backend::{LOCK_FILE, MARKER_FILE};
use fsmstore::{
    APPLIED_INDEX_KEY, Backend, Bytes, Config, Engine, Error, Namespace, RestoreDecision,
    SnapshotReader, SyncMode, WriteBatch, decide_restore, verify_snapshot,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::Harness;
use crate::support::apply_at;

/// The store's export, as bytes.
pub fn export_bytes(store: &dyn Engine) -> Vec<u8> {
    let mut out = Vec::new();
    store.export(&mut out).expect("export");
    out
}

/// Fills `store` with data and meta keys across unindexed batches of 1000, ending with
/// an apply at `index`.
pub fn fill(store: &dyn Engine, tag: &str, keys: usize, index: u64) {
    let mut batch = WriteBatch::new();
    for i in 0..keys {
        batch.put(format!("{tag}/key/{i:05}"), format!("{tag}-value-{i}"));
        if batch.len() == 1000 {
            store.apply(&batch, None).expect("apply");
            batch.clear();
        }
    }
    batch.put_meta(format!("{tag}-meta"), tag.to_owned());
    apply_at(store, &batch, index);
}

/// An export then a restore into a fresh store of the same engine gives back the same
/// data, meta and applied index.
pub fn an_export_restores_to_the_same_data_meta_and_index(h: &Harness) {
    let source = h.open_sync();
    fill(&*source, "a", 250, 42);
    let stream = export_bytes(&*source);
    let header = verify_snapshot(stream.as_slice()).expect("a valid stream");
    assert_eq!(header.applied_index, Some(42));
    assert_eq!(header.data_records, 250);
    assert_eq!(header.meta_records, 2, "the applied index and one meta key");

    let target = h
        .try_open_at(&h.scratch("target"), &Config::new(SyncMode::Sync))
        .expect("open target");
    let restored = target.restore(&mut stream.as_slice()).expect("restore");
    assert_eq!(restored, header);
    assert_eq!(target.applied_index().expect("index"), Some(42));
    assert_eq!(
        target.get(b"a/key/00007").expect("get"),
        Some(Bytes::from("a-value-7"))
    );
    assert_eq!(
        target.get_meta(b"a-meta").expect("get_meta"),
        Some(Bytes::from("a"))
    );
    assert_eq!(export_bytes(&*target), stream);
}

/// A restore removes every data and meta key the snapshot does not hold, and installs
/// the snapshot's index even when the store was further ahead.
pub fn a_restore_replaces_everything_and_installs_the_snapshots_index(h: &Harness) {
    let source = h.open_sync();
    fill(&*source, "new", 30, 5);
    let stream = export_bytes(&*source);

    let target = h
        .try_open_at(&h.scratch("target"), &Config::new(SyncMode::Sync))
        .expect("open target");
    fill(&*target, "old", 40, 900);
    target.restore(&mut stream.as_slice()).expect("restore");
    assert_eq!(target.get(b"old/key/00001").expect("get"), None);
    assert_eq!(target.get_meta(b"old-meta").expect("get_meta"), None);
    assert_eq!(target.scan_prefix(b"").expect("scan").len(), 30);
    assert_eq!(target.applied_index().expect("index"), Some(5));
    // Raft entries after the snapshot apply on top of it.
    let mut batch = WriteBatch::new();
    batch.put("after", "6");
    apply_at(&*target, &batch, 6);
    assert_eq!(target.get(b"after").expect("get"), Some(Bytes::from("6")));
}

/// A NoSync store that restores and reopens has the snapshot, and the cold-start gate
/// skips a second restore of it.
pub fn a_restore_is_durable_and_the_gate_then_skips_it(h: &Harness) {
    let source = h.open_sync();
    fill(&*source, "snap", 120, 77);
    let stream = export_bytes(&*source);
    drop(source);

    let dir = h.scratch("target");
    let target = h
        .try_open_at(&dir, &Config::new(SyncMode::NoSync))
        .expect("open target");
    target.restore(&mut stream.as_slice()).expect("restore");
    assert!(matches!(
        decide_restore(&*target, 77),
        RestoreDecision::Skip { applied: 77 }
    ));
    target.close().expect("close");
    let reopened = h
        .try_open_at(&dir, &Config::new(SyncMode::NoSync))
        .expect("reopen");
    assert_eq!(export_bytes(&*reopened), stream);
    assert!(matches!(
        decide_restore(&*reopened, 77),
        RestoreDecision::Skip { applied: 77 }
    ));
}

/// Restoring twice, then reopening, gives the second snapshot; the files of the
/// replaced contents are gone from the directory.
pub fn successive_restores_keep_only_the_last_one(h: &Harness) {
    let (first, second) = {
        let source = h
            .try_open_at(&h.scratch("source"), &Config::new(SyncMode::Sync))
            .expect("open source");
        fill(&*source, "one", 20, 10);
        let first = export_bytes(&*source);
        fill(&*source, "two", 20, 20);
        (first, export_bytes(&*source))
    };
    let store = h.open_sync();
    fill(&*store, "own", 20, 3);
    store.restore(&mut first.as_slice()).expect("first restore");
    store
        .restore(&mut second.as_slice())
        .expect("second restore");
    assert_eq!(export_bytes(&*store), second);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(export_bytes(&*store), second);
    if h.is_in_group() {
        // A group's generations live in the shared engine: the deep check of the
        // groups store refuses any entry outside a live generation.
        drop(store);
        let groups = h.open_groups();
        groups.verify_deep().expect("only live generations remain");
        let info = groups.groups().expect("list");
        let group = info
            .iter()
            .find(|info| info.id == crate::harness::GROUP_UNDER_TEST)
            .expect("the group is listed");
        assert_eq!(group.generation, 2, "two restores, two generations");
        return;
    }
    let mut entries: Vec<String> = std::fs::read_dir(h.dir())
        .expect("list the store directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !name.starts_with('.'))
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [MARKER_FILE, LOCK_FILE, "gen-2"],
        "only the live contents remain"
    );
}

/// An empty store exports a snapshot with no index, which restores to an empty store.
pub fn an_empty_snapshot_restores_to_an_empty_store(h: &Harness) {
    let empty = h
        .try_open_at(&h.scratch("empty"), &Config::new(SyncMode::Sync))
        .expect("open empty");
    let stream = export_bytes(&*empty);
    let header = verify_snapshot(stream.as_slice()).expect("valid");
    assert_eq!(header.applied_index, None);
    assert_eq!((header.data_records, header.meta_records), (0, 0));

    let store = h.open_sync();
    fill(&*store, "x", 10, 4);
    store.restore(&mut stream.as_slice()).expect("restore");
    assert_eq!(store.applied_index().expect("index"), None);
    assert!(store.scan_prefix(b"").expect("scan").is_empty());
    assert!(matches!(
        decide_restore(&*store, 1),
        RestoreDecision::Fallback(_)
    ));
}

/// Damaged streams (cut short, a flipped bit, not a snapshot at all) are refused with
/// `InvalidSnapshot`, and the store keeps exactly what it had, across a reopen too.
pub fn a_damaged_stream_is_refused_and_changes_nothing(h: &Harness) {
    let source = h
        .try_open_at(&h.scratch("source"), &Config::new(SyncMode::Sync))
        .expect("open source");
    fill(&*source, "snap", 300, 9);
    let stream = export_bytes(&*source);

    let store = h.open_sync();
    fill(&*store, "kept", 50, 8);
    let before = export_bytes(&*store);
    let mut flipped = stream.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let damaged: [(&str, Vec<u8>); 5] = [
        (
            "truncated in the records",
            stream[..stream.len() / 3].to_vec(),
        ),
        ("missing its footer", stream[..stream.len() - 4].to_vec()),
        ("with a flipped bit", flipped),
        ("garbage", b"definitely not a snapshot stream".repeat(10)),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in damaged {
        match store.restore(&mut bytes.as_slice()) {
            Err(Error::InvalidSnapshot(_)) => {}
            other => panic!("a stream {what}: expected InvalidSnapshot, got {other:?}"),
        }
        assert_eq!(
            export_bytes(&*store),
            before,
            "a stream {what} changed the store"
        );
    }
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(export_bytes(&*store), before);
}

/// An export is one point in time: while a writer applies batches that set two keys to
/// the same value with that value as the index, every export holds equal values and
/// the index that wrote them.
pub fn an_export_is_one_point_in_time_under_concurrent_applies(h: &Harness) {
    let store: Arc<dyn Engine> = Arc::from(h.open_nosync());
    let mut first = WriteBatch::new();
    first.put("a", "1").put("b", "1");
    apply_at(&*store, &first, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(1));
    let writer = {
        let (store, stop, progress) =
            (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&progress));
        std::thread::spawn(move || {
            let mut index = 1;
            while !stop.load(Ordering::Relaxed) {
                index += 1;
                let value = index.to_string();
                let mut batch = WriteBatch::new();
                // Filler keys between `a` and `b` make a torn view likelier to show.
                batch.put("a", value.clone());
                for filler in 0..20 {
                    batch.put(format!("m{filler:02}"), value.clone());
                }
                batch.put("b", value);
                apply_at(&*store, &batch, index);
                progress.store(index, Ordering::Relaxed);
            }
        })
    };
    // Export until both sides have done enough to overlap many times.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut exports = 0;
    while exports < 30 || progress.load(Ordering::Relaxed) < 30 {
        assert!(Instant::now() < deadline, "the writer made no progress");
        exports += 1;
        let stream = export_bytes(&*store);
        let mut reader = SnapshotReader::new(stream.as_slice()).expect("header");
        let header_index = reader.header().applied_index;
        let (mut a, mut b, mut stored_index) = (None, None, None);
        while let Some(record) = reader.next_record().expect("record") {
            match (record.namespace, record.key.as_slice()) {
                (Namespace::Data, b"a") => a = Some(record.value),
                (Namespace::Data, b"b") => b = Some(record.value),
                (Namespace::Meta, key) if key == APPLIED_INDEX_KEY => {
                    stored_index = Some(record.value)
                }
                _ => {}
            }
        }
        reader.finish().expect("a valid stream");
        assert_eq!(a, b, "an export saw half a batch");
        let value: u64 = String::from_utf8(a.expect("a is present"))
            .expect("utf-8")
            .parse()
            .expect("a number");
        assert_eq!(header_index, Some(value), "the index and the data disagree");
        assert!(stored_index.is_some());
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
}

/// A stream exported by this engine restores into every compiled-in engine with the
/// same contents and index (each restored store exports the same bytes).
pub fn a_stream_restores_identically_into_every_engine(h: &Harness) {
    let source = h.open_nosync();
    fill(&*source, "cross", 200, 1234);
    let mut batch = WriteBatch::new();
    batch
        .put(vec![0xff; 300], vec![0u8; 5000])
        .put(vec![0u8], "");
    source.write(&batch).expect("write edge keys");
    let stream = export_bytes(&*source);
    for target in Backend::compiled() {
        let dir = h.scratch(&format!("into-{target}"));
        let store = fsmstore::open(target, &dir, &Config::new(SyncMode::NoSync))
            .unwrap_or_else(|error| panic!("open {target}: {error}"));
        store
            .restore(&mut stream.as_slice())
            .unwrap_or_else(|error| panic!("restore into {target}: {error}"));
        assert_eq!(
            export_bytes(&*store),
            stream,
            "{} -> {target} changed the contents",
            h.backend()
        );
        assert_eq!(store.applied_index().expect("index"), Some(1234));
    }
}

/// Random mutations of a valid stream (flipped bytes, cuts, insertions) and random
/// bytes are refused with `InvalidSnapshot` and change nothing, or restore exactly the
/// stream they still hold: never a panic, never a partial restore.
pub fn mutated_streams_are_refused_or_restored_exactly(h: &Harness) {
    let source = h
        .try_open_at(&h.scratch("source"), &Config::new(SyncMode::NoSync))
        .expect("open source");
    fill(&*source, "fuzz", 12, 3);
    let stream = export_bytes(&*source);
    let store = h.open_nosync();
    fill(&*store, "kept", 5, 2);
    let before = export_bytes(&*store);

    let mutation = prop_oneof![
        (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Xor(at, mask)),
        any::<prop::sample::Index>().prop_map(Mutation::Cut),
        (any::<prop::sample::Index>(), any::<u8>())
            .prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Mutation::Random),
    ];
    let cases = crate::model::proptest_cases().saturating_mul(4);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&prop::collection::vec(mutation, 1..4), |mutations| {
        let mut bytes = stream.clone();
        for mutation in &mutations {
            mutation.apply(&mut bytes);
        }
        match store.restore(&mut bytes.as_slice()) {
            Err(Error::InvalidSnapshot(_)) => {
                prop_assert_eq!(export_bytes(&*store), before.clone());
            }
            Ok(_) => {
                // Only an intact stream (perhaps with bytes after it) can be accepted.
                prop_assert!(bytes.starts_with(&stream), "a damaged stream was restored");
                prop_assert_eq!(export_bytes(&*store), stream.clone());
                // Put the original contents back for the next case.
                store
                    .restore(&mut before.as_slice())
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
            }
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "not InvalidSnapshot: {other:?}"
                )));
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// One change to a stream.
#[derive(Clone, Debug)]
enum Mutation {
    Xor(prop::sample::Index, u8),
    Cut(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Random(Vec<u8>),
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Mutation::Xor(at, mask) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            Mutation::Cut(at) => {
                let at = at.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            Mutation::Insert(at, byte) => {
                let at = at.index(bytes.len() + 1);
                bytes.insert(at, *byte);
            }
            Mutation::Random(random) => *bytes = random.clone(),
            Mutation::Xor(..) => {}
        }
    }
}
