//! The `metrics` feature with a Prometheus exporter: applies raft entries, checkpoints,
//! exports a snapshot, restores it on a second store through the cold-start gate, then
//! prints what a Prometheus scrape of the process would read, once, and exits.
//!
//! ```text
//! cargo run --example metrics --features metrics
//! ```
//!
//! A server would install the exporter with its HTTP listener
//! (`metrics-exporter-prometheus`'s `http-listener` feature, `PrometheusBuilder::install`)
//! instead of rendering by hand; the store's side is the same.

use fsmstore::{Config, Engine, SyncMode, WriteBatch, checkpoint_then, decide_restore};
use metrics_exporter_prometheus::PrometheusBuilder;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    fsmstore::describe_metrics();

    let dir = tempfile::tempdir()?;
    let config = Config::new(SyncMode::NoSync);
    let store = fsmstore::open_default(dir.path().join("fsm"), &config)?;
    for index in 1..=100u64 {
        let mut batch = WriteBatch::new();
        batch.put(format!("key/{index:03}"), format!("value {index}"));
        store.apply(&batch, Some(index))?;
    }
    // A replayed entry: skipped.
    store.apply(&WriteBatch::new(), Some(100))?;
    let mut snapshot = Vec::new();
    checkpoint_then(&store, 100, || store.export(&mut snapshot))?;

    // A new replica's cold start: nothing stored, so the gate says restore.
    let replica = fsmstore::open_default(dir.path().join("replica"), &config)?;
    if decide_restore(&replica, 100).must_restore() {
        replica.restore(&mut snapshot.as_slice())?;
    }
    // Restarted after the restore: the gate skips.
    assert!(!decide_restore(&replica, 100).must_restore());
    store.close()?;
    replica.close()?;

    print!("{}", prometheus.render());
    Ok(())
}
