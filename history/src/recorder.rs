//! Recording a history from concurrent clients, and its JSON-lines form.

use crate::{Entry, Op, Outcome};
use std::io::{self, BufRead, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Collects the entries of a history from any number of threads, timing them on one
/// monotonic clock started with the recorder.
///
/// A client takes a process id from [`Recorder::new_process`], calls
/// [`Recorder::invoke`] before sending an operation and [`Recorder::complete`] with its
/// outcome, and goes on with the process id that `complete` returns: a new one after an
/// unknown outcome, since that operation stays in flight forever.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    next_process: AtomicU64,
    entries: Mutex<Vec<Entry>>,
}

/// An invoked operation awaiting [`Recorder::complete`].
#[derive(Debug)]
#[must_use = "an invocation must be completed, with Outcome::Unknown if nothing is known"]
pub struct Pending {
    index: usize,
    process: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A recorder whose clock started at `start`, to share one time origin with other
    /// records of the same campaign.
    pub fn starting_at(start: Instant) -> Self {
        Self {
            start,
            next_process: AtomicU64::new(0),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// A process id no one has used.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A client that panicked mid-append leaves the vector whole.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `process` invokes `op` on `key` now. Until it completes, the entry
    /// reads as of unknown outcome.
    pub fn invoke(&self, process: u64, key: &str, op: Op) -> Pending {
        let mut entries = self.lock();
        let invoked = self.now();
        entries.push(Entry::new(
            process,
            key,
            op,
            invoked,
            None,
            Outcome::Unknown,
        ));
        Pending {
            index: entries.len() - 1,
            process,
        }
    }

    /// Records the outcome of `pending` now, and returns the process id the client goes
    /// on with: the same one, or a new one after [`Outcome::Unknown`].
    pub fn complete(&self, pending: Pending, outcome: Outcome) -> u64 {
        let unknown = outcome == Outcome::Unknown;
        {
            let mut entries = self.lock();
            let completed = self.now();
            let e = &mut entries[pending.index];
            e.completed = Some(completed);
            e.outcome = outcome;
        }
        if unknown {
            self.new_process()
        } else {
            pending.process
        }
    }

    /// The history so far, in invocation order; operations still in flight read as of
    /// unknown outcome.
    pub fn history(&self) -> Vec<Entry> {
        self.lock().clone()
    }
}

/// Writes `history` as JSON lines, one entry a line.
pub fn write_jsonl(history: &[Entry], mut out: impl Write) -> io::Result<()> {
    for e in history {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads a history written by [`write_jsonl`]; blank lines are skipped.
pub fn read_jsonl(input: impl BufRead) -> io::Result<Vec<Entry>> {
    let mut history = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("line {}: {e}", n + 1))
        })?;
        history.push(entry);
    }
    Ok(history)
}
