//! Histories of key-value operations and their linearizability check.
//!
//! A fault campaign runs clients against a replicated key-value store while it kills
//! nodes, cuts power and partitions the network. Every client records each operation's
//! invocation and completion as an [`Entry`] (a [`Recorder`] does the bookkeeping), and
//! the history is then judged two ways:
//!
//! - [`check_linearizable`]: is there, for every key, a total order of the operations
//!   that respects real time (an operation that completed before another was invoked
//!   comes first) and the sequential semantics of a register with read, write and
//!   compare-and-swap? Each key is a separate register, so keys are checked one by one.
//! - [`lost_writes`]: given the value each key converged to once the faults stopped,
//!   which acknowledged writes does the final state contradict? This is a plainer,
//!   narrower report than a linearizability violation, for the failure that matters most
//!   to a store: saying "done" and then forgetting.
//!
//! # The model
//!
//! - Values are [`String`]s ([`Value`]); the campaign writes decimal numbers such as
//!   `"17"`. Every write (and every compare-and-swap's new value) must write a value no
//!   other operation of the history writes: [`lost_writes`] identifies the write behind
//!   the final value by its value, and the checker's search is faster when a read names
//!   exactly one write. The linearizability verdict itself stays correct without unique
//!   values.
//! - A key that was never written is absent (`None`); there is no delete.
//! - Time is nanoseconds since the campaign's start on a monotonic clock. Operation `a`
//!   precedes `b` only if `a` completed strictly before `b` was invoked; equal instants
//!   count as concurrent, the cautious reading of a clock's resolution.
//! - [`Outcome::Failed`] means the operation certainly had no effect: it is ignored.
//!   [`Outcome::Unknown`] (a timeout, a lost connection) means it may have taken effect
//!   at any instant after its invocation, even after the history ends, or never. Its
//!   process id must not be used again: the client continues under a new one, so the
//!   unknown operation stays in flight forever, as in Jepsen's histories.
//!
//! # The checker, and why it is not `stateright`'s
//!
//! The check is Wing and Gong's search for a linearization with Lowe's memoization of
//! (set of linearized operations, register state), as in Porcupine and Knossos, plus
//! prunings that keep it near one search state per operation on a healthy history; see
//! [`check_linearizable`] for them and for the budget that bounds the search. The search
//! keeps its own stack, so a long history needs no deep recursion.
//!
//! `stateright` 0.31's `LinearizabilityTester` was evaluated first. Its model fits: an
//! operation that never returns stays in flight and may be linearized or not. Its search
//! does not scale to a campaign's history: it is a depth-first search without
//! memoization that copies the partial order and the linearization so far at every
//! step, and recurses once per operation. On histories of a simulated linearizable
//! register (one key, 10 concurrent processes, 2% unknown and 1% failed operations, a
//! release build, three seeds each) it took 1.4 to 8.5 s for 100 operations, answered
//! one of three 200-operation histories (in 6.3 s) within 20 s, and none of 500 or 3,000
//! operations within 20 s. This crate's checker decides those 3,000-operation histories
//! in about 10 ms (6,000 to 9,000 states), and rejects the same histories with one read
//! corrupted in 2 ms to 2.9 s, the later the corruption the longer, as every order of
//! the prefix before it has to be ruled out.
//!
//! # Example
//!
//! ```
//! use fsmstore_history::{check_linearizable, Entry, Op, Outcome, Ret};
//!
//! let history = vec![
//!     Entry::new(1, "k", Op::Write("1".into()), 0, Some(10), Outcome::Ok(Ret::Written)),
//!     // Invoked after the write was acknowledged, yet it does not see it.
//!     Entry::new(2, "k", Op::Read, 20, Some(30), Outcome::Ok(Ret::Read(None))),
//! ];
//! let report = check_linearizable(&history);
//! assert!(!report.is_linearizable());
//! assert_eq!(report.violations().next().map(|(key, _)| key), Some("k"));
//! ```

mod check;
mod lost;
mod recorder;

pub use check::{
    Budget, KeyVerdict, Report, Violation, check_linearizable, check_linearizable_with,
};
pub use lost::{LostReason, LostWrite, lost_writes};
pub use recorder::{Pending, Recorder, read_jsonl, write_jsonl};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A register's value. Values written must be unique within a history (see the crate
/// docs).
pub type Value = String;

/// An operation on one key's register.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Returns the current value, `None` if the key is absent.
    Read,
    /// Sets the value.
    Write(Value),
    /// Sets the value to `new` if, and only if, the current value equals `expected`
    /// (`None`: the key is absent).
    Cas {
        /// The value the register must hold for the swap to happen.
        expected: Option<Value>,
        /// The value written if it does.
        new: Value,
    },
}

/// What a completed operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ret {
    /// A [`Op::Read`]'s result.
    Read(Option<Value>),
    /// A [`Op::Write`] was acknowledged.
    Written,
    /// A [`Op::Cas`]'s result.
    Cas {
        /// Whether the register held the expected value, and now holds the new one.
        swapped: bool,
    },
}

/// How an operation ended, as far as its client knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect and returned this.
    Ok(Ret),
    /// It certainly did not take effect.
    Failed,
    /// It may or may not have taken effect, at any instant after its invocation.
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The logical process that ran it; a process has at most one operation in flight,
    /// and none after an [`Outcome::Unknown`] one.
    pub process: u64,
    /// The key (register) it addressed.
    pub key: String,
    /// What was asked.
    pub op: Op,
    /// When it was invoked, in nanoseconds since the campaign started.
    pub invoked: u64,
    /// When the client saw its outcome; required for [`Outcome::Ok`] and
    /// [`Outcome::Failed`], informational for [`Outcome::Unknown`].
    pub completed: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Entry {
    /// Builds an entry; a shorthand for tests and tools.
    pub fn new(
        process: u64,
        key: impl Into<String>,
        op: Op,
        invoked: u64,
        completed: Option<u64>,
        outcome: Outcome,
    ) -> Self {
        Self {
            process,
            key: key.into(),
            op,
            invoked,
            completed,
            outcome,
        }
    }

    /// Whether the operation's effect is a write that the store acknowledged: an
    /// [`Op::Write`] with [`Ret::Written`] or an [`Op::Cas`] that swapped. Returns the
    /// value written.
    pub fn acknowledged_write(&self) -> Option<&Value> {
        match (&self.op, &self.outcome) {
            (Op::Write(v), Outcome::Ok(Ret::Written)) => Some(v),
            (Op::Cas { new, .. }, Outcome::Ok(Ret::Cas { swapped: true })) => Some(new),
            _ => None,
        }
    }

    /// The value this operation would write if it took effect.
    pub fn written_value(&self) -> Option<&Value> {
        match &self.op {
            Op::Read => None,
            Op::Write(v) | Op::Cas { new: v, .. } => Some(v),
        }
    }

    /// Whether the operation may have changed the register: a write or a swap that was
    /// acknowledged or whose outcome is unknown.
    pub fn may_have_written(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Unknown => self.written_value(),
            Outcome::Ok(_) => self.acknowledged_write(),
            Outcome::Failed => None,
        }
    }
}

fn fmt_value(v: &Option<Value>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "absent".to_string(),
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read => write!(f, "read"),
            Op::Write(v) => write!(f, "write {v:?}"),
            Op::Cas { expected, new } => write!(f, "cas {} -> {new:?}", fmt_value(expected)),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(Ret::Read(v)) => write!(f, "ok {}", fmt_value(v)),
            Outcome::Ok(Ret::Written) => write!(f, "ok"),
            Outcome::Ok(Ret::Cas { swapped }) => {
                write!(f, "{}", if *swapped { "swapped" } else { "not swapped" })
            }
            Outcome::Failed => write!(f, "failed"),
            Outcome::Unknown => write!(f, "unknown"),
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let completed = match self.completed {
            Some(c) => c.to_string(),
            None => "?".to_string(),
        };
        write!(
            f,
            "process {} key {:?}: {} [{}, {}] -> {}",
            self.process, self.key, self.op, self.invoked, completed, self.outcome
        )
    }
}
