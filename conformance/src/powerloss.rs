//! Power-loss durability: the kill campaign's writer runs on the power-cut filesystem,
//! the power goes out, and the store is reopened from what the disk kept.
//!
//! A kill keeps the OS page cache, so it can never reveal a missing fsync. Here the
//! writer runs on a `powercut` mount, which keeps what was fsynced apart from what was
//! only written. At a cut (after the N-th fsync, on the rename of a marker, or at a
//! random time) every later operation fails, the writer is killed, and the disk as it
//! would be after the power came back is written out as a plain directory. The store
//! is reopened from that directory, without FUSE, and checked like after a kill
//! ([`check_reopened`]), plus:
//! - a store whose first open returned must exist: a new store is durable once `open`
//!   returns;
//! - a store that cannot be reopened must fail with a typed error that names the damage
//!   ([`Error::Corruption`]), never open empty;
//! - an acknowledged restore is not lost.
//!
//! Every mount starts empty, so a cut can land in the store's creation, in applies,
//! checkpoints, writes, closes and reopens, or in a restore's switch of generations.
//!
//! Two variations: the large history ([`Scenario::LargeWriter`]), cut in or after a
//! close that followed more than 64 MB of writing and a wipe; and a
//! reopen in the other sync mode than the writer's ([`Cut::reopen_mode`]), which must
//! open and keep everything the writer's mode promised.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fsmstore::{Backend, Error, SyncMode};
use powercut::{DataMode, MetaMode, OpKind, Options, PowerCut, Trigger};

use crate::crash::{
    Acks, FileCensus, History, Jitter, KillOutcome, Reopen, WriterPlan, check_reopened,
    export_model, large,
};
use crate::group_crash::{self, GroupAcks, GroupsCheck, GroupsSummary, GroupsWriter};

/// The store's directory name inside a mount (and inside the image of the disk).
const STORE: &str = "store";

/// How long a writer may run before the power goes out anyway.
const LONGEST_RUN: Duration = Duration::from_secs(3);

/// How long a writer of the large history may take to reach its cut.
const LONGEST_LARGE_RUN: Duration = Duration::from_secs(600);

/// What a writer on the mount does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The kill campaign's writer with this plan.
    Writer(WriterPlan),
    /// Applies `before` batches, restores a snapshot of the model at `snapshot_at`,
    /// then applies on.
    Restore {
        /// Batches applied before the restore.
        before: u64,
        /// The applied index of the snapshot restored.
        snapshot_at: u64,
    },
    /// The groups writer ([`crate::group_crash`]): every group of
    /// [`GROUP_IDS`](crate::group_crash::GROUP_IDS) applying and checkpointing on its own
    /// thread, and with `restoring` one more group restoring a snapshot again and again.
    Groups {
        /// Whether one group restores.
        restoring: bool,
    },
    /// The writer of the large history ([`WriterPlan::LARGE`]), cut once it has
    /// acknowledged an apply drawn from `cut_after` (inclusive): the power goes out
    /// wherever the writer is when the parent sees that acknowledgement.
    LargeWriter {
        /// The lowest and highest acknowledged apply to cut at.
        cut_after: (u64, u64),
    },
}

impl Scenario {
    /// The writer plans and the restore the campaigns cycle through.
    pub const ALL: [Scenario; 4] = [
        Scenario::Writer(WriterPlan::MIXED),
        Scenario::Writer(WriterPlan::CHECKPOINT_HEAVY),
        Scenario::Writer(WriterPlan::CLOSE_HEAVY),
        Scenario::Restore {
            before: 5,
            snapshot_at: 40,
        },
    ];

    /// The large campaign's cuts: one in four as the writer acknowledges the apply
    /// before its second close (the cut lands in the close, whose flushes take a
    /// while), the others at an apply in the half of [`large::CLOSE_EVERY`] after it.
    /// The second close, because it is the first after which an engine with
    /// compaction thresholds (such as four tables before a merge) has reached them.
    pub const LARGE: [Scenario; 4] = [
        Scenario::LargeWriter {
            cut_after: (2 * large::CLOSE_EVERY, 2 * large::CLOSE_EVERY),
        },
        Scenario::LargeWriter {
            cut_after: (2 * large::CLOSE_EVERY + 1, large::CLOSE_EVERY * 5 / 2),
        },
        Scenario::LargeWriter {
            cut_after: (2 * large::CLOSE_EVERY + 1, large::CLOSE_EVERY * 5 / 2),
        },
        Scenario::LargeWriter {
            cut_after: (2 * large::CLOSE_EVERY + 1, large::CLOSE_EVERY * 5 / 2),
        },
    ];

    /// The cuts of a campaign that reopens in the other sync mode: the small
    /// scenarios, and a short run of the large history, whose unsynced tail (up to
    /// 15 applies of 240 KiB since a checkpoint) spans many pages, so that a cut that
    /// keeps a random half of them leaves holes in the engine's log.
    pub const MODE_MATRIX: [Scenario; 5] = [
        Scenario::Writer(WriterPlan::MIXED),
        Scenario::Writer(WriterPlan::CHECKPOINT_HEAVY),
        Scenario::Writer(WriterPlan::CLOSE_HEAVY),
        Scenario::Restore {
            before: 5,
            snapshot_at: 40,
        },
        Scenario::LargeWriter {
            cut_after: (20, 60),
        },
    ];

    /// The groups campaign's cuts: the groups writer, without and with a restoring
    /// group.
    pub const GROUPS: [Scenario; 2] = [
        Scenario::Groups { restoring: false },
        Scenario::Groups { restoring: true },
    ];

    fn history(self) -> History {
        match self {
            Scenario::LargeWriter { .. } => History::Large,
            Scenario::Writer(plan) => plan.history,
            Scenario::Restore { .. } | Scenario::Groups { .. } => History::Small,
        }
    }

    /// The name of the snapshot file the scenario's writer restores, if it restores.
    fn snapshot_file(self) -> Option<&'static str> {
        match self {
            Scenario::Restore { .. } => Some("snapshot.bin"),
            Scenario::Groups { restoring: true } => Some("groups-snapshot.bin"),
            _ => None,
        }
    }
}

/// One power cut: where, how, and the disk model.
#[derive(Clone, Debug)]
pub struct Cut {
    /// The engine.
    pub backend: Backend,
    /// The sync mode the writer opens with.
    pub mode: SyncMode,
    /// The sync mode the store is reopened in after the cut.
    pub reopen_mode: SyncMode,
    /// When directory entries become durable.
    pub meta: MetaMode,
    /// What the cut does to unsynced pages.
    pub data: DataMode,
    /// What cuts the power (besides the parent, for a [`Scenario::LargeWriter`]).
    pub trigger: Trigger,
    /// The seed of the filesystem's random choices.
    pub seed: u64,
    /// What the writer does.
    pub scenario: Scenario,
    /// The acknowledged apply at which the parent cuts the power, if any.
    pub cut_after: Option<u64>,
}

/// What one power cut did to the store.
#[derive(Debug)]
pub struct CutOutcome {
    /// The cut.
    pub cut: Cut,
    /// Why the power went out.
    pub reason: String,
    /// The check after reopening, when the store reopened.
    pub after: Option<KillOutcome>,
    /// The store's first open had returned, yet the disk holds no store.
    pub lost_store: bool,
    /// The store did not reopen: the error, typed.
    pub unopenable: Option<Error>,
    /// The writer failed before the power went out: what it said.
    pub failed_before_cut: Option<String>,
    /// An acknowledged restore is not in the reopened store.
    pub lost_restore: bool,
    /// What the check of a groups writer's store found per group.
    pub groups: Option<GroupsCheck>,
}

impl CutOutcome {
    /// Where the cut landed: the operation the writer had begun and not finished.
    pub fn phase(&self) -> String {
        self.after
            .as_ref()
            .map(|after| &after.acks)
            .and_then(|acks| acks.last_begun.clone())
            .unwrap_or_else(|| "open 0".to_owned())
            .split(' ')
            .next()
            .unwrap_or("open")
            .to_owned()
    }

    /// Whether the cut broke a promise. A store whose creation was never acknowledged may
    /// fail to reopen with a typed error naming the damage; any other failure to reopen
    /// breaks a promise.
    pub fn broke_a_promise(&self) -> bool {
        let after = self.after.as_ref().is_some_and(|after| {
            after.torn
                || after.lost_applies > 0
                || after.lost_checkpoint
                || after.lost_writes > 0
                || after.lost_close
        });
        after
            || self.lost_store
            || self.lost_restore
            || self.failed_before_cut.is_some()
            || self.unopenable.as_ref().is_some_and(|error| {
                // A store that was acknowledged as created must reopen: failing to is
                // losing everything in it, however well the error names the damage.
                !matches!(error, Error::Corruption(_)) || self.acknowledged_open()
            })
    }

    fn acknowledged_open(&self) -> bool {
        self.after.as_ref().is_some_and(|after| after.acks.ready)
    }
}

impl std::fmt::Display for CutOutcome {
    /// One paragraph: the cut, where it landed, and what broke.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = &self.cut;
        write!(
            f,
            "{} {} (reopened {}) on a {} disk, data {}, seed {}, {:?}, {:?}, cut after {:?}: cut by {} in `{}`",
            cut.backend,
            cut.mode,
            cut.reopen_mode,
            cut.meta,
            cut.data,
            cut.seed,
            cut.trigger,
            cut.scenario,
            cut.cut_after,
            self.reason,
            self.after
                .as_ref()
                .and_then(|after| after.acks.last_begun.as_deref())
                .unwrap_or("open 0"),
        )?;
        if let Some(after) = &self.after {
            let acks = &after.acks;
            write!(
                f,
                "; acknowledged: ready {}, applied {:?}, checkpoint {:?}, closed {:?}, restored {:?}, {} writes (last {:?}); reopened at {}",
                acks.ready,
                acks.last_applied,
                acks.last_checkpoint,
                acks.last_closed,
                acks.last_restored,
                acks.writes.len(),
                acks.writes.last(),
                after.reopened_at,
            )?;
            if let Some(mismatch) = &after.mismatch {
                write!(f, "; {mismatch}")?;
            }
            write!(f, "; files on the disk: {}", after.census)?;
            for (broken, what) in [
                (after.torn, "torn"),
                (after.lost_applies > 0, "lost applies"),
                (after.lost_checkpoint, "lost checkpoint"),
                (after.lost_writes > 0, "lost writes"),
                (after.lost_close, "lost close"),
            ] {
                if broken {
                    write!(f, "; {what}")?;
                }
            }
        }
        if self.lost_store {
            write!(f, "; lost the store")?;
        }
        if self.lost_restore {
            write!(f, "; lost the restore")?;
        }
        if let Some(error) = &self.unopenable {
            write!(f, "; does not reopen: {error}")?;
        }
        if let Some(said) = &self.failed_before_cut {
            write!(f, "; the writer failed before the cut: {said}")?;
        }
        Ok(())
    }
}

/// Runs `cut` once in `workdir` (which must exist): mount, write, cut, reopen, check.
pub fn cut_once(probe: &Path, workdir: &Path, cut: Cut) -> std::io::Result<CutOutcome> {
    let mountpoint = workdir.join("mnt");
    let image = workdir.join("disk");
    let _ = std::fs::remove_dir_all(&image);
    let snapshot = workdir.join(cut.scenario.snapshot_file().unwrap_or("snapshot.bin"));
    match cut.scenario {
        Scenario::Restore { snapshot_at, .. } if !snapshot.exists() => {
            export_model(cut.backend, &workdir.join("model"), snapshot_at, &snapshot)
                .map_err(std::io::Error::other)?;
        }
        Scenario::Groups { restoring: true } if !snapshot.exists() => {
            group_crash::export_snapshot(cut.backend, &workdir.join("model"), &snapshot)
                .map_err(std::io::Error::other)?;
        }
        _ => {}
    }
    let options = Options {
        meta: cut.meta,
        data: cut.data,
        seed: cut.seed,
        trigger: cut.trigger.clone(),
        ..Options::default()
    };
    let mount = PowerCut::mount(&mountpoint, options).map_err(std::io::Error::other)?;
    let dir = mount.path().join(STORE);
    let mut command = match cut.scenario {
        Scenario::Writer(plan) => {
            let mut command =
                crate::crash::probe_command(probe, "writer", cut.backend, &dir, cut.mode);
            command.args(plan.args());
            command
        }
        Scenario::LargeWriter { .. } => {
            let mut command =
                crate::crash::probe_command(probe, "writer", cut.backend, &dir, cut.mode);
            command.args(WriterPlan::LARGE.args());
            command
        }
        Scenario::Restore { before, .. } => {
            let mut command =
                crate::crash::probe_command(probe, "restorer", cut.backend, &dir, cut.mode);
            command.arg(&snapshot).arg(before.to_string());
            command
        }
        Scenario::Groups { restoring } => GroupsWriter {
            probe,
            backend: cut.backend,
            dir: &dir,
            mode: cut.mode,
            snapshot: restoring.then_some(&*snapshot),
        }
        .command(&dir),
    };
    let (mut child, stdout) =
        crate::crash::spawn_child(&mut command).map_err(std::io::Error::other)?;
    let applied = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let applied = std::sync::Arc::clone(&applied);
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if let Some(index) = line
                    .strip_prefix("applied ")
                    .and_then(|index| index.parse().ok())
                {
                    applied.store(index, std::sync::atomic::Ordering::Relaxed);
                }
                lines.push(line);
            }
            lines
        })
    };
    let longest = match cut.scenario {
        Scenario::LargeWriter { .. } => LONGEST_LARGE_RUN,
        _ => LONGEST_RUN,
    };
    let started = Instant::now();
    let mut exited_before_cut = false;
    while !mount.is_cut() {
        if child.try_wait()?.is_some() {
            exited_before_cut = !mount.is_cut();
            break;
        }
        if started.elapsed() > longest
            || cut
                .cut_after
                .is_some_and(|index| applied.load(std::sync::atomic::Ordering::Relaxed) >= index)
        {
            mount.cut_now();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let reason = mount.cut_reason().unwrap_or_else(|| "finish".to_owned());
    // SIGKILL: after the cut the writer can only fail; nothing it does reaches the disk.
    let _ = child.kill();
    let _ = child.wait();
    mount.finish(&image).map_err(std::io::Error::other)?;
    let lines = reader.join().unwrap_or_default();
    if let Scenario::Groups { .. } = cut.scenario {
        let mut acks = GroupAcks::parse(lines.iter().map(String::as_str));
        let failed_before_cut = exited_before_cut.then(|| acks.summed().other.join(" | "));
        // After the cut every operation fails: the writer's errors are expected.
        acks.forget_errors();
        return check_groups_image(&image.join(STORE), cut, reason, acks, failed_before_cut);
    }
    let mut acks = Acks::default();
    for line in &lines {
        acks.record(line);
    }
    let failed_before_cut = exited_before_cut.then(|| acks.other.join(" | "));
    // After the cut every operation fails: the writer's errors are expected.
    acks.other.clear();
    check_image(&image.join(STORE), cut, reason, acks, failed_before_cut)
}

/// Reopens the groups store the disk kept and checks every group against what the
/// groups writer acknowledged.
fn check_groups_image(
    dir: &Path,
    cut: Cut,
    reason: String,
    acks: GroupAcks,
    failed_before_cut: Option<String>,
) -> std::io::Result<CutOutcome> {
    let summed = acks.summed();
    check_kept(
        dir,
        cut,
        reason,
        summed,
        failed_before_cut,
        |cut, outcome| {
            let (after, check) =
                group_crash::check_reopened(cut.backend, dir, cut.mode, cut.reopen_mode, &acks)?;
            outcome.groups = Some(check);
            Ok(after)
        },
    )
}

/// Reopens the store the disk kept and checks it against what the writer acknowledged.
fn check_image(
    dir: &Path,
    cut: Cut,
    reason: String,
    acks: Acks,
    failed_before_cut: Option<String>,
) -> std::io::Result<CutOutcome> {
    let kept = acks.clone();
    check_kept(dir, cut, reason, acks, failed_before_cut, |cut, outcome| {
        let last_restored = kept.last_restored;
        let reopen = Reopen {
            backend: cut.backend,
            dir,
            written_in: cut.mode,
            reopened_in: cut.reopen_mode,
            history: cut.scenario.history(),
        };
        let after = check_reopened(reopen, kept)?;
        outcome.lost_restore = last_restored.is_some_and(|index| index > after.reopened_at);
        Ok(after)
    })
}

/// The outcome of `cut`: when the disk kept a store at `dir`, what `check` found on
/// reopening it (`check` may fill in more of the outcome); `acks`, the writer's
/// acknowledgements, stand in for a check when the disk kept no store (lost if its open
/// had returned) or the store did not reopen.
fn check_kept(
    dir: &Path,
    cut: Cut,
    reason: String,
    acks: Acks,
    failed_before_cut: Option<String>,
    check: impl FnOnce(&Cut, &mut CutOutcome) -> fsmstore::Result<KillOutcome>,
) -> std::io::Result<CutOutcome> {
    let mut outcome = CutOutcome {
        cut: cut.clone(),
        reason,
        after: None,
        lost_store: false,
        unopenable: None,
        failed_before_cut,
        lost_restore: false,
        groups: None,
    };
    if !dir.join(fsmstore::backend::MARKER_FILE).exists() {
        // No marker: the store was never durably created. Fine unless `open` returned.
        outcome.lost_store = acks.ready;
        outcome.after = Some(KillOutcome {
            acks,
            ..KillOutcome::default()
        });
        return Ok(outcome);
    }
    let census = FileCensus::of(dir)?;
    match check(&cut, &mut outcome) {
        Ok(after) => outcome.after = Some(after),
        Err(error) => {
            outcome.after = Some(KillOutcome {
                acks,
                census,
                ..KillOutcome::default()
            });
            outcome.unopenable = Some(error);
        }
    }
    Ok(outcome)
}

/// The sum of many cuts of one engine, sync mode and metadata mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PowerSummary {
    /// Cuts performed.
    pub cuts: u64,
    /// Cuts by where they landed (`open`, `apply`, `checkpoint`, `write`, `close`,
    /// `restore`).
    pub phases: std::collections::BTreeMap<String, u64>,
    /// Cuts after which the data did not match the model at the reopened index.
    pub torn: u64,
    /// Acknowledged Sync applies lost, summed.
    pub lost_applies: u64,
    /// Acknowledged writes lost.
    pub lost_writes: u64,
    /// Acknowledged checkpoints lost.
    pub lost_checkpoints: u64,
    /// Acknowledged closes lost.
    pub lost_closes: u64,
    /// Acknowledged restores lost.
    pub lost_restores: u64,
    /// Stores whose first open returned but which the disk did not keep.
    pub lost_stores: u64,
    /// Stores that did not reopen, with a typed `Corruption` error.
    pub unopenable_typed: u64,
    /// Stores that did not reopen with any other error.
    pub unopenable_other: u64,
    /// Writers that failed before the cut.
    pub failed_before_cut: u64,
    /// NoSync applies past the durable floor, summed.
    pub nosync_at_risk: u64,
    /// Of those, kept after the cut.
    pub nosync_kept: u64,
    /// Cuts that came after the writer closed the store past
    /// [`large::THRESHOLD_BYTES`] of large values (large history only).
    pub past_a_large_close: u64,
    /// Bytes of large values the writers' acknowledged applies wrote, summed.
    pub large_bytes: u64,
    /// The most files of each kind a cut left on the disk.
    pub files_seen: FileCensus,
    /// What the cuts of the groups writer found per group.
    pub groups: GroupsSummary,
}

impl PowerSummary {
    /// Adds one cut.
    pub fn add(&mut self, outcome: &CutOutcome) {
        self.cuts += 1;
        *self.phases.entry(outcome.phase()).or_default() += 1;
        if let Some(after) = &outcome.after {
            self.torn += u64::from(after.torn);
            self.lost_applies += after.lost_applies;
            self.lost_writes += after.lost_writes;
            self.lost_checkpoints += u64::from(after.lost_checkpoint);
            self.lost_closes += u64::from(after.lost_close);
            self.nosync_at_risk += after.nosync_at_risk;
            self.nosync_kept += after.nosync_kept;
            self.past_a_large_close += u64::from(after.past_a_large_close);
            self.large_bytes += after.large_bytes;
            self.files_seen.most(&after.census);
        }
        self.lost_restores += u64::from(outcome.lost_restore);
        self.lost_stores += u64::from(outcome.lost_store);
        match &outcome.unopenable {
            Some(Error::Corruption(_)) => self.unopenable_typed += 1,
            Some(_) => self.unopenable_other += 1,
            None => {}
        }
        self.failed_before_cut += u64::from(outcome.failed_before_cut.is_some());
        if let Some(check) = &outcome.groups {
            self.groups.add(check);
        }
    }

    /// Percentage of at-risk NoSync applies kept, or `None` when none were at risk.
    pub fn nosync_kept_percent(&self) -> Option<f64> {
        (self.nosync_at_risk > 0)
            .then(|| 100.0 * self.nosync_kept as f64 / self.nosync_at_risk as f64)
    }
}

/// The filesystem's metadata mode for a campaign's `--meta`.
pub fn meta_mode(meta: campaign_args::Meta) -> MetaMode {
    match meta {
        campaign_args::Meta::Posix => MetaMode::Posix,
        campaign_args::Meta::Journal => MetaMode::Journal,
    }
}

/// The filesystem's data mode for a campaign's `--data`.
pub fn data_mode(data: campaign_args::Data) -> DataMode {
    match data {
        campaign_args::Data::Drop => DataMode::DropUnsynced,
        campaign_args::Data::KeepRandom => DataMode::KeepRandom,
        campaign_args::Data::Tear => DataMode::TearLast,
    }
}

/// What a campaign varies.
#[derive(Clone, Copy, Debug)]
pub struct Campaign<'a> {
    /// The `fsmstore-probe` binary.
    pub probe: &'a Path,
    /// The engine.
    pub backend: Backend,
    /// The sync mode.
    pub mode: SyncMode,
    /// The metadata mode.
    pub meta: MetaMode,
    /// Cuts to make.
    pub cuts: u64,
    /// A directory for mounts and images.
    pub workdir: &'a Path,
    /// One data mode for every cut, or `None` to cycle through all three.
    pub data: Option<DataMode>,
    /// The sync mode the store is reopened in after each cut: the writer's own when
    /// `None`.
    pub reopen_mode: Option<SyncMode>,
    /// The writers to cut, in turn: [`Scenario::ALL`] for the regular campaign.
    pub scenarios: &'a [Scenario],
}

/// Cuts `campaign.cuts` times, cycling through the scenarios and (independently) the
/// data modes, with
/// triggers drawn from `jitter`: after the N-th fsync (N up to 80: the creation and
/// the first few dozen applies), on the rename of a marker (a creation's or a
/// restore's switch), or at a random time in the first second and a half. A
/// [`Scenario::LargeWriter`] is cut by the parent instead, at an acknowledged apply
/// drawn from its range.
pub fn campaign(
    campaign: Campaign<'_>,
    jitter: &mut Jitter,
) -> std::io::Result<(PowerSummary, Vec<CutOutcome>)> {
    let mut summary = PowerSummary::default();
    let mut broken = Vec::new();
    let creation = creation_fsyncs(&campaign)?;
    let data_modes = [
        DataMode::DropUnsynced,
        DataMode::KeepRandom,
        DataMode::TearLast,
    ];
    let scenarios = campaign.scenarios;
    if scenarios.is_empty() {
        return Err(std::io::Error::other(
            "a campaign needs at least one scenario",
        ));
    }
    for number in 0..campaign.cuts {
        let scenario = scenarios[(number % scenarios.len() as u64) as usize];
        let seed = jitter.between(0, u64::MAX);
        let trigger = match jitter.between(0, 20) {
            0..=3 => Trigger::AfterFsyncs(jitter.between(1, creation + 1)),
            4..=10 => Trigger::AfterFsyncs(creation + jitter.between(1, 80)),
            11..=13 => Trigger::OnOp {
                op: OpKind::Rename,
                name_contains: format!("/{}", fsmstore::backend::MARKER_FILE),
            },
            _ => Trigger::AfterTime(Duration::from_millis(jitter.between(0, 1500))),
        };
        let (trigger, cut_after) = match scenario {
            // Only the parent cuts: after the acknowledgement, wherever the writer is.
            Scenario::LargeWriter {
                cut_after: (low, high),
            } => (Trigger::Manual, Some(jitter.between(low, high + 1))),
            _ => (trigger, None),
        };
        let cut = Cut {
            backend: campaign.backend,
            mode: campaign.mode,
            reopen_mode: campaign.reopen_mode.unwrap_or(campaign.mode),
            meta: campaign.meta,
            data: campaign.data.unwrap_or(data_modes[(number % 3) as usize]),
            trigger,
            seed,
            scenario,
            cut_after,
        };
        let workdir: PathBuf = campaign.workdir.join(format!("cut-{number}"));
        std::fs::create_dir_all(&workdir)?;
        // A restore's snapshot is made once per campaign and shared.
        let shared_snapshot = scenario
            .snapshot_file()
            .map(|name| (campaign.workdir.join(name), workdir.join(name)));
        if let Some((shared, own)) = &shared_snapshot
            && shared.exists()
        {
            std::fs::copy(shared, own)?;
        }
        let outcome = cut_once(campaign.probe, &workdir, cut)?;
        if let Some((shared, own)) = &shared_snapshot
            && !shared.exists()
        {
            std::fs::copy(own, shared)?;
        }
        summary.add(&outcome);
        if outcome.broke_a_promise() {
            broken.push(outcome);
        } else {
            let _ = std::fs::remove_dir_all(&workdir);
        }
    }
    Ok((summary, broken))
}

/// How many fsyncs creating (and closing) a store of the campaign's engine takes on the
/// power-cut filesystem: where the cuts after the N-th fsync start to land in applies.
fn creation_fsyncs(campaign: &Campaign<'_>) -> std::io::Result<u64> {
    let mountpoint = campaign.workdir.join("count");
    let mount = PowerCut::mount(&mountpoint, Options::default()).map_err(std::io::Error::other)?;
    let status = crate::crash::probe_command(
        campaign.probe,
        "open",
        campaign.backend,
        &mount.path().join(STORE),
        campaign.mode,
    )
    .stdout(std::process::Stdio::null())
    .status()?;
    if !status.success() {
        return Err(std::io::Error::other(
            "the probe could not create a store on the power-cut filesystem",
        ));
    }
    let fsyncs = mount.fsyncs();
    drop(mount);
    Ok(fsyncs)
}

/// Whether power-cut tests can run here: `Ok`, or why not. Under `CI=true` a machine
/// that cannot mount is a failure, not a reason to skip.
pub fn available() -> Result<(), String> {
    powercut::availability()
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// The filesystem prints its modes in the campaign's table; they must read as the
    /// flag values that select them.
    #[test]
    fn every_mode_flag_names_the_mode_it_selects() {
        for meta in campaign_args::Meta::value_variants() {
            let flag = meta.to_possible_value().expect("a visible value");
            assert_eq!(meta_mode(*meta).to_string(), flag.get_name());
        }
        for data in campaign_args::Data::value_variants() {
            let flag = data.to_possible_value().expect("a visible value");
            assert_eq!(data_mode(*data).to_string(), flag.get_name());
        }
    }
}
