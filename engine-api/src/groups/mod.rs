//! Many raft groups in one store: one directory, one engine, one fsync shared by the
//! groups that commit at the same time.
//!
//! A group is an [`Engine`] with the whole contract of a store of its own (its own
//! applied index, skip, pin, meta, range deletes, snapshots and restore), kept apart from
//! every other group by construction: [`GroupRaw`] puts the group's prefix before every
//! key and meta name it is handed and clips every range to it (see `layout.rs`), and the
//! unchanged [`Store`] runs every rule above it. Commits of all groups reach the engine
//! through one [`pipeline`](self) that makes one engine commit, and one fsync, per round.

mod group;
mod layout;
mod pipeline;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use group::GroupRaw;
pub use layout::{GROUP_KEY_PREFIX_LEN, GROUP_MAX_KEY_LEN};
pub use pipeline::CommitStats;

use self::group::{GroupHome, keys_in};
use self::pipeline::{Pipeline, ROUND_KEY};
use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index};
use crate::batch::{Commit, RawOp};
use crate::config::Config;
use crate::deep_check::{DeepCheck, check_view};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::home::{DirHome, Home};
use crate::marker::Layout;
use crate::range::{DeletedRanges, Direction, KeyRange};
use crate::raw::{Durability, RawEngine, ReadView};
use crate::snapshot::Namespace;
use crate::store::Store;
use crate::sync_mode::{SYNC_MODE_ENV, SyncMode};

/// One group of a groups store, as [`GroupStore::groups`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group's id.
    pub id: u64,
    /// The group's applied index, `None` before its first indexed apply.
    pub applied_index: Option<u64>,
    /// How many times the group was restored from a snapshot since it was created.
    pub generation: u32,
}

/// A store of many groups, picked at run time: what
/// [`fsmstore::open_groups`](https://docs.rs/fsmstore) returns. [`Groups`] implements
/// it for every backend.
///
/// A group is an [`Engine`] of its own; no op of one group reads or changes another's
/// keys, meta or applied index. Commits of different groups that run at the same time
/// share one engine commit and one fsync. A directory records its layout: opening a
/// groups store as a store of one group, or the reverse, is [`Error::LayoutMismatch`].
pub trait GroupStore: Send + Sync + std::fmt::Debug {
    /// The engine's name (`memory`, `redb`, ...).
    fn engine_name(&self) -> &'static str;

    /// The sync mode every group runs in (after the environment override).
    fn sync_mode(&self) -> SyncMode;

    /// Creates an empty group, durably: it exists when this returns, and after any
    /// crash. An existing id is [`Error::GroupExists`].
    fn create_group(&self, id: u64) -> Result<()>;

    /// Opens a group: an [`Engine`] with the contract of a store of its own, whose keys
    /// and meta names are at most [`GROUP_MAX_KEY_LEN`] bytes. A missing group is
    /// [`Error::NoSuchGroup`]; a group has one handle at a time, so an open one is
    /// [`Error::GroupInUse`]. The handle keeps the store's engine open, even when this
    /// store's handle is dropped first; closing it syncs the group.
    fn open_group(&self, id: u64) -> Result<Box<dyn Engine>>;

    /// Drops a group and every entry it holds in one durable commit: a crash leaves the
    /// group whole or gone. The engine frees the space as it compacts. An open group is
    /// [`Error::GroupInUse`], a missing one [`Error::NoSuchGroup`].
    fn drop_group(&self, id: u64) -> Result<()>;

    /// Every group, ascending by id, with its applied index.
    fn groups(&self) -> Result<Vec<GroupInfo>>;

    /// Makes every commit of every group durable.
    fn sync(&self) -> Result<()>;

    /// Walks the whole engine through one read view: what [`Engine::verify_deep`] checks
    /// of a store (order, lengths, each group's applied-index encoding), and that every
    /// entry belongs to the live generation of a group that exists. Damage, or an entry
    /// that a crash should have left only until the next open, is [`Error::Corruption`].
    fn verify_deep(&self) -> Result<DeepCheck>;

    /// How many commits the groups made and how many engine commits and fsyncs they
    /// took, since the store was opened.
    fn commit_stats(&self) -> CommitStats;

    /// Syncs and closes this handle. The engine closes cleanly once no group is open
    /// either (an open group's handle closes it when it goes).
    fn close(self: Box<Self>) -> Result<()>;
}

/// The state every group of one store shares: the engine, its directory, the commit
/// pipeline, and which groups exist and which are open.
pub(crate) struct Shared<R: RawEngine> {
    /// Taken only when the last handle goes.
    raw: Option<R>,
    home: DirHome,
    config: Config,
    pipeline: Pipeline,
    /// Each group's live generation. Held across the durable commit of a creation, a
    /// drop or a restore's switch, so the map is what the engine holds.
    generations: Mutex<BTreeMap<u64, u32>>,
    /// The groups with a handle.
    open: Mutex<BTreeSet<u64>>,
}

impl<R: RawEngine> Shared<R> {
    fn engine(&self) -> &R {
        self.raw
            .as_ref()
            .unwrap_or_else(|| unreachable!("the engine is only taken when the last handle goes"))
    }

    fn dir(&self) -> &Path {
        Home::<R>::path(&self.home)
    }

    /// Commits `ops` through the pipeline.
    fn submit(&self, ops: Vec<RawOp>, durability: Durability) -> Result<()> {
        if self.config.read_only {
            return Err(Error::ReadOnly(self.dir().to_owned()));
        }
        if durability == Durability::Buffered && !ops.is_empty() {
            self.home.note_unsynced_writes()?;
        }
        self.pipeline.submit(ops, durability, &|ops, durability| {
            if ops.is_empty() {
                self.engine().sync()
            } else {
                self.engine().commit(&Commit::raw(ops), durability)
            }
        })
    }

    fn generations(&self) -> MutexGuard<'_, BTreeMap<u64, u32>> {
        // Entries change only after their commit succeeded.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn open_set(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `generation` the live one of group `id`, durably.
    fn switch_generation(&self, id: u64, generation: u32) -> Result<()> {
        let mut generations = self.generations();
        self.submit(
            vec![RawOp::PutMeta {
                name: layout::record_name(id).to_vec().into(),
                value: layout::encode_record(generation).to_vec().into(),
            }],
            Durability::Durable,
        )?;
        generations.insert(id, generation);
        Ok(())
    }

    /// The live generation of group `id` as the engine records it.
    fn live_generation(&self, id: u64) -> Result<u32> {
        match self.engine().get_meta(&layout::record_name(id))? {
            Some(value) => layout::decode_record(id, &value),
            None => Err(Error::NoSuchGroup(id)),
        }
    }

    /// Removes every entry of group `id` outside generation `live`, durably.
    fn remove_other_generations(&self, id: u64, live: u32) -> Result<()> {
        let ops = self
            .engine()
            .with_view(&mut |view| garbage(view, id, Some(live)))?;
        if ops.is_empty() {
            return Ok(());
        }
        self.submit(ops, Durability::Durable)
    }

    /// Records in the marker that every round so far is durable and pinned: an open that
    /// finds the engine below it refuses (see [`Error::RolledBack`]).
    fn record_pin(&self) {
        Home::<R>::record_pin(&self.home, self.pipeline.sealed());
    }

    fn release(&self, id: u64) {
        self.open_set().remove(&id);
    }
}

impl<R: RawEngine> Drop for Shared<R> {
    fn drop(&mut self) {
        let Some(raw) = self.raw.take() else {
            return;
        };
        if self.config.read_only {
            return;
        }
        if let Some(reason) = self.pipeline.stopped() {
            // A sync now could vouch for pages the failed one lost.
            tracing::error!(engine = R::NAME, %reason, "the groups store stopped after a failed durable commit; closed without a sync");
            return;
        }
        if let Err(error) = Home::<R>::close(&self.home, raw) {
            tracing::error!(engine = R::NAME, %error, "closing the groups store failed; NoSync commits may be lost");
        }
    }
}

/// A groups store over the engine `R`: implements [`GroupStore`].
pub struct Groups<R: RawEngine> {
    shared: Arc<Shared<R>>,
}

impl<R: RawEngine> Groups<R> {
    /// Opens the groups store in `dir`, creating it (and the directory, whose parent
    /// must exist) when missing.
    ///
    /// Everything [`Store::open`] checks, it checks (the sync-mode override, another
    /// engine's directory, a store held by another handle, missing engine files), and a
    /// store of one group in `dir` is [`Error::LayoutMismatch`]. What a crash left of an
    /// unfinished restore or drop is removed before the open returns (unless read-only).
    pub fn open(dir: impl AsRef<Path>, config: &Config) -> Result<Self> {
        let dir = dir.as_ref();
        let sync_mode =
            SyncMode::resolve(config.sync_mode, std::env::var_os(SYNC_MODE_ENV).as_deref())?;
        let config = config.clone().with_sync_mode(sync_mode);
        let (raw, home) = DirHome::open::<R>(dir, &config, Layout::Groups)?;
        let sealed = match raw.get_meta(ROUND_KEY)? {
            None => 0,
            Some(value) => u64::from_be_bytes(value.as_ref().try_into().map_err(|_| {
                Error::Corruption(format!(
                    "{}: the last durable round's number has {} bytes, not 8",
                    dir.display(),
                    value.len()
                ))
            })?),
        };
        if let Some(pinned) = home.pinned()
            && R::IS_DURABLE
            && sealed < pinned
        {
            // The engine recovered below a round that made a group's checkpoint durable.
            return Err(Error::RolledBack {
                path: dir.to_owned(),
                recovered: Some(sealed),
                pinned,
            });
        }
        let (generations, garbage) = raw.with_view(&mut |view| survey(view))?;
        if !garbage.is_empty() && !config.read_only {
            tracing::info!(
                engine = R::NAME,
                ops = garbage.len(),
                "removing what an interrupted restore or drop left"
            );
            raw.commit(&Commit::raw(&garbage), Durability::Durable)?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                raw: Some(raw),
                home,
                config,
                pipeline: Pipeline::new(sealed),
                generations: Mutex::new(generations),
                open: Mutex::new(BTreeSet::new()),
            }),
        })
    }

    /// Opens group `id` as a [`Store`] (see [`GroupStore::open_group`]).
    pub fn group(&self, id: u64) -> Result<Store<GroupRaw<R>>> {
        let generations = self.shared.generations();
        let generation = *generations.get(&id).ok_or(Error::NoSuchGroup(id))?;
        if !self.shared.open_set().insert(id) {
            return Err(Error::GroupInUse(id));
        }
        drop(generations);
        let home = GroupHome::new(Arc::clone(&self.shared), id, generation);
        let raw = GroupRaw::new(Arc::clone(&self.shared), id, generation);
        // On failure the home is dropped, which releases the group.
        Store::with_home(self.shared.config.clone(), raw, Box::new(home))
    }

    /// What [`GroupStore::close`] does, for the typed handle.
    pub fn close(self) -> Result<()> {
        if let Some(reason) = self.shared.pipeline.stopped() {
            // Dropped without a sync: one now could vouch for pages the failed one lost.
            return Err(Error::Stopped(reason));
        }
        if !self.shared.config.read_only {
            self.sync()?;
        }
        match Arc::try_unwrap(self.shared) {
            Ok(mut shared) => match shared.raw.take() {
                Some(raw) if !shared.config.read_only => Home::<R>::close(&shared.home, raw),
                _ => Ok(()),
            },
            // A group is still open: the engine closes when its handle goes.
            Err(_) => Ok(()),
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        self.shared.dir()
    }
}

impl<R: RawEngine> GroupStore for Groups<R> {
    fn engine_name(&self) -> &'static str {
        R::NAME
    }

    fn sync_mode(&self) -> SyncMode {
        self.shared.config.sync_mode
    }

    fn create_group(&self, id: u64) -> Result<()> {
        let mut generations = self.shared.generations();
        if generations.contains_key(&id) {
            return Err(Error::GroupExists(id));
        }
        self.shared.submit(
            vec![RawOp::PutMeta {
                name: layout::record_name(id).to_vec().into(),
                value: layout::encode_record(0).to_vec().into(),
            }],
            Durability::Durable,
        )?;
        generations.insert(id, 0);
        Ok(())
    }

    fn open_group(&self, id: u64) -> Result<Box<dyn Engine>> {
        Ok(Box::new(self.group(id)?))
    }

    fn drop_group(&self, id: u64) -> Result<()> {
        let mut generations = self.shared.generations();
        if !generations.contains_key(&id) {
            return Err(Error::NoSuchGroup(id));
        }
        if self.shared.open_set().contains(&id) {
            return Err(Error::GroupInUse(id));
        }
        let ops = self
            .shared
            .engine()
            .with_view(&mut |view| garbage(view, id, None))?;
        self.shared.submit(ops, Durability::Durable)?;
        generations.remove(&id);
        Ok(())
    }

    fn groups(&self) -> Result<Vec<GroupInfo>> {
        let generations = self.shared.generations().clone();
        self.shared.engine().with_view(&mut |view| {
            generations
                .iter()
                .map(|(&id, &generation)| {
                    let name = layout::prefixed(&layout::prefix(id, generation), APPLIED_INDEX_KEY);
                    Ok(GroupInfo {
                        id,
                        applied_index: decode_applied_index(
                            view.get(Namespace::Meta, &name)?.as_deref(),
                        ),
                        generation,
                    })
                })
                .collect()
        })
    }

    fn sync(&self) -> Result<()> {
        self.shared.submit(Vec::new(), Durability::Durable)
    }

    fn commit_stats(&self) -> CommitStats {
        self.shared.pipeline.stats()
    }

    fn verify_deep(&self) -> Result<DeepCheck> {
        let generations = self.shared.generations().clone();
        self.shared.engine().with_view(&mut |view| {
            for (namespace, name) in [(Namespace::Data, "data"), (Namespace::Meta, "meta")] {
                view.scan(
                    namespace,
                    &KeyRange::full(),
                    Direction::Forward,
                    &mut |key, value| {
                        check_entry(&generations, namespace, key, value).map_err(|why| {
                            Error::Corruption(format!("{name} entry {key:02x?}: {why}"))
                        })?;
                        Ok(ControlFlow::Continue(()))
                    },
                )?;
            }
            // Every group's entries, records included; no single applied index.
            check_view(view)
        })
    }

    fn close(self: Box<Self>) -> Result<()> {
        Groups::close(*self)
    }
}

impl<R: RawEngine> std::fmt::Debug for Groups<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups")
            .field("engine", &R::NAME)
            .field("dir", &self.shared.dir())
            .finish_non_exhaustive()
    }
}

/// Walks the groups' records and finds what a crash left behind: each group's live
/// generation, and the ops that remove every entry outside a live generation (of a
/// restore that never switched, a switch whose old generation was not yet removed, or a
/// group without a record).
fn survey(view: &dyn ReadView) -> Result<(BTreeMap<u64, u32>, Vec<RawOp>)> {
    let mut generations = BTreeMap::new();
    let mut unrecorded = BTreeSet::new();
    for namespace in [Namespace::Meta, Namespace::Data] {
        let mut cursor = Some(0u64);
        while let Some(from) = cursor {
            let Some(range) = layout::between(&layout::record_name(from), None) else {
                break;
            };
            let Some((key, value)) = first_in(view, namespace, &range)? else {
                break;
            };
            let id = layout::group_of(&key).ok_or_else(|| {
                Error::Corruption(format!("the engine key {key:02x?} belongs to no group"))
            })?;
            if namespace == Namespace::Meta && key.len() == 8 {
                generations.insert(id, layout::decode_record(id, &value)?);
            } else if !generations.contains_key(&id) {
                unrecorded.insert(id);
            }
            cursor = id.checked_add(1);
        }
    }
    let mut ops = Vec::new();
    for (&id, &live) in &generations {
        if layout::other_generations(id, live)
            .iter()
            .flatten()
            .map(|range| {
                Ok(first_in(view, Namespace::Data, range)?.is_some()
                    || first_in(view, Namespace::Meta, range)?.is_some())
            })
            .collect::<Result<Vec<bool>>>()?
            .contains(&true)
        {
            ops.extend(garbage(view, id, Some(live))?);
        }
    }
    for id in unrecorded {
        ops.extend(garbage(view, id, None)?);
    }
    Ok((generations, ops))
}

/// The ops that remove every entry of group `id` outside generation `keep`, or, with
/// `None`, the whole group and its record. Data goes by range deletes; meta (which has
/// none) key by key.
fn garbage(view: &dyn ReadView, id: u64, keep: Option<u32>) -> Result<Vec<RawOp>> {
    let ranges = match keep {
        Some(live) => layout::other_generations(id, live),
        None => [layout::whole_group(id), None],
    };
    let mut ops = vec![RawOp::DeleteRange(DeletedRanges::from_ranges(
        ranges.clone(),
    ))];
    for range in ranges.iter().flatten() {
        keys_in(view, Namespace::Meta, range, &mut |name| {
            ops.push(RawOp::DeleteMeta {
                name: name.to_vec().into(),
            });
        })?;
    }
    Ok(ops)
}

/// Why an engine entry is not where a groups store keeps entries, if it is not.
fn check_entry(
    generations: &BTreeMap<u64, u32>,
    namespace: Namespace,
    key: &[u8],
    value: &[u8],
) -> std::result::Result<(), String> {
    if namespace == Namespace::Meta && key == ROUND_KEY {
        return match value.len() {
            8 => Ok(()),
            length => Err(format!("a round number of {length} bytes")),
        };
    }
    let id = layout::group_of(key).ok_or("shorter than a group id")?;
    let Some(&live) = generations.get(&id) else {
        return Err(format!("of group {id}, which does not exist"));
    };
    if namespace == Namespace::Meta && key.len() == 8 {
        return layout::decode_record(id, value)
            .map(drop)
            .map_err(|error| error.to_string());
    }
    if key.len() <= GROUP_KEY_PREFIX_LEN {
        return Err("an empty key under its group's prefix".to_owned());
    }
    if key[..GROUP_KEY_PREFIX_LEN] != layout::prefix(id, live) {
        return Err(format!("outside the live generation {live} of group {id}"));
    }
    let own = &key[GROUP_KEY_PREFIX_LEN..];
    if namespace == Namespace::Meta
        && own == APPLIED_INDEX_KEY
        && decode_applied_index(Some(value)).is_none()
    {
        return Err("a badly encoded applied index".to_owned());
    }
    Ok(())
}

/// The first entry of `namespace` in `range`.
fn first_in(
    view: &dyn ReadView,
    namespace: Namespace,
    range: &KeyRange,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut first = None;
    view.scan(namespace, range, Direction::Forward, &mut |key, value| {
        first = Some((key.to_vec(), value.to_vec()));
        Ok(ControlFlow::Break(()))
    })?;
    Ok(first)
}
