//! The `metrics` feature: a known history on the memory engine, rendered by a Prometheus
//! recorder local to the test, read back value by value.
//!
//! ```text
//! cargo test -p fsmstore --features metrics,memory --test metrics
//! ```

use fsmstore::memory::MemoryStore;
use fsmstore::{Config, Engine, SyncMode, WriteBatch, decide_restore};
use metrics_exporter_prometheus::PrometheusBuilder;

/// Every metric the store records, as rendered (histograms as Prometheus summaries).
const METRICS: [(&str, &str); 11] = [
    ("fsmstore_applies_total", "counter"),
    ("fsmstore_apply_duration_seconds", "summary"),
    ("fsmstore_commits_total", "counter"),
    ("fsmstore_syncs_total", "counter"),
    ("fsmstore_checkpoint_duration_seconds", "summary"),
    ("fsmstore_export_bytes_total", "counter"),
    ("fsmstore_export_duration_seconds", "summary"),
    ("fsmstore_restore_bytes_total", "counter"),
    ("fsmstore_restore_duration_seconds", "summary"),
    ("fsmstore_cold_start_total", "counter"),
    ("fsmstore_cold_start_index_gap", "gauge"),
];

fn put(key: &str) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(key.to_owned(), "value");
    batch
}

/// The value of one series (`name{labels}`) in a rendered scrape, as printed.
fn value<'a>(scrape: &'a str, series: &str) -> Option<&'a str> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
}

/// Runs the history; returns the scrape and the snapshot's size in bytes.
fn record_a_known_history() -> fsmstore::Result<(String, usize)> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let root = tempfile::tempdir()?;
    let snapshot_len = metrics::with_local_recorder(&recorder, || -> fsmstore::Result<usize> {
        let config = Config::new(SyncMode::NoSync);
        let source = MemoryStore::open(root.path().join("source"), &config)?;
        for index in 1..=3 {
            source.apply(&put(&format!("key/{index}")), Some(index))?;
        }
        // Replayed entries: skipped, nothing committed.
        source.apply(&put("key/2"), Some(2))?;
        source.apply(&put("key/3"), Some(3))?;
        source.set_durable_applied_index(3)?; // fsyncs: index 3 was buffered
        source.set_durable_applied_index(3)?; // already durable: no fsync
        source.write(&put("direct"))?; // always durable
        source.sync()?;
        let mut snapshot = Vec::new();
        source.export(&mut snapshot)?;

        let target = MemoryStore::open(root.path().join("target"), &config)?;
        let missing = decide_restore(&target, 3);
        assert!(missing.must_restore(), "{missing:?}");
        target.restore(&mut snapshot.as_slice())?;
        let covered = decide_restore(&target, 3);
        assert!(!covered.must_restore(), "{covered:?}");
        let behind = decide_restore(&target, 10);
        assert!(behind.must_restore(), "{behind:?}");
        source.close()?;
        target.close()?;
        Ok(snapshot.len())
    })?;
    Ok((handle.render(), snapshot_len))
}

#[test]
fn a_known_history_renders_its_exact_counts() -> fsmstore::Result<()> {
    let (scrape, snapshot_len) = record_a_known_history()?;
    let snapshot_len = snapshot_len.to_string();
    let expected = [
        (
            r#"fsmstore_applies_total{engine="memory",outcome="applied"}"#,
            "3",
        ),
        (
            r#"fsmstore_applies_total{engine="memory",outcome="skipped"}"#,
            "2",
        ),
        (
            r#"fsmstore_apply_duration_seconds_count{engine="memory"}"#,
            "5",
        ),
        (
            r#"fsmstore_commits_total{engine="memory",durability="buffered"}"#,
            "3",
        ),
        (
            r#"fsmstore_commits_total{engine="memory",durability="durable"}"#,
            "1",
        ),
        (
            r#"fsmstore_syncs_total{engine="memory",trigger="checkpoint"}"#,
            "1",
        ),
        (
            r#"fsmstore_syncs_total{engine="memory",trigger="sync"}"#,
            "1",
        ),
        (
            r#"fsmstore_syncs_total{engine="memory",trigger="close"}"#,
            "2",
        ),
        (
            r#"fsmstore_checkpoint_duration_seconds_count{engine="memory"}"#,
            "2",
        ),
        (
            r#"fsmstore_export_bytes_total{engine="memory"}"#,
            &snapshot_len,
        ),
        (
            r#"fsmstore_export_duration_seconds_count{engine="memory"}"#,
            "1",
        ),
        (
            r#"fsmstore_restore_bytes_total{engine="memory"}"#,
            &snapshot_len,
        ),
        (
            r#"fsmstore_restore_duration_seconds_count{engine="memory"}"#,
            "1",
        ),
        (
            r#"fsmstore_cold_start_total{engine="memory",outcome="restore",reason="missing_meta"}"#,
            "1",
        ),
        (
            r#"fsmstore_cold_start_total{engine="memory",outcome="skip",reason="skip"}"#,
            "1",
        ),
        (
            r#"fsmstore_cold_start_total{engine="memory",outcome="restore",reason="execute"}"#,
            "1",
        ),
        // The last gate: snapshot 10, applied 3.
        (r#"fsmstore_cold_start_index_gap{engine="memory"}"#, "7"),
    ];
    for (series, want) in expected {
        assert_eq!(value(&scrape, series), Some(want), "{series} in\n{scrape}");
    }
    let cold_starts = scrape
        .lines()
        .filter(|line| line.starts_with("fsmstore_cold_start_total{"))
        .count();
    assert_eq!(
        cold_starts, 3,
        "one series per gate decision seen\n{scrape}"
    );
    Ok(())
}

#[test]
fn every_metric_is_described_with_its_type() -> fsmstore::Result<()> {
    let (scrape, _) = record_a_known_history()?;
    for (name, kind) in METRICS {
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "no HELP for {name} in\n{scrape}"
        );
        assert!(
            scrape.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} is not a {kind} in\n{scrape}"
        );
    }
    let names = scrape
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect::<Vec<_>>();
    assert_eq!(names.len(), METRICS.len(), "{names:?}");
    Ok(())
}
