//! Where a [`Store`](crate::Store) lives: a directory of its own, or one group of a
//! groups store. `Store` keeps every rule of the contract; its home keeps what those
//! rules need outside the engine (the marker, the lock, how a restore switches over).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsync::{sync_dir, sync_parent, sync_tree};
use crate::generation;
use crate::lock::StoreLock;
use crate::marker::{Layout, Marker, check_dir, claim_dir_as, read_marker};
use crate::metrics::{self, SyncTrigger};
use crate::raw::{RawEngine, Recovery};

/// A restore's switch that failed, and whether the new generation is live anyway (the
/// durable switch may have happened before the failure was seen).
pub(crate) struct SwitchFailed {
    pub(crate) error: Error,
    pub(crate) switched: bool,
}

/// What a store needs from where it lives. Every call is made under the store's apply
/// lock, so a home never sees two of them at once from one store.
pub(crate) trait Home<R: RawEngine>: Send + Sync {
    /// The store directory, for spans, logs and errors.
    fn path(&self) -> &Path;

    /// Records, durably and once per session, that commits which the OS may lose in
    /// part are about to be made.
    fn before_unsynced_commit(&self) -> Result<()>;

    /// Records a durable pin outside the engine, where the home has such a record.
    fn record_pin(&self, pinned: u64);

    /// An empty engine for the next generation, and that generation's number.
    fn stage(&self, config: &Config) -> Result<(R, u64)>;

    /// Makes a loaded (and synced) staged generation durable as a whole.
    fn seal(&self, generation: u64) -> Result<()>;

    /// Makes `generation` the live one in one durable step, with `pinned` its durable
    /// applied index.
    fn switch(&self, generation: u64, pinned: Option<u64>) -> Result<(), SwitchFailed>;

    /// Removes a staged generation that will never be live.
    fn discard(&self, generation: u64);

    /// Removes every generation but `live` (a failure is logged; the next open retries).
    fn remove_others(&self, live: u64);

    /// A clean shutdown of the live engine.
    fn close(&self, raw: R) -> Result<()>;
}

/// A store in a directory of its own: the directory's marker and lock, and engine
/// generations in subdirectories.
#[derive(Debug)]
pub(crate) struct DirHome {
    dir: PathBuf,
    marker: Mutex<Marker>,
    _lock: StoreLock,
}

impl DirHome {
    /// Opens (creating when missing, unless read-only) the store of `layout` in `dir`:
    /// the directory checks, the lock, the marker, and the live engine.
    pub(crate) fn open<R: RawEngine>(
        dir: &Path,
        config: &Config,
        layout: Layout,
    ) -> Result<(R, Self)> {
        if config.read_only {
            return Self::open_read_only(dir, config, layout);
        }
        // Refuse another engine's directory before writing anything into it, the lock
        // file included; then check again under the lock.
        if let Some(marker) = check_dir(dir, R::NAME)? {
            check_layout(dir, &marker, layout)?;
        }
        if !dir.exists() {
            std::fs::create_dir(dir)?;
        }
        let lock = StoreLock::exclusive(dir)?;
        let mut marker = claim_dir_as(dir, R::NAME, config.sync_mode, layout)?;
        check_layout(dir, &marker, layout)?;
        let raw = if marker.complete {
            open_live::<R>(dir, config, &marker, layout)?
        } else {
            // Nothing of an unfinished creation was ever acknowledged: start over.
            generation::clear_unfinished(dir)?;
            let raw = R::open(dir, config)?;
            raw.sync()?;
            sync_tree(dir, R::LOCK_FILES)?;
            marker.complete = true;
            marker.write(dir)?;
            sync_parent(dir)?;
            raw
        };
        // Only once the live generation is open (and the store locked): what an
        // interrupted restore left behind goes.
        if let Err(error) = generation::remove_others(dir, marker.generation) {
            tracing::warn!(engine = R::NAME, %error, "could not remove an old engine generation; retried at the next open");
        }
        Ok((raw, Self::new(dir, marker, lock)))
    }

    fn open_read_only<R: RawEngine>(
        dir: &Path,
        config: &Config,
        layout: Layout,
    ) -> Result<(R, Self)> {
        let lock = StoreLock::shared(dir)?;
        let marker = match check_dir(dir, R::NAME)? {
            Some(marker) if marker.complete => marker,
            Some(_) => {
                return Err(Error::Corruption(format!(
                    "{}: the store's creation never finished",
                    dir.display()
                )));
            }
            None => {
                return Err(Error::BackendMismatch {
                    path: dir.to_owned(),
                    expected: R::NAME.to_owned(),
                    found: "no fsmstore store".to_owned(),
                });
            }
        };
        check_layout(dir, &marker, layout)?;
        let raw = open_live::<R>(dir, config, &marker, layout)?;
        Ok((raw, Self::new(dir, marker, lock)))
    }

    fn new(dir: &Path, marker: Marker, lock: StoreLock) -> Self {
        Self {
            dir: dir.to_owned(),
            marker: Mutex::new(marker),
            _lock: lock,
        }
    }

    fn marker(&self) -> MutexGuard<'_, Marker> {
        // A marker is replaced whole, after its file was written.
        self.marker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest pinned value the marker records.
    pub(crate) fn pinned(&self) -> Option<u64> {
        self.marker().pinned
    }

    /// Records, durably before the first commit the OS may lose in part, that the
    /// engine's log may hold holes: the next open must know. Once per session, and
    /// never for a session that only reads (a cold start stays write-free).
    pub(crate) fn note_unsynced_writes(&self) -> Result<()> {
        let mut current = self.marker();
        if current.unsynced_writes {
            return Ok(());
        }
        let marker = Marker {
            unsynced_writes: true,
            ..current.clone()
        };
        marker.write(&self.dir)?;
        *current = marker;
        Ok(())
    }

    /// After a clean close of the engine: every commit is durable, so the next open
    /// recovers a log with no holes (unless a later session writes unsynced again).
    pub(crate) fn note_clean_close(&self) -> Result<()> {
        let mut current = self.marker();
        if current.unsynced_writes {
            let marker = Marker {
                unsynced_writes: false,
                ..current.clone()
            };
            marker.write(&self.dir)?;
            *current = marker;
        }
        Ok(())
    }
}

impl<R: RawEngine> Home<R> for DirHome {
    fn path(&self) -> &Path {
        &self.dir
    }

    fn before_unsynced_commit(&self) -> Result<()> {
        self.note_unsynced_writes()
    }

    /// The engine already holds the pin durably, so a marker that cannot be written
    /// loses only the rollback check: the old marker (or the new one, if the rename
    /// happened) stays whole and below what the engine holds.
    fn record_pin(&self, pinned: u64) {
        let mut current = self.marker();
        if !R::IS_DURABLE || current.pinned >= Some(pinned) {
            return;
        }
        let marker = Marker {
            pinned: Some(pinned),
            ..current.clone()
        };
        match marker.write(&self.dir) {
            Ok(()) => *current = marker,
            Err(error) => {
                tracing::warn!(engine = R::NAME, %error, pinned, "could not record the pinned index in the marker");
            }
        }
    }

    fn stage(&self, config: &Config) -> Result<(R, u64)> {
        let next = self.marker().generation + 1;
        let staging = generation::fresh_dir(&self.dir, next)?;
        match R::open(&staging, config) {
            Ok(raw) => Ok((raw, next)),
            Err(error) => {
                <Self as Home<R>>::discard(self, next);
                Err(error)
            }
        }
    }

    fn seal(&self, generation: u64) -> Result<()> {
        // The new generation's files and directories, and its entry in the store
        // directory, are durable before the marker names it.
        sync_tree(
            &generation::engine_dir(&self.dir, generation),
            R::LOCK_FILES,
        )?;
        sync_dir(&self.dir)
    }

    fn switch(&self, generation: u64, pinned: Option<u64>) -> Result<(), SwitchFailed> {
        let mut current = self.marker();
        let marker = Marker {
            format_version: current.layout.format_version(),
            generation,
            // The restored index is durable; an older snapshot lowers the pin.
            pinned,
            ..current.clone()
        };
        match marker.write(&self.dir) {
            Ok(()) => {
                *current = marker;
                Ok(())
            }
            Err(error) => {
                // The rename may have happened before the failure (an fsync of the
                // directory that failed): what the marker now says decides.
                let switched =
                    read_marker(&self.dir).is_ok_and(|on_disk| on_disk.generation == generation);
                if switched {
                    *current = marker;
                }
                Err(SwitchFailed { error, switched })
            }
        }
    }

    fn discard(&self, generation: u64) {
        let dir = generation::engine_dir(&self.dir, generation);
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(engine = R::NAME, %error, dir = %dir.display(), "could not remove a failed restore's files; removed at the next open");
        }
    }

    fn remove_others(&self, live: u64) {
        if let Err(error) = generation::remove_others(&self.dir, live) {
            tracing::warn!(engine = R::NAME, %error, "could not remove the replaced engine generation; retried at the next open");
        }
    }

    fn close(&self, raw: R) -> Result<()> {
        raw.close()?;
        metrics::synced(R::NAME, SyncTrigger::Close);
        self.note_clean_close()
    }
}

/// Refuses a store of the other layout.
fn check_layout(dir: &Path, marker: &Marker, expected: Layout) -> Result<()> {
    if marker.layout != expected {
        return Err(Error::LayoutMismatch {
            path: dir.to_owned(),
            expected,
            found: marker.layout,
        });
    }
    Ok(())
}

/// Opens the live generation of the complete store at `dir`: its engine files must be
/// there, the engine is told how the sessions since the last clean close wrote, and an
/// engine that recovered below the marker's pinned index is refused.
fn open_live<R: RawEngine>(
    dir: &Path,
    config: &Config,
    marker: &Marker,
    layout: Layout,
) -> Result<R> {
    generation::check_live(dir, R::NAME, marker.generation, R::ENGINE_FILES)?;
    let raw = R::open_recovering(
        &generation::engine_dir(dir, marker.generation),
        config,
        recovery(marker),
    )?;
    if layout == Layout::Single {
        check_not_rolled_back(dir, &raw, marker)?;
    }
    Ok(raw)
}

/// What the marker says about how the sessions since the last clean close wrote.
fn recovery(marker: &Marker) -> Recovery {
    if marker.unsynced_writes {
        Recovery::AFTER_UNSYNCED_WRITES
    } else {
        Recovery::STRICT
    }
}

/// Refuses an engine that recovered to an applied index below the marker's durable pin.
fn check_not_rolled_back<R: RawEngine>(dir: &Path, raw: &R, marker: &Marker) -> Result<()> {
    let Some(pinned) = marker.pinned else {
        return Ok(());
    };
    let recovered = decode_applied_index(raw.get_meta(APPLIED_INDEX_KEY)?.as_deref());
    if R::IS_DURABLE && recovered < Some(pinned) {
        return Err(Error::RolledBack {
            path: dir.to_owned(),
            recovered,
            pinned,
        });
    }
    Ok(())
}
