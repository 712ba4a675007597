//! A node of many groups that writes until it dies, and the checks after its restart.
//!
//! The writer runs in a child process (a test of the test binary, picked by an
//! environment variable): node 1 leads [`GROUPS`] one-node groups, [`WRITERS`] client
//! tasks per group each write their own keys in order, and every acknowledged write is
//! printed as `ack <group> <writer> <i> <log index>`. The parent ends it (a kill, a power
//! cut), restarts the node from what its directories kept and checks every group.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fsmstore::backend::decode_applied_index;
use fsmstore::{APPLIED_INDEX_KEY, Backend, Bytes, Engine, RangeQuery, SyncMode};
use fsmstore_openraft::{LogStore, META_LAST_APPLIED, fsmstore_index};
use openraft::alias::LogIdOf;
use openraft::storage::RaftLogStorage;

use super::groups::{GroupStores, start_groups, start_groups_leader, stop_groups};
use super::router::Router;
use super::{Log, Request, TypeConfig, raft_config};

/// The groups of the writer's node.
pub const GROUPS: u64 = 4;
/// The client tasks writing into each group at the same time.
pub const WRITERS: u64 = 4;
/// After how many writes the first writer of each group snapshots its group.
const SNAPSHOT_AFTER: u64 = 3;
/// Where a writer stops if nothing ended the child before.
const MAX_WRITES: u64 = 100_000;
/// The longest wait for raft (a leader, a re-applied log).
const RAFT_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// The key writer `writer` of group `group` writes `i`-th.
pub fn key(group: u64, writer: u64, i: u64) -> String {
    format!("g{group}/w{writer}/{i:06}")
}

/// The value written with [`key`]`(group, writer, i)`.
pub fn value(group: u64, writer: u64, i: u64) -> String {
    format!("{group}.{writer}.{i}")
}

/// The group, writer and number a key of [`key`]'s shape stands for.
fn parse_key(key: &str) -> Option<(u64, u64, u64)> {
    let mut parts = key.split('/');
    let group = parts.next()?.strip_prefix('g')?.parse().ok()?;
    let writer = parts.next()?.strip_prefix('w')?.parse().ok()?;
    let i = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((group, writer, i))
}

fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // The parent reads until it kills this process; a line it no longer reads is moot.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// What the parent hands the child: `<engine>:<sync mode>:<root>`.
pub fn spec(backend: Backend, sync_mode: SyncMode, root: &Path) -> String {
    format!(
        "{}:{}:{}",
        backend.name(),
        sync_mode.as_str(),
        root.display()
    )
}

/// The child's body, for the node [`spec`] describes: node 1 with [`GROUPS`] one-node
/// groups, and [`WRITERS`] writers per group, each printing its acknowledged writes. A
/// failed write is printed as an `error` line and ends its writer: after a power cut
/// every write fails, and the parent ends this process.
pub fn run_writers(spec: &str) {
    let mut parts = spec.splitn(3, ':');
    let backend: Backend = parts.next().expect("engine").parse().expect("engine");
    let sync_mode: SyncMode = parts.next().expect("sync mode").parse().expect("sync mode");
    let root = Path::new(parts.next().expect("root"));
    super::runtime().block_on(async {
        let router = Router::default();
        let node = start_groups_leader(backend, root, sync_mode, 0..GROUPS, &router)
            .await
            .expect("start the node");
        let mut writers = Vec::new();
        for (&group, member) in &node.groups {
            for writer in 0..WRITERS {
                let raft = member.raft.clone();
                writers.push(tokio::spawn(async move {
                    for i in 0..MAX_WRITES {
                        let request = Request::Set {
                            key: key(group, writer, i),
                            value: value(group, writer, i),
                        };
                        match raft.client_write(request).await {
                            Ok(written) => {
                                say(&format!(
                                    "ack {group} {writer} {i} {}",
                                    written.log_id.index
                                ));
                            }
                            Err(error) => {
                                say(&format!("error {group} {writer} {i}: {error}"));
                                return;
                            }
                        }
                        if writer == 0 && i + 1 == SNAPSHOT_AFTER {
                            let _ = raft.trigger().snapshot().await;
                        }
                    }
                }));
            }
        }
        for writer in writers {
            writer.await.expect("writer task");
        }
        stop_groups(node, &router).await.expect("stop the node");
    });
}

/// One acknowledged write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The group written.
    pub group: u64,
    /// The writer of the group.
    pub writer: u64,
    /// The writer's write number.
    pub i: u64,
    /// The log index raft acknowledged it at.
    pub index: u64,
}

impl Ack {
    fn parse(line: &str) -> Option<Ack> {
        let mut fields = line.strip_prefix("ack ")?.split(' ');
        let mut next = || fields.next()?.parse::<u64>().ok();
        Some(Ack {
            group: next()?,
            writer: next()?,
            i: next()?,
            index: next()?,
        })
    }
}

/// A writer child process and what it printed so far. Dropping it kills the child, so
/// a failing test leaves no process behind.
pub struct WriterChild {
    child: Child,
    lines: mpsc::Receiver<String>,
    acks: Vec<Ack>,
}

impl WriterChild {
    /// Runs test `test` of this test binary in a child process, with `env` set to `spec`.
    pub fn spawn(test: &str, env: &str, spec: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(env, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("the writer's stdout");
        let (lines_tx, lines) = mpsc::channel();
        // Reads on a thread of its own, so that every wait on the child has a deadline.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            acks: Vec::new(),
        }
    }

    /// Waits until the child has acknowledged at least `count` writes, at most
    /// `timeout`. A failed write, the child's end or the timeout is an error that says
    /// which.
    pub fn wait_for_acks(&mut self, count: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while self.acks.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("error") => {
                    return Err(format!(
                        "after {} acknowledged writes: {line}",
                        self.acks.len()
                    ));
                }
                Ok(line) => self.acks.extend(Ack::parse(&line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the writer stalled after {} acknowledged writes",
                        self.acks.len()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the writer ended after {} acknowledged writes",
                        self.acks.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Kills the child (SIGKILL to its pid), reaps it, and returns every write it
    /// acknowledged, those printed after the last wait included.
    pub fn kill(mut self) -> Vec<Ack> {
        self.end();
        // The child is gone, so the pipe ends: this takes what it had printed.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.acks.extend(Ack::parse(&line)),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the writer's output did not end after it was killed")
                }
            }
        }
        std::mem::take(&mut self.acks)
    }

    fn end(&mut self) {
        // `Child::kill` sends SIGKILL to this child's pid only; an exited child is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WriterChild {
    fn drop(&mut self) {
        self.end();
    }
}

/// The highest acknowledged log index of each group (groups without one are absent).
fn last_acked(acks: &[Ack]) -> BTreeMap<u64, u64> {
    let mut last = BTreeMap::new();
    for ack in acks {
        let index = last.entry(ack.group).or_insert(ack.index);
        *index = (*index).max(ack.index);
    }
    last
}

/// What a group's state machine holds at one point in time (a running raft may apply
/// between two reads).
struct State {
    data: Vec<(Bytes, Bytes)>,
    last_applied: Option<Bytes>,
    applied_index: Option<u64>,
}

impl State {
    fn read(engine: &dyn Engine) -> State {
        let mut state = None;
        engine
            .view(&mut |view| {
                state = Some(State {
                    data: view.range(&RangeQuery::all())?,
                    last_applied: view.get_meta(META_LAST_APPLIED)?,
                    applied_index: decode_applied_index(
                        view.get_meta(APPLIED_INDEX_KEY)?.as_deref(),
                    ),
                });
                Ok(())
            })
            .expect("read the state machine");
        state.expect("the view ran")
    }

    /// The stored last applied log id matches the applied index.
    fn assert_consistent(&self, what: &str) {
        let last_applied: Option<LogIdOf<TypeConfig>> = self
            .last_applied
            .as_ref()
            .map(|bytes| serde_json::from_slice(bytes).expect("last applied log id"));
        assert_eq!(
            self.applied_index,
            last_applied.map(|log_id| fsmstore_index(log_id.index)),
            "{what}: the stored last log id and the applied index disagree"
        );
    }
}

/// Checks the node under `root` after its writer child died (killed, or its disk lost
/// power), before and after a restart from the directories:
///
/// - as left: each group's state machine has a stored last log id that matches its
///   applied index, and each group's log holds its acknowledged entries;
/// - restarted: once each group has re-applied its log up to its last acknowledged
///   index, it holds every write acknowledged in it, each writer's writes in order
///   without a hole, no key of another group, a last log id that matches its applied
///   index, and no snapshot was restored.
pub fn check_after_restart(backend: Backend, root: &Path, sync_mode: SyncMode, acks: &[Ack]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let last_acked = last_acked(acks);
    let snapshots = (0..GROUPS)
        .filter(|group| {
            std::fs::read_dir(root.join("snapshots").join(group.to_string()))
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| entry.file_name().to_string_lossy().ends_with(".snap"))
        })
        .count();
    eprintln!(
        "{} writes acknowledged in {} of {GROUPS} groups; {snapshots} groups have a snapshot",
        acks.len(),
        last_acked.len()
    );

    // The stores as the writer left them.
    let stores = GroupStores::open(backend, root, sync_mode).expect("open the groups stores");
    for group in 0..GROUPS {
        let sm = stores
            .sm
            .open_group(group)
            .expect("the group's state machine");
        State::read(&*sm).assert_consistent(&format!("group {group} as left"));
        let mut log: Log = LogStore::new(Arc::<dyn Engine>::from(
            stores.log.open_group(group).expect("the group's log"),
        ))
        .expect("log store");
        let state = runtime.block_on(log.get_log_state()).expect("log state");
        let last_log = state.last_log_id.map(|log_id| log_id.index);
        if let Some(&acked) = last_acked.get(&group) {
            assert!(
                last_log >= Some(acked),
                "group {group}: acknowledged entries are in the log: {last_log:?} < {acked}"
            );
        }
    }
    stores.close().expect("close the groups stores");

    runtime.block_on(async {
        let router = Router::default();
        let node = start_groups(
            1,
            backend,
            root,
            sync_mode,
            0..GROUPS,
            &raft_config(),
            &router,
        )
        .await
        .expect("restart the node");
        for (&group, &index) in &last_acked {
            node.groups[&group]
                .raft
                .wait(RAFT_TIMEOUT)
                .applied_index_at_least(Some(index), "re-applied")
                .await
                .unwrap_or_else(|error| panic!("group {group} re-applies its log: {error}"));
        }
        for (&group, member) in &node.groups {
            check_group(group, &*member.engine, acks);
            assert_eq!(
                member.restores.load(Ordering::Relaxed),
                0,
                "group {group}: the store covers its snapshot"
            );
        }
        stop_groups(node, &router).await.expect("stop the node");
    });
}

/// Checks one restarted group's state against the acknowledged writes.
fn check_group(group: u64, engine: &dyn Engine, acks: &[Ack]) {
    let state = State::read(engine);
    let mut written: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (key, stored) in &state.data {
        let key = String::from_utf8_lossy(key).into_owned();
        let (owner, writer, i) =
            parse_key(&key).unwrap_or_else(|| panic!("group {group}: unexpected key {key:?}"));
        assert_eq!(owner, group, "group {group} holds {key:?} of group {owner}");
        assert_eq!(
            String::from_utf8_lossy(stored),
            value(group, writer, i),
            "group {group}: the value of {key:?}"
        );
        written.entry(writer).or_default().push(i);
    }
    // A writer waits for each write before the next, so raft applies them in order.
    for (writer, numbers) in &written {
        let expected: Vec<u64> = (0..numbers.len() as u64).collect();
        assert_eq!(
            numbers, &expected,
            "group {group}: writer {writer}'s writes are not a prefix of what it wrote"
        );
    }
    for ack in acks.iter().filter(|ack| ack.group == group) {
        let held = written
            .get(&ack.writer)
            .is_some_and(|numbers| numbers.len() as u64 > ack.i);
        assert!(
            held,
            "group {group}: the acknowledged write {:?} (log index {}) is lost",
            key(group, ack.writer, ack.i),
            ack.index
        );
    }
    state.assert_consistent(&format!("group {group} after the restart"));
}
