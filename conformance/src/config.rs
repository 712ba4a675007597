//! Configuration: the sync mode, its environment override, and its errors.

use std::process::{Command, Output};

use fsmstore::{SYNC_MODE_ENV, SyncMode};

use crate::Harness;

/// The configured sync mode is the one in force when no override is set.
pub fn the_configured_sync_mode_is_in_force(h: &Harness) {
    let store = h.open_nosync();
    assert_eq!(store.sync_mode(), SyncMode::NoSync);
    let store = h.reopen(store, SyncMode::Sync);
    assert_eq!(store.sync_mode(), SyncMode::Sync);
}

fn probe_open(h: &Harness, configured: SyncMode, env: Option<&str>) -> Output {
    let mut command = Command::new(h.probe());
    command.args([
        if h.is_in_group() {
            "open-group"
        } else {
            "open"
        },
        h.backend().name(),
        &h.dir().to_string_lossy(),
        configured.as_str(),
    ]);
    match env {
        Some(value) => command.env(SYNC_MODE_ENV, value),
        None => command.env_remove(SYNC_MODE_ENV),
    };
    command.output().expect("run the probe")
}

/// `FSMSTORE_SYNC_MODE` (trimmed, any case) overrides the configured mode at open.
pub fn the_env_variable_overrides_the_configured_mode(h: &Harness) {
    let output = probe_open(h, SyncMode::Sync, Some("  NoSync\n"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("sync_mode=nosync"), "{stdout}");
    let output = probe_open(h, SyncMode::NoSync, Some("SYNC"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sync_mode=sync"));
    let output = probe_open(h, SyncMode::NoSync, None);
    assert!(String::from_utf8_lossy(&output.stdout).contains("sync_mode=nosync"));
}

/// An unknown `FSMSTORE_SYNC_MODE` fails the open with a configuration error and
/// creates nothing, instead of silently picking a mode.
pub fn an_unknown_env_sync_mode_fails_the_open_and_creates_nothing(h: &Harness) {
    for bad in ["fsync", "", "no sync", "1"] {
        let output = probe_open(h, SyncMode::Sync, Some(bad));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {stdout}");
        assert!(stdout.contains("kind=config"), "{bad:?}: {stdout}");
        assert!(!h.dir().exists(), "{bad:?} must not create the store");
    }
}

/// An unknown `FSMSTORE_SYNC_MODE` does not touch an existing store: after the failed
/// open the data is still there.
pub fn an_unknown_env_sync_mode_leaves_an_existing_store_intact(h: &Harness) {
    let store = h.open_sync();
    crate::support::apply_at(&*store, &crate::support::put("k", "v"), 3);
    store.close().expect("close");
    let output = probe_open(h, SyncMode::Sync, Some("sometimes"));
    assert_eq!(output.status.code(), Some(2));
    let store = h.open_sync();
    assert_eq!(
        crate::support::get_string(&*store, "k").as_deref(),
        Some("v")
    );
    assert_eq!(crate::support::applied(&*store), Some(3));
}
