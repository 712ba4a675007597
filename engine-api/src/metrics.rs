//! What a store counts and times, through the `metrics` facade (feature `metrics`).
//!
//! Every call site in the store is one call to a function of this module. Without the
//! feature the functions are empty and inlined, and [`Started`] is zero-sized, so the
//! call sites compile to nothing. With it, the values go to whatever recorder the
//! program installed (none: they are dropped). Every metric carries the engine's name as
//! the `engine` label; the README's Metrics section lists them all.

use crate::engine::ApplyOutcome;
use crate::raw::Durability;
use crate::restore_gate::RestoreDecision;

/// Why a store fsynced outside an apply: the `trigger` label of `fsmstore_syncs_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SyncTrigger {
    /// [`Engine::sync`](crate::Engine::sync).
    Sync,
    /// A checkpoint ([`Engine::set_durable_applied_index`](crate::Engine::set_durable_applied_index))
    /// whose index was not yet known durable.
    Checkpoint,
    /// Closing (or dropping) a writable store.
    Close,
}

impl SyncTrigger {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            SyncTrigger::Sync => "sync",
            SyncTrigger::Checkpoint => "checkpoint",
            SyncTrigger::Close => "close",
        }
    }
}

/// The `outcome` and `reason` labels of `fsmstore_cold_start_total`: what the caller
/// must do, and the decision's variant (a fallback's reason for a fallback) in snake case.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn cold_start_labels(decision: &RestoreDecision) -> (&'static str, &'static str) {
    use crate::restore_gate::FallbackReason;
    let outcome = if decision.must_restore() {
        "restore"
    } else {
        "skip"
    };
    let reason = match decision {
        RestoreDecision::Skip { .. } => "skip",
        RestoreDecision::Execute { .. } => "execute",
        RestoreDecision::Fallback(FallbackReason::MissingMeta) => "missing_meta",
        RestoreDecision::Fallback(FallbackReason::ReadError(_)) => "read_error",
    };
    (outcome, reason)
}

/// How far the store's applied index is behind the snapshot's (negative: ahead), or
/// `None` when the gate found no applied index.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn index_gap(snapshot_index: u64, decision: &RestoreDecision) -> Option<f64> {
    match decision {
        RestoreDecision::Skip { applied } | RestoreDecision::Execute { applied } => {
            Some((i128::from(snapshot_index) - i128::from(*applied)) as f64)
        }
        RestoreDecision::Fallback(_) => None,
    }
}

#[cfg(feature = "metrics")]
mod recorded {
    use std::time::Instant;

    use ::metrics::{
        Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    };

    use super::*;

    const APPLIES: &str = "fsmstore_applies_total";
    const APPLY_SECONDS: &str = "fsmstore_apply_duration_seconds";
    const COMMITS: &str = "fsmstore_commits_total";
    const SYNCS: &str = "fsmstore_syncs_total";
    const CHECKPOINT_SECONDS: &str = "fsmstore_checkpoint_duration_seconds";
    const EXPORT_BYTES: &str = "fsmstore_export_bytes_total";
    const EXPORT_SECONDS: &str = "fsmstore_export_duration_seconds";
    const RESTORE_BYTES: &str = "fsmstore_restore_bytes_total";
    const RESTORE_SECONDS: &str = "fsmstore_restore_duration_seconds";
    const COLD_STARTS: &str = "fsmstore_cold_start_total";
    const COLD_START_GAP: &str = "fsmstore_cold_start_index_gap";

    /// When a timed operation started.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Started(Instant);

    impl Started {
        /// Now.
        #[inline]
        pub(crate) fn now() -> Self {
            Self(Instant::now())
        }

        fn seconds(self) -> f64 {
            self.0.elapsed().as_secs_f64()
        }
    }

    /// Hands every metric's type, unit and meaning to the installed recorder, so that an
    /// exporter can print them (Prometheus: the `# HELP` lines). Opening a store does
    /// it too; call it yourself to have the descriptions before the first open.
    pub fn describe_metrics() {
        describe_counter!(
            APPLIES,
            Unit::Count,
            "Raft applies (Engine::apply) by outcome: applied, or skipped because the index was not above the applied index."
        );
        describe_histogram!(
            APPLY_SECONDS,
            Unit::Seconds,
            "Time of one Engine::apply that returned Ok, applied or skipped."
        );
        describe_counter!(
            COMMITS,
            Unit::Count,
            "Engine commits of applies, direct writes and checkpoints, by durability: durable (fsynced) or buffered."
        );
        describe_counter!(
            SYNCS,
            Unit::Count,
            "Forced fsyncs outside the apply path, by trigger: an explicit sync, a checkpoint whose index was not yet durable, or a close."
        );
        describe_histogram!(
            CHECKPOINT_SECONDS,
            Unit::Seconds,
            "Time of one checkpoint (Engine::set_durable_applied_index) that returned Ok, whether or not it had to fsync."
        );
        describe_counter!(
            EXPORT_BYTES,
            Unit::Bytes,
            "Bytes of snapshot streams written by Engine::export."
        );
        describe_histogram!(
            EXPORT_SECONDS,
            Unit::Seconds,
            "Time of one Engine::export that returned Ok."
        );
        describe_counter!(
            RESTORE_BYTES,
            Unit::Bytes,
            "Bytes of snapshot streams installed by Engine::restore."
        );
        describe_histogram!(
            RESTORE_SECONDS,
            Unit::Seconds,
            "Time of one Engine::restore that returned Ok, from the first byte read to the switch to the new contents."
        );
        describe_counter!(
            COLD_STARTS,
            Unit::Count,
            "Cold-start gate decisions (decide_restore): outcome skip or restore, reason skip, execute, missing_meta or read_error."
        );
        describe_gauge!(
            COLD_START_GAP,
            Unit::Count,
            "At the last cold-start gate with a stored applied index: the snapshot's index minus the applied index (above 0: the store is behind)."
        );
    }

    /// What every open does: recorders installed since the last open learn the
    /// descriptions too (describing again only replaces them).
    pub(crate) fn describe() {
        describe_metrics();
    }

    #[inline]
    pub(crate) fn applied(
        engine: &'static str,
        started: Started,
        outcome: ApplyOutcome,
    ) -> ApplyOutcome {
        let label = match outcome {
            ApplyOutcome::Applied { .. } => "applied",
            ApplyOutcome::Skipped { .. } => "skipped",
        };
        counter!(APPLIES, "engine" => engine, "outcome" => label).increment(1);
        histogram!(APPLY_SECONDS, "engine" => engine).record(started.seconds());
        outcome
    }

    #[inline]
    pub(crate) fn committed(engine: &'static str, durability: Durability) {
        let label = match durability {
            Durability::Durable => "durable",
            Durability::Buffered => "buffered",
        };
        counter!(COMMITS, "engine" => engine, "durability" => label).increment(1);
    }

    pub(crate) fn synced(engine: &'static str, trigger: SyncTrigger) {
        counter!(SYNCS, "engine" => engine, "trigger" => trigger.label()).increment(1);
    }

    pub(crate) fn checkpointed(engine: &'static str, started: Started) {
        histogram!(CHECKPOINT_SECONDS, "engine" => engine).record(started.seconds());
    }

    pub(crate) fn exported(engine: &'static str, bytes: u64, started: Started) {
        counter!(EXPORT_BYTES, "engine" => engine).increment(bytes);
        histogram!(EXPORT_SECONDS, "engine" => engine).record(started.seconds());
    }

    pub(crate) fn restored(engine: &'static str, bytes: u64, started: Started) {
        counter!(RESTORE_BYTES, "engine" => engine).increment(bytes);
        histogram!(RESTORE_SECONDS, "engine" => engine).record(started.seconds());
    }

    pub(crate) fn cold_start(
        engine: &'static str,
        snapshot_index: u64,
        decision: &RestoreDecision,
    ) {
        let (outcome, reason) = cold_start_labels(decision);
        counter!(COLD_STARTS, "engine" => engine, "outcome" => outcome, "reason" => reason)
            .increment(1);
        if let Some(gap) = index_gap(snapshot_index, decision) {
            gauge!(COLD_START_GAP, "engine" => engine).set(gap);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod recorded {
    use super::*;

    /// When a timed operation started: nothing, without the `metrics` feature.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Started;

    impl Started {
        #[inline(always)]
        pub(crate) fn now() -> Self {
            Self
        }
    }

    #[inline(always)]
    pub(crate) fn applied(_: &'static str, _: Started, outcome: ApplyOutcome) -> ApplyOutcome {
        outcome
    }

    #[inline(always)]
    pub(crate) fn describe() {}

    #[inline(always)]
    pub(crate) fn committed(_: &'static str, _: Durability) {}

    #[inline(always)]
    pub(crate) fn synced(_: &'static str, _: SyncTrigger) {}

    #[inline(always)]
    pub(crate) fn checkpointed(_: &'static str, _: Started) {}

    #[inline(always)]
    pub(crate) fn exported(_: &'static str, _: u64, _: Started) {}

    #[inline(always)]
    pub(crate) fn restored(_: &'static str, _: u64, _: Started) {}

    #[inline(always)]
    pub(crate) fn cold_start(_: &'static str, _: u64, _: &RestoreDecision) {}
}

#[cfg(feature = "metrics")]
pub use recorded::describe_metrics;
pub(crate) use recorded::{
    Started, applied, checkpointed, cold_start, committed, describe, exported, restored, synced,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::restore_gate::FallbackReason;

    #[test]
    fn every_gate_decision_has_its_own_reason_and_restores_unless_it_skips() {
        let labels = [
            RestoreDecision::Skip { applied: 9 },
            RestoreDecision::Execute { applied: 3 },
            RestoreDecision::Fallback(FallbackReason::MissingMeta),
            RestoreDecision::Fallback(FallbackReason::ReadError(Error::Corruption(
                "unreadable".to_owned(),
            ))),
        ]
        .iter()
        .map(cold_start_labels)
        .collect::<Vec<_>>();
        assert_eq!(
            labels,
            [
                ("skip", "skip"),
                ("restore", "execute"),
                ("restore", "missing_meta"),
                ("restore", "read_error"),
            ]
        );
    }

    #[test]
    fn the_index_gap_is_signed_and_absent_without_an_applied_index() {
        assert_eq!(
            index_gap(5, &RestoreDecision::Skip { applied: 9 }),
            Some(-4.0)
        );
        assert_eq!(
            index_gap(9, &RestoreDecision::Execute { applied: 5 }),
            Some(4.0)
        );
        assert_eq!(
            index_gap(u64::MAX, &RestoreDecision::Execute { applied: 0 }),
            Some(u64::MAX as f64)
        );
        assert_eq!(
            index_gap(5, &RestoreDecision::Fallback(FallbackReason::MissingMeta)),
            None
        );
    }
}
