//! Many groups in one store: every group is a store of its own, whatever its neighbours
//! hold or do, and groups that commit at the same time share one fsync.
//!
//! Bodies open groups stores with `fsmstore::open_groups` (in the harness's directory or
//! a scratch one) and compare groups by what a user observes: data, meta and applied
//! index, and exports, which are canonical, so two groups hold the same data, meta and
//! index exactly when their exports are the same bytes.
//!
//! - isolation: groups at the edges of the id space, with keys that are prefixes of each
//!   other and the longest key, survive every destructive op of every other group;
//! - a property test: random interleaved histories over several groups (applies, skips,
//!   prefix and range deletes, meta, pins, moves of a snapshot between groups, drops and
//!   recreations, reopens) against one independent model per group;
//! - lifecycle: typed refusals that change nothing, drops that are gone for good, the
//!   listing, reopen, and the two layouts refusing each other without touching a file;
//! - the shared fsync, counted through `commit_stats`, under racing groups;
//! - a group's snapshot moving to a store of its own and back, pinned on restore.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Barrier;

use fsmstore::backend::encode_applied_index;
use fsmstore::{
    APPLIED_INDEX_KEY, ApplyOutcome, Bytes, CommitStats, Config, Engine, Error, GROUP_MAX_KEY_LEN,
    GroupStore, Layout, MAX_KEY_LEN, RangeQuery, RestoreDecision, SyncMode, WriteBatch,
    decide_restore,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::Harness;
use crate::model::{
    Entries, IndexChoice, KeySpace, Model, ModelOp, cases_or, entries, fail, index_choice, mode,
    pin, run_histories,
};
use crate::snapshot::export_bytes;
use crate::support::{apply_at, put};

/// Group ids at the edges: the lowest and the highest, and neighbours across a byte
/// carry and across the 32-bit halves.
const EDGE_GROUPS: [u64; 8] = [
    0,
    1,
    255,
    256,
    (1 << 32) - 1,
    1 << 32,
    u64::MAX - 1,
    u64::MAX,
];

/// Opens the groups store of the harness's engine at `dir` in `mode`.
fn open_groups_at(h: &Harness, dir: &Path, mode: SyncMode) -> Box<dyn GroupStore> {
    fsmstore::open_groups(h.backend(), dir, &Config::new(mode)).unwrap_or_else(|error| {
        panic!(
            "open the {} groups store at {} in {mode}: {error}",
            h.backend(),
            dir.display()
        )
    })
}

/// Opens the groups store in the harness's directory in `mode`.
fn open_groups(h: &Harness, mode: SyncMode) -> Box<dyn GroupStore> {
    open_groups_at(h, h.dir(), mode)
}

fn open_group(groups: &dyn GroupStore, id: u64) -> Box<dyn Engine> {
    groups
        .open_group(id)
        .unwrap_or_else(|error| panic!("open group {id}: {error}"))
}

/// Creates group `id` and opens it.
fn new_group(groups: &dyn GroupStore, id: u64) -> Box<dyn Engine> {
    groups
        .create_group(id)
        .unwrap_or_else(|error| panic!("create group {id}: {error}"));
    open_group(groups, id)
}

/// What `groups()` lists, as plain values: `(id, applied index, generation)`.
fn listing(groups: &dyn GroupStore) -> fsmstore::Result<Vec<(u64, Option<u64>, u32)>> {
    Ok(groups
        .groups()?
        .iter()
        .map(|info| (info.id, info.applied_index, info.generation))
        .collect())
}

/// [`listing`], which must succeed.
fn listed(groups: &dyn GroupStore) -> Vec<(u64, Option<u64>, u32)> {
    listing(groups).expect("list the groups")
}

/// Every data entry of `group`, ascending.
fn all_data(group: &dyn Engine) -> Entries {
    entries(group.range(&RangeQuery::all()).expect("read the group"))
}

/// A key or value short enough to print: long runs are abbreviated.
fn show(bytes: &[u8]) -> String {
    if bytes.len() <= 24 {
        format!("{:02x?}", bytes)
    } else {
        format!("{:02x?}..({} bytes)", &bytes[..12], bytes.len())
    }
}

fn show_entries(entries: &Entries) -> Vec<String> {
    entries
        .iter()
        .map(|(key, value)| format!("{} = {}", show(key), show(value)))
        .collect()
}

/// The files under `dir` (recursively) with their bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("list a store directory") {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read a store file");
                let relative = path.strip_prefix(dir).expect("under the store").to_owned();
                found.insert(relative, bytes);
            }
        }
    }
    found
}

/// The data keys every edge group holds: keys that are prefixes of each other, the
/// lowest key, the two longest keys, and a key that spells the engine prefix of the next
/// group.
fn edge_keys(id: u64) -> Vec<Vec<u8>> {
    let foreign = [&id.wrapping_add(1).to_be_bytes()[..], &[0, 0, 0, 0], b"a"].concat();
    let mut keys = vec![
        b"a".to_vec(),
        b"ab".to_vec(),
        b"abc".to_vec(),
        vec![0x00],
        vec![0xFF],
        vec![0xFF; GROUP_MAX_KEY_LEN - 1],
        vec![0xFF; GROUP_MAX_KEY_LEN],
        foreign,
    ];
    keys.sort();
    keys
}

/// The meta names every edge group holds, the longest among them.
fn edge_meta_names() -> Vec<Vec<u8>> {
    vec![b"a".to_vec(), b"m".to_vec(), vec![0xFF; GROUP_MAX_KEY_LEN]]
}

/// A value that says which group wrote it.
fn tagged(id: u64, what: &[u8]) -> Vec<u8> {
    [format!("group {id}:").as_bytes(), what].concat()
}

/// Writes group `id`'s edge keys and meta, applied at `index`.
fn fill_edges(group: &dyn Engine, id: u64, index: u64) {
    let mut batch = WriteBatch::new();
    for key in edge_keys(id) {
        let value = tagged(id, &key);
        batch.put(key, value);
    }
    for name in edge_meta_names() {
        let value = tagged(id, &name);
        batch.put_meta(name, value);
    }
    apply_at(group, &batch, index);
}

/// Group `id`'s edge entries whose keys `keep` accepts.
fn edge_entries(id: u64, keep: impl Fn(&[u8]) -> bool) -> Entries {
    edge_keys(id)
        .into_iter()
        .filter(|key| keep(key))
        .map(|key| {
            let value = tagged(id, &key);
            (key, value)
        })
        .collect()
}

/// Group `id`'s meta: each edge name with its value, `None` once deleted.
fn edge_meta(group: &dyn Engine) -> Vec<Option<Vec<u8>>> {
    edge_meta_names()
        .iter()
        .map(|name| {
            group
                .get_meta(name)
                .expect("read meta")
                .map(|value| value.to_vec())
        })
        .collect()
}

/// Every read of group `id` (whole ranges in both orders, prefixes, bounded ranges, a
/// view) returns only keys that group wrote.
fn check_reads_stay_in(group: &dyn Engine, id: u64) {
    let own = tagged(id, b"");
    let queries = [
        RangeQuery::all(),
        RangeQuery::all().reverse(),
        RangeQuery::prefix(""),
        RangeQuery::prefix("a"),
        RangeQuery::prefix(vec![0xFF]),
        RangeQuery::prefix(vec![0xFF]).reverse(),
        RangeQuery::new(&[0x00u8][..]..),
        RangeQuery::new(&[0xFFu8; GROUP_MAX_KEY_LEN][..]..).reverse(),
        RangeQuery::new(..&[0xFFu8; MAX_KEY_LEN][..]),
    ];
    for query in &queries {
        let found = entries(
            group
                .range(query)
                .unwrap_or_else(|error| panic!("group {id}: {query:?}: {error}")),
        );
        for (key, value) in &found {
            assert!(
                value.starts_with(&own),
                "group {id}: {query:?} returned {} = {}, which another group wrote",
                show(key),
                show(value)
            );
        }
    }
    group
        .view(&mut |view| {
            for (key, value) in view.range(&RangeQuery::all().reverse())? {
                assert!(
                    value.starts_with(&own),
                    "group {id}: a view returned {} of another group",
                    show(&key)
                );
            }
            Ok(())
        })
        .expect("read through a view");
}

/// Groups at the edges of the id space (0, 1, 255, 256, 2^32 - 1, 2^32, u64::MAX - 1,
/// u64::MAX), each holding keys that are prefixes of each other, the lowest key, the
/// longest keys and a key spelling another group's engine prefix, stay exactly as they
/// were (data, meta, applied index: the same export bytes) while any one of them runs an
/// empty-prefix delete, a delete of the whole key range with an over-long end, a prefix
/// delete of 0xFF, deletes of every meta key and of its applied index, index writes up to
/// u64::MAX and a pin, and a restore; no read of one group ever returns another's key.
pub fn no_op_of_one_group_reaches_another_at_the_edges_of_ids_and_keys(h: &Harness) {
    let groups = open_groups(h, SyncMode::NoSync);
    let mut handles: BTreeMap<u64, Box<dyn Engine>> = BTreeMap::new();
    for (position, id) in EDGE_GROUPS.into_iter().enumerate() {
        let group = new_group(&*groups, id);
        assert_eq!(group.max_key_len(), GROUP_MAX_KEY_LEN);
        fill_edges(&*group, id, 10 + position as u64);
        handles.insert(id, group);
    }
    let images: BTreeMap<u64, Vec<u8>> = handles
        .iter()
        .map(|(&id, group)| (id, export_bytes(&**group)))
        .collect();
    for (&id, group) in &handles {
        check_reads_stay_in(&**group, id);
        assert_eq!(all_data(&**group), edge_entries(id, |_| true), "group {id}");
    }
    let untouched = |victim: u64, step: &str| {
        for (position, (&id, group)) in handles.iter().enumerate() {
            if id == victim {
                continue;
            }
            check_reads_stay_in(&**group, id);
            let data = all_data(&**group);
            let expected = edge_entries(id, |_| true);
            assert!(
                data == expected,
                "{step} in group {victim} changed the data of group {id}: {:#?}",
                show_entries(&data)
            );
            assert_eq!(
                edge_meta(&**group),
                edge_meta_names()
                    .iter()
                    .map(|name| Some(tagged(id, name)))
                    .collect::<Vec<_>>(),
                "{step} in group {victim} changed the meta of group {id}"
            );
            assert_eq!(
                group.applied_index().expect("read the index"),
                Some(10 + position as u64),
                "{step} in group {victim} moved the applied index of group {id}"
            );
            assert!(
                export_bytes(&**group) == images[&id],
                "{step} in group {victim} changed the export of group {id}"
            );
        }
    };

    let mut index = 1000;
    for (&victim, group) in &handles {
        let group = &**group;
        let names = edge_meta_names();
        let all_meta: Vec<Option<Vec<u8>>> = names
            .iter()
            .map(|name| Some(tagged(victim, name)))
            .collect();

        index += 1;
        let mut batch = WriteBatch::new();
        batch.delete_prefix(Bytes::new(), None);
        apply_at(group, &batch, index);
        assert_eq!(all_data(group), Vec::new(), "group {victim}");
        assert_eq!(
            edge_meta(group),
            all_meta,
            "an empty-prefix delete kept meta"
        );
        untouched(victim, "an empty-prefix delete");

        index += 1;
        fill_edges(group, victim, index);
        index += 1;
        let mut batch = WriteBatch::new();
        batch.delete_range(Bytes::new(), vec![0xFF; MAX_KEY_LEN]);
        apply_at(group, &batch, index);
        assert_eq!(all_data(group), Vec::new(), "group {victim}");
        untouched(victim, "a delete of the whole key range");

        index += 1;
        fill_edges(group, victim, index);
        index += 1;
        let mut batch = WriteBatch::new();
        batch.delete_prefix(vec![0xFF], None);
        apply_at(group, &batch, index);
        assert_eq!(
            all_data(group),
            edge_entries(victim, |key| key.first() != Some(&0xFF)),
            "group {victim}"
        );
        untouched(victim, "a prefix delete of 0xFF");

        let mut batch = WriteBatch::new();
        for name in &names {
            batch.delete_meta(name.clone());
        }
        batch.delete_meta(APPLIED_INDEX_KEY);
        group.write(&batch).expect("write");
        assert_eq!(edge_meta(group), vec![None; names.len()]);
        assert_eq!(group.applied_index().expect("read the index"), None);
        untouched(victim, "deletes of every meta key and of the applied index");

        let mut batch = WriteBatch::new();
        batch.put_meta(
            APPLIED_INDEX_KEY,
            encode_applied_index(u64::MAX - 1).to_vec(),
        );
        group.write(&batch).expect("write");
        assert_eq!(
            group.applied_index().expect("read the index"),
            Some(u64::MAX - 1)
        );
        apply_at(group, &WriteBatch::new(), u64::MAX);
        assert_eq!(
            group.set_durable_applied_index(u64::MAX).expect("pin"),
            u64::MAX
        );
        untouched(victim, "index writes up to u64::MAX and a pin");

        group
            .restore(&mut images[&victim].as_slice())
            .expect("restore");
        assert!(export_bytes(group) == images[&victim], "group {victim}");
        untouched(victim, "a restore");
    }

    drop(handles);
    groups.verify_deep().expect("deep check");
    groups.close().expect("close");
    let groups = open_groups(h, SyncMode::Sync);
    let expected: Vec<(u64, Option<u64>, u32)> = EDGE_GROUPS
        .iter()
        .enumerate()
        .map(|(position, &id)| (id, Some(10 + position as u64), 1))
        .collect();
    assert_eq!(listed(&*groups), expected);
    for id in EDGE_GROUPS {
        let group = open_group(&*groups, id);
        check_reads_stay_in(&*group, id);
        assert!(
            export_bytes(&*group) == images[&id],
            "group {id} after reopen"
        );
    }
    groups.verify_deep().expect("deep check after reopen");
}

// ---------------------------------------------------------------------------------------
// The property test: K groups against K independent models.

/// The groups of a random history: the edges of the id space and two neighbours.
const MODEL_GROUPS: [u64; 5] = [0, 1, 1 << 32, u64::MAX - 1, u64::MAX];

const LONGEST: [u8; GROUP_MAX_KEY_LEN] = [0xFF; GROUP_MAX_KEY_LEN];

/// Keys collide often here: prefixes, ranges and keys overlap, the longest key too.
static SPACE: KeySpace = KeySpace {
    keys: &[
        b"a", b"a/1", b"a/2", b"ab", b"b", b"b/1", b"\x00", b"\xff", &LONGEST,
    ],
    prefixes: &[b"", b"a", b"a/", b"b", b"\xff", b"z"],
    bounds: &[b"", b"a", b"a/2", b"ab", b"b/0", b"\xff", &LONGEST, b"z"],
    meta_names: &[b"m1", b"m2", b"a"],
};

/// One step of a history; `usize`s pick a group of [`MODEL_GROUPS`].
#[derive(Clone, Debug)]
enum GroupStep {
    Apply(usize, Vec<ModelOp>, IndexChoice),
    Write(usize, Vec<ModelOp>),
    /// A pin at an index chosen as for an apply, or this far above the highest index.
    Pin(usize, IndexChoice, u64),
    /// Export the first group and restore the stream into the second (maybe itself).
    Move(usize, usize),
    /// Close the group, drop it, and create it again under the same id.
    Recreate(usize),
    Reopen(SyncMode),
}

fn group_step() -> impl Strategy<Value = GroupStep> {
    let group = || 0..MODEL_GROUPS.len();
    prop_oneof![
        10 => (group(), proptest::collection::vec(SPACE.op(), 0..5), index_choice())
            .prop_map(|(group, ops, index)| GroupStep::Apply(group, ops, index)),
        1 => (group(), proptest::collection::vec(SPACE.op(), 1..4))
            .prop_map(|(group, ops)| GroupStep::Write(group, ops)),
        2 => (group(), index_choice(), prop_oneof![3 => Just(0u64), 1 => 1..3u64])
            .prop_map(|(group, index, ahead)| GroupStep::Pin(group, index, ahead)),
        2 => (group(), group()).prop_map(|(from, into)| GroupStep::Move(from, into)),
        1 => group().prop_map(GroupStep::Recreate),
        1 => mode().prop_map(GroupStep::Reopen),
    ]
}

/// One group as the contract describes a store of its own, in plain code.
#[derive(Clone, Debug)]
struct GroupModel {
    store: Model,
    /// Restores since the group was created.
    generation: u32,
}

impl GroupModel {
    /// A group just created.
    fn new() -> Self {
        Self {
            store: Model::new(&SPACE),
            generation: 0,
        }
    }

    /// Replaces everything with what `snapshot` held; its index is durable.
    fn restore(&mut self, snapshot: &Model) {
        self.store.restore(snapshot);
        self.generation += 1;
    }
}

/// The groups store of one history and a handle on each of its groups.
struct Open {
    store: Box<dyn GroupStore>,
    groups: Vec<Option<Box<dyn Engine>>>,
}

impl Open {
    fn new(h: &Harness, dir: &Path, mode: SyncMode) -> Result<Self, TestCaseError> {
        let store = fsmstore::open_groups(h.backend(), dir, &Config::new(mode)).map_err(fail)?;
        let groups = MODEL_GROUPS
            .iter()
            .map(|&id| store.open_group(id).map(Some).map_err(fail))
            .collect::<Result<_, _>>()?;
        Ok(Self { store, groups })
    }

    fn group(&self, position: usize) -> Result<&dyn Engine, TestCaseError> {
        self.groups[position]
            .as_deref()
            .ok_or_else(|| fail("the group is not open"))
    }

    fn close(mut self) -> Result<(), TestCaseError> {
        for group in self.groups.iter_mut().filter_map(Option::take) {
            group.close().map_err(fail)?;
        }
        self.store.close().map_err(fail)
    }
}

fn run_group_history(h: &Harness, case: u64, steps: &[GroupStep]) -> Result<(), TestCaseError> {
    let dir = h.scratch(&format!("groups-case-{case}"));
    let mut mode = SyncMode::NoSync;
    {
        let store = fsmstore::open_groups(h.backend(), &dir, &Config::new(mode)).map_err(fail)?;
        for id in MODEL_GROUPS {
            store.create_group(id).map_err(fail)?;
        }
        store.close().map_err(fail)?;
    }
    let mut open = Open::new(h, &dir, mode)?;
    let mut models = vec![GroupModel::new(); MODEL_GROUPS.len()];
    let mut highest = [0u64; MODEL_GROUPS.len()];
    for (position, step) in steps.iter().enumerate() {
        match step {
            GroupStep::Apply(group, ops, choice) => {
                let index = choice.resolve(highest[*group]);
                let outcome = open
                    .group(*group)?
                    .apply(&SPACE.batch(ops), index)
                    .map_err(fail)?;
                let expected = models[*group].store.apply(ops, index, mode);
                prop_assert_eq!(outcome, expected, "step {}: apply outcome", position);
                highest[*group] = highest[*group].max(index.unwrap_or(0));
            }
            GroupStep::Write(group, ops) => {
                open.group(*group)?.write(&SPACE.batch(ops)).map_err(fail)?;
                models[*group].store.write(ops);
            }
            GroupStep::Pin(group, choice, ahead) => {
                let highest = highest[*group];
                let index = choice.resolve(highest).unwrap_or(highest.max(1)) + ahead;
                let pinned = pin(open.group(*group)?, index)?;
                let expected = models[*group].store.pin(index);
                prop_assert_eq!(pinned, expected, "step {}: pin", position);
            }
            GroupStep::Move(from, into) => {
                let mut stream = Vec::new();
                open.group(*from)?.export(&mut stream).map_err(fail)?;
                open.group(*into)?
                    .restore(&mut stream.as_slice())
                    .map_err(fail)?;
                let snapshot = models[*from].store.clone();
                models[*into].restore(&snapshot);
                highest[*into] = highest[*into].max(snapshot.applied.unwrap_or(0));
            }
            GroupStep::Recreate(group) => {
                let id = MODEL_GROUPS[*group];
                if let Some(handle) = open.groups[*group].take() {
                    handle.close().map_err(fail)?;
                }
                open.store.drop_group(id).map_err(fail)?;
                prop_assert!(
                    matches!(open.store.open_group(id), Err(Error::NoSuchGroup(_))),
                    "step {}: a dropped group opens",
                    position
                );
                open.store.create_group(id).map_err(fail)?;
                open.groups[*group] = Some(open.store.open_group(id).map_err(fail)?);
                models[*group] = GroupModel::new();
                highest[*group] = 0;
            }
            GroupStep::Reopen(next) => {
                open.close()?;
                mode = *next;
                open = Open::new(h, &dir, mode)?;
                for model in &mut models {
                    model.store.reopen();
                }
            }
        }
        for (group, model) in models.iter().enumerate() {
            let seen = SPACE.visible(open.group(group)?).map_err(fail)?;
            prop_assert_eq!(
                seen,
                model.store.visible(),
                "group {} after step {}: {:?}",
                MODEL_GROUPS[group],
                position,
                step
            );
        }
        let expected: Vec<(u64, Option<u64>, u32)> = MODEL_GROUPS
            .iter()
            .zip(&models)
            .map(|(&id, model)| (id, model.store.applied, model.generation))
            .collect();
        let found = listing(&*open.store).map_err(fail)?;
        prop_assert_eq!(found, expected, "the listing after step {}", position);
    }
    open.store.verify_deep().map_err(fail)?;
    open.close()
}

/// Random interleaved histories over five groups (ids 0, 1, 2^32, u64::MAX - 1 and
/// u64::MAX) — indexed applies with fresh, repeated and stale indices, unindexed applies,
/// writes, puts and deletes on keys that are prefixes of each other and the longest key,
/// prefix deletes (the empty prefix too) with excludes, range deletes, meta puts and
/// deletes, pins below and above the applied index, exports of one group restored into
/// another or into itself, drops and recreations of a group, reopens in either sync
/// mode — leave every group exactly where an independent model of that group alone says
/// (data in both orders, meta, applied index), and the listing with every group's index
/// and generation, after every step; the store passes the deep check at the end.
/// `FSMSTORE_PROPTEST_CASES` histories run, default 32.
pub fn random_histories_over_many_groups_match_one_model_per_group(h: &Harness) {
    let histories = proptest::collection::vec(group_step(), 1..40);
    let result = run_histories(cases_or(32), histories, |case, steps| {
        run_group_history(h, case, &steps)
    });
    if let Err(failure) = result {
        panic!(
            "{} groups diverged from their models: {failure}",
            h.backend()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Lifecycle.

/// A small history for group `id`: data, meta and an applied index.
fn fill_small(group: &dyn Engine, id: u64, index: u64) {
    let mut batch = WriteBatch::new();
    batch.put(format!("key/{id}"), format!("value of {id}"));
    batch.put("shared", format!("shared of {id}"));
    batch.put_meta("schema", format!("schema of {id}"));
    apply_at(group, &batch, index);
}

/// Creating an existing group is `GroupExists`, a second open of an open group and a
/// drop of an open group are `GroupInUse`, a drop or open of a missing group is
/// `NoSuchGroup`; none of them changes any group, and once its handle is gone the group
/// opens again.
pub fn refused_lifecycle_calls_are_typed_and_change_nothing(h: &Harness) {
    let groups = open_groups(h, SyncMode::Sync);
    let group = new_group(&*groups, 7);
    fill_small(&*group, 7, 5);
    let image = export_bytes(&*group);

    assert!(matches!(groups.create_group(7), Err(Error::GroupExists(7))));
    assert!(matches!(groups.open_group(7), Err(Error::GroupInUse(7))));
    assert!(matches!(groups.drop_group(7), Err(Error::GroupInUse(7))));
    assert!(matches!(groups.drop_group(8), Err(Error::NoSuchGroup(8))));
    assert!(matches!(groups.open_group(8), Err(Error::NoSuchGroup(8))));
    groups.create_group(u64::MAX).expect("create");
    assert!(matches!(
        groups.create_group(u64::MAX),
        Err(Error::GroupExists(u64::MAX))
    ));
    assert!(matches!(
        groups.drop_group(u64::MAX - 1),
        Err(Error::NoSuchGroup(_))
    ));

    assert!(
        export_bytes(&*group) == image,
        "a refused call changed group 7"
    );
    assert_eq!(listed(&*groups), vec![(7, Some(5), 0), (u64::MAX, None, 0)]);
    drop(group);
    let group = open_group(&*groups, 7);
    assert!(
        export_bytes(&*group) == image,
        "group 7 after it was reopened"
    );
    let empty = open_group(&*groups, u64::MAX);
    assert_eq!(all_data(&*empty), Vec::new());
    groups.verify_deep().expect("deep check");
}

/// A dropped group (one that was restored, so its entries are in a later generation)
/// is gone: not listed, `NoSuchGroup` to open or drop, nothing of it left for the deep
/// check, still gone after a reopen; its neighbours are unchanged; its id can be created
/// again and then holds nothing, not even its old applied index, so index 1 applies.
pub fn a_dropped_group_is_gone_after_reopen_and_its_id_starts_empty(h: &Harness) {
    let groups = open_groups(h, SyncMode::Sync);
    let ids = [0, 1, 2];
    let mut images = BTreeMap::new();
    for id in ids {
        let group = new_group(&*groups, id);
        fill_small(&*group, id, 10 + id);
        images.insert(id, export_bytes(&*group));
    }
    let dropped = open_group(&*groups, 1);
    dropped
        .restore(&mut images[&2].as_slice())
        .expect("restore");
    let mut batch = WriteBatch::new();
    batch.put("only/in/1", "x").put_meta("only-in-1", "x");
    apply_at(&*dropped, &batch, 40);
    assert_eq!(listed(&*groups)[1], (1, Some(40), 1));
    drop(dropped);

    groups.drop_group(1).expect("drop");
    assert_eq!(listed(&*groups), vec![(0, Some(10), 0), (2, Some(12), 0)]);
    assert!(matches!(groups.open_group(1), Err(Error::NoSuchGroup(1))));
    assert!(matches!(groups.drop_group(1), Err(Error::NoSuchGroup(1))));
    groups
        .verify_deep()
        .expect("nothing of the dropped group is left");
    groups.close().expect("close");

    let groups = open_groups(h, SyncMode::NoSync);
    assert_eq!(listed(&*groups), vec![(0, Some(10), 0), (2, Some(12), 0)]);
    assert!(matches!(groups.open_group(1), Err(Error::NoSuchGroup(1))));
    groups.verify_deep().expect("deep check after reopen");
    for id in [0, 2] {
        let group = open_group(&*groups, id);
        assert!(export_bytes(&*group) == images[&id], "group {id} changed");
    }
    let again = new_group(&*groups, 1);
    assert_eq!(all_data(&*again), Vec::new());
    assert_eq!(again.get_meta(b"only-in-1").expect("read meta"), None);
    assert_eq!(again.get_meta(b"schema").expect("read meta"), None);
    assert_eq!(again.applied_index().expect("read the index"), None);
    let mut stream = Vec::new();
    let header = again.export(&mut stream).expect("export");
    assert_eq!(
        (
            header.applied_index,
            header.data_records,
            header.meta_records
        ),
        (None, 0, 0)
    );
    assert_eq!(
        again.apply(&WriteBatch::new(), Some(1)).expect("apply"),
        ApplyOutcome::Applied { index: Some(1) }
    );
    assert_eq!(
        listed(&*groups),
        vec![(0, Some(10), 0), (1, Some(1), 0), (2, Some(12), 0)]
    );
}

/// `groups()` lists every group ascending by id, whatever order they were created in,
/// with its applied index (`None` before the first indexed apply) and its generation
/// (one more per restore), and lists the same after a reopen.
pub fn groups_are_listed_ascending_with_their_applied_indexes(h: &Harness) {
    let groups = open_groups(h, SyncMode::NoSync);
    assert_eq!(listed(&*groups), Vec::new());
    let created = [u64::MAX, 256, 0, 1 << 32, 255, u64::MAX - 1];
    let mut handles = BTreeMap::new();
    for id in created {
        handles.insert(id, new_group(&*groups, id));
    }
    for (id, index) in [(u64::MAX, 3), (256, 256), (0, u64::MAX), (1 << 32, 1)] {
        apply_at(&*handles[&id], &WriteBatch::new(), index);
    }
    let mut stream = Vec::new();
    handles[&256].export(&mut stream).expect("export");
    handles[&255]
        .restore(&mut stream.as_slice())
        .expect("restore");
    handles[&255]
        .restore(&mut stream.as_slice())
        .expect("restore again");
    let expected = vec![
        (0, Some(u64::MAX), 0),
        (255, Some(256), 2),
        (256, Some(256), 0),
        (1 << 32, Some(1), 0),
        (u64::MAX - 1, None, 0),
        (u64::MAX, Some(3), 0),
    ];
    assert_eq!(listed(&*groups), expected);
    drop(handles);
    groups.close().expect("close");
    let groups = open_groups(h, SyncMode::Sync);
    assert_eq!(listed(&*groups), expected, "after a reopen");
}

/// Groups keep their data, meta and applied index across a close and reopen of their
/// store in either sync mode (NoSync applies included: a close syncs), and a group
/// handle that outlives its store's handle keeps working and keeps what it applied
/// after that.
pub fn a_groups_store_keeps_everything_across_close_and_reopen(h: &Harness) {
    let ids = [0, 9, u64::MAX];
    let groups = open_groups(h, SyncMode::Sync);
    for id in ids {
        fill_small(&*new_group(&*groups, id), id, 3);
    }
    groups.close().expect("close");

    let groups = open_groups(h, SyncMode::NoSync);
    let mut images = BTreeMap::new();
    for id in ids {
        let group = open_group(&*groups, id);
        assert_eq!(group.applied_index().expect("read the index"), Some(3));
        let mut batch = WriteBatch::new();
        batch.put(format!("nosync/{id}"), "unsynced until the close");
        apply_at(&*group, &batch, 4);
        images.insert(id, export_bytes(&*group));
    }
    groups.close().expect("close");

    let groups = open_groups(h, SyncMode::Sync);
    for id in ids {
        let group = open_group(&*groups, id);
        assert!(export_bytes(&*group) == images[&id], "group {id} changed");
    }
    let outliving = open_group(&*groups, 9);
    groups
        .close()
        .expect("close the store while a group is open");
    let mut batch = WriteBatch::new();
    batch.put("after/the/store/closed", "kept");
    apply_at(&*outliving, &batch, 5);
    images.insert(9, export_bytes(&*outliving));
    outliving.close().expect("close the last group");

    let groups = open_groups(h, SyncMode::NoSync);
    assert_eq!(
        listed(&*groups),
        vec![(0, Some(4), 0), (9, Some(5), 0), (u64::MAX, Some(4), 0)]
    );
    for id in ids {
        let group = open_group(&*groups, id);
        assert!(export_bytes(&*group) == images[&id], "group {id} changed");
    }
    groups.verify_deep().expect("deep check");
}

/// A store of one group opened as a groups store, and a groups store opened as a store
/// of one group (read-write or read-only), are `LayoutMismatch` naming the directory and
/// both layouts, and change no byte of any file in the directory; each store then
/// opens as what it is, with its data.
pub fn a_store_of_one_group_and_a_groups_store_refuse_each_others_layout(h: &Harness) {
    let single_dir = h.scratch("single");
    let single = fsmstore::open(h.backend(), &single_dir, &Config::new(SyncMode::Sync))
        .expect("open a store of one group");
    fill_small(&*single, 1, 11);
    let single_image = export_bytes(&*single);
    single.close().expect("close");
    let before = files(&single_dir);
    for config in [
        Config::new(SyncMode::Sync),
        Config::new(SyncMode::NoSync).with_read_only(),
    ] {
        match fsmstore::open_groups(h.backend(), &single_dir, &config) {
            Err(Error::LayoutMismatch {
                path,
                expected,
                found,
            }) => {
                assert_eq!(path, single_dir);
                assert_eq!((expected, found), (Layout::Groups, Layout::Single));
            }
            Err(error) => panic!("a store of one group opened as groups: {error}"),
            Ok(_) => panic!("a store of one group opened as a groups store"),
        }
        assert!(
            files(&single_dir) == before,
            "a refused groups open changed the store of one group"
        );
    }
    let single = fsmstore::open(h.backend(), &single_dir, &Config::new(SyncMode::Sync))
        .expect("reopen the store of one group");
    assert!(export_bytes(&*single) == single_image);
    single.close().expect("close");

    let groups = open_groups(h, SyncMode::Sync);
    let group = new_group(&*groups, 1);
    fill_small(&*group, 1, 11);
    drop(group);
    groups.close().expect("close");
    let before = files(h.dir());
    for config in [
        Config::new(SyncMode::Sync),
        Config::new(SyncMode::NoSync).with_read_only(),
    ] {
        match fsmstore::open(h.backend(), h.dir(), &config) {
            Err(Error::LayoutMismatch {
                path,
                expected,
                found,
            }) => {
                assert_eq!(path, h.dir());
                assert_eq!((expected, found), (Layout::Single, Layout::Groups));
            }
            Err(error) => panic!("a groups store opened as one group: {error}"),
            Ok(_) => panic!("a groups store opened as a store of one group"),
        }
        assert!(
            files(h.dir()) == before,
            "a refused open changed the groups store"
        );
    }
    let groups = open_groups(h, SyncMode::Sync);
    let group = open_group(&*groups, 1);
    assert!(
        export_bytes(&*group) == single_image,
        "the groups store changed"
    );
}

// ---------------------------------------------------------------------------------------
// The shared fsync.

/// Groups that apply at the same time: every edge of the id space.
const APPLIERS: [u64; 8] = EDGE_GROUPS;
/// How many indexed batches each applier commits.
const APPLIES: u64 = 50;

/// Applies [`APPLIES`] indexed batches to group `id`, each with a key and meta.
fn apply_many(group: &dyn Engine, id: u64) {
    for index in 1..=APPLIES {
        let mut batch = WriteBatch::new();
        batch.put(format!("entry/{index:03}"), format!("{id}/{index}"));
        batch.put_meta("last", format!("{id}/{index}"));
        apply_at(group, &batch, index);
    }
}

/// Group `id` holds every batch [`apply_many`] applied, and its last index.
fn check_all_applied(group: &dyn Engine, id: u64) {
    let expected: Entries = (1..=APPLIES)
        .map(|index| {
            (
                format!("entry/{index:03}").into_bytes(),
                format!("{id}/{index}").into_bytes(),
            )
        })
        .collect();
    assert_eq!(all_data(group), expected, "group {id} lost applies");
    assert_eq!(
        group.get_meta(b"last").expect("read meta").as_deref(),
        Some(format!("{id}/{APPLIES}").as_bytes())
    );
    assert_eq!(
        group.applied_index().expect("read the index"),
        Some(APPLIES)
    );
}

/// The stats `after` less the stats `before`.
fn since(before: CommitStats, after: CommitStats) -> (u64, u64, u64) {
    (
        after.commits - before.commits,
        after.rounds - before.rounds,
        after.durable_rounds - before.durable_rounds,
    )
}

/// Applies [`APPLIES`] batches to every group of `handles` from a thread each, all
/// released at once.
fn apply_concurrently(handles: &[(u64, Box<dyn Engine>)]) {
    let start = Barrier::new(handles.len());
    std::thread::scope(|scope| {
        for (id, group) in handles {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                apply_many(&**group, *id);
            });
        }
    });
}

/// Creates and opens each group of [`APPLIERS`].
fn new_appliers(groups: &dyn GroupStore) -> Vec<(u64, Box<dyn Engine>)> {
    APPLIERS
        .iter()
        .map(|&id| (id, new_group(groups, id)))
        .collect()
}

/// Every group of `handles` holds all that [`apply_many`] applied, and so does each of
/// [`APPLIERS`] once `groups` is closed and reopened in `mode`.
fn check_appliers_across_reopen(
    h: &Harness,
    groups: Box<dyn GroupStore>,
    handles: Vec<(u64, Box<dyn Engine>)>,
    mode: SyncMode,
) {
    for (id, group) in &handles {
        check_all_applied(&**group, *id);
    }
    drop(handles);
    groups.close().expect("close");
    let groups = open_groups(h, mode);
    for id in APPLIERS {
        check_all_applied(&*open_group(&*groups, id), id);
    }
}

/// Eight threads, each applying 50 indexed batches to its own group of a Sync store at
/// the same time, lose no apply (before and after a reopen), and share fsyncs: every
/// round is durable, and on an engine with a real fsync there are fewer than half as
/// many durable rounds as commits.
pub fn concurrent_sync_applies_of_many_groups_share_fsyncs(h: &Harness) {
    let groups = open_groups(h, SyncMode::Sync);
    let handles = new_appliers(&*groups);
    let before = groups.commit_stats();
    apply_concurrently(&handles);
    let (commits, rounds, durable) = since(before, groups.commit_stats());
    println!(
        "{}: {commits} Sync commits of {} groups took {rounds} engine commits, {durable} durable",
        h.backend(),
        handles.len()
    );
    assert_eq!(commits, APPLIERS.len() as u64 * APPLIES);
    assert_eq!(durable, rounds, "a round of Sync applies was not durable");
    // The memory engine's durable commit costs nothing: commits rarely meet in a round.
    if h.backend().is_durable() == Some(true) {
        assert!(
            durable * 2 < commits,
            "{durable} durable rounds for {commits} commits: groups did not share fsyncs"
        );
    }
    check_appliers_across_reopen(h, groups, handles, SyncMode::NoSync);
}

/// In a NoSync store, eight groups applying 50 batches each at the same time make no
/// durable round at all; durable rounds come only from what asks for one: concurrent
/// pins (one to eight rounds for eight pins), a store-wide sync and a group's sync (one
/// each), and a pin of an index already durable makes none.
pub fn nosync_applies_make_no_durable_round_and_only_syncs_and_pins_do(h: &Harness) {
    let groups = open_groups(h, SyncMode::NoSync);
    let handles = new_appliers(&*groups);
    let n = handles.len() as u64;

    let before = groups.commit_stats();
    apply_concurrently(&handles);
    let applied = groups.commit_stats();
    let (commits, rounds, durable) = since(before, applied);
    println!(
        "{}: {commits} NoSync commits of {n} groups took {rounds} engine commits, {durable} durable",
        h.backend()
    );
    assert_eq!(commits, n * APPLIES);
    assert!(rounds <= commits);
    assert_eq!(durable, 0, "NoSync applies made durable rounds");

    let start = Barrier::new(handles.len());
    std::thread::scope(|scope| {
        for (_, group) in &handles {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                assert_eq!(
                    group.set_durable_applied_index(APPLIES).expect("pin"),
                    APPLIES
                );
            });
        }
    });
    let pinned = groups.commit_stats();
    let (commits, _, durable) = since(applied, pinned);
    println!(
        "{}: {n} concurrent pins took {durable} durable rounds",
        h.backend()
    );
    assert_eq!(commits, n);
    assert!(
        (1..=n).contains(&durable),
        "{durable} durable rounds for {n} pins"
    );

    for (_, group) in &handles {
        assert_eq!(
            group.set_durable_applied_index(APPLIES).expect("pin"),
            APPLIES
        );
    }
    assert_eq!(
        groups.commit_stats(),
        pinned,
        "a pin of a durable index made a commit"
    );

    groups.sync().expect("sync the store");
    let synced = groups.commit_stats();
    assert_eq!(since(pinned, synced), (1, 1, 1), "a store-wide sync");
    handles[3].1.sync().expect("sync a group");
    assert_eq!(
        since(synced, groups.commit_stats()),
        (1, 1, 1),
        "a group's sync"
    );

    check_appliers_across_reopen(h, groups, handles, SyncMode::Sync);
}

/// While four groups apply 50 indexed batches each in their own threads, three more
/// threads create, fill, check, drop and recreate groups of their own, and are refused
/// (typed) when they open, drop or create the appliers' groups, and list the groups:
/// no apply is lost, every churned group holds exactly what its thread wrote, and the
/// store passes the deep check, before and after a reopen.
pub fn groups_created_dropped_and_opened_while_others_apply_lose_nothing(h: &Harness) {
    let appliers = [0, 1, u64::MAX - 1, u64::MAX];
    let churners = [255u64, 256, 1 << 32];
    let rounds = 15u64;
    let groups = open_groups(h, SyncMode::Sync);
    let handles: Vec<(u64, Box<dyn Engine>)> = appliers
        .iter()
        .map(|&id| (id, new_group(&*groups, id)))
        .collect();
    let start = Barrier::new(appliers.len() + churners.len());
    std::thread::scope(|scope| {
        for (id, group) in &handles {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                apply_many(&**group, *id);
            });
        }
        for id in churners {
            let (start, groups) = (&start, &*groups);
            scope.spawn(move || {
                start.wait();
                for round in 1..=rounds {
                    let group = new_group(groups, id);
                    assert_eq!(all_data(&*group), Vec::new(), "a recreated group {id}");
                    assert_eq!(group.applied_index().expect("read the index"), None);
                    let mut batch = WriteBatch::new();
                    batch.put(format!("round/{round}"), format!("{id}"));
                    batch.put_meta("round", format!("{round}"));
                    apply_at(&*group, &batch, round);
                    for other in appliers {
                        assert!(matches!(
                            groups.open_group(other),
                            Err(Error::GroupInUse(_))
                        ));
                        assert!(matches!(
                            groups.drop_group(other),
                            Err(Error::GroupInUse(_))
                        ));
                        assert!(matches!(
                            groups.create_group(other),
                            Err(Error::GroupExists(_))
                        ));
                    }
                    let ids: Vec<u64> = listed(groups).iter().map(|(id, ..)| *id).collect();
                    assert!(appliers.iter().all(|other| ids.contains(other)), "{ids:?}");
                    assert!(ids.contains(&id), "{ids:?}");
                    assert_eq!(
                        all_data(&*group),
                        vec![(
                            format!("round/{round}").into_bytes(),
                            id.to_string().into_bytes()
                        )]
                    );
                    if round == rounds {
                        break;
                    }
                    assert!(matches!(groups.drop_group(id), Err(Error::GroupInUse(_))));
                    drop(group);
                    groups.drop_group(id).expect("drop");
                    assert!(matches!(groups.open_group(id), Err(Error::NoSuchGroup(_))));
                }
            });
        }
    });
    let check = |groups: &dyn GroupStore| {
        let mut expected: Vec<(u64, Option<u64>, u32)> = appliers
            .iter()
            .map(|&id| (id, Some(APPLIES), 0))
            .chain(churners.iter().map(|&id| (id, Some(rounds), 0)))
            .collect();
        expected.sort_unstable();
        assert_eq!(listed(groups), expected);
        for id in appliers {
            check_all_applied(&*open_group(groups, id), id);
        }
        for id in churners {
            let group = open_group(groups, id);
            assert_eq!(
                all_data(&*group),
                vec![(
                    format!("round/{rounds}").into_bytes(),
                    id.to_string().into_bytes()
                )]
            );
            assert_eq!(
                group.get_meta(b"round").expect("read meta").as_deref(),
                Some(rounds.to_string().as_bytes())
            );
        }
        groups.verify_deep().expect("deep check");
    };
    drop(handles);
    check(&*groups);
    groups.close().expect("close");
    check(&*open_groups(h, SyncMode::NoSync));
}

// ---------------------------------------------------------------------------------------
// Snapshots between groups and stores of their own.

/// A group's export restores into a store of its own of the same engine, whose export is
/// then byte-identical; that store's export restores into another group (which held
/// more, at a higher index: the restore replaces it and lowers the index), whose export
/// is again the same bytes. The source group and a neighbour are unchanged, the target's
/// generation rose by one, and all of it holds after a reopen.
pub fn a_groups_snapshot_moves_to_a_store_of_its_own_and_back_byte_identical(h: &Harness) {
    let groups = open_groups(h, SyncMode::Sync);
    let source = new_group(&*groups, 3);
    fill_edges(&*source, 3, 42);
    let neighbour = new_group(&*groups, 4);
    fill_edges(&*neighbour, 4, 9);
    let neighbour_image = export_bytes(&*neighbour);
    let stream = export_bytes(&*source);

    let single_dir = h.scratch("single");
    let single = fsmstore::open(h.backend(), &single_dir, &Config::new(SyncMode::NoSync))
        .expect("open a store of one group");
    let header = single.restore(&mut stream.as_slice()).expect("restore");
    assert_eq!(header.applied_index, Some(42));
    assert_eq!(header.data_records, edge_keys(3).len() as u64);
    assert!(
        export_bytes(&*single) == stream,
        "the store's export differs"
    );
    assert_eq!(all_data(&*single), edge_entries(3, |_| true));
    assert_eq!(single.applied_index().expect("read the index"), Some(42));
    let back = export_bytes(&*single);

    let target = new_group(&*groups, 5);
    fill_small(&*target, 5, 100);
    target.restore(&mut back.as_slice()).expect("restore");
    assert!(
        export_bytes(&*target) == stream,
        "the group's export differs"
    );
    assert_eq!(target.applied_index().expect("read the index"), Some(42));
    assert_eq!(target.get(b"shared").expect("get"), None);
    assert!(export_bytes(&*source) == stream, "the source group changed");
    assert!(
        export_bytes(&*neighbour) == neighbour_image,
        "the neighbour changed"
    );
    assert_eq!(
        listed(&*groups),
        vec![(3, Some(42), 0), (4, Some(9), 0), (5, Some(42), 1)]
    );

    drop((source, neighbour, target));
    single.close().expect("close");
    groups.close().expect("close");
    let groups = open_groups(h, SyncMode::NoSync);
    for (id, image) in [(3, &stream), (4, &neighbour_image), (5, &stream)] {
        assert!(
            export_bytes(&*open_group(&*groups, id)) == *image,
            "group {id} after reopen"
        );
    }
    groups.verify_deep().expect("deep check");
    let single = fsmstore::open(h.backend(), &single_dir, &Config::new(SyncMode::Sync))
        .expect("reopen the store of one group");
    assert!(export_bytes(&*single) == stream, "the store after reopen");
}

/// A restore into a group of a NoSync store makes durable rounds and leaves the
/// snapshot's index durable: a pin at it makes no commit, the gate skips a restore at
/// that index and executes one above it, and after a reopen the gate still skips it and
/// the group holds the snapshot exactly.
pub fn a_restore_into_a_group_is_pinned_and_the_gate_then_skips_it(h: &Harness) {
    let groups = open_groups(h, SyncMode::NoSync);
    let source = new_group(&*groups, u64::MAX);
    fill_edges(&*source, u64::MAX, 77);
    let stream = export_bytes(&*source);
    let target = new_group(&*groups, 0);
    fill_small(&*target, 0, 5);

    let before = groups.commit_stats();
    target.restore(&mut stream.as_slice()).expect("restore");
    let restored = groups.commit_stats();
    let (_, _, durable) = since(before, restored);
    assert!(
        durable >= 1,
        "a restore in a NoSync store made no durable round"
    );
    assert_eq!(target.set_durable_applied_index(77).expect("pin"), 77);
    assert_eq!(
        groups.commit_stats(),
        restored,
        "a pin at the restored index made a commit"
    );
    assert!(matches!(
        decide_restore(&*target, 77),
        RestoreDecision::Skip { applied: 77 }
    ));
    assert!(matches!(
        decide_restore(&*target, 78),
        RestoreDecision::Execute { applied: 77 }
    ));

    drop((source, target));
    groups.close().expect("close");
    let groups = open_groups(h, SyncMode::NoSync);
    let target = open_group(&*groups, 0);
    assert!(matches!(
        decide_restore(&*target, 77),
        RestoreDecision::Skip { applied: 77 }
    ));
    assert!(
        export_bytes(&*target) == stream,
        "the restored group after reopen"
    );
    assert_eq!(
        listed(&*groups),
        vec![(0, Some(77), 1), (u64::MAX, Some(77), 0)]
    );
}

/// An engine that comes back below the round that made a group's checkpoint durable (as
/// a log cut at damage, a repair to an older commit or a rolled-back meta page would
/// leave it) is refused with `RolledBack` instead of serving the older state; the same
/// store with its engine files as they were opens, every group as it was.
pub fn an_engine_recovered_below_a_groups_checkpoint_is_refused(h: &Harness) {
    if h.backend().is_durable() != Some(true) {
        return;
    }
    let groups = open_groups(h, SyncMode::NoSync);
    let (first, second) = (new_group(&*groups, 3), new_group(&*groups, 4));
    for index in 1..=5 {
        apply_at(&*first, &put("k", &format!("v{index}")), index);
    }
    first.set_durable_applied_index(5).expect("pin 5");
    drop((first, second));
    groups.close().expect("close");
    let older = h.scratch("older-engine-files");
    crate::rollback::copy_engine_files(h.dir(), &older);

    let groups = open_groups(h, SyncMode::NoSync);
    let (first, second) = (open_group(&*groups, 3), open_group(&*groups, 4));
    apply_at(&*second, &put("k", "later"), 1);
    for index in 6..=10 {
        apply_at(&*first, &put("k", &format!("v{index}")), index);
    }
    first.set_durable_applied_index(10).expect("pin 10");
    drop((first, second));
    groups.close().expect("close");
    let latest = h.scratch("latest-engine-files");
    crate::rollback::copy_engine_files(h.dir(), &latest);

    crate::rollback::put_back_engine_files(h.dir(), &older);
    match fsmstore::open_groups(h.backend(), h.dir(), &Config::new(SyncMode::NoSync)) {
        Err(Error::RolledBack {
            recovered, pinned, ..
        }) => assert!(recovered < Some(pinned), "{recovered:?} < {pinned}"),
        other => panic!("expected RolledBack, got {other:?}"),
    }
    crate::rollback::put_back_engine_files(h.dir(), &latest);
    let groups = open_groups(h, SyncMode::NoSync);
    let (first, second) = (open_group(&*groups, 3), open_group(&*groups, 4));
    assert_eq!(first.applied_index().expect("index"), Some(10));
    assert_eq!(second.applied_index().expect("index"), Some(1));
    assert_eq!(first.get(b"k").expect("get").as_deref(), Some(&b"v10"[..]));
}
