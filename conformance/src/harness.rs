//! The harness every test body receives: one engine, one fresh directory.

use std::path::{Path, PathBuf};

use fsmstore::{
    Backend, Config, Engine, Error, GROUP_MAX_KEY_LEN, GroupStore, RangeQuery, Result, SyncMode,
    WriteBatch,
};

/// The group a harness [`in_group`](Harness::in_group) runs its bodies through: not 0,
/// not the last, with bytes on both sides of its 32-bit halves.
pub const GROUP_UNDER_TEST: u64 = 0x0000_0001_0000_0007;

/// The groups around it that hold data, each checked untouched when the harness goes.
pub const NEIGHBOUR_GROUPS: [u64; 4] = [0, GROUP_UNDER_TEST - 1, GROUP_UNDER_TEST + 1, u64::MAX];

/// The applied index every neighbour holds.
const NEIGHBOUR_INDEX: u64 = 7;

/// A fresh temporary store directory for one engine, which a body can open, close and
/// reopen with any configuration.
#[derive(Debug)]
pub struct Harness {
    backend: Backend,
    root: tempfile::TempDir,
    dir: PathBuf,
    probe: Option<PathBuf>,
    through_async: bool,
    in_group: bool,
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
            in_group: false,
        }
    }

    /// Makes every store this harness opens a group ([`GROUP_UNDER_TEST`]) of a groups
    /// store, created among [`NEIGHBOUR_GROUPS`] that hold data: keys that are prefixes
    /// of each other, the longest key, meta, an applied index. When the harness goes,
    /// it checks that none of them changed.
    pub fn in_group(mut self) -> Self {
        self.in_group = true;
        self
    }

    /// Whether the stores are groups of a groups store.
    pub fn is_in_group(&self) -> bool {
        self.in_group
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
        let engine = if self.in_group {
            open_in_group(self.backend, dir, config)?
        } else {
            fsmstore::open(self.backend, dir, config)?
        };
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

    /// Opens the groups store of a harness [`in_group`](Self::in_group) (no group of it
    /// may be open).
    pub fn open_groups(&self) -> Box<dyn GroupStore> {
        fsmstore::open_groups(self.backend, &self.dir, &Config::default())
            .unwrap_or_else(|error| panic!("open the groups store: {error}"))
    }

    /// Checks that no neighbour of the group under test changed (see [`in_group`](Self::in_group)).
    pub fn check_neighbours(&self) {
        let groups = self.open_groups();
        let listed: Vec<u64> = groups
            .groups()
            .expect("list the groups")
            .iter()
            .map(|info| info.id)
            .collect();
        if listed.is_empty() && self.backend.is_durable() == Some(false) {
            // A child process made the store; the memory engine kept nothing of it.
            return;
        }
        for neighbour in NEIGHBOUR_GROUPS {
            let group = groups
                .open_group(neighbour)
                .unwrap_or_else(|error| panic!("open neighbour group {neighbour}: {error}"));
            let (data, meta) = neighbour_contents();
            let found = group.range(&RangeQuery::all()).expect("read the neighbour");
            let found: Vec<(Vec<u8>, Vec<u8>)> = found
                .into_iter()
                .map(|(key, value)| (key.to_vec(), value.to_vec()))
                .collect();
            assert_eq!(
                found, data,
                "the data of neighbour group {neighbour} changed"
            );
            for (name, value) in meta {
                assert_eq!(
                    group.get_meta(&name).expect("read meta").as_deref(),
                    Some(&value[..]),
                    "meta {name:?} of neighbour group {neighbour} changed"
                );
            }
            assert_eq!(
                group.applied_index().expect("read the index"),
                Some(NEIGHBOUR_INDEX),
                "the applied index of neighbour group {neighbour} moved"
            );
        }
        let mut expected = NEIGHBOUR_GROUPS.to_vec();
        expected.push(GROUP_UNDER_TEST);
        expected.sort_unstable();
        assert_eq!(listed, expected, "the groups store lists other groups");
    }

    /// Closes `store` (reporting failure) and opens the directory again in `mode`.
    pub fn reopen(&self, store: Box<dyn Engine>, mode: SyncMode) -> Box<dyn Engine> {
        store.close().expect("close the store");
        self.open(mode)
    }
}

/// Opens [`GROUP_UNDER_TEST`] of the groups store of `backend` at `dir`, creating the
/// store, the group and its [`NEIGHBOUR_GROUPS`] (with their data) when missing.
pub fn open_in_group(backend: Backend, dir: &Path, config: &Config) -> Result<Box<dyn Engine>> {
    let groups = fsmstore::open_groups(backend, dir, config)?;
    match groups.open_group(GROUP_UNDER_TEST) {
        Err(Error::NoSuchGroup(_)) if !config.read_only => {
            for neighbour in NEIGHBOUR_GROUPS {
                groups.create_group(neighbour)?;
                fill_neighbour(&*groups.open_group(neighbour)?)?;
            }
            groups.create_group(GROUP_UNDER_TEST)?;
            groups.open_group(GROUP_UNDER_TEST)
        }
        opened => opened,
    }
}

/// What each neighbour group holds: keys that are prefixes of each other and of the keys
/// bodies write, the lowest and the longest key, and meta.
#[allow(clippy::type_complexity)]
fn neighbour_contents() -> (Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<u8>)>) {
    let mut data: Vec<(Vec<u8>, Vec<u8>)> = [
        &b"a"[..],
        b"k",
        b"key",
        b"key/1",
        b"user/1",
        &[0x00],
        &[0xFF; GROUP_MAX_KEY_LEN],
    ]
    .iter()
    .map(|key| (key.to_vec(), [b"neighbour:", *key].concat()))
    .collect();
    data.sort();
    let meta = vec![
        (b"m".to_vec(), b"neighbour meta".to_vec()),
        (b"schema".to_vec(), b"neighbour".to_vec()),
    ];
    (data, meta)
}

fn fill_neighbour(group: &dyn Engine) -> Result<()> {
    let (data, meta) = neighbour_contents();
    let mut batch = WriteBatch::new();
    for (key, value) in data {
        batch.put(key, value);
    }
    for (name, value) in meta {
        batch.put_meta(name, value);
    }
    group.apply(&batch, Some(NEIGHBOUR_INDEX))?;
    Ok(())
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.in_group && !std::thread::panicking() && self.dir.exists() {
            self.check_neighbours();
        }
    }
}
