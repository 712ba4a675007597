//! `Engine`: the storage API a raft state machine programs against.

use std::io::{Read, Write};
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::deep_check::DeepCheck;
use crate::error::Result;
use crate::range::{RangeQuery, ScanVisitor};
use crate::snapshot::SnapshotHeader;
use crate::sync_mode::SyncMode;

/// What [`Engine::apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The batch was committed; `index` is the applied index it carried, if any.
    Applied {
        /// The raft index committed with the batch, or `None` for an unindexed apply.
        index: Option<u64>,
    },
    /// The index was not above the applied index: nothing was written. Replaying a raft
    /// entry that is already applied is a no-op.
    Skipped {
        /// The applied index that made the call a no-op.
        applied: u64,
    },
}

/// Several reads at one point in time: what [`Engine::view`] hands its closure.
///
/// Every read through one view sees the same committed state, whatever commits while
/// the view is held (commits are not blocked by it). Data reads never see meta keys.
pub trait View {
    /// Reads one data key.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>>;

    /// Reads one meta key.
    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>>;

    /// Calls `visit` with each data entry of `query`, in its order, up to its limit,
    /// until `visit` breaks or fails (that error is returned). See [`Engine::scan`].
    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()>;

    /// The data entries of `query`, collected: see [`Engine::range`].
    fn range(&self, query: &RangeQuery) -> Result<Vec<(Bytes, Bytes)>> {
        let mut found = Vec::new();
        self.scan(query, &mut |key, value| {
            found.push((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }
}

/// The state-machine storage API, the same over every engine.
///
/// Object safe: `Box<dyn Engine>` is what [`fsmstore::open`] returns when the engine is
/// picked at run time. [`Store`](crate::Store) implements it for every backend.
///
/// [`fsmstore::open`]: https://docs.rs/fsmstore
pub trait Engine: Send + Sync {
    /// The engine's name (`memory`, `redb`, ...).
    fn engine_name(&self) -> &'static str;

    /// The sync mode in force (after the environment override).
    fn sync_mode(&self) -> SyncMode;

    /// The longest data key or meta name this store accepts: [`MAX_KEY_LEN`](crate::MAX_KEY_LEN)
    /// for a store of its own, less for a group of a groups store, whose engine keys
    /// carry the group's prefix (see [`GroupStore`](crate::GroupStore)). A longer key is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when written and reads
    /// as `None`.
    fn max_key_len(&self) -> usize {
        crate::MAX_KEY_LEN
    }

    /// The directory the store lives in (for a group of a groups store, that store's
    /// directory), when it lives in one. Integrations use it to refuse files of their
    /// own inside it (a restore removes what is not the live store).
    fn dir(&self) -> Option<&std::path::Path> {
        None
    }

    /// The raft-apply path: commits `batch` with the store's [`SyncMode`].
    ///
    /// With `index = Some(i)`:
    /// - `i` above the applied index: the batch and `applied_index = i` commit in one
    ///   atomic engine commit (no extra fsync); an empty batch only advances the index;
    /// - `i` at or below it: nothing is written, [`ApplyOutcome::Skipped`] is returned.
    ///
    /// With `index = None` the batch commits and the applied index is untouched.
    /// Index 0 is not a raft index and is rejected with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument), as is a batch with an
    /// empty key. Applies are serialised with each other and with the checkpoint.
    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> Result<ApplyOutcome>;

    /// The direct path for writes that bypass raft: always durable when it returns,
    /// whatever the sync mode, because nothing can replay them. Leaves the applied
    /// index alone (unless the batch writes its meta key explicitly).
    fn write(&self, batch: &WriteBatch) -> Result<()>;

    /// The applied index as stored: `None` when missing, or when the stored value is not
    /// 8 bytes (with a warning). An I/O failure is `Err`.
    fn applied_index(&self) -> Result<Option<u64>>;

    /// The checkpoint: makes an applied index of at least `index` durable, together with
    /// every commit before it, even in [`SyncMode::NoSync`]. Returns the applied index
    /// that is now durable.
    ///
    /// The pin never writes an index of its own: it makes durable the applied index the
    /// store already holds, which must be at least `index`. An `index` above the
    /// applied index is [`Error::InvalidArgument`](crate::Error::InvalidArgument) and
    /// changes nothing: pinning entries that were never applied would make every later
    /// [`apply`](Engine::apply) up to `index` a skip, and those entries would be lost
    /// silently. `index = 0` is rejected too.
    ///
    /// Monotonic: never lowers the index. When the durable index is already at least
    /// `index` nothing is written or synced; otherwise one fsync makes the current
    /// applied index and every commit before it durable. Serialised with
    /// [`Engine::apply`], so a racing apply is never rewound by an older pin.
    ///
    /// A durable store also records the pinned index in its directory marker, outside
    /// the engine: an open that finds the engine recovered below it fails with
    /// [`Error::RolledBack`](crate::Error::RolledBack).
    fn set_durable_applied_index(&self, index: u64) -> Result<u64>;

    /// Makes every commit so far durable.
    fn sync(&self) -> Result<()>;

    /// Reads one data key. Sees every committed batch.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>>;

    /// Reads one meta key.
    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>>;

    /// The ordered range read: calls `visit` with each data entry of `query` (bounds,
    /// direction, limit), borrowed from the engine, until the range or the limit ends or
    /// `visit` returns [`ControlFlow::Break`] (stopping early reads nothing more) or an
    /// error (returned as is).
    ///
    /// The whole scan reads one consistent view: a batch committed while it runs is
    /// wholly visible or not at all. Memory is what `visit` keeps, whatever the range's
    /// size. Meta keys are never visited. `visit` must not write to the store (apply,
    /// write, checkpoint, restore): on some engines a commit waits for the view to end.
    ///
    /// ```
    /// # fn example(engine: &dyn engine_api::Engine) -> engine_api::Result<()> {
    /// use std::ops::ControlFlow;
    /// use engine_api::RangeQuery;
    ///
    /// let mut newest = None;
    /// engine.scan(&RangeQuery::prefix("log/").reverse(), &mut |key, _value| {
    ///     newest = Some(key.to_vec());
    ///     Ok(ControlFlow::Break(()))
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()>;

    /// The data entries of `query`, collected into a `Vec` from one consistent view:
    /// bound the result with the range or [`RangeQuery::limit`], or use
    /// [`Engine::scan`] to stream.
    fn range(&self, query: &RangeQuery) -> Result<Vec<(Bytes, Bytes)>> {
        let mut found = Vec::new();
        self.scan(query, &mut |key, value| {
            found.push((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// Runs `read` with a [`View`]: several reads (`get`, `get_meta`, ranges) at one
    /// point in time. Commits from other threads are not blocked while it runs; `read`
    /// itself must not write to the store, as for [`Engine::scan`]. Returns what `read`
    /// returns.
    ///
    /// ```
    /// # fn example(engine: &dyn engine_api::Engine) -> engine_api::Result<()> {
    /// use engine_api::RangeQuery;
    ///
    /// let (mut schema, mut users) = (None, Vec::new());
    /// engine.view(&mut |view| {
    ///     schema = view.get_meta(b"schema")?;
    ///     users = view.range(&RangeQuery::prefix("user/").limit(100))?;
    ///     Ok(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    fn view(&self, read: &mut dyn FnMut(&dyn View) -> Result<()>) -> Result<()>;

    /// Every data key starting with `prefix` (empty: all), ascending by key, read from
    /// one consistent view and collected into a `Vec` — bound the result with the prefix.
    /// Meta keys are never returned. The same as `range(&RangeQuery::prefix(prefix))`.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        self.range(&RangeQuery::prefix(Bytes::copy_from_slice(prefix)))
    }

    /// Streams a point-in-time image of the data and meta namespaces to `out`, in the
    /// engine-neutral [snapshot format](crate::SnapshotWriter), and returns its header.
    ///
    /// The image comes from one engine read view: commits that return while the export
    /// runs are not in it, and applies are not blocked. Memory stays bounded whatever
    /// the store's size (the view is walked twice, once to count the records for the
    /// header, once to write them). A stream exported by one engine restores into any
    /// other.
    fn export(&self, out: &mut dyn Write) -> Result<SnapshotHeader>;

    /// Replaces the whole store (data and meta) with the snapshot read from `input`, and
    /// returns its header.
    ///
    /// The stream is checked as it is read (magic, version, framing, key order, counts,
    /// CRC32C); a damaged or truncated stream is
    /// [`Error::InvalidSnapshot`](crate::Error::InvalidSnapshot) and leaves the store as
    /// it was. The new contents are built beside the live ones and made durable, then
    /// switched in with one atomic rename: a crash at any point leaves the old state or
    /// the new one, never a mix. Afterwards the applied index is the snapshot's, durable
    /// (so [`decide_restore`](crate::decide_restore) with the snapshot's index says
    /// `Skip`), even in [`SyncMode::NoSync`]. Unlike the checkpoint, a restore may lower
    /// the index: it installs exactly what the snapshot holds. Serialised with applies.
    /// It may read `input` past the end of the stream.
    ///
    /// A restore that fails before the switch changes nothing. One that fails in the
    /// switch itself (the fsync of the store directory after the marker's rename) returns
    /// the error and stops the store ([`Error::Stopped`](crate::Error::Stopped) for every
    /// later write): the store then serves whichever contents the marker on disk names,
    /// and so does a reopen — the old ones or the new ones, each complete, never a store
    /// that cannot open.
    fn restore(&self, input: &mut dyn Read) -> Result<SnapshotHeader>;

    /// Reads the whole store back and checks it: the engine's own integrity check where
    /// it has one (redb's page checksums), then every data and meta entry through one
    /// read view (keys in order and of storable lengths, the applied index well encoded;
    /// every page or block an engine checksums is verified as it is read). Returns what
    /// was read.
    ///
    /// An open trusts what a clean shutdown left and reads little, so a damaged page the
    /// open does not read is only found by the read that meets it, or by this check.
    /// Damage is [`Error::Corruption`](crate::Error::Corruption). The check reads every
    /// byte of the store, so it takes time in proportion to the data: it is an explicit
    /// operation (`fsmstore verify --deep`), never part of an open. While the engine's
    /// own check runs, applies and reads wait; the walk after it does not block them.
    ///
    /// An engine checker that finds damage it can repair (redb falls back to the
    /// previous commit when the last one fails its checksums) repairs it, on a read-only
    /// store too, and the check still fails with `Corruption`: what the store holds is
    /// then not what it last committed.
    fn verify_deep(&self) -> Result<DeepCheck>;

    /// Makes every commit durable and closes the store. Dropping a store does the same
    /// but can only log a failure; `close` reports it.
    fn close(self: Box<Self>) -> Result<()>;

    /// [`close`](Self::close) through a shared handle (`Arc<dyn Engine>`): when this is
    /// the last handle, the store closes and a failure is reported. When others remain,
    /// this handle is dropped, nothing is closed, and the answer is
    /// [`Error::StillShared`]: the store closes when the last of them goes. The default
    /// (for wrappers that cannot be taken out of the `Arc`) makes every commit durable
    /// and drops the handle.
    fn close_shared(self: std::sync::Arc<Self>) -> Result<()> {
        self.sync()
    }
}
