//! fsmstore engine on [RocksDB](https://rocksdb.org), through the
//! [`rocksdb`](https://crates.io/crates/rocksdb) crate 0.25 (RocksDB 11.8).
//!
//! One RocksDB database in the subdirectory `rocksdb/` of the store directory (the store
//! directory itself also holds fsmstore's marker file), with two column families: `data`
//! and `meta`, beside RocksDB's mandatory `default`, which stays empty. Every commit is
//! ONE RocksDB `WriteBatch` spanning both families. RocksDB logs the whole batch as one
//! write-ahead-log record with a checksum before it touches a memtable, so a crash leaves
//! all of it or none, across both families, without `atomic_flush`. The WAL is always on.
//!
//! # Durability
//!
//! | | RocksDB call |
//! |---|---|
//! | Sync apply | `DB::write_opt` with `WriteOptions::set_sync(true)`: the batch is appended to the WAL and every live WAL file is `fsync`ed (`fdatasync`) before the write returns: one WAL sync |
//! | NoSync apply | the same with `set_sync(false)`: the batch is appended to the WAL and handed to the OS (RocksDB flushes its WAL buffer on every write), no `fsync` |
//! | checkpoint | a `set_sync(true)` write, or [`RawEngine::sync`]: `DB::flush_wal(true)`, which `fsync`s every live WAL file, the current one and any not yet synced before it, so every earlier NoSync commit becomes durable |
//! | after kill -9 in NoSync | **kept**: every acknowledged write reached the OS's page cache; only a power loss or OS crash can lose NoSync work |
//!
//! An empty `set_sync(true)` write is not short-circuited by RocksDB (it syncs the WAL
//! like any other), so a durable commit with no ops still makes earlier commits durable.
//!
//! # Range deletes
//!
//! A range delete (from `delete_range`, or `delete_prefix` as one or two ranges) becomes
//! a range tombstone in the same `WriteBatch` (`WriteBatch::delete_range_cf` on `data`),
//! which takes a half-open `[from, to)`: an included end `e` becomes `e` followed by a
//! zero byte (the next key after `e`), an excluded start `s` likewise, and an unbounded
//! end is [`END_OF_KEYS`], a key greater than every key a store can hold.
//!
//! Ops apply in order: RocksDB gives every op of a batch its own sequence number, and a
//! range tombstone hides only the entries older than itself, so a put earlier in the
//! commit is deleted and a put after it survives.
//!
//! # Reads
//!
//! A point read uses RocksDB's implicit snapshot. A range scan takes an explicit
//! snapshot (`DB::snapshot`) and walks one raw iterator on it, bounded by
//! `ReadOptions::set_iterate_lower_bound` / `set_iterate_upper_bound` (the same
//! half-open conversion as range deletes), from `seek_to_first` forwards or from
//! `seek_to_last` backwards. RocksDB publishes a batch's sequence number only after the
//! whole batch is in the memtables, so a reader never sees half a commit.
//!
//! # Read-only opens
//!
//! With [`Config::read_only`] the database is opened with
//! `DB::open_cf_descriptors_read_only`, every column family included: RocksDB replays
//! the WAL into memory with the same recovery mode, and writes no file (no `LOCK`, no
//! new WAL, `MANIFEST`, `OPTIONS` or `LOG`), so the store directory is left byte for
//! byte as it was, and a store on a read-only filesystem opens. RocksDB itself refuses
//! every write, WAL flush and sync of a read-only database (`Not supported`), below the
//! store's own refusal. It takes no lock: the store's shared lock keeps writers out.
//!
//! # Close
//!
//! RocksDB's close does NOT `fsync` the WAL: it waits for its background flushes and
//! compactions, then writes out its WAL buffer and closes the file. The store calls
//! [`RawEngine::sync`] before dropping the engine, so every commit is durable at a
//! clean shutdown; dropping the engine then closes RocksDB. Nothing else needs doing. A
//! read-only store skips the sync: dropping a read-only database writes nothing.
//!
//! While the database is open RocksDB holds an `fcntl` lock on `rocksdb/LOCK`
//! ([`RawEngine::LOCK_FILES`]), which fsmstore never opens: closing any descriptor of
//! the file would drop the lock.
//!
//! # Recovery and errors
//!
//! The WAL recovery mode follows the sessions that wrote the log, which the store
//! learns from its marker and passes to [`RawEngine::open_recovering`], never the sync
//! mode of the open that replays it (a Sync open may replay a log a NoSync session
//! left, and the other way round).
//!
//! When every session since the last clean close synced each commit
//! ([`Recovery::STRICT`], also the recovery of a new store or a restore's new
//! generation), the WAL is replayed with `WALRecoveryMode::TolerateCorruptedTailRecords`:
//! a record cut short at the end of the log (a process killed in the middle of a write)
//! is dropped, and any other damage (a checksum mismatch, a bad length or a hole inside
//! the log) refuses the open with [`Error::Corruption`], because every one of those
//! commits was fsynced and replaying only up to the damage could silently roll back
//! commits reported durable.
//!
//! When a NoSync session wrote since the last clean close
//! ([`Recovery::AFTER_UNSYNCED_WRITES`]), the WAL is replayed with RocksDB's
//! point-in-time recovery: up to the first damaged record. That WAL's tail was never
//! fsynced, and a power cut keeps an arbitrary subset of those pages (the kernel writes
//! dirty pages back in no particular order), so a hole followed by surviving records is
//! what a power cut leaves, not damage; refusing it would lose the whole store,
//! checkpoints included (the power-loss campaign found exactly that). Everything before
//! the last checkpoint was fsynced and sits before the hole.
//!
//! Paranoid checks stay on, and every table file is opened at the open, so a
//! damaged `CURRENT`, `MANIFEST` or table file fails the open too; damage inside a table
//! block that the open does not read surfaces on the read that meets it.
//!
//! A missing `CURRENT` beside WAL or table files is [`Error::Corruption`] at every open:
//! RocksDB would otherwise write a new empty database, refuse the first open, and on
//! the next open delete the old files as obsolete.
//!
//! The limit: the WAL and the `MANIFEST` are logs, and a log cut inside its last record
//! (or damaged so that a record header claims more bytes than the file holds) looks
//! exactly like a crash in the middle of a write. RocksDB then opens at the record
//! before, and no engine can tell the two apart.
//!
//! RocksDB reports errors as a message whose first word names its kind: `Corruption` is
//! [`Error::Corruption`]; `IO error` is [`Error::Io`] (the message is all RocksDB keeps
//! of the OS error, so its kind is `Other`); the rest (the database locked by another
//! handle, `Invalid argument` about files or options, ...) is [`Error::Backend`]: every
//! key and meta name has been checked by the store, so no RocksDB error is the caller's
//! input. The one limit RocksDB would not report is checked here: a value over
//! `u32::MAX` bytes is [`Error::InvalidArgument`] and nothing of the commit is written
//! (RocksDB's C API drops the error of a `WriteBatch` put, which would silently leave the
//! op out).

use std::ops::Bound;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use engine_api::{
    Commit, Config, Direction, Durability, Error, KeyRange, MAX_KEY_LEN, Namespace, OpRef,
    RawEngine, ReadView, Recovery, Result, ScanVisitor,
};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode, ErrorKind,
    Options, ReadOptions, Snapshot, WriteBatch, WriteOptions,
};

/// The RocksDB engine's store type.
pub type RocksDbStore = engine_api::Store<RocksDbEngine>;

/// The subdirectory of the store directory that holds the RocksDB database.
pub const DATABASE_DIR: &str = "rocksdb";

/// The column family of data keys.
const DATA: &str = "data";
/// The column family of meta keys.
const META: &str = "meta";

/// The end of an unbounded range delete: `MAX_KEY_LEN + 1` bytes of `0xFF`, greater
/// than every key of at most [`MAX_KEY_LEN`] bytes.
pub const END_OF_KEYS: [u8; MAX_KEY_LEN + 1] = [0xFF; MAX_KEY_LEN + 1];

/// Memtable size per column family: RocksDB's 64 MiB default is sized for servers; a
/// state machine's batches are small and a smaller memtable bounds the WAL to replay.
const WRITE_BUFFER_SIZE: usize = 16 << 20;

/// RocksDB's info log (`LOG`) is rotated at every open; keep a few old ones only.
const INFO_LOGS_KEPT: usize = 4;

/// The RocksDB engine: see the crate docs.
pub struct RocksDbEngine {
    // The single-threaded mode only serialises creating and dropping column families,
    // which never happens after the open; reads and writes run concurrently either way.
    db: DB,
}

impl std::fmt::Debug for RocksDbEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbEngine")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl RocksDbEngine {
    /// The path of the RocksDB database (a subdirectory of the store directory).
    pub fn database_path(&self) -> &Path {
        self.db.path()
    }

    fn family(&self, name: &str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| {
            Error::backend("rocksdb", format!("the column family `{name}` is not open"))
        })
    }

    fn read_one(&self, family: &str, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self
            .db
            .get_pinned_cf(self.family(family)?, key)
            .map_err(map_error)?;
        Ok(value.map(|value| Bytes::copy_from_slice(&value)))
    }
}

/// The options of every open. The WAL recovery mode follows the sessions that wrote the
/// log, not this open's sync mode: see the crate docs, "Recovery and errors".
fn options(recovery: Recovery, read_only: bool) -> Options {
    let mut options = Options::default();
    options.create_if_missing(!read_only);
    options.create_missing_column_families(!read_only);
    // On by default in RocksDB (the crate's doc says otherwise); the open relies on it.
    options.set_paranoid_checks(true);
    options.set_wal_recovery_mode(if recovery.unsynced_writes {
        DBRecoveryMode::PointInTime
    } else {
        DBRecoveryMode::TolerateCorruptedTailRecords
    });
    options.set_write_buffer_size(WRITE_BUFFER_SIZE);
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_keep_log_file_num(INFO_LOGS_KEPT);
    options
}

/// The column families to open: `data`, `meta`, and every family the database already
/// has (RocksDB refuses an open that leaves one out).
fn families(path: &Path, options: &Options) -> Result<Vec<String>> {
    let mut names = vec![DATA.to_owned(), META.to_owned()];
    if path.join("CURRENT").try_exists()? {
        for name in DB::list_cf(options, path).map_err(map_error)? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    } else if holds_data_files(path)? {
        // Without CURRENT, RocksDB writes a new empty database; it refuses the first
        // open when it finds a WAL, but a second open then deletes the old files.
        return Err(Error::Corruption(format!(
            "rocksdb: {} holds WAL or table files but no CURRENT file",
            path.display()
        )));
    }
    Ok(names)
}

/// Whether `path` holds a WAL (`*.log`) or table (`*.sst`) file. Neither exists before
/// RocksDB first writes CURRENT, so a crash while creating a store leaves none.
fn holds_data_files(path: &Path) -> Result<bool> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(Error::Io(error)),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".log") || name.ends_with(".sst") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `range` as RocksDB's half-open `[from, to)`: see the crate docs.
fn half_open(range: &KeyRange) -> (Vec<u8>, Vec<u8>) {
    let after = |key: &[u8]| {
        let mut next = Vec::with_capacity(key.len() + 1);
        next.extend_from_slice(key);
        next.push(0);
        next
    };
    let from = match range.start() {
        Bound::Included(key) => key.to_vec(),
        Bound::Excluded(key) => after(key),
        Bound::Unbounded => Vec::new(),
    };
    let to = match range.end() {
        Bound::Included(key) => after(key),
        Bound::Excluded(key) => key.to_vec(),
        Bound::Unbounded => END_OF_KEYS.to_vec(),
    };
    (from, to)
}

impl RawEngine for RocksDbEngine {
    const NAME: &'static str = "rocksdb";
    // CURRENT names the live MANIFEST; without it RocksDB would create a new database.
    const ENGINE_FILES: &'static [&'static str] = &["rocksdb/CURRENT"];
    // RocksDB's one-writer lock: a whole-file `fcntl` lock while the database is open.
    const LOCK_FILES: &'static [&'static str] = &["rocksdb/LOCK"];
    const IS_DURABLE: bool = true;
    // Every write reaches the OS before it returns.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool = true;

    /// A new store, or a restore's new generation: nothing to recover, so the strict
    /// recovery.
    fn open(dir: &Path, config: &Config) -> Result<Self> {
        Self::open_recovering(dir, config, Recovery::STRICT)
    }

    fn open_recovering(dir: &Path, config: &Config, recovery: Recovery) -> Result<Self> {
        let path: PathBuf = dir.join(DATABASE_DIR);
        let options = options(recovery, config.read_only);
        let descriptors = families(&path, &options)?
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, options.clone()));
        let db = if config.read_only {
            // Every family, as for a writable open. The WAL is replayed into memory
            // only; RocksDB takes no LOCK, writes no file, and refuses every write.
            DB::open_cf_descriptors_read_only(&options, &path, descriptors, false)
        } else {
            DB::open_cf_descriptors(&options, &path, descriptors)
        }
        .map_err(map_error)?;
        Ok(Self { db })
    }

    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()> {
        let data = self.family(DATA)?;
        let meta = self.family(META)?;
        let mut batch = WriteBatch::default();
        for op in commit.ops() {
            match op {
                // Values fit RocksDB's 32-bit length: the store refuses longer ones.
                OpRef::Put { key, value } => batch.put_cf(data, key, value),
                OpRef::Delete { key } => batch.delete_cf(data, key),
                OpRef::DeleteRange(ranges) => {
                    for range in ranges.iter() {
                        let (from, to) = half_open(range);
                        // RocksDB rejects an inverted range only when it applies the
                        // batch, after the WAL write; an empty one is left out instead.
                        if from < to {
                            batch.delete_range_cf(data, from, to);
                        }
                    }
                }
                OpRef::PutMeta { name, value } => batch.put_cf(meta, name, value),
                OpRef::DeleteMeta { name } => batch.delete_cf(meta, name),
            }
        }
        let mut write_options = WriteOptions::default();
        write_options.set_sync(durability == Durability::Durable);
        self.db.write_opt(batch, &write_options).map_err(map_error)
    }

    fn sync(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(map_error)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(DATA, key)
    }

    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.read_one(META, name)
    }

    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T> {
        read(&RocksDbView {
            snapshot: self.db.snapshot(),
            engine: self,
        })
    }
}

/// One RocksDB snapshot (a sequence number) across both column families.
struct RocksDbView<'a> {
    snapshot: Snapshot<'a>,
    engine: &'a RocksDbEngine,
}

impl ReadView for RocksDbView<'_> {
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
        let family = self.engine.family(family_of(namespace))?;
        let value = self
            .snapshot
            .get_pinned_cf(family, key)
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
        let family = self.engine.family(family_of(namespace))?;
        let (from, to) = half_open(range);
        let mut read_options = ReadOptions::default();
        if !from.is_empty() {
            read_options.set_iterate_lower_bound(from);
        }
        if !matches!(range.end(), Bound::Unbounded) {
            read_options.set_iterate_upper_bound(to);
        }
        let mut iter = self.snapshot.raw_iterator_cf_opt(family, read_options);
        match direction {
            Direction::Forward => iter.seek_to_first(),
            Direction::Reverse => iter.seek_to_last(),
        }
        while let Some((key, value)) = iter.item() {
            if visit(key, value)?.is_break() {
                return Ok(());
            }
            match direction {
                Direction::Forward => iter.next(),
                Direction::Reverse => iter.prev(),
            }
        }
        // The iterator stops early on an error as well as at the bound.
        iter.status().map_err(map_error)
    }
}

fn family_of(namespace: Namespace) -> &'static str {
    match namespace {
        Namespace::Data => DATA,
        Namespace::Meta => META,
    }
}

fn map_error(error: rocksdb::Error) -> Error {
    match error.kind() {
        ErrorKind::Corruption => Error::Corruption(format!("rocksdb: {error}")),
        ErrorKind::IOError => Error::Io(std::io::Error::other(format!("rocksdb: {error}"))),
        _ => Error::backend("rocksdb", error),
    }
}

#[cfg(test)]
mod tests;
