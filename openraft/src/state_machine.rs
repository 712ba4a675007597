//! `RaftStateMachine` over an fsmstore engine, with snapshots as fsmstore streams.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fsmstore::{ApplyOutcome, Backend, Config, Engine, SnapshotHeader, SnapshotReader, WriteBatch};
use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::{OptionalSend, RaftSnapshotBuilder, RaftTypeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pending::Pending;
use crate::{
    Application, EntryData, META_LAST_APPLIED, META_MEMBERSHIP, decode, encode, fsmstore_index,
    io_error,
};

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
/// the 20-digit fsmstore index) and `<index>.meta`; only the newest is kept.
///
/// Snapshot builds and installs (whole-store exports and restores) run on the async
/// runtime's blocking pool; applies and reads call the engine on openraft's state-machine
/// task.
pub struct StateMachine<C, A> {
    engine: Arc<dyn Engine>,
    app: Arc<A>,
    snapshot_dir: PathBuf,
    restores: Arc<AtomicU64>,
    _config: PhantomData<fn() -> C>,
}

/// Builds a snapshot of a [`StateMachine`]: see [`RaftSnapshotBuilder`].
pub struct SnapshotBuilder<C> {
    engine: Arc<dyn Engine>,
    snapshot_dir: PathBuf,
    _config: PhantomData<fn() -> C>,
}

impl<C, A> StateMachine<C, A>
where
    C: RaftTypeConfig,
{
    /// A state machine on `engine`, keeping its snapshots in `snapshot_dir` (created if
    /// missing). The directory must not be inside the store's directory: a restore
    /// removes everything there that is not the live store.
    pub fn new(
        engine: impl Into<Arc<dyn Engine>>,
        snapshot_dir: impl Into<PathBuf>,
        app: A,
    ) -> io::Result<Self> {
        let snapshot_dir = snapshot_dir.into();
        fs::create_dir_all(&snapshot_dir)?;
        Ok(Self {
            engine: engine.into(),
            app: Arc::new(app),
            snapshot_dir,
            restores: Arc::new(AtomicU64::new(0)),
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
        if snapshot_dir.starts_with(store_dir.as_ref()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the snapshot directory must not be inside the store directory",
            ));
        }
        let engine = fsmstore::open(backend, store_dir, config).map_err(io_error)?;
        Self::new(engine, snapshot_dir, app)
    }

    /// The store, for reads outside raft's apply path.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The application.
    pub fn application(&self) -> &A {
        &self.app
    }

    /// How many snapshots this state machine has restored into its store since it was
    /// made (installs that found the store already at the snapshot are not counted).
    pub fn restores(&self) -> u64 {
        self.restores.load(Ordering::Relaxed)
    }

    /// A counter shared with [`restores`](Self::restores), readable after the state
    /// machine has moved into a `Raft`.
    pub fn restore_counter(&self) -> Arc<AtomicU64> {
        self.restores.clone()
    }
}

/// The stored last applied log id and membership.
fn stored_state<C>(engine: &dyn Engine) -> io::Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>)>
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    fsmstore::backend::sync_dir(dir).map_err(io_error)
}

/// Moves a complete, synced data file into place as the snapshot `name`, writes its meta
/// file, and removes every other snapshot of the directory.
fn publish<C>(
    dir: &Path,
    name: &str,
    data: &Path,
    meta: &(Option<LogIdOf<C>>, StoredMembershipOf<C>),
) -> io::Result<()>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize,
    StoredMembershipOf<C>: Serialize,
{
    let data_path = dir.join(format!("{name}{SNAPSHOT_DATA_SUFFIX}"));
    if data != data_path {
        fs::rename(data, &data_path)?;
    }
    let meta_tmp = dir.join(format!("{name}{SNAPSHOT_META_SUFFIX}.tmp"));
    let mut file = File::create(&meta_tmp)?;
    file.write_all(&encode(meta)?)?;
    file.sync_all()?;
    fs::rename(&meta_tmp, dir.join(format!("{name}{SNAPSHOT_META_SUFFIX}")))?;
    sync_dir(dir)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let stem = file_name
            .strip_suffix(SNAPSHOT_DATA_SUFFIX)
            .or_else(|| file_name.strip_suffix(SNAPSHOT_META_SUFFIX));
        if stem.is_some_and(|stem| stem != name) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The newest snapshot's name in `dir` (the one with the greatest index).
fn newest(dir: &Path) -> io::Result<Option<String>> {
    let mut newest: Option<String> = None;
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let file_name = file_name.to_string_lossy();
        if let Some(stem) = file_name.strip_suffix(SNAPSHOT_META_SUFFIX)
            && stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && newest.as_deref().is_none_or(|n| stem > n)
        {
            newest = Some(stem.to_string());
        }
    }
    Ok(newest)
}

fn read_meta<C>(dir: &Path, name: &str) -> io::Result<SnapshotMetaOf<C>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: DeserializeOwned,
    StoredMembershipOf<C>: DeserializeOwned,
{
    let bytes = fs::read(dir.join(format!("{name}{SNAPSHOT_META_SUFFIX}")))?;
    let (last_log_id, last_membership) = decode(&bytes, "snapshot meta file")?;
    Ok(SnapshotMetaOf::<C> {
        last_log_id,
        last_membership,
    })
}

/// Exports the store from one view into `dir`, pins the applied index with the
/// checkpoint, then publishes the files and returns the snapshot.
fn build<C>(engine: &dyn Engine, dir: &Path) -> io::Result<SnapshotOf<C, File>>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    let tmp = dir.join("building.snap.tmp");
    {
        let mut out = BufWriter::new(File::create(&tmp)?);
        engine.export(&mut out).map_err(io_error)?;
        let file = out.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
    }
    let (header, last_log_id, last_membership) =
        read_stream::<C>(BufReader::new(File::open(&tmp)?))?;
    if let Some(index) = header.applied_index {
        // openraft purges the log behind a reported snapshot: the store must never come
        // back below it.
        engine.set_durable_applied_index(index).map_err(io_error)?;
    }
    let name = snapshot_name(header.applied_index);
    let meta = (last_log_id, last_membership);
    publish::<C>(dir, &name, &tmp, &meta)?;
    let (last_log_id, last_membership) = meta;
    Ok(SnapshotOf::<C, File> {
        meta: SnapshotMetaOf::<C> {
            last_log_id,
            last_membership,
        },
        snapshot: File::open(dir.join(format!("{name}{SNAPSHOT_DATA_SUFFIX}")))?,
    })
}

/// Checks `snapshot` against `meta`, restores it unless the store already holds exactly
/// that state, and keeps it as the current snapshot of `dir`.
fn install<C>(
    engine: &dyn Engine,
    dir: &Path,
    restores: &AtomicU64,
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
    if !at_snapshot {
        snapshot.seek(SeekFrom::Start(0))?;
        engine
            .restore(&mut BufReader::new(&mut snapshot))
            .map_err(io_error)?;
        restores.fetch_add(1, Ordering::Relaxed);
        let (last, membership) = stored_state::<C>(engine)?;
        if last != meta.last_log_id || membership != meta.last_membership {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the restored store's log id or membership differs from the snapshot meta",
            ));
        }
    }
    let name = snapshot_name(header.applied_index);
    let stored = (meta.last_log_id.clone(), meta.last_membership.clone());
    let already_kept = dir.join(format!("{name}{SNAPSHOT_DATA_SUFFIX}")).exists()
        && read_meta::<C>(dir, &name).is_ok_and(|kept| &kept == meta);
    if !already_kept {
        let tmp = dir.join("installing.snap.tmp");
        snapshot.seek(SeekFrom::Start(0))?;
        let mut out = File::create(&tmp)?;
        io::copy(&mut snapshot, &mut out)?;
        out.sync_all()?;
        publish::<C>(dir, &name, &tmp, &stored)?;
    }
    Ok(())
}

impl<C> RaftSnapshotBuilder<C> for SnapshotBuilder<C>
where
    C: RaftTypeConfig,
    LogIdOf<C>: Serialize + DeserializeOwned,
    StoredMembershipOf<C>: Serialize + DeserializeOwned,
{
    type SnapshotData = File;

    /// Exports the store from one view into the snapshot directory, pins the applied
    /// index with the checkpoint, then publishes the files and reports the snapshot.
    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, File>, io::Error> {
        let (engine, dir) = (self.engine.clone(), self.snapshot_dir.clone());
        C::spawn_blocking(move || build::<C>(&*engine, &dir)).await?
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
                    let response = self
                        .app
                        .apply(request, &pending, &mut batch)
                        .map_err(io_error)?;
                    pending.fold(batch.ops());
                    response
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
        match self.engine.apply(&batch, Some(index)).map_err(io_error)? {
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
            snapshot_dir: self.snapshot_dir.clone(),
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
        let (engine, dir, restores) = (
            self.engine.clone(),
            self.snapshot_dir.clone(),
            self.restores.clone(),
        );
        let meta = meta.clone();
        C::spawn_blocking(move || install::<C>(&*engine, &dir, &restores, &meta, snapshot)).await?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<C, File>>, io::Error> {
        let dir = &self.snapshot_dir;
        let Some(name) = newest(dir)? else {
            return Ok(None);
        };
        let meta = read_meta::<C>(dir, &name)?;
        let snapshot = File::open(dir.join(format!("{name}{SNAPSHOT_DATA_SUFFIX}")))?;
        Ok(Some(SnapshotOf::<C, File> { meta, snapshot }))
    }
}
