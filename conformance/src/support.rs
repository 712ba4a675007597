//! Small helpers the bodies share: batch builders, readers and a fault-injecting engine.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use fsmstore::AsyncEngine;

use fsmstore::{
    ApplyOutcome, Bytes, Engine, Error, RangeQuery, Result, ScanVisitor, SnapshotHeader, SyncMode,
    View, WriteBatch,
};

/// A batch of puts.
pub fn puts<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for (key, value) in pairs {
        batch.put(
            Bytes::copy_from_slice(key.as_ref()),
            Bytes::copy_from_slice(value.as_ref()),
        );
    }
    batch
}

/// A batch of one put.
pub fn put(key: &str, value: &str) -> WriteBatch {
    puts(&[(key, value)])
}

/// Reads a data key as a `String`, panicking on a read error.
pub fn get_string(store: &dyn Engine, key: &str) -> Option<String> {
    store
        .get(key.as_bytes())
        .expect("get")
        .map(|value| String::from_utf8_lossy(&value).into_owned())
}

/// Every data key under `prefix` as `(key, value)` strings, in scan order.
pub fn scan_strings(store: &dyn Engine, prefix: &str) -> Vec<(String, String)> {
    store
        .scan_prefix(prefix.as_bytes())
        .expect("scan")
        .into_iter()
        .map(|(key, value)| {
            (
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect()
}

/// Every data key under `prefix`, as strings, in scan order.
pub fn scan_keys(store: &dyn Engine, prefix: &str) -> Vec<String> {
    scan_strings(store, prefix)
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// Applies `batch` at `index` and asserts it was committed, not skipped.
pub fn apply_at(store: &dyn Engine, batch: &WriteBatch, index: u64) {
    let outcome = store.apply(batch, Some(index)).expect("apply");
    assert_eq!(outcome, ApplyOutcome::Applied { index: Some(index) });
}

/// The applied index, panicking on a read error.
pub fn applied(store: &dyn Engine) -> Option<u64> {
    store.applied_index().expect("read the applied index")
}

/// An engine wrapper that records pins and can be told to fail them or index reads:
/// the only way to drive the error paths of the shared helpers through a real engine.
pub struct FaultyEngine<'a> {
    inner: &'a dyn Engine,
    /// Make `set_durable_applied_index` fail without calling the inner engine.
    pub fail_pins: bool,
    /// Make `applied_index` fail without calling the inner engine.
    pub fail_index_reads: bool,
    /// What happened, in order: `pin@N` for each pin attempt.
    pub events: Mutex<Vec<String>>,
}

impl<'a> FaultyEngine<'a> {
    /// Wraps `inner` with no faults.
    pub fn new(inner: &'a dyn Engine) -> Self {
        Self {
            inner,
            fail_pins: false,
            fail_index_reads: false,
            events: Mutex::new(Vec::new()),
        }
    }

    /// Appends an event.
    pub fn record(&self, event: String) {
        self.events.lock().expect("events lock").push(event);
    }

    /// The events so far.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().expect("events lock").clone()
    }

    fn injected() -> Error {
        Error::Io(std::io::Error::other("injected fault"))
    }
}

impl Engine for FaultyEngine<'_> {
    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }
    fn sync_mode(&self) -> SyncMode {
        self.inner.sync_mode()
    }
    fn max_key_len(&self) -> usize {
        self.inner.max_key_len()
    }
    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> Result<ApplyOutcome> {
        self.inner.apply(batch, index)
    }
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.inner.write(batch)
    }
    fn applied_index(&self) -> Result<Option<u64>> {
        if self.fail_index_reads {
            return Err(Self::injected());
        }
        self.inner.applied_index()
    }
    fn set_durable_applied_index(&self, index: u64) -> Result<u64> {
        self.record(format!("pin@{index}"));
        if self.fail_pins {
            return Err(Self::injected());
        }
        self.inner.set_durable_applied_index(index)
    }
    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(key)
    }
    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get_meta(name)
    }
    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()> {
        self.inner.scan(query, visit)
    }
    fn view(&self, read: &mut dyn FnMut(&dyn View) -> Result<()>) -> Result<()> {
        self.inner.view(read)
    }
    fn export(&self, out: &mut dyn std::io::Write) -> Result<SnapshotHeader> {
        self.inner.export(out)
    }
    fn restore(&self, input: &mut dyn std::io::Read) -> Result<SnapshotHeader> {
        self.inner.restore(input)
    }
    fn verify_deep(&self) -> Result<fsmstore::DeepCheck> {
        self.inner.verify_deep()
    }
    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A stable one-word name for an error's variant, for child processes to report.
pub fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::Io(_) => "io",
        Error::Corruption(_) => "corruption",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::Config(_) => "config",
        Error::BackendMismatch { .. } => "backend_mismatch",
        Error::UnsupportedFormat { .. } => "unsupported_format",
        Error::NotADirectory(_) => "not_a_directory",
        Error::NotCompiled { .. } => "not_compiled",
        Error::Backend { .. } => "backend",
        Error::InvalidSnapshot(_) => "invalid_snapshot",
        Error::Locked(_) => "locked",
        Error::Stopped(_) => "stopped",
        Error::ReadOnly(_) => "read_only",
        _ => "other",
    }
}

/// An [`Engine`] that makes every call through [`AsyncEngine`] on its own tokio runtime,
/// so that the suite's bodies test the async facade as they test the engines.
pub struct ThroughAsync {
    runtime: tokio::runtime::Runtime,
    engine: Arc<dyn Engine>,
}

impl ThroughAsync {
    /// Wraps `engine`, with a runtime of its own.
    pub fn new(engine: Box<dyn Engine>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        Ok(Self {
            runtime,
            engine: Arc::from(engine),
        })
    }
}

/// A `Write` that an async export can own while the bridge keeps the bytes.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Engine for ThroughAsync {
    fn engine_name(&self) -> &'static str {
        AsyncEngine::engine_name(&self.engine)
    }
    fn sync_mode(&self) -> SyncMode {
        AsyncEngine::sync_mode(&self.engine)
    }
    fn max_key_len(&self) -> usize {
        self.engine.max_key_len()
    }
    fn apply(&self, batch: &WriteBatch, index: Option<u64>) -> Result<ApplyOutcome> {
        self.runtime
            .block_on(AsyncEngine::apply(&self.engine, batch.clone(), index))
    }
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.runtime
            .block_on(AsyncEngine::write(&self.engine, batch.clone()))
    }
    fn applied_index(&self) -> Result<Option<u64>> {
        self.runtime
            .block_on(AsyncEngine::applied_index(&self.engine))
    }
    fn set_durable_applied_index(&self, index: u64) -> Result<u64> {
        self.runtime
            .block_on(AsyncEngine::set_durable_applied_index(&self.engine, index))
    }
    fn sync(&self) -> Result<()> {
        self.runtime.block_on(AsyncEngine::sync(&self.engine))
    }
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.runtime
            .block_on(AsyncEngine::get(&self.engine, Bytes::copy_from_slice(key)))
    }
    fn get_meta(&self, name: &[u8]) -> Result<Option<Bytes>> {
        self.runtime.block_on(AsyncEngine::get_meta(
            &self.engine,
            Bytes::copy_from_slice(name),
        ))
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        self.runtime.block_on(AsyncEngine::scan_prefix(
            &self.engine,
            Bytes::copy_from_slice(prefix),
        ))
    }
    /// Collects through [`AsyncEngine::read_range`], then visits what it got.
    fn scan(&self, query: &RangeQuery, visit: &mut ScanVisitor<'_>) -> Result<()> {
        let entries = self
            .runtime
            .block_on(AsyncEngine::read_range(&self.engine, query.clone()))?;
        for (key, value) in entries {
            if visit(&key, &value)?.is_break() {
                break;
            }
        }
        Ok(())
    }
    /// Runs `read` on the store directly: it borrows the caller's stack, which a task
    /// on the blocking pool ([`AsyncEngine::read_view`]) cannot.
    fn view(&self, read: &mut dyn FnMut(&dyn View) -> Result<()>) -> Result<()> {
        self.engine.view(read)
    }
    fn export(&self, out: &mut dyn Write) -> Result<SnapshotHeader> {
        let buffer = SharedBuffer::default();
        let header = self
            .runtime
            .block_on(AsyncEngine::export(&self.engine, Box::new(buffer.clone())))?;
        out.write_all(&buffer.0.lock().unwrap_or_else(PoisonError::into_inner))?;
        Ok(header)
    }
    fn restore(&self, input: &mut dyn Read) -> Result<SnapshotHeader> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        self.runtime.block_on(AsyncEngine::restore(
            &self.engine,
            Box::new(std::io::Cursor::new(bytes)),
        ))
    }
    fn verify_deep(&self) -> Result<fsmstore::DeepCheck> {
        self.runtime
            .block_on(AsyncEngine::verify_deep(&self.engine))
    }
    fn close(self: Box<Self>) -> Result<()> {
        let Self { runtime, engine } = *self;
        runtime.block_on(AsyncEngine::close(engine))
    }
}
