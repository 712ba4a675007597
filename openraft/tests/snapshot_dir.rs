//! The snapshot directory while openraft builds on a task of its own: a build that ends
//! after a newer snapshot was installed keeps the newer one, builds racing installs and
//! reads never fail and leave the newest snapshot served, and a meta file whose data a
//! crash lost is passed over.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use common::runtime;
use common::{Entry, Kv, Sm, TypeConfig, apply, log_id, normal, open_node, set};
use fsmstore::{
    ApplyOutcome, Backend, Bytes, Config, DeepCheck, Engine, RangeQuery, ScanVisitor,
    SnapshotHeader, SyncMode, View, WriteBatch,
};
use fsmstore_openraft::{SNAPSHOT_DATA_SUFFIX, SNAPSHOT_META_SUFFIX, StateMachine, fsmstore_index};
use openraft::alias::SnapshotOf;
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::{Membership, RaftSnapshotBuilder};
use rstest::rstest;

/// The entries of log indexes `from..=to`: a membership entry at 0, sets after it.
fn entries(from: u64, to: u64) -> Vec<Entry> {
    (from..=to)
        .map(|index| match index {
            0 => Entry::new_membership(
                log_id(1, 0),
                Membership::new_with_defaults(vec![[1u64].into()], []),
            ),
            _ => normal(index, set(&format!("k/{index:04}"), &index.to_string())),
        })
        .collect()
}

/// A state machine on the memory engine, with its snapshots under `root`.
fn memory_sm(root: &Path) -> Sm {
    StateMachine::open(
        Backend::Memory,
        root.join("sm"),
        root.join("snapshots"),
        &Config::new(SyncMode::NoSync),
        Kv,
    )
    .expect("open state machine")
}

/// A leader's snapshots at log indexes `every, 2 * every, ..., count * every`. Each file
/// stays open, so each stays readable after the next build removes it.
fn leader_snapshots(root: &Path, every: u64, count: u64) -> Vec<SnapshotOf<TypeConfig, File>> {
    let mut leader = memory_sm(root);
    runtime().block_on(async {
        let mut snapshots = Vec::new();
        let mut next = 0;
        for step in 1..=count {
            apply(&mut leader, entries(next, step * every)).await;
            next = step * every + 1;
            let mut builder = leader.get_snapshot_builder().await;
            snapshots.push(builder.build_snapshot().await.expect("leader's build"));
        }
        snapshots
    })
}

fn snapshot_file(dir: &Path, log_index: u64, suffix: &str) -> std::path::PathBuf {
    dir.join(format!("{:020}{suffix}", fsmstore_index(log_index)))
}

/// The snapshot files in `dir`, sorted.
fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read snapshot dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
        .collect();
    names.sort();
    names
}

/// What [`snapshot_files`] lists when the directory holds the snapshot at `log_index`
/// and nothing else.
fn just_the_snapshot_at(log_index: u64) -> Vec<String> {
    vec![
        format!("{:020}{SNAPSHOT_META_SUFFIX}", fsmstore_index(log_index)),
        format!("{:020}{SNAPSHOT_DATA_SUFFIX}", fsmstore_index(log_index)),
    ]
}

/// An engine whose next export, once armed, reports that it exported and then waits to
/// be released before it returns: the build that called it has its image but has not
/// published it yet. With `die_after_restore`, a restore restores and then fails, as if
/// the process died the moment the store held the snapshot's state.
struct PausingExport {
    inner: Arc<dyn Engine>,
    pause: Mutex<Option<(tokio::sync::oneshot::Sender<()>, mpsc::Receiver<()>)>>,
    die_after_restore: AtomicBool,
}

impl PausingExport {
    /// Arms the pause: returns what says the export is done and what releases it.
    fn arm(&self) -> (tokio::sync::oneshot::Receiver<()>, mpsc::Sender<()>) {
        let (exported_tx, exported_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = mpsc::channel();
        *self.pause.lock().expect("pause") = Some((exported_tx, release_rx));
        (exported_rx, release_tx)
    }
}

impl Engine for PausingExport {
    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }
    fn sync_mode(&self) -> SyncMode {
        self.inner.sync_mode()
    }
    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> fsmstore::Result<ApplyOutcome> {
        self.inner.apply(batch, index)
    }
    fn write(&self, batch: &WriteBatch) -> fsmstore::Result<()> {
        self.inner.write(batch)
    }
    fn applied_index(&self) -> fsmstore::Result<Option<u64>> {
        self.inner.applied_index()
    }
    fn set_durable_applied_index(&self, index: u64) -> fsmstore::Result<u64> {
        self.inner.set_durable_applied_index(index)
    }
    fn sync(&self) -> fsmstore::Result<()> {
        self.inner.sync()
    }
    fn get(&self, key: &[u8]) -> fsmstore::Result<Option<Bytes>> {
        self.inner.get(key)
    }
    fn get_meta(&self, name: &[u8]) -> fsmstore::Result<Option<Bytes>> {
        self.inner.get_meta(name)
    }
    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> fsmstore::Result<()> {
        self.inner.scan(query, visit)
    }
    fn view(
        &self,
        read: &mut dyn FnMut(&dyn View) -> fsmstore::Result<()>,
    ) -> fsmstore::Result<()> {
        self.inner.view(read)
    }
    fn export(&self, out: &mut dyn Write) -> fsmstore::Result<SnapshotHeader> {
        let header = self.inner.export(out)?;
        let pause = self.pause.lock().expect("pause").take();
        if let Some((exported, release)) = pause {
            let _ = exported.send(());
            let _ = release.recv();
        }
        Ok(header)
    }
    fn restore(&self, input: &mut dyn Read) -> fsmstore::Result<SnapshotHeader> {
        let header = self.inner.restore(input)?;
        if self.die_after_restore.load(Ordering::SeqCst) {
            return Err(fsmstore::Error::Io(std::io::Error::other(
                "the process died after the restore",
            )));
        }
        Ok(header)
    }
    fn verify_deep(&self) -> fsmstore::Result<DeepCheck> {
        self.inner.verify_deep()
    }
    fn close(self: Box<Self>) -> fsmstore::Result<()> {
        Ok(())
    }
}

#[rstest]
fn a_build_that_ends_after_a_newer_install_keeps_the_installed_snapshot(
    #[values(Backend::Memory, Backend::Redb, Backend::Fjall, Backend::Heed)] backend: Backend,
) {
    let (leader_dir, dir) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    // The leader's snapshot at log index 8; the follower builds at 4.
    let installed = leader_snapshots(leader_dir.path(), 8, 1)
        .pop()
        .expect("a snapshot");
    let engine: Arc<dyn Engine> = fsmstore::open(
        backend,
        dir.path().join("sm"),
        &Config::new(SyncMode::NoSync),
    )
    .expect("open")
    .into();
    let pausing = Arc::new(PausingExport {
        inner: engine,
        pause: Mutex::new(None),
        die_after_restore: AtomicBool::new(false),
    });
    let snapshot_dir = dir.path().join("snapshots");
    let mut sm: Sm =
        StateMachine::new(pausing.clone() as Arc<dyn Engine>, snapshot_dir.clone(), Kv)
            .expect("state machine");
    runtime().block_on(async {
        apply(&mut sm, entries(0, 4)).await;
        let mut builder = sm.get_snapshot_builder().await;
        let (exported, release) = pausing.arm();
        let build = tokio::spawn(async move { builder.build_snapshot().await });
        exported
            .await
            .expect("the build exported the store at log index 4");

        sm.install_snapshot(&installed.meta, installed.snapshot)
            .await
            .expect("install");
        assert_eq!(sm.restores(), 1);
        release.send(()).expect("release the build");
        let built = build.await.expect("build task").expect("build");

        assert!(
            snapshot_file(&snapshot_dir, 8, SNAPSHOT_DATA_SUFFIX).is_file()
                && snapshot_file(&snapshot_dir, 8, SNAPSHOT_META_SUFFIX).is_file(),
            "the installed snapshot's files are kept: {:?}",
            snapshot_files(&snapshot_dir)
        );
        let current = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, installed.meta);
        fsmstore::verify_snapshot(current.snapshot).expect("the current snapshot reads back");
        assert_eq!(
            built.meta, installed.meta,
            "the build reports the newer snapshot it found"
        );
        assert_eq!(
            sm.engine().applied_index().expect("index"),
            Some(fsmstore_index(8)),
            "the older build's pin did not move the store"
        );
    });
}

#[rstest]
fn builds_racing_installs_and_reads_never_fail_and_leave_the_newest_snapshot_served(
    #[values(Backend::Memory, Backend::Redb, Backend::Fjall, Backend::Heed)] backend: Backend,
) {
    const BUILDERS: usize = 3;
    const READS_PER_INSTALL: usize = 20;
    let (leader_dir, dir) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let mut installs = leader_snapshots(leader_dir.path(), 2, 12).into_iter();
    let (_log, mut sm) = open_node(backend, dir.path(), SyncMode::NoSync);
    let snapshot_dir = dir.path().join("snapshots");
    runtime().block_on(async {
        let first = installs.next().expect("a snapshot");
        sm.install_snapshot(&first.meta, first.snapshot)
            .await
            .expect("first install");

        let stop = Arc::new(AtomicBool::new(false));
        let mut builds = Vec::new();
        for _ in 0..BUILDERS {
            let mut builder = sm.get_snapshot_builder().await;
            let stop = stop.clone();
            builds.push(tokio::spawn(async move {
                // At least one build each, however quickly the installs go.
                loop {
                    builder.build_snapshot().await?;
                    if stop.load(Ordering::Relaxed) {
                        return Ok::<(), std::io::Error>(());
                    }
                }
            }));
        }

        let mut newest = first.meta;
        for snapshot in installs {
            sm.install_snapshot(&snapshot.meta, snapshot.snapshot)
                .await
                .expect("install while building");
            newest = snapshot.meta;
            for read in 0..READS_PER_INSTALL {
                let current = sm
                    .get_current_snapshot()
                    .await
                    .unwrap_or_else(|error| panic!("read {read} while building: {error}"))
                    .expect("a snapshot");
                assert_eq!(
                    current.meta.last_log_id, newest.last_log_id,
                    "read {read}: the newest snapshot is served"
                );
                tokio::task::yield_now().await;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for build in builds {
            build
                .await
                .expect("build task")
                .expect("every build succeeds");
        }

        let index = newest.last_log_id.as_ref().expect("log id").index;
        assert_eq!(
            snapshot_files(&snapshot_dir),
            just_the_snapshot_at(index),
            "only the newest snapshot is left, and nothing unfinished"
        );
        let current = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, newest);
        fsmstore::verify_snapshot(current.snapshot).expect("the current snapshot reads back");

        // The state machine goes on: it applies and snapshots past the last install.
        apply(&mut sm, entries(index + 1, index + 3)).await;
        let mut builder = sm.get_snapshot_builder().await;
        let built = builder
            .build_snapshot()
            .await
            .expect("build after the race");
        assert_eq!(built.meta.last_log_id, Some(log_id(1, index + 3)));
        let current = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, built.meta);
    });
}

#[test]
fn a_meta_file_without_its_data_is_passed_over_for_the_older_complete_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot_dir = dir.path().join("snapshots");
    let mut sm = memory_sm(dir.path());
    runtime().block_on(async {
        apply(&mut sm, entries(0, 3)).await;
        let mut builder = sm.get_snapshot_builder().await;
        let built = builder.build_snapshot().await.expect("build");

        // What a crash between the two renames of a newer publish may leave: its meta
        // file without its data file.
        let meta = fs::read(snapshot_file(&snapshot_dir, 3, SNAPSHOT_META_SUFFIX)).expect("meta");
        fs::write(snapshot_file(&snapshot_dir, 9, SNAPSHOT_META_SUFFIX), &meta).expect("write");
        let current = sm
            .get_current_snapshot()
            .await
            .expect("a lone meta file is not an error")
            .expect("the older snapshot");
        assert_eq!(current.meta, built.meta);

        // The next publish removes the leftover.
        apply(&mut sm, entries(4, 5)).await;
        let built = builder.build_snapshot().await.expect("build");
        assert_eq!(built.meta.last_log_id, Some(log_id(1, 5)));
        assert_eq!(snapshot_files(&snapshot_dir), just_the_snapshot_at(5));
    });

    // With no complete snapshot at all, there is none.
    let lonely = tempfile::tempdir().expect("tempdir");
    let mut sm = memory_sm(lonely.path());
    fs::write(
        snapshot_file(&lonely.path().join("snapshots"), 3, SNAPSHOT_META_SUFFIX),
        b"{}",
    )
    .expect("write");
    let current = runtime()
        .block_on(sm.get_current_snapshot())
        .expect("a lone meta file is not an error");
    assert!(current.is_none());
}

#[test]
fn a_reopened_state_machine_removes_what_an_unfinished_build_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot_dir = dir.path().join("snapshots");
    drop(memory_sm(dir.path()));
    let leftovers = [
        format!("building-7{SNAPSHOT_DATA_SUFFIX}.tmp"),
        format!("{:020}{SNAPSHOT_META_SUFFIX}.tmp", 4),
    ];
    for name in &leftovers {
        fs::write(snapshot_dir.join(name), b"half").expect("leftover");
    }
    drop(memory_sm(dir.path()));
    assert!(snapshot_files(&snapshot_dir).is_empty());
}

/// A state machine made on a store the application opened itself (to read it too) makes
/// the same check as `StateMachine::open`: a snapshot directory inside the store's
/// directory (or the groups store's, for a group) is refused, and nothing is created.
#[test]
fn a_state_machine_on_a_store_the_application_holds_refuses_a_snapshot_directory_inside_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let store_dir = work.path().join("store");
    let store: Arc<dyn Engine> =
        fsmstore::open(Backend::Redb, &store_dir, &Config::new(SyncMode::NoSync))
            .expect("open")
            .into();
    assert_eq!(store.dir(), Some(store_dir.as_path()));
    for backend in common::engines() {
        let dir = work.path().join(format!("dir-{backend}"));
        let engine = fsmstore::open(backend, &dir, &Config::new(SyncMode::NoSync)).expect("open");
        assert_eq!(engine.dir(), Some(dir.as_path()), "{backend}");
    }
    for inside in [store_dir.join("snapshots"), store_dir.clone()] {
        let error = StateMachine::<TypeConfig, Kv>::new(store.clone(), &inside, Kv)
            .err()
            .expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    }
    assert!(!store_dir.join("snapshots").exists());
    let sm = StateMachine::<TypeConfig, Kv>::new(store.clone(), work.path().join("snapshots"), Kv)
        .expect("a snapshot directory beside the store");
    drop(sm);

    let groups_dir = work.path().join("groups");
    let groups = fsmstore::open_groups(Backend::Fjall, &groups_dir, &Config::new(SyncMode::NoSync))
        .expect("open groups");
    groups.create_group(9).expect("create");
    let group: Arc<dyn Engine> = groups.open_group(9).expect("open group").into();
    let error = StateMachine::<TypeConfig, Kv>::new(group.clone(), groups_dir.join("9"), Kv)
        .err()
        .expect("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    StateMachine::<TypeConfig, Kv>::new(group, work.path().join("snapshots-9"), Kv)
        .expect("a snapshot directory beside the groups store");
}

/// openraft, at start, purges the log up to the state machine's applied log id when the
/// log ends below it (a follower that was behind the snapshot it installed), whatever
/// snapshot the directory holds. So an install publishes the snapshot before the restore
/// makes the store cover it: a process that dies right after the restore finds the
/// snapshot in its directory, and its log is never purged past every snapshot it has.
#[test]
fn an_install_that_dies_after_its_restore_has_already_published_the_snapshot() {
    let root = tempfile::tempdir().expect("tempdir");
    for side in ["leader", "follower"] {
        fs::create_dir(root.path().join(side)).expect("dir");
    }
    let installed = leader_snapshots(&root.path().join("leader"), 10, 1)
        .pop()
        .expect("a snapshot");
    let follower = root.path().join("follower");
    let inner: Arc<dyn Engine> = fsmstore::open(
        Backend::Memory,
        follower.join("sm"),
        &Config::new(SyncMode::NoSync),
    )
    .expect("open")
    .into();
    let engine = Arc::new(PausingExport {
        inner: inner.clone(),
        pause: Mutex::new(None),
        die_after_restore: AtomicBool::new(true),
    });
    let mut sm: Sm =
        StateMachine::new(engine as Arc<dyn Engine>, follower.join("snapshots"), Kv).expect("sm");
    let died = runtime().block_on(sm.install_snapshot(&installed.meta, installed.snapshot));
    assert!(died.is_err(), "the restore was to fail");
    assert_eq!(
        inner.applied_index().expect("index"),
        Some(fsmstore_index(10)),
        "the store holds the snapshot's state"
    );
    assert_eq!(
        snapshot_files(&follower.join("snapshots")),
        just_the_snapshot_at(10),
        "the store covers a snapshot its directory does not hold"
    );
}
