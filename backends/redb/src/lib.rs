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
//! The store calls [`RawEngine::sync`] before dropping the engine, so every commit is
//! durable at a clean shutdown. Dropping the redb `Database` then makes any pending
//! `None` commit durable as well and records redb's allocator state, so the next open
//! needs no repair; it reports no error, which is why the store's explicit sync comes
//! first.
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
//! A plain redb open trusts a file that was shut down cleanly, and redb documents that
//! it may panic on a file corrupted outside redb. The open therefore asks redb to check
//! the file's integrity (`Builder::set_check_integrity_on_open`), which turns such damage
//! into [`Error::Corruption`]; the price is a walk over every page at open, which redb
//! also does after any unclean shutdown.

use std::path::Path;

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, Namespace, OpRef, RawEngine, ReadView,
    Result, ScanVisitor,
};
use redb::{AccessGuard, Database, ReadTransaction, ReadableDatabase, Table, TableDefinition};

/// The redb engine's store type.
pub type RedbStore = engine_api::Store<RedbEngine>;

/// The name of the redb file in the store directory.
pub const DATABASE_FILE: &str = "store.redb";

const DATA: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("data");
const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("meta");

/// The redb engine: see the crate docs.
pub struct RedbEngine {
    db: Database,
}

impl std::fmt::Debug for RedbEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbEngine").finish_non_exhaustive()
    }
}

impl RedbEngine {
    /// Commits one write transaction that applies `ops` with the given durability.
    fn write_transaction<'a>(
        &self,
        durability: redb::Durability,
        ops: impl Iterator<Item = OpRef<'a>>,
    ) -> Result<()> {
        let mut txn = self.db.begin_write().map_err(map_error)?;
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
    }

    fn read_one(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        RedbView(self.db.begin_read().map_err(map_error)?).get(namespace, key)
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
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(dir.join(DATABASE_FILE))
            .map_err(map_error)?;
        let engine = Self { db };
        // Opening a table in a write transaction creates it; an empty commit with
        // Immediate durability makes the (possibly new) tables durable. A read-only open
        // writes nothing: its store is complete, so both tables exist.
        if !config.read_only {
            engine.write_transaction(redb::Durability::Immediate, std::iter::empty())?;
        }
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
        let txn = self.db.begin_read().map_err(map_error)?;
        read(&RedbView(txn))
    }
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
        let table = self.0.open_table(table_of(namespace)).map_err(map_error)?;
        let value = table.get(key).map_err(map_error)?;
        Ok(value.map(|value| Bytes::copy_from_slice(value.value())))
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let table = self.0.open_table(table_of(namespace)).map_err(map_error)?;
        let entries = table.range::<&[u8]>(range.bounds()).map_err(map_error)?;
        match direction {
            Direction::Forward => walk(entries, visit),
            Direction::Reverse => walk(entries.rev(), visit),
        }
    }
}

/// Hands each entry to `visit` until it breaks or fails. redb's entries are guards of
/// about 100 bytes each: read in place, never moved (as [`visit_each`](engine_api::visit_each) would move them),
/// they cost no copy.
#[inline(always)]
fn walk<'a>(
    entries: impl Iterator<
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
    for entry in entries {
        let (key, value) = match &entry {
            Ok(pair) => pair,
            Err(_) => return entry.map(drop).map_err(map_error),
        };
        if visit(key.value(), value.value())?.is_break() {
            break;
        }
    }
    Ok(())
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
