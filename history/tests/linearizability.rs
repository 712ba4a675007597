//! Hand-written histories: each good one must be accepted, each known-bad one rejected
//! with a violation naming its key.

use fsmstore_history::{
    Budget, Entry, KeyVerdict, Op, Outcome, Ret, check_linearizable, check_linearizable_with,
};

fn w(v: &str) -> Op {
    Op::Write(v.to_string())
}

fn cas(expected: Option<&str>, new: &str) -> Op {
    Op::Cas {
        expected: expected.map(str::to_string),
        new: new.to_string(),
    }
}

fn read(v: Option<&str>) -> Outcome {
    Outcome::Ok(Ret::Read(v.map(str::to_string)))
}

fn written() -> Outcome {
    Outcome::Ok(Ret::Written)
}

fn swapped(swapped: bool) -> Outcome {
    Outcome::Ok(Ret::Cas { swapped })
}

fn e(process: u64, op: Op, invoked: u64, completed: u64, outcome: Outcome) -> Entry {
    Entry::new(process, "k", op, invoked, Some(completed), outcome)
}

fn assert_accepted(history: &[Entry]) {
    let report = check_linearizable(history);
    assert!(report.is_linearizable(), "{report}");
}

fn assert_rejected(history: &[Entry]) -> String {
    let report = check_linearizable(history);
    assert!(!report.is_linearizable(), "accepted: {history:#?}");
    let violations: Vec<_> = report.violations().collect();
    assert_eq!(violations.len(), 1, "{report}");
    let (key, violation) = violations[0];
    assert_eq!(key, "k");
    assert_eq!(violation.key, "k");
    assert!(violation.explanation.contains("\"k\""), "{violation}");
    violation.explanation.clone()
}

#[test]
fn sequential_writes_and_reads_are_linearizable() {
    assert_accepted(&[
        e(1, Op::Read, 0, 1, read(None)),
        e(1, w("1"), 2, 3, written()),
        e(2, Op::Read, 4, 5, read(Some("1"))),
        e(1, w("2"), 6, 7, written()),
        e(2, Op::Read, 8, 9, read(Some("2"))),
        e(1, cas(Some("2"), "3"), 10, 11, swapped(true)),
        e(2, cas(Some("2"), "4"), 12, 13, swapped(false)),
        e(2, Op::Read, 14, 15, read(Some("3"))),
    ]);
}

#[test]
fn a_read_overlapping_a_write_may_return_either_value() {
    for seen in [Some("1"), Some("2")] {
        assert_accepted(&[
            e(1, w("1"), 0, 10, written()),
            e(1, w("2"), 20, 40, written()),
            e(2, Op::Read, 30, 50, read(seen)),
        ]);
    }
}

#[test]
fn of_two_concurrent_cases_from_one_value_exactly_one_may_swap() {
    let race = |a: bool, b: bool| {
        vec![
            e(1, w("0"), 0, 10, written()),
            e(2, cas(Some("0"), "a"), 20, 40, swapped(a)),
            e(3, cas(Some("0"), "b"), 25, 45, swapped(b)),
        ]
    };
    assert_accepted(&race(true, false));
    assert_accepted(&race(false, true));
    assert_rejected(&race(true, true));
}

#[test]
fn an_unknown_write_may_have_taken_effect_or_not() {
    // Seen by a read long after the client gave up: it took effect late.
    assert_accepted(&[
        e(1, w("1"), 0, 10, written()),
        e(2, w("2"), 20, 30, Outcome::Unknown),
        e(3, Op::Read, 40, 50, read(Some("1"))),
        e(3, Op::Read, 60, 70, read(Some("2"))),
    ]);
    // Never seen: it did not take effect.
    assert_accepted(&[
        e(1, w("1"), 0, 10, written()),
        Entry::new(2, "k", w("2"), 20, None, Outcome::Unknown),
        e(3, Op::Read, 40, 50, read(Some("1"))),
        e(3, Op::Read, 60, 70, read(Some("1"))),
    ]);
}

#[test]
fn an_unknown_write_takes_effect_once() {
    assert_rejected(&[
        e(1, w("1"), 0, 10, written()),
        e(2, w("2"), 20, 30, Outcome::Unknown),
        e(3, Op::Read, 40, 50, read(Some("2"))),
        e(1, w("3"), 60, 70, written()),
        e(3, Op::Read, 80, 90, read(Some("2"))),
    ]);
}

#[test]
fn an_unknown_write_explains_a_failed_swap() {
    // Without the unknown write the swap from "1" would have succeeded.
    let history = |unknown: bool| {
        let mut h = vec![
            e(1, w("1"), 0, 10, written()),
            e(3, cas(Some("1"), "3"), 40, 50, swapped(false)),
            e(4, w("4"), 60, 70, written()),
            e(3, Op::Read, 80, 90, read(Some("4"))),
        ];
        if unknown {
            h.push(e(2, w("2"), 20, 30, Outcome::Unknown));
        }
        h
    };
    assert_rejected(&history(false));
    assert_accepted(&history(true));
}

#[test]
fn a_lost_write_is_rejected() {
    // "2" was acknowledged; a read invoked afterwards still sees "1".
    let why = assert_rejected(&[
        e(1, w("1"), 0, 10, written()),
        e(1, w("2"), 20, 30, written()),
        e(2, Op::Read, 40, 50, read(Some("1"))),
    ]);
    assert!(why.contains("entry 2"), "{why}");
}

#[test]
fn a_stale_read_is_rejected() {
    // The read overlaps nothing that could explain "1": "2" was acknowledged before it
    // began, and another client had already read "2".
    assert_rejected(&[
        e(1, w("1"), 0, 10, written()),
        e(1, w("2"), 20, 30, written()),
        e(2, Op::Read, 25, 35, read(Some("2"))),
        e(3, Op::Read, 40, 50, read(Some("1"))),
    ]);
}

#[test]
fn a_read_of_a_value_never_written_is_rejected() {
    assert_rejected(&[
        e(1, w("1"), 0, 10, written()),
        e(2, Op::Read, 5, 50, read(Some("7"))),
    ]);
    assert_rejected(&[e(2, Op::Read, 0, 1, read(Some("7")))]);
}

#[test]
fn a_failed_write_whose_value_is_read_is_rejected() {
    let history = [
        e(1, w("1"), 0, 10, written()),
        e(1, w("2"), 20, 30, Outcome::Failed),
        e(2, Op::Read, 40, 50, read(Some("2"))),
    ];
    assert_rejected(&history);
    // The same history with the write's outcome unknown is fine.
    let mut unknown = history.to_vec();
    unknown[1].outcome = Outcome::Unknown;
    assert_accepted(&unknown);
}

#[test]
fn keys_are_independent_registers() {
    let mut history = vec![
        Entry::new(1, "a", w("1"), 0, Some(10), written()),
        Entry::new(2, "b", Op::Read, 20, Some(30), read(None)),
    ];
    assert_accepted(&history);
    history.push(Entry::new(2, "b", Op::Read, 40, Some(50), read(Some("1"))));
    let report = check_linearizable(&history);
    let keys: Vec<_> = report.violations().map(|(k, _)| k).collect();
    assert_eq!(keys, ["b"], "{report}");
    assert!(matches!(report.keys["a"], KeyVerdict::Linearizable { .. }));
}

#[test]
fn equal_instants_count_as_concurrent() {
    // The read was invoked at the very nanosecond the write completed.
    assert_accepted(&[
        e(1, w("1"), 0, 10, written()),
        e(1, w("2"), 20, 30, written()),
        e(2, Op::Read, 30, 40, read(Some("1"))),
    ]);
}

#[test]
fn an_exhausted_budget_is_undecided_not_a_pass() {
    let history = [
        e(1, w("1"), 0, 10, written()),
        e(2, w("2"), 0, 10, written()),
        e(3, w("3"), 0, 10, written()),
        e(4, Op::Read, 20, 30, read(Some("9"))),
    ];
    let report = check_linearizable_with(&history, Budget { max_states: 2 });
    assert!(!report.is_linearizable());
    assert_eq!(report.undecided().collect::<Vec<_>>(), ["k"]);
    assert_eq!(report.violations().count(), 0);
}

#[test]
fn malformed_histories_are_not_judged() {
    let cases = [
        // Acknowledged without a completion time.
        vec![Entry::new(1, "k", w("1"), 0, None, written())],
        // A write cannot return a read's result.
        vec![e(1, w("1"), 0, 10, read(None))],
        // One process with two operations in flight.
        vec![
            e(1, w("1"), 0, 10, written()),
            e(1, w("2"), 5, 15, written()),
        ],
        // A process reused after an unknown outcome.
        vec![
            e(1, w("1"), 0, 10, Outcome::Unknown),
            e(1, w("2"), 20, 30, written()),
        ],
    ];
    for history in cases {
        let report = check_linearizable(&history);
        assert!(!report.is_linearizable());
        assert_eq!(report.malformed().count(), 1, "{report}");
    }
}
