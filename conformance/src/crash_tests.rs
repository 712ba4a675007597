//! Process-kill bodies for the suite: a few kills per engine and mode (the full
//! campaign is `cargo xtask crash`). Only durable engines run them.

use fsmstore::SyncMode;

use crate::Harness;
use crate::crash::{CampaignSummary, Jitter, Writer, WriterPlan, campaign};

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
/// acknowledged checkpoint or write; the data always matches the reopened index.
pub fn killed_nosync_writers_never_tear_a_batch_or_lose_a_checkpoint(h: &Harness) {
    let summary = run(h, SyncMode::NoSync, WriterPlan::MIXED, (5, 120));
    assert!(summary.nosync_kept <= summary.nosync_at_risk);
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
        } else if path.file_name() != Some(std::ffi::OsStr::new(fsmstore::MARKER_FILE)) {
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
