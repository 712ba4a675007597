//! The log store's writer: two threads that keep every engine commit and every fsync of
//! the log off the async runtime.
//!
//! The committer commits each queued batch, in order, without an fsync, tells its caller
//! that it is visible and hands it to the syncer. The syncer takes every batch handed
//! over while its last fsync ran and makes them all durable with one [`Engine::sync`],
//! then completes the ones that wait for it, in order: an append queued during an fsync
//! rides the next one (group commit), and a batch nobody waits for (a purge, the
//! committed log id) is durable one fsync later without an fsync of its own. A sync covers every commit made
//! before it started, and a batch reaches the syncer only once it is committed, so no
//! completion reports a batch durable before an fsync that covers it.
//!
//! A failed commit or sync fails its batches and every batch after it: the engine has
//! stopped (fsmstore fails every write after a failed one), and a log with a hole must
//! never be reported durable.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fsmstore::{Engine, WriteBatch};
use tokio::sync::oneshot;

use crate::io_error;

/// How long a sync for batches that nobody waits for waits for one that somebody does.
/// A node whose log goes idle has them durable this much later.
pub(crate) const UNAWAITED_SYNC_DELAY: Duration = Duration::from_millis(2);

/// Called once a batch is durable, or with the error that stopped it.
pub(crate) type OnDurable = Box<dyn FnOnce(io::Result<()>) + Send>;

/// One batch for the committer (`None`: a barrier, visible once every batch queued
/// before it is).
struct Commit {
    batch: Option<WriteBatch>,
    visible: oneshot::Sender<io::Result<()>>,
    durable: Option<OnDurable>,
}

#[derive(Default)]
struct Queues {
    commits: VecDeque<Commit>,
    /// Committed batches the next sync covers, with what waits for it.
    flushes: Vec<Option<OnDurable>>,
    /// Set when the last handle goes: the threads finish what is queued and end.
    closing: bool,
    committer_done: bool,
    /// The error that stopped the writer, as text (an `io::Error` cannot be cloned).
    failed: Option<(io::ErrorKind, String)>,
}

struct Shared {
    queues: Mutex<Queues>,
    commit_ready: Condvar,
    flush_ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer of one log store (shared by its handles; the threads end with it).
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// How many batches the writer committed and made durable, and with how many syncs:
/// what the group commit saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogWriterStats {
    /// Batches committed.
    pub commits: u64,
    /// Batches made durable: every committed batch is, one sync after its commit.
    pub durable: u64,
    /// Engine syncs that made them durable.
    pub syncs: u64,
}

impl LogWriter {
    /// Starts the threads of a writer on `engine`.
    pub(crate) fn start(engine: Arc<dyn Engine>, stats: Arc<Mutex<LogWriterStats>>) -> Self {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            commit_ready: Condvar::new(),
            flush_ready: Condvar::new(),
        });
        let committer = {
            let (shared, engine, stats) = (shared.clone(), engine.clone(), stats.clone());
            std::thread::Builder::new()
                .name("fsmstore-log-commit".into())
                .spawn(move || commit_loop(&shared, &*engine, &stats))
                .expect("spawn the log committer")
        };
        let syncer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("fsmstore-log-sync".into())
                .spawn(move || sync_loop(&shared, &*engine, &stats))
                .expect("spawn the log syncer")
        };
        Self {
            shared,
            threads: vec![committer, syncer],
        }
    }

    /// Queues `batch`; the returned receiver says when it is visible (committed). Every
    /// batch is made durable by the next sync after its commit; `durable` is called then.
    pub(crate) fn submit(
        &self,
        batch: Option<WriteBatch>,
        durable: Option<OnDurable>,
    ) -> oneshot::Receiver<io::Result<()>> {
        let (visible, receiver) = oneshot::channel();
        let mut queues = self.shared.lock();
        if let Some(failed) = &queues.failed {
            let error = stopped(failed);
            drop(queues);
            if let Some(durable) = durable {
                durable(Err(stopped_like(&error)));
            }
            let _ = visible.send(Err(error));
            return receiver;
        }
        queues.commits.push_back(Commit {
            batch,
            visible,
            durable,
        });
        drop(queues);
        self.shared.commit_ready.notify_one();
        receiver
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.commit_ready.notify_all();
        self.shared.flush_ready.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn stopped(failed: &(io::ErrorKind, String)) -> io::Error {
    io::Error::new(
        failed.0,
        format!("the log writer stopped after an error: {}", failed.1),
    )
}

fn stopped_like(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}

fn commit_loop(shared: &Shared, engine: &dyn Engine, stats: &Mutex<LogWriterStats>) {
    loop {
        let mut queues = shared.lock();
        let commit = loop {
            if let Some(commit) = queues.commits.pop_front() {
                break commit;
            }
            if queues.closing {
                queues.committer_done = true;
                drop(queues);
                shared.flush_ready.notify_all();
                return;
            }
            queues = shared
                .commit_ready
                .wait(queues)
                .unwrap_or_else(PoisonError::into_inner);
        };
        let failed = queues.failed.clone();
        drop(queues);
        let committed = match (failed, &commit.batch) {
            (Some(failed), _) => Err(stopped(&failed)),
            (None, Some(batch)) => engine.apply(batch, None).map(drop).map_err(io_error),
            (None, None) => {
                let _ = commit.visible.send(Ok(()));
                continue;
            }
        };
        match committed {
            Ok(()) => {
                stats.lock().unwrap_or_else(PoisonError::into_inner).commits += 1;
                shared.lock().flushes.push(commit.durable);
                shared.flush_ready.notify_one();
                let _ = commit.visible.send(Ok(()));
            }
            Err(error) => {
                let mut queues = shared.lock();
                queues
                    .failed
                    .get_or_insert_with(|| (error.kind(), error.to_string()));
                drop(queues);
                if let Some(durable) = commit.durable {
                    durable(Err(stopped_like(&error)));
                }
                let _ = commit.visible.send(Err(error));
            }
        }
    }
}

fn sync_loop(shared: &Shared, engine: &dyn Engine, stats: &Mutex<LogWriterStats>) {
    loop {
        let mut queues = shared.lock();
        while queues.flushes.is_empty() {
            if queues.committer_done {
                return;
            }
            queues = shared
                .flush_ready
                .wait(queues)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Batches nobody waits for (a purge, the committed log id) wait a little for one
        // that someone does: on engines whose sync holds back commits (redb's is a
        // commit, fjall's holds the journal), a sync started for them would hold back
        // the next append instead of carrying it.
        let deadline = Instant::now() + UNAWAITED_SYNC_DELAY;
        while queues.flushes.iter().all(Option::is_none) && !queues.committer_done {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queues = shared
                .flush_ready
                .wait_timeout(queues, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let flushes = std::mem::take(&mut queues.flushes);
        let failed = queues.failed.clone();
        drop(queues);
        let synced = match failed {
            Some(failed) => Err(stopped(&failed)),
            None => engine.sync().map_err(io_error),
        };
        match &synced {
            Ok(()) => {
                let mut stats = stats.lock().unwrap_or_else(PoisonError::into_inner);
                stats.syncs += 1;
                stats.durable += flushes.len() as u64;
            }
            Err(error) => {
                shared
                    .lock()
                    .failed
                    .get_or_insert_with(|| (error.kind(), error.to_string()));
            }
        }
        for durable in flushes.into_iter().flatten() {
            durable(synced.as_ref().map(|_| ()).map_err(stopped_like));
        }
    }
}
