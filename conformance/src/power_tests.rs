//! Power-loss bodies: the kill campaign's writer on the power-cut filesystem (see
//! [`crate::powerloss`]); durable engines only, Linux only.

use fsmstore::SyncMode;
use powercut::MetaMode;

use crate::Harness;
use crate::crash::Jitter;

/// Cuts per body in the regular suite: one per scenario of the power-loss campaign.
const POWER_CUTS: u64 = crate::powerloss::Scenario::ALL.len() as u64;

fn power_cuts(h: &Harness, mode: SyncMode, meta: MetaMode) {
    use crate::powerloss::{Campaign, campaign};
    if !can_mount() {
        return;
    }
    let mut jitter = Jitter::from_clock();
    let workdir = h.scratch("power");
    std::fs::create_dir_all(&workdir).expect("create the work directory");
    let (summary, broken) = campaign(
        Campaign {
            probe: h.probe(),
            backend: h.backend(),
            mode,
            meta,
            cuts: POWER_CUTS,
            workdir: &workdir,
            data: None,
        },
        &mut jitter,
    )
    .expect("run the power-cut campaign");
    let broken: Vec<String> = broken.iter().map(ToString::to_string).collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert_eq!(summary.cuts, POWER_CUTS);
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
