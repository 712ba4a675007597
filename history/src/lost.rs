//! Acknowledged writes that the final state contradicts.

use crate::{Entry, Value, fmt_value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why an acknowledged write counts as lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LostReason {
    /// The key ended absent, though a write to it was acknowledged and there is no
    /// delete.
    FinalAbsent,
    /// The key ended with a value that no operation which may have taken effect wrote,
    /// so no acknowledged write to it survived.
    FinalNeverWritten {
        /// The final value.
        final_value: Value,
    },
    /// The final value's write completed before this one was invoked, so this write
    /// comes after it in every order, yet the final state does not show it.
    FinalPredates {
        /// The final value.
        final_value: Value,
        /// Index in the history of the write that wrote it.
        final_writer: usize,
    },
}

/// An acknowledged write, or a compare-and-swap that reported a swap, whose value the
/// final state lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostWrite {
    /// The key.
    pub key: String,
    /// Index of the write in the history.
    pub entry: usize,
    /// The value it wrote.
    pub value: Value,
    /// Why it counts as lost.
    pub reason: LostReason,
}

impl fmt::Display for LostWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?}: acknowledged write of {:?} (entry {}) is lost: ",
            self.key, self.value, self.entry
        )?;
        match &self.reason {
            LostReason::FinalAbsent => write!(f, "the key ended absent"),
            LostReason::FinalNeverWritten { final_value } => write!(
                f,
                "the key ended {}, which no operation that may have taken effect wrote",
                fmt_value(&Some(final_value.clone()))
            ),
            LostReason::FinalPredates {
                final_value,
                final_writer,
            } => write!(
                f,
                "the key ended {:?}, written by entry {final_writer}, which completed before this write was invoked",
                final_value
            ),
        }
    }
}

/// Lists the acknowledged writes (and swaps) that the final state contradicts, given the
/// value each key converged to once the faults stopped.
///
/// Only keys present in `final_values` are judged; `None` there means the key was read
/// as absent. The final value's writer is found by value, which relies on each write of
/// the history writing a value of its own. For each key, an acknowledged write is lost
/// when:
///
/// - the final value is absent: every acknowledged write to the key is lost;
/// - no operation that may have taken effect (acknowledged, or of unknown outcome) wrote
///   the final value: every acknowledged write to the key is lost;
/// - the final value's write completed strictly before the acknowledged write was
///   invoked. A writer whose outcome is unknown may have taken effect at any time, so it
///   never makes another write lost.
///
/// Writes concurrent with the final value's write, and writes before it, are not lost:
/// some order puts them first and the final write overwrote them.
pub fn lost_writes(
    history: &[Entry],
    final_values: &BTreeMap<String, Option<Value>>,
) -> Vec<LostWrite> {
    let mut lost = Vec::new();
    for (key, final_value) in final_values {
        let acked = history
            .iter()
            .enumerate()
            .filter(|(_, e)| &e.key == key)
            .filter_map(|(i, e)| e.acknowledged_write().map(|v| (i, v)));
        let Some(final_value) = final_value else {
            lost.extend(acked.map(|(i, v)| LostWrite {
                key: key.clone(),
                entry: i,
                value: v.clone(),
                reason: LostReason::FinalAbsent,
            }));
            continue;
        };
        let writer = history
            .iter()
            .enumerate()
            .find(|(_, e)| &e.key == key && e.may_have_written() == Some(final_value));
        match writer {
            None => lost.extend(acked.map(|(i, v)| LostWrite {
                key: key.clone(),
                entry: i,
                value: v.clone(),
                reason: LostReason::FinalNeverWritten {
                    final_value: final_value.clone(),
                },
            })),
            Some((w, writer)) => {
                let Some(done) = writer
                    .completed
                    .filter(|_| writer.acknowledged_write().is_some())
                else {
                    continue;
                };
                lost.extend(
                    acked
                        .filter(|&(i, _)| i != w && history[i].invoked > done)
                        .map(|(i, v)| LostWrite {
                            key: key.clone(),
                            entry: i,
                            value: v.clone(),
                            reason: LostReason::FinalPredates {
                                final_value: final_value.clone(),
                                final_writer: w,
                            },
                        }),
                );
            }
        }
    }
    lost
}
