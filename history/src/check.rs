//! The per-key linearizability search.

use crate::{Entry, Op, Outcome, Ret, Value, fmt_value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// How much search [`check_linearizable_with`] may spend on one key before it gives up
/// with [`KeyVerdict::Undecided`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The most distinct search states (set of linearized operations, register value)
    /// visited for one key. Each costs about 40 bytes of memory while the key is checked.
    pub max_states: u64,
}

impl Default for Budget {
    /// Five million states: a few seconds and about 200 MB for one key at worst. A
    /// linearizable history needs a few states per operation; ruling out every order of a
    /// long history takes far more (3.8 million for 3,000 operations, at worst, in this
    /// crate's measurements).
    fn default() -> Self {
        Self {
            max_states: 5_000_000,
        }
    }
}

/// The verdict on one key's register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyVerdict {
    /// A linearization exists.
    Linearizable {
        /// Operations checked: acknowledged ones plus writes whose outcome is unknown.
        ops: usize,
        /// Search states visited.
        states: u64,
    },
    /// No linearization exists.
    Violation(Violation),
    /// The budget ran out first: nothing is proven either way, and a caller must not
    /// treat this as a pass.
    Undecided {
        /// Operations checked.
        ops: usize,
        /// Search states visited.
        states: u64,
        /// The most acknowledged operations linearized in one order before giving up.
        linearized: usize,
    },
    /// The key's entries break the history model, so they cannot be judged.
    Malformed {
        /// Index of the offending entry in the history.
        entry: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why one key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The key.
    pub key: String,
    /// The longest order found that is consistent with real time and the register's
    /// semantics, as indices into the history. It may include writes whose outcome is
    /// unknown.
    pub prefix: Vec<usize>,
    /// The register's value after [`Violation::prefix`].
    pub state: Option<Value>,
    /// Index in the history of the operation that could not be placed after the prefix:
    /// the earliest-completing one left, which had to come next or be preceded by one of
    /// the operations concurrent with it, and neither worked.
    pub blocked: usize,
    /// Search states visited to rule out every order.
    pub states: u64,
    /// A one-paragraph account for a person.
    pub explanation: String,
}

/// The verdict of [`check_linearizable`], key by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Every key of the history with its verdict.
    pub keys: BTreeMap<String, KeyVerdict>,
}

impl Report {
    /// Whether every key was proven linearizable. False for a violation, an undecided key
    /// and a malformed one alike.
    pub fn is_linearizable(&self) -> bool {
        self.keys
            .values()
            .all(|v| matches!(v, KeyVerdict::Linearizable { .. }))
    }

    /// The keys proven not linearizable, with why.
    pub fn violations(&self) -> impl Iterator<Item = (&str, &Violation)> {
        self.keys.iter().filter_map(|(k, v)| match v {
            KeyVerdict::Violation(v) => Some((k.as_str(), v)),
            _ => None,
        })
    }

    /// The keys on which the budget ran out.
    pub fn undecided(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|(k, v)| match v {
            KeyVerdict::Undecided { .. } => Some(k.as_str()),
            _ => None,
        })
    }

    /// The keys whose entries break the history model, with the reason.
    pub fn malformed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().filter_map(|(k, v)| match v {
            KeyVerdict::Malformed { reason, .. } => Some((k.as_str(), reason.as_str())),
            _ => None,
        })
    }

    /// Search states visited over all keys.
    pub fn states(&self) -> u64 {
        self.keys
            .values()
            .map(|v| match v {
                KeyVerdict::Linearizable { states, .. } | KeyVerdict::Undecided { states, .. } => {
                    *states
                }
                KeyVerdict::Violation(v) => v.states,
                KeyVerdict::Malformed { .. } => 0,
            })
            .sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, verdict) in &self.keys {
            match verdict {
                KeyVerdict::Linearizable { ops, states } => {
                    writeln!(f, "{key:?}: linearizable ({ops} ops, {states} states)")?
                }
                KeyVerdict::Violation(v) => writeln!(f, "{key:?}: NOT linearizable: {v}")?,
                KeyVerdict::Undecided {
                    ops,
                    states,
                    linearized,
                } => writeln!(
                    f,
                    "{key:?}: UNDECIDED after {states} states ({linearized} of {ops} ops linearized at most)"
                )?,
                KeyVerdict::Malformed { entry, reason } => {
                    writeln!(f, "{key:?}: MALFORMED at entry {entry}: {reason}")?
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explanation)
    }
}

/// Checks every key of `history` with the default [`Budget`].
pub fn check_linearizable(history: &[Entry]) -> Report {
    check_linearizable_with(history, Budget::default())
}

/// Checks every key of `history` for linearizability, spending at most `budget` on each.
///
/// The search is Wing and Gong's: repeatedly pick, among the operations not yet placed,
/// one invoked before the earliest completion among them, apply it to the register, and
/// backtrack when none fits. Lowe's memoization skips any (set of placed operations,
/// register value) reached before. The set is kept as a 128-bit Zobrist hash rather than
/// a bitset, so a state costs the same memory however long the history; a hash collision
/// could only prune a branch, which can turn a pass into a reported violation but never
/// a violation into a pass, with a probability far below any hardware fault's.
///
/// An operation with an unknown outcome has no completion, so nothing has to follow it
/// and it may stay unplaced. Two prunings keep such operations from multiplying the
/// search, each sound because dropping the operation from any linearization leaves a
/// linearization:
///
/// - an unknown write (or swap) is placed only just before an operation that could not
///   have taken effect, with the result recorded, on the value the unknown write
///   replaced. Otherwise it can move past that operation (or, before a write or at the
///   end, vanish) and the rest of the order is unchanged;
/// - an unknown compare-and-swap is placed only when it would swap, and an unknown read
///   never is;
/// - an acknowledged read or failed swap that fits the current value is placed at once
///   with no alternative tried, since it can move to the front of any order that
///   completes the prefix; otherwise every subset of a batch of concurrent reads would be
///   a state of its own;
/// - unknown writes of values that no operation reads or expects are interchangeable
///   (in any order one could stand where another stands), so only the earliest-invoked
///   of those still unplaced is tried.
///
/// Acknowledged operations are tried before unknown ones, as a healthy history rarely
/// needs the latter.
pub fn check_linearizable_with(history: &[Entry], budget: Budget) -> Report {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in history.iter().enumerate() {
        by_key.entry(e.key.as_str()).or_default().push(i);
    }
    let mut keys: BTreeMap<String, KeyVerdict> = by_key
        .into_iter()
        .map(|(key, idx)| (key.to_string(), check_key(history, key, &idx, budget)))
        .collect();
    for (entry, reason) in process_errors(history) {
        keys.insert(
            history[entry].key.clone(),
            KeyVerdict::Malformed { entry, reason },
        );
    }
    Report { keys }
}

/// Finds processes that run two operations at once or go on after an unknown outcome.
/// Failed operations had no effect and are left out.
fn process_errors(history: &[Entry]) -> Vec<(usize, String)> {
    let mut by_process: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, e) in history.iter().enumerate() {
        if e.outcome != Outcome::Failed {
            by_process.entry(e.process).or_default().push(i);
        }
    }
    let mut errors = Vec::new();
    for (process, mut idx) in by_process {
        idx.sort_by_key(|&i| (history[i].invoked, i));
        for w in idx.windows(2) {
            let (a, b) = (&history[w[0]], &history[w[1]]);
            let end = match (&a.outcome, a.completed) {
                (Outcome::Unknown, _) | (_, None) => None,
                (_, Some(c)) => Some(c),
            };
            match end {
                None => errors.push((
                    w[1],
                    format!(
                        "process {process} invoked another operation after entry {} whose outcome is unknown",
                        w[0]
                    ),
                )),
                Some(end) if end > b.invoked => errors.push((
                    w[1],
                    format!(
                        "process {process} invoked it while entry {} was still in flight",
                        w[0]
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    errors.sort();
    errors
}

/// An operation as the search sees it, values interned to small integers (0 = absent).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Read {
        ret: u32,
    },
    Write {
        value: u32,
    },
    Cas {
        expected: u32,
        new: u32,
        swapped: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct SearchOp {
    entry: usize,
    kind: Kind,
    unknown: bool,
    /// An unknown write whose value no operation reads or expects: all such writes have
    /// the same effect on what follows, so only the earliest pending one is tried.
    anonymous: bool,
    call_node: usize,
    ret_node: Option<usize>,
    zobrist: u128,
}

impl SearchOp {
    /// Whether taking effect may change the register.
    fn writes(&self) -> bool {
        match self.kind {
            Kind::Read { .. } => false,
            Kind::Write { .. } => true,
            Kind::Cas { swapped, .. } => swapped || self.unknown,
        }
    }

    /// The register's value after this operation, if it can take effect on `state`
    /// with the result the history records.
    fn step(&self, state: u32) -> Option<u32> {
        match self.kind {
            Kind::Read { ret } => (!self.unknown && ret == state).then_some(state),
            Kind::Write { value } => Some(value),
            Kind::Cas {
                expected,
                new,
                swapped,
            } => {
                let swaps = expected == state;
                if self.unknown {
                    swaps.then_some(new)
                } else if swaps == swapped {
                    Some(if swaps { new } else { state })
                } else {
                    None
                }
            }
        }
    }
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Value, u32>,
    values: Vec<Value>,
}

impl Interner {
    fn id(&mut self, v: &Option<Value>) -> u32 {
        let Some(v) = v else { return 0 };
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        self.values.push(v.clone());
        let id = self.values.len() as u32;
        self.ids.insert(v.clone(), id);
        id
    }

    fn value(&self, id: u32) -> Option<Value> {
        (id != 0).then(|| self.values[id as usize - 1].clone())
    }
}

/// The keys are random already; hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// A deterministic generator, so that a verdict and its state count are reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn next128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

/// `obliged` is the register's value before an unknown write just placed, which the next
/// operation must be unable to follow.
fn state_hash(state: u32, obliged: Option<u32>) -> u128 {
    let before = obliged.map_or(0, |b| u64::from(b) + 1);
    let mut g = SplitMix((u64::from(state) << 32) ^ before.rotate_left(17));
    g.next128() ^ SplitMix(before).next128()
}

fn malformed(entry: usize, e: &Entry) -> Option<String> {
    let kinds_match = matches!(
        (&e.op, &e.outcome),
        (_, Outcome::Failed | Outcome::Unknown)
            | (Op::Read, Outcome::Ok(Ret::Read(_)))
            | (Op::Write(_), Outcome::Ok(Ret::Written))
            | (Op::Cas { .. }, Outcome::Ok(Ret::Cas { .. }))
    );
    if !kinds_match {
        return Some(format!(
            "entry {entry}: {} cannot return {}",
            e.op, e.outcome
        ));
    }
    if let Outcome::Ok(_) = e.outcome {
        match e.completed {
            None => {
                return Some(format!(
                    "entry {entry}: completed without a completion time"
                ));
            }
            Some(c) if c < e.invoked => {
                return Some(format!("entry {entry}: completed before it was invoked"));
            }
            Some(_) => {}
        }
    }
    None
}

/// A doubly linked list of call and return events, in time order, from which placed
/// operations are lifted and restored in LIFO order (dancing links).
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation each event belongs to; node 0 is the head.
    op: Vec<usize>,
    is_call: Vec<bool>,
}

impl Events {
    const END: usize = usize::MAX;

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = x;
        if x != Self::END {
            self.prev[x] = p;
        }
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = n;
        if x != Self::END {
            self.prev[x] = n;
        }
    }
}

fn check_key(history: &[Entry], key: &str, idx: &[usize], budget: Budget) -> KeyVerdict {
    for &i in idx {
        if let Some(reason) = malformed(i, &history[i]) {
            return KeyVerdict::Malformed { entry: i, reason };
        }
    }
    let mut interner = Interner::default();
    let mut zob = SplitMix(0x5eed);
    let mut ops: Vec<SearchOp> = Vec::new();
    // (time, is return, op): at equal times calls sort first, so operations that touch
    // the same instant are concurrent.
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for &i in idx {
        let e = &history[i];
        let unknown = match e.outcome {
            Outcome::Failed => continue,
            Outcome::Unknown => true,
            Outcome::Ok(_) => false,
        };
        let kind = match (&e.op, &e.outcome) {
            (Op::Read, Outcome::Unknown) => continue,
            (Op::Read, Outcome::Ok(Ret::Read(v))) => Kind::Read {
                ret: interner.id(v),
            },
            (Op::Write(v), _) => Kind::Write {
                value: interner.id(&Some(v.clone())),
            },
            (Op::Cas { expected, new }, outcome) => Kind::Cas {
                expected: interner.id(expected),
                new: interner.id(&Some(new.clone())),
                swapped: matches!(outcome, Outcome::Ok(Ret::Cas { swapped: true })),
            },
            // `malformed` rejected every other pairing.
            _ => continue,
        };
        let op = ops.len();
        events.push((e.invoked, false, op));
        if !unknown {
            events.push((e.completed.unwrap_or(u64::MAX), true, op));
        }
        ops.push(SearchOp {
            entry: i,
            kind,
            unknown,
            anonymous: false,
            call_node: 0,
            ret_node: None,
            zobrist: zob.next128(),
        });
    }
    let mut observed = HashSet::new();
    for o in &ops {
        match o.kind {
            Kind::Read { ret } => {
                observed.insert(ret);
            }
            Kind::Cas { expected, .. } => {
                observed.insert(expected);
            }
            Kind::Write { .. } => {}
        }
    }
    for o in &mut ops {
        if let Kind::Write { value } = o.kind {
            o.anonymous = o.unknown && !observed.contains(&value);
        }
    }
    events.sort_unstable();
    let n = events.len() + 1;
    let mut list = Events {
        next: (1..=n)
            .map(|x| if x == n { Events::END } else { x })
            .collect(),
        prev: (0..n).map(|x| x.saturating_sub(1)).collect(),
        op: vec![usize::MAX; n],
        is_call: vec![false; n],
    };
    for (k, &(_, is_ret, op)) in events.iter().enumerate() {
        let node = k + 1;
        list.op[node] = op;
        list.is_call[node] = !is_ret;
        if is_ret {
            ops[op].ret_node = Some(node);
        } else {
            ops[op].call_node = node;
        }
    }
    let total_known = ops.iter().filter(|o| !o.unknown).count();
    Search {
        ops: &ops,
        list,
        budget,
        history,
        interner: &interner,
        key,
        total_known,
    }
    .run()
}

struct Frame {
    op: usize,
    state: u32,
    obliged: Option<u32>,
    candidates: Vec<usize>,
    tried: usize,
}

struct Search<'a> {
    ops: &'a [SearchOp],
    list: Events,
    budget: Budget,
    history: &'a [Entry],
    interner: &'a Interner,
    key: &'a str,
    total_known: usize,
}

impl Search<'_> {
    /// The operations that may be placed next, acknowledged ones first. After an unknown
    /// write, only those that could not have taken effect on the value it replaced.
    ///
    /// An acknowledged operation that leaves the register as it is (a read, a swap that
    /// failed) and fits the current value is placed alone, without alternatives: in any
    /// order that completes the current prefix it can move to the front, as nothing left
    /// had to precede it and it changes nothing for what follows. Without this, every
    /// subset of a batch of concurrent reads would be a search state of its own.
    fn candidates(&self, state: u32, obliged: Option<u32>) -> Vec<usize> {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        let mut anonymous_seen = false;
        let mut node = self.list.next[0];
        while node != Events::END && self.list.is_call[node] {
            let op = self.list.op[node];
            let o = &self.ops[op];
            let repeat = o.anonymous && std::mem::replace(&mut anonymous_seen, true);
            if !repeat && obliged.is_none_or(|before| o.step(before).is_none()) {
                if !o.unknown && o.step(state) == Some(state) && !o.writes() {
                    return vec![op];
                }
                if o.unknown { &mut unknown } else { &mut known }.push(op);
            }
            node = self.list.next[node];
        }
        known.extend(unknown);
        known
    }

    /// The acknowledged operation that completes first among those left.
    fn first_return(&self) -> Option<usize> {
        let mut node = self.list.next[0];
        while node != Events::END {
            if !self.list.is_call[node] {
                return Some(self.list.op[node]);
            }
            node = self.list.next[node];
        }
        None
    }

    fn lift(&mut self, op: usize) {
        let o = self.ops[op];
        self.list.unlink(o.call_node);
        if let Some(r) = o.ret_node {
            self.list.unlink(r);
        }
    }

    fn unlift(&mut self, op: usize) {
        let o = self.ops[op];
        if let Some(r) = o.ret_node {
            self.list.relink(r);
        }
        self.list.relink(o.call_node);
    }

    fn run(mut self) -> KeyVerdict {
        let mut seen: HashSet<u128, BuildHasherDefault<PassThrough>> = HashSet::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut placed: u128 = 0;
        let mut state = 0u32;
        let mut obliged = None;
        let mut known_placed = 0usize;
        let mut states = 0u64;
        let mut best: Option<(usize, Vec<usize>, u32, usize)> = None;
        let mut candidates = self.candidates(0, None);
        let mut tried = 0usize;
        loop {
            if known_placed == self.total_known {
                return KeyVerdict::Linearizable {
                    ops: self.ops.len(),
                    states,
                };
            }
            let mut advanced = false;
            while tried < candidates.len() {
                let op = candidates[tried];
                tried += 1;
                let o = self.ops[op];
                let Some(next_state) = o.step(state) else {
                    continue;
                };
                let next_obliged = o.unknown.then_some(state);
                let next_placed = placed ^ o.zobrist;
                if !seen.insert(next_placed ^ state_hash(next_state, next_obliged)) {
                    continue;
                }
                states += 1;
                if states > self.budget.max_states {
                    return KeyVerdict::Undecided {
                        ops: self.ops.len(),
                        states: states - 1,
                        linearized: best.as_ref().map_or(known_placed, |b| b.0),
                    };
                }
                stack.push(Frame {
                    op,
                    state,
                    obliged,
                    candidates: std::mem::take(&mut candidates),
                    tried,
                });
                self.lift(op);
                placed = next_placed;
                state = next_state;
                obliged = next_obliged;
                known_placed += usize::from(!o.unknown);
                advanced = true;
                break;
            }
            if advanced {
                candidates = self.candidates(state, obliged);
                tried = 0;
                if best.as_ref().is_none_or(|b| known_placed > b.0) {
                    let blocked = self.first_return().unwrap_or(0);
                    let prefix = stack.iter().map(|f| self.ops[f.op].entry).collect();
                    best = Some((known_placed, prefix, state, blocked));
                }
                continue;
            }
            if best.is_none() {
                best = Some((0, Vec::new(), 0, self.first_return().unwrap_or(0)));
            }
            let Some(frame) = stack.pop() else {
                return KeyVerdict::Violation(self.violation(best, states));
            };
            self.unlift(frame.op);
            let o = self.ops[frame.op];
            placed ^= o.zobrist;
            known_placed -= usize::from(!o.unknown);
            state = frame.state;
            obliged = frame.obliged;
            candidates = frame.candidates;
            tried = frame.tried;
        }
    }

    fn violation(&self, best: Option<(usize, Vec<usize>, u32, usize)>, states: u64) -> Violation {
        let (placed, prefix, state, blocked) = best.unwrap_or_default();
        let state = self.interner.value(state);
        let blocked_entry = self.ops[blocked].entry;
        let b = &self.history[blocked_entry];
        let last = prefix
            .last()
            .map(|&i| {
                format!(
                    " The last operation of that order: entry {i}, {}.",
                    self.history[i]
                )
            })
            .unwrap_or_default();
        let explanation = format!(
            "key {key:?}: at most {placed} of {total} acknowledged operations can be put in an order \
             that respects real time and the register's semantics; after them the register holds {st}, \
             and entry {blocked_entry} ({b}) can neither take effect there nor be preceded by any \
             operation concurrent with it.{last}",
            key = self.key,
            total = self.total_known,
            st = fmt_value(&state),
        );
        Violation {
            key: self.key.to_string(),
            prefix,
            state,
            blocked: blocked_entry,
            states,
            explanation,
        }
    }
}
