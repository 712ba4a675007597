//! Mounting, unmounting, stale mounts, the watchdog and the image.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, Config, MountOption, Session, SessionACL};
use nix::mount::{MntFlags, umount2};

use crate::fs::{Fs, Shared};
use crate::model::{CutReport, PageStats, State};
use crate::options::{Options, Trigger};

/// The name the filesystem is mounted under (`/proc/self/mountinfo`'s source field).
pub const FSNAME: &str = "powercut";

/// How long unmounting waits for the server thread to end after the lazy unmount (it
/// does not while files under the mount are open), and again after aborting the
/// connection.
const UNMOUNT_WAIT: Duration = Duration::from_secs(1);
const WATCHDOG_TICK: Duration = Duration::from_millis(20);

/// What can go wrong around a power-cut mount.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mountpoint could not be prepared (created, resolved, cleaned of stale mounts).
    #[error("cannot prepare mountpoint {path}: {source}")]
    Mountpoint {
        /// The mountpoint.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `mount(2)` or the FUSE handshake failed.
    #[error("cannot mount the power-cut filesystem at {path}: {source}")]
    Mount {
        /// The mountpoint.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The image destination exists and is not an empty directory.
    #[error("image destination {0} exists and is not an empty directory")]
    DestinationNotEmpty(PathBuf),
    /// Writing the image failed.
    #[error("cannot write the image to {path}: {source}")]
    Image {
        /// The destination directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The server thread died or an operation hung; the message says which.
    #[error("power-cut filesystem at {path}: {message}")]
    Watchdog {
        /// The mountpoint.
        path: PathBuf,
        /// What the watchdog saw.
        message: String,
    },
}

/// Control state shared with the watchdog thread.
struct Control {
    /// Kernel device number of the mount (`major:minor`), to find it in mountinfo and
    /// in `/sys/fs/fuse/connections`.
    dev: (u32, u32),
    session: Mutex<Option<BackgroundSession>>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    fault: Mutex<Option<String>>,
}

impl Control {
    fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_fault(&self, message: String) {
        let mut f = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(message);
        }
    }

    fn server_ended(&self) -> bool {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|s| s.guard.is_finished())
    }
}

/// A mounted power-cut filesystem. Dropping it unmounts it (bounded in time, also
/// while a panic unwinds).
pub struct PowerCut {
    path: PathBuf,
    shared: Arc<Shared>,
    control: Arc<Control>,
    watchdog: Option<JoinHandle<()>>,
    done: bool,
}

impl std::fmt::Debug for PowerCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerCut")
            .field("path", &self.path)
            .field("cut", &self.is_cut())
            .finish_non_exhaustive()
    }
}

impl PowerCut {
    /// Mounts an empty power-cut filesystem at `mountpoint` (created if missing). Stale
    /// power-cut mounts at that place, and dead ones anywhere, are lazily unmounted
    /// first.
    pub fn mount(mountpoint: &Path, options: Options) -> Result<Self, Error> {
        let prep = |source: io::Error| Error::Mountpoint {
            path: mountpoint.to_path_buf(),
            source,
        };
        let name = mountpoint
            .file_name()
            .ok_or_else(|| prep(io::Error::other("the mountpoint has no final component")))?;
        let parent = match mountpoint.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(prep)?;
        // The mountpoint itself may be a dead mount, which cannot be resolved.
        let path = fs::canonicalize(&parent).map_err(prep)?.join(name);
        unmount_stale(&path);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(prep(e)),
        }

        let trigger = options.trigger.clone();
        let op_timeout = options.op_timeout;
        let shared = Arc::new(Shared::new(State::new(options)));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName(FSNAME.to_owned()),
            MountOption::Subtype(FSNAME.to_owned()),
        ];
        config.acl = SessionACL::Owner;
        config.n_threads = Some(1);
        let mount_err = |source: io::Error| Error::Mount {
            path: path.clone(),
            source,
        };
        let fs = Fs {
            shared: shared.clone(),
        };
        let session = Session::new(fs, &path, &config).map_err(mount_err)?;
        let session = session.spawn().map_err(mount_err)?;
        let dev = match fs::metadata(&path) {
            Ok(m) => (libc::major(m.dev()), libc::minor(m.dev())),
            Err(e) => {
                let _ = umount2(&path, MntFlags::MNT_DETACH);
                return Err(mount_err(e));
            }
        };
        let control = Arc::new(Control {
            dev,
            session: Mutex::new(Some(session)),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            fault: Mutex::new(None),
        });
        let watchdog = {
            let control = control.clone();
            let shared = shared.clone();
            let cut_at = match trigger {
                Trigger::AfterTime(d) => Some(Instant::now() + d),
                _ => None,
            };
            std::thread::Builder::new()
                .name("powercut-watchdog".to_owned())
                .spawn(move || watch(&control, &shared, cut_at, op_timeout))
                .map_err(mount_err)?
        };
        Ok(PowerCut {
            path,
            shared,
            control,
            watchdog: Some(watchdog),
            done: false,
        })
    }

    /// Where the filesystem is mounted (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cuts the power now: every later operation fails with EIO. The mount stays until
    /// [`PowerCut::finish`] or drop, so paths under it keep failing instead of falling
    /// through to the empty directory below.
    pub fn cut_now(&self) {
        self.shared.cut("cut_now".to_owned());
    }

    /// Whether the power is out.
    pub fn is_cut(&self) -> bool {
        self.shared.lock().cut.is_some()
    }

    /// Why the power went out, if it did.
    pub fn cut_reason(&self) -> Option<String> {
        self.shared.lock().cut.clone()
    }

    /// Waits until the power is out, at most `timeout`; returns whether it is.
    pub fn wait_for_cut(&self, timeout: Duration) -> bool {
        self.shared.wait_for_cut(timeout)
    }

    /// Sync points seen so far: each `fsync`, `fdatasync` and `fsyncdir` request counts
    /// one, failed ones included (a write through an `O_SYNC`/`O_DSYNC` handle brings
    /// one: the kernel's fsync request after it).
    pub fn fsyncs(&self) -> u64 {
        self.shared.lock().fsyncs
    }

    /// Pages held in memory by both states.
    pub fn pages(&self) -> PageStats {
        self.shared.lock().page_stats()
    }

    /// `Err` with the watchdog's message if the server thread died or an operation
    /// hung.
    pub fn check(&self) -> Result<(), Error> {
        match self.control.fault() {
            Some(message) => Err(Error::Watchdog {
                path: self.path.clone(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Cuts the power (if it is not out yet), unmounts, and writes the durable state as a
    /// plain directory at `dest` (which must not exist or be empty): the disk after the
    /// power came back. Fails with [`Error::Watchdog`] (after writing the image) if the
    /// server thread died or an operation hung.
    pub fn finish(mut self, dest: &Path) -> Result<CutReport, Error> {
        match fs::read_dir(dest) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::DestinationNotEmpty(dest.to_path_buf()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Image {
                    path: dest.to_path_buf(),
                    source: e,
                });
            }
        }
        self.shared.cut("finish".to_owned());
        self.shutdown();
        let image = |source: io::Error| Error::Image {
            path: dest.to_path_buf(),
            source,
        };
        fs::create_dir_all(dest).map_err(image)?;
        let report = self.shared.lock().write_image(dest).map_err(image)?;
        self.check()?;
        Ok(report)
    }

    /// Stops the watchdog, detaches the mount, and waits (bounded) for the server thread;
    /// aborts the FUSE connection if it does not end.
    fn shutdown(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        *self.control.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.control.stop_cv.notify_all();
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        if mounted_at(&self.path).contains(&self.control.dev) {
            let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        }
        if !wait_until(UNMOUNT_WAIT, || self.control.server_ended()) {
            abort_connection(self.control.dev);
            wait_until(UNMOUNT_WAIT, || self.control.server_ended());
        }
        let session = self
            .control
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(s) = session {
            if s.guard.is_finished() {
                let _ = s.join();
            } else {
                // The thread is stuck in the kernel; leave it rather than hang.
                drop(s);
            }
        }
        self.shared.wake();
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        self.shared.cut("unmounted".to_owned());
        self.shutdown();
    }
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The watchdog: the timed trigger, a dead server thread, a hung operation.
fn watch(control: &Control, shared: &Shared, cut_at: Option<Instant>, op_timeout: Duration) {
    let mut stop = control.stop.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *stop {
            return;
        }
        if cut_at.is_some_and(|t| Instant::now() >= t) {
            shared.cut("after time".to_owned());
        }
        if control.server_ended() {
            control.set_fault("the FUSE server thread ended while mounted".to_owned());
            shared.cut("server thread ended".to_owned());
            return;
        }
        if let Some(busy) = shared.busy_for()
            && busy > op_timeout
        {
            control.set_fault(format!(
                "an operation has been running for {busy:?} (limit {op_timeout:?}); \
                     the connection was aborted"
            ));
            abort_connection(control.dev);
            return;
        }
        stop = control
            .stop_cv
            .wait_timeout(stop, WATCHDOG_TICK)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Aborts a FUSE connection through fusectl: pending and later requests fail and the
/// server's reads end. Mounts fusectl if it is not mounted.
fn abort_connection(dev: (u32, u32)) {
    let dir = Path::new("/sys/fs/fuse/connections");
    let id = (u64::from(dev.0) << 20) | u64::from(dev.1);
    let abort = dir.join(id.to_string()).join("abort");
    if !abort.exists() {
        let _ = nix::mount::mount(
            Some("fusectl"),
            dir,
            Some("fusectl"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
    let _ = fs::write(&abort, "1");
}

/// One power-cut mount listed in `/proc/self/mountinfo`.
struct MountEntry {
    path: PathBuf,
    dev: (u32, u32),
}

/// Undoes the octal escapes of mountinfo paths (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn powercut_mounts() -> Vec<MountEntry> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 2 || !r[0].starts_with("fuse") || r[1] != FSNAME {
            continue;
        }
        let Some((maj, min)) = l[2].split_once(':') else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse(), min.parse()) else {
            continue;
        };
        out.push(MountEntry {
            path: unescape(l[4]),
            dev: (maj, min),
        });
    }
    out
}

/// Devices of the power-cut mounts at `path`.
fn mounted_at(path: &Path) -> Vec<(u32, u32)> {
    powercut_mounts()
        .into_iter()
        .filter(|m| m.path == path)
        .map(|m| m.dev)
        .collect()
}

/// Whether a mount's server is gone (`ENOTCONN`); a hung server counts as alive.
fn is_dead(path: &Path) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("powercut-probe".to_owned())
        .spawn(move || {
            let dead = matches!(fs::symlink_metadata(&p), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN));
            let _ = tx.send(dead);
        });
    spawned.is_ok() && rx.recv_timeout(Duration::from_secs(2)).unwrap_or(false)
}

/// Lazily unmounts every power-cut mount at `path` and every dead one elsewhere.
fn unmount_stale(path: &Path) {
    for _ in 0..64 {
        let mounts = powercut_mounts();
        let mut any = false;
        for m in &mounts {
            if (m.path == path || is_dead(&m.path))
                && umount2(&m.path, MntFlags::MNT_DETACH).is_ok()
            {
                any = true;
            }
        }
        if !any {
            return;
        }
    }
}

static PROBE: AtomicU64 = AtomicU64::new(0);

/// `Ok` when a power-cut filesystem can be mounted here; otherwise why not (no
/// `/dev/fuse`, not root, `mount(2)` refused). Probed once per process by a real mount.
pub fn availability() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist".to_owned());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("mounting FUSE without fusermount needs root".to_owned());
    }
    let dir = std::env::temp_dir().join(format!(
        "powercut-probe-{}-{}",
        std::process::id(),
        PROBE.fetch_add(1, Ordering::SeqCst)
    ));
    let result = match PowerCut::mount(&dir, Options::default()) {
        Ok(m) => {
            let ok = fs::write(m.path().join("probe"), b"probe")
                .map_err(|e| format!("a probe write on the mount failed: {e}"));
            drop(m);
            ok
        }
        Err(e) => Err(e.to_string()),
    };
    let _ = fs::remove_dir(&dir);
    result
}
