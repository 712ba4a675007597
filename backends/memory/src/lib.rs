//! fsmstore's in-memory reference engine.
//!
//! Two `BTreeMap`s (data and meta) behind one lock. It is the model the other engines
//! are compared with, so it is written for obviousness, not speed.
//!
//! Not durable across processes. Within one process, reopening the same path returns the
//! same contents: stores live in a process-wide registry keyed by the canonical path, so
//! every close-and-reopen test of the conformance suite runs on this engine too.
//!
//! | | |
//! |---|---|
//! | Sync apply | nothing to fsync; visible immediately |
//! | NoSync apply | the same |
//! | checkpoint | nothing to fsync |
//! | after kill -9 | everything is lost (the process held it) |

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};

use bytes::Bytes;
use engine_api::{Commit, Config, Durability, OpRef, RawEngine, Result, deleted_by_prefix};

/// The memory engine's store type.
pub type MemoryStore = engine_api::Store<MemoryEngine>;

#[derive(Debug, Default)]
struct Namespaces {
    data: BTreeMap<Bytes, Bytes>,
    meta: BTreeMap<Bytes, Bytes>,
}

type Shared = Arc<RwLock<Namespaces>>;

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Shared>>> = LazyLock::new(Default::default);

/// The in-memory engine: see the crate docs.
#[derive(Debug)]
pub struct MemoryEngine {
    state: Shared,
}

impl MemoryEngine {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Namespaces> {
        // A commit cannot panic halfway through its ops, so a poisoned lock still
        // guards a consistent state.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RawEngine for MemoryEngine {
    const NAME: &'static str = "memory";

    fn open(dir: &Path, _config: &Config) -> Result<Self> {
        let key = dir.canonicalize()?;
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        let state = registry.entry(key).or_default().clone();
        Ok(Self { state })
    }

    fn commit(&self, commit: &Commit<'_>, _durability: Durability) -> Result<()> {
        // No op can fail once the store has validated the batch, and readers wait for
        // the write lock, so applying in place is atomic.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let Namespaces { data, meta } = &mut *state;
        for op in commit.ops() {
            match op {
                OpRef::Put { key, value } => {
                    data.insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
                }
                OpRef::Delete { key } => {
                    data.remove(key);
                }
                OpRef::DeletePrefix { prefix, exclude } => {
                    data.retain(|key, _| !deleted_by_prefix(key, prefix, exclude));
                }
                OpRef::PutMeta { name, value } => {
                    meta.insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
                }
                OpRef::DeleteMeta { name } => {
                    meta.remove(name);
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.read().data.get(key).cloned())
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.read().meta.get(name).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        Ok(self
            .read()
            .data
            .range::<[u8], _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}
