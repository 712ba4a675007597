//! A power cut for fsmstore's tests: an in-memory FUSE filesystem (Linux only) that keeps
//! what running processes see apart from what would survive a power loss, and after a
//! cut writes the survivor out as a plain directory.
//!
//! # The model
//!
//! Every inode has a **volatile** state (what processes read and write) and a
//! **durable** state (what survives). File data lives in 4 KiB pages
//! (`BTreeMap<u64, Arc<page>>`, holes are absent pages) shared copy-on-write between the
//! two states, so memory is about the size of the live data plus the pages overwritten
//! since their last sync, never a copy per fsync.
//!
//! * **Sync points.** `fsync` and `fdatasync` copy the file's dirty pages and its size to
//!   durable; `fsyncdir` copies the directory's entries. A write through an
//!   `O_SYNC`/`O_DSYNC` handle (or with `RWF_DSYNC`) copies the pages it wrote and the
//!   size before it is answered. Each `fsync`, `fdatasync` and `fsyncdir` request is one
//!   sync point; [`PowerCut::fsyncs`] counts them, failed ones included. An `O_DSYNC`
//!   write counts once too: the kernel follows it, inside the same system call, with an
//!   fsync request, and that request is the counted (and failable) sync point. So a
//!   failure injected there makes the write return EIO although its data, already
//!   durable, survives.
//! * **Metadata** ([`MetaMode`]). `posix`: a created, renamed or removed entry is durable
//!   only once its directory is fsynced; a directory moved between two directories of
//!   which only the target is synced appears at both places in the durable namespace and
//!   is written once in the image. `journal`: every successful sync point (file or
//!   directory) also commits every earlier namespace change everywhere, like ext4 or xfs.
//! * **Data at a cut** ([`DataMode`]). `drop`: files hold exactly their last synced pages
//!   and size. `keep-random`: each unsynced page survives with probability 1/2, drawn
//!   from [`Options::seed`] in inode and page order; a kept page past the durable size
//!   extends the size to that page's end (capped at the volatile size). `tear`: all
//!   unsynced pages survive and the size is the volatile one, except the last unsynced
//!   write of each file: with `[off, end)` that write, the cut point `c` is drawn
//!   uniformly from the multiples of 512 in `[off, end)` (or is `off` when there is
//!   none); bytes `[off, c)` keep the new data, bytes `[c, end)` go back to what they held
//!   before the write, and a write that grew the file leaves the size at
//!   `max(size before, c)`. A truncate, hole punch or zero-range after the last write
//!   makes that file untearable (it then keeps its volatile state).
//! * **Triggers** ([`Trigger`]). Manual ([`PowerCut::cut_now`]); after a time
//!   ([`Trigger::AfterTime`], [`Trigger::random_time`]); after the N-th sync point (made
//!   durable and answered OK, then everything fails with EIO); before an operation whose
//!   path contains a pattern (that operation fails with EIO and has no effect).
//! * **Faults.** [`Options::fail_fsync`] fails the N-th sync point with EIO without a
//!   cut, the way Linux does: the file's dirty pages are marked clean without reaching
//!   the disk, so a later successful fsync does not save them, while reads still show
//!   them.
//! * **After a cut** every operation fails with EIO. The mount stays until
//!   [`PowerCut::finish`] (or drop) so that paths under it do not fall through to the
//!   empty directory below. `finish` writes the durable state as a plain directory.
//!
//! # What it does not model
//!
//! * Writes through a shared writable mmap reach the filesystem when the kernel writes the
//!   pages back (on `msync` or at any time) and are then ordinary writes; `msync` itself
//!   is not a sync point unless it ends in an fsync request.
//! * `sync(2)` and `syncfs(2)` do not reach a FUSE filesystem: they are not sync points.
//! * Reads may be served from the kernel's page cache, also after a cut (for files
//!   already open).
//! * No reordering inside one sync interval other than the data modes above; no partial
//!   directory operations; no lost or torn metadata beyond the two metadata modes.
//! * ext4's `data=ordered` (data flushed before a journal commit) and `auto_da_alloc`
//!   (rename over a file flushes it) are not modelled.
//! * File locks (`flock`, `fcntl`) are handled by the kernel locally; atime, xattrs,
//!   special files and permissions checks are not modelled.
//!
//! # Watchdog
//!
//! Every wait takes a timeout. A watchdog thread notices a dead server thread (the
//! power goes out and [`PowerCut::check`]/[`PowerCut::finish`] report it) and an
//! operation running longer than [`Options::op_timeout`] (the FUSE connection is aborted
//! so the caller gets an error instead of hanging). Before mounting, power-cut mounts
//! at the same place and dead ones anywhere (fsname `powercut` in
//! `/proc/self/mountinfo`) are lazily unmounted. Drop always unmounts, within a few
//! seconds, also while a panic unwinds.

#[cfg(target_os = "linux")]
mod fs;
#[cfg(target_os = "linux")]
mod model;
#[cfg(target_os = "linux")]
mod mount;
#[cfg(target_os = "linux")]
mod options;

#[cfg(target_os = "linux")]
pub use model::{CutReport, PageStats};
#[cfg(target_os = "linux")]
pub use mount::{Error, FSNAME, PowerCut, availability};
#[cfg(target_os = "linux")]
pub use options::{DataMode, MetaMode, OpKind, Options, Trigger};

/// Why a power-cut filesystem cannot be mounted: it exists on Linux only.
#[cfg(not(target_os = "linux"))]
pub fn availability() -> Result<(), String> {
    Err("the power-cut filesystem runs on Linux only".to_owned())
}
