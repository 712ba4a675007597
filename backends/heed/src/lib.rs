//! fsmstore engine on LMDB, through heed.
//!
//! One LMDB environment in the store directory (`data.mdb` and `lock.mdb` beside the
//! `FSMSTORE` marker) with two named databases, `data` and `meta`. A commit is one LMDB
//! write transaction over both, so the data and the applied index land together or not
//! at all.
//!
//! # Durability
//!
//! | | LMDB |
//! |---|---|
//! | Sync apply | default env flags: the commit writes its pages, `fdatasync`s, then writes the meta page through an `O_DSYNC` descriptor (two barriers) |
//! | NoSync apply | env opened with `MDB_NOMETASYNC` (never `MDB_WRITEMAP`): the commit `fdatasync`s its data pages, then writes the meta page without a sync (one barrier instead of two) |
//! | checkpoint | the commit, then `mdb_env_sync(env, 1)` ([`heed::Env::force_sync`]): one `fdatasync` of the data file makes the last meta page, and so every earlier NoSync commit, durable |
//! | after kill -9 in NoSync | kept: every commit reached the OS page cache before it returned |
//! | after a power cut in NoSync | at most the last commit is lost; the file is never damaged |
//!
//! NoSync cannot skip the fsync on LMDB. With `MDB_NOSYNC` the kernel may write a
//! commit's meta page before the pages it points to (the meta pages are the first pages
//! of the file, which writeback reaches first), and LMDB reuses pages freed since the
//! last sync: a power cut can then leave a meta page that points at pages never
//! written, or checkpointed pages overwritten, and the store does not reopen. The
//! power-cut campaign (`cargo xtask powerloss --backend heed --mode nosync`, with the
//! keep-random data mode) shows it. `MDB_NOMETASYNC` keeps LMDB's integrity at one
//! `fdatasync` per commit instead of two.
//!
//! LMDB can also skip the meta-page sync of one transaction (`MDB_NOMETASYNC` is a flag
//! of `mdb_txn_begin` too), but heed does not expose transaction flags, so the flag is
//! the environment's: in a Sync store a [`Durability::Buffered`] commit is fsynced too
//! (the store only asks for it in NoSync).
//!
//! # Map size
//!
//! LMDB maps the whole file at a fixed size and fails a transaction that would outgrow
//! it with `MDB_MAP_FULL`. The initial size is [`Config::lmdb_map_size`] (rounded up to
//! 64 KiB, a multiple of every common OS page size); when a commit hits the limit it is
//! aborted, the map is doubled and the whole commit is retried, so a commit never fails
//! for lack of map space. Moving the map is only allowed while no transaction of this
//! process is open: every transaction holds a shared lock on the map and the resize
//! holds it exclusively, so reads wait for the resize instead of reading a stale map.
//! A reopened store starts at the configured size (or the size of its data, if larger)
//! and grows again as needed.
//!
//! # Limits
//!
//! Keys and meta names are at most 511 bytes (LMDB's `MDB_MAXKEYSIZE`); a longer one
//! rejects the commit with [`Error::InvalidArgument`]. Reads may run on any thread: the
//! environment does not use thread-local reader slots (`MDB_NOTLS`).
//!
//! # Reads and range deletes
//!
//! A range scan walks `Database::range` (or `rev_range` for a reverse scan) inside one
//! read transaction, which is one consistent view: LMDB's MVCC keeps its pages while it
//! is open, and the writer is not blocked. A range delete (from `delete_range`, or
//! `delete_prefix` as one or two ranges) is `Database::delete_range` in the commit's
//! write transaction, and `Database::clear` when the range holds every key.
//!
//! # Damaged files
//!
//! A `data.mdb` whose meta pages are not LMDB's (garbage, or cut shorter than two pages)
//! fails to open with [`Error::Corruption`]. LMDB cannot tell at open that a file was cut
//! inside its B-tree (a legitimate file may end before its last free page); such a file
//! faults when the missing page is read. An empty `data.mdb` is taken as a new store,
//! so its applied index reads as missing and the restore gate falls back to a restore.
//!
//! # Read-only opens
//!
//! With [`Config::read_only`] the environment is opened with `MDB_RDONLY` and the two
//! databases are opened in a read transaction, never created: `data.mdb` is opened
//! read-only, every write transaction fails in LMDB itself, and a store missing either
//! database is [`Error::Corruption`]. LMDB still uses `lock.mdb`, which every store has:
//! a reader registers its snapshot in the reader table there, which is what keeps a
//! writer in another process from reusing the pages it reads, so the open rewrites the
//! lock region (its mutexes and reader slots, never its size) but no byte of
//! `data.mdb`. `MDB_NOLOCK` would leave `lock.mdb` alone too, but then nothing would
//! stop a writer from reusing pages under the reader. On a read-only filesystem LMDB
//! cannot open `lock.mdb` for writing and goes without it, and the store opens all the
//! same.
//!
//! # Closing
//!
//! Dropping the engine drops the only [`heed::Env`] handle, which closes the environment
//! (`mdb_env_close`) and removes it from heed's registry of open environments, so the
//! same directory can be reopened in the same process. Closing does not fsync; the store
//! calls [`RawEngine::sync`] first (not for a read-only store, which has nothing to
//! sync).
//!
//! While the environment is open LMDB holds `fcntl` record locks on `lock.mdb` (a
//! shared one on byte 0 that says the environment is in use, so that no other process
//! resets the lock region under it). fsmstore never opens the file
//! ([`RawEngine::LOCK_FILES`]): closing any descriptor of it would drop those locks.

#![allow(unsafe_code)]

use std::path::Path;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, Namespace, OpRef, RawEngine, ReadView,
    Result, ScanVisitor, SyncMode, visit_each,
};
use heed::types::Bytes as Raw;
use heed::{CommitOrAbort, Database, EnvFlags, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

/// The LMDB engine's store type.
pub type HeedStore = engine_api::Store<HeedEngine>;

type Db = Database<'static, Raw, Raw>;

/// Map sizes are kept multiples of this, which every common OS page size divides.
const MAP_ALIGN: usize = 64 << 10;

/// The LMDB engine: see the crate docs.
#[derive(Debug)]
pub struct HeedEngine {
    env: heed::Env<WithoutTls>,
    data: Db,
    meta: Db,
    no_sync: bool,
    /// Held shared by every transaction and sync, exclusively by a resize: LMDB may only
    /// move the map while no transaction of this process is open. `false` once a failed
    /// resize left the environment without a map; every later call then fails instead
    /// of touching it.
    map: RwLock<bool>,
}

impl HeedEngine {
    /// The shared hold on the map that every transaction and sync takes first.
    fn map_guard(&self) -> Result<RwLockReadGuard<'_, bool>> {
        // A bool cannot be left half-written, so a poisoned lock still guards a
        // meaningful value.
        let guard = self.map.read().unwrap_or_else(PoisonError::into_inner);
        if *guard {
            Ok(guard)
        } else {
            Err(Error::backend(
                "heed",
                "the LMDB map was lost by a failed resize; reopen the store",
            ))
        }
    }

    fn read<T>(&self, f: impl FnOnce(&RoTxn<'_>) -> heed::Result<T>) -> Result<T> {
        let _map = self.map_guard()?;
        let txn = self.env.read_txn().map_err(map_error)?;
        f(&txn).map_err(map_error)
    }

    /// One attempt at the whole commit; an error aborts the transaction.
    fn try_commit(&self, commit: &Commit<'_>) -> Result<(), heed::Error> {
        let mut txn = self.env.write_txn()?;
        for op in commit.ops() {
            match op {
                OpRef::Put { key, value } => self.data.put(&mut txn, key, value)?,
                OpRef::Delete { key } => {
                    self.data.delete(&mut txn, key)?;
                }
                OpRef::DeleteRange(ranges) => {
                    for range in ranges.iter() {
                        delete_range(self.data, &mut txn, range)?;
                    }
                }
                OpRef::PutMeta { name, value } => self.meta.put(&mut txn, name, value)?,
                OpRef::DeleteMeta { name } => {
                    self.meta.delete(&mut txn, name)?;
                }
            }
        }
        txn.commit()
    }

    /// Doubles the map. Called with no transaction open on this thread.
    fn grow_map(&self) -> Result<()> {
        let mut usable = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if !*usable {
            return Err(Error::backend(
                "heed",
                "the LMDB map was lost by a failed resize; reopen the store",
            ));
        }
        let current = self.env.info().map_size;
        let grown = current
            .checked_mul(2)
            .and_then(|size| size.checked_next_multiple_of(MAP_ALIGN))
            .ok_or_else(|| {
                Error::backend(
                    "heed",
                    format!("the LMDB map cannot grow beyond {current} bytes"),
                )
            })?;
        // SAFETY: every transaction of this engine is opened under the shared map lock,
        // and the environment is private to this engine, so holding the lock exclusively
        // means no transaction is open in this process, which is what LMDB requires of
        // mdb_env_set_mapsize on an open environment.
        let resized = unsafe { self.env.resize(grown) };
        if let Err(error) = resized {
            // mdb_env_set_mapsize unmaps before it maps again; after a failure the old
            // map is gone and any further use would read unmapped memory.
            *usable = false;
            return Err(map_error(error));
        }
        tracing::debug!(from = current, to = grown, "grew the LMDB map");
        Ok(())
    }
}

impl RawEngine for HeedEngine {
    const NAME: &'static str = "heed";
    const ENGINE_FILES: &'static [&'static str] = &["data.mdb"];
    // Byte 0 holds the "environment in use" lock every open takes, and each process
    // locks the byte of its pid while it has readers registered.
    const LOCK_FILES: &'static [&'static str] = &["lock.mdb"];
    const IS_DURABLE: bool = true;
    // Every commit reaches the OS page cache before it returns.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = true;

    fn open(dir: &Path, config: &Config) -> Result<Self> {
        let map_size = config
            .lmdb_map_size
            .max(MAP_ALIGN)
            .checked_next_multiple_of(MAP_ALIGN)
            .ok_or_else(|| {
                Error::Config(format!(
                    "lmdb_map_size {} is too large",
                    config.lmdb_map_size
                ))
            })?;
        let no_sync = config.sync_mode == SyncMode::NoSync;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size).max_dbs(2);
        if config.read_only {
            // SAFETY: MDB_RDONLY only narrows what the environment may do: the data file
            // is opened read-only and every write transaction fails.
            unsafe { options.flags(EnvFlags::READ_ONLY) };
        } else if no_sync {
            // SAFETY: heed marks MDB_NOMETASYNC unsafe because a system crash may then
            // undo the last commit. LMDB documents (lmdb.h, MDB_NOMETASYNC) that it
            // keeps the database's integrity: each commit's data pages are fdatasync'd
            // before its meta page is written, and the next commit or `mdb_env_sync`
            // makes the meta page durable. The commits NoSync may lose are exactly those
            // the checkpoint bounds. MDB_NOSYNC is not used: it lets the kernel write a
            // later meta page before the pages it points to, and pages freed since the
            // last sync are reused, so a power cut can damage even checkpointed data.
            unsafe { options.flags(EnvFlags::NO_META_SYNC) };
        }
        // SAFETY: the store directory belongs to this store (the marker says so) and
        // nothing in this process writes its files except through this environment;
        // heed refuses a second open of the same path in the process.
        let env = unsafe { options.open(dir) }.map_err(map_error)?;
        let (data, meta) = if config.read_only {
            open_databases(&env)?
        } else {
            create_databases(&env)?
        };
        Ok(Self {
            env,
            data,
            meta,
            no_sync,
            map: RwLock::new(true),
        })
    }

    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        loop {
            let attempt = {
                let _map = self.map_guard()?;
                self.try_commit(commit)
            };
            match attempt {
                Ok(()) => break,
                Err(heed::Error::Mdb(MdbError::MapFull)) => self.grow_map()?,
                Err(error) => return Err(map_error(error)),
            }
        }
        if durability == Durability::Durable && self.no_sync {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let _map = self.map_guard()?;
        self.env.force_sync().map_err(map_error)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.read(|txn| Ok(self.data.get(txn, key)?.map(Bytes::copy_from_slice)))
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.read(|txn| Ok(self.meta.get(txn, name)?.map(Bytes::copy_from_slice)))
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        // The map lock's read side is held with the transaction, as for every read: a
        // commit that must grow the map waits for the view to end.
        let _map = self.map_guard()?;
        let txn = self.env.read_txn().map_err(map_error)?;
        read(&HeedView {
            txn: &txn,
            data: self.data,
            meta: self.meta,
        })
    }
}

/// Creates the two databases where they are missing (a new store), in a write
/// transaction.
fn create_databases(env: &heed::Env<WithoutTls>) -> Result<(Db, Db)> {
    let txn = env.write_txn().map_err(map_error)?;
    env.create_databases_and_commit(txn, |opener, txn| {
        let data = opener.create_database::<Raw, Raw>(txn, Some("data"))?;
        let meta = opener.create_database::<Raw, Raw>(txn, Some("meta"))?;
        Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((data, meta)))
    })
    .map_err(map_error)?
    .commit()
    .ok_or_else(|| Error::backend("heed", "creating the databases was aborted"))
}

/// Opens the two databases of a complete store in a read transaction: a read-only
/// environment has no write transaction, and a store without them is damaged.
fn open_databases(env: &heed::Env<WithoutTls>) -> Result<(Db, Db)> {
    let txn = env.read_txn().map_err(map_error)?;
    env.open_databases_and_commit(txn, |opener, txn| {
        let data = opener.open_database::<Raw, Raw>(txn, Some("data"))?;
        let meta = opener.open_database::<Raw, Raw>(txn, Some("meta"))?;
        Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(data.zip(meta)))
    })
    .map_err(map_error)?
    .commit()
    .flatten()
    .ok_or_else(|| Error::Corruption("LMDB: the `data` or `meta` database is missing".to_owned()))
}

/// One LMDB read transaction across both databases.
struct HeedView<'t> {
    txn: &'t RoTxn<'t>,
    data: Db,
    meta: Db,
}

impl HeedView<'_> {
    fn db(&self, namespace: Namespace) -> Db {
        match namespace {
            Namespace::Data => self.data,
            Namespace::Meta => self.meta,
        }
    }
}

impl ReadView for HeedView<'_> {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self.db(namespace).get(self.txn, key).map_err(map_error)?;
        Ok(value.map(Bytes::copy_from_slice))
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let db = self.db(namespace);
        let bounds = range.bounds();
        match direction {
            Direction::Forward => visit_each(
                db.range(self.txn, &bounds).map_err(map_error)?,
                map_error,
                visit,
            ),
            Direction::Reverse => visit_each(
                db.rev_range(self.txn, &bounds).map_err(map_error)?,
                map_error,
                visit,
            ),
        }
    }
}

/// Removes the keys of `range`: the whole tree's pages at once when it holds every key.
fn delete_range(db: Db, txn: &mut RwTxn<'_>, range: &KeyRange) -> heed::Result<()> {
    if range.is_full() {
        db.clear(txn)
    } else {
        db.delete_range(txn, &range.bounds()).map(drop)
    }
}

fn map_error(error: heed::Error) -> Error {
    match error {
        heed::Error::Io(error) => Error::Io(error),
        heed::Error::Mdb(
            error @ (MdbError::Corrupted
            | MdbError::Invalid
            | MdbError::VersionMismatch
            | MdbError::PageNotFound),
        ) => Error::Corruption(format!("LMDB: {error}")),
        heed::Error::Mdb(MdbError::BadValSize) => Error::invalid_argument(
            "a key or meta name is empty or longer than LMDB's maximum key size (511 bytes)",
        ),
        error => Error::backend("heed", error),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use engine_api::{Engine, WriteBatch};
    use tempfile::TempDir;

    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn open(dir: &TempDir, mode: SyncMode) -> Result<HeedStore> {
        HeedStore::open(dir.path(), &Config::new(mode))
    }

    fn write(store: &HeedStore, keys: &[&[u8]]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for key in keys {
            batch.put(Bytes::copy_from_slice(key), "v");
        }
        store.write(&batch)
    }

    #[test]
    fn reopening_in_the_same_process_after_drop_works() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::NoSync)?;
        write(&store, &[b"k"])?;
        drop(store);

        let store = open(&dir, SyncMode::NoSync)?;
        assert_eq!(store.get(b"k")?, Some(Bytes::from("v")));
        Ok(())
    }

    #[test]
    fn the_map_grows_when_commits_outgrow_it_and_nothing_is_lost() -> TestResult {
        const MAP: usize = 1 << 20;
        let dir = tempfile::tempdir()?;
        let config = Config::new(SyncMode::NoSync).with_lmdb_map_size(MAP);
        let store = Arc::new(HeedStore::open(dir.path(), &config)?);
        let value = |i: u32| Bytes::from(vec![i as u8; 64 << 10]);

        // Readers keep reading while the map moves under the commits.
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
                std::thread::spawn(move || -> Result<()> {
                    while !stop.load(Ordering::Relaxed) {
                        for (key, found) in store.scan_prefix(b"k/")? {
                            assert_eq!(found.len(), 64 << 10, "{key:?}");
                        }
                    }
                    Ok(())
                })
            })
            .collect();

        // One commit four times the map, then many small ones: 8 MiB in all.
        let mut batch = WriteBatch::new();
        for i in 0..64 {
            batch.put(format!("k/{i:04}"), value(i));
        }
        store.apply(&batch, Some(1))?;
        for i in 64..128 {
            let mut batch = WriteBatch::new();
            batch.put(format!("k/{i:04}"), value(i));
            store.apply(&batch, Some(u64::from(i)))?;
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().map_err(|_| "a reader panicked")??;
        }
        assert!(store.with_raw(|raw| raw.env.info().map_size) >= 8 * MAP);
        drop(store);

        let store = HeedStore::open(dir.path(), &config)?;
        let all = store.scan_prefix(b"k/")?;
        assert_eq!(all.len(), 128);
        for (i, (key, found)) in (0..).zip(&all) {
            assert_eq!(key, &format!("k/{i:04}"));
            assert_eq!(found, &value(i));
        }
        assert_eq!(store.applied_index()?, Some(127));
        Ok(())
    }

    /// Every file under `dir` (relative path) with its contents.
    fn files(dir: &std::path::Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
        let mut found = BTreeMap::new();
        let mut pending = vec![dir.to_owned()];
        while let Some(at) = pending.pop() {
            for entry in std::fs::read_dir(&at)? {
                let path = entry?.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(dir).unwrap_or(&path).to_owned();
                    found.insert(relative, std::fs::read(&path)?);
                }
            }
        }
        Ok(found)
    }

    #[test]
    fn a_read_only_open_of_a_closed_store_changes_no_byte_of_its_data() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::Sync)?;
        write(&store, &[b"a", b"b"])?;
        store.close()?;
        let before = files(dir.path())?;

        let reader = HeedStore::open(dir.path(), &Config::default().with_read_only())?;
        assert_eq!(reader.get(b"a")?, Some(Bytes::from("v")));
        assert_eq!(reader.scan_prefix(b"")?.len(), 2);
        reader.close()?;

        let after = files(dir.path())?;
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>()
        );
        for (name, contents) in &before {
            let now = &after[name];
            assert_eq!(now.len(), contents.len(), "{} changed size", name.display());
            // The first opener of an environment initialises the lock region (reader
            // table and mutexes), and every reader registers in it: that is how a
            // writer in another process learns which pages a reader still needs.
            if !HeedEngine::LOCK_FILES.contains(&name.to_string_lossy().as_ref()) {
                assert!(now == contents, "{} changed", name.display());
            }
        }
        Ok(())
    }

    /// Makes `path` immutable (`chattr +i`) until dropped: not even root may then open it
    /// for writing. `None` where the filesystem or the privileges do not allow it.
    struct Immutable(PathBuf);

    impl Immutable {
        fn set(path: PathBuf) -> Option<Self> {
            let done = std::process::Command::new("chattr")
                .arg("+i")
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            done.then_some(Self(path))
        }
    }

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
    }

    #[test]
    fn a_read_only_open_reads_a_data_file_that_cannot_be_written() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::Sync)?;
        write(&store, &[b"a"])?;
        store.close()?;
        let Some(_immutable) = Immutable::set(dir.path().join("data.mdb")) else {
            eprintln!("skipped: `chattr +i` is not available here (needs root and ext4 or alike)");
            return Ok(());
        };

        let reader = HeedStore::open(dir.path(), &Config::default().with_read_only())?;
        assert_eq!(reader.get(b"a")?, Some(Bytes::from("v")));
        reader.close()?;
        Ok(())
    }

    /// Whether a record lock of any owner covers byte 0 of `path` (LMDB's "environment
    /// in use" lock). The query is an open-file-description lock, which conflicts with
    /// this process's own `fcntl` locks too, so it sees the ones the environment holds.
    /// Closing the query's descriptor drops every `fcntl` lock this process holds on the
    /// file: a test calls it last, just before the store is dropped.
    #[cfg(target_os = "linux")]
    fn byte_zero_is_locked(path: &std::path::Path) -> std::io::Result<bool> {
        use nix::fcntl::{FcntlArg, fcntl};
        use nix::libc::{F_UNLCK, F_WRLCK, SEEK_SET, c_short, flock};
        let file = std::fs::File::open(path)?;
        let mut query = flock {
            l_type: F_WRLCK as c_short,
            l_whence: SEEK_SET as c_short,
            l_start: 0,
            l_len: 1,
            l_pid: 0,
        };
        fcntl(&file, FcntlArg::F_OFD_GETLK(&mut query))?;
        Ok(query.l_type != F_UNLCK as c_short)
    }

    /// The lock file of the store's live environment.
    #[cfg(target_os = "linux")]
    fn live_lock_file(store: &HeedStore) -> PathBuf {
        store.with_raw(|raw| raw.env.path().join("lock.mdb"))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_new_store_holds_the_environment_lock_while_it_is_open() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::Sync)?;
        assert!(byte_zero_is_locked(&live_lock_file(&store))?);
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_restored_store_holds_the_environment_lock_of_its_new_generation() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::Sync)?;
        write(&store, &[b"a"])?;
        let mut snapshot = Vec::new();
        store.export(&mut snapshot)?;
        store.restore(&mut snapshot.as_slice())?;
        let lock_file = live_lock_file(&store);
        assert_ne!(lock_file, dir.path().join("lock.mdb"), "a new generation");
        assert!(byte_zero_is_locked(&lock_file)?);
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reopened_store_holds_the_environment_lock_while_it_is_open() -> TestResult {
        let dir = tempfile::tempdir()?;
        open(&dir, SyncMode::Sync)?.close()?;
        let store = open(&dir, SyncMode::NoSync)?;
        assert!(byte_zero_is_locked(&live_lock_file(&store))?);
        Ok(())
    }

    #[test]
    fn a_garbage_data_file_fails_open_with_corruption() -> TestResult {
        let dir = tempfile::tempdir()?;
        open(&dir, SyncMode::Sync)?.close()?;
        std::fs::write(dir.path().join("data.mdb"), vec![0xA5; 64 << 10])?;

        assert!(matches!(
            open(&dir, SyncMode::Sync),
            Err(Error::Corruption(_))
        ));
        Ok(())
    }

    #[test]
    fn a_data_file_cut_inside_its_meta_pages_fails_open_with_corruption() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = open(&dir, SyncMode::Sync)?;
        write(&store, &[b"k"])?;
        store.close()?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("data.mdb"))?;
        file.set_len(100)?;

        assert!(matches!(
            open(&dir, SyncMode::Sync),
            Err(Error::Corruption(_))
        ));
        Ok(())
    }
}
