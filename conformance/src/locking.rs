//! One process per store, under racing threads: opens, closes, drops and read-only
//! opens of one store directory, with the kernel asked throughout whether the
//! cross-process lock is really held.

use std::fs::File;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use fsmstore::backend::LOCK_FILE;
use fsmstore::{Config, Error, SyncMode};

use crate::Harness;

/// Whether the kernel would refuse a lock of `kind` on the whole file to another
/// process: an open-file-description lock query through the probe's own descriptor,
/// which conflicts with the record locks this process holds as another process's
/// would.
fn kernel_sees_a_lock(probe: &File, kind: nix::libc::c_int) -> bool {
    use nix::fcntl::{FcntlArg, fcntl};
    let mut query = nix::libc::flock {
        l_type: kind as nix::libc::c_short,
        l_whence: nix::libc::SEEK_SET as nix::libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(probe, FcntlArg::F_OFD_GETLK(&mut query)).expect("F_OFD_GETLK");
    query.l_type != nix::libc::F_UNLCK as nix::libc::c_short
}

/// Sends its report when dropped, also when the thread unwinds, so a failing thread
/// ends the bounded wait at once.
struct Report(mpsc::Sender<()>);

impl Drop for Report {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Four threads open the store writable or read-only, close or drop it, and retry on
/// `Locked`, as fast as they can. Whenever a thread holds a handle, the kernel must see
/// the store's lock (a writer's refuses readers too); within the process a store has
/// one handle at a time, read-only ones included (engines refuse to open a database
/// twice in a process), and every refusal is `Locked`, never an engine's own error. A
/// registry that lost its record lock to a dying handle, or deadlocked on a drop,
/// fails this (the wait is bounded).
pub fn racing_opens_and_closes_always_hold_the_cross_process_lock(h: &Harness) {
    const THREADS: u64 = 4;
    const HANDLES_PER_THREAD: u64 = 40;
    const DEADLINE: Duration = Duration::from_secs(120);
    h.open_sync().close().expect("create the store");
    let probe = File::open(h.dir().join(LOCK_FILE)).expect("the lock file");
    let handles_now = AtomicUsize::new(0);
    let (unlocked, refused, handles) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let (done, finished) = mpsc::channel();
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let report = Report(done.clone());
            let (probe, handles_now) = (&probe, &handles_now);
            let (unlocked, refused, handles) = (&unlocked, &refused, &handles);
            scope.spawn(move || {
                let mut held = 0;
                let mut attempt = thread;
                while held < HANDLES_PER_THREAD {
                    attempt += 1;
                    let writable = attempt.is_multiple_of(3);
                    let config = if writable {
                        Config::new(SyncMode::NoSync)
                    } else {
                        Config::new(SyncMode::NoSync).with_read_only()
                    };
                    let store = match h.try_open(&config) {
                        Ok(store) => store,
                        Err(Error::Locked(_)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            thread::yield_now();
                            continue;
                        }
                        Err(error) => panic!("open failed: {error}"),
                    };
                    held += 1;
                    handles.fetch_add(1, Ordering::Relaxed);
                    let before = handles_now.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(before, 0, "two handles of one store at once");
                    let kind = if writable {
                        nix::libc::F_RDLCK
                    } else {
                        nix::libc::F_WRLCK
                    };
                    if !kernel_sees_a_lock(probe, kind) {
                        unlocked.fetch_add(1, Ordering::Relaxed);
                    }
                    // Held a moment, so that the other threads' opens meet it even on
                    // an engine whose open and close take microseconds.
                    thread::sleep(Duration::from_micros(300));
                    handles_now.fetch_sub(1, Ordering::SeqCst);
                    if attempt.is_multiple_of(2) {
                        store.close().expect("close");
                    } else {
                        drop(store);
                    }
                }
                drop(report);
            });
        }
        let deadline = Instant::now() + DEADLINE;
        for _ in 0..THREADS {
            finished
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("a thread hung: opens and closes deadlocked");
        }
    });
    let (unlocked, refused, handles) = (
        unlocked.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        handles.load(Ordering::Relaxed),
    );
    println!("handles {handles}, refused {refused}, held without the kernel lock {unlocked}");
    assert_eq!(handles, THREADS * HANDLES_PER_THREAD);
    assert!(refused > 0, "no open ever met another handle");
    assert_eq!(unlocked, 0, "a handle ran without the cross-process lock");
    assert!(!kernel_sees_a_lock(&probe, nix::libc::F_WRLCK));
    h.open_sync().close().expect("free again");
}
