//! Many groups under kills and power cuts: a writer process applies to
//! [`GROUP_IDS`] of one groups store at once, one thread per group, so that their
//! commits share engine commits and fsyncs; the parent kills it (or cuts the power),
//! reopens the store and checks every group on its own.
//!
//! Group `g` applies batch `i` at its raft index `i`; every key and value of the batch
//! names `g` and every value names `i` ([`batch`]), so the state after batches `1..=A`
//! is known for any `A` ([`expected`]), a torn batch shows as a mismatch, and a key or
//! value of one group found in another shows as a cross-group entry. The writer checkpoints
//! every few applies and acknowledges each call on stdout after it returned, as the single
//! writer does, with the group's tag before it: `g<id> applied <i>`,
//! `g<id> checkpoint <i>`, `g<id> ready <i>` (the group exists and is open),
//! `g<id> restored <i>`. With a snapshot file, one more group ([`RESTORING`]) applies a
//! few batches and restores the snapshot (the model at [`SNAPSHOT_AT`]) again and again.
//!
//! After the kill, per group: the data equals the model at exactly the reopened
//! applied index; in Sync mode that index is at least the last acknowledged apply;
//! no acknowledged checkpoint or restore is lost; a group acknowledged as ready exists;
//! no entry of another group is visible. The restoring group, cut in a restore, holds
//! the old generation (at least what it acknowledged) or the new one (the snapshot).
//! Over the whole store, [`GroupStore::verify_deep`] finds no entry outside a live
//! generation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fsmstore::{Backend, Bytes, Config, Engine, Error, GroupStore, Result, SyncMode, WriteBatch};

use crate::crash::{
    Acks, CampaignSummary, FileCensus, Jitter, KillOutcome, Watched, campaign_dir, probe_command,
};

/// The groups every writer applies to: the lowest and highest ids and their neighbours,
/// and ids whose big-endian bytes differ in one byte only.
pub const GROUP_IDS: [u64; 8] = [0, 1, 2, 0xFF, 0x100, u64::MAX - 2, u64::MAX - 1, u64::MAX];

/// The group that restores a snapshot again and again, when the writer has one.
pub const RESTORING: u64 = 1 << 63;

/// The applied index of the snapshot the restoring group restores.
pub const SNAPSHOT_AT: u64 = 40;

/// Applies of the restoring group between two restores.
const APPLIES_BETWEEN_RESTORES: u64 = 6;

/// A checkpoint after every this many applies of a group, in both sync modes.
pub const CHECKPOINT_EVERY: u64 = 4;

/// Padding that makes each batch several hundred bytes.
const PADDING: usize = 300;

/// The keys a batch sets to its index: `(slot, modulus)` → key `<tag>/slot/(i % modulus)`.
const ROTATING: [(&str, u64); 3] = [("a", 5), ("b", 7), ("c", 3)];

/// How group `id` names itself in its keys and values.
pub fn tag(id: u64) -> String {
    format!("{id:016x}")
}

fn value(id: u64, index: u64) -> String {
    format!("{}:{index}:{}", tag(id), "x".repeat(PADDING))
}

/// Batch `index` of group `id`: three rotating keys set to the index, and a cursor key
/// moved from `index - 1` to `index` (a torn batch leaves zero or two cursors).
pub fn batch(id: u64, index: u64) -> WriteBatch {
    let tag = tag(id);
    let value = Bytes::from(value(id, index));
    let mut batch = WriteBatch::new();
    for (slot, modulus) in ROTATING {
        batch.put(format!("{tag}/{slot}/{}", index % modulus), value.clone());
    }
    if index > 1 {
        batch.delete(format!("{tag}/d/{:020}", index - 1));
    }
    batch.put(format!("{tag}/d/{index:020}"), value);
    batch
}

/// The data of group `id` after batches `1..=applied`.
pub fn expected(id: u64, applied: u64) -> BTreeMap<String, String> {
    let tag = tag(id);
    let mut state = BTreeMap::new();
    for (slot, modulus) in ROTATING {
        for rest in 0..modulus {
            if applied >= rest {
                let last = applied - (applied - rest) % modulus;
                if last >= 1 {
                    state.insert(format!("{tag}/{slot}/{rest}"), value(id, last));
                }
            }
        }
    }
    if applied >= 1 {
        state.insert(format!("{tag}/d/{applied:020}"), value(id, applied));
    }
    state
}

/// Compares group `id`'s data with the model after `applied`: `None` when equal, else
/// what differs; and how many entries name another group (in the key or the value).
pub fn compare(group: &dyn Engine, id: u64, applied: u64) -> Result<(Option<String>, u64)> {
    let own = tag(id);
    let mut actual = BTreeMap::new();
    let mut foreign = 0;
    for (key, stored) in group.scan_prefix(b"")? {
        let key = String::from_utf8_lossy(&key).into_owned();
        let stored = String::from_utf8_lossy(&stored).into_owned();
        if !key.starts_with(&format!("{own}/")) || !stored.starts_with(&format!("{own}:")) {
            foreign += 1;
        }
        actual.insert(key, stored);
    }
    let model = expected(id, applied);
    if actual == model {
        return Ok((None, foreign));
    }
    let differ: Vec<&String> = actual
        .keys()
        .chain(model.keys())
        .filter(|key| actual.get(*key) != model.get(*key))
        .collect();
    let first = differ.first().map_or("", |key| key.as_str());
    let head = |text: Option<&String>| {
        text.map_or("absent".to_owned(), |text| text.chars().take(24).collect())
    };
    Ok((
        Some(format!(
            "group {id}: {} keys differ from the model after {applied}, first {first} (store {}, model {})",
            differ.len(),
            head(actual.get(first)),
            head(model.get(first)),
        )),
        foreign,
    ))
}

/// Writes a snapshot of group [`RESTORING`]'s model after [`SNAPSHOT_AT`] to `file`,
/// built on a scratch store of `backend` in `scratch`.
pub fn export_snapshot(backend: Backend, scratch: &Path, file: &Path) -> Result<()> {
    let store = fsmstore::open(backend, scratch, &Config::new(SyncMode::NoSync))?;
    for index in 1..=SNAPSHOT_AT {
        store.apply(&batch(RESTORING, index), Some(index))?;
    }
    let mut out = std::fs::File::create(file)?;
    store.export(&mut out)?;
    out.sync_all()?;
    store.close()
}

/// Prints one acknowledgement line of group `id`.
fn say(id: u64, what: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "g{id} {what}");
}

/// Each group's id and handle.
type OpenGroups = Vec<(u64, Box<dyn Engine>)>;

/// Opens (creating when missing) the groups store at `dir` and every group of `ids`.
fn open_all(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    ids: &[u64],
) -> Result<(Box<dyn GroupStore>, OpenGroups)> {
    println!("begin open 0");
    let store = fsmstore::open_groups(backend, dir, &Config::new(mode))?;
    println!("ready 0");
    let existing: Vec<u64> = store.groups()?.iter().map(|info| info.id).collect();
    let mut groups = Vec::new();
    for &id in ids {
        if !existing.contains(&id) {
            say(id, format_args!("begin create 0"));
            store.create_group(id)?;
        }
        groups.push((id, store.open_group(id)?));
    }
    Ok((store, groups))
}

/// The groups writer child's loop: every group of [`GROUP_IDS`] on its own thread,
/// applying, checkpointing every `checkpoint_every` applies (0: never) and
/// acknowledging, until killed or a call fails (which it reports and returns). With
/// `snapshot`, group [`RESTORING`] applies and restores it in turn. Continues after each
/// group's applied index, so repeated kills on one directory build on what survived.
pub fn run_writer(
    backend: Backend,
    dir: &Path,
    mode: SyncMode,
    checkpoint_every: u64,
    snapshot: Option<&Path>,
) -> Result<()> {
    let mut ids = GROUP_IDS.to_vec();
    if snapshot.is_some() {
        ids.push(RESTORING);
    }
    let (store, groups) = open_all(backend, dir, mode, &ids)?;
    let outcome = std::thread::scope(|scope| {
        let threads: Vec<_> = groups
            .iter()
            .map(|(id, group)| {
                let (id, group) = (*id, &**group);
                scope.spawn(move || match (id, snapshot) {
                    (RESTORING, Some(snapshot)) => restore_loop(id, group, snapshot),
                    _ => apply_loop(id, group, checkpoint_every),
                })
            })
            .collect();
        let mut first = Ok(());
        for thread in threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(Error::Io(std::io::Error::other("a writer panicked"))));
            if first.is_ok() {
                first = result;
            }
        }
        first
    });
    drop(groups);
    drop(store);
    outcome
}

fn apply_loop(id: u64, group: &dyn Engine, checkpoint_every: u64) -> Result<()> {
    let mut index = group.applied_index()?.unwrap_or(0);
    say(id, format_args!("ready {index}"));
    let result = (|| loop {
        index += 1;
        say(id, format_args!("begin apply {index}"));
        group.apply(&batch(id, index), Some(index))?;
        say(id, format_args!("applied {index}"));
        if checkpoint_every != 0 && index.is_multiple_of(checkpoint_every) {
            say(id, format_args!("begin checkpoint {index}"));
            group.set_durable_applied_index(index)?;
            say(id, format_args!("checkpoint {index}"));
        }
    })();
    report(id, result)
}

fn restore_loop(id: u64, group: &dyn Engine, snapshot: &Path) -> Result<()> {
    let mut index = group.applied_index()?.unwrap_or(0);
    say(id, format_args!("ready {index}"));
    let result = (|| loop {
        for _ in 0..APPLIES_BETWEEN_RESTORES {
            index += 1;
            say(id, format_args!("begin apply {index}"));
            group.apply(&batch(id, index), Some(index))?;
            say(id, format_args!("applied {index}"));
        }
        say(id, format_args!("begin restore {index}"));
        let header = group.restore(&mut std::fs::File::open(snapshot)?)?;
        index = header.applied_index.unwrap_or(0);
        say(id, format_args!("restored {index}"));
    })();
    report(id, result)
}

fn report(id: u64, result: Result<()>) -> Result<()> {
    if let Err(error) = &result {
        say(
            id,
            format_args!("error kind={}: {error}", crate::support::error_kind(error)),
        );
    }
    result
}

/// The groups writer of the failed-fsync test: every group of [`GROUP_IDS`] applies
/// on its own thread (Sync) until a call fails, and prints `g<id> failed kind=<kind>`;
/// then each group tries an apply and a checkpoint (`g<id> after apply|pin kind=...`),
/// the store a sync, a creation and a close (`store sync|create|close kind=...`).
pub fn run_until_a_round_fails(backend: Backend, dir: &Path, mode: SyncMode) -> Result<()> {
    let (store, groups) = open_all(backend, dir, mode, &GROUP_IDS)?;
    let outcome = |result: Result<()>| match result {
        Ok(()) => "ok".to_owned(),
        Err(error) => format!("kind={}", crate::support::error_kind(&error)),
    };
    let give_up = AtomicBool::new(false);
    // The index each group tried last: after a failed commit LMDB fails every read too,
    // so the calls below cannot ask the group for its index.
    let tried = std::sync::Mutex::new(std::collections::BTreeMap::new());
    // Every group reads its index before any applies: a thread started late would
    // otherwise meet the failure in that read, not in a commit.
    let start = std::sync::Barrier::new(groups.len());
    std::thread::scope(|scope| {
        for (id, group) in &groups {
            let (id, group, give_up, tried, start) = (*id, &**group, &give_up, &tried, &start);
            scope.spawn(move || {
                let applied = group.applied_index().map(Option::unwrap_or_default);
                start.wait();
                let failed = |index: u64, error: &Error| {
                    tried
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(id, index);
                    say(
                        id,
                        format_args!("failed kind={}: {error}", crate::support::error_kind(error)),
                    );
                };
                let mut index = match applied {
                    Ok(index) => index,
                    Err(error) => return failed(1, &error),
                };
                say(id, format_args!("ready {index}"));
                loop {
                    index += 1;
                    if let Err(error) = group.apply(&batch(id, index), Some(index)) {
                        return failed(index, &error);
                    }
                    say(id, format_args!("applied {index}"));
                    if index > 5_000 || give_up.load(Ordering::Relaxed) {
                        give_up.store(true, Ordering::Relaxed);
                        say(id, format_args!("no write failed"));
                        return;
                    }
                }
            });
        }
    });
    let tried = tried
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (id, group) in &groups {
        let next = match group.applied_index() {
            Ok(applied) => applied.unwrap_or(0) + 1,
            Err(_) => tried.get(id).copied().unwrap_or(1),
        };
        let apply = group.apply(&batch(*id, next), Some(next)).map(drop);
        say(*id, format_args!("after apply {}", outcome(apply)));
        let pin = group.set_durable_applied_index(next).map(drop);
        say(*id, format_args!("after pin {}", outcome(pin)));
    }
    println!("store sync {}", outcome(store.sync()));
    println!("store create {}", outcome(store.create_group(12_345)));
    drop(groups);
    println!("store close {}", outcome(store.close()));
    Ok(())
}

/// What a groups writer acknowledged before it died, per group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupAcks {
    /// Whether the store's open returned.
    pub ready: bool,
    /// Each group's acknowledgements; a `restored` starts the group's afresh.
    pub groups: BTreeMap<u64, Acks>,
    /// The restoring group was inside a restore when it died.
    pub in_a_restore: bool,
    /// Restores acknowledged.
    pub restores: u64,
    /// The last store-level operation begun (`open 0`).
    pub last_begun: Option<String>,
    /// Lines that were not acknowledgements (errors the writer reported).
    pub other: Vec<String>,
}

impl GroupAcks {
    /// Parses the writer's lines.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut acks = GroupAcks::default();
        for line in lines {
            acks.record(line);
        }
        acks
    }

    /// Records one line.
    pub fn record(&mut self, line: &str) {
        let tagged = line.strip_prefix('g').and_then(|rest| {
            let (id, rest) = rest.split_once(' ')?;
            Some((id.parse::<u64>().ok()?, rest))
        });
        match tagged {
            Some((id, rest)) => {
                let acks = self.groups.entry(id).or_default();
                if let Some(index) = rest
                    .strip_prefix("restored ")
                    .and_then(|index| index.parse::<u64>().ok())
                {
                    // The restore replaced everything the group acknowledged before.
                    *acks = Acks {
                        started_at: index,
                        ready: true,
                        last_restored: Some(index),
                        ..Acks::default()
                    };
                    self.restores += 1;
                } else if rest.starts_with("failed ") || rest.starts_with("after ") {
                    acks.other.push(rest.to_owned());
                } else {
                    acks.record(rest);
                }
                if let Some(begun) = rest.strip_prefix("begin ") {
                    self.last_begun = Some(begun.to_owned());
                }
            }
            None if line == "ready 0" => self.ready = true,
            None => match line.strip_prefix("begin ") {
                Some(begun) => self.last_begun = Some(begun.to_owned()),
                None => self.other.push(line.to_owned()),
            },
        }
        if let Some(acks) = self.groups.get(&RESTORING) {
            self.in_a_restore = acks
                .last_begun
                .as_deref()
                .is_some_and(|begun| begun.starts_with("restore"));
        }
    }

    /// Forgets the errors the writer reported: after a power cut every call fails.
    pub fn forget_errors(&mut self) {
        self.other.clear();
        for acks in self.groups.values_mut() {
            acks.other.clear();
        }
    }

    /// The acknowledgements of every group as one [`Acks`]: started at, applied and
    /// checkpointed summed over the groups, `ready` when the store's open returned, and
    /// every error any group reported.
    pub fn summed(&self) -> Acks {
        let sum = |index: fn(&Acks) -> Option<u64>| {
            let values: Vec<u64> = self.groups.values().filter_map(index).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        Acks {
            started_at: self.groups.values().map(|acks| acks.started_at).sum(),
            ready: self.ready,
            last_applied: sum(|acks| acks.last_applied),
            last_checkpoint: sum(|acks| acks.last_checkpoint),
            last_restored: sum(|acks| acks.last_restored),
            last_begun: self.last_begun.clone(),
            other: self
                .other
                .iter()
                .cloned()
                .chain(self.groups.iter().flat_map(|(id, acks)| {
                    acks.other.iter().map(move |line| format!("g{id} {line}"))
                }))
                .collect(),
            ..Acks::default()
        }
    }
}

/// What the check after a kill or a cut found across the groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupsCheck {
    /// Groups checked.
    pub groups: u64,
    /// Groups whose data does not equal their model at their reopened index.
    pub torn: u64,
    /// Entries of one group that name another.
    pub cross_group: u64,
    /// Groups acknowledged as ready that the store does not hold.
    pub lost_groups: u64,
    /// Groups the store holds that the writer never made.
    pub stray_groups: u64,
    /// What the deep check of the whole store reported, when it failed.
    pub deep_check: Option<String>,
    /// The restoring group, cut in a restore, came back with the snapshot.
    pub restore_switched: bool,
    /// Each group's reopened applied index.
    pub reopened_at: BTreeMap<u64, u64>,
    /// Restores the writer acknowledged.
    pub restores: u64,
}

/// Reopens the groups store at `dir` in `reopened_in` and checks every group against
/// what a writer that ran in `written_in` acknowledged. Returns the outcome in the
/// single writer's terms (applies, checkpoints and NoSync counts summed over the
/// groups; any group's torn batch, cross-group entry, lost group or failed deep check
/// makes it `torn`, with what differs in `mismatch`) and the groups' own findings.
pub fn check_reopened(
    backend: Backend,
    dir: &Path,
    written_in: SyncMode,
    reopened_in: SyncMode,
    acks: &GroupAcks,
) -> Result<(KillOutcome, GroupsCheck)> {
    let census = FileCensus::of(dir)?;
    let store = fsmstore::open_groups(backend, dir, &Config::new(reopened_in))?;
    if store.sync_mode() != reopened_in {
        return Err(Error::Io(std::io::Error::other(format!(
            "the groups store opened in {} instead of {reopened_in}: {} is set in the checking process",
            store.sync_mode(),
            fsmstore::SYNC_MODE_ENV
        ))));
    }
    let mut check = GroupsCheck {
        restores: acks.restores,
        ..GroupsCheck::default()
    };
    let mut outcome = KillOutcome {
        acks: acks.summed(),
        census,
        ..KillOutcome::default()
    };
    let mut mismatches = Vec::new();
    let listed: Vec<u64> = store.groups()?.iter().map(|info| info.id).collect();
    for (&id, group_acks) in &acks.groups {
        if group_acks.ready && !listed.contains(&id) {
            check.lost_groups += 1;
            mismatches.push(format!("group {id} was acknowledged and is gone"));
        }
    }
    for &id in &listed {
        if !GROUP_IDS.contains(&id) && id != RESTORING {
            check.stray_groups += 1;
            mismatches.push(format!("group {id} was never made"));
            continue;
        }
        let group = store.open_group(id)?;
        let reopened_at = group.applied_index()?.unwrap_or(0);
        check.groups += 1;
        check.reopened_at.insert(id, reopened_at);
        let (mismatch, foreign) = compare(&*group, id, reopened_at)?;
        check.cross_group += foreign;
        if let Some(mismatch) = mismatch {
            check.torn += 1;
            mismatches.push(mismatch);
        }
        group.close()?;
        let Some(group_acks) = acks.groups.get(&id) else {
            continue;
        };
        // A restore cut before its acknowledgement may have switched: the group then
        // holds the snapshot, and nothing it acknowledged before is owed.
        if id == RESTORING && acks.in_a_restore && reopened_at == SNAPSHOT_AT {
            check.restore_switched = true;
            continue;
        }
        let last_applied = group_acks.last_applied.unwrap_or(group_acks.started_at);
        if written_in == SyncMode::Sync {
            outcome.lost_applies += last_applied.saturating_sub(reopened_at);
        }
        if group_acks
            .last_checkpoint
            .is_some_and(|pinned| pinned > reopened_at)
        {
            outcome.lost_checkpoint = true;
            mismatches.push(format!("group {id} lost its checkpoint"));
        }
        let floor = group_acks.durable_floor().max(group_acks.started_at);
        if group_acks
            .last_restored
            .is_some_and(|restored| restored > reopened_at)
        {
            outcome.lost_checkpoint = true;
            mismatches.push(format!("group {id} lost its restore"));
        }
        outcome.nosync_at_risk += last_applied.saturating_sub(floor);
        outcome.nosync_kept += reopened_at.min(last_applied).saturating_sub(floor);
    }
    if let Err(error) = store.verify_deep() {
        mismatches.push(format!("the deep check failed: {error}"));
        check.deep_check = Some(error.to_string());
    }
    outcome.reopened_at = check.reopened_at.values().sum();
    outcome.torn = check.torn > 0
        || check.cross_group > 0
        || check.lost_groups > 0
        || check.stray_groups > 0
        || check.deep_check.is_some();
    outcome.mismatch = (!mismatches.is_empty()).then(|| mismatches.join("; "));
    store.close()?;
    Ok((outcome, check))
}

/// What a groups kill campaign found, beyond the single writer's columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupsSummary {
    /// Groups checked, summed over the kills or cuts.
    pub groups: u64,
    /// Groups torn.
    pub torn_groups: u64,
    /// Entries of one group naming another.
    pub cross_group: u64,
    /// Groups acknowledged and gone.
    pub lost_groups: u64,
    /// Groups the writer never made.
    pub stray_groups: u64,
    /// Deep checks that failed.
    pub deep_check_failures: u64,
    /// Restores acknowledged.
    pub restores: u64,
    /// Cuts or kills in a restore after which the restoring group held the snapshot.
    pub restores_switched: u64,
}

impl GroupsSummary {
    /// Adds one check.
    pub fn add(&mut self, check: &GroupsCheck) {
        self.groups += check.groups;
        self.torn_groups += check.torn;
        self.cross_group += check.cross_group;
        self.lost_groups += check.lost_groups;
        self.stray_groups += check.stray_groups;
        self.deep_check_failures += u64::from(check.deep_check.is_some());
        self.restores += check.restores;
        self.restores_switched += u64::from(check.restore_switched);
    }
}

/// Which groups writer a kill targets.
#[derive(Clone, Copy, Debug)]
pub struct GroupsWriter<'a> {
    /// The `fsmstore-probe` binary.
    pub probe: &'a Path,
    /// The engine.
    pub backend: Backend,
    /// The store directory.
    pub dir: &'a Path,
    /// The sync mode the writer (and the check) opens with.
    pub mode: SyncMode,
    /// The snapshot the restoring group restores, if any.
    pub snapshot: Option<&'a Path>,
}

impl GroupsWriter<'_> {
    /// `fsmstore-probe groups-writer <engine> <dir> <mode> <checkpoint-every> [<snapshot>]`.
    pub(crate) fn command(&self, dir: &Path) -> std::process::Command {
        let mut command = probe_command(self.probe, "groups-writer", self.backend, dir, self.mode);
        command.arg(CHECKPOINT_EVERY.to_string());
        if let Some(snapshot) = self.snapshot {
            command.arg(snapshot);
        }
        command
    }
}

/// Starts a groups writer, SIGKILLs it `delay` after its first line, reopens the store
/// and checks every group.
pub fn kill_once(writer: GroupsWriter<'_>, delay: Duration) -> Result<(KillOutcome, GroupsCheck)> {
    let child = Watched::spawn(&mut writer.command(writer.dir))?;
    let mut acks = GroupAcks::default();
    if let Some(line) = child.lines().next() {
        acks.record(&line);
    }
    for line in child.kill_after(delay)? {
        acks.record(&line);
    }
    let (outcome, check) =
        check_reopened(writer.backend, writer.dir, writer.mode, writer.mode, &acks)?;
    Ok((outcome, check))
}

/// Kills the groups writer `kills` times, with delays drawn from `delays_ms`, on its
/// directory (and fresh siblings, one per 25 kills). Returns the single writer's summary
/// (summed over the groups), the groups' own, and the kills that broke a promise.
pub fn campaign(
    writer: GroupsWriter<'_>,
    kills: u64,
    delays_ms: (u64, u64),
    jitter: &mut Jitter,
) -> Result<(CampaignSummary, GroupsSummary, Vec<KillOutcome>)> {
    let mut summary = CampaignSummary::default();
    let mut groups = GroupsSummary::default();
    let mut broken = Vec::new();
    for kill in 0..kills {
        let dir = campaign_dir(writer.dir, kill);
        let delay = Duration::from_millis(jitter.between(delays_ms.0, delays_ms.1));
        let (outcome, check) = kill_once(
            GroupsWriter {
                dir: &dir,
                ..writer
            },
            delay,
        )?;
        summary.add(&outcome);
        groups.add(&check);
        if outcome.broke_a_promise() {
            broken.push(outcome);
        }
    }
    Ok((summary, groups, broken))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_names_its_group_and_keeps_one_cursor() {
        let state = expected(u64::MAX, 12);
        assert!(state.keys().all(|key| key.starts_with("ffffffffffffffff/")));
        assert!(
            state
                .values()
                .all(|value| value.starts_with("ffffffffffffffff:"))
        );
        let cursors: Vec<_> = state.keys().filter(|key| key.contains("/d/")).collect();
        assert_eq!(cursors.len(), 1);
        assert!(expected(0, 0).is_empty());
    }

    #[test]
    fn acks_are_kept_per_group_and_a_restore_starts_afresh() {
        let acks = GroupAcks::parse([
            "begin open 0",
            "ready 0",
            "g0 ready 3",
            "g0 applied 4",
            "g0 checkpoint 4",
            &format!("g{RESTORING} ready 0"),
            &format!("g{RESTORING} applied 9"),
            &format!("g{RESTORING} begin restore 9"),
            &format!("g{RESTORING} restored {SNAPSHOT_AT}"),
            &format!("g{RESTORING} begin restore 46"),
            "g1 error kind=io: disk",
        ]);
        assert!(acks.ready);
        assert_eq!(acks.groups[&0].last_checkpoint, Some(4));
        assert_eq!(acks.groups[&RESTORING].last_applied, None);
        assert_eq!(acks.groups[&RESTORING].last_restored, Some(SNAPSHOT_AT));
        assert!(acks.in_a_restore);
        assert_eq!(acks.restores, 1);
        assert_eq!(
            acks.summed().other,
            vec!["g1 error kind=io: disk".to_owned()]
        );
    }
}
