//! The `metrics` feature: snapshot installs counted by outcome, read back from a
//! Prometheus recorder local to the test.
//!
//! ```text
//! cargo test -p fsmstore-openraft --features metrics --test metrics
//! ```

mod common;

use common::{apply, normal, open_node, runtime, set};
use fsmstore::{Backend, SyncMode};
use fsmstore_openraft::INSTALLS_METRIC;
use metrics_exporter_prometheus::PrometheusBuilder;
use openraft::RaftSnapshotBuilder;
use openraft::storage::RaftStateMachine;

/// The value of `INSTALLS_METRIC{outcome="…"}` in a scrape (0 when absent).
fn installs(scrape: &str, outcome: &str) -> u64 {
    let series = format!("{INSTALLS_METRIC}{{outcome=\"{outcome}\"}} ");
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[test]
fn snapshot_installs_are_counted_by_outcome() {
    // Global, not local: installs run on the runtime's blocking pool. This is the only
    // test of the binary.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    {
        let work = tempfile::tempdir().expect("tempdir");
        runtime().block_on(async {
            let (_log, mut leader) =
                open_node(Backend::Redb, &work.path().join("leader"), SyncMode::NoSync);
            apply(&mut leader, vec![normal(1, set("k", "v"))]).await;
            let built = leader
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .expect("build");
            // Received: a follower's empty store restores the leader's snapshot.
            let (_log, mut follower) = open_node(
                Backend::Fjall,
                &work.path().join("follower"),
                SyncMode::NoSync,
            );
            follower
                .install_snapshot(&built.meta, built.snapshot)
                .await
                .expect("install");
            // Skipped: the leader installs its own current snapshot, which it holds.
            let current = leader
                .get_current_snapshot()
                .await
                .expect("read")
                .expect("a snapshot");
            leader
                .install_snapshot(&current.meta, current.snapshot)
                .await
                .expect("install");
        });
    }
    let scrape = handle.render();
    assert_eq!(installs(&scrape, "restored_received"), 1, "{scrape}");
    assert_eq!(installs(&scrape, "skipped"), 1, "{scrape}");
    assert_eq!(installs(&scrape, "restored_at_start"), 0, "{scrape}");
}
