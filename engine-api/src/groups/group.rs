//! One group: a [`RawEngine`] over the shared engine whose keys carry the group's
//! prefix, and the home that switches its generations.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::Shared;
use super::layout::{self, GROUP_KEY_PREFIX_LEN, GROUP_MAX_KEY_LEN};
use crate::batch::{Commit, OpRef, RawOp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::home::{Home, SwitchFailed};
use crate::range::{DeletedRanges, Direction, KeyRange, ScanVisitor};
use crate::raw::{Durability, RawEngine, ReadView};
use crate::snapshot::Namespace;

/// One generation of one group of a groups store, as a backend of a
/// [`Store`](crate::Store): every key and meta name it is handed goes under the group's
/// prefix, and every range is clipped to it, so the unchanged `Store` gives the group
/// the whole contract and cannot reach another group.
pub struct GroupRaw<R: RawEngine> {
    shared: Arc<Shared<R>>,
    id: u64,
    prefix: [u8; GROUP_KEY_PREFIX_LEN],
}

impl<R: RawEngine> GroupRaw<R> {
    pub(super) fn new(shared: Arc<Shared<R>>, id: u64, generation: u32) -> Self {
        Self {
            shared,
            id,
            prefix: layout::prefix(id, generation),
        }
    }

    /// The group's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn key(&self, key: &[u8]) -> Bytes {
        layout::prefixed(&self.prefix, key)
    }

    fn ranges(&self, ranges: &DeletedRanges) -> DeletedRanges {
        let mut clipped = ranges
            .iter()
            .filter_map(|range| layout::clip(&self.prefix, range));
        DeletedRanges::from_ranges([clipped.next(), clipped.next()])
    }
}

impl<R: RawEngine> RawEngine for GroupRaw<R> {
    const NAME: &'static str = R::NAME;
    const ENGINE_FILES: &'static [&'static str] = &[];
    const MAX_KEY_LEN: usize = GROUP_MAX_KEY_LEN;
    const IS_DURABLE: bool = R::IS_DURABLE;
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = R::KEEPS_NOSYNC_APPLIES_AFTER_A_KILL;
    const READ_ONLY_OPEN_WRITES_NOTHING: bool = R::READ_ONLY_OPEN_WRITES_NOTHING;

    fn open(dir: &Path, _config: &Config) -> Result<Self> {
        Err(Error::invalid_argument(format!(
            "{}: a group opens through its groups store",
            dir.display()
        )))
    }

    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        let ops = commit
            .ops()
            .map(|op| match op {
                OpRef::Put { key, value } => RawOp::Put {
                    key: self.key(key),
                    value: Bytes::copy_from_slice(value),
                },
                OpRef::Delete { key } => RawOp::Delete { key: self.key(key) },
                OpRef::DeleteRange(ranges) => RawOp::DeleteRange(self.ranges(&ranges)),
                OpRef::PutMeta { name, value } => RawOp::PutMeta {
                    name: self.key(name),
                    value: Bytes::copy_from_slice(value),
                },
                OpRef::DeleteMeta { name } => RawOp::DeleteMeta {
                    name: self.key(name),
                },
            })
            .collect();
        self.shared.submit(ops, durability)
    }

    fn sync(&self) -> Result<()> {
        self.shared.submit(Vec::new(), Durability::Durable)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.shared.engine().get(&self.key(key))
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.shared.engine().get_meta(&self.key(name))
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        self.shared.engine().with_view(&mut |view| {
            read(&GroupView {
                view,
                prefix: &self.prefix,
            })
        })
    }
}

/// A read view of the shared engine seen through one group's prefix.
struct GroupView<'a> {
    view: &'a dyn ReadView,
    prefix: &'a [u8; GROUP_KEY_PREFIX_LEN],
}

impl ReadView for GroupView<'_> {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        self.view
            .get(namespace, &layout::prefixed(self.prefix, key))
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let Some(range) = layout::clip(self.prefix, range) else {
            return Ok(());
        };
        self.view
            .scan(namespace, &range, direction, &mut |key, value| match key
                .get(GROUP_KEY_PREFIX_LEN..)
            {
                Some(own) if key.starts_with(self.prefix) => visit(own, value),
                _ => Err(Error::Corruption(format!(
                    "a walk of one group met the key {key:02x?} of another"
                ))),
            })
    }
}

/// Where a group's [`Store`](crate::Store) lives: the groups store's directory, and the
/// group's record, which names its live generation.
pub(super) struct GroupHome<R: RawEngine> {
    shared: Arc<Shared<R>>,
    id: u64,
    generation: AtomicU32,
}

impl<R: RawEngine> GroupHome<R> {
    pub(super) fn new(shared: Arc<Shared<R>>, id: u64, generation: u32) -> Self {
        Self {
            shared,
            id,
            generation: AtomicU32::new(generation),
        }
    }
}

impl<R: RawEngine> Home<GroupRaw<R>> for GroupHome<R> {
    fn path(&self) -> &Path {
        self.shared.dir()
    }

    fn before_unsynced_commit(&self) -> Result<()> {
        // The shared store records it for every buffered commit (`Shared::submit`).
        Ok(())
    }

    fn record_pin(&self, _pinned: u64) {
        // The marker of a groups store records rounds, not a group's index: the pin's
        // round and every earlier one are durable now.
        self.shared.record_pin();
    }

    fn stage(&self, _config: &Config) -> Result<(GroupRaw<R>, u64)> {
        let live = self.generation.load(Ordering::SeqCst);
        let next = live.checked_add(1).ok_or_else(|| {
            Error::invalid_argument(format!(
                "group {} has used every generation; drop and recreate it",
                self.id
            ))
        })?;
        Ok((
            GroupRaw::new(Arc::clone(&self.shared), self.id, next),
            u64::from(next),
        ))
    }

    fn seal(&self, _generation: u64) -> Result<()> {
        // The load synced through the pipeline: nothing outside the engine to sync.
        Ok(())
    }

    fn switch(&self, generation: u64, _pinned: Option<u64>) -> Result<(), SwitchFailed> {
        let generation = u32::try_from(generation)
            .unwrap_or_else(|_| unreachable!("stage hands out 32-bit generations"));
        match self.shared.switch_generation(self.id, generation) {
            Ok(()) => {
                self.generation.store(generation, Ordering::SeqCst);
                // The restored index is durable: pinned as a checkpoint is.
                self.shared.record_pin();
                Ok(())
            }
            Err(error) => {
                // The commit may be durable although it reported a failure: what the
                // engine's record says decides.
                let switched = self.shared.live_generation(self.id).ok() == Some(generation);
                if switched {
                    self.generation.store(generation, Ordering::SeqCst);
                }
                Err(SwitchFailed { error, switched })
            }
        }
    }

    fn discard(&self, _generation: u64) {
        let live = self.generation.load(Ordering::SeqCst);
        if let Err(error) = self.shared.remove_other_generations(self.id, live) {
            tracing::warn!(engine = R::NAME, group = self.id, %error, "could not remove a failed restore's entries; removed at the next open");
        }
    }

    fn remove_others(&self, _live: u64) {
        let live = self.generation.load(Ordering::SeqCst);
        if let Err(error) = self.shared.remove_other_generations(self.id, live) {
            tracing::warn!(engine = R::NAME, group = self.id, %error, "could not remove the replaced generation's entries; removed at the next open");
        }
    }

    fn close(&self, raw: GroupRaw<R>) -> Result<()> {
        raw.sync()
    }
}

impl<R: RawEngine> Drop for GroupHome<R> {
    fn drop(&mut self) {
        self.shared.release(self.id);
    }
}

/// Calls `visit` with every key of `namespace` in `range`.
pub(super) fn keys_in(
    view: &dyn ReadView,
    namespace: Namespace,
    range: &KeyRange,
    visit: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    view.scan(namespace, range, Direction::Forward, &mut |key, _| {
        visit(key);
        Ok(ControlFlow::Continue(()))
    })
}
