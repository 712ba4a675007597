//! fsmstore engine on [fjall](https://crates.io/crates/fjall) 3.
//!
//! One fjall `Database` in the subdirectory `fjall/` of the store directory (the store
//! directory itself also holds fsmstore's marker file), with two keyspaces: `data` and
//! `meta`. Every commit is ONE fjall write batch spanning both keyspaces, so a crash
//! leaves all of it or none: fjall journals a batch between a start and an end marker
//! with a checksum, and recovery drops an unterminated tail batch.
//!
//! # Durability
//!
//! fjall writes every batch to its journal; a batch's `PersistMode` says how far the
//! journal is pushed before the commit returns.
//!
//! | | fjall call |
//! |---|---|
//! | Sync apply | batch committed with `PersistMode::SyncAll`: the journal's buffer is written to the OS and the journal file is `fsync`ed |
//! | NoSync apply | batch committed with `PersistMode::Buffer`, fjall's default: the journal's buffer is written to the OS per batch, no `fsync` (manual journal persist stays off) |
//! | checkpoint | a `SyncAll` commit, or `Database::persist(PersistMode::SyncAll)` when there is nothing to write: `fsync`s the active journal, which holds every earlier buffered batch; journals rotated out earlier were `fsync`ed when they were sealed |
//! | after kill -9 in NoSync | **kept**: every returned batch is already in the OS's page cache; only a power loss or OS crash can lose NoSync work |
//!
//! fjall creates a journal at a rotation and removes one once its entries are in
//! tables, without an fsync of the database directory. A durable commit and a sync
//! therefore also fsync that directory whenever its journal files changed since the
//! last time (a listing, then the fsync only if needed): otherwise a power cut could
//! bring a removed journal back, and fjall's open would replay its puts without the
//! deletes that followed them.
//!
//! A damaged journal is not an error to fjall, in either mode: its reader cuts the
//! journal at the first entry it cannot decode, even inside a synced prefix (only a
//! decodable batch with a wrong checksum fails the open). So where RocksDB in Sync mode
//! refuses a damaged log, fjall silently opens at an earlier commit. The store's marker
//! records the highest pinned index outside the engine: an open that comes back below
//! it fails with `Error::RolledBack`, so a cut below a checkpoint or a restore is loud.
//!
//! # Read-only opens
//!
//! fjall 3 has no read-only mode: every open recovers, which may cut a damaged journal
//! tail, replays the journal into memtables and lets fjall's workers flush and compact,
//! and fjall syncs its journal when it is dropped. A read-only store refuses every
//! write, and the backend's close (flush and journal truncation) does not run for it,
//! but its open may still write fjall's files and needs a writable directory
//! (`READ_ONLY_OPEN_WRITES_NOTHING` is `false`).
//!
//! `SyncAll` (`fsync`) rather than `SyncData` (`fdatasync`): on Linux `fdatasync` also
//! flushes the file size and block allocation that reading the journal back needs, so it
//! would do, but the difference is only timestamps and `fsync` leaves no doubt elsewhere.
//!
//! # Range deletes
//!
//! fjall has no range delete. A commit is first reduced to one final state per key (a
//! put or a delete) in op order; a range delete (from `delete_range`, or `delete_prefix`
//! as one or two ranges) marks deleted every key of the range that the commit has
//! touched so far and every key of the range in the committed `data` keyspace (found by
//! a range scan of a snapshot). A later put in the same commit overrides that delete.
//! The scan is safe because the store serialises commits, so nothing else writes between
//! the scan and the batch. The cost is one key read and one tombstone per deleted key.
//!
//! The reduction also means a key appears at most once in a fjall batch: every item of
//! a batch shares one sequence number, and fjall documents no order between two items
//! of one batch for the same key.
//!
//! # Reads
//!
//! Every read goes through a fjall snapshot (`Database::snapshot`), which only sees
//! batches that finished committing: a concurrent reader never sees half a batch, and a
//! range scan (`Snapshot::range`, reversed for a reverse scan) is one consistent view.
//! (`Keyspace::get` and `Keyspace::range` read at the newest sequence number, which
//! includes a batch still being applied.)
//!
//! # Close
//!
//! [`RawEngine::close`] makes every commit durable (`Database::persist(SyncAll)`), then
//! seals the memtable of both keyspaces and waits until fjall's flush workers have
//! written them to tables: the next open then has no journal entry to put back into a
//! memtable. The wait uses `Keyspace::rotate_memtable` and
//! `Keyspace::sealed_memtable_count`, which fjall 3 makes public but leaves out of its
//! docs (its own tests wait for flushes with them); it gives up after a minute or on a
//! failed write, leaving the rest to the journal. Dropping the fjall `Database` then
//! stops and joins its background flush and compaction threads.
//!
//! Last, once both flushes finished, the close empties fjall's active journal (truncates
//! the file to nothing and `fsync`s it). fjall 3 reads back every entry of its active
//! journal at open, and looks up each entry's keyspace, even the entries it then skips
//! because a table already holds them; it only rotates the active journal once it has
//! grown past 64 MB, and has no call that rotates it. Without the truncation a reopen
//! after a clean close read up to 64 MB of journal (0.8 s at 1M keys) however small
//! the change since the last flush; with it, the reopen reads no journal at all. The
//! truncation is safe because every entry is in a table `fsync`ed before its memtable
//! left fjall's sealed list, and because the active journal is then fjall's only one:
//! while fjall still keeps an older, sealed journal (which it replays at open, and
//! whose puts the active journal's tombstones may cancel), the close truncates
//! nothing (see `empty_active_journal`). A close whose flush gave up leaves the
//! journal as it is. After a kill, the open reads the whole journal and
//! replays into the memtable every entry no table holds.
//!
//! # Table layout
//!
//! The `data` keyspace partitions its block indexes and filters on every level and aims
//! at 256 MiB tables, so that an open loads each table's top-level index and filter
//! index (hundreds of times smaller) rather than whole indexes and filters: see
//! [`layout`].
//!
//! # Limits and errors
//!
//! fjall keys are at most 65 535 bytes and values at most 4 GiB; a longer key or value is
//! [`Error::InvalidArgument`] and nothing of the commit is written. fjall's decode,
//! checksum, version and journal-recovery errors are [`Error::Corruption`]; OS errors
//! are [`Error::Io`] (a short read, which only a truncated file causes, is
//! [`Error::Corruption`]); the rest (a poisoned database after a failed `fsync`, the
//! database locked by another process) are [`Error::Backend`].
//!
//! A damaged journal is not an error: fjall's only recovery mode drops the journal from
//! its first bad batch on (a torn tail after a crash looks the same). Whole commits are
//! lost, never part of one, so the data and the applied index still agree.

pub mod layout;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, Namespace, OpRef, RawEngine, ReadView,
    Result, ScanVisitor, visit_each,
};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Snapshot, UserKey};

/// The fjall engine's store type.
pub type FjallStore = engine_api::Store<FjallEngine>;

/// The subdirectory of the store directory that holds the fjall database.
const DATABASE_DIR: &str = "fjall";

/// The fjall engine: see the crate docs.
pub struct FjallEngine {
    db: Database,
    data: Keyspace,
    meta: Keyspace,
    path: PathBuf,
    /// The journal files (by id) as of the last fsync of the database directory.
    synced_journals: Mutex<Vec<u64>>,
}

impl std::fmt::Debug for FjallEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallEngine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One commit reduced to the final state of each key it touches: `Some(value)` for a
/// put, `None` for a delete.
type Changes<'a> = BTreeMap<UserKey, Option<&'a [u8]>>;

impl FjallEngine {
    /// Commits `commit` as one fjall batch with the given journal persistence.
    fn commit_batch(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        if let Some(result) = self.commit_distinct(commit, durability) {
            return result;
        }
        let mut data = Changes::new();
        let mut meta = Changes::new();
        for op in commit.ops() {
            match op {
                OpRef::Put { key, value } => {
                    data.insert(UserKey::from(key), Some(value));
                }
                OpRef::Delete { key } => {
                    data.insert(UserKey::from(key), None);
                }
                OpRef::DeleteRange(ranges) => {
                    for range in ranges.iter() {
                        self.delete_range(&mut data, range)?;
                    }
                }
                OpRef::PutMeta { name, value } => {
                    meta.insert(UserKey::from(name), Some(value));
                }
                OpRef::DeleteMeta { name } => {
                    meta.insert(UserKey::from(name), None);
                }
            }
        }

        if data.is_empty() && meta.is_empty() {
            // fjall returns early from an empty batch without touching the journal, so
            // the durability promised for earlier commits needs an explicit persist.
            return match durability {
                Durability::Durable => self.sync(),
                Durability::Buffered => Ok(()),
            };
        }

        let mut batch = self.db.batch().durability(Some(persist_mode(durability)));
        for (keyspace, changes) in [(&self.data, data), (&self.meta, meta)] {
            for (key, change) in changes {
                match change {
                    Some(value) => batch.insert(keyspace, key, value),
                    None => batch.remove(keyspace, key),
                }
            }
        }
        batch.commit().map_err(map_error)
    }

    /// Fsyncs the database directory when fjall's journal files changed since the last
    /// time, so that a durable commit or sync also makes them durable.
    ///
    /// fjall removes a journal once its entries are in tables, and creates the next one
    /// at a rotation, without an fsync of the database directory. After a power cut a
    /// removed journal can come back, and fjall's open replays its puts without the
    /// deletes that followed them (in a later journal that did not come back, or in
    /// tables a compaction has since dropped together with the values they deleted):
    /// deleted keys reappear. Listing the directory costs far less than an fsync, so
    /// the fsync runs only when the list changed.
    fn sync_journal_directory(&self) -> Result<()> {
        let journals: Vec<u64> = journal_files(&self.path)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut synced = self
            .synced_journals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *synced != journals {
            engine_api::sync_dir(&self.path)?;
            *synced = journals;
        }
        Ok(())
    }

    /// The path of the fjall database (a subdirectory of the store directory).
    pub fn database_path(&self) -> &Path {
        &self.path
    }

    fn read_one(&self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self.db.snapshot().get(keyspace, key).map_err(map_error)?;
        Ok(value.map(|value| Bytes::copy_from_slice(&value)))
    }

    /// Adds to `changes` a delete of every data key in `range` at this point of the
    /// commit.
    fn delete_range(&self, changes: &mut Changes<'_>, range: &KeyRange) -> Result<()> {
        for (_, change) in changes.range_mut::<[u8], _>(range.bounds()) {
            *change = None;
        }
        // The store serialises commits, so this view is the committed state the batch
        // applies to.
        for entry in self
            .db
            .snapshot()
            .range::<&[u8], _>(&self.data, range.bounds())
        {
            changes.insert(entry.key().map_err(map_error)?, None);
        }
        Ok(())
    }
}

impl FjallEngine {
    /// The common case without the reduction to one value per key: a commit with no
    /// prefix delete and no key written twice in one namespace goes into the batch as
    /// it is. `None` when the commit needs the reduction (or is empty).
    fn commit_distinct(&self, commit: &Commit<'_>, durability: Durability) -> Option<Result<()>> {
        let mut keys: Vec<(bool, &[u8])> = Vec::with_capacity(commit.len());
        for op in commit.ops() {
            match op {
                OpRef::Put { key, .. } | OpRef::Delete { key } => keys.push((false, key)),
                OpRef::PutMeta { name, .. } | OpRef::DeleteMeta { name } => keys.push((true, name)),
                OpRef::DeleteRange(_) => return None,
            }
        }
        if keys.is_empty() {
            return None;
        }
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return None;
        }
        let mut batch = self.db.batch().durability(Some(persist_mode(durability)));
        for op in commit.ops() {
            let (keyspace, key, value) = match op {
                OpRef::Put { key, value } => (&self.data, key, Some(value)),
                OpRef::Delete { key } => (&self.data, key, None),
                OpRef::PutMeta { name, value } => (&self.meta, name, Some(value)),
                OpRef::DeleteMeta { name } => (&self.meta, name, None),
                OpRef::DeleteRange(_) => return None,
            };
            // Values fit fjall's 32-bit length: the store refuses longer ones.
            match value {
                Some(value) => batch.insert(keyspace, key, value),
                None => batch.remove(keyspace, key),
            }
        }
        Some(batch.commit().map_err(map_error))
    }
}

impl RawEngine for FjallEngine {
    const NAME: &'static str = "fjall";
    // fjall decides between creating and recovering a database by its `version` file
    // alone: without it, it would create a new, empty database beside the old
    // keyspaces, and a later open would find the old keyspace under the same name again.
    const ENGINE_FILES: &'static [&'static str] =
        &[DATABASE_DIR, "fjall/version", "fjall/keyspaces"];
    const IS_DURABLE: bool = true;
    // fjall has no read-only mode: see the crate docs.
    const READ_ONLY_OPEN_WRITES_NOTHING: bool = false;
    // Every batch is written to the OS before the commit returns.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = true;

    fn open(dir: &Path, _config: &Config) -> Result<Self> {
        let path = dir.join(DATABASE_DIR);
        let db = Database::builder(&path).open().map_err(map_error)?;
        let data = db
            .keyspace("data", layout::data_keyspace_options)
            .map_err(map_error)?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(map_error)?;
        Ok(Self {
            db,
            data,
            meta,
            path,
            synced_journals: Mutex::new(Vec::new()),
        })
    }

    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        self.commit_batch(commit, durability)?;
        if durability == Durability::Durable {
            self.sync_journal_directory()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll).map_err(map_error)?;
        self.sync_journal_directory()
    }

    fn close(self) -> Result<()> {
        // The journal first: whatever the flush below does, every commit is durable.
        self.sync()?;
        let started = Instant::now();
        let mut all_in_tables = true;
        for keyspace in [&self.data, &self.meta] {
            all_in_tables &= flush_memtables(&self.db, keyspace, started)?;
        }
        self.sync()?;
        let path = self.path.clone();
        // Dropping the last handle stops fjall's workers and waits for them, so nothing
        // touches the journal after this line.
        drop(self);
        if all_in_tables {
            empty_active_journal(&path)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(&self.data, key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(&self.meta, name)
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        read(&FjallView {
            snapshot: self.db.snapshot(),
            engine: self,
        })
    }
}

/// One fjall snapshot (a sequence number) across both keyspaces.
struct FjallView<'a> {
    snapshot: Snapshot,
    engine: &'a FjallEngine,
}

impl FjallView<'_> {
    fn keyspace(&self, namespace: Namespace) -> &Keyspace {
        match namespace {
            Namespace::Data => &self.engine.data,
            Namespace::Meta => &self.engine.meta,
        }
    }
}

impl ReadView for FjallView<'_> {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self
            .snapshot
            .get(self.keyspace(namespace), key)
            .map_err(map_error)?;
        Ok(value.map(|value| Bytes::copy_from_slice(&value)))
    }

    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()> {
        let entries = self
            .snapshot
            .range::<&[u8], _>(self.keyspace(namespace), range.bounds());
        match direction {
            Direction::Forward => {
                visit_each(entries.map(fjall::Guard::into_inner), map_error, visit)
            }
            Direction::Reverse => visit_each(
                entries.rev().map(fjall::Guard::into_inner),
                map_error,
                visit,
            ),
        }
    }
}

/// How long a close waits for fjall's background flush before it leaves the rest to
/// the journal (which holds every commit: nothing is lost, the next open replays it).
const CLOSE_FLUSH_WAIT: Duration = Duration::from_secs(60);

/// Seals `keyspace`'s memtable and waits until fjall's flush workers have written every
/// sealed memtable to a table, so the next open has nothing of it to replay.
///
/// fjall 3 flushes on its worker threads only; `Keyspace::rotate_memtable` and
/// `Keyspace::sealed_memtable_count` (public, but hidden from fjall's docs) are what its
/// own tests use to wait for a flush. The wait polls, and gives up after
/// [`CLOSE_FLUSH_WAIT`] or as soon as the database reports a failed write (fjall
/// poisons it, and its flush would never finish).
///
/// Returns whether every entry of the keyspace is now in a table.
fn flush_memtables(db: &Database, keyspace: &Keyspace, started: Instant) -> Result<bool> {
    keyspace.rotate_memtable().map_err(map_error)?;
    while keyspace.sealed_memtable_count() > 0 {
        db.persist(PersistMode::Buffer).map_err(map_error)?;
        if started.elapsed() > CLOSE_FLUSH_WAIT {
            tracing::warn!(
                keyspace = ?keyspace.name(),
                "fjall's flush did not finish in time; the next open replays the journal"
            );
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(true)
}

/// Empties the active journal of the closed fjall database at `path`, once every entry
/// it holds is in a table, so that the next open has nothing to read back.
///
/// fjall names its journals `<id>.jnl` and writes only to the highest id; the older
/// (sealed) ones it deletes itself once their entries are in tables. To fjall an empty
/// file is a journal without entries: its reader finds no batch, its writer appends to
/// it, and the open takes the next sequence number from the tables.
/// The tables were `fsync`ed, with their directories and fjall's version file, before
/// their memtables left the sealed list: if a power cut loses the truncation, the next
/// open reads back entries the tables already hold and skips them, as before.
///
/// Only when the active journal is the ONLY journal. fjall's recovery is right because
/// it replays every surviving journal in order, and a sealed journal can outlive its
/// entries' flush: fjall deletes it once each keyspace's highest persisted sequence
/// number passes it, and that number goes DOWN when a compaction into the last level
/// drops tombstones together with the values they deleted. Such a sealed journal is
/// replayed at the next open; the tombstones that cancelled its puts may be in the
/// active journal only, so emptying it would bring deleted keys back. The close then
/// leaves every journal as it is, and the next open replays them all (slower, right).
fn empty_active_journal(path: &Path) -> Result<()> {
    let journals = journal_files(path)?;
    let [(_, active)] = journals.as_slice() else {
        if journals.len() > 1 {
            tracing::debug!(
                journals = journals.len(),
                "fjall keeps a sealed journal; the close leaves the journals for the next open to replay"
            );
        }
        return Ok(());
    };
    let file = std::fs::OpenOptions::new().write(true).open(active)?;
    file.set_len(0)?;
    // Not for durability (a lost truncation loses nothing): so that the open after a
    // power cut is as fast as the one after the close.
    file.sync_all()?;
    Ok(())
}

/// fjall's journal files in the database directory at `path` (`<id>.jnl`), by id.
fn journal_files(path: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut journals = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".jnl"))
            .and_then(|id| id.parse::<u64>().ok())
        {
            journals.push((id, entry.path()));
        }
    }
    journals.sort();
    Ok(journals)
}

/// The journal persistence of a commit of `durability`.
fn persist_mode(durability: Durability) -> PersistMode {
    match durability {
        Durability::Durable => PersistMode::SyncAll,
        Durability::Buffered => PersistMode::Buffer,
    }
}

fn map_error(error: fjall::Error) -> Error {
    use fjall::Error as E;
    match error {
        // `LsmError` is fjall's (doc-hidden) re-export of lsm-tree's error, which it wraps
        // as `Storage`; naming it avoids a second, version-pinned dependency on lsm-tree.
        E::Io(io) | E::Storage(fjall::LsmError::Io(io)) => Error::from_engine_io("fjall", io),
        // Every other lsm-tree error is a damaged or unreadable file: a checksum,
        // header, trailer, tag, version or decompression failure.
        E::Storage(_)
        | E::JournalRecovery(_)
        | E::InvalidVersion(_)
        | E::Decompress(_)
        | E::InvalidTrailer
        | E::InvalidTag(_)
        | E::Unrecoverable => Error::Corruption(format!("fjall: {error:?}")),
        other => Error::backend("fjall", other),
    }
}

#[cfg(test)]
mod tests;
