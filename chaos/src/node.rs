//! One node process: its disk on the crash filesystem, its start, kill, clean stop and
//! power cut. Every process is stopped by the pid this campaign started.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use powercut::{MetaMode, Options, PowerCut};

/// How long a node may take to listen after it is started.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM.
const TERM_WITHIN: Duration = Duration::from_secs(15);

/// How a node is started.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node binary.
    pub bin: PathBuf,
    /// `--sync-mode`.
    pub sync_mode: &'static str,
    /// `--snapshot-logs`.
    pub snapshot_logs: u64,
    /// `--groups`.
    pub groups: u32,
}

/// A node: its id, engine, port and disk, and its process while it runs.
pub struct Node {
    /// Raft node id (1-based).
    pub id: u64,
    /// `--engine`.
    pub engine: String,
    /// The loopback port, fixed by the first start.
    pub port: u16,
    root: PathBuf,
    disk: Option<PowerCut>,
    child: Option<Child>,
    cuts: u64,
}

impl Node {
    /// A node whose files live under `root` (its disk is mounted at `root/disk`).
    pub fn new(id: u64, engine: &str, root: PathBuf) -> io::Result<Node> {
        fs::create_dir_all(&root)?;
        let mut node = Node {
            id,
            engine: engine.to_owned(),
            port: 0,
            root,
            disk: None,
            child: None,
            cuts: 0,
        };
        node.disk = Some(node.mount()?);
        Ok(node)
    }

    fn mount(&self) -> io::Result<PowerCut> {
        PowerCut::mount(
            &self.root.join("disk"),
            Options {
                meta: MetaMode::Posix,
                op_timeout: Duration::from_secs(20),
                ..Options::default()
            },
        )
        .map_err(io::Error::other)
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The node's log file (stdout and stderr of every run, appended).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("node.log")
    }

    /// Whether the process runs.
    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process and waits until it listens (its ready file names its address).
    pub fn start(&mut self, config: &NodeConfig) -> io::Result<()> {
        let disk = self
            .disk
            .as_ref()
            .ok_or_else(|| io::Error::other("no disk mounted"))?;
        let data = disk.path().join("data");
        let ready = self.root.join("ready");
        let _ = fs::remove_file(&ready);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(&config.bin)
            .arg("--id")
            .arg(self.id.to_string())
            .arg("--addr")
            .arg(self.addr())
            .arg("--ready-file")
            .arg(&ready)
            .arg("--dir")
            .arg(&data)
            .arg("--engine")
            .arg(&self.engine)
            .arg("--sync-mode")
            .arg(config.sync_mode)
            .arg("--snapshot-logs")
            .arg(config.snapshot_logs.to_string())
            .arg("--request-timeout-ms")
            .arg("2000")
            // Each snapshot purges every entry it covers: a follower that was down
            // catches up by a snapshot (often from another engine) more often than not.
            .arg("--max-in-snapshot-log-to-keep")
            .arg("0")
            .arg("--groups")
            .arg(config.groups.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(text) = fs::read_to_string(&ready)
                && let Some(port) = text.trim().rsplit(':').next().and_then(|p| p.parse().ok())
            {
                self.port = port;
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "node {} exited at start ({status}); see {}",
                    self.id,
                    self.log_path().display()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::other(format!(
                    "node {} did not listen within {READY_WITHIN:?}; see {}",
                    self.id,
                    self.log_path().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// If the process ended without being told to, reaps it, keeps a copy of its disk
    /// as it found it (the first time), and says how it ended.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        let kept = self.root.join("disk-when-it-exited");
        let copy = match &self.disk {
            Some(disk) if !kept.exists() => fs::create_dir(&kept)
                .and_then(|()| copy_durably(disk.path(), &kept))
                .map_or_else(
                    |e| format!(", its disk not kept: {e}"),
                    |()| format!(", its disk kept in {}", kept.display()),
                ),
            _ => String::new(),
        };
        Some(format!(
            "node {} ({}) exited by itself ({status}); see {}{copy}",
            self.id,
            self.engine,
            self.log_path().display()
        ))
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (SIGKILL after a bound). Returns whether the
    /// process exited 0 in time.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = Pid::from_raw(child.id() as i32);
        if kill(pid, Signal::SIGTERM).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        let deadline = Instant::now() + TERM_WITHIN;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// Cuts the power of the node's disk while it runs, kills the process, and mounts a
    /// new disk holding exactly what survived. Returns the pages the cut dropped.
    pub fn power_cut(&mut self) -> io::Result<u64> {
        let disk = self
            .disk
            .take()
            .ok_or_else(|| io::Error::other("no disk mounted"))?;
        disk.cut_now();
        self.kill();
        self.cuts += 1;
        let image = self.root.join(format!("image-{}", self.cuts));
        let report = disk.finish(&image).map_err(io::Error::other)?;
        let fresh = self.mount()?;
        copy_durably(&image, fresh.path())?;
        fs::remove_dir_all(&image)?;
        self.disk = Some(fresh);
        Ok(report.pages_dropped)
    }

    /// Whether the crash filesystem's watchdog saw a hang or a dead server.
    pub fn disk_fault(&self) -> Option<String> {
        self.disk
            .as_ref()
            .and_then(|d| d.check().err().map(|e| e.to_string()))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        // The disk unmounts when it drops, after the process that used it is gone.
        self.disk = None;
    }
}

/// Copies the tree at `from` into the directory `to`, fsyncing every file and
/// directory, so the new disk's durable state is the image.
fn copy_durably(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_durably(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            File::open(&target)?.sync_all()?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        }
    }
    File::open(to)?.sync_all()
}
