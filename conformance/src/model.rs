//! Model-based property test: random histories run on an engine and on the memory
//! engine side by side; after every step both must show the same state.
//!
//! A history mixes batches of every op kind (on a small key space, so prefixes
//! overlap), applies with fresh, repeated and stale indices, unindexed applies, direct
//! writes, checkpoints, and reopen points in either sync mode. The number of histories
//! is `FSMSTORE_PROPTEST_CASES` (default 12); a failing history is shrunk and reported.

use std::collections::BTreeMap;

use fsmstore::{ApplyOutcome, Backend, Bytes, Config, Engine, Error, SyncMode, WriteBatch};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use crate::Harness;

/// Keys are drawn from these, so prefixes, excludes and keys collide often.
const KEYS: &[&[u8]] = &[
    b"a",
    b"a/1",
    b"a/2",
    b"a/keep/1",
    b"ab",
    b"b",
    b"b/1",
    b"\x00",
    b"\xff",
    b"\xff\xff",
];
const PREFIXES: &[&[u8]] = &[b"", b"a", b"a/", b"a/keep/", b"b", b"\xff", b"z"];
const META_NAMES: &[&[u8]] = &[b"m1", b"m2", b"a"];

#[derive(Clone, Debug)]
enum ModelOp {
    Put(usize, u8),
    Delete(usize),
    DeletePrefix(usize, Option<usize>),
    PutMeta(usize, u8),
    DeleteMeta(usize),
}

#[derive(Clone, Debug)]
enum IndexChoice {
    /// One above the highest index used so far.
    Fresh,
    /// The highest index used so far again (a replay).
    Repeat,
    /// Below the highest index used so far (a stale entry).
    Stale(u64),
    /// No index.
    None,
}

#[derive(Clone, Debug)]
enum Step {
    Apply(Vec<ModelOp>, IndexChoice),
    Write(Vec<ModelOp>),
    Checkpoint(IndexChoice),
    Reopen(SyncMode),
}

fn op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>()).prop_map(|(key, value)| ModelOp::Put(key, value)),
        2 => (0..KEYS.len()).prop_map(ModelOp::Delete),
        1 => (0..PREFIXES.len(), proptest::option::of(1..PREFIXES.len()))
            .prop_map(|(prefix, exclude)| ModelOp::DeletePrefix(prefix, exclude)),
        1 => (0..META_NAMES.len(), any::<u8>()).prop_map(|(name, value)| ModelOp::PutMeta(name, value)),
        1 => (0..META_NAMES.len()).prop_map(ModelOp::DeleteMeta),
    ]
}

fn index_choice() -> impl Strategy<Value = IndexChoice> {
    prop_oneof![
        6 => Just(IndexChoice::Fresh),
        1 => Just(IndexChoice::Repeat),
        1 => (1..4u64).prop_map(IndexChoice::Stale),
        1 => Just(IndexChoice::None),
    ]
}

fn mode() -> impl Strategy<Value = SyncMode> {
    prop_oneof![Just(SyncMode::Sync), Just(SyncMode::NoSync)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (proptest::collection::vec(op(), 0..6), index_choice())
            .prop_map(|(ops, index)| Step::Apply(ops, index)),
        1 => proptest::collection::vec(op(), 1..4).prop_map(Step::Write),
        1 => index_choice().prop_map(Step::Checkpoint),
        1 => mode().prop_map(Step::Reopen),
    ]
}

fn batch(ops: &[ModelOp]) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for op in ops {
        match *op {
            ModelOp::Put(key, value) => batch.put(Bytes::from_static(KEYS[key]), vec![value; 3]),
            ModelOp::Delete(key) => batch.delete(Bytes::from_static(KEYS[key])),
            ModelOp::DeletePrefix(prefix, exclude) => batch.delete_prefix(
                Bytes::from_static(PREFIXES[prefix]),
                exclude.map(|exclude| Bytes::from_static(PREFIXES[exclude])),
            ),
            ModelOp::PutMeta(name, value) => {
                batch.put_meta(Bytes::from_static(META_NAMES[name]), vec![value])
            }
            ModelOp::DeleteMeta(name) => batch.delete_meta(Bytes::from_static(META_NAMES[name])),
        };
    }
    batch
}

/// Everything a user can observe, as plain values.
#[derive(Debug, PartialEq, Eq)]
struct Visible {
    data: Vec<(Bytes, Bytes)>,
    meta: BTreeMap<&'static [u8], Option<Bytes>>,
    applied: Option<u64>,
}

fn visible(store: &dyn Engine) -> Result<Visible, Error> {
    let mut meta = BTreeMap::new();
    for name in META_NAMES {
        meta.insert(*name, store.get_meta(name)?);
    }
    Ok(Visible {
        data: store.scan_prefix(b"")?,
        meta,
        applied: store.applied_index()?,
    })
}

struct Pair {
    engine: Box<dyn Engine>,
    model: Box<dyn Engine>,
}

fn open_pair(
    backend: Backend,
    dir: &std::path::Path,
    model_dir: &std::path::Path,
    mode: SyncMode,
) -> Pair {
    let config = Config::new(mode);
    Pair {
        engine: fsmstore::open(backend, dir, &config).expect("open the engine"),
        model: fsmstore::open(Backend::Memory, model_dir, &config).expect("open the model"),
    }
}

fn run_history(h: &Harness, case: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = h.scratch(&format!("case-{case}"));
    let model_dir = h.scratch(&format!("model-{case}"));
    let mut pair = Some(open_pair(h.backend(), &dir, &model_dir, SyncMode::NoSync));
    let mut highest = 0u64;
    for (position, step) in steps.iter().enumerate() {
        let Pair { engine, model } = pair
            .as_ref()
            .ok_or_else(|| TestCaseError::fail("no store"))?;
        let resolve = |choice: &IndexChoice| match choice {
            IndexChoice::Fresh => Some(highest + 1),
            IndexChoice::Repeat => Some(highest.max(1)),
            IndexChoice::Stale(back) => Some(highest.saturating_sub(*back).max(1)),
            IndexChoice::None => None,
        };
        match step {
            Step::Apply(ops, choice) => {
                let index = resolve(choice);
                let batch = batch(ops);
                let from_engine: Result<ApplyOutcome, String> = engine
                    .apply(&batch, index)
                    .map_err(|error| error.to_string());
                let from_model = model
                    .apply(&batch, index)
                    .map_err(|error| error.to_string());
                prop_assert_eq!(
                    &from_engine,
                    &from_model,
                    "step {}: apply outcome",
                    position
                );
                highest = highest.max(index.unwrap_or(0));
            }
            Step::Write(ops) => {
                let batch = batch(ops);
                let from_engine = engine.write(&batch).map_err(|error| error.to_string());
                let from_model = model.write(&batch).map_err(|error| error.to_string());
                prop_assert_eq!(from_engine, from_model, "step {}: write", position);
            }
            Step::Checkpoint(choice) => {
                let index = resolve(choice).unwrap_or(highest.max(1));
                let from_engine = engine
                    .set_durable_applied_index(index)
                    .map_err(|e| e.to_string());
                let from_model = model
                    .set_durable_applied_index(index)
                    .map_err(|e| e.to_string());
                prop_assert_eq!(from_engine, from_model, "step {}: checkpoint", position);
                highest = highest.max(index);
            }
            Step::Reopen(mode) => {
                let Pair { engine, model } =
                    pair.take().ok_or_else(|| TestCaseError::fail("no store"))?;
                engine
                    .close()
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                model
                    .close()
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                pair = Some(open_pair(h.backend(), &dir, &model_dir, *mode));
            }
        }
        let Pair { engine, model } = pair
            .as_ref()
            .ok_or_else(|| TestCaseError::fail("no store"))?;
        let seen = visible(&**engine).map_err(|error| TestCaseError::fail(error.to_string()))?;
        let expected = visible(&**model).map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(seen, expected, "state after step {}: {:?}", position, step);
    }
    Ok(())
}

/// How many cases a property test runs: `FSMSTORE_PROPTEST_CASES`, default 12.
pub fn proptest_cases() -> u32 {
    std::env::var("FSMSTORE_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(12)
}

/// Random histories leave every engine in exactly the state of the memory model, after
/// every step.
pub fn random_histories_match_the_memory_model(h: &Harness) {
    let cases = proptest_cases();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    // Each history (and each shrunk retry) gets directories of its own.
    let case = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run_history(h, case, &steps)
    });
    if let Err(failure) = result {
        panic!("{} diverged from the memory model: {failure}", h.backend());
    }
}
