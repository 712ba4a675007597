//! The one error type every fsmstore operation returns.

use std::path::PathBuf;

/// Result alias used across fsmstore.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in fsmstore.
///
/// Bad input never panics: it is reported as [`Error::InvalidArgument`] or
/// [`Error::Config`], and nothing already committed is touched. Engine failures are
/// mapped to the most specific variant the engine lets us tell apart (an engine that
/// reports a damaged file surfaces as [`Error::Corruption`], an OS error as [`Error::Io`]);
/// the rest arrive as [`Error::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// Stored bytes are damaged or not in the expected format.
    #[error("corruption: {0}")]
    Corruption(String),

    /// A snapshot stream is damaged, cut short or not a snapshot at all. A restore that
    /// fails with it has changed nothing.
    #[error("invalid snapshot stream: {0}")]
    InvalidSnapshot(String),

    /// The caller passed a value the contract forbids (an empty key, raft index 0, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The configuration (or the `FSMSTORE_SYNC_MODE` override) is invalid.
    #[error("configuration error: {0}")]
    Config(String),

    /// The directory belongs to another engine, or to nobody we know of.
    #[error("{} belongs to {found}; refusing to open it as `{expected}`", path.display())]
    BackendMismatch {
        /// The directory that was being opened.
        path: PathBuf,
        /// The engine that tried to open it.
        expected: String,
        /// What the directory holds: another engine's name, or a description such as
        /// "an unmarked non-empty directory".
        found: String,
    },

    /// The directory holds a store of the other layout: a groups store opened as a store
    /// of one group, or the reverse.
    #[error("{} is {found}; refusing to open it as {expected}", path.display())]
    LayoutMismatch {
        /// The directory that was being opened.
        path: PathBuf,
        /// The layout the open asked for.
        expected: crate::Layout,
        /// The layout the directory's marker records.
        found: crate::Layout,
    },

    /// A groups store has no group with this id.
    #[error("no group {0} in this store")]
    NoSuchGroup(u64),

    /// A group with this id already exists.
    #[error("group {0} already exists")]
    GroupExists(u64),

    /// The group is open: a group has one handle at a time, and an open group cannot
    /// be dropped.
    #[error("group {0} is open")]
    GroupInUse(u64),

    /// [`Engine::close_shared`](crate::Engine::close_shared) was called while other
    /// handles on the store remain: this one is gone, and the store closes when the
    /// last of them goes.
    #[error("the store is still held by {others} other handle(s); it closes with the last")]
    StillShared {
        /// How many other handles there were.
        others: usize,
    },

    /// The store was written by a newer fsmstore layout than this build understands.
    #[error("{} has store format {found}; this build supports up to {supported}", path.display())]
    UnsupportedFormat {
        /// The directory that was being opened.
        path: PathBuf,
        /// The format version found in the directory marker.
        found: u32,
        /// The newest format version this build reads.
        supported: u32,
    },

    /// The path given as a store directory exists and is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),

    /// Another handle holds the store: one process (and one handle) per store. A store
    /// keeps an exclusive lock on its directory for its whole life.
    #[error("{} is in use by another process or handle", .0.display())]
    Locked(PathBuf),

    /// An earlier durable commit or sync failed, so the store accepts no more writes,
    /// pins, syncs or restores until it is reopened.
    ///
    /// After a failed fsync the kernel may have dropped the dirty pages it could not
    /// write, and a later fsync that succeeds would vouch for data that is gone. Reads
    /// go on where the engine allows it (LMDB fails every transaction of an environment
    /// after a failed commit); reopening recovers from what is really on disk.
    #[error("the store stopped after a failed durable write ({0}); reopen it")]
    Stopped(String),

    /// The engine recovered the store to an applied index below one a checkpoint or a
    /// restore made durable earlier.
    ///
    /// The store records each pinned index in its marker, outside the engine, so that a
    /// silent rollback of the engine's own recovery (a log cut at damage, a file repaired
    /// to an older commit) is refused instead of serving a state older than one that was
    /// acknowledged as durable. Nothing is changed: restore the store from a snapshot
    /// (into a new directory) or let the raft group send one.
    ///
    /// In a groups store the two numbers are durable rounds of its commit pipeline, not
    /// applied indexes: the engine recovered below the round that made some group's
    /// checkpoint or restore durable.
    #[error("{} recovered to applied index {recovered:?}, below the durable pin {pinned}; restore it from a snapshot", path.display())]
    RolledBack {
        /// The store directory.
        path: PathBuf,
        /// The applied index the engine recovered.
        recovered: Option<u64>,
        /// The highest index pinned durably before, as the marker records it.
        pinned: u64,
    },

    /// A write was attempted on a store opened read-only.
    #[error("{} is open read-only", .0.display())]
    ReadOnly(PathBuf),

    /// The engine was asked for at run time but its cargo feature is off.
    #[error("engine `{engine}` is not compiled in; enable the cargo feature `{feature}`")]
    NotCompiled {
        /// The engine that was asked for.
        engine: String,
        /// The cargo feature of the `fsmstore` crate that compiles it in.
        feature: String,
    },

    /// An engine error with no closer match above.
    #[error("{engine}: {source}")]
    Backend {
        /// The engine that failed.
        engine: &'static str,
        /// The engine's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Wraps an engine's own error as [`Error::Backend`].
    pub fn backend(
        engine: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            engine,
            source: source.into(),
        }
    }

    /// Maps an I/O error that an engine returned while reading its own files.
    ///
    /// Engines report a damaged file through I/O errors too: `InvalidData` (bytes that
    /// do not parse, such as a wrong magic number) and `UnexpectedEof` (a file cut short,
    /// read with `read_exact`). Those are [`Error::Corruption`]; any other kind is a real
    /// OS error, [`Error::Io`].
    pub fn from_engine_io(engine: &'static str, error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                Error::Corruption(format!("{engine}: {error}"))
            }
            _ => Error::Io(error),
        }
    }

    /// The same error again, for each member of a shared commit that failed: the same
    /// variant and message (an engine's own error keeps only its message).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Io(error) => Error::Io(std::io::Error::new(error.kind(), error.to_string())),
            Error::Corruption(why) => Error::Corruption(why.clone()),
            Error::InvalidSnapshot(why) => Error::InvalidSnapshot(why.clone()),
            Error::InvalidArgument(why) => Error::InvalidArgument(why.clone()),
            Error::Config(why) => Error::Config(why.clone()),
            Error::Stopped(why) => Error::Stopped(why.clone()),
            Error::Locked(path) => Error::Locked(path.clone()),
            Error::ReadOnly(path) => Error::ReadOnly(path.clone()),
            Error::NoSuchGroup(id) => Error::NoSuchGroup(*id),
            Error::GroupExists(id) => Error::GroupExists(*id),
            Error::GroupInUse(id) => Error::GroupInUse(*id),
            Error::StillShared { others } => Error::StillShared { others: *others },
            Error::Backend { engine, source } => Error::backend(engine, source.to_string()),
            other => Error::backend("fsmstore", other.to_string()),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }
}
