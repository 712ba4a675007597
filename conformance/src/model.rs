//! Model-based property test: random histories run on an engine and on a model written
//! as plain code over `BTreeMap`s; after every step both must show the same state.
//!
//! The model shares no code with the store: it keeps its own applied index (with the
//! skip of stale and repeated indices), its own durable index (with the monotonic pin
//! and what it returns), and applies puts, deletes, prefix deletes with excludes and
//! range deletes by their definitions. After every step the engine's data (read forward
//! and in reverse), meta keys and applied index are compared with the model's, and a
//! `Range` step compares one random range read, in either order, with a limit or not.
//!
//! A history mixes batches of every op kind (on a small key space, so prefixes and
//! ranges overlap), applies with fresh, repeated and stale indices, unindexed applies,
//! direct writes, checkpoints below and above the applied index, range reads, and
//! reopen points in either sync mode. The number of histories is
//! `FSMSTORE_PROPTEST_CASES` (default 12); a failing history is shrunk and reported.

use std::collections::BTreeMap;
use std::ops::Bound;

use fsmstore::{
    ApplyOutcome, Bytes, Config, Direction, Engine, Error, RangeQuery, SyncMode, WriteBatch,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use crate::Harness;

/// Keys are drawn from these, so prefixes, excludes, ranges and keys collide often.
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
/// Range bounds: stored keys, keys between them, the empty key.
const BOUNDS: &[&[u8]] = &[b"", b"a", b"a/", b"a/2", b"ab", b"b", b"b/0", b"\xff", b"z"];
const META_NAMES: &[&[u8]] = &[b"m1", b"m2", b"a"];

#[derive(Clone, Debug)]
enum ModelOp {
    Put(usize, u8),
    Delete(usize),
    DeletePrefix(usize, Option<usize>),
    DeleteRange(usize, usize),
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

/// One side of a range read: an index into [`BOUNDS`] and its kind.
#[derive(Clone, Copy, Debug)]
enum BoundChoice {
    Included(usize),
    Excluded(usize),
    Unbounded,
}

#[derive(Clone, Debug)]
enum Step {
    Apply(Vec<ModelOp>, IndexChoice),
    Write(Vec<ModelOp>),
    /// A pin at an index chosen as for an apply, or this far above the highest index.
    Checkpoint(IndexChoice, u64),
    Range(BoundChoice, BoundChoice, Direction, Option<usize>),
    Reopen(SyncMode),
}

fn op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>()).prop_map(|(key, value)| ModelOp::Put(key, value)),
        2 => (0..KEYS.len()).prop_map(ModelOp::Delete),
        1 => (0..PREFIXES.len(), proptest::option::of(1..PREFIXES.len()))
            .prop_map(|(prefix, exclude)| ModelOp::DeletePrefix(prefix, exclude)),
        1 => (0..BOUNDS.len(), 0..BOUNDS.len())
            .prop_map(|(start, end)| ModelOp::DeleteRange(start, end)),
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

/// Pins land just below the applied index more often than applies do: that is where a
/// pin must keep the higher index, and with NoSync applies the durable index lags.
fn pin_choice() -> impl Strategy<Value = IndexChoice> {
    prop_oneof![
        2 => Just(IndexChoice::Fresh),
        1 => Just(IndexChoice::Repeat),
        4 => (1..3u64).prop_map(IndexChoice::Stale),
        1 => Just(IndexChoice::None),
    ]
}

fn bound_choice() -> impl Strategy<Value = BoundChoice> {
    prop_oneof![
        2 => (0..BOUNDS.len()).prop_map(BoundChoice::Included),
        2 => (0..BOUNDS.len()).prop_map(BoundChoice::Excluded),
        1 => Just(BoundChoice::Unbounded),
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
        3 => (pin_choice(), prop_oneof![3 => Just(0u64), 1 => 1..3u64])
            .prop_map(|(index, ahead)| Step::Checkpoint(index, ahead)),
        2 => (
            bound_choice(),
            bound_choice(),
            prop_oneof![Just(Direction::Forward), Just(Direction::Reverse)],
            proptest::option::of(0..4usize),
        )
            .prop_map(|(start, end, direction, limit)| Step::Range(start, end, direction, limit)),
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
            ModelOp::DeleteRange(start, end) => batch.delete_range(
                Bytes::from_static(BOUNDS[start]),
                Bytes::from_static(BOUNDS[end]),
            ),
            ModelOp::PutMeta(name, value) => {
                batch.put_meta(Bytes::from_static(META_NAMES[name]), vec![value])
            }
            ModelOp::DeleteMeta(name) => batch.delete_meta(Bytes::from_static(META_NAMES[name])),
        };
    }
    batch
}

fn bound(choice: BoundChoice) -> Bound<&'static [u8]> {
    match choice {
        BoundChoice::Included(key) => Bound::Included(BOUNDS[key]),
        BoundChoice::Excluded(key) => Bound::Excluded(BOUNDS[key]),
        BoundChoice::Unbounded => Bound::Unbounded,
    }
}

fn owned(bound: Bound<&'static [u8]>) -> Bound<Bytes> {
    bound.map(Bytes::from_static)
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The state machine store as the contract describes it, in plain code.
#[derive(Debug, Default)]
struct Model {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    meta: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The applied index.
    applied: Option<u64>,
    /// The highest index known durable in this open.
    durable: Option<u64>,
    mode: Option<SyncMode>,
}

impl Model {
    fn run(&mut self, ops: &[ModelOp]) {
        for op in ops {
            match *op {
                ModelOp::Put(key, value) => {
                    self.data.insert(KEYS[key].to_vec(), vec![value; 3]);
                }
                ModelOp::Delete(key) => {
                    self.data.remove(KEYS[key]);
                }
                ModelOp::DeletePrefix(prefix, exclude) => {
                    let (prefix, exclude) = (PREFIXES[prefix], exclude.map(|e| PREFIXES[e]));
                    self.data.retain(|key, _| {
                        !key.starts_with(prefix) || exclude.is_some_and(|e| key.starts_with(e))
                    });
                }
                ModelOp::DeleteRange(start, end) => {
                    let (start, end) = (BOUNDS[start], BOUNDS[end]);
                    self.data
                        .retain(|key, _| !(key.as_slice() >= start && key.as_slice() < end));
                }
                ModelOp::PutMeta(name, value) => {
                    self.meta.insert(META_NAMES[name].to_vec(), vec![value]);
                }
                ModelOp::DeleteMeta(name) => {
                    self.meta.remove(META_NAMES[name]);
                }
            }
        }
    }

    fn commit(&mut self, ops: &[ModelOp], index: Option<u64>, durable: bool) {
        self.run(ops);
        if index.is_some() {
            self.applied = index;
        }
        if durable {
            self.durable = self.applied;
        }
    }

    fn apply(&mut self, ops: &[ModelOp], index: Option<u64>) -> ApplyOutcome {
        if let (Some(index), Some(applied)) = (index, self.applied)
            && index <= applied
        {
            return ApplyOutcome::Skipped { applied };
        }
        self.commit(ops, index, self.mode == Some(SyncMode::Sync));
        ApplyOutcome::Applied { index }
    }

    /// The index a pin makes durable, or `None` when it is refused (ahead of the
    /// applies) and changes nothing.
    fn pin(&mut self, index: u64) -> Option<u64> {
        if let Some(durable) = self.durable.filter(|durable| *durable >= index) {
            return Some(durable);
        }
        match self.applied {
            Some(applied) if applied >= index => {
                self.durable = Some(applied);
                Some(applied)
            }
            _ => None,
        }
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>, direction: Direction) -> Entries {
        let within = |key: &[u8]| {
            let above = match start {
                Bound::Included(start) => key >= start,
                Bound::Excluded(start) => key > start,
                Bound::Unbounded => true,
            };
            let below = match end {
                Bound::Included(end) => key <= end,
                Bound::Excluded(end) => key < end,
                Bound::Unbounded => true,
            };
            above && below
        };
        let mut found: Entries = self
            .data
            .iter()
            .filter(|(key, _)| within(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if direction == Direction::Reverse {
            found.reverse();
        }
        found
    }

    fn visible(&self) -> Visible {
        Visible {
            forward: self.range(Bound::Unbounded, Bound::Unbounded, Direction::Forward),
            reverse: self.range(Bound::Unbounded, Bound::Unbounded, Direction::Reverse),
            meta: META_NAMES
                .iter()
                .map(|name| (*name, self.meta.get(*name).cloned()))
                .collect(),
            applied: self.applied,
        }
    }
}

/// Everything a user can observe, as plain values.
#[derive(Debug, PartialEq, Eq)]
struct Visible {
    forward: Entries,
    reverse: Entries,
    meta: BTreeMap<&'static [u8], Option<Vec<u8>>>,
    applied: Option<u64>,
}

fn entries(found: Vec<(Bytes, Bytes)>) -> Entries {
    found
        .into_iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

fn visible(store: &dyn Engine) -> fsmstore::Result<Visible> {
    let mut meta = BTreeMap::new();
    for name in META_NAMES {
        meta.insert(*name, store.get_meta(name)?.map(|value| value.to_vec()));
    }
    Ok(Visible {
        forward: entries(store.range(&RangeQuery::all())?),
        reverse: entries(store.range(&RangeQuery::all().reverse())?),
        meta,
        applied: store.applied_index()?,
    })
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

fn run_history(h: &Harness, case: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = h.scratch(&format!("case-{case}"));
    let open = |mode| fsmstore::open(h.backend(), &dir, &Config::new(mode)).map_err(fail);
    let mut engine = Some(open(SyncMode::NoSync)?);
    let mut model = Model {
        mode: Some(SyncMode::NoSync),
        ..Model::default()
    };
    let mut highest = 0u64;
    for (position, step) in steps.iter().enumerate() {
        let store = engine.as_deref().ok_or_else(|| fail("no store"))?;
        let resolve = |choice: &IndexChoice| match choice {
            IndexChoice::Fresh => Some(highest + 1),
            IndexChoice::Repeat => Some(highest.max(1)),
            IndexChoice::Stale(back) => Some(highest.saturating_sub(*back).max(1)),
            IndexChoice::None => None,
        };
        match step {
            Step::Apply(ops, choice) => {
                let index = resolve(choice);
                let outcome = store.apply(&batch(ops), index).map_err(fail)?;
                prop_assert_eq!(
                    outcome,
                    model.apply(ops, index),
                    "step {}: apply outcome",
                    position
                );
                highest = highest.max(index.unwrap_or(0));
            }
            Step::Write(ops) => {
                store.write(&batch(ops)).map_err(fail)?;
                model.commit(ops, None, true);
            }
            Step::Checkpoint(choice, ahead) => {
                let index = resolve(choice).unwrap_or(highest.max(1)) + ahead;
                let pinned = match store.set_durable_applied_index(index) {
                    Ok(pinned) => Some(pinned),
                    Err(Error::InvalidArgument(_)) => None,
                    Err(error) => return Err(fail(error)),
                };
                prop_assert_eq!(pinned, model.pin(index), "step {}: checkpoint", position);
            }
            Step::Range(start, end, direction, limit) => {
                let (start, end) = (bound(*start), bound(*end));
                let mut query =
                    RangeQuery::from_bounds(owned(start), owned(end)).direction_of(*direction);
                let mut expected = model.range(start, end, *direction);
                if let Some(limit) = limit {
                    query = query.limit(*limit);
                    expected.truncate(*limit);
                }
                let found = entries(store.range(&query).map_err(fail)?);
                prop_assert_eq!(found, expected, "step {}: {:?}", position, query);
            }
            Step::Reopen(mode) => {
                engine
                    .take()
                    .ok_or_else(|| fail("no store"))?
                    .close()
                    .map_err(fail)?;
                engine = Some(open(*mode)?);
                model.mode = Some(*mode);
                model.durable = None;
            }
        }
        let store = engine.as_deref().ok_or_else(|| fail("no store"))?;
        let seen = visible(store).map_err(fail)?;
        prop_assert_eq!(
            seen,
            model.visible(),
            "state after step {}: {:?}",
            position,
            step
        );
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

/// Random histories leave every engine in exactly the state of the independent model,
/// after every step.
pub fn random_histories_match_an_independent_model(h: &Harness) {
    let cases = proptest_cases();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    // Each history (and each shrunk retry) gets a directory of its own.
    let case = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run_history(h, case, &steps)
    });
    if let Err(failure) = result {
        panic!("{} diverged from the model: {failure}", h.backend());
    }
}
