//! fsmstore engine on [redb](https://crates.io/crates/redb) 4.
//!
//! One redb file, `store.redb`, in the store directory (beside fsmstore's marker file),
//! with two tables of byte keys and byte values: `data` and `meta`. Both are created at
//! open in one durable write transaction, because redb reports a table that was never
//! created as an error to a reader. Every commit is ONE redb write transaction spanning
//! both tables: redb publishes a transaction by switching a checksummed commit slot in
//! the file header, so a crash leaves all of it or none.
//!
//! # Durability
//!
//! | | redb call |
//! |---|---|
//! | Sync apply | write transaction with `Durability::Immediate`: pages written, commit slot switched, one `fsync` (redb's default 1-phase commit with checksums) |
//! | NoSync apply | write transaction with `Durability::None`: visible to readers; its pages stay in redb's write buffer (or reach the file when the buffer overflows), but the commit slot on disk is not switched and nothing is `fsync`ed |
//! | checkpoint | one `Immediate` write transaction: it writes out every earlier `None` commit's pages and publishes a root that includes them, then `fsync`s. [`RawEngine::sync`] commits an empty `Immediate` transaction, which redb does not short-circuit |
//! | after kill -9 in NoSync | **lost** back to the last durable commit, atomically: the file's commit slot still names that commit, so data and the applied index stay in agreement |
//!
//! # Range deletes
//!
//! A range delete (from `delete_range`, or `delete_prefix` as one or two ranges) is
//! `Table::retain_in` over the range, keeping nothing. It runs inside the commit's write
//! transaction, so it sees the puts made earlier in the same commit and a later put
//! survives it.
//!
//! # Reads
//!
//! Every read opens a redb read transaction, a snapshot of the last commit that
//! returned (durable or not): a range scan walks `Table::range` (reversed for a reverse
//! scan) inside one transaction, so it is one consistent view, and readers do not block
//! the writer.
//!
//! # Close
//!
//! [`RawEngine::close`] makes every commit durable (an empty `Immediate` transaction),
//! then closes the redb `Database` with `Database::close`, which records redb's
//! allocator state and marks the file as shut down cleanly, and reports an error where
//! a drop could only ignore it. The next open then loads the recorded allocator state
//! instead of walking the file: its cost does not grow with the data. After a kill or
//! power cut the file is not marked clean, and redb's open walks and repairs it (which
//! does grow with the data).
//!
//! # Read-only opens
//!
//! A read-only store opens the file with redb's `ReadOnlyDatabase`, which opens it for
//! reading only and writes nothing, also when it is dropped (a writable `Database`
//! records its allocator state at close, which rewrites the file). It works on a
//! read-only filesystem. Two cases write all the same, both redb's repair: a file a
//! crash left without redb's clean-shutdown record cannot be read without it, so the
//! read-only open falls back to a writable handle; and the deep check
//! (`Engine::verify_deep`) runs redb's `check_integrity`, which only a writable handle
//! has.
//!
//! # Errors
//!
//! redb's `Corrupted` (a bad header, checksum or layout, found at open or on a read) is
//! [`Error::Corruption`], and so are the two I/O errors redb reports for a damaged file:
//! `InvalidData` (not a redb file: wrong magic number) and `UnexpectedEof` (a header cut
//! short). Any other OS error is [`Error::Io`]. A key plus value over redb's size limit
//! is [`Error::InvalidArgument`] and nothing of the commit is written. Everything else
//! (the file locked by another process, a poisoned transaction, ...) is
//! [`Error::Backend`].
//!
//! # Damaged files
//!
//! A plain redb open trusts a file that was shut down cleanly, and redb documents that
//! it may panic on a file corrupted outside redb; the same holds for a read that meets a
//! damaged page. Every call into redb (open, commit, read, each step of a range walk,
//! the integrity check, close) therefore runs under [`std::panic::catch_unwind`], and a
//! panic inside redb is [`Error::Corruption`] (the panic message is still printed by
//! the process's panic hook; a build with `panic = "abort"` cannot catch it). The open
//! reads the header, the allocator state and the applied index, so damage there fails
//! the open; damage in a page the open does not read fails the read that meets it, and
//! is found by [`Engine::verify_deep`](engine_api::Engine::verify_deep), which runs
//! redb's `Database::check_integrity` (the checksum of every page of the committed
//! trees) before walking every entry. That check repairs what redb can repair (a last
//! commit whose pages fail their checksums is rolled back to the one before, as redb's
//! open after a crash does), and the deep check then fails with
//! [`Error::Corruption`] all the same.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, Namespace, OpRef, RawEngine, ReadView,
    Result, ScanVisitor,
};
use redb::{
    AccessGuard, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, Table,
    TableDefinition,
};

/// The redb engine's store type.
pub type RedbStore = engine_api::Store<RedbEngine>;

/// The name of the redb file in the store directory.
pub const DATABASE_FILE: &str = "store.redb";

const DATA: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("data");
const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("meta");

/// The redb engine: see the crate docs.
pub struct RedbEngine {
    /// `Some` until [`RawEngine::close`] or `Drop` takes it to close it.
    db: Option<Handle>,
    /// The database file.
    path: PathBuf,
}

/// The open redb file: writable, or read-only for a read-only store.
enum Handle {
    Writable(Database),
    /// redb's read-only handle: it opens the file for reading only and never writes,
    /// not even at drop (a writable `Database` records its allocator state when it
    /// closes, which rewrites and may shrink the file).
    ReadOnly(ReadOnlyDatabase),
}

impl std::fmt::Debug for RedbEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbEngine").finish_non_exhaustive()
    }
}

impl RedbEngine {
    fn handle(&self) -> &Handle {
        self.db
            .as_ref()
            .unwrap_or_else(|| unreachable!("the database is only taken by close or drop"))
    }

    fn db(&self) -> Result<&Database> {
        match self.handle() {
            Handle::Writable(db) => Ok(db),
            Handle::ReadOnly(_) => Err(Error::backend(
                "redb",
                "the file is open read-only; the store refuses writes before they get here",
            )),
        }
    }

    /// Commits one write transaction that applies `ops` with the given durability.
    fn write_transaction<'a>(
        &self,
        durability: redb::Durability,
        ops: impl Iterator<Item = OpRef<'a>>,
    ) -> Result<()> {
        guarded("committing", || {
            let mut txn = self.db()?.begin_write().map_err(map_error)?;
            txn.set_durability(durability).map_err(map_error)?;
            {
                let mut data = txn.open_table(DATA).map_err(map_error)?;
                let mut meta = txn.open_table(META).map_err(map_error)?;
                for op in ops {
                    apply_op(&mut data, &mut meta, op)?;
                }
            }
            // An early return above drops `txn`, which aborts it: nothing is written.
            txn.commit().map_err(map_error)
        })
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        guarded("starting a read", || {
            match self.handle() {
                Handle::Writable(db) => db.begin_read(),
                Handle::ReadOnly(db) => db.begin_read(),
            }
            .map_err(map_error)
        })
    }

    fn read_one(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        RedbView(self.begin_read()?).get(namespace, key)
    }
}

fn apply_op(
    data: &mut Table<'_, &'static [u8], &'static [u8]>,
    meta: &mut Table<'_, &'static [u8], &'static [u8]>,
    op: OpRef<'_>,
) -> Result<()> {
    match op {
        OpRef::Put { key, value } => {
            data.insert(key, value).map_err(map_error)?;
        }
        OpRef::Delete { key } => {
            data.remove(key).map_err(map_error)?;
        }
        OpRef::DeleteRange(ranges) => {
            for range in ranges.iter() {
                data.retain_in::<&[u8], _>(range.bounds(), |_, _| false)
                    .map_err(map_error)?;
            }
        }
        OpRef::PutMeta { name, value } => {
            meta.insert(name, value).map_err(map_error)?;
        }
        OpRef::DeleteMeta { name } => {
            meta.remove(name).map_err(map_error)?;
        }
    }
    Ok(())
}

impl RawEngine for RedbEngine {
    const NAME: &'static str = "redb";
    const ENGINE_FILES: &'static [&'static str] = &[DATABASE_FILE];
    const IS_DURABLE: bool = true;
    // `Durability::None` commits stay in redb's buffers; a kill rolls back to the last durable commit.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = false;

    fn open(dir: &Path, config: &Config) -> Result<Self> {
        let path = dir.join(DATABASE_FILE);
        if config.read_only {
            return Self::open_read_only(&path);
        }
        let engine = Self {
            db: Some(Handle::Writable(open_writable(&path)?)),
            path,
        };
        // Opening a table in a write transaction creates it; an empty commit with
        // Immediate durability makes the (possibly new) tables durable.
        engine.write_transaction(redb::Durability::Immediate, std::iter::empty())?;
        Ok(engine)
    }

    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        let durability = match durability {
            Durability::Durable => redb::Durability::Immediate,
            Durability::Buffered => redb::Durability::None,
        };
        self.write_transaction(durability, commit.ops())
    }

    fn sync(&self) -> Result<()> {
        // redb has no separate flush: an Immediate commit, even an empty one, writes out
        // every earlier None commit and fsyncs.
        self.write_transaction(redb::Durability::Immediate, std::iter::empty())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(Namespace::Data, key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(Namespace::Meta, name)
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        read(&RedbView(self.begin_read()?))
    }

    fn check_engine(&mut self) -> Result<()> {
        if let Some(Handle::ReadOnly(_)) = self.db {
            // redb checks and repairs through a writable handle only: the deep check
            // of a read-only store reopens the file writable (the check may repair it).
            self.db = None;
            self.db = Some(Handle::Writable(open_writable(&self.path)?));
        }
        let Some(Handle::Writable(db)) = self.db.as_mut() else {
            unreachable!("the database is only taken by close or drop")
        };
        let clean = guarded("checking the file's integrity", || {
            db.check_integrity().map_err(map_error)
        })?;
        if clean {
            Ok(())
        } else {
            Err(Error::Corruption(
                "redb: the integrity check found damaged or inconsistent pages and repaired \
                 the file (possibly back to an earlier commit)"
                    .to_owned(),
            ))
        }
    }

    fn close(mut self) -> Result<()> {
        self.sync()?;
        let db = self.db.take();
        guarded("closing the file", || match db {
            Some(Handle::Writable(db)) => db.close().map_err(map_error),
            Some(Handle::ReadOnly(db)) => db.close().map_err(map_error),
            None => Ok(()),
        })
    }
}

impl Drop for RedbEngine {
    fn drop(&mut self) {
        // Reached without `close` when a store is dropped after a failed write, or a
        // replaced generation is discarded: redb's own drop closes the file.
        if let Some(db) = self.db.take()
            && let Err(error) = guarded("closing the file", || {
                drop(db);
                Ok(())
            })
        {
            tracing::error!(%error, "closing the redb file failed");
        }
    }
}

/// Opens (creating if missing) the file at `path` for writing. No integrity check: a
/// file redb shut down cleanly opens without a walk (see the crate docs, "Damaged
/// files").
fn open_writable(path: &Path) -> Result<Database> {
    guarded("opening the file", || {
        Database::builder().create(path).map_err(map_error)
    })
}

impl RedbEngine {
    /// Opens the file at `path` with redb's read-only handle, which writes nothing. A
    /// file that a crash left without redb's clean-shutdown record needs redb's repair,
    /// which only a writable handle runs: that open falls back to one, and the repair
    /// writes the file.
    fn open_read_only(path: &Path) -> Result<Self> {
        let opened = guarded("opening the file", || match ReadOnlyDatabase::open(path) {
            Ok(db) => Ok(Some(db)),
            Err(redb::DatabaseError::RepairAborted) => Ok(None),
            Err(error) => Err(map_error(error)),
        })?;
        let handle = match opened {
            Some(db) => Handle::ReadOnly(db),
            None => {
                tracing::warn!(path = %path.display(), "the redb file was not shut down cleanly: the read-only open repairs it");
                Handle::Writable(open_writable(path)?)
            }
        };
        Ok(Self {
            db: Some(handle),
            path: path.to_owned(),
        })
    }
}

/// Runs one call into redb, and reports a panic inside it as [`Error::Corruption`]:
/// redb may panic on a damaged file instead of returning an error.
fn guarded<T>(doing: &str, call: impl FnOnce() -> Result<T>) -> Result<T> {
    // Nothing the call borrows is used after a panic except through redb, whose later
    // calls run under this guard too.
    std::panic::catch_unwind(AssertUnwindSafe(call))
        .unwrap_or_else(|panic| Err(panicked(doing, panic.as_ref())))
}

fn panicked(doing: &str, payload: &(dyn Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    Error::Corruption(format!(
        "redb panicked while {doing}, as it may on a damaged file: {message}"
    ))
}

/// A read transaction: redb's MVCC keeps its pages while it is open.
struct RedbView(ReadTransaction);

fn table_of(namespace: Namespace) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    match namespace {
        Namespace::Data => DATA,
        Namespace::Meta => META,
    }
}

impl ReadView for RedbView {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        guarded("reading a key", || {
            let table = self.0.open_table(table_of(namespace)).map_err(map_error)?;
            let value = table.get(key).map_err(map_error)?;
            Ok(value.map(|value| Bytes::copy_from_slice(value.value())))
        })
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let table = guarded("opening a table", || {
            self.0.open_table(table_of(namespace)).map_err(map_error)
        })?;
        let entries = guarded("starting a range walk", || {
            table.range::<&[u8]>(range.bounds()).map_err(map_error)
        })?;
        match direction {
            Direction::Forward => walk(entries, visit),
            Direction::Reverse => walk(entries.rev(), visit),
        }
    }
}

/// Hands each entry to `visit` until it breaks or fails.
///
/// Each step of redb's walk runs under [`guarded`], and the visitor outside it, so a
/// panic of the caller's own code is never mistaken for a damaged file. redb's entries
/// are guards of about 100 bytes each: they are read where the step leaves them, never
/// moved on (as [`visit_each`](engine_api::visit_each) would move them), so they cost no
/// copy.
#[inline(always)]
fn walk<'a>(
    mut entries: impl Iterator<
        Item = std::result::Result<
            (
                AccessGuard<'a, &'static [u8]>,
                AccessGuard<'a, &'static [u8]>,
            ),
            redb::StorageError,
        >,
    >,
    visit: &mut ScanVisitor<'_>,
) -> Result<()> {
    let mut entry = None;
    loop {
        guarded("walking a range", || {
            entry = entries.next();
            match &entry {
                // Reading an entry slices its page: a damaged page fails here, under
                // the guard, and not in the visitor's call below.
                Some(Ok((key, value))) => {
                    std::hint::black_box((key.value().len(), value.value().len()));
                    Ok(())
                }
                Some(Err(_)) => entry
                    .take()
                    .map_or(Ok(()), |failed| failed.map(drop).map_err(map_error)),
                None => Ok(()),
            }
        })?;
        let Some(Ok((key, value))) = &entry else {
            return Ok(());
        };
        if visit(key.value(), value.value())?.is_break() {
            return Ok(());
        }
    }
}

/// Maps any redb error (every redb error type converts into `redb::Error`).
fn map_error(error: impl Into<redb::Error>) -> Error {
    match error.into() {
        redb::Error::Corrupted(message) => Error::Corruption(format!("redb: {message}")),
        // redb reports a file that is not a redb database as `InvalidData` and a header
        // cut short as `UnexpectedEof`, which the shared mapping reads as corruption.
        redb::Error::Io(io) => Error::from_engine_io("redb", io),
        redb::Error::ValueTooLarge(len) => Error::invalid_argument(format!(
            "redb: a key and value of {len} bytes exceed redb's size limit"
        )),
        other => Error::backend("redb", other),
    }
}

#[cfg(test)]
mod tests;
