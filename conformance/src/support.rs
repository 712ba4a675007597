//! Small helpers the bodies share: batch builders, readers and a fault-injecting engine.

use std::sync::Mutex;

use fsmstore::{ApplyOutcome, Bytes, Engine, Error, Result, SyncMode, WriteBatch};

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
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner.scan_prefix(prefix)
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
        _ => "other",
    }
}
