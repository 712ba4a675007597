//! The commit pipeline: many groups' commits, one engine commit and one fsync.
//!
//! Callers queue their ops; the first in line leads: it takes what is queued (up to
//! [`MAX_ROUND_BYTES`], at least one commit, so one big batch cannot starve the rest),
//! commits it as ONE engine commit, durable if any member asked for durability, and
//! wakes the others. The next leader takes what queued meanwhile. There is no timer: a
//! caller alone commits at once, and callers that arrive while a round runs share the
//! next one. Only the leader touches the engine, so the engine never sees two commits at
//! once.
//!
//! Per engine, a round is one write transaction of redb (`Durability::Immediate`) or LMDB
//! (one `fdatasync` per round instead of one per commit, in NoSync too), one fjall batch
//! persisted once, one RocksDB write batch with one WAL sync. RocksDB would also group
//! concurrent synced writes in its write thread, but a round already is one write with
//! one sync, so every engine is served the same way and a backend still never sees two
//! commits at once (which is what lets redb and LMDB emulate range deletes).
//!
//! A round is all or nothing: if its commit (or its sync) fails, every member gets the
//! error, and after a failed durable round the pipeline refuses every later commit
//! ([`Error::Stopped`]): the kernel may have dropped pages the fsync could not write, so
//! no later fsync may vouch for them.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::batch::RawOp;
use crate::error::{Error, Result};
use crate::raw::Durability;

/// The meta name of the last durable round's number (`u64` BE). One byte, below every
/// group's entries (whose names start with an 8-byte group id).
pub(crate) const ROUND_KEY: &[u8] = &[0];

/// The most bytes (keys and values) one round takes, unless its first commit alone is
/// larger.
pub(crate) const MAX_ROUND_BYTES: usize = 4 << 20;

/// How many commits and engine commits the pipeline has made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Commits submitted by groups (applies, writes, syncs, checkpoints, restores'
    /// chunks, creations and drops) that reached the engine.
    pub commits: u64,
    /// Engine commits (rounds) made for them.
    pub rounds: u64,
    /// Rounds that were durable: one fsync (or the engine's equivalent) each.
    pub durable_rounds: u64,
}

/// The most times a leader yields for callers to join its round.
const MAX_LEADER_YIELDS: usize = 64;

/// One caller's commit in the queue.
struct Member {
    ops: Vec<RawOp>,
    durability: Durability,
    /// Where the caller waits for its round's result, or for its turn to lead.
    slot: Arc<Slot>,
}

/// What a waiting caller is told.
enum Word {
    /// Still queued.
    Waiting,
    /// Lead the next round (the queue's leader handed over).
    Lead,
    /// The caller's round ended with this result.
    Done(Result<()>),
}

/// One caller's mailbox: it sleeps on a lock and condition of its own, so a round wakes
/// exactly its members and the next leader, and a woken member never contends for the
/// queue's lock.
struct Slot {
    word: Mutex<Word>,
    told: Condvar,
}

impl Slot {
    fn new() -> Self {
        Self {
            word: Mutex::new(Word::Waiting),
            told: Condvar::new(),
        }
    }

    fn tell(&self, word: Word) {
        *self.word.lock().unwrap_or_else(PoisonError::into_inner) = word;
        self.told.notify_one();
    }

    /// Waits until told to lead (`None`) or the round's result.
    fn wait(&self) -> Option<Result<()>> {
        let mut word = self.word.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match std::mem::replace(&mut *word, Word::Waiting) {
                Word::Waiting => {
                    word = self.told.wait(word).unwrap_or_else(PoisonError::into_inner);
                }
                Word::Lead => return None,
                Word::Done(result) => return Some(result),
            }
        }
    }
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Member>,
    /// Whether a caller leads: it takes the rounds until its own commit is done, then
    /// hands over to the first caller still waiting.
    leading: bool,
    stopped: Option<String>,
    stats: CommitStats,
    /// The number of the last durable round, which the engine holds (see [`ROUND_KEY`]).
    sealed: u64,
}

/// The queue and its leader's hand-over.
#[derive(Default)]
pub(crate) struct Pipeline {
    queue: Mutex<Queue>,
}

impl Pipeline {
    /// A pipeline whose last durable round, as the engine holds it, is `sealed`.
    pub(crate) fn new(sealed: u64) -> Self {
        Self {
            queue: Mutex::new(Queue {
                sealed,
                ..Queue::default()
            }),
        }
    }

    /// The number of the last durable round: every commit of it and before is durable.
    pub(crate) fn sealed(&self) -> u64 {
        self.lock().sealed
    }

    /// Commits `ops` with at least `durability`, in a round with whatever else is
    /// queued. `commit` makes one engine commit (an empty op list with
    /// [`Durability::Durable`] is a sync); it is called by one caller at a time.
    pub(crate) fn submit(
        &self,
        ops: Vec<RawOp>,
        durability: Durability,
        commit: &dyn Fn(&[RawOp], Durability) -> Result<()>,
    ) -> Result<()> {
        let slot = Arc::new(Slot::new());
        let leads = {
            let mut queue = self.lock();
            if let Some(reason) = &queue.stopped {
                return Err(Error::Stopped(reason.clone()));
            }
            queue.waiting.push_back(Member {
                ops,
                durability,
                slot: Arc::clone(&slot),
            });
            !std::mem::replace(&mut queue.leading, true)
        };
        if !leads && let Some(result) = slot.wait() {
            return result;
        }
        loop {
            self.let_runnable_callers_queue();
            let (round, stopped, sealed) = {
                let mut queue = self.lock();
                (
                    take_round(&mut queue.waiting),
                    queue.stopped.clone(),
                    queue.sealed,
                )
            };
            let slots: Vec<Arc<Slot>> = round
                .iter()
                .map(|member| Arc::clone(&member.slot))
                .collect();
            let outcome = match stopped {
                Some(reason) => Err((Error::Stopped(reason), Durability::Buffered)),
                None => run(round, commit, sealed + 1),
            };
            let mut queue = self.lock();
            match &outcome {
                Ok(durability) => {
                    queue.stats.commits += slots.len() as u64;
                    queue.stats.rounds += 1;
                    if *durability == Durability::Durable {
                        queue.stats.durable_rounds += 1;
                        queue.sealed = sealed + 1;
                    }
                }
                Err((error, Durability::Durable)) if queue.stopped.is_none() => {
                    tracing::error!(%error, members = slots.len(), "a shared durable commit failed; the store stops accepting writes until it is reopened");
                    queue.stopped = Some(error.to_string());
                }
                Err(_) => {}
            }
            let mine = slots.iter().any(|member| Arc::ptr_eq(member, &slot));
            if mine {
                // Hand over before waking anyone, so that the queue always has a leader
                // while callers wait in it.
                match queue.waiting.front() {
                    Some(next) => next.slot.tell(Word::Lead),
                    None => queue.leading = false,
                }
            }
            drop(queue);
            for member in &slots {
                member.tell(Word::Done(match &outcome {
                    Ok(_) => Ok(()),
                    Err((error, _)) => Err(error.duplicate()),
                }));
            }
            if mine {
                return slot.wait().unwrap_or_else(|| {
                    unreachable!("a finished round's member is told its result")
                });
            }
            // The round's cap left this caller's own commit queued: lead the next round.
        }
    }

    /// Gives the callers that are runnable right now (the members of the round that just
    /// ended, woken to submit their next commit) the CPU before the leader takes the
    /// round, for as long as each yield brings new members: the round then holds every
    /// caller that is ready, instead of the few that won the race to the lock while the
    /// rest wait a whole round more. No timer: with no other caller runnable, a yield
    /// returns at once and a caller alone commits at once.
    fn let_runnable_callers_queue(&self) {
        let mut queued = self.lock().waiting.len();
        for _ in 0..MAX_LEADER_YIELDS {
            std::thread::yield_now();
            let now = self.lock().waiting.len();
            if now == queued {
                break;
            }
            queued = now;
        }
    }

    /// What the pipeline has committed so far.
    pub(crate) fn stats(&self) -> CommitStats {
        self.lock().stats
    }

    /// Whether a durable round failed, and why.
    pub(crate) fn stopped(&self) -> Option<String> {
        self.lock().stopped.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every field is replaced whole under the lock; a panic cannot leave one
        // half-written.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The front of the queue, up to the byte cap (always at least one commit).
fn take_round(waiting: &mut VecDeque<Member>) -> Vec<Member> {
    let mut round = Vec::new();
    let mut bytes = 0;
    while let Some(member) = waiting.front() {
        let size: usize = member.ops.iter().map(RawOp::size).sum();
        if !round.is_empty() && bytes + size > MAX_ROUND_BYTES {
            break;
        }
        bytes += size;
        round.extend(waiting.pop_front());
    }
    round
}

/// Commits one round as one engine commit; reports its durability, or the error and
/// the durability it was made with.
fn run(
    round: Vec<Member>,
    commit: &dyn Fn(&[RawOp], Durability) -> Result<()>,
    number: u64,
) -> Result<Durability, (Error, Durability)> {
    let durability = if round
        .iter()
        .any(|member| member.durability == Durability::Durable)
    {
        Durability::Durable
    } else {
        Durability::Buffered
    };
    let mut ops: Vec<RawOp> = round.into_iter().flat_map(|member| member.ops).collect();
    if ops.is_empty() && durability == Durability::Buffered {
        return Ok(durability);
    }
    if durability == Durability::Durable {
        // The round's number goes with it, so that the open can tell an engine that
        // recovered below a round the marker records as pinned.
        ops.push(RawOp::PutMeta {
            name: Bytes::from_static(ROUND_KEY),
            value: Bytes::copy_from_slice(&number.to_be_bytes()),
        });
    }
    commit(&ops, durability)
        .map(|()| durability)
        .map_err(|error| (error, durability))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn put(key: &str) -> Vec<RawOp> {
        vec![RawOp::Put {
            key: key.to_owned().into(),
            value: "v".into(),
        }]
    }

    #[test]
    fn commits_queued_while_a_round_runs_share_the_next_round() {
        let pipeline = Arc::new(Pipeline::default());
        let commits = Arc::new(AtomicUsize::new(0));
        let threads = 8;
        let per_thread = 50;
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (pipeline, commits) = (&pipeline, &commits);
                scope.spawn(move || {
                    for i in 0..per_thread {
                        pipeline
                            .submit(
                                put(&format!("{thread}/{i}")),
                                Durability::Durable,
                                &|ops, _| {
                                    commits.fetch_add(1, Ordering::SeqCst);
                                    assert!(!ops.is_empty());
                                    // An fsync's worth of time, so that others queue meanwhile.
                                    std::thread::sleep(Duration::from_millis(2));
                                    Ok(())
                                },
                            )
                            .expect("commit");
                    }
                });
            }
        });
        let stats = pipeline.stats();
        assert_eq!(stats.commits, (threads * per_thread) as u64);
        assert_eq!(stats.rounds, commits.load(Ordering::SeqCst) as u64);
        assert_eq!(stats.durable_rounds, stats.rounds);
        println!(
            "{} commits of {threads} callers in {} rounds",
            stats.commits, stats.rounds
        );
        // Every caller is ready again while a round runs, so a round should hold nearly
        // all of them, not half (the callers that raced to the lock first).
        assert!(
            stats.rounds * 5 < stats.commits,
            "{} rounds for {} commits of {threads} callers: rounds did not take every ready caller",
            stats.rounds,
            stats.commits
        );
    }

    #[test]
    fn a_failed_durable_round_fails_every_member_and_stops_the_pipeline() {
        let pipeline = Pipeline::default();
        let failing = |_: &[RawOp], _: Durability| -> Result<()> {
            Err(Error::Io(std::io::Error::other("injected fsync failure")))
        };
        let error = pipeline
            .submit(put("a"), Durability::Durable, &failing)
            .expect_err("the round fails");
        assert!(matches!(error, Error::Io(_)), "{error}");
        let error = pipeline
            .submit(put("b"), Durability::Buffered, &|_, _| Ok(()))
            .expect_err("a stopped pipeline refuses");
        assert!(matches!(error, Error::Stopped(_)), "{error}");
        assert!(pipeline.stopped().is_some());
        assert_eq!(pipeline.stats().rounds, 0);
    }

    #[test]
    fn a_failed_buffered_round_fails_its_members_and_keeps_going() {
        let pipeline = Pipeline::default();
        pipeline
            .submit(put("a"), Durability::Buffered, &|_, _| {
                Err(Error::invalid_argument("refused"))
            })
            .expect_err("the round fails");
        pipeline
            .submit(put("b"), Durability::Buffered, &|_, _| Ok(()))
            .expect("the next round commits");
        assert!(pipeline.stopped().is_none());
    }

    #[test]
    fn a_round_takes_at_most_the_byte_cap_but_always_one_commit() {
        let big = |key: &str| {
            vec![RawOp::Put {
                key: key.to_owned().into(),
                value: vec![0; MAX_ROUND_BYTES / 2 + 1].into(),
            }]
        };
        let mut waiting: VecDeque<Member> = ["a", "b", "c"]
            .into_iter()
            .map(|key| Member {
                ops: big(key),
                durability: Durability::Durable,
                slot: Arc::new(Slot::new()),
            })
            .collect();
        assert_eq!(take_round(&mut waiting).len(), 1);
        assert_eq!(take_round(&mut waiting).len(), 1);
        waiting.push_back(Member {
            ops: put("small"),
            durability: Durability::Buffered,
            slot: Arc::new(Slot::new()),
        });
        assert_eq!(take_round(&mut waiting).len(), 2);
    }
}
