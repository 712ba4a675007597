//! `RaftStateMachine` over an fsmstore engine, with snapshots as fsmstore streams.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fsmstore::{
    ApplyOutcome, Backend, Config, Engine, SnapshotHeader, SnapshotReader, SyncMode, WriteBatch,
};
use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::{OptionalSend, RaftSnapshotBuilder, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::observer::{InstallCounts, Observer};
use crate::pending::Pending;
use crate::{
    Application, ApplyError, EntryData, META_LAST_APPLIED, META_MEMBERSHIP, decode, encode,
    fsmstore_index, io_error,
};

/// The counter of snapshot installs (feature `metrics`), by `outcome`:
/// `restored_at_start` (the snapshot directory's own snapshot, which openraft installs at
/// start-up into a store behind it), `restored_received` (from a leader), `skipped` (the
/// store was already at the snapshot).
pub const INSTALLS_METRIC: &str = "fsmstore_openraft_snapshot_installs_total";

/// The file name suffix of a snapshot's data (the fsmstore stream).
pub const SNAPSHOT_DATA_SUFFIX: &str = ".snap";
/// The file name suffix of a snapshot's meta (last log id and membership, JSON).
pub const SNAPSHOT_META_SUFFIX: &str = ".meta";

/// openraft's state machine on an fsmstore store.
///
/// The application's data lives in the store's data namespace; the last applied log id
/// and membership in its meta ([`META_LAST_APPLIED`], [`META_MEMBERSHIP`]), committed
/// with the data of each apply call together with the fsmstore applied index
/// ([`fsmstore_index`] of the last log index). Snapshots are files in a snapshot
/// directory beside the store: `<index>.snap` (the fsmstore stream, where `<index>` is
/// the 20-digit fsmstore index) and `<index>.meta`; only the newest is kept. The
/// directory belongs to one state machine (and its snapshot builders).
///
/// Snapshot builds and installs (whole-store exports and restores) and the applies of a
/// store in [`SyncMode::Sync`] (each waits for its fsync) run on the async runtime's
/// blocking pool; NoSync applies and reads call the engine on openraft's state-machine
/// task. openraft builds on a task of its own while it installs and reads snapshots, so
/// a build that ends after a newer snapshot was installed keeps the newer one (see
/// [`SnapshotBuilder`]).
pub struct StateMachine<C, A> {
    engine: Arc<dyn Engine>,
    app: Arc<A>,
    snapshots: Snapshots,
    counts: Arc<InstallCounts>,
    _config: PhantomData<fn() -> C>,
}

/// Builds a snapshot of a [`StateMachine`]: see [`RaftSnapshotBuilder`].
///
/// A build exports the store, pins the applied index it exported and keeps the snapshot
/// unless the directory already holds a newer one (installed from the leader while
/// this one was built): then the export is dropped and the newer snapshot is reported.
/// openraft records a snapshot it installs before its state machine installs it, so
/// the newer snapshot is one it already has, and it ignores a report that is not newer.
pub struct SnapshotBuilder<C> {
    engine: Arc<dyn Engine>,
    snapshots: Snapshots,
    _config: PhantomData<fn() -> C>,
}

/// The snapshot directory and the lock that every change of its snapshots takes.
///
/// Builds run beside installs and reads: without the lock two publishes could each
/// remove the other's files.
#[derive(Clone)]
struct Snapshots {
    dir: PathBuf,
    publishing: Arc<Mutex<()>>,
}

impl<C, A> StateMachine<C, A>
where
    C: RaftTypeConfig,
{
    /// A state machine on `engine` (a store the application may hold and read too),
    /// keeping its snapshots in `snapshot_dir` (created if missing, and made durable in
    /// its parent). The directory must not be inside the store's directory
    /// ([`Engine::dir`]; for a group, its groups store's): a restore removes everything
    /// there that is not the live store, so that is refused with `InvalidInput`, as
    /// [`open`](Self::open) refuses it. Files a build or install left unfinished when its
    /// process died are removed.
    pub fn new(
        engine: impl Into<Arc<dyn Engine>>,
        snapshot_dir: impl Into<PathBuf>,
        app: A,
    ) -> io::Result<Self> {
        let (engine, snapshot_dir) = (engine.into(), snapshot_dir.into());
        if let Some(store_dir) = engine.dir() {
            refuse_inside(store_dir, &snapshot_dir)?;
        }
        // Snapshots published into a directory whose own entry is lost at a power cut
        // are lost with it.
        fsmstore::create_dir_all_durably(&snapshot_dir).map_err(io_error)?;
        remove_unfinished(&snapshot_dir)?;
        Ok(Self {
            engine,
            app: Arc::new(app),
            snapshots: Snapshots {
                dir: snapshot_dir,
                publishing: Arc::new(Mutex::new(())),
            },
            counts: Arc::default(),
            _config: PhantomData,
        })
    }

    /// Opens the store of `backend` in `store_dir` and a state machine on it, with its
    /// snapshots in `snapshot_dir` (which must not be inside `store_dir`).
    pub fn open(
        backend: Backend,
        store_dir: impl AsRef<Path>,
        snapshot_dir: impl Into<PathBuf>,
        config: &Config,
        app: A,
    ) -> io::Result<Self> {
        let snapshot_dir = snapshot_dir.into();
        refuse_inside(store_dir.as_ref(), &snapshot_dir)?;
        let engine = fsmstore::open(backend, store_dir, config).map_err(io_error)?;
        Self::new(engine, snapshot_dir, app)
    }

    /// The store, for reads outside raft's apply path.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// A handle that closes the store once openraft has let go of it (see
    /// [`Closer`](crate::Closer)).
    pub fn closer(&self) -> crate::Closer {
        crate::Closer::new(self.engine.clone())
    }

    /// The application.
    pub fn application(&self) -> &A {
        &self.app
    }

    /// How many snapshots this state machine has restored into its store since it was
    /// made (installs that found the store already at the snapshot are not counted).
    pub fn restores(&self) -> u64 {
        self.counts.restores.load(Ordering::Relaxed)
    }

    /// A counter shared with [`restores`](Self::restores), readable after the state
    /// machine has moved into a `Raft`.
    pub fn restore_counter(&self) -> Arc<AtomicU64> {
        self.counts.restores.clone()
    }

    /// A handle that reads this state machine's state in plain types (last applied log
    /// id, membership, applied index, current snapshot, what a restart would do with
    /// it, restore counts), readable after the state machine has moved into a `Raft`.
    pub fn observer(&self) -> Observer<C> {
        Observer::new(
            self.engine.clone(),
            self.snapshots.dir.clone(),
            self.counts.clone(),
        )
    }
}

/// `InvalidInput` when `snapshot_dir` is `store_dir` or inside it, compared as absolute
/// paths: a restore removes everything in the store's directory that is not the live
/// store.
fn refuse_inside(store_dir: &Path, snapshot_dir: &Path) -> io::Result<()> {
    if std::path::absolute(snapshot_dir)?.starts_with(std::path::absolute(store_dir)?) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the snapshot directory {} must not be inside the store directory {}",
                snapshot_dir.display(),
                store_dir.display()
            ),
        ));
    }
    Ok(())
}

/// The stored last applied log id and membership.
pub(crate) fn stored_state<C>(
    engine: &dyn Engine,
) -> io::Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>)>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    let last = engine.get_meta(META_LAST_APPLIED).map_err(io_error)?;
    let membership = engine.get_meta(META_MEMBERSHIP).map_err(io_error)?;
    let last = last
        .map(|bytes| decode(&bytes, "last applied log id"))
        .transpose()?;
    let membership = membership
        .map(|bytes| decode(&bytes, "membership"))
        .transpose()?
        .unwrap_or_default();
    Ok((last, membership))
}

/// Reads a whole snapshot stream, checking it, and returns its header with the last
/// applied log id and membership it holds.
fn read_stream<C>(
    input: impl io::Read,
) -> io::Result<(SnapshotHeader, Option<LogIdOf<C>>, StoredMembershipOf<C>)>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    let mut reader = SnapshotReader::new(input).map_err(io_error)?;
    let (mut last, mut membership) = (None, None);
    while let Some(record) = reader.next_record().map_err(io_error)? {
        if record.namespace == fsmstore::Namespace::Meta {
            if record.key == META_LAST_APPLIED {
                last = Some(record.value);
            } else if record.key == META_MEMBERSHIP {
                membership = Some(record.value);
            }
        }
    }
    let header = reader.finish().map_err(io_error)?;
    let last: Option<LogIdOf<C>> = last
        .map(|bytes| decode(&bytes, "snapshot's last applied log id"))
        .transpose()?;
    let membership = membership
        .map(|bytes| decode(&bytes, "snapshot's membership"))
        .transpose()?
        .unwrap_or_default();
    let expected = last.as_ref().map(|log_id| fsmstore_index(log_id.index()));
    if header.applied_index != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot stream: applied index {:?} does not match its last log id (index {expected:?})",
                header.applied_index
            ),
        ));
    }
    Ok((header, last, membership))
}

fn snapshot_name(index: Option<u64>) -> String {
    format!("{:020}", index.unwrap_or(0))
}

fn data_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{SNAPSHOT_DATA_SUFFIX}"))
}

fn meta_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{SNAPSHOT_META_SUFFIX}"))
}

/// The suffix of files that are not (yet) part of a snapshot.
const UNFINISHED_SUFFIX: &str = ".tmp";

/// Makes each data file a build or install writes unique, so that builds running at the
/// same time never write into one file.
static UNFINISHED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unfinished_path(dir: &Path, what: &str) -> PathBuf {
    let n = UNFINISHED.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        "{what}-{n}{SNAPSHOT_DATA_SUFFIX}{UNFINISHED_SUFFIX}"
    ))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fsmstore::backend::sync_dir(dir).map_err(io_error)
}

/// Removes what a process that died while it built or installed a snapshot left.
fn remove_unfinished(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .ends_with(UNFINISHED_SUFFIX)
        {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Which files of one snapshot are in the directory.
#[derive(Clone, Copy, Default)]
struct Files {
    data: bool,
    meta: bool,
}

impl Files {
    fn complete(self) -> bool {
        self.data && self.meta
    }
}

/// The snapshots of `dir` by fsmstore index, with the files each has there.
fn listing(dir: &Path) -> io::Result<BTreeMap<u64, Files>> {
    let mut snapshots = BTreeMap::<u64, Files>::new();
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let file_name = file_name.to_string_lossy();
        let (stem, is_data) = match file_name.strip_suffix(SNAPSHOT_DATA_SUFFIX) {
            Some(stem) => (stem, true),
            None => match file_name.strip_suffix(SNAPSHOT_META_SUFFIX) {
                Some(stem) => (stem, false),
                None => continue,
            },
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(index) = stem.parse::<u64>() else {
            continue;
        };
        let files = snapshots.entry(index).or_default();
        if is_data {
            files.data = true;
        } else {
            files.meta = true;
        }
    }
    Ok(snapshots)
}

/// Moves a complete, synced data file into place as the snapshot at fsmstore index
/// `index`, writes its meta file, removes every older snapshot of the directory, and
/// returns the snapshot the directory now serves.
///
/// When the directory already holds a complete newer snapshot, `data` is removed
/// instead and the newer snapshot is returned: the one openraft was told about last
/// must stay. Every publish holds the directory's lock, so nothing removes a file it
/// reads, and a file without its partner is what a crash left (removed too).
fn publish<C>(
    snapshots: &Snapshots,
    index: Option<u64>,
    data: &Path,
    meta: &(Option<LogIdOf<C>>, StoredMembershipOf<C>),
) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    let _publishing = snapshots
        .publishing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let dir = &snapshots.dir;
    let index = index.unwrap_or(0);
    let existing = listing(dir)?;
    if let Some((&newer, _)) = existing
        .range(index + 1..)
        .rev()
        .find(|(_, files)| files.complete())
    {
        remove_if_present(data)?;
        return open_snapshot::<C>(dir, &snapshot_name(Some(newer)));
    }
    let name = snapshot_name(Some(index));
    fs::rename(data, data_path(dir, &name))?;
    // Two renames in one directory reach the disk in any order unless it is synced
    // between them: a meta file whose data is missing would be the newest snapshot.
    sync_dir(dir)?;
    let meta_tmp = dir.join(format!("{name}{SNAPSHOT_META_SUFFIX}{UNFINISHED_SUFFIX}"));
    let mut file = File::create(&meta_tmp)?;
    file.write_all(&encode(meta)?)?;
    file.sync_all()?;
    fs::rename(&meta_tmp, meta_path(dir, &name))?;
    sync_dir(dir)?;
    for &other in existing.keys().filter(|&&other| other != index) {
        let other = snapshot_name(Some(other));
        // The meta goes first: a reader that finds a meta file without its data takes
        // that for a crash's leftover, not for a snapshot being removed.
        remove_if_present(&meta_path(dir, &other))?;
        remove_if_present(&data_path(dir, &other))?;
    }
    open_snapshot::<C>(dir, &name)
}

fn open_snapshot<C>(dir: &Path, name: &str) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    Ok(SnapshotOf::<C, File> {
        meta: read_meta::<C>(dir, name)?,
        snapshot: File::open(data_path(dir, name))?,
    })
}

fn read_meta<C>(dir: &Path, name: &str) -> io::Result<SnapshotMetaOf<C>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    let bytes = fs::read(meta_path(dir, name))?;
    let (last_log_id, last_membership) = decode(&bytes, "snapshot meta file")?;
    Ok(SnapshotMetaOf::<C> {
        last_log_id,
        last_membership,
    })
}

/// How often [`current`] looks again when a snapshot it found was removed under it. Each
/// removal means a newer snapshot was published meanwhile, which the next look finds.
const CURRENT_ATTEMPTS: usize = 8;

/// The newest complete snapshot of `dir`, read without the directory's lock.
pub(crate) fn current<C>(dir: &Path) -> io::Result<Option<SnapshotOf<C, File>>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    let mut attempt = 1;
    loop {
        match try_current::<C>(dir) {
            Err(error) if error.kind() == io::ErrorKind::NotFound && attempt < CURRENT_ATTEMPTS => {
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// One look for the newest complete snapshot: `NotFound` when a publish removed it
/// between the listing and the reads.
fn try_current<C>(dir: &Path) -> io::Result<Option<SnapshotOf<C, File>>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    for (&index, _) in listing(dir)?.iter().rev().filter(|(_, files)| files.meta) {
        let name = snapshot_name(Some(index));
        // The data first: an open file stays readable when a publish removes it.
        let snapshot = match File::open(data_path(dir, &name)) {
            Ok(file) => file,
            // A publish removes the meta before the data, so a meta still there without
            // its data is a crash's leftover: the next older snapshot is the current one.
            Err(error)
                if error.kind() == io::ErrorKind::NotFound && meta_path(dir, &name).exists() =>
            {
                continue;
            }
            Err(error) => return Err(error),
        };
        let meta = read_meta::<C>(dir, &name)?;
        return Ok(Some(SnapshotOf::<C, File> { meta, snapshot }));
    }
    Ok(None)
}

/// Exports the store from one view into the snapshot directory, pins the applied index
/// with the checkpoint, then publishes the files and returns the snapshot the directory
/// serves (a newer one if it was installed meanwhile).
fn build<C>(engine: &dyn Engine, snapshots: &Snapshots) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    let tmp = unfinished_path(&snapshots.dir, "building");
    let built = export_and_publish::<C>(engine, snapshots, &tmp);
    if built.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    built
}

fn export_and_publish<C>(
    engine: &dyn Engine,
    snapshots: &Snapshots,
    tmp: &Path,
) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    {
        let mut out = BufWriter::new(File::create(tmp)?);
        engine.export(&mut out).map_err(io_error)?;
        let file = out.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
    }
    let (header, last_log_id, last_membership) =
        read_stream::<C>(BufReader::new(File::open(tmp)?))?;
    if let Some(index) = header.applied_index {
        // openraft purges the log behind a reported snapshot: the store must never come
        // back below it.
        engine.set_durable_applied_index(index).map_err(io_error)?;
    }
    publish::<C>(
        snapshots,
        header.applied_index,
        tmp,
        &(last_log_id, last_membership),
    )
}

/// Checks `snapshot` against `meta`, restores it unless the store already holds exactly
/// that state, and keeps it as the current snapshot of the directory (unless a newer one
/// is kept there: openraft installs only snapshots past its committed log id, so that
/// never happens under openraft).
fn install<C>(
    engine: &dyn Engine,
    snapshots: &Snapshots,
    counts: &InstallCounts,
    meta: &SnapshotMetaOf<C>,
    mut snapshot: File,
) -> io::Result<()>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    snapshot.seek(SeekFrom::Start(0))?;
    let (header, last, membership) = read_stream::<C>(BufReader::new(&mut snapshot))?;
    if last != meta.last_log_id || membership != meta.last_membership {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the snapshot stream's log id or membership differs from the snapshot meta",
        ));
    }
    let at_snapshot = engine.applied_index().map_err(io_error)? == header.applied_index
        && stored_state::<C>(engine)?.0 == meta.last_log_id;
    let dir = &snapshots.dir;
    let name = snapshot_name(header.applied_index);
    // The directory's own snapshot is what openraft installs at start-up into a store
    // behind it; a leader's arrives as a new file.
    let already_kept = data_path(dir, &name).exists()
        && read_meta::<C>(dir, &name).is_ok_and(|kept| &kept == meta);
    let outcome = match (at_snapshot, already_kept) {
        (true, _) => "skipped",
        (false, true) => "restored_at_start",
        (false, false) => "restored_received",
    };
    #[cfg(feature = "metrics")]
    metrics::counter!(INSTALLS_METRIC, "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
    // The snapshot is published before the restore makes the store cover it. openraft,
    // at start, purges the log up to the state machine's applied log id when the log
    // ends below it (a follower that was behind the snapshot), whatever snapshot the
    // directory holds: a process that died between a restore and its publish would come
    // back with its log purged past every snapshot it has. Published first, a death
    // before the restore leaves a snapshot ahead of the store, which the next start
    // restores.
    let stored = (meta.last_log_id.clone(), meta.last_membership.clone());
    if !already_kept {
        let tmp = unfinished_path(dir, "installing");
        let published = snapshot.try_clone().and_then(|copy| {
            copy_and_publish::<C>(snapshots, header.applied_index, &tmp, copy, &stored)
        });
        if published.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        published?;
    }
    if at_snapshot {
        counts.skipped.fetch_add(1, Ordering::Relaxed);
    } else {
        snapshot.seek(SeekFrom::Start(0))?;
        engine
            .restore(&mut BufReader::new(&mut snapshot))
            .map_err(io_error)?;
        counts.restores.fetch_add(1, Ordering::Relaxed);
        if already_kept {
            counts.own.fetch_add(1, Ordering::Relaxed);
        }
        let (last, membership) = stored_state::<C>(engine)?;
        if last != meta.last_log_id || membership != meta.last_membership {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the restored store's log id or membership differs from the snapshot meta",
            ));
        }
    }
    Ok(())
}

fn copy_and_publish<C>(
    snapshots: &Snapshots,
    index: Option<u64>,
    tmp: &Path,
    mut snapshot: File,
    meta: &(Option<LogIdOf<C>>, StoredMembershipOf<C>),
) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    snapshot.seek(SeekFrom::Start(0))?;
    let mut out = File::create(tmp)?;
    io::copy(&mut snapshot, &mut out)?;
    out.sync_all()?;
    publish::<C>(snapshots, index, tmp, meta)
}

impl<C> RaftSnapshotBuilder<C> for SnapshotBuilder<C>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    type SnapshotData = File;

    /// Exports the store from one view into the snapshot directory, pins the applied
    /// index with the checkpoint, then publishes the files and reports the snapshot the
    /// directory serves: this one, or a newer one installed while it was built.
    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, File>, io::Error> {
        let (engine, snapshots) = (self.engine.clone(), self.snapshots.clone());
        C::spawn_blocking(move || build::<C>(&*engine, &snapshots)).await?
    }
}

impl<C, A> RaftStateMachine<C> for StateMachine<C, A>
where
    C: RaftTypeConfig,
    C::Entry: EntryData<C::D>,
    A: Application<C::D, C::R>,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    type SnapshotData = File;
    type SnapshotBuilder = SnapshotBuilder<C>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        stored_state::<C>(&*self.engine)
    }

    /// Applies every entry of the stream as one engine commit, then sends the responses.
    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut pending = Pending::new(&*self.engine);
        let mut responses = Vec::new();
        let mut last = None;
        let mut membership = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let response = match entry.app_data() {
                Some(request) => {
                    let before = batch.len();
                    match self.app.apply(request, &pending, &mut batch) {
                        Ok(response) => {
                            pending.fold(batch.ops());
                            response
                        }
                        Err(ApplyError::Rejected(response)) => {
                            batch.truncate(before);
                            response
                        }
                        Err(ApplyError::Storage(error)) => return Err(io_error(error)),
                    }
                }
                None => {
                    if let Some(members) = entry.get_membership() {
                        membership =
                            Some(StoredMembershipOf::<C>::new(Some(log_id.clone()), members));
                    }
                    self.app.empty_response()
                }
            };
            if let Some(responder) = responder {
                responses.push((responder, response));
            }
            last = Some(log_id);
        }
        let Some(last) = last else {
            return Ok(());
        };
        let index = fsmstore_index(last.index());
        batch.put_meta(META_LAST_APPLIED, encode(&last)?);
        if let Some(membership) = membership {
            batch.put_meta(META_MEMBERSHIP, encode(&membership)?);
        }
        // A Sync commit waits for its fsync: it runs on the blocking pool, never on a
        // runtime worker. A NoSync commit is short and stays on the task.
        let outcome = if self.engine.sync_mode() == SyncMode::Sync {
            let engine = self.engine.clone();
            C::spawn_blocking(move || engine.apply(&batch, Some(index))).await?
        } else {
            self.engine.apply(&batch, Some(index))
        };
        match outcome.map_err(io_error)? {
            ApplyOutcome::Applied { .. } => {}
            ApplyOutcome::Skipped { applied } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "entries up to log index {} are already applied (fsmstore index {applied})",
                        last.index()
                    ),
                ));
            }
        }
        for (responder, response) in responses {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            engine: self.engine.clone(),
            snapshots: self.snapshots.clone(),
            _config: PhantomData,
        }
    }

    /// Checks the stream and that it holds `meta`'s log id and membership, restores it
    /// (unless the store already holds exactly that state), and keeps it as the current
    /// snapshot.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: File,
    ) -> Result<(), io::Error> {
        let (engine, snapshots, counts) = (
            self.engine.clone(),
            self.snapshots.clone(),
            self.counts.clone(),
        );
        let meta = meta.clone();
        C::spawn_blocking(move || install::<C>(&*engine, &snapshots, &counts, &meta, snapshot))
            .await?
    }

    /// The newest complete snapshot of the directory. A meta file whose data file is
    /// missing (a crash between the two) is passed over for the next older snapshot, and
    /// a snapshot removed while it is opened (a newer one was published) is looked for
    /// again.
    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<C, File>>, io::Error> {
        current::<C>(&self.snapshots.dir)
    }
}
