//! The harness every test body receives: one engine, one fresh directory.

use std::path::{Path, PathBuf};

use fsmstore::{Backend, Config, Engine, Result, SyncMode};

/// A fresh temporary store directory for one engine, which a body can open, close and
/// reopen with any configuration.
#[derive(Debug)]
pub struct Harness {
    backend: Backend,
    root: tempfile::TempDir,
    dir: PathBuf,
    probe: Option<PathBuf>,
    through_async: bool,
}

impl Harness {
    /// A harness for `backend` with a fresh, not yet created store directory.
    pub fn new(backend: Backend) -> Self {
        let root = tempfile::Builder::new()
            .prefix(&format!("fsmstore-{}-", backend.name()))
            .tempdir()
            .expect("create a temporary directory");
        let dir = root.path().join("store");
        Self {
            backend,
            root,
            dir,
            probe: None,
            through_async: false,
        }
    }

    /// Makes every store this harness opens go through
    /// [`AsyncEngine`](fsmstore::AsyncEngine) on a tokio runtime (see
    /// [`ThroughAsync`](crate::support::ThroughAsync)).
    pub fn through_async(mut self) -> Self {
        self.through_async = true;
        self
    }

    /// Sets the path of the `fsmstore-probe` binary, for bodies that run a child process.
    pub fn with_probe(mut self, probe: impl Into<PathBuf>) -> Self {
        self.probe = Some(probe.into());
        self
    }

    /// The engine under test.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside the temporary root that is not the store directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// The probe binary.
    pub fn probe(&self) -> &Path {
        self.probe
            .as_deref()
            .expect("this body needs the probe binary: build the harness with_probe")
    }

    /// Opens the store directory with `config`.
    pub fn try_open(&self, config: &Config) -> Result<Box<dyn Engine>> {
        self.try_open_at(&self.dir, config)
    }

    /// Opens a store of this engine at `dir` with `config`.
    pub fn try_open_at(&self, dir: &Path, config: &Config) -> Result<Box<dyn Engine>> {
        let engine = fsmstore::open(self.backend, dir, config)?;
        if self.through_async {
            Ok(Box::new(crate::support::ThroughAsync::new(engine)?))
        } else {
            Ok(engine)
        }
    }

    /// Opens the store directory in `mode`, panicking on failure.
    pub fn open(&self, mode: SyncMode) -> Box<dyn Engine> {
        self.try_open(&Config::new(mode))
            .unwrap_or_else(|error| panic!("open {} in {mode}: {error}", self.backend))
    }

    /// Opens the store directory in [`SyncMode::Sync`].
    pub fn open_sync(&self) -> Box<dyn Engine> {
        self.open(SyncMode::Sync)
    }

    /// Opens the store directory in [`SyncMode::NoSync`].
    pub fn open_nosync(&self) -> Box<dyn Engine> {
        self.open(SyncMode::NoSync)
    }

    /// Closes `store` (reporting failure) and opens the directory again in `mode`.
    pub fn reopen(&self, store: Box<dyn Engine>, mode: SyncMode) -> Box<dyn Engine> {
        store.close().expect("close the store");
        self.open(mode)
    }
}
