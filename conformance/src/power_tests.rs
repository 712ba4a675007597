//! Power-loss bodies: the kill campaign's writer on the power-cut filesystem (see
//! [`crate::powerloss`]); durable engines only, Linux only.

use fsmstore::SyncMode;
use powercut::{DataMode, MetaMode};

use crate::Harness;
use crate::crash::Jitter;
use crate::powerloss::{PowerSummary, Scenario};

/// Cuts per body in the regular suite: one per scenario of the power-loss campaign.
const POWER_CUTS: u64 = crate::powerloss::Scenario::ALL.len() as u64;

fn power_cuts(h: &Harness, mode: SyncMode, meta: MetaMode) {
    let (summary, _) = cut_scenarios(h, mode, None, meta, None, &Scenario::ALL);
    assert_eq!(summary.cuts, POWER_CUTS);
}

/// Cuts once per scenario, and fails on any cut that broke a promise. Returns the
/// summary and whether the cuts ran (not where FUSE cannot be mounted).
fn cut_scenarios(
    h: &Harness,
    mode: SyncMode,
    reopen_mode: Option<SyncMode>,
    meta: MetaMode,
    data: Option<DataMode>,
    scenarios: &[Scenario],
) -> (PowerSummary, bool) {
    use crate::powerloss::{Campaign, campaign};
    if !can_mount() {
        return (
            PowerSummary {
                cuts: scenarios.len() as u64,
                ..PowerSummary::default()
            },
            false,
        );
    }
    let mut jitter = Jitter::from_clock();
    let workdir = h.scratch(&format!("power-{mode}-{meta}"));
    std::fs::create_dir_all(&workdir).expect("create the work directory");
    let (summary, broken) = campaign(
        Campaign {
            probe: h.probe(),
            backend: h.backend(),
            mode,
            meta,
            cuts: scenarios.len() as u64,
            workdir: &workdir,
            data,
            reopen_mode,
            scenarios,
        },
        &mut jitter,
    )
    .expect("run the power-cut campaign");
    let broken: Vec<String> = broken.iter().map(ToString::to_string).collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    (summary, true)
}

/// Power cuts on a disk that keeps a new directory entry only after an fsync of its
/// directory (POSIX) break no promise of a Sync store: no torn batch, no lost
/// acknowledged apply, write, checkpoint, close, restore or store creation.
pub fn power_cuts_on_a_posix_disk_lose_nothing_a_sync_store_acknowledged(h: &Harness) {
    power_cuts(h, SyncMode::Sync, MetaMode::Posix);
}

/// The same on a journaling disk (any fsync commits every earlier namespace change).
pub fn power_cuts_on_a_journaling_disk_lose_nothing_a_sync_store_acknowledged(h: &Harness) {
    power_cuts(h, SyncMode::Sync, MetaMode::Journal);
}

/// Power cuts on a POSIX disk never tear a NoSync batch, and lose no checkpoint, write,
/// close, restore or store creation.
pub fn power_cuts_on_a_posix_disk_lose_no_checkpoint_of_a_nosync_store(h: &Harness) {
    power_cuts(h, SyncMode::NoSync, MetaMode::Posix);
}

/// The same on a journaling disk.
pub fn power_cuts_on_a_journaling_disk_lose_no_checkpoint_of_a_nosync_store(h: &Harness) {
    power_cuts(h, SyncMode::NoSync, MetaMode::Journal);
}

/// After an fsync fails (the disk drops the pages it could not write, as Linux does), the
/// store refuses every write, pin, sync, restore and the close's sync with `Stopped`
/// until it is reopened; and the disk keeps every apply acknowledged before the failure.
pub fn a_failed_fsync_stops_the_store_until_it_is_reopened(h: &Harness) {
    use fsmstore::Config;
    use powercut::{Options, PowerCut};

    use crate::crash::{actual_state, expected_state};

    if !can_mount() {
        return;
    }
    let mode = SyncMode::Sync;
    // How many fsyncs creating a store takes, so the failure lands in an apply.
    let created_after = {
        let mount = PowerCut::mount(&h.scratch("count"), Options::default()).expect("mount");
        let output = probe(h, "open", &mount.path().join("store"), mode);
        assert!(output.starts_with("opened"), "{output}");
        mount.fsyncs()
    };
    let mount = PowerCut::mount(
        &h.scratch("failing"),
        Options {
            fail_fsync: Some(created_after + 3),
            ..Options::default()
        },
    )
    .expect("mount");
    let output = probe(h, "failstop", &mount.path().join("store"), mode);
    let said = |what: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(what).map(str::trim))
            .unwrap_or_else(|| panic!("the probe did not report `{what}`: {output}"))
            .to_owned()
    };
    let acknowledged: u64 = output
        .lines()
        .filter_map(|line| line.strip_prefix("acknowledged "))
        .filter_map(|index| index.parse().ok())
        .next_back()
        .unwrap_or(0);
    let failed = said("failed ");
    assert!(
        !failed.starts_with("kind=stopped"),
        "the first failure is the engine's own: {failed}"
    );
    for what in ["apply ", "write ", "pin ", "sync ", "restore ", "close "] {
        assert_eq!(
            said(what),
            "kind=stopped",
            "{what}after a failed fsync: {output}"
        );
    }
    // Reads go on where the engine allows it; LMDB fails every transaction of an
    // environment after a failed commit, so only the report is checked.
    said("read ");
    let image = h.scratch("disk");
    mount.finish(&image).expect("write the disk image");
    let store = h
        .try_open_at(&image.join("store"), &Config::new(mode))
        .expect("the disk reopens");
    let reopened_at = store.applied_index().expect("read").unwrap_or(0);
    assert!(
        reopened_at >= acknowledged,
        "acknowledged apply {acknowledged} lost: the disk holds {reopened_at}"
    );
    assert_eq!(
        actual_state(&*store).expect("read"),
        expected_state(reopened_at),
        "the data does not match the model at the reopened index"
    );
}

/// Whether the power-cut filesystem mounts here; outside CI a machine that cannot mount
/// skips the body and says so.
fn can_mount() -> bool {
    match crate::powerloss::available() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "power-cut tests must run in CI, but this machine cannot mount FUSE: {why}"
            );
            eprintln!("skipped: cannot mount the power-cut filesystem here: {why}");
            false
        }
    }
}

/// Runs one probe task on `dir` and returns what it printed.
fn probe(h: &Harness, task: &str, dir: &std::path::Path, mode: SyncMode) -> String {
    let output = std::process::Command::new(h.probe())
        .args([task, h.backend().name()])
        .arg(dir)
        .arg(mode.as_str())
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .output()
        .expect("run the probe");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Power cuts in the large history (48 KiB values, earlier rounds deleted by key, range
/// and prefix, a close and reopen once more than 64 MB were written since the open),
/// one as the writer starts its close and one past it, in each sync mode: no torn
/// batch (a key deleted before the close stays deleted), and nothing lost that the
/// writer's mode promised.
pub fn power_cuts_in_a_large_history_around_a_close_lose_nothing_acknowledged(h: &Harness) {
    let in_the_close = [Scenario::LARGE[0]];
    let past_the_close = [Scenario::LARGE[1]];
    for (mode, meta, data, scenarios, past_a_close) in [
        (
            SyncMode::Sync,
            MetaMode::Posix,
            DataMode::DropUnsynced,
            &in_the_close,
            None,
        ),
        (
            SyncMode::NoSync,
            MetaMode::Journal,
            DataMode::KeepRandom,
            &past_the_close,
            Some(1),
        ),
    ] {
        let (summary, ran) = cut_scenarios(h, mode, None, meta, Some(data), scenarios);
        if !ran {
            return;
        }
        eprintln!(
            "{} {mode}: cut in {:?} after {:.1} MB of large values; files on the disk: {}",
            h.backend(),
            summary.phases,
            summary.large_bytes as f64 / 1e6,
            summary.files_seen,
        );
        assert!(
            summary.large_bytes > crate::crash::large::THRESHOLD_BYTES,
            "the writer was cut before it wrote 64 MB: the cut did not test what it should"
        );
        // A quick close may finish before the cut meant for it: only the cut past the
        // close is sure to come after one.
        if let Some(past_a_close) = past_a_close {
            assert_eq!(
                summary.past_a_large_close, past_a_close,
                "the cut meant to land after the close did not: {:?}",
                summary.phases
            );
        }
    }
}

/// A store written in Sync mode and reopened in NoSync mode after a power cut (every
/// writer plan, a restore, and a short run of large values) opens, holds exactly the
/// model's data at its index, and keeps every acknowledged apply, write, checkpoint,
/// close and restore.
pub fn a_sync_store_cut_and_reopened_in_nosync_mode_keeps_everything_acknowledged(h: &Harness) {
    cut_scenarios(
        h,
        SyncMode::Sync,
        Some(SyncMode::NoSync),
        MetaMode::Posix,
        None,
        // The small scenarios only: a Sync writer's log has no holes to show, and
        // RocksDB's strict recovery refuses a WAL whose last, unsynced record of many
        // pages a cut kept only in part (a known limit, in the README).
        &Scenario::MODE_MATRIX[..4],
    );
}

/// A store written in NoSync mode and reopened in Sync mode after a power cut that kept
/// a random half of the unsynced pages (holes in the engine's log) opens, holds
/// exactly the model's data at its index, and keeps every acknowledged write,
/// checkpoint, close and restore.
pub fn a_nosync_store_cut_and_reopened_in_sync_mode_opens_and_keeps_every_checkpoint(h: &Harness) {
    cut_scenarios(
        h,
        SyncMode::NoSync,
        Some(SyncMode::Sync),
        MetaMode::Journal,
        Some(DataMode::KeepRandom),
        &Scenario::MODE_MATRIX,
    );
}

/// Power cuts under the groups writer (every group of a groups store applying and
/// checkpointing on its own thread, their commits sharing fsyncs; every other cut with
/// one more group restoring a snapshot again and again), in Sync mode on a POSIX disk
/// and in NoSync mode on a journaling one: in every group, nothing its writer's mode
/// promised is lost, its data is exactly its model at its index (no torn batch, no entry
/// of another group), a restore cut in flight left the old or the new generation, and
/// the whole store passes the deep check.
pub fn power_cuts_under_many_groups_lose_nothing_any_group_acknowledged(h: &Harness) {
    for (mode, meta) in [
        (SyncMode::Sync, MetaMode::Posix),
        (SyncMode::NoSync, MetaMode::Journal),
    ] {
        // Each scenario twice: four cuts per mode.
        let scenarios = [Scenario::GROUPS, Scenario::GROUPS].concat();
        let (summary, ran) = cut_scenarios(h, mode, None, meta, None, &scenarios);
        if !ran {
            return;
        }
        assert_eq!(
            summary.groups.deep_check_failures, 0,
            "{:?}",
            summary.groups
        );
        assert_eq!(summary.groups.cross_group, 0, "{:?}", summary.groups);
    }
}

/// An fsync fails while every group of a groups store applies in Sync mode on its own
/// thread (the disk drops the pages it could not write, as Linux does): every member of
/// the failed shared round gets the engine's error, every other group's next commit
/// `Stopped`, and from then on every group's apply and pin, the store's sync, creation
/// and close are refused with `Stopped`; the disk keeps every apply any group
/// acknowledged before the failure, and each group holds exactly its model.
pub fn a_failed_fsync_in_a_shared_round_fails_its_members_and_stops_every_group(h: &Harness) {
    use fsmstore::Config;
    use powercut::{Options, PowerCut};

    use crate::group_crash::{GROUP_IDS, GroupAcks, check_reopened};

    if !can_mount() {
        return;
    }
    let mode = SyncMode::Sync;
    // How many fsyncs making the store and its groups takes, so the failure lands in
    // the applies.
    let created_after = {
        let mount = PowerCut::mount(&h.scratch("count"), Options::default()).expect("mount");
        let store =
            fsmstore::open_groups(h.backend(), mount.path().join("store"), &Config::new(mode))
                .expect("create the groups store");
        for id in GROUP_IDS {
            store.create_group(id).expect("create a group");
        }
        store.close().expect("close");
        mount.fsyncs()
    };
    let mut most_members = 0;
    // The failing fsync may belong to a round of one commit; a few tries find a shared
    // one.
    for attempt in 0..4 {
        let mount = PowerCut::mount(
            &h.scratch(&format!("failing-{attempt}")),
            Options {
                fail_fsync: Some(created_after + 5 + 3 * attempt),
                ..Options::default()
            },
        )
        .expect("mount");
        let output = probe(h, "groups-failstop", &mount.path().join("store"), mode);
        assert!(!output.contains("no write failed"), "{output}");
        let failed: Vec<(u64, String)> = output
            .lines()
            .filter_map(|line| {
                let (id, rest) = line.strip_prefix('g')?.split_once(' ')?;
                Some((id.parse().ok()?, rest.strip_prefix("failed ")?.to_owned()))
            })
            .collect();
        assert_eq!(
            failed.len(),
            GROUP_IDS.len(),
            "not every group's writer saw the failure: {output}"
        );
        let members = failed
            .iter()
            .filter(|(_, kind)| !kind.starts_with("kind=stopped"))
            .count();
        assert!(
            members > 0,
            "no commit got the failed fsync's own error: {output}"
        );
        most_members = most_members.max(members);
        for line in output.lines() {
            let refused = line.contains(" after apply ")
                || line.contains(" after pin ")
                || line.starts_with("store sync ")
                || line.starts_with("store create ")
                || line.starts_with("store close ");
            if refused {
                assert!(
                    line.ends_with("kind=stopped"),
                    "{line}: after a failed shared fsync: {output}"
                );
            }
        }
        for what in ["store sync ", "store create ", "store close "] {
            assert!(
                output.contains(what),
                "the probe did not report `{what}`: {output}"
            );
        }
        let image = h.scratch(&format!("disk-{attempt}"));
        mount.finish(&image).expect("write the disk image");
        let acks = GroupAcks::parse(output.lines());
        let (after, check) = check_reopened(h.backend(), &image.join("store"), mode, mode, &acks)
            .expect("the disk reopens");
        assert_eq!(
            after.lost_applies, 0,
            "an acknowledged apply was lost: {:?}",
            after.mismatch
        );
        assert!(!after.torn, "{:?}", after.mismatch);
        assert_eq!(check.groups, GROUP_IDS.len() as u64);
        if most_members > 1 {
            break;
        }
    }
    assert!(
        most_members > 1,
        "no failed fsync was shared by two groups' commits in four tries"
    );
}
