//! Process-kill bodies for the suite: a few kills per engine and mode (the full
//! campaign is `cargo xtask crash`). Only durable engines run them.

use std::time::Duration;

use fsmstore::backend::MARKER_FILE;
use fsmstore::{Config, SyncMode};

use crate::Harness;
use crate::crash::{CampaignSummary, Jitter, Writer, WriterPlan, campaign, kill_restore};
use crate::snapshot::{export_bytes, fill};

/// Kills per body in the regular suite.
const KILLS: u64 = 10;

fn run(h: &Harness, mode: SyncMode, plan: WriterPlan, delays_ms: (u64, u64)) -> CampaignSummary {
    let mut jitter = Jitter::from_clock();
    let writer = Writer {
        probe: h.probe(),
        backend: h.backend(),
        dir: h.dir(),
        mode,
        plan,
    };
    let (summary, broken) =
        campaign(writer, KILLS, delays_ms, &mut jitter).expect("run the kill campaign");
    assert!(broken.is_empty(), "{} in {mode}: {broken:#?}", h.backend());
    assert_eq!(summary.kills, KILLS);
    assert!(
        summary.kills_after_progress > 0,
        "every kill landed before the writer applied anything: the kills tested nothing"
    );
    summary
}

/// Sync writers killed at random points lose no acknowledged apply, write or
/// checkpoint, and never leave a torn batch.
pub fn killed_sync_writers_lose_nothing_acknowledged(h: &Harness) {
    run(h, SyncMode::Sync, WriterPlan::MIXED, (5, 120));
}

/// NoSync writers killed at random points never leave a torn batch, and lose no
/// acknowledged checkpoint or write; the data always matches the reopened index. An
/// engine documented to keep NoSync applies across a kill keeps every one of them.
pub fn killed_nosync_writers_never_tear_a_batch_or_lose_a_checkpoint(h: &Harness) {
    let summary = run(h, SyncMode::NoSync, WriterPlan::MIXED, (5, 120));
    assert!(summary.nosync_kept <= summary.nosync_at_risk);
    if h.backend().keeps_nosync_applies_after_a_kill() == Some(true) {
        assert_eq!(
            summary.nosync_kept,
            summary.nosync_at_risk,
            "{} lost acknowledged NoSync applies to a kill",
            h.backend()
        );
    }
}

/// Kills that land during checkpoints (one after every apply) lose no checkpoint.
pub fn a_kill_during_a_checkpoint_loses_no_checkpoint(h: &Harness) {
    run(h, SyncMode::NoSync, WriterPlan::CHECKPOINT_HEAVY, (5, 80));
}

/// Kills that land during close and reopen lose nothing a finished close made durable.
pub fn a_kill_during_close_loses_nothing_already_closed(h: &Harness) {
    run(h, SyncMode::NoSync, WriterPlan::CLOSE_HEAVY, (10, 150));
}

fn writes_fail_cleanly(h: &Harness, mode: SyncMode) {
    let outcome = crate::crash::fail_writes(
        h.probe(),
        h.backend(),
        h.dir(),
        mode,
        256 * 1024,
        std::time::Duration::from_secs(120),
    )
    .expect("run a writer under a file-size limit");
    let after = &outcome.after;
    assert_eq!(
        outcome.exit_code,
        Some(2),
        "the writer must stop with a typed error, not a panic, abort or hang: {after:#?}"
    );
    assert!(
        after
            .acks
            .other
            .iter()
            .any(|line| line.starts_with("error kind=")),
        "the writer reported no typed error: {:?}",
        after.acks.other
    );
    assert!(
        after.acks.last_applied.is_some(),
        "the limit left no room to apply anything"
    );
    assert!(
        !after.torn,
        "the store does not match the model at its index: {after:#?}"
    );
    assert_eq!(after.lost_applies, 0, "{after:#?}");
    assert!(!after.lost_checkpoint, "{after:#?}");
    assert_eq!(after.lost_writes, 0, "{after:#?}");
}

/// A restore killed at a random point leaves, after reopening, exactly the old
/// contents or exactly the new ones (compared as export bytes), never a mix, and no
/// second copy of the engine's files.
pub fn a_kill_during_a_restore_leaves_the_old_or_the_new_contents(h: &Harness) {
    let mode = SyncMode::NoSync;
    let snapshot = h.scratch("snapshot.bin");
    {
        let source = h
            .try_open_at(&h.scratch("source"), &Config::new(mode))
            .expect("open the source");
        fill(&*source, "new", 20_000, 20);
        let mut file = std::fs::File::create(&snapshot).expect("create the snapshot file");
        source.export(&mut file).expect("export");
    }
    let new = std::fs::read(&snapshot).expect("read the snapshot");
    let old = {
        let store = h.open(mode);
        fill(&*store, "old", 300, 10);
        let old = export_bytes(&*store);
        store.close().expect("close");
        old
    };
    let restore_old = |store: &dyn fsmstore::Engine| {
        store
            .restore(&mut old.as_slice())
            .expect("put the old contents back");
    };
    // One uninterrupted restore says how long the kills have to land in.
    let (full, finished) =
        kill_restore(h.probe(), h.backend(), h.dir(), mode, &snapshot, None).expect("restore");
    assert!(finished, "the uninterrupted restore failed");
    let store = h.open(mode);
    assert_eq!(
        export_bytes(&*store),
        new,
        "the child's restore did not hold"
    );
    restore_old(&*store);
    store.close().expect("close");

    let mut jitter = Jitter::from_clock();
    let full_us = u64::try_from(full.as_micros())
        .unwrap_or(u64::MAX)
        .max(1000);
    let (mut kept_old, mut got_new) = (0, 0);
    for _ in 0..KILLS {
        let delay = Duration::from_micros(jitter.between(0, full_us));
        kill_restore(
            h.probe(),
            h.backend(),
            h.dir(),
            mode,
            &snapshot,
            Some(delay),
        )
        .expect("run the restore child");
        let store = h.open(mode);
        let now = export_bytes(&*store);
        if now == old {
            kept_old += 1;
        } else if now == new {
            got_new += 1;
            restore_old(&*store);
        } else {
            panic!(
                "{}: a killed restore left a mix of old and new",
                h.backend()
            );
        }
        store.close().expect("close");
        let generations = std::fs::read_dir(h.dir())
            .expect("list")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("gen-"))
            .count();
        assert!(generations <= 1, "a killed restore's copy was left behind");
        assert!(h.dir().join(MARKER_FILE).is_file());
    }
    assert_eq!(kept_old + got_new, KILLS);
    assert!(
        kept_old > 0,
        "no kill landed before the switch ({got_new} after it): the kills tested nothing"
    );
}
/// When the disk refuses writes (a file-size limit) under Sync, applies fail with a
/// typed error, and after reopening everything acknowledged is intact.
pub fn a_failing_disk_under_sync_gives_typed_errors_and_loses_nothing(h: &Harness) {
    writes_fail_cleanly(h, SyncMode::Sync);
}

/// The same under NoSync: typed errors, no torn batch, every acknowledged checkpoint
/// and write intact.
pub fn a_failing_disk_under_nosync_gives_typed_errors_and_loses_no_checkpoint(h: &Harness) {
    writes_fail_cleanly(h, SyncMode::NoSync);
}

/// Every file under `dir` except the marker, recursively.
fn engine_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list the store") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(engine_files(&path));
        } else if path.file_name() != Some(std::ffi::OsStr::new(fsmstore::backend::MARKER_FILE)) {
            files.push(path);
        }
    }
    files
}

/// Engine files overwritten with garbage (same lengths) make the open fail with
/// `Corruption` — in a child process, so a panic, abort or signal shows as a failure.
pub fn garbage_engine_files_fail_the_open_with_corruption(h: &Harness) {
    let store = h.open_sync();
    crate::support::apply_at(&*store, &crate::support::put("k", "v"), 1);
    store.close().expect("close");
    let files = engine_files(h.dir());
    assert!(!files.is_empty(), "the engine wrote no files");
    for file in &files {
        let len = std::fs::metadata(file).expect("stat").len();
        let garbage: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ 0xA5)
            .collect();
        std::fs::write(file, garbage).expect("damage");
    }
    let output = std::process::Command::new(h.probe())
        .args([
            "open",
            h.backend().name(),
            &h.dir().to_string_lossy(),
            "sync",
        ])
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("kind=corruption"), "{stdout}");
}

/// A NoSync writer killed in the middle of its applies leaves a store that opens (the
/// engine recovers what the kill left), holds what the writer's model says it holds at
/// the index it reopened at, and passes the deep check, which reads that same index.
pub fn a_store_a_killed_writer_left_opens_and_passes_the_deep_check(h: &Harness) {
    use std::io::BufRead;

    let mode = SyncMode::NoSync;
    let mut child = std::process::Command::new(h.probe())
        .args([
            "writer",
            h.backend().name(),
            &h.dir().to_string_lossy(),
            "nosync",
        ])
        .args(["10", "0", "0"])
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("the writer's stdout");
    let checkpointed = std::io::BufReader::new(stdout)
        .lines()
        .map_while(std::io::Result::ok)
        .any(|line| line == "checkpoint 200");
    // SIGKILL: no destructor, no flush, no close.
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        checkpointed,
        "the writer stopped before its checkpoint at 200"
    );

    let store = h.open(mode);
    let reopened_at = store
        .applied_index()
        .expect("read the index")
        .expect("a checkpoint was made, so an index survives");
    assert!(
        reopened_at >= 200,
        "lost the checkpoint at 200: {reopened_at}"
    );
    assert_eq!(
        crate::crash::actual_state(&*store).expect("read the store"),
        crate::crash::expected_state(reopened_at)
    );
    let checked = store.verify_deep().expect("the deep check");
    assert_eq!(checked.applied_index, Some(reopened_at));
    store.close().expect("close");
}

/// Kills per body of the large history in the regular suite: each one follows more than
/// 64 MB of writing and a close.
const LARGE_KILLS: u64 = 2;

/// Sync writers of the large history (48 KiB values, earlier rounds deleted by key,
/// range and prefix, a close and reopen once more than 64 MB were written since the
/// open), killed after that close, lose no acknowledged apply, write, checkpoint or
/// close, and leave exactly the model's data at the reopened index: a key deleted
/// before the close stays deleted.
pub fn killed_writers_of_a_large_history_lose_nothing_after_a_close(h: &Harness) {
    let mut jitter = Jitter::from_clock();
    let writer = Writer {
        probe: h.probe(),
        backend: h.backend(),
        dir: h.dir(),
        mode: SyncMode::Sync,
        plan: WriterPlan::LARGE,
    };
    let (summary, broken) =
        campaign(writer, LARGE_KILLS, (0, 50), &mut jitter).expect("run the kill campaign");
    eprintln!(
        "{}: {} kills after {:.1} MB of large values; most files a kill left: {}",
        h.backend(),
        summary.kills,
        summary.large_bytes as f64 / 1e6,
        summary.files_seen,
    );
    let broken: Vec<String> = broken.iter().map(describe_kill).collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert_eq!(
        summary.past_a_large_close, LARGE_KILLS,
        "a kill landed before the writer closed the store after 64 MB: the kills did not test what they should"
    );
}

/// One line for a kill that broke a promise: what was acknowledged, where the store
/// reopened, and what differs.
fn describe_kill(outcome: &crate::crash::KillOutcome) -> String {
    let acks = &outcome.acks;
    format!(
        "started at {}, applied {:?}, checkpoint {:?}, closed {:?}, {} writes, began {:?}; reopened at {}; torn: {}; lost applies {}, checkpoint {}, writes {}, close {}; writer said {:?}; files the kill left: {}",
        acks.started_at,
        acks.last_applied,
        acks.last_checkpoint,
        acks.last_closed,
        acks.writes.len(),
        acks.last_begun,
        outcome.reopened_at,
        outcome.mismatch.as_deref().unwrap_or("no"),
        outcome.lost_applies,
        outcome.lost_checkpoint,
        outcome.lost_writes,
        outcome.lost_close,
        acks.other,
        outcome.census,
    )
}

/// Kills per body of the groups writer in the regular suite.
const GROUPS_KILLS: u64 = 8;

fn kill_groups(h: &Harness, mode: SyncMode) -> crate::group_crash::GroupsSummary {
    use crate::group_crash::{GROUP_IDS, GroupsWriter, campaign, export_snapshot};

    let snapshot = h.scratch("groups-snapshot.bin");
    export_snapshot(h.backend(), &h.scratch("model"), &snapshot).expect("export the snapshot");
    let writer = GroupsWriter {
        probe: h.probe(),
        backend: h.backend(),
        dir: h.dir(),
        mode,
        snapshot: Some(&snapshot),
    };
    let (summary, groups, broken) =
        campaign(writer, GROUPS_KILLS, (20, 250), &mut Jitter::from_clock())
            .expect("run the groups kill campaign");
    let broken: Vec<String> = broken.iter().map(describe_kill).collect();
    assert!(
        broken.is_empty(),
        "{} in {mode}: {}",
        h.backend(),
        broken.join("\n")
    );
    assert_eq!(summary.kills, GROUPS_KILLS);
    assert!(
        summary.kills_after_progress > 0,
        "every kill landed before the groups applied anything: the kills tested nothing"
    );
    assert!(
        groups.groups >= GROUP_IDS.len() as u64,
        "no kill came after the writer made its groups: {groups:?}"
    );
    assert_eq!(groups.deep_check_failures, 0, "{groups:?}");
    groups
}

/// Sync writers of many groups at once (one thread per group, their commits sharing
/// fsyncs, one more group restoring a snapshot again and again), killed at random
/// points: every group keeps every apply it acknowledged, holds exactly its model at its
/// index (no torn batch, no entry of another group), and the whole store passes the deep
/// check (no entry outside a live generation).
pub fn killed_groups_writers_in_sync_lose_no_acknowledged_apply_of_any_group(h: &Harness) {
    kill_groups(h, SyncMode::Sync);
}

/// The same in NoSync: no torn batch, no cross-group entry, no lost checkpoint or restore
/// in any group, and a store that passes the deep check.
pub fn killed_groups_writers_in_nosync_tear_no_batch_and_lose_no_checkpoint(h: &Harness) {
    kill_groups(h, SyncMode::NoSync);
}
