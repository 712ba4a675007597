//! Histories of a simulated linearizable store: each operation takes effect atomically at
//! a random instant between its invocation and its completion, on one register per key.

#![allow(dead_code)]

use fsmstore_history::{Entry, Op, Outcome, Ret, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// The shape of a simulated campaign.
#[derive(Clone, Copy, Debug)]
pub struct Sim {
    pub seed: u64,
    pub clients: usize,
    pub ops: usize,
    pub keys: usize,
    /// Share of operations whose client times out; half of those take effect.
    pub unknown: f64,
    /// Share of operations that fail without effect.
    pub failed: f64,
}

impl Sim {
    pub fn new(seed: u64, clients: usize, ops: usize) -> Self {
        Self {
            seed,
            clients,
            ops,
            keys: 1,
            unknown: 0.02,
            failed: 0.01,
        }
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Event {
    /// An operation takes effect (ordered first at equal times, so it lies inside its
    /// window).
    Effect(usize),
    Complete(usize),
    Invoke(usize),
}

enum Fate {
    Ok,
    Failed,
    /// Takes effect or not, and the client gives up at the instant given.
    Unknown {
        applies: bool,
    },
}

/// The history, and the value each key holds once every effect has landed.
pub fn simulate(sim: Sim) -> (Vec<Entry>, BTreeMap<String, Option<Value>>) {
    let mut rng = fastrand::Rng::with_seed(sim.seed);
    let mut history: Vec<Entry> = Vec::new();
    let mut fates: Vec<Fate> = Vec::new();
    let mut slot_of: Vec<usize> = Vec::new();
    let mut registers: BTreeMap<String, Option<Value>> = BTreeMap::new();
    let mut written: Vec<Value> = Vec::new();
    let mut process: Vec<u64> = (0..sim.clients as u64).collect();
    let mut next_process = sim.clients as u64;
    let mut next_value = 0u64;
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, t: u64, e: Event| {
        seq += 1;
        queue.push(Reverse((t, e, seq)));
    };
    for c in 0..sim.clients {
        push(&mut queue, rng.u64(0..1_000), Event::Invoke(c));
    }
    while let Some(Reverse((now, event, _))) = queue.pop() {
        match event {
            Event::Invoke(c) => {
                if history.len() >= sim.ops {
                    continue;
                }
                let key = format!("k{}", rng.usize(0..sim.keys));
                let current = registers.get(&key).cloned().flatten();
                let op = match rng.u8(0..10) {
                    0..4 => Op::Read,
                    4..7 => {
                        next_value += 1;
                        Op::Write(next_value.to_string())
                    }
                    _ => {
                        next_value += 1;
                        let expected = match rng.u8(0..3) {
                            0 if !written.is_empty() => {
                                Some(written[rng.usize(0..written.len())].clone())
                            }
                            _ => current,
                        };
                        Op::Cas {
                            expected,
                            new: next_value.to_string(),
                        }
                    }
                };
                let roll = rng.f64();
                let fate = if roll < sim.unknown {
                    Fate::Unknown {
                        applies: rng.bool(),
                    }
                } else if roll < sim.unknown + sim.failed {
                    Fate::Failed
                } else {
                    Fate::Ok
                };
                let i = history.len();
                history.push(Entry::new(process[c], key, op, now, None, Outcome::Unknown));
                slot_of.push(c);
                let effect = now + rng.u64(0..1_000);
                match fate {
                    Fate::Ok => {
                        push(&mut queue, effect, Event::Effect(i));
                        push(&mut queue, effect + rng.u64(0..1_000), Event::Complete(i));
                    }
                    Fate::Failed => push(&mut queue, effect, Event::Complete(i)),
                    Fate::Unknown { applies } => {
                        if applies {
                            // Possibly long after the client gave up.
                            push(&mut queue, now + rng.u64(0..20_000), Event::Effect(i));
                        }
                        push(&mut queue, now + 5_000, Event::Complete(i));
                    }
                }
                fates.push(fate);
            }
            Event::Effect(i) => {
                let reg = registers.entry(history[i].key.clone()).or_default();
                let ret = match &history[i].op {
                    Op::Read => Ret::Read(reg.clone()),
                    Op::Write(v) => {
                        *reg = Some(v.clone());
                        written.push(v.clone());
                        Ret::Written
                    }
                    Op::Cas { expected, new } => {
                        let swapped = reg == expected;
                        if swapped {
                            *reg = Some(new.clone());
                            written.push(new.clone());
                        }
                        Ret::Cas { swapped }
                    }
                };
                if let Fate::Ok = fates[i] {
                    history[i].outcome = Outcome::Ok(ret);
                }
            }
            Event::Complete(i) => {
                let c = slot_of[i];
                history[i].completed = Some(now);
                match fates[i] {
                    Fate::Ok => {}
                    Fate::Failed => history[i].outcome = Outcome::Failed,
                    Fate::Unknown { .. } => {
                        process[c] = next_process;
                        next_process += 1;
                    }
                }
                push(&mut queue, now + rng.u64(1..1_000), Event::Invoke(c));
            }
        }
    }
    (history, registers)
}
