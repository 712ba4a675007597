//! The checker against a brute-force search over every order, on small random histories
//! of which many are not linearizable: the prunings must never change a verdict.

use fsmstore_history::{Entry, Op, Outcome, Ret, check_linearizable};

/// Whether some order of the operations, placing each known one and any of the unknown
/// ones, respects real time and the register.
fn brute_force(ops: &[&Entry], placed: &mut Vec<bool>, state: Option<String>) -> bool {
    let known_left = (0..ops.len()).any(|i| !placed[i] && ops[i].outcome != Outcome::Unknown);
    if !known_left {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        let x = ops[i];
        let must_wait = (0..ops.len()).any(|j| {
            !placed[j]
                && ops[j].outcome != Outcome::Unknown
                && ops[j].completed.expect("known") < x.invoked
        });
        if must_wait {
            continue;
        }
        let (ret, next) = match &x.op {
            Op::Read => (Ret::Read(state.clone()), state.clone()),
            Op::Write(v) => (Ret::Written, Some(v.clone())),
            Op::Cas { expected, new } => {
                let swapped = &state == expected;
                let next = if swapped {
                    Some(new.clone())
                } else {
                    state.clone()
                };
                (Ret::Cas { swapped }, next)
            }
        };
        if let Outcome::Ok(r) = &x.outcome
            && *r != ret
        {
            continue;
        }
        placed[i] = true;
        let found = brute_force(ops, placed, next);
        placed[i] = false;
        if found {
            return true;
        }
    }
    false
}

fn random_history(rng: &mut fastrand::Rng) -> Vec<Entry> {
    let n = rng.usize(1..=7);
    let mut values = 0;
    let mut history = Vec::new();
    for p in 0..n as u64 {
        let invoked = rng.u64(0..20);
        let completed = invoked + rng.u64(0..10);
        let value = |rng: &mut fastrand::Rng, values: usize| match rng.usize(0..=values + 1) {
            0 => None,
            v if v > values => Some("x".to_string()),
            v => Some(format!("w{}", v - 1)),
        };
        let (op, ret) = match rng.u8(0..3) {
            0 => (Op::Read, Ret::Read(value(rng, n))),
            1 => {
                values += 1;
                (Op::Write(format!("w{}", values - 1)), Ret::Written)
            }
            _ => {
                values += 1;
                let op = Op::Cas {
                    expected: value(rng, n),
                    new: format!("w{}", values - 1),
                };
                (
                    op,
                    Ret::Cas {
                        swapped: rng.bool(),
                    },
                )
            }
        };
        let outcome = match rng.u8(0..10) {
            0..2 => Outcome::Unknown,
            2 => Outcome::Failed,
            _ => Outcome::Ok(ret),
        };
        history.push(Entry::new(p, "k", op, invoked, Some(completed), outcome));
    }
    history
}

#[test]
fn agrees_with_brute_force() {
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..20_000 {
        let history = random_history(&mut rng);
        let ops: Vec<&Entry> = history
            .iter()
            .filter(|e| e.outcome != Outcome::Failed)
            .collect();
        let expected = brute_force(&ops, &mut vec![false; ops.len()], None);
        let report = check_linearizable(&history);
        assert_eq!(report.is_linearizable(), expected, "{history:#?}\n{report}");
        if expected {
            accepted += 1;
        } else {
            assert_eq!(report.violations().count(), 1);
            rejected += 1;
        }
    }
    assert!(
        accepted > 2_000 && rejected > 2_000,
        "{accepted} {rejected}"
    );
}
