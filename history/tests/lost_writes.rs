//! Acknowledged writes that the converged state contradicts.

use fsmstore_history::{Entry, LostReason, Op, Outcome, Ret, lost_writes};
use std::collections::BTreeMap;

fn write(process: u64, v: &str, invoked: u64, completed: u64, outcome: Outcome) -> Entry {
    Entry::new(
        process,
        "k",
        Op::Write(v.into()),
        invoked,
        Some(completed),
        outcome,
    )
}

fn finals(v: Option<&str>) -> BTreeMap<String, Option<String>> {
    BTreeMap::from([("k".to_string(), v.map(str::to_string))])
}

fn ok() -> Outcome {
    Outcome::Ok(Ret::Written)
}

#[test]
fn a_write_acknowledged_after_the_final_value_was_written_is_lost() {
    let history = [write(1, "1", 0, 10, ok()), write(1, "2", 20, 30, ok())];
    let lost = lost_writes(&history, &finals(Some("1")));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].key, "k");
    assert_eq!(lost[0].entry, 1);
    assert_eq!(lost[0].value, "2");
    assert_eq!(
        lost[0].reason,
        LostReason::FinalPredates {
            final_value: "1".into(),
            final_writer: 0
        }
    );
    assert!(lost[0].to_string().contains("is lost"));
}

#[test]
fn an_overwritten_write_is_not_lost() {
    let history = [write(1, "1", 0, 10, ok()), write(1, "2", 20, 30, ok())];
    assert!(lost_writes(&history, &finals(Some("2"))).is_empty());
    // Concurrent writes may land in either order.
    let concurrent = [write(1, "1", 0, 30, ok()), write(2, "2", 10, 20, ok())];
    assert!(lost_writes(&concurrent, &finals(Some("1"))).is_empty());
    assert!(lost_writes(&concurrent, &finals(Some("2"))).is_empty());
}

#[test]
fn an_absent_final_value_loses_every_acknowledged_write() {
    let history = [
        write(1, "1", 0, 10, ok()),
        write(1, "2", 20, 30, Outcome::Failed),
        write(1, "3", 40, 50, ok()),
    ];
    let lost = lost_writes(&history, &finals(None));
    let entries: Vec<_> = lost.iter().map(|l| l.entry).collect();
    assert_eq!(entries, [0, 2]);
    assert!(lost.iter().all(|l| l.reason == LostReason::FinalAbsent));
}

#[test]
fn a_final_value_nobody_wrote_loses_every_acknowledged_write() {
    let history = [
        write(1, "1", 0, 10, ok()),
        write(1, "2", 20, 30, Outcome::Failed),
    ];
    for final_value in ["9", "2"] {
        let lost = lost_writes(&history, &finals(Some(final_value)));
        assert_eq!(lost.len(), 1);
        assert_eq!(
            lost[0].reason,
            LostReason::FinalNeverWritten {
                final_value: final_value.into()
            }
        );
    }
}

#[test]
fn an_unknown_write_may_be_the_final_value() {
    let history = [
        write(1, "1", 0, 10, Outcome::Unknown),
        write(2, "2", 20, 30, ok()),
    ];
    assert!(lost_writes(&history, &finals(Some("1"))).is_empty());
}

#[test]
fn a_swap_counts_as_a_write() {
    let history = [
        write(1, "1", 0, 10, ok()),
        Entry::new(
            1,
            "k",
            Op::Cas {
                expected: Some("1".into()),
                new: "2".into(),
            },
            20,
            Some(30),
            Outcome::Ok(Ret::Cas { swapped: true }),
        ),
    ];
    let lost = lost_writes(&history, &finals(Some("1")));
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].value, "2");
}
