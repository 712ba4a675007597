//! fsmstore's in-memory reference engine.
//!
//! Two `BTreeMap`s (data and meta) behind one lock. It is the model the other engines
//! are compared with, so it is written for obviousness, not speed.
//!
//! Not durable across processes. Within one process, reopening the same directory returns
//! the same contents: stores live in a process-wide registry, keyed by an id the engine
//! writes into its directory (`memory.id`), so every close-and-reopen test of the
//! conformance suite runs on this engine too. The key is the directory's id rather than
//! its path so that a directory that was removed and made again starts empty, as a
//! restore's discarded generation must.
//!
//! Its read view is a shared, copy-on-write handle on both maps (`Arc`): taking one
//! costs nothing and never blocks a commit, but a commit made while a view is held
//! copies the maps first, which costs memory and time in proportion to the store. The
//! other engines read from a read transaction or snapshot instead.
//!
//! A range delete removes the keys of `BTreeMap::range`.
//!
//! | | |
//! |---|---|
//! | Sync apply | nothing to fsync; visible immediately |
//! | NoSync apply | the same |
//! | checkpoint | nothing to fsync |
//! | after kill -9 | everything is lost (the process held it) |

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, Namespace, OpRef, RawEngine, ReadView,
    Result, ScanVisitor, visit_each,
};

/// The file that ties a directory to its contents in the registry.
const ID_FILE: &str = "memory.id";

/// The memory engine's store type.
pub type MemoryStore = engine_api::Store<MemoryEngine>;

#[derive(Clone, Debug, Default)]
struct Namespaces {
    data: BTreeMap<Bytes, Bytes>,
    meta: BTreeMap<Bytes, Bytes>,
}

/// The current state; a view holds a clone of the inner `Arc`, so a commit copies the
/// maps only while a view is held.
type Shared = Arc<RwLock<Arc<Namespaces>>>;

static REGISTRY: LazyLock<Mutex<HashMap<String, Shared>>> = LazyLock::new(Default::default);

/// The in-memory engine: see the crate docs.
#[derive(Debug)]
pub struct MemoryEngine {
    state: Shared,
}

impl MemoryEngine {
    /// The current state, shared with the engine until the next commit.
    fn current(&self) -> Arc<Namespaces> {
        // A commit cannot panic halfway through its ops, so a poisoned lock still
        // guards a consistent state.
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl RawEngine for MemoryEngine {
    const NAME: &'static str = "memory";
    const ENGINE_FILES: &'static [&'static str] = &[ID_FILE];
    const IS_DURABLE: bool = false;
    // The process held everything.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = false;

    fn open(dir: &Path, _config: &Config) -> Result<Self> {
        let key = directory_id(dir)?;
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        let state = registry.entry(key).or_default().clone();
        Ok(Self { state })
    }

    fn commit(&self, commit: &Commit<'_>, _durability: Durability) -> Result<()> {
        // No op can fail once the store has validated the batch, and readers wait for
        // the write lock, so applying in place is atomic.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let Namespaces { data, meta } = Arc::make_mut(&mut *state);
        for op in commit.ops() {
            match op {
                OpRef::Put { key, value } => {
                    data.insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
                }
                OpRef::Delete { key } => {
                    data.remove(key);
                }
                OpRef::DeleteRange(ranges) => {
                    for range in ranges.iter() {
                        let doomed: Vec<Bytes> = data
                            .range::<[u8], _>(range.bounds())
                            .map(|(key, _)| key.clone())
                            .collect();
                        for key in doomed {
                            data.remove(&key);
                        }
                    }
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
        self.current().get(Namespace::Data, key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.current().get(Namespace::Meta, name)
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        read(&*self.current())
    }
}

impl Namespaces {
    fn map(&self, namespace: Namespace) -> &BTreeMap<Bytes, Bytes> {
        match namespace {
            Namespace::Data => &self.data,
            Namespace::Meta => &self.meta,
        }
    }
}

impl ReadView for Namespaces {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.map(namespace).get(key).cloned())
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let entries = self.map(namespace).range::<[u8], _>(range.bounds());
        match direction {
            Direction::Forward => visit_each(entries.map(Ok), infallible, visit),
            Direction::Reverse => visit_each(entries.rev().map(Ok), infallible, visit),
        }
    }
}

/// The error of a walk that cannot fail: a map in memory.
fn infallible(never: std::convert::Infallible) -> Error {
    match never {}
}

/// The registry key of the store in `dir`: the id in its `memory.id`, written on first
/// open with a value no other directory of this process has.
fn directory_id(dir: &Path) -> Result<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) => Ok(id),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            let id = format!(
                "{}-{nanos}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            std::fs::write(&path, &id)?;
            Ok(id)
        }
        Err(error) => Err(error.into()),
    }
}
