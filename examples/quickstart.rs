//! Applies raft entries, checkpoints, reopens, and asks the restore gate what to do with
//! a snapshot — on the default engine (redb).
//!
//! ```text
//! cargo run --example quickstart
//! ```

use fsmstore::{Config, Engine, SyncMode, WriteBatch, checkpoint_then, decide_restore};

fn main() -> fsmstore::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fsm");
    let store = fsmstore::open_default(&path, &Config::new(SyncMode::NoSync))?;
    for index in 1..=100u64 {
        let mut batch = WriteBatch::new();
        batch.put(format!("key/{index:03}"), format!("value {index}"));
        store.apply(&batch, Some(index))?; // data + applied index: one atomic commit
    }
    // The raft engine persists a snapshot at 100: pin the index durably first.
    checkpoint_then(&store, 100, || save_snapshot_somewhere(100))?;
    store.close()?;

    let store = fsmstore::open_default(&path, &Config::new(SyncMode::NoSync))?;
    println!("engine:        {}", store.engine_name());
    println!("applied index: {:?}", store.applied_index()?);
    println!("keys:          {}", store.scan_prefix(b"key/")?.len());
    let decision = decide_restore(&store, 90);
    println!("snapshot @90:  {} ({decision:?})", decision.outcome());
    let decision = decide_restore(&store, 120);
    println!("snapshot @120: {} ({decision:?})", decision.outcome());
    Ok(())
}

fn save_snapshot_somewhere(_index: u64) -> fsmstore::Result<()> {
    Ok(())
}
