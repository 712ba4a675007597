//! What a mount simulates: metadata mode, data mode, cut trigger, injected faults.

use std::fmt;
use std::time::Duration;

/// When a created, renamed or removed directory entry becomes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetaMode {
    /// An entry is durable only after an fsync of the directory that holds it
    /// (the strict POSIX reading).
    #[default]
    Posix,
    /// Any successful fsync (of a file or a directory) also commits every earlier
    /// namespace change everywhere, like ext4's and xfs's journal.
    Journal,
}

/// What happens at a cut to file pages written but not yet synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DataMode {
    /// Every unsynced page is lost; files hold exactly their last synced data and size.
    #[default]
    DropUnsynced,
    /// Each unsynced page independently survives with probability 1/2 (drawn from the
    /// seed, in inode and page order, so the same history and seed give the same image).
    KeepRandom,
    /// Every unsynced write survives, except the last one of each file, which survives
    /// only up to a random 512-byte boundary inside it (see the crate documentation).
    TearLast,
}

/// Which operation an [`Trigger::OnOp`] pattern applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `create`/`mknod` of a file.
    Create,
    /// `mkdir`.
    Mkdir,
    /// `rename`, matched on the target path.
    Rename,
    /// `unlink`.
    Unlink,
    /// `rmdir`.
    Rmdir,
    /// `link`, matched on the new path.
    Link,
    /// `symlink`, matched on the new path.
    Symlink,
    /// Any of the operations above.
    Any,
}

/// What makes the power go out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trigger {
    /// Only [`crate::PowerCut::cut_now`] (or [`crate::PowerCut::finish`]) cuts.
    #[default]
    Manual,
    /// The N-th sync point (1-based) is made durable and answered OK, then the power
    /// goes out: every later operation fails with EIO. Sync points are the `fsync`,
    /// `fdatasync` and `fsyncdir` requests; a write through an `O_SYNC`/`O_DSYNC` handle
    /// counts through the fsync request the kernel sends after it. `AfterFsyncs(0)`
    /// cuts at the first sync point, like `AfterFsyncs(1)`.
    AfterFsyncs(u64),
    /// The first operation of kind `op` whose path (from the mount's root, with a
    /// leading slash: `/store/FSMSTORE`) contains `name_contains` does not take effect:
    /// the power goes out just before it, and it fails with EIO. `"/FSMSTORE"` matches
    /// a final name starting with `FSMSTORE` but not `.FSMSTORE.tmp`.
    OnOp {
        /// The kind of operation to watch.
        op: OpKind,
        /// A substring of the operation's path.
        name_contains: String,
    },
    /// The power goes out this long after the mount.
    AfterTime(Duration),
}

impl Trigger {
    /// A cut at a time drawn from `seed`, uniformly in `[0, max)` (reproducible).
    pub fn random_time(seed: u64, max: Duration) -> Trigger {
        let mut rng = crate::model::Rng::new(seed ^ 0x7469_6d65);
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1);
        Trigger::AfterTime(Duration::from_nanos(rng.next() % nanos))
    }
}

/// How a mount behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// When namespace changes become durable.
    pub meta: MetaMode,
    /// What a cut does to unsynced pages.
    pub data: DataMode,
    /// Seed of every random choice (kept pages, tear points).
    pub seed: u64,
    /// What cuts the power.
    pub trigger: Trigger,
    /// Fail the N-th sync point (1-based, counted like [`Trigger::AfterFsyncs`]) with
    /// EIO without cutting: the file's dirty pages are marked clean without becoming
    /// durable, so a later successful fsync does not make them durable either. A failed
    /// `fsyncdir` commits nothing. When it names the same sync point as
    /// [`Trigger::AfterFsyncs`], the failure wins and there is no cut.
    pub fail_fsync: Option<u64>,
    /// An operation running longer than this inside the filesystem (which never
    /// blocks, so this means a hang) aborts the connection and is reported.
    pub op_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            meta: MetaMode::default(),
            data: DataMode::default(),
            seed: 0,
            trigger: Trigger::default(),
            fail_fsync: None,
            op_timeout: Duration::from_secs(60),
        }
    }
}

impl fmt::Display for MetaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetaMode::Posix => "posix",
            MetaMode::Journal => "journal",
        })
    }
}

impl fmt::Display for DataMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataMode::DropUnsynced => "drop",
            DataMode::KeepRandom => "keep-random",
            DataMode::TearLast => "tear",
        })
    }
}
