//! Process-kill durability: a writer child is SIGKILLed at random points; the parent
//! reopens the store and checks what survived against a model.
//!
//! The writer applies batch `i` at raft index `i`; a batch's content depends only on
//! `i`, so the state after batches `1..=A` is known for any `A` ([`expected_state`]),
//! and a torn batch (some of its ops visible, others not) shows as a mismatch. Each
//! batch sets three keys to `i` and moves a "cursor" key (`d/`) by deleting its old
//! position and writing a new one, so a torn batch leaves zero or two cursors.
//!
//! The writer acknowledges on stdout every call that returned: `applied i`,
//! `wrote i` (a [`write`](fsmstore::Engine::write) of `direct/i`), `checkpoint i` and
//! `closed i` (a clean close after index `i`). After the kill the parent checks:
//! - the data equals the model after exactly the reopened applied index `A`: no torn
//!   batch, no batch above `A` visible;
//! - Sync mode: `A` is at least the last acknowledged apply;
//! - every acknowledged checkpoint, `write` and close survived;
//! - NoSync: how many acknowledged applies past the last durable point were kept.
//!
//! The [`large`] history adds to every batch several 48 KiB values of incompressible
//! bytes and, at each round of applies, deletes an earlier round's values (by key, by
//! range and by prefix), so that a few hundred applies take an engine past its internal
//! thresholds (journal rotation, memtable flushes, page reuse) with deletes in between;
//! its writer closes and reopens the store once more than 64 MB were written since the
//! last open, so kills and cuts land after such a close.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fsmstore::{Backend, Bytes, Config, Engine, Result, SyncMode, WriteBatch};

/// Padding that makes each batch span several KiB, so a kill can land inside one.
const VALUE_PADDING: usize = 700;

/// The keys a batch sets to its index: `(prefix, modulus)` → key `prefix/(i % modulus)`.
const ROTATING_KEYS: [(&str, u64); 3] = [("a", 5), ("b", 7), ("c", 3)];

/// The value batch `index` writes.
fn value_for(index: u64) -> String {
    format!("{index}:{}", "x".repeat(VALUE_PADDING))
}

/// Batch `index` of the writer.
pub fn batch_for(index: u64) -> WriteBatch {
    let mut batch = WriteBatch::new();
    let value = Bytes::from(value_for(index));
    for (prefix, modulus) in ROTATING_KEYS {
        batch.put(format!("{prefix}/{}", index % modulus), value.clone());
    }
    if index > 1 {
        batch.delete(format!("d/{:020}", index - 1));
    }
    batch.put(format!("d/{index:020}"), value);
    batch
}

/// The model data (keys under `a/`, `b/`, `c/`, `d/`) after batches `1..=applied`.
pub fn expected_state(applied: u64) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for (prefix, modulus) in ROTATING_KEYS {
        for slot in 0..modulus {
            // The last index ≤ applied with index % modulus == slot, if any ≥ 1.
            if applied >= slot {
                let last = applied - (applied - slot) % modulus;
                if last >= 1 {
                    state.insert(format!("{prefix}/{slot}"), value_for(last));
                }
            }
        }
    }
    if applied >= 1 {
        state.insert(format!("d/{applied:020}"), value_for(applied));
    }
    state
}

/// The store's model data, read back.
pub fn actual_state(store: &dyn Engine) -> Result<BTreeMap<String, String>> {
    let mut state = BTreeMap::new();
    for prefix in ["a/", "b/", "c/", "d/"] {
        for (key, value) in store.scan_prefix(prefix.as_bytes())? {
            state.insert(
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            );
        }
    }
    Ok(state)
}

/// Which batches a writer applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum History {
    /// [`batch_for`]: a few small keys per batch.
    #[default]
    Small,
    /// [`large::batch`]: large values, deletes of earlier rounds, and a wipe before
    /// every close.
    Large,
}

impl History {
    /// The batch the writer applies at `index`.
    pub fn batch(self, index: u64) -> WriteBatch {
        match self {
            History::Small => batch_for(index),
            History::Large => large::batch(index),
        }
    }

    /// The name the probe's command line uses.
    pub fn as_str(self) -> &'static str {
        match self {
            History::Small => "small",
            History::Large => "large",
        }
    }

    /// Compares the store's model keys with the model after `applied`: `None` when they
    /// are equal, else what differs.
    pub fn compare(self, store: &dyn Engine, applied: u64) -> Result<Option<String>> {
        if self == History::Large {
            return large::compare(store, applied);
        }
        let actual = actual_state(store)?;
        let expected = expected_state(applied);
        if actual == expected {
            return Ok(None);
        }
        let keys: std::collections::BTreeSet<&String> =
            actual.keys().chain(expected.keys()).collect();
        let differ: Vec<&String> = keys
            .into_iter()
            .filter(|key| actual.get(*key) != expected.get(*key))
            .collect();
        Ok(Some(format!(
            "{} keys differ from the model after {applied}, first {}",
            differ.len(),
            differ.first().map_or("", |key| key.as_str()),
        )))
    }
}

impl std::str::FromStr for History {
    type Err = fsmstore::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "small" => Ok(History::Small),
            "large" => Ok(History::Large),
            _ => Err(fsmstore::Error::invalid_argument(format!(
                "{text:?} is not a history; expected `small` or `large`"
            ))),
        }
    }
}

/// How often the writer checkpoints, writes directly and closes, and what it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterPlan {
    /// Checkpoint after every this many applies (0: never).
    pub checkpoint_every: u64,
    /// A durable `write` after every this many applies (0: never).
    pub write_every: u64,
    /// Close and reopen after every this many applies (0: never).
    pub close_every: u64,
    /// The batches.
    pub history: History,
}

impl WriterPlan {
    /// The default mix: a checkpoint every 10 applies, a write every 7, no closes.
    pub const MIXED: WriterPlan = WriterPlan {
        checkpoint_every: 10,
        write_every: 7,
        close_every: 0,
        history: History::Small,
    };

    /// Checkpoints after every apply: most kills land in or next to a checkpoint.
    pub const CHECKPOINT_HEAVY: WriterPlan = WriterPlan {
        checkpoint_every: 1,
        write_every: 0,
        close_every: 0,
        history: History::Small,
    };

    /// A close and reopen every 5 applies: many kills land in a close.
    pub const CLOSE_HEAVY: WriterPlan = WriterPlan {
        checkpoint_every: 0,
        write_every: 0,
        close_every: 5,
        history: History::Small,
    };

    /// The large history, with a checkpoint every 16 applies and a close and reopen
    /// every [`large::CLOSE_EVERY`] applies, after more than
    /// [`large::THRESHOLD_BYTES`] of values and a wipe. No `write`: a key it put would
    /// outlive the wipes (see [`large`]).
    pub const LARGE: WriterPlan = WriterPlan {
        checkpoint_every: 16,
        write_every: 0,
        close_every: large::CLOSE_EVERY,
        history: History::Large,
    };

    /// The writer's arguments on the probe's command line.
    pub(crate) fn args(self) -> [String; 4] {
        [
            self.checkpoint_every.to_string(),
            self.write_every.to_string(),
            self.close_every.to_string(),
            self.history.as_str().to_owned(),
        ]
    }

    /// Parses the numbers `args` produced, and the history (small when left out).
    pub fn parse(args: &[String]) -> Option<Self> {
        let (numbers, history) = match args {
            [numbers @ .., history] if numbers.len() == 3 => (numbers, history.parse().ok()?),
            numbers => (numbers, History::Small),
        };
        match numbers {
            [checkpoint, write, close] => Some(WriterPlan {
                checkpoint_every: checkpoint.parse().ok()?,
                write_every: write.parse().ok()?,
                close_every: close.parse().ok()?,
                history,
            }),
            _ => None,
        }
    }
}

fn every(period: u64, index: u64) -> bool {
    period != 0 && index.is_multiple_of(period)
}

/// The writer child's loop: runs until killed (or an error, which it reports and
/// returns). Continues after the store's applied index, so repeated kills on one
/// directory keep building on what survived.
pub fn run_writer(backend: Backend, dir: &Path, mode: SyncMode, plan: WriterPlan) -> Result<()> {
    let config = Config::new(mode);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "begin open 0");
    let mut store = fsmstore::open(backend, dir, &config)?;
    let mut index = store.applied_index()?.unwrap_or(0);
    let _ = writeln!(out, "ready {index}");
    loop {
        index += 1;
        let _ = writeln!(out, "begin apply {index}");
        store.apply(&plan.history.batch(index), Some(index))?;
        let _ = writeln!(out, "applied {index}");
        if every(plan.write_every, index) {
            let mut direct = WriteBatch::new();
            direct.put(format!("direct/{index:020}"), value_for(index));
            let _ = writeln!(out, "begin write {index}");
            store.write(&direct)?;
            let _ = writeln!(out, "wrote {index}");
        }
        if every(plan.checkpoint_every, index) {
            let _ = writeln!(out, "begin checkpoint {index}");
            store.set_durable_applied_index(index)?;
            let _ = writeln!(out, "checkpoint {index}");
        }
        if every(plan.close_every, index) {
            let _ = writeln!(out, "begin close {index}");
            store.close()?;
            let _ = writeln!(out, "closed {index}");
            let _ = writeln!(out, "begin open {index}");
            store = fsmstore::open(backend, dir, &config)?;
            let _ = writeln!(out, "reopened {index}");
        }
    }
}

/// A writer that applies batches `1..=before`, then restores `snapshot` (an export of
/// the model after `restored_at`, see [`export_model`]), then applies from
/// `restored_at + 1` on, with a checkpoint every 10, until it is killed. Acknowledges
/// like [`run_writer`], plus `restored K`.
pub fn run_restorer(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    snapshot: &Path,
    before: u64,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "begin open 0");
    let store = fsmstore::open(backend, dir, &Config::new(mode))?;
    let mut index = store.applied_index()?.unwrap_or(0);
    let _ = writeln!(out, "ready {index}");
    while index < before {
        index += 1;
        let _ = writeln!(out, "begin apply {index}");
        store.apply(&batch_for(index), Some(index))?;
        let _ = writeln!(out, "applied {index}");
    }
    let _ = writeln!(out, "begin restore {index}");
    let header = store.restore(&mut std::fs::File::open(snapshot)?)?;
    index = header.applied_index.unwrap_or(0);
    let _ = writeln!(out, "restored {index}");
    loop {
        index += 1;
        let _ = writeln!(out, "begin apply {index}");
        store.apply(&batch_for(index), Some(index))?;
        let _ = writeln!(out, "applied {index}");
        if every(WriterPlan::MIXED.checkpoint_every, index) {
            let _ = writeln!(out, "begin checkpoint {index}");
            store.set_durable_applied_index(index)?;
            let _ = writeln!(out, "checkpoint {index}");
        }
    }
}

/// Applies the writer's batches until one fails, then tries one of each write and a
/// read, and closes; prints what each call returned (see the probe's `failstop`).
pub fn run_until_a_write_fails(backend: Backend, dir: &Path, mode: SyncMode) -> Result<()> {
    let store = fsmstore::open(backend, dir, &Config::new(mode))?;
    let mut out = std::io::stdout().lock();
    let outcome = |result: Result<()>| match result {
        Ok(()) => "ok".to_owned(),
        Err(error) => format!("kind={}", crate::support::error_kind(&error)),
    };
    let mut index = store.applied_index()?.unwrap_or(0);
    let failure = loop {
        if let Err(error) = store.apply(&batch_for(index + 1), Some(index + 1)) {
            break error;
        }
        index += 1;
        let _ = writeln!(out, "acknowledged {index}");
        if index > 10_000 {
            let _ = writeln!(out, "no write failed");
            return Ok(());
        }
    };
    let _ = writeln!(
        out,
        "failed kind={}: {failure}",
        crate::support::error_kind(&failure)
    );
    let next = index + 1;
    let tries: [(&str, Result<()>); 5] = [
        ("apply", store.apply(&batch_for(next), Some(next)).map(drop)),
        ("write", store.write(&batch_for(next))),
        ("pin", store.set_durable_applied_index(next).map(drop)),
        ("sync", store.sync()),
        ("restore", store.restore(&mut &b"never read"[..]).map(drop)),
    ];
    for (what, result) in tries {
        let _ = writeln!(out, "{what} {}", outcome(result));
    }
    let read = store.get(b"a/1").map(|value| {
        let _ = value;
    });
    let _ = writeln!(out, "read {}", outcome(read));
    let _ = writeln!(out, "close {}", outcome(store.close()));
    Ok(())
}

/// Writes a snapshot of the writer's model after batches `1..=applied` to `file`, built
/// on a scratch store of `backend` in `scratch`.
pub fn export_model(backend: Backend, scratch: &Path, applied: u64, file: &Path) -> Result<()> {
    let store = fsmstore::open(backend, scratch, &Config::new(SyncMode::NoSync))?;
    for index in 1..=applied {
        store.apply(&batch_for(index), Some(index))?;
    }
    let mut out = std::fs::File::create(file)?;
    store.export(&mut out)?;
    out.sync_all()?;
    store.close()
}

/// What the writer acknowledged before it died.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acks {
    /// The applied index when the writer started.
    pub started_at: u64,
    /// Whether the writer's first open returned (a new store is durable from then on).
    pub ready: bool,
    /// The last acknowledged apply.
    pub last_applied: Option<u64>,
    /// The last acknowledged checkpoint.
    pub last_checkpoint: Option<u64>,
    /// The last acknowledged close.
    pub last_closed: Option<u64>,
    /// Every acknowledged close.
    pub closes: Vec<u64>,
    /// Every acknowledged `write`.
    pub writes: Vec<u64>,
    /// The last acknowledged restore: the applied index of the snapshot it installed.
    pub last_restored: Option<u64>,
    /// The last operation the writer started (`apply 7`, `checkpoint 7`, `open 0`, ...):
    /// where the kill or cut landed when it was not acknowledged.
    pub last_begun: Option<String>,
    /// Lines that were not acknowledgements (errors the writer reported).
    pub other: Vec<String>,
}

impl Acks {
    pub(crate) fn record(&mut self, line: &str) {
        let parsed = line
            .split_once(' ')
            .and_then(|(what, number)| number.parse::<u64>().ok().map(|n| (what, n)));
        match parsed {
            Some(("ready", index)) => {
                self.started_at = index;
                self.ready = true;
            }
            Some(("applied", index)) => self.last_applied = Some(index),
            Some(("wrote", index)) => self.writes.push(index),
            Some(("checkpoint", index)) => self.last_checkpoint = Some(index),
            Some(("closed", index)) => {
                self.closes.push(index);
                self.last_closed = Some(index);
            }
            Some(("restored", index)) => self.last_restored = Some(index),
            Some(("reopened", _)) => {}
            _ if line.starts_with("begin ") => self.last_begun = Some(line[6..].to_owned()),
            _ => self.other.push(line.to_owned()),
        }
    }

    /// The highest index the writer's acknowledgements promise durable in any mode:
    /// a checkpoint, a close, or a `write` (which syncs everything before it).
    pub fn durable_floor(&self) -> u64 {
        // A write acknowledged as `wrote i` was issued after apply i returned.
        let last_write = self.writes.last().copied();
        [
            self.last_checkpoint,
            self.last_closed,
            last_write,
            self.last_restored,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
    }
}

/// What one kill did to the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KillOutcome {
    /// What the writer acknowledged.
    pub acks: Acks,
    /// The applied index after reopen (0 when missing).
    pub reopened_at: u64,
    /// The data does not equal the model at `reopened_at`.
    pub torn: bool,
    /// Acknowledged applies missing after reopen (counted in Sync mode only).
    pub lost_applies: u64,
    /// The last acknowledged checkpoint is above the reopened index.
    pub lost_checkpoint: bool,
    /// Acknowledged `write`s missing after reopen.
    pub lost_writes: u64,
    /// The last acknowledged close is above the reopened index.
    pub lost_close: bool,
    /// Acknowledged applies above the durable floor, and how many of them were kept.
    pub nosync_at_risk: u64,
    /// See `nosync_at_risk`.
    pub nosync_kept: u64,
    /// When `torn`: which keys differ from the model.
    pub mismatch: Option<String>,
    /// The files the kill or cut left, before the reopen.
    pub census: FileCensus,
    /// The history was large and the writer closed the store after writing more than
    /// [`large::THRESHOLD_BYTES`] since its open: the kill landed after such a close.
    pub past_a_large_close: bool,
    /// Bytes of large values the writer's acknowledged applies wrote since its open.
    pub large_bytes: u64,
}

impl KillOutcome {
    /// Whether the kill broke a promise (NoSync losses past the durable floor are not
    /// promises).
    pub fn broke_a_promise(&self) -> bool {
        self.torn
            || self.lost_applies > 0
            || self.lost_checkpoint
            || self.lost_writes > 0
            || self.lost_close
            || !self.acks.other.is_empty()
    }
}

/// A small xorshift generator: kill delays need to vary, not to be unpredictable.
#[derive(Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from the clock and the process id; the seed is printed by callers that
    /// want a run to be repeatable.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        Self::new(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A value in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low).max(1)
    }
}

/// Which writer a kill targets: the probe binary, the engine, the store and the plan.
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    /// The `fsmstore-probe` binary.
    pub probe: &'a Path,
    /// The engine.
    pub backend: Backend,
    /// The store directory.
    pub dir: &'a Path,
    /// The sync mode the writer (and the check after the kill) opens with.
    pub mode: SyncMode,
    /// How often the writer checkpoints, writes and closes.
    pub plan: WriterPlan,
}

/// Starts a writer child, kills it with SIGKILL after `delay` (measured from its first
/// acknowledgement), reopens the store and checks it.
pub fn kill_once(writer: Writer<'_>, delay: Duration) -> Result<KillOutcome> {
    kill_at(writer, 0, delay)
}

/// Starts a writer child, waits until it acknowledged the apply `applies` past the
/// index it started at, kills it with SIGKILL `delay` later, reopens the store and
/// checks it.
pub fn kill_at(writer: Writer<'_>, applies: u64, delay: Duration) -> Result<KillOutcome> {
    let Writer {
        probe,
        backend,
        dir,
        mode,
        plan,
    } = writer;
    let child =
        Watched::spawn(probe_command(probe, "writer", backend, dir, mode).args(plan.args()))?;
    let mut acks = Acks::default();
    // The first line comes just before the open; a kill at no particular apply is timed
    // from there, as the writer's whole life is fair game.
    for line in child.lines() {
        acks.record(&line);
        let reached = if applies == 0 {
            true
        } else {
            acks.ready
                && acks
                    .last_applied
                    .is_some_and(|applied| applied - acks.started_at >= applies)
        };
        if reached {
            break;
        }
    }
    for line in child.kill_after(delay)? {
        acks.record(&line);
    }
    check_reopened(
        Reopen {
            backend,
            dir,
            written_in: mode,
            reopened_in: mode,
            history: plan.history,
        },
        acks,
    )
}

/// How the store is reopened and checked after a kill or a cut.
#[derive(Clone, Copy, Debug)]
pub struct Reopen<'a> {
    /// The engine.
    pub backend: Backend,
    /// The store directory.
    pub dir: &'a Path,
    /// The sync mode the writer ran in: what its acknowledgements promise.
    pub written_in: SyncMode,
    /// The sync mode the check opens the store in.
    pub reopened_in: SyncMode,
    /// The batches the writer applied.
    pub history: History,
}

/// Reopens the store after a kill and compares it with the acknowledgements.
pub fn check_after_kill(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    acks: Acks,
) -> Result<KillOutcome> {
    check_reopened(
        Reopen {
            backend,
            dir,
            written_in: mode,
            reopened_in: mode,
            history: History::Small,
        },
        acks,
    )
}

/// Reopens the store in `reopen.reopened_in` and compares it with the acknowledgements
/// of a writer that ran in `reopen.written_in`.
pub fn check_reopened(reopen: Reopen<'_>, acks: Acks) -> Result<KillOutcome> {
    let Reopen {
        backend,
        dir,
        written_in,
        reopened_in,
        history,
    } = reopen;
    let census = FileCensus::of(dir)?;
    let store = fsmstore::open(backend, dir, &Config::new(reopened_in))?;
    if store.sync_mode() != reopened_in {
        // An override in the checking process would test another mode than the one
        // asked for, and pass.
        return Err(fsmstore::Error::Io(std::io::Error::other(format!(
            "the store opened in {} instead of {reopened_in}: {} is set in the checking process",
            store.sync_mode(),
            fsmstore::SYNC_MODE_ENV
        ))));
    }
    let reopened_at = store.applied_index()?.unwrap_or(0);
    let mismatch = history.compare(&*store, reopened_at)?;
    let last_applied = acks.last_applied.unwrap_or(acks.started_at);
    let lost_applies = match written_in {
        SyncMode::Sync => last_applied.saturating_sub(reopened_at),
        SyncMode::NoSync => 0,
    };
    let mut lost_writes = 0;
    for index in &acks.writes {
        if store
            .get(format!("direct/{index:020}").as_bytes())?
            .is_none()
        {
            lost_writes += 1;
        }
    }
    let floor = acks.durable_floor().max(acks.started_at);
    let nosync_at_risk = last_applied.saturating_sub(floor);
    let nosync_kept = reopened_at.min(last_applied).saturating_sub(floor);
    let (past_a_large_close, large_bytes) = match history {
        History::Small => (false, 0),
        History::Large => (
            std::iter::once(acks.started_at)
                .chain(acks.closes.iter().copied())
                .zip(acks.closes.iter().copied())
                .any(|(opened, closed)| {
                    large::bytes_between(opened, closed) > large::THRESHOLD_BYTES
                }),
            large::bytes_between(acks.started_at, last_applied),
        ),
    };
    let outcome = KillOutcome {
        lost_checkpoint: acks
            .last_checkpoint
            .is_some_and(|pinned| pinned > reopened_at),
        lost_close: acks.last_closed.is_some_and(|closed| closed > reopened_at),
        acks,
        reopened_at,
        torn: mismatch.is_some(),
        mismatch,
        lost_applies,
        lost_writes,
        nosync_at_risk,
        nosync_kept,
        census,
        past_a_large_close,
        large_bytes,
    };
    // Closing makes everything durable: the next writer starts from a clean floor.
    store.close()?;
    Ok(outcome)
}

/// How many files of each kind (by extension) a store directory holds, and their bytes:
/// what shows that a history reached an engine's thresholds (journal files, tables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileCensus {
    /// Files per extension (`other` for names without one), the store's own marker and
    /// lock file left out.
    pub by_kind: BTreeMap<String, u64>,
    /// The bytes of all of them.
    pub bytes: u64,
}

impl FileCensus {
    /// The census of `dir` and everything under it; empty when `dir` does not exist.
    pub fn of(dir: &Path) -> std::io::Result<Self> {
        let mut census = FileCensus::default();
        if dir.is_dir() {
            census.count(dir)?;
        }
        Ok(census)
    }

    fn count(&mut self, dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                self.count(&path)?;
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(fsmstore::backend::MARKER_FILE) {
                continue;
            }
            // A number after the last dot is a file's sequence or time (RocksDB's
            // `LOG.old.<microseconds>`), not a kind.
            let kind = match name.rsplit_once('.') {
                Some((stem, extension))
                    if !stem.is_empty() && !extension.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    extension.to_owned()
                }
                _ => "other".to_owned(),
            };
            *self.by_kind.entry(kind).or_default() += 1;
            self.bytes += metadata.len();
        }
        Ok(())
    }

    /// Keeps, per kind, the larger count of `self` and `other`, and the larger size.
    pub fn most(&mut self, other: &FileCensus) {
        for (kind, count) in &other.by_kind {
            let most = self.by_kind.entry(kind.clone()).or_default();
            *most = (*most).max(*count);
        }
        self.bytes = self.bytes.max(other.bytes);
    }
}

impl std::fmt::Display for FileCensus {
    /// `jnl 2, sst 3 (74.1 MB)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        write!(
            f,
            "{} ({:.1} MB)",
            kinds.join(", "),
            self.bytes as f64 / 1e6
        )
    }
}

/// The sum of many kills on one engine in one mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignSummary {
    /// Kills performed.
    pub kills: u64,
    /// Kills after which the data did not match the model.
    pub torn: u64,
    /// Acknowledged Sync applies lost, summed.
    pub lost_applies: u64,
    /// Acknowledged checkpoints lost.
    pub lost_checkpoints: u64,
    /// Acknowledged writes lost.
    pub lost_writes: u64,
    /// Acknowledged closes lost.
    pub lost_closes: u64,
    /// Writer errors reported before the kill.
    pub writer_errors: u64,
    /// Kills that came after the writer acknowledged at least one apply.
    pub kills_after_progress: u64,
    /// NoSync applies past the durable floor, summed.
    pub nosync_at_risk: u64,
    /// Of those, kept after reopen.
    pub nosync_kept: u64,
    /// Kills that landed after a close that followed more than
    /// [`large::THRESHOLD_BYTES`] of large values (large history only).
    pub past_a_large_close: u64,
    /// Bytes of large values the writers' acknowledged applies wrote, summed.
    pub large_bytes: u64,
    /// The most files of each kind a kill left.
    pub files_seen: FileCensus,
}

impl CampaignSummary {
    /// Adds one kill.
    pub fn add(&mut self, outcome: &KillOutcome) {
        self.kills += 1;
        self.torn += u64::from(outcome.torn);
        self.lost_applies += outcome.lost_applies;
        self.lost_checkpoints += u64::from(outcome.lost_checkpoint);
        self.lost_writes += outcome.lost_writes;
        self.lost_closes += u64::from(outcome.lost_close);
        self.writer_errors += outcome.acks.other.len() as u64;
        self.kills_after_progress += u64::from(
            outcome
                .acks
                .last_applied
                .is_some_and(|applied| applied > outcome.acks.started_at),
        );
        self.nosync_at_risk += outcome.nosync_at_risk;
        self.nosync_kept += outcome.nosync_kept;
        self.past_a_large_close += u64::from(outcome.past_a_large_close);
        self.large_bytes += outcome.large_bytes;
        self.files_seen.most(&outcome.census);
    }

    /// Percentage of at-risk NoSync applies kept, or `None` when none were at risk.
    pub fn nosync_kept_percent(&self) -> Option<f64> {
        (self.nosync_at_risk > 0)
            .then(|| 100.0 * self.nosync_kept as f64 / self.nosync_at_risk as f64)
    }

    /// Whether any promise was broken.
    pub fn broke_a_promise(&self) -> bool {
        self.torn
            + self.lost_applies
            + self.lost_checkpoints
            + self.lost_writes
            + self.lost_closes
            + self.writer_errors
            > 0
    }
}

/// The applied index of the store at `dir` (0 when there is none yet), read by opening
/// it in the writer's mode.
fn last_index(dir: &Path, writer: Writer<'_>) -> Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let store = fsmstore::open(writer.backend, dir, &Config::new(writer.mode))?;
    let index = store.applied_index()?.unwrap_or(0);
    store.close()?;
    Ok(index)
}

/// Kills on one directory before a campaign starts a fresh one: every reopen replays
/// what the kills left, and an ever-growing store would make long campaigns crawl.
const KILLS_PER_DIRECTORY: u64 = 25;

/// Where kill number `kill` of a campaign on `dir` runs: `dir` for the first
/// [`KILLS_PER_DIRECTORY`] kills, then a fresh sibling for each further run of them.
pub(crate) fn campaign_dir(dir: &Path, kill: u64) -> PathBuf {
    let round = kill / KILLS_PER_DIRECTORY;
    if round == 0 {
        dir.to_owned()
    } else {
        dir.with_extension(round.to_string())
    }
}

/// Kills `writer` `kills` times, with delays drawn from `delays_ms`, on its directory
/// (and on fresh sibling directories, one per `KILLS_PER_DIRECTORY` kills).
///
/// A large history's writer is killed after the second close past the index it started
/// at (the first that follows a whole [`large::CLOSE_EVERY`] applies of its own), at an
/// apply drawn from the next half of [`large::CLOSE_EVERY`], `delays_ms` after it
/// acknowledged that apply.
pub fn campaign(
    writer: Writer<'_>,
    kills: u64,
    delays_ms: (u64, u64),
    jitter: &mut Jitter,
) -> Result<(CampaignSummary, Vec<KillOutcome>)> {
    let mut summary = CampaignSummary::default();
    let mut broken = Vec::new();
    for kill in 0..kills {
        let round_dir = campaign_dir(writer.dir, kill);
        let delay = Duration::from_millis(jitter.between(delays_ms.0, delays_ms.1));
        let applies = match writer.plan.history {
            History::Small => 0,
            History::Large => {
                let close = writer.plan.close_every;
                let started_at = last_index(&round_dir, writer)?;
                let second_close = (started_at / close + 2) * close;
                second_close - started_at + jitter.between(1, close / 2 + 2)
            }
        };
        let outcome = kill_at(
            Writer {
                dir: &round_dir,
                ..writer
            },
            applies,
            delay,
        )?;
        summary.add(&outcome);
        if outcome.broke_a_promise() {
            broken.push(outcome);
        }
    }
    Ok((summary, broken))
}

/// The large history: batches that carry several large values each and delete earlier
/// ones, so that a few hundred applies cross the thresholds at which engines change
/// their files (see the module docs), and a model of what the store holds after any
/// number of them.
///
/// Apply `i` belongs to round `i / APPLIES_PER_ROUND`. It puts [`PUTS_PER_APPLY`] new
/// values under its round's prefix (`L/<round>/<slot>`) and overwrites one value of the
/// round before. The first apply of round `r` deletes round `r - 2`: the whole prefix,
/// or a range over its first half and single keys of the second half (the rest stays
/// until round `r + 6` deletes the prefix), or every key one by one, in turn. So the
/// live data stays near two rounds while the bytes written grow without bound, and
/// every key that was ever deleted stays deleted.
///
/// The last [`QUIET`] applies before each multiple of [`CLOSE_EVERY`] (where the
/// writer closes the store) write nothing but the index, and the one before them
/// deletes every `L/` key: the close then comes after a history whose newest changes
/// are all deletes, which a compaction may drop together with the values they deleted.
/// An engine that judges what its logs still hold by the newest entry of its tables
/// can be fooled by that, and no key the history writes outlives the wipe to hide it.
///
/// Each value is `<index>:<slot>:` followed by bytes drawn from a generator seeded with
/// both, so no engine can compress them, and a value that is torn or comes from another
/// apply shows.
pub mod large {
    use std::collections::BTreeMap;

    use fsmstore::{Bytes, Engine, Result, WriteBatch};

    /// The length of each large value.
    pub const VALUE_LEN: usize = 48 * 1024;
    /// New values per apply (plus one overwrite).
    pub const PUTS_PER_APPLY: u64 = 4;
    /// Applies per round.
    pub const APPLIES_PER_ROUND: u64 = 32;
    /// The bytes past which the history goes between two closes: fjall seals its active
    /// journal at a flush once it holds more than 64,000,000 bytes, and RocksDB's and
    /// fjall's memtables are flushed at 64 MiB.
    pub const THRESHOLD_BYTES: u64 = 64_000_000;
    /// Applies between two closes of the writer: the first multiple of ten whose values
    /// pass [`THRESHOLD_BYTES`] by at least a tenth, the wipe and the quiet applies
    /// left out.
    pub const CLOSE_EVERY: u64 =
        (THRESHOLD_BYTES * 11 / 10 / BYTES_PER_APPLY / 10 + 1) * 10 + QUIET + 1;
    /// Applies before each close that write only the index.
    pub const QUIET: u64 = 3;

    /// Bytes of values per apply that writes values: the new ones and the overwrite.
    const BYTES_PER_APPLY: u64 = (PUTS_PER_APPLY + 1) * VALUE_LEN as u64;
    /// Slots of one round.
    const SLOTS: u64 = APPLIES_PER_ROUND * PUTS_PER_APPLY;
    /// The slot an overwrite's value names, apart from every new value's slot.
    const OVERWRITE: u64 = 999_999;

    /// What apply `index` does.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Phase {
        Values,
        Wipe,
        Quiet,
    }

    fn phase(index: u64) -> Phase {
        let to_close = (CLOSE_EVERY - index % CLOSE_EVERY) % CLOSE_EVERY;
        match to_close {
            0..QUIET => Phase::Quiet,
            QUIET => Phase::Wipe,
            _ => Phase::Values,
        }
    }

    /// The bytes of values the applies `from + 1..=to` write.
    pub fn bytes_between(from: u64, to: u64) -> u64 {
        (from + 1..=to)
            .filter(|index| phase(*index) == Phase::Values)
            .count() as u64
            * BYTES_PER_APPLY
    }

    fn key(round: u64, slot: u64) -> String {
        format!("L/{round:06}/{slot:06}")
    }

    fn prefix(round: u64) -> String {
        format!("L/{round:06}/")
    }

    /// One change of the large history.
    enum Change {
        Put { key: String, slot: u64 },
        Delete(String),
        DeleteRange(String, String),
        DeletePrefix(String),
    }

    fn changes(index: u64) -> Vec<Change> {
        match phase(index) {
            // `0` follows `/`: the range holds every `L/` key.
            Phase::Wipe => return vec![Change::DeleteRange("L/".to_owned(), "L0".to_owned())],
            Phase::Quiet => return Vec::new(),
            Phase::Values => {}
        }
        let round = index / APPLIES_PER_ROUND;
        let position = index % APPLIES_PER_ROUND;
        let mut changes = Vec::new();
        if position == 0 && round >= 2 {
            let old = round - 2;
            match old % 3 {
                0 => changes.push(Change::DeletePrefix(prefix(old))),
                1 => {
                    changes.push(Change::DeleteRange(key(old, 0), key(old, SLOTS / 2)));
                    for slot in (SLOTS / 2..SLOTS).filter(|slot| slot % 2 == 1) {
                        changes.push(Change::Delete(key(old, slot)));
                    }
                }
                _ => {
                    for slot in 0..SLOTS {
                        changes.push(Change::Delete(key(old, slot)));
                    }
                }
            }
            if round >= 8 && (round - 8) % 3 == 1 {
                changes.push(Change::DeletePrefix(prefix(round - 8)));
            }
        }
        for put in 0..PUTS_PER_APPLY {
            let slot = position * PUTS_PER_APPLY + put;
            changes.push(Change::Put {
                key: key(round, slot),
                slot,
            });
        }
        if round >= 1 {
            changes.push(Change::Put {
                key: key(round - 1, (position * 5 + 3) % SLOTS),
                slot: OVERWRITE,
            });
        }
        changes
    }

    /// The value apply `index` writes to `slot`.
    pub fn value(index: u64, slot: u64) -> Vec<u8> {
        let mut value = format!("{index}:{slot}:").into_bytes();
        let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ slot.rotate_left(32) ^ 1;
        while value.len() < VALUE_LEN {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let room = VALUE_LEN - value.len();
            value.extend_from_slice(&z.to_le_bytes()[..room.min(8)]);
        }
        value
    }

    /// Apply `index`'s batch.
    pub fn batch(index: u64) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for change in changes(index) {
            match change {
                Change::Put { key, slot } => {
                    batch.put(key, Bytes::from(value(index, slot)));
                }
                Change::Delete(key) => {
                    batch.delete(key);
                }
                Change::DeleteRange(start, end) => {
                    batch.delete_range(start, end);
                }
                Change::DeletePrefix(prefix) => {
                    batch.delete_prefix(prefix, None);
                }
            }
        }
        batch
    }

    /// Which apply and slot wrote each `L/` key, after applies `1..=applied`.
    pub fn expected(applied: u64) -> BTreeMap<String, (u64, u64)> {
        let mut state = BTreeMap::new();
        for index in 1..=applied {
            for change in changes(index) {
                match change {
                    Change::Put { key, slot } => {
                        state.insert(key, (index, slot));
                    }
                    Change::Delete(key) => {
                        state.remove(&key);
                    }
                    Change::DeleteRange(start, end) => {
                        state.retain(|key: &String, _| *key < start || *key >= end);
                    }
                    Change::DeletePrefix(prefix) => {
                        state.retain(|key: &String, _| !key.starts_with(&prefix));
                    }
                }
            }
        }
        state
    }

    /// Which apply and slot wrote each key of the store; `None` for a value that is not
    /// exactly what its header names.
    pub fn actual(store: &dyn Engine) -> Result<BTreeMap<String, Option<(u64, u64)>>> {
        let mut state = BTreeMap::new();
        for (key, stored) in store.scan_prefix(b"")? {
            let header = stored
                .splitn(3, |byte| *byte == b':')
                .take(2)
                .map(|part| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                .collect::<Option<Vec<u64>>>();
            let tag = match header.as_deref() {
                Some(&[index, slot]) if value(index, slot) == stored.as_ref() => {
                    Some((index, slot))
                }
                _ => None,
            };
            state.insert(String::from_utf8_lossy(&key).into_owned(), tag);
        }
        Ok(state)
    }

    /// `None` when the store's keys are the model's after `applied`, else how many
    /// differ and the first of them.
    pub fn compare(store: &dyn Engine, applied: u64) -> Result<Option<String>> {
        let actual = actual(store)?;
        let expected = expected(applied);
        let describe = |tag: Option<&Option<(u64, u64)>>| match tag {
            None => "absent".to_owned(),
            Some(None) => "a damaged value".to_owned(),
            Some(Some((index, slot))) => format!("apply {index}'s value for slot {slot}"),
        };
        let mut differ = Vec::new();
        for key in actual.keys().chain(expected.keys()) {
            let model = expected.get(key).map(|tag| Some(*tag));
            if actual.get(key) != model.as_ref() && !differ.contains(&key) {
                differ.push(key);
            }
        }
        Ok(differ.first().map(|key| {
            format!(
                "{} keys differ from the model after {applied}; {key}: the store holds {}, the model {}",
                differ.len(),
                describe(actual.get(*key)),
                describe(expected.get(*key).map(|tag| Some(*tag)).as_ref()),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_after_zero_batches_is_empty() {
        assert!(expected_state(0).is_empty());
    }

    #[test]
    fn the_model_keeps_the_last_index_per_slot_and_one_cursor() {
        let state = expected_state(12);
        assert_eq!(
            state.get("a/2").map(|v| v.split(':').next()),
            Some(Some("12"))
        );
        assert_eq!(
            state.get("a/0").map(|v| v.split(':').next()),
            Some(Some("10"))
        );
        assert_eq!(
            state.get("c/0").map(|v| v.split(':').next()),
            Some(Some("12"))
        );
        assert_eq!(
            state.get("b/6").map(|v| v.split(':').next()),
            Some(Some("6"))
        );
        let cursors: Vec<_> = state.keys().filter(|key| key.starts_with("d/")).collect();
        assert_eq!(cursors, vec!["d/00000000000000000012"]);
        // Slots that no index ≤ 2 reached are absent.
        assert!(!expected_state(2).contains_key("b/3"));
    }

    #[test]
    fn acks_are_parsed_and_the_durable_floor_is_the_latest_promise() {
        let mut acks = Acks::default();
        for line in [
            "ready 3",
            "applied 4",
            "wrote 4",
            "applied 5",
            "checkpoint 5",
            "applied 6",
        ] {
            acks.record(line);
        }
        assert_eq!(acks.started_at, 3);
        assert_eq!(acks.last_applied, Some(6));
        assert_eq!(acks.writes, vec![4]);
        assert_eq!(acks.durable_floor(), 5);
        acks.record("error kind=io: disk full");
        assert_eq!(acks.other.len(), 1);
    }

    #[test]
    fn a_writer_plan_round_trips_through_the_probes_arguments() {
        for plan in [
            WriterPlan::MIXED,
            WriterPlan::CLOSE_HEAVY,
            WriterPlan::LARGE,
        ] {
            assert_eq!(WriterPlan::parse(&plan.args()), Some(plan));
        }
        let three = ["10", "0", "0"].map(String::from);
        assert_eq!(
            WriterPlan::parse(&three).map(|plan| plan.history),
            Some(History::Small)
        );
    }

    #[test]
    fn the_large_model_deletes_earlier_rounds_and_wipes_before_each_close() {
        use large::{APPLIES_PER_ROUND, CLOSE_EVERY, QUIET, THRESHOLD_BYTES};
        // Round 1 ends at 63; round 0 is deleted at 64, the first apply of round 2.
        let before = large::expected(2 * APPLIES_PER_ROUND - 1);
        assert!(before.keys().any(|key| key.starts_with("L/000000/")));
        let after = large::expected(2 * APPLIES_PER_ROUND);
        assert!(!after.keys().any(|key| key.starts_with("L/000000/")));
        assert!(!large::expected(CLOSE_EVERY - QUIET - 1).is_empty());
        assert!(large::expected(CLOSE_EVERY - QUIET).is_empty());
        assert!(large::expected(CLOSE_EVERY).is_empty());
        assert!(large::bytes_between(0, CLOSE_EVERY) > THRESHOLD_BYTES);
        assert_eq!(
            large::bytes_between(CLOSE_EVERY - QUIET - 1, CLOSE_EVERY),
            0
        );
    }

    #[test]
    fn a_large_value_names_its_apply_and_differs_between_applies() {
        let value = large::value(7, 3);
        assert_eq!(value.len(), large::VALUE_LEN);
        assert!(value.starts_with(b"7:3:"));
        assert_ne!(value[4..], large::value(8, 3)[4..]);
        let distinct: std::collections::BTreeSet<u8> = value.iter().copied().collect();
        assert!(distinct.len() > 200, "the bytes repeat: {}", distinct.len());
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut jitter = Jitter::new(42);
        for _ in 0..1000 {
            let value = jitter.between(5, 9);
            assert!((5..9).contains(&value));
        }
    }
}

/// What a writer that ran into a file-size limit left behind.
#[derive(Clone, Debug)]
pub struct WriteFailureOutcome {
    /// The writer's exit code (`None` when a signal ended it).
    pub exit_code: Option<i32>,
    /// The check after reopening without the limit.
    pub after: KillOutcome,
}

/// The most bytes any file under `dir` holds: its length, or its allocated size when
/// that is smaller (fjall preallocates its journal as a sparse file of 64 MiB, and a
/// limit above that would never be reached).
fn largest_file(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut largest = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        largest = largest.max(if metadata.is_dir() {
            largest_file(&entry.path())?
        } else {
            metadata.len().min(metadata.blocks() * 512)
        });
    }
    Ok(largest)
}

/// Runs a writer under a file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so the
/// engine's writes fail with `EFBIG` instead of killing it) until it stops, then reopens
/// the store without the limit and checks it like after a kill.
///
/// The store is created first without a limit, and the limit is set `headroom` bytes
/// above its largest file, so the failure comes in the middle of the writer's work.
pub fn fail_writes(
    probe: &Path,
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    headroom: u64,
    timeout: Duration,
) -> Result<WriteFailureOutcome> {
    fsmstore::open(backend, dir, &Config::new(mode))?.close()?;
    let limit_kib = (largest_file(dir)? + headroom).div_ceil(1024);
    // Every apply also writes a new direct key, so the files grow until the limit.
    let plan = WriterPlan {
        checkpoint_every: 5,
        write_every: 1,
        close_every: 0,
        history: History::Small,
    };
    let (mut child, stdout) = spawn_child(
        Command::new("bash")
            .arg("-c")
            // bash counts `ulimit -f` in KiB; an ignored signal stays ignored across exec.
            .arg(r#"trap "" XFSZ; ulimit -f "$1" || exit 97; shift; exec "$@""#)
            .arg("fail-writes")
            .arg(limit_kib.to_string())
            .arg(probe)
            .arg("writer")
            .arg(backend.name())
            .arg(dir)
            .arg(mode.as_str())
            .args(plan.args()),
    )?;
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
            .collect::<Vec<_>>()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut acks = Acks::default();
    for line in reader.join().unwrap_or_default() {
        acks.record(&line);
    }
    let after = check_after_kill(backend, dir, mode, acks)?;
    Ok(WriteFailureOutcome {
        exit_code: status.and_then(|status| status.code()),
        after,
    })
}

/// `fsmstore-probe <task> <engine> <dir> <mode>`, for more arguments to follow.
pub(crate) fn probe_command(
    probe: &Path,
    task: &str,
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
) -> Command {
    let mut command = Command::new(probe);
    command
        .arg(task)
        .arg(backend.name())
        .arg(dir)
        .arg(mode.as_str());
    command
}

/// Starts a probe child that reports on stdout, with the sync-mode override removed
/// (the child must open in the mode it is told), and returns it with its stdout.
pub(crate) fn spawn_child(command: &mut Command) -> Result<(Child, ChildStdout)> {
    let mut child = command
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| {
        fsmstore::Error::Io(std::io::Error::other("the child has no stdout pipe"))
    })?;
    Ok((child, stdout))
}

/// A probe child whose stdout a thread forwards line by line, so that the parent can
/// wait for some lines, kill the child at a moment of its choosing, and still read every
/// line the child wrote before it died.
pub(crate) struct Watched {
    child: Child,
    lines: Receiver<String>,
    reader: JoinHandle<()>,
}

impl Watched {
    /// Starts `command` as [`spawn_child`] does.
    pub(crate) fn spawn(command: &mut Command) -> Result<Self> {
        let (child, stdout) = spawn_child(command)?;
        let (sender, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            reader,
        })
    }

    /// The child's lines, each waited for; they end when the child closes its stdout.
    pub(crate) fn lines(&self) -> std::sync::mpsc::Iter<'_, String> {
        self.lines.iter()
    }

    /// Waits `delay`, SIGKILLs the child (no destructor, no flush, no close) and returns
    /// the lines it wrote that were not read yet.
    pub(crate) fn kill_after(mut self, delay: Duration) -> Result<Vec<String>> {
        std::thread::sleep(delay);
        let _ = self.child.kill();
        let _ = self.child.wait()?;
        let _ = self.reader.join();
        Ok(self.lines.try_iter().collect())
    }
}

/// Runs `fsmstore-probe restore` on the store at `dir` with the snapshot file
/// `snapshot`, and SIGKILLs it `delay` after it opened the store (`None`: lets it
/// finish). Returns how long the restore ran and whether it reported success.
pub fn kill_restore(
    probe: &Path,
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    snapshot: &Path,
    delay: Option<Duration>,
) -> Result<(Duration, bool)> {
    let (mut child, stdout) =
        spawn_child(probe_command(probe, "restore", backend, dir, mode).arg(snapshot))?;
    let mut lines = BufReader::new(stdout).lines();
    let opened = lines.next().transpose()?;
    if opened.as_deref() != Some("opened") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fsmstore::Error::Io(std::io::Error::other(format!(
            "the restore child did not open the store: {opened:?}"
        ))));
    }
    let started = Instant::now();
    if let Some(delay) = delay {
        std::thread::sleep(delay);
        let _ = child.kill();
    }
    let _ = child.wait()?;
    let elapsed = started.elapsed();
    let finished = lines
        .map_while(std::io::Result::ok)
        .any(|line| line.starts_with("restored"));
    Ok((elapsed, finished))
}
