//! Closing the stores openraft shared: a `Closer` taken before the stores move into
//! `Raft` closes each once openraft (and the log store's writer) let go, reporting the
//! close; while another handle remains it says so and closes nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::router::Router;
use common::{Request, lead_alone, open_node, runtime};
use fsmstore::{Backend, Config, Engine, Error, SyncMode};

fn still_shared(error: &std::io::Error) -> Option<usize> {
    match error.get_ref()?.downcast_ref::<Error>()? {
        Error::StillShared { others } => Some(*others),
        _ => None,
    }
}

#[test]
fn closers_close_both_stores_after_shutdown_and_name_the_handles_left() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("node");
    runtime().block_on(async {
        let (log, sm) = open_node(Backend::Fjall, &root, SyncMode::NoSync);
        let (log_closer, sm_closer) = (log.closer(), sm.closer());
        let router = Router::default();
        let raft = lead_alone(log, sm, &router).await;
        for i in 0..3 {
            let request = Request::Set {
                key: format!("key/{i}"),
                value: i.to_string(),
            };
            raft.client_write(request).await.expect("write");
        }
        raft.shutdown().await.expect("shutdown");
        router.remove(1);
        drop(raft);
        log_closer
            .close(Duration::from_secs(5))
            .await
            .expect("the log store closes");
        sm_closer
            .close(Duration::from_secs(5))
            .await
            .expect("the state machine's store closes");

        // Closed: both open again at once (their locks are free), with the writes.
        let (log, sm) = open_node(Backend::Fjall, &root, SyncMode::NoSync);
        assert_eq!(
            sm.engine().get(b"key/2").expect("read").as_deref(),
            Some(&b"2"[..])
        );
        let kept = sm.engine().clone();
        let closer = sm.closer();
        drop((log, sm));
        let error = closer
            .close(Duration::from_millis(50))
            .await
            .expect_err("another handle remains");
        assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(still_shared(&error), Some(1), "{error}");
        // The store is still open through the handle that remains.
        assert_eq!(
            kept.get(b"key/0").expect("read").as_deref(),
            Some(&b"0"[..])
        );
    });
}

/// `Engine::close_shared` closes the store through its last handle, and refuses, naming
/// how many remain, through any other.
#[test]
fn close_shared_closes_through_the_last_handle_only() {
    for backend in common::engines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Engine> =
            fsmstore::open(backend, dir.path(), &Config::new(SyncMode::NoSync))
                .expect("open")
                .into();
        let mut batch = fsmstore::WriteBatch::new();
        batch.put("k", "v");
        store.apply(&batch, Some(1)).expect("apply");
        let other = store.clone();
        assert!(
            matches!(store.close_shared(), Err(Error::StillShared { others: 1 })),
            "{backend}"
        );
        other.close_shared().expect("the last handle closes");
        let reopened =
            fsmstore::open(backend, dir.path(), &Config::new(SyncMode::NoSync)).expect("reopen");
        if backend != Backend::Memory {
            assert_eq!(
                reopened.get(b"k").expect("read").as_deref(),
                Some(&b"v"[..]),
                "{backend}"
            );
        }
    }
}
