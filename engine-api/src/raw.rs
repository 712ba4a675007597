//! `RawEngine`: the primitives a backend supplies. Everything else is shared.

use std::path::Path;

use bytes::Bytes;

use crate::batch::Commit;
use crate::config::Config;
use crate::error::Result;
use crate::range::{Direction, KeyRange, ScanVisitor};
use crate::snapshot::Namespace;

/// How durable one engine commit must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Atomic and visible to readers when the commit returns; not fsynced.
    Buffered,
    /// When the commit returns, it AND every earlier commit survive a crash.
    Durable,
}

/// What the store knows, from its marker, about the sessions whose writes an open
/// recovers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Whether a writable session since the last clean close ran in
    /// [`SyncMode::NoSync`](crate::SyncMode::NoSync). Its commits reached the OS without
    /// an fsync, so after a power cut the engine's log may hold a hole where the OS lost
    /// some pages and kept later ones: an engine that can recover either way should then
    /// stop at the hole (point-in-time recovery) instead of refusing the log. When
    /// `false`, every session since the last clean close synced each commit, so a hole
    /// can only be damage and the strict recovery applies.
    pub unsynced_writes: bool,
}

impl Recovery {
    /// The recovery of a log that only synced sessions wrote (or of a new store).
    pub const STRICT: Self = Self {
        unsynced_writes: false,
    };

    /// The recovery of a log that a NoSync session may have left with holes.
    pub const AFTER_UNSYNCED_WRITES: Self = Self {
        unsynced_writes: true,
    };
}

/// One consistent, point-in-time read view of both namespaces: a read transaction or
/// an engine snapshot, held for as long as the view lives.
///
/// Commits that return after the view was taken are invisible to it, however long it
/// is held, and every read through it sees the same point in time.
pub trait ReadView {
    /// Reads one key of `namespace`. The key is 1 to [`MAX_KEY_LEN`](crate::MAX_KEY_LEN)
    /// bytes.
    fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>>;

    /// Calls `visit` with every entry of `namespace` in `range`, in `direction` order,
    /// until `visit` breaks or fails (its error is returned). Memory must not grow with
    /// the range: entries are handed over as the engine reads them.
    fn scan(
        &self,
        namespace: Namespace,
        range: &KeyRange,
        direction: Direction,
        visit: &mut ScanVisitor<'_>,
    ) -> Result<()>;
}

/// The engine-specific primitives of one backend.
///
/// A backend is a thin translation layer: [`Store`](crate::Store) owns the apply lock,
/// the cached applied index, the monotonic pin, the skip of stale indices and the
/// directory marker, and calls these primitives. A backend never sees an index to
/// compare; it commits what it is given.
///
/// The contract each primitive must meet:
/// - The data namespace and the meta namespace are separate (a column family, keyspace,
///   named database or table each); nothing done to data keys touches meta keys.
/// - [`commit`](RawEngine::commit) applies every op of one [`Commit`] in order, in ONE
///   atomic engine commit spanning both namespaces. A crash leaves all of it or none.
///   Calls are never concurrent with each other: the store serialises them, which is
///   what lets a backend emulate `DeletePrefix` by scan-and-delete.
/// - With [`Durability::Durable`] the commit and every earlier commit are durable on
///   return; [`sync`](RawEngine::sync) makes every earlier commit durable.
/// - Reads see every commit that has returned, and may run concurrently with a commit.
/// - Keys and meta names are 1 to [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes: the store
///   checks every commit and read, and never hands a backend anything else; the bounds
///   of a [`KeyRange`] (in a scan or an [`OpRef::DeleteRange`](crate::OpRef::DeleteRange))
///   are storable keys too.
/// - A range delete removes the data keys of its ranges as they stand at that point of
///   the commit (earlier ops applied, later ones not); where the engine has a native
///   range delete the backend uses it.
/// - `Drop` must not lose committed data that a clean shutdown is expected to keep; the
///   store calls [`close`](RawEngine::close) (by default [`sync`](RawEngine::sync))
///   before dropping a backend.
pub trait RawEngine: Send + Sync + Sized + 'static {
    /// The engine's name as written in the directory marker and accepted by the facade.
    const NAME: &'static str;

    /// Paths, relative to the directory [`open`](RawEngine::open) is given, that exist in
    /// every store of this engine once it has been created. A store whose marker is
    /// complete but which lacks one of them is damaged: the open fails with
    /// [`Error::Corruption`](crate::Error::Corruption) naming it, instead of letting the
    /// engine create a new, empty database in its place.
    const ENGINE_FILES: &'static [&'static str];

    /// Files, relative to the directory [`open`](RawEngine::open) is given, that the
    /// engine locks with `fcntl` record locks while it is open (LMDB's `lock.mdb`,
    /// RocksDB's `LOCK`). fsmstore never opens them: closing any descriptor of a file
    /// drops every record lock the process holds on it, so an fsync of the tree through
    /// a descriptor of its own would silently unlock the engine.
    const LOCK_FILES: &'static [&'static str] = &[];

    /// The longest data key or meta name the store accepts through this backend (see
    /// [`Engine::max_key_len`](crate::Engine::max_key_len)). Every engine takes
    /// [`MAX_KEY_LEN`](crate::MAX_KEY_LEN); only an adapter that lengthens keys (a group)
    /// takes less.
    const MAX_KEY_LEN: usize = crate::MAX_KEY_LEN;

    /// Whether the engine keeps data across processes.
    const IS_DURABLE: bool;

    /// Whether a NoSync commit that returned survives a kill -9 of the process (not a
    /// power loss): the engine handed it to the OS before returning.
    const KEEPS_NOSYNC_APPLIES_AFTER_A_KILL: bool;

    /// Whether an open with [`Config::read_only`] of a closed store, its reads and its
    /// drop leave the engine's files as they were: no file created, removed or resized,
    /// and no byte changed outside [`LOCK_FILES`](RawEngine::LOCK_FILES), whose contents
    /// are the engine's shared lock state (a reader registers there so that a writer in
    /// another process keeps what it reads). `false` for an engine without a read-only
    /// mode, whose every open recovers and may write.
    const READ_ONLY_OPEN_WRITES_NOTHING: bool = true;

    /// Opens (creating if empty) the engine's files in `dir`. The directory exists and
    /// is already marked as this engine's; the store has checked that
    /// [`ENGINE_FILES`](RawEngine::ENGINE_FILES) exist unless it is creating the store.
    /// With [`Config::read_only`] the engine should write nothing it can avoid.
    fn open(dir: &Path, config: &Config) -> Result<Self>;

    /// [`open`](RawEngine::open), told what the sessions that wrote the files did (see
    /// [`Recovery`]). The store opens an existing store through this; the default
    /// ignores `recovery`, which is right for an engine whose recovery does not depend
    /// on how the commits were written.
    fn open_recovering(dir: &Path, config: &Config, recovery: Recovery) -> Result<Self> {
        let _ = recovery;
        Self::open(dir, config)
    }

    /// Commits `commit` atomically with the given durability.
    fn commit(&self, commit: &Commit<'_>, durability: Durability) -> Result<()>;

    /// Makes every commit so far durable.
    fn sync(&self) -> Result<()>;

    /// Reads one data key.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>>;

    /// Reads one meta key.
    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>>;

    /// Runs the engine's own integrity check over its files, where the engine has one
    /// that reads more than its open does (page or block checksums of the whole store).
    /// The default checks nothing: the deep check's walk through a read view
    /// ([`check_view`](crate::check_view)) is then all there is.
    ///
    /// Damage is [`Error::Corruption`](crate::Error::Corruption). The store calls it with
    /// the backend to itself: no read view, commit or other call runs meanwhile. The
    /// check may write what the engine's checker writes (a repair), but must not change
    /// what a reader sees unless the store was damaged, and then it must fail.
    fn check_engine(&mut self) -> Result<()> {
        Ok(())
    }

    /// A clean shutdown: makes every commit durable and leaves the files so that the
    /// next open has as little as possible to recover or replay. The default is
    /// [`sync`](RawEngine::sync). The store calls it once, last, and then drops the
    /// backend; an error is reported by [`Store::close`](crate::Store::close).
    fn close(self) -> Result<()> {
        self.sync()
    }

    /// Takes one consistent read view of data and meta together (a read transaction or
    /// an engine snapshot) and hands it to `read`. Every range read goes through it. The
    /// view may be read more than once, and must not hold every entry in memory:
    /// snapshots of any size stream through it. Commits may run while it is held.
    fn with_view<T>(&self, read: &mut dyn FnMut(&dyn ReadView) -> Result<T>) -> Result<T>;
}
