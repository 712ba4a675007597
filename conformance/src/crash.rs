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

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
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

/// How often the writer checkpoints, writes directly and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterPlan {
    /// Checkpoint after every this many applies (0: never).
    pub checkpoint_every: u64,
    /// A durable `write` after every this many applies (0: never).
    pub write_every: u64,
    /// Close and reopen after every this many applies (0: never).
    pub close_every: u64,
}

impl WriterPlan {
    /// The default mix: a checkpoint every 10 applies, a write every 7, no closes.
    pub const MIXED: WriterPlan = WriterPlan {
        checkpoint_every: 10,
        write_every: 7,
        close_every: 0,
    };

    /// Checkpoints after every apply: most kills land in or next to a checkpoint.
    pub const CHECKPOINT_HEAVY: WriterPlan = WriterPlan {
        checkpoint_every: 1,
        write_every: 0,
        close_every: 0,
    };

    /// A close and reopen every 5 applies: many kills land in a close.
    pub const CLOSE_HEAVY: WriterPlan = WriterPlan {
        checkpoint_every: 0,
        write_every: 0,
        close_every: 5,
    };

    fn args(self) -> [String; 3] {
        [
            self.checkpoint_every.to_string(),
            self.write_every.to_string(),
            self.close_every.to_string(),
        ]
    }

    /// Parses the three numbers `args` produced.
    pub fn parse(args: &[String]) -> Option<Self> {
        match args {
            [checkpoint, write, close] => Some(WriterPlan {
                checkpoint_every: checkpoint.parse().ok()?,
                write_every: write.parse().ok()?,
                close_every: close.parse().ok()?,
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
        store.apply(&batch_for(index), Some(index))?;
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
            Some(("closed", index)) => self.last_closed = Some(index),
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
    let Writer {
        probe,
        backend,
        dir,
        mode,
        plan,
    } = writer;
    let (mut child, stdout) =
        spawn_child(probe_command(probe, "writer", backend, dir, mode).args(plan.args()))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut acks = Acks::default();
    // Wait for the first line (the open finished), then let it run for `delay`.
    if let Some(line) = lines.next() {
        acks.record(&line?);
    }
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut rest = Vec::new();
        for line in lines.map_while(std::io::Result::ok) {
            rest.push(line);
        }
        rest
    });
    std::thread::sleep(delay.saturating_sub(started.elapsed()));
    // SIGKILL: no destructor, no flush, no close.
    let _ = child.kill();
    let _ = child.wait()?;
    let rest = reader.join().unwrap_or_default();
    for line in &rest {
        acks.record(line);
    }
    check_after_kill(backend, dir, mode, acks)
}

/// Reopens the store after a kill and compares it with the acknowledgements.
pub fn check_after_kill(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    acks: Acks,
) -> Result<KillOutcome> {
    let store = fsmstore::open(backend, dir, &Config::new(mode))?;
    let reopened_at = store.applied_index()?.unwrap_or(0);
    let torn = actual_state(&*store)? != expected_state(reopened_at);
    let last_applied = acks.last_applied.unwrap_or(acks.started_at);
    let lost_applies = match mode {
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
    let outcome = KillOutcome {
        lost_checkpoint: acks
            .last_checkpoint
            .is_some_and(|pinned| pinned > reopened_at),
        lost_close: acks.last_closed.is_some_and(|closed| closed > reopened_at),
        acks,
        reopened_at,
        torn,
        lost_applies,
        lost_writes,
        nosync_at_risk,
        nosync_kept,
    };
    // Closing makes everything durable: the next writer starts from a clean floor.
    store.close()?;
    Ok(outcome)
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

/// Kills on one directory before a campaign starts a fresh one: every reopen replays
/// what the kills left, and an ever-growing store would make long campaigns crawl.
const KILLS_PER_DIRECTORY: u64 = 25;

/// Kills `writer` `kills` times, with delays drawn from `delays_ms`, on its directory
/// (and on fresh sibling directories, one per `KILLS_PER_DIRECTORY` kills).
pub fn campaign(
    writer: Writer<'_>,
    kills: u64,
    delays_ms: (u64, u64),
    jitter: &mut Jitter,
) -> Result<(CampaignSummary, Vec<KillOutcome>)> {
    let mut summary = CampaignSummary::default();
    let mut broken = Vec::new();
    for kill in 0..kills {
        let round = kill / KILLS_PER_DIRECTORY;
        let round_dir = if round == 0 {
            writer.dir.to_owned()
        } else {
            writer.dir.with_extension(round.to_string())
        };
        let delay = Duration::from_millis(jitter.between(delays_ms.0, delays_ms.1));
        let outcome = kill_once(
            Writer {
                dir: &round_dir,
                ..writer
            },
            delay,
        )?;
        summary.add(&outcome);
        if outcome.broke_a_promise() {
            broken.push(outcome);
        }
    }
    Ok((summary, broken))
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
