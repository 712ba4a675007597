//! What the end-to-end tests share: running the real `fsmstore` binary and the store
//! they run it on.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use fsmstore::{Backend, Config, Engine, SyncMode, WriteBatch};

/// Runs `fsmstore args` with the sync-mode override unset.
pub fn fsmstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsmstore"))
        .args(args)
        .env_remove(fsmstore::SYNC_MODE_ENV)
        .output()
        .expect("run the fsmstore binary")
}

/// `path` as an argument.
pub fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The stdout of a run that must have succeeded.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "fsmstore failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// Fills `store` with 300 data keys, a meta key and applied index 42.
pub fn fill(store: &dyn Engine) {
    let mut batch = WriteBatch::new();
    for i in 0..300 {
        batch.put(format!("key/{i:04}"), format!("value {i}"));
    }
    batch.put_meta("term", "7");
    store.apply(&batch, Some(42)).expect("apply");
}

/// A store of `backend` at `dir` with what [`fill`] puts in it.
pub fn make_store(backend: Backend, dir: &Path) {
    let store =
        fsmstore::open(backend, dir, &Config::new(SyncMode::Sync)).expect("create the store");
    fill(&*store);
    store.close().expect("close");
}
