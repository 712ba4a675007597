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
use std::sync::atomic::{AtomicU64, Ordering};

use fsmstore::{
    ApplyOutcome, Bytes, Config, Direction, Engine, Error, RangeQuery, SyncMode, WriteBatch,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestError, TestRunner};

use crate::Harness;

/// The keys, prefixes, range bounds and meta names a history draws from; ops name them
/// by their position in these tables.
#[derive(Debug)]
pub(crate) struct KeySpace {
    pub(crate) keys: &'static [&'static [u8]],
    pub(crate) prefixes: &'static [&'static [u8]],
    /// Range bounds: stored keys, keys between them, the empty key.
    pub(crate) bounds: &'static [&'static [u8]],
    pub(crate) meta_names: &'static [&'static [u8]],
}

/// Keys collide often here: prefixes, excludes, ranges and keys overlap.
static SPACE: KeySpace = KeySpace {
    keys: &[
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
    ],
    prefixes: &[b"", b"a", b"a/", b"a/keep/", b"b", b"\xff", b"z"],
    bounds: &[b"", b"a", b"a/", b"a/2", b"ab", b"b", b"b/0", b"\xff", b"z"],
    meta_names: &[b"m1", b"m2", b"a"],
};

/// One op of a batch; `usize`s are positions in the tables of a [`KeySpace`].
#[derive(Clone, Debug)]
pub(crate) enum ModelOp {
    Put(usize, u8),
    Delete(usize),
    DeletePrefix(usize, Option<usize>),
    DeleteRange(usize, usize),
    PutMeta(usize, u8),
    DeleteMeta(usize),
}

/// The index an apply or a pin uses, relative to the highest index used so far.
#[derive(Clone, Debug)]
pub(crate) enum IndexChoice {
    /// One above the highest index used so far.
    Fresh,
    /// The highest index used so far again (a replay).
    Repeat,
    /// Below the highest index used so far (a stale entry).
    Stale(u64),
    /// No index.
    None,
}

impl IndexChoice {
    /// The index this choice names when `highest` is the highest index used so far.
    pub(crate) fn resolve(&self, highest: u64) -> Option<u64> {
        match self {
            IndexChoice::Fresh => Some(highest + 1),
            IndexChoice::Repeat => Some(highest.max(1)),
            IndexChoice::Stale(back) => Some(highest.saturating_sub(*back).max(1)),
            IndexChoice::None => None,
        }
    }
}

/// One side of a range read: an index into [`KeySpace::bounds`] and its kind.
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

impl KeySpace {
    /// Any op on this space, puts most often.
    pub(crate) fn op(&'static self) -> impl Strategy<Value = ModelOp> {
        prop_oneof![
            4 => (0..self.keys.len(), any::<u8>()).prop_map(|(key, value)| ModelOp::Put(key, value)),
            2 => (0..self.keys.len()).prop_map(ModelOp::Delete),
            1 => (0..self.prefixes.len(), proptest::option::of(1..self.prefixes.len()))
                .prop_map(|(prefix, exclude)| ModelOp::DeletePrefix(prefix, exclude)),
            1 => (0..self.bounds.len(), 0..self.bounds.len())
                .prop_map(|(start, end)| ModelOp::DeleteRange(start, end)),
            1 => (0..self.meta_names.len(), any::<u8>())
                .prop_map(|(name, value)| ModelOp::PutMeta(name, value)),
            1 => (0..self.meta_names.len()).prop_map(ModelOp::DeleteMeta),
        ]
    }

    /// `ops` as the batch a store applies.
    pub(crate) fn batch(&self, ops: &[ModelOp]) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for op in ops {
            match *op {
                ModelOp::Put(key, value) => {
                    batch.put(Bytes::from_static(self.keys[key]), vec![value; 3])
                }
                ModelOp::Delete(key) => batch.delete(Bytes::from_static(self.keys[key])),
                ModelOp::DeletePrefix(prefix, exclude) => batch.delete_prefix(
                    Bytes::from_static(self.prefixes[prefix]),
                    exclude.map(|exclude| Bytes::from_static(self.prefixes[exclude])),
                ),
                ModelOp::DeleteRange(start, end) => batch.delete_range(
                    Bytes::from_static(self.bounds[start]),
                    Bytes::from_static(self.bounds[end]),
                ),
                ModelOp::PutMeta(name, value) => {
                    batch.put_meta(Bytes::from_static(self.meta_names[name]), vec![value])
                }
                ModelOp::DeleteMeta(name) => {
                    batch.delete_meta(Bytes::from_static(self.meta_names[name]))
                }
            };
        }
        batch
    }

    /// What `store` shows a user of the names of this space.
    pub(crate) fn visible(&self, store: &dyn Engine) -> fsmstore::Result<Visible> {
        let mut meta = BTreeMap::new();
        for name in self.meta_names {
            meta.insert(*name, store.get_meta(name)?.map(|value| value.to_vec()));
        }
        Ok(Visible {
            forward: entries(store.range(&RangeQuery::all())?),
            reverse: entries(store.range(&RangeQuery::all().reverse())?),
            meta,
            applied: store.applied_index()?,
        })
    }
}

/// The index choice of an apply: fresh most often.
pub(crate) fn index_choice() -> impl Strategy<Value = IndexChoice> {
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
        2 => (0..SPACE.bounds.len()).prop_map(BoundChoice::Included),
        2 => (0..SPACE.bounds.len()).prop_map(BoundChoice::Excluded),
        1 => Just(BoundChoice::Unbounded),
    ]
}

/// Either sync mode.
pub(crate) fn mode() -> impl Strategy<Value = SyncMode> {
    prop_oneof![Just(SyncMode::Sync), Just(SyncMode::NoSync)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (proptest::collection::vec(SPACE.op(), 0..6), index_choice())
            .prop_map(|(ops, index)| Step::Apply(ops, index)),
        1 => proptest::collection::vec(SPACE.op(), 1..4).prop_map(Step::Write),
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

fn bound(choice: BoundChoice) -> Bound<&'static [u8]> {
    match choice {
        BoundChoice::Included(key) => Bound::Included(SPACE.bounds[key]),
        BoundChoice::Excluded(key) => Bound::Excluded(SPACE.bounds[key]),
        BoundChoice::Unbounded => Bound::Unbounded,
    }
}

fn owned(bound: Bound<&'static [u8]>) -> Bound<Bytes> {
    bound.map(Bytes::from_static)
}

/// Key-value pairs as plain values, in the order read.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The state machine store as the contract describes it, in plain code.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    space: &'static KeySpace,
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    meta: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The applied index.
    pub(crate) applied: Option<u64>,
    /// The highest index known durable in this open.
    durable: Option<u64>,
}

impl Model {
    /// An empty store whose ops name keys of `space`.
    pub(crate) fn new(space: &'static KeySpace) -> Self {
        Self {
            space,
            data: BTreeMap::new(),
            meta: BTreeMap::new(),
            applied: None,
            durable: None,
        }
    }

    fn run(&mut self, ops: &[ModelOp]) {
        let space = self.space;
        for op in ops {
            match *op {
                ModelOp::Put(key, value) => {
                    self.data.insert(space.keys[key].to_vec(), vec![value; 3]);
                }
                ModelOp::Delete(key) => {
                    self.data.remove(space.keys[key]);
                }
                ModelOp::DeletePrefix(prefix, exclude) => {
                    let (prefix, exclude) =
                        (space.prefixes[prefix], exclude.map(|e| space.prefixes[e]));
                    self.data.retain(|key, _| {
                        !key.starts_with(prefix) || exclude.is_some_and(|e| key.starts_with(e))
                    });
                }
                ModelOp::DeleteRange(start, end) => {
                    let (start, end) = (space.bounds[start], space.bounds[end]);
                    self.data
                        .retain(|key, _| !(key.as_slice() >= start && key.as_slice() < end));
                }
                ModelOp::PutMeta(name, value) => {
                    self.meta
                        .insert(space.meta_names[name].to_vec(), vec![value]);
                }
                ModelOp::DeleteMeta(name) => {
                    self.meta.remove(space.meta_names[name]);
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

    /// An apply of `ops` at `index` in a store opened in `mode`.
    pub(crate) fn apply(
        &mut self,
        ops: &[ModelOp],
        index: Option<u64>,
        mode: SyncMode,
    ) -> ApplyOutcome {
        if let (Some(index), Some(applied)) = (index, self.applied)
            && index <= applied
        {
            return ApplyOutcome::Skipped { applied };
        }
        self.commit(ops, index, mode == SyncMode::Sync);
        ApplyOutcome::Applied { index }
    }

    /// A direct write of `ops`, durable in either mode.
    pub(crate) fn write(&mut self, ops: &[ModelOp]) {
        self.commit(ops, None, true);
    }

    /// The index a pin makes durable, or `None` when it is refused (ahead of the
    /// applies) and changes nothing.
    pub(crate) fn pin(&mut self, index: u64) -> Option<u64> {
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

    /// Replaces everything with what `snapshot` held; its index is durable.
    pub(crate) fn restore(&mut self, snapshot: &Model) {
        self.data = snapshot.data.clone();
        self.meta = snapshot.meta.clone();
        self.applied = snapshot.applied;
        self.durable = snapshot.applied;
    }

    /// A close and reopen: nothing is known durable in the new open yet.
    pub(crate) fn reopen(&mut self) {
        self.durable = None;
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

    /// What a user of the store would see.
    pub(crate) fn visible(&self) -> Visible {
        Visible {
            forward: self.range(Bound::Unbounded, Bound::Unbounded, Direction::Forward),
            reverse: self.range(Bound::Unbounded, Bound::Unbounded, Direction::Reverse),
            meta: self
                .space
                .meta_names
                .iter()
                .map(|name| (*name, self.meta.get(*name).cloned()))
                .collect(),
            applied: self.applied,
        }
    }
}

/// Everything a user can observe, as plain values.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Visible {
    forward: Entries,
    reverse: Entries,
    meta: BTreeMap<&'static [u8], Option<Vec<u8>>>,
    applied: Option<u64>,
}

/// Read pairs as plain values.
pub(crate) fn entries(found: Vec<(Bytes, Bytes)>) -> Entries {
    found
        .into_iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// An error of the store as a failed case.
pub(crate) fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// A pin of `index` in `store`: the index it made durable, or `None` when the store
/// refused it as ahead of the applies.
pub(crate) fn pin(store: &dyn Engine, index: u64) -> Result<Option<u64>, TestCaseError> {
    match store.set_durable_applied_index(index) {
        Ok(pinned) => Ok(Some(pinned)),
        Err(Error::InvalidArgument(_)) => Ok(None),
        Err(error) => Err(fail(error)),
    }
}

fn run_history(h: &Harness, case: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = h.scratch(&format!("case-{case}"));
    let open = |mode| fsmstore::open(h.backend(), &dir, &Config::new(mode)).map_err(fail);
    let mut mode = SyncMode::NoSync;
    let mut engine = Some(open(mode)?);
    let mut model = Model::new(&SPACE);
    let mut highest = 0u64;
    for (position, step) in steps.iter().enumerate() {
        let store = engine.as_deref().ok_or_else(|| fail("no store"))?;
        match step {
            Step::Apply(ops, choice) => {
                let index = choice.resolve(highest);
                let outcome = store.apply(&SPACE.batch(ops), index).map_err(fail)?;
                prop_assert_eq!(
                    outcome,
                    model.apply(ops, index, mode),
                    "step {}: apply outcome",
                    position
                );
                highest = highest.max(index.unwrap_or(0));
            }
            Step::Write(ops) => {
                store.write(&SPACE.batch(ops)).map_err(fail)?;
                model.write(ops);
            }
            Step::Checkpoint(choice, ahead) => {
                let index = choice.resolve(highest).unwrap_or(highest.max(1)) + ahead;
                let pinned = pin(store, index)?;
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
            Step::Reopen(next) => {
                engine
                    .take()
                    .ok_or_else(|| fail("no store"))?
                    .close()
                    .map_err(fail)?;
                mode = *next;
                engine = Some(open(mode)?);
                model.reopen();
            }
        }
        let store = engine.as_deref().ok_or_else(|| fail("no store"))?;
        let seen = SPACE.visible(store).map_err(fail)?;
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

/// How many cases a property test runs: `FSMSTORE_PROPTEST_CASES`, or `default`.
pub(crate) fn cases_or(default: u32) -> u32 {
    std::env::var("FSMSTORE_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// How many cases a property test runs: `FSMSTORE_PROPTEST_CASES`, default 12.
pub fn proptest_cases() -> u32 {
    cases_or(12)
}

/// Runs `cases` histories drawn from `histories` through `run`, which gets a number of
/// its own for each history (and each shrunk retry), so each can use a directory of its
/// own; the error is the shrunk failure.
pub(crate) fn run_histories<S: Strategy>(
    cases: u32,
    histories: S,
    run: impl Fn(u64, S::Value) -> Result<(), TestCaseError>,
) -> Result<(), TestError<S::Value>> {
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let case = AtomicU64::new(0);
    runner.run(&histories, |history| {
        run(case.fetch_add(1, Ordering::Relaxed), history)
    })
}

/// Random histories leave every engine in exactly the state of the independent model,
/// after every step.
pub fn random_histories_match_an_independent_model(h: &Harness) {
    let histories = proptest::collection::vec(step(), 1..40);
    let result = run_histories(proptest_cases(), histories, |case, steps| {
        run_history(h, case, &steps)
    });
    if let Err(failure) = result {
        panic!("{} diverged from the model: {failure}", h.backend());
    }
}
