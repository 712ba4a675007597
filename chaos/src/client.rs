//! The clients: each runs one operation at a time on a random key and records its
//! invocation and completion. An operation whose outcome is unknown (a timeout, a lost
//! connection, a node that says so) stays in flight for ever, so the client goes on as
//! a new process, as Jepsen's clients do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fsmstore_history::{Entry, Op, Outcome, Ret};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, ErrorBody, group_query};

/// What every client shares.
pub struct Shared {
    /// The nodes' addresses, by node id - 1.
    pub addrs: Vec<String>,
    /// The campaign's clock: every time in the history is nanoseconds since this.
    pub start: Instant,
    /// The history, in completion order.
    pub history: Mutex<Vec<Entry>>,
    /// Operations started (the `--ops` budget).
    pub started: AtomicU64,
    /// The budget.
    pub max_ops: u64,
    /// Set when the clients must stop.
    pub stop: AtomicBool,
    /// Raft groups per node.
    groups: u32,
    /// The next process id.
    next_process: AtomicU64,
    /// The next value a write or a compare-and-set writes: unique in the campaign.
    next_value: AtomicU64,
}

impl Shared {
    /// Shared state for clients of `addrs`.
    pub fn new(addrs: Vec<String>, max_ops: u64, groups: u32) -> Shared {
        Shared {
            addrs,
            groups,
            start: Instant::now(),
            history: Mutex::new(Vec::new()),
            started: AtomicU64::new(0),
            max_ops,
            stop: AtomicBool::new(false),
            next_process: AtomicU64::new(0),
            next_value: AtomicU64::new(1),
        }
    }

    /// Nanoseconds since the campaign's start.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// The group of key `k<i>`: `i % groups`.
    pub fn group_of(&self, key: &str) -> u32 {
        key.trim_start_matches('k')
            .parse::<u32>()
            .map_or(0, |i| i % self.groups)
    }

    /// A fresh process id.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    fn record(&self, entry: Entry) {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// The operations recorded so far.
    pub fn recorded(&self) -> usize {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[derive(Deserialize)]
struct ValueBody {
    value: Option<String>,
}

#[derive(Deserialize)]
struct CasBody {
    swapped: bool,
}

/// What a request came to, before it is recorded.
pub(crate) enum Answer {
    /// Took effect, with this result.
    Ok(Ret),
    /// Certainly not applied; the leader if the node named one.
    Refused(Option<u64>),
    Unknown,
}

/// One client: runs until the budget is spent or `stop` is set.
pub async fn run(shared: Arc<Shared>, api: Api, keys: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut process = shared.new_process();
    let mut leader: Option<usize> = None;
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    while !shared.stop.load(Ordering::Relaxed)
        && shared.started.fetch_add(1, Ordering::Relaxed) < shared.max_ops
    {
        let key = format!("k{}", rng.random_range(0..keys));
        let op = match rng.random_range(0..10) {
            0..=3 => Op::Read,
            4..=7 => Op::Write(
                shared
                    .next_value
                    .fetch_add(1, Ordering::Relaxed)
                    .to_string(),
            ),
            _ => Op::Cas {
                expected: seen.get(&key).cloned().flatten(),
                new: shared
                    .next_value
                    .fetch_add(1, Ordering::Relaxed)
                    .to_string(),
            },
        };
        let node = leader.unwrap_or_else(|| rng.random_range(0..shared.addrs.len()));
        let invoked = shared.now();
        let group = shared.group_of(&key);
        let answer = send(&api, &shared.addrs[node], &key, group, &op).await;
        let completed = shared.now();
        let outcome = match answer {
            Answer::Ok(ret) => {
                leader = Some(node);
                if let Ret::Read(value) = &ret {
                    seen.insert(key.clone(), value.clone());
                }
                Outcome::Ok(ret)
            }
            Answer::Refused(hint) => {
                leader = hint
                    .and_then(|id| usize::try_from(id.checked_sub(1)?).ok())
                    .filter(|i| *i < shared.addrs.len() && *i != node);
                if leader.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Outcome::Failed
            }
            // A read has no effect: not knowing what it returned is the same as it
            // never having run.
            Answer::Unknown if matches!(op, Op::Read) => {
                leader = None;
                Outcome::Failed
            }
            Answer::Unknown => {
                leader = None;
                Outcome::Unknown
            }
        };
        let unknown = matches!(outcome, Outcome::Unknown);
        shared.record(Entry {
            process,
            key,
            op,
            invoked,
            completed: (!unknown).then_some(completed),
            outcome,
        });
        if unknown {
            process = shared.new_process();
        }
    }
}

/// One request, classified by what it proves about the operation's effect.
pub(crate) async fn send(api: &Api, addr: &str, key: &str, group: u32, op: &Op) -> Answer {
    let http = api.http();
    let query = group_query(group);
    let request = match op {
        Op::Read => http.get(format!("http://{addr}/kv/linearizable-read/{key}{query}")),
        Op::Write(value) => http
            .post(format!("http://{addr}/kv/write{query}"))
            .json(&json!({ "key": key, "value": value })),
        Op::Cas { expected, new } => http
            .post(format!("http://{addr}/kv/cas{query}"))
            .json(&json!({ "key": key, "expected": expected, "new": new })),
    };
    let response = match request.send().await {
        Ok(response) => response,
        // Nothing reached the node.
        Err(e) if e.is_connect() => return Answer::Refused(None),
        Err(_) => return Answer::Unknown,
    };
    let status = response.status().as_u16();
    let Ok(body) = response.bytes().await else {
        return Answer::Unknown;
    };
    match status {
        200 => {
            let ret = match op {
                Op::Read => serde_json::from_slice::<ValueBody>(&body).map(|b| Ret::Read(b.value)),
                Op::Write(_) => Ok(Ret::Written),
                Op::Cas { .. } => serde_json::from_slice::<CasBody>(&body)
                    .map(|b| Ret::Cas { swapped: b.swapped }),
            };
            ret.map_or(Answer::Unknown, Answer::Ok)
        }
        421 => Answer::Refused(
            serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.leader),
        ),
        // Refused before anything was proposed: bad input or a storage error up front.
        400 => Answer::Refused(None),
        _ => Answer::Unknown,
    }
}
