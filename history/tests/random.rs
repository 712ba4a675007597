//! Histories of a simulated linearizable store with random timings, concurrency and
//! unknown outcomes: always accepted as they are, and rejected once a single read is
//! made to return a value nobody wrote.

mod sim;

use fsmstore_history::{
    Entry, Outcome, Recorder, Ret, check_linearizable, lost_writes, read_jsonl, write_jsonl,
};
use sim::{Sim, simulate};
use std::time::Instant;

fn corrupt_one_read(history: &mut [Entry], pick: usize) -> Option<String> {
    let reads: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].outcome, Outcome::Ok(Ret::Read(_))))
        .collect();
    let i = *reads.get(pick % reads.len().max(1))?;
    history[i].outcome = Outcome::Ok(Ret::Read(Some("never written".into())));
    Some(history[i].key.clone())
}

#[test]
fn simulated_histories_are_accepted_and_a_corrupted_read_is_rejected() {
    for seed in 0..40 {
        let mut sim = Sim::new(seed, 2 + (seed as usize % 9), 150);
        sim.keys = 1 + seed as usize % 3;
        sim.unknown = [0.0, 0.02, 0.1][seed as usize % 3];
        let (mut history, finals) = simulate(sim);
        let report = check_linearizable(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        let lost = lost_writes(&history, &finals);
        assert!(lost.is_empty(), "seed {seed}: {lost:?}");

        let key = corrupt_one_read(&mut history, seed as usize * 7).expect("a read");
        let report = check_linearizable(&history);
        let bad: Vec<_> = report.violations().map(|(k, _)| k.to_string()).collect();
        assert_eq!(bad, [key], "seed {seed}: {report}");
    }
}

#[test]
fn a_thousand_operations_on_one_key_are_decided() {
    for seed in 0..3 {
        let (mut history, _) = simulate(Sim::new(seed, 10, 1_000));
        let start = Instant::now();
        let report = check_linearizable(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        eprintln!(
            "seed {seed}: 1,000 ops checked in {:?}, {} states",
            start.elapsed(),
            report.states()
        );
        corrupt_one_read(&mut history, 400);
        let report = check_linearizable(&history);
        assert_eq!(report.violations().count(), 1, "seed {seed}: {report}");
    }
}

/// The release-build measurement: `cargo test --release -p fsmstore-history --test random
/// -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, for release builds"]
fn three_thousand_operations_on_one_key() {
    for seed in 0..5 {
        let (mut history, _) = simulate(Sim::new(seed, 10, 3_000));
        let start = Instant::now();
        let report = check_linearizable(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        eprintln!(
            "seed {seed}: linearizable, {:?}, {} states",
            start.elapsed(),
            report.states()
        );
        for at in [0.1, 0.5, 0.9] {
            let mut bad = history.clone();
            let reads = bad
                .iter()
                .filter(|e| matches!(e.outcome, Outcome::Ok(Ret::Read(_))))
                .count();
            corrupt_one_read(&mut bad, (reads as f64 * at) as usize);
            let start = Instant::now();
            let report = check_linearizable(&bad);
            assert_eq!(report.violations().count(), 1, "seed {seed}: {report}");
            eprintln!(
                "seed {seed}: corrupted read at {at}: rejected, {:?}, {} states",
                start.elapsed(),
                report.states()
            );
        }
        history.clear();
    }
}

#[test]
fn a_recorded_history_survives_json_lines() {
    let recorder = Recorder::new();
    std::thread::scope(|s| {
        for t in 0..4 {
            let recorder = &recorder;
            s.spawn(move || {
                let mut process = recorder.new_process();
                for n in 0..25 {
                    let value = format!("{}", t * 100 + n);
                    let p = recorder.invoke(process, "k", fsmstore_history::Op::Write(value));
                    let outcome = if n == 10 {
                        Outcome::Unknown
                    } else {
                        Outcome::Ok(Ret::Written)
                    };
                    let next = recorder.complete(p, outcome.clone());
                    assert_eq!(next == process, outcome != Outcome::Unknown);
                    process = next;
                }
            });
        }
    });
    let history = recorder.history();
    assert_eq!(history.len(), 100);
    assert!(check_linearizable(&history).is_linearizable());
    let mut out = Vec::new();
    write_jsonl(&history, &mut out).expect("written to memory");
    assert_eq!(read_jsonl(&out[..]).expect("read back"), history);
    let first = String::from_utf8(out).expect("utf-8");
    assert!(first.starts_with("{\"process\":"), "{first}");
}
