//! `AsyncEngine`: the [`Engine`] API for async raft runtimes (feature `async`).
//!
//! Every engine call blocks on disk I/O (an fsync can take milliseconds), which must not
//! happen on an async executor's worker threads. [`AsyncEngine`] is implemented once,
//! for every engine, on `Arc<E>`: each call moves its arguments and a clone of the `Arc`
//! to tokio's blocking pool (`spawn_blocking`) and awaits the result. The semantics are
//! exactly [`Engine`]'s; only the calling convention changes (owned arguments, because
//! the call outlives the caller's borrow).
//!
//! ```no_run
//! # async fn example(engine: Box<dyn engine_api::Engine>) -> engine_api::Result<()> {
//! use std::sync::Arc;
//! use engine_api::{AsyncEngine, Engine, WriteBatch};
//!
//! let engine: Arc<dyn Engine> = Arc::from(engine);
//! let mut batch = WriteBatch::new();
//! batch.put("key", "value");
//! AsyncEngine::apply(&engine, batch, Some(7)).await?;
//! assert_eq!(AsyncEngine::applied_index(&engine).await?, Some(7));
//! # Ok(())
//! # }
//! ```
//!
//! Must be called from within a tokio runtime.

use std::io::{Read, Write};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::deep_check::DeepCheck;
use crate::engine::{ApplyOutcome, Engine, View};
use crate::error::{Error, Result};
use crate::range::RangeQuery;
use crate::snapshot::SnapshotHeader;
use crate::sync_mode::SyncMode;

/// [`Engine`] for async callers: the same operations and contract, run on tokio's
/// blocking pool. See the module docs.
#[async_trait]
pub trait AsyncEngine: Send + Sync {
    /// [`Engine::engine_name`].
    fn engine_name(&self) -> &'static str;

    /// [`Engine::sync_mode`].
    fn sync_mode(&self) -> SyncMode;

    /// [`Engine::apply`].
    async fn apply(&self, batch: WriteBatch, index: Option<u64>) -> Result<ApplyOutcome>;

    /// [`Engine::write`].
    async fn write(&self, batch: WriteBatch) -> Result<()>;

    /// [`Engine::applied_index`].
    async fn applied_index(&self) -> Result<Option<u64>>;

    /// [`Engine::set_durable_applied_index`].
    async fn set_durable_applied_index(&self, index: u64) -> Result<u64>;

    /// [`Engine::sync`].
    async fn sync(&self) -> Result<()>;

    /// [`Engine::get`].
    async fn get(&self, key: Bytes) -> Result<Option<Bytes>>;

    /// [`Engine::get_meta`].
    async fn get_meta(&self, name: Bytes) -> Result<Option<Bytes>>;

    /// [`Engine::scan_prefix`].
    async fn scan_prefix(&self, prefix: Bytes) -> Result<Vec<(Bytes, Bytes)>>;

    /// [`Engine::range`]: the entries of `query`, collected from one consistent view.
    /// Named apart from [`Engine::range`] so that both traits can be in scope.
    async fn read_range(&self, query: RangeQuery) -> Result<Vec<(Bytes, Bytes)>>;

    /// [`Engine::view`]: runs `read` on the blocking pool with several reads at one
    /// point in time, and returns what it returns.
    async fn read_view<T, F>(&self, read: F) -> Result<T>
    where
        Self: Sized,
        T: Send + 'static,
        F: FnOnce(&dyn View) -> Result<T> + Send + 'static;

    /// [`Engine::export`], writing to a blocking writer on the blocking pool (for an
    /// async sink, bridge it, e.g. with `tokio_util::io::SyncIoBridge`).
    async fn export(&self, out: Box<dyn Write + Send>) -> Result<SnapshotHeader>;

    /// [`Engine::restore`], reading from a blocking reader on the blocking pool.
    async fn restore(&self, input: Box<dyn Read + Send>) -> Result<SnapshotHeader>;

    /// [`Engine::verify_deep`].
    async fn verify_deep(&self) -> Result<DeepCheck>;

    /// Makes every commit durable and drops this handle (on the blocking pool, so that
    /// the store's own close runs there when it is the last handle).
    async fn close(self) -> Result<()>
    where
        Self: Sized;
}

/// Runs `call` on the blocking pool. A panic in it is resumed in the caller, as if the
/// call had been made directly.
async fn run_blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(Error::Io(std::io::Error::other(format!(
            "the blocking task was cancelled (runtime shutting down): {error}"
        )))),
    }
}

/// Runs `call` on a clone of `engine` on the blocking pool.
async fn blocking<E, T>(
    engine: &Arc<E>,
    call: impl FnOnce(&E) -> Result<T> + Send + 'static,
) -> Result<T>
where
    E: Engine + ?Sized + 'static,
    T: Send + 'static,
{
    let engine = Arc::clone(engine);
    run_blocking(move || call(&engine)).await
}

#[async_trait]
impl<E: Engine + ?Sized + 'static> AsyncEngine for Arc<E> {
    fn engine_name(&self) -> &'static str {
        Engine::engine_name(&**self)
    }

    fn sync_mode(&self) -> SyncMode {
        Engine::sync_mode(&**self)
    }

    async fn apply(&self, batch: WriteBatch, index: Option<u64>) -> Result<ApplyOutcome> {
        blocking(self, move |engine| engine.apply(&batch, index)).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        blocking(self, move |engine| engine.write(&batch)).await
    }

    async fn applied_index(&self) -> Result<Option<u64>> {
        blocking(self, |engine| engine.applied_index()).await
    }

    async fn set_durable_applied_index(&self, index: u64) -> Result<u64> {
        blocking(self, move |engine| engine.set_durable_applied_index(index)).await
    }

    async fn sync(&self) -> Result<()> {
        blocking(self, |engine| engine.sync()).await
    }

    async fn get(&self, key: Bytes) -> Result<Option<Bytes>> {
        blocking(self, move |engine| engine.get(&key)).await
    }

    async fn get_meta(&self, name: Bytes) -> Result<Option<Bytes>> {
        blocking(self, move |engine| engine.get_meta(&name)).await
    }

    async fn scan_prefix(&self, prefix: Bytes) -> Result<Vec<(Bytes, Bytes)>> {
        blocking(self, move |engine| engine.scan_prefix(&prefix)).await
    }

    async fn read_range(&self, query: RangeQuery) -> Result<Vec<(Bytes, Bytes)>> {
        blocking(self, move |engine| engine.range(&query)).await
    }

    async fn read_view<T, F>(&self, read: F) -> Result<T>
    where
        Self: Sized,
        T: Send + 'static,
        F: FnOnce(&dyn View) -> Result<T> + Send + 'static,
    {
        blocking(self, move |engine| {
            let (mut read, mut output) = (Some(read), None);
            engine.view(&mut |view| {
                if let Some(read) = read.take() {
                    output = Some(read(view)?);
                }
                Ok(())
            })?;
            output.ok_or_else(|| Error::backend("fsmstore", "the engine's view never ran the read"))
        })
        .await
    }

    async fn export(&self, mut out: Box<dyn Write + Send>) -> Result<SnapshotHeader> {
        blocking(self, move |engine| engine.export(&mut out)).await
    }

    async fn restore(&self, mut input: Box<dyn Read + Send>) -> Result<SnapshotHeader> {
        blocking(self, move |engine| engine.restore(&mut input)).await
    }

    async fn verify_deep(&self) -> Result<DeepCheck> {
        blocking(self, |engine| engine.verify_deep()).await
    }

    async fn close(self) -> Result<()> {
        run_blocking(move || {
            let synced = Engine::sync(&*self);
            drop(self);
            synced
        })
        .await
    }
}
