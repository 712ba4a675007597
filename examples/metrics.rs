//! The `metrics` feature with a Prometheus exporter: applies raft entries, checkpoints,
//! exports a snapshot, restores it on a second store through the cold-start gate, then
//! prints what a Prometheus scrape of the process reads and exits, or, with `--serve
//! ADDR`, answers every HTTP request on `ADDR` with that scrape until it is stopped.
//!
//! ```text
//! cargo run --example metrics --features metrics
//! cargo run --example metrics --features metrics -- --serve 127.0.0.1:9100   # curl 127.0.0.1:9100/metrics
//! ```
//!
//! A server would rather install the exporter with its own HTTP listener
//! (`metrics-exporter-prometheus`'s `http-listener` feature, `PrometheusBuilder::install`);
//! the store's side is the same.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use fsmstore::{Config, Engine, SyncMode, WriteBatch, checkpoint_then, decide_restore};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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

    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => print!("{}", prometheus.render()),
        (Some("--serve"), Some(addr)) => serve(&prometheus, &addr)?,
        _ => return Err("usage: metrics [--serve ADDR]".into()),
    }
    Ok(())
}

/// Answers every HTTP request on `addr` with the current scrape, whatever its path.
fn serve(prometheus: &PrometheusHandle, addr: &str) -> Result<(), Error> {
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "serving the scrape on http://{}/metrics",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let mut stream = stream?;
        // The request is read to its blank line, so that closing the connection after
        // the answer does not reset it under the client.
        let mut request = BufReader::new(&stream);
        let mut line = String::new();
        while request.read_line(&mut line)? > 0 && line != "\r\n" {
            line.clear();
        }
        let body = prometheus.render();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    }
    Ok(())
}
