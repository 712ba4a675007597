//! The baselines: each engine driven through its own API, with no fsmstore in between.
//!
//! A baseline does what the fsmstore backend of the same engine asks of the engine per
//! apply, and nothing else: the same tables (keyspaces, named databases, column families)
//! `data` and `meta`, the same engine options, the puts plus the applied index (8 bytes
//! little-endian under [`APPLIED_INDEX_KEY`] in `meta`) in ONE engine commit, with the
//! durability of the backend's mapping:
//!
//! | engine | Sync | NoSync |
//! |---|---|---|
//! | redb | `Durability::Immediate` | `Durability::None` |
//! | fjall | batch with `PersistMode::SyncAll` | batch with `PersistMode::Buffer` |
//! | LMDB (heed) | default env flags | env with `MDB_NOMETASYNC` |
//! | RocksDB | `WriteOptions::set_sync(true)` | `set_sync(false)` |
//!
//! What a baseline leaves out is what fsmstore adds: validating the batch, the apply lock,
//! the index comparison, the translation of ops. `apply / native` is that cost. When a
//! backend changes its engine options, its baseline here must follow.
//!
//! A scan baseline ([`NativeStore::scan`]) reads a half-open key range from one read
//! transaction or snapshot, forwards or backwards, as the backend's range read does.
//!
//! The in-memory engine has no native counterpart.

use std::path::Path;

#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
))]
use fsmstore::APPLIED_INDEX_KEY;
use fsmstore::{Backend, SyncMode};

use crate::Pair;

/// Any error of a native engine.
pub type NativeError = Box<dyn std::error::Error + Send + Sync>;

/// One engine, driven directly.
pub trait NativeStore {
    /// Commits `pairs` and the applied index `index` in one engine commit, with the
    /// durability of the sync mode the store was opened with.
    fn apply(&self, pairs: &[Pair], index: u64) -> Result<(), NativeError>;

    /// Reads the applied index back (for tests: the baseline must do the work it claims).
    fn applied_index(&self) -> Result<Option<u64>, NativeError>;

    /// Reads one data key back (for tests).
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NativeError>;

    /// Brings the store to its settled shape: for an LSM tree, memtables flushed and
    /// one full compaction, with no background work left; nothing for a B-tree. Run on
    /// both sides of a comparison ([`settle_store`] for fsmstore's), it makes the two
    /// trees the same shape whatever their background work had reached.
    fn settle(&self) -> Result<(), NativeError> {
        Ok(())
    }

    /// Calls `visit` with every data entry `start <= key < end`, ascending, or descending
    /// when `reverse`, from one consistent view: what a range read asks of the engine.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), NativeError>;
}

/// Opens the native baseline of `backend` in `dir` (created if missing), or `None` when
/// the engine has none (memory) or is not compiled in.
pub fn open(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
) -> Result<Option<Box<dyn NativeStore>>, NativeError> {
    std::fs::create_dir_all(dir)?;
    let _ = mode;
    Ok(match backend {
        #[cfg(feature = "redb")]
        Backend::Redb => Some(Box::new(redb_native::RedbNative::open(dir, mode)?)),
        #[cfg(feature = "fjall")]
        Backend::Fjall => Some(Box::new(fjall_native::FjallNative::open(dir, mode)?)),
        #[cfg(feature = "heed")]
        Backend::Heed => Some(Box::new(heed_native::HeedNative::open(dir, mode)?)),
        #[cfg(feature = "rocksdb")]
        Backend::RocksDb => Some(Box::new(rocksdb_native::RocksDbNative::open(dir, mode)?)),
        _ => None,
    })
}

/// Whether [`NativeStore::settle`] changes anything on `backend`: whether the shape of
/// its tree after a fill depends on background work.
pub fn settles(backend: Backend) -> bool {
    matches!(backend, Backend::RocksDb | Backend::Fjall)
}

/// Settles the engine files of a closed fsmstore store in `store_dir` the way
/// [`NativeStore::settle`] settles a baseline, through the engine's own API (the backend
/// and the baseline share the engine's options and tables).
pub fn settle_store(backend: Backend, store_dir: &Path) -> Result<(), NativeError> {
    #[cfg(feature = "rocksdb")]
    if backend == Backend::RocksDb {
        return rocksdb_native::RocksDbNative::open(store_dir, SyncMode::NoSync)?.settle();
    }
    #[cfg(feature = "fjall")]
    if backend == Backend::Fjall {
        return fjall_native::FjallNative::open(store_dir, SyncMode::NoSync)?.settle();
    }
    let _ = (backend, store_dir);
    Ok(())
}

/// Decodes a stored applied index; anything but 8 bytes is an error here, since the
/// baselines only ever write 8.
#[cfg(any(
    feature = "redb",
    feature = "fjall",
    feature = "heed",
    feature = "rocksdb"
))]
fn decode(stored: Option<&[u8]>) -> Result<Option<u64>, NativeError> {
    stored
        .map(|bytes| {
            <[u8; 8]>::try_from(bytes)
                .map(u64::from_le_bytes)
                .map_err(|_| format!("applied index of {} bytes", bytes.len()).into())
        })
        .transpose()
}

#[cfg(feature = "redb")]
mod redb_native {
    use std::path::Path;

    use fsmstore::SyncMode;
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    use super::{APPLIED_INDEX_KEY, NativeError, NativeStore, decode};
    use crate::Pair;

    const DATA: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("data");
    const META: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("meta");

    /// redb: one write transaction per apply over the `data` and `meta` tables.
    pub(super) struct RedbNative {
        db: Database,
        durability: Durability,
    }

    impl RedbNative {
        pub(super) fn open(dir: &Path, mode: SyncMode) -> Result<Self, NativeError> {
            let db = Database::create(dir.join("native.redb"))?;
            // Readers of a never-created table fail, so both exist from the start.
            let txn = db.begin_write()?;
            txn.open_table(DATA)?;
            txn.open_table(META)?;
            txn.commit()?;
            let durability = match mode {
                SyncMode::Sync => Durability::Immediate,
                SyncMode::NoSync => Durability::None,
            };
            Ok(Self { db, durability })
        }
    }

    impl NativeStore for RedbNative {
        fn apply(&self, pairs: &[Pair], index: u64) -> Result<(), NativeError> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(self.durability)?;
            {
                let mut data = txn.open_table(DATA)?;
                let mut meta = txn.open_table(META)?;
                for (key, value) in pairs {
                    data.insert(&key[..], &value[..])?;
                }
                meta.insert(APPLIED_INDEX_KEY, &index.to_le_bytes()[..])?;
            }
            txn.commit()?;
            Ok(())
        }

        fn applied_index(&self) -> Result<Option<u64>, NativeError> {
            let txn = self.db.begin_read()?;
            let meta = txn.open_table(META)?;
            let stored = meta.get(APPLIED_INDEX_KEY)?;
            decode(stored.as_ref().map(|value| value.value()))
        }

        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NativeError> {
            let txn = self.db.begin_read()?;
            let data = txn.open_table(DATA)?;
            Ok(data.get(key)?.map(|value| value.value().to_vec()))
        }

        fn scan(
            &self,
            start: &[u8],
            end: &[u8],
            reverse: bool,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> Result<(), NativeError> {
            let txn = self.db.begin_read()?;
            let data = txn.open_table(DATA)?;
            let range = data.range::<&[u8]>(start..end)?;
            if reverse {
                for entry in range.rev() {
                    let (key, value) = entry?;
                    visit(key.value(), value.value());
                }
            } else {
                for entry in range {
                    let (key, value) = entry?;
                    visit(key.value(), value.value());
                }
            }
            Ok(())
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_native {
    use std::path::Path;

    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
    use fsmstore::SyncMode;

    use super::{APPLIED_INDEX_KEY, NativeError, NativeStore, decode};
    use crate::Pair;

    /// fjall: one write batch per apply over the `data` and `meta` keyspaces.
    pub(super) struct FjallNative {
        db: Database,
        data: Keyspace,
        meta: Keyspace,
        mode: PersistMode,
    }

    impl FjallNative {
        pub(super) fn open(dir: &Path, mode: SyncMode) -> Result<Self, NativeError> {
            let db = Database::builder(dir.join("fjall")).open()?;
            let data = db.keyspace("data", KeyspaceCreateOptions::default)?;
            let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
            let mode = match mode {
                SyncMode::Sync => PersistMode::SyncAll,
                SyncMode::NoSync => PersistMode::Buffer,
            };
            Ok(Self {
                db,
                data,
                meta,
                mode,
            })
        }
    }

    impl NativeStore for FjallNative {
        fn apply(&self, pairs: &[Pair], index: u64) -> Result<(), NativeError> {
            let mut batch = self.db.batch().durability(Some(self.mode));
            for (key, value) in pairs {
                batch.insert(&self.data, &key[..], &value[..]);
            }
            batch.insert(&self.meta, APPLIED_INDEX_KEY, &index.to_le_bytes()[..]);
            batch.commit()?;
            Ok(())
        }

        /// Flushes both memtables to tables and compacts each keyspace into one level,
        /// with the calls fjall's own tests use (public, hidden from its docs).
        fn settle(&self) -> Result<(), NativeError> {
            for keyspace in [&self.data, &self.meta] {
                keyspace.rotate_memtable_and_wait()?;
                keyspace.major_compact()?;
            }
            Ok(())
        }

        fn applied_index(&self) -> Result<Option<u64>, NativeError> {
            let stored = self.db.snapshot().get(&self.meta, APPLIED_INDEX_KEY)?;
            decode(stored.as_deref())
        }

        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NativeError> {
            let stored = self.db.snapshot().get(&self.data, key)?;
            Ok(stored.map(|value| value.to_vec()))
        }

        fn scan(
            &self,
            start: &[u8],
            end: &[u8],
            reverse: bool,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> Result<(), NativeError> {
            let range = self.db.snapshot().range(&self.data, start..end);
            if reverse {
                for entry in range.rev() {
                    let (key, value) = entry.into_inner()?;
                    visit(&key, &value);
                }
            } else {
                for entry in range {
                    let (key, value) = entry.into_inner()?;
                    visit(&key, &value);
                }
            }
            Ok(())
        }
    }
}

#[cfg(feature = "heed")]
#[allow(unsafe_code)]
mod heed_native {
    use std::ops::Bound;
    use std::path::Path;

    use fsmstore::{DEFAULT_LMDB_MAP_SIZE, SyncMode};
    use heed::types::Bytes as Raw;
    use heed::{CommitOrAbort, Database, EnvFlags, EnvOpenOptions, WithoutTls};

    use super::{APPLIED_INDEX_KEY, NativeError, NativeStore, decode};
    use crate::Pair;

    type Db = Database<'static, Raw, Raw>;

    /// LMDB: one write transaction per apply over the `data` and `meta` databases.
    pub(super) struct HeedNative {
        env: heed::Env<WithoutTls>,
        data: Db,
        meta: Db,
    }

    impl HeedNative {
        pub(super) fn open(dir: &Path, mode: SyncMode) -> Result<Self, NativeError> {
            // The backend's options: no thread-local read slots, the default map size,
            // two named databases, MDB_NOMETASYNC (and never MDB_WRITEMAP) for NoSync.
            let mut options = EnvOpenOptions::new().read_txn_without_tls();
            options.map_size(DEFAULT_LMDB_MAP_SIZE).max_dbs(2);
            if mode == SyncMode::NoSync {
                // SAFETY: MDB_NOMETASYNC only risks losing the last commits on a system
                // crash; a bench directory is thrown away.
                unsafe { options.flags(EnvFlags::NO_META_SYNC) };
            }
            // SAFETY: the directory is fresh and private to this baseline, and nothing
            // else in the process opens it.
            let env = unsafe { options.open(dir) }?;
            let txn = env.write_txn()?;
            let (data, meta) = env
                .create_databases_and_commit(txn, |opener, txn| {
                    let data = opener.create_database::<Raw, Raw>(txn, Some("data"))?;
                    let meta = opener.create_database::<Raw, Raw>(txn, Some("meta"))?;
                    Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((data, meta)))
                })?
                .commit()
                .ok_or("creating the databases was aborted")?;
            Ok(Self { env, data, meta })
        }
    }

    impl NativeStore for HeedNative {
        fn apply(&self, pairs: &[Pair], index: u64) -> Result<(), NativeError> {
            let mut txn = self.env.write_txn()?;
            for (key, value) in pairs {
                self.data.put(&mut txn, &key[..], &value[..])?;
            }
            self.meta
                .put(&mut txn, APPLIED_INDEX_KEY, &index.to_le_bytes())?;
            txn.commit()?;
            Ok(())
        }

        fn applied_index(&self) -> Result<Option<u64>, NativeError> {
            let txn = self.env.read_txn()?;
            decode(self.meta.get(&txn, APPLIED_INDEX_KEY)?)
        }

        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NativeError> {
            let txn = self.env.read_txn()?;
            Ok(self.data.get(&txn, key)?.map(<[u8]>::to_vec))
        }

        fn scan(
            &self,
            start: &[u8],
            end: &[u8],
            reverse: bool,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> Result<(), NativeError> {
            let txn = self.env.read_txn()?;
            let range = (Bound::Included(start), Bound::Excluded(end));
            if reverse {
                for entry in self.data.rev_range(&txn, &range)? {
                    let (key, value) = entry?;
                    visit(key, value);
                }
            } else {
                for entry in self.data.range(&txn, &range)? {
                    let (key, value) = entry?;
                    visit(key, value);
                }
            }
            Ok(())
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocksdb_native {
    use std::path::Path;

    use fsmstore::SyncMode;
    use rocksdb::{
        ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode, Options, ReadOptions,
        WriteBatch, WriteOptions,
    };

    use super::{APPLIED_INDEX_KEY, NativeError, NativeStore, decode};
    use crate::Pair;

    /// RocksDB: one `WriteBatch` per apply over the `data` and `meta` column families.
    pub(super) struct RocksDbNative {
        db: DB,
        write_options: WriteOptions,
    }

    impl RocksDbNative {
        pub(super) fn open(dir: &Path, mode: SyncMode) -> Result<Self, NativeError> {
            // The backend's options, for the database and both families.
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            options.set_paranoid_checks(true);
            options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
            options.set_write_buffer_size(16 << 20);
            options.set_compression_type(DBCompressionType::Lz4);
            options.set_keep_log_file_num(4);
            let families =
                ["data", "meta"].map(|name| ColumnFamilyDescriptor::new(name, options.clone()));
            let db = DB::open_cf_descriptors(&options, dir.join("rocksdb"), families)?;
            let mut write_options = WriteOptions::default();
            write_options.set_sync(mode == SyncMode::Sync);
            Ok(Self { db, write_options })
        }

        fn family(&self, name: &str) -> Result<&rocksdb::ColumnFamily, NativeError> {
            self.db
                .cf_handle(name)
                .ok_or_else(|| format!("column family {name} is missing").into())
        }
    }

    impl NativeStore for RocksDbNative {
        fn apply(&self, pairs: &[Pair], index: u64) -> Result<(), NativeError> {
            let (data, meta) = (self.family("data")?, self.family("meta")?);
            let mut batch = WriteBatch::default();
            for (key, value) in pairs {
                batch.put_cf(data, key, value);
            }
            batch.put_cf(meta, APPLIED_INDEX_KEY, index.to_le_bytes());
            self.db.write_opt(batch, &self.write_options)?;
            Ok(())
        }

        fn applied_index(&self) -> Result<Option<u64>, NativeError> {
            let stored = self.db.get_cf(self.family("meta")?, APPLIED_INDEX_KEY)?;
            decode(stored.as_deref())
        }

        fn settle(&self) -> Result<(), NativeError> {
            for name in ["data", "meta"] {
                let family = self.family(name)?;
                self.db.flush_cf(family)?;
                self.db
                    .compact_range_cf(family, None::<&[u8]>, None::<&[u8]>);
            }
            Ok(())
        }

        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NativeError> {
            Ok(self.db.get_cf(self.family("data")?, key)?)
        }

        fn scan(
            &self,
            start: &[u8],
            end: &[u8],
            reverse: bool,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> Result<(), NativeError> {
            let mut options = ReadOptions::default();
            options.set_iterate_lower_bound(start);
            options.set_iterate_upper_bound(end);
            let mut iter = self.db.raw_iterator_cf_opt(self.family("data")?, options);
            if reverse {
                iter.seek_to_last();
            } else {
                iter.seek_to_first();
            }
            while let Some((key, value)) = iter.item() {
                visit(key, value);
                if reverse {
                    iter.prev();
                } else {
                    iter.next();
                }
            }
            Ok(iter.status()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workload;

    #[test]
    fn every_baseline_commits_the_puts_and_the_applied_index() -> Result<(), NativeError> {
        let workload = Workload::new(16);
        for backend in Backend::compiled() {
            for mode in [SyncMode::Sync, SyncMode::NoSync] {
                let dir = tempfile::tempdir()?;
                let Some(store) = open(backend, dir.path(), mode)? else {
                    assert_eq!(backend, Backend::Memory);
                    continue;
                };
                assert_eq!(store.applied_index()?, None, "{backend}");
                for index in 1..=3 {
                    store.apply(workload.pairs(index), index)?;
                }
                assert_eq!(store.applied_index()?, Some(3), "{backend} {mode}");
                for (key, value) in workload.pairs(2) {
                    assert_eq!(store.get(key)?.as_deref(), Some(&value[..]), "{backend}");
                }
                let (start, end) = (crate::scan_pair(10).0, crate::scan_pair(20).0);
                store.apply(&(0..30).map(crate::scan_pair).collect::<Vec<_>>(), 4)?;
                for reverse in [false, true] {
                    let mut keys = Vec::new();
                    store.scan(&start, &end, reverse, &mut |key, _| keys.push(key.to_vec()))?;
                    let mut wanted: Vec<Vec<u8>> = (10..20)
                        .map(|slot| crate::scan_pair(slot).0.to_vec())
                        .collect();
                    if reverse {
                        wanted.reverse();
                    }
                    assert_eq!(keys, wanted, "{backend} reverse: {reverse}");
                }
            }
        }
        Ok(())
    }
}
