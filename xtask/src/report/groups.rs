//! The groups table: concurrent Sync applies of many groups in one store, against a store
//! per group and one group alone.
//!
//! Throughput comes from criterion's medians (an iteration's applies are its throughput
//! elements); latencies and fsyncs from what the groups bench records beside criterion's
//! results, `fsmstore-groups/<engine>.json` under the criterion directory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Estimate, Results, duration, or_dash, rank, rate, read_json, times};

/// The appliers at which the groups layout has targets.
pub const TARGET_APPLIERS: u64 = 16;

/// The least the groups layout's throughput at [`TARGET_APPLIERS`] may be, over one
/// group alone.
pub const OVER_ALONE_TARGET: f64 = 8.0;

/// The least the groups layout's throughput at [`TARGET_APPLIERS`] may be, over a store
/// per group.
pub const OVER_STORES_TARGET: f64 = 4.0;

/// The most the groups layout's median apply latency at [`TARGET_APPLIERS`] may be, over
/// one group alone.
pub const LATENCY_TARGET: f64 = 3.0;

/// The directory under criterion's where the groups bench records its own measurements.
const DIR: &str = "fsmstore-groups";

/// A groups case id in parts: (engine, layout, puts per batch, appliers), from
/// `groups/<engine>/<layout>/<puts>/<appliers>`.
pub type GroupsCase<'a> = (&'a str, &'a str, u64, u64);

/// The parts of `id` if it is a case of the groups bench.
pub fn case(id: &str) -> Option<GroupsCase<'_>> {
    let parts: Vec<&str> = id.split('/').collect();
    match parts[..] {
        [
            "groups",
            engine,
            layout @ ("groups" | "stores" | "alone"),
            puts,
            appliers,
        ] => Some((engine, layout, puts.parse().ok()?, appliers.parse().ok()?)),
        _ => None,
    }
}

/// What the groups bench measured of one case besides its time.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Measured {
    /// Applies in the measured samples.
    pub applies: u64,
    /// The median of the samples' applies per second.
    pub applies_per_second: f64,
    /// The median latency of one apply, in ns.
    pub latency_median_ns: f64,
    /// The 99th percentile latency of one apply, in ns.
    pub latency_p99_ns: f64,
    /// Durable engine commits (fsyncs) the applies took.
    pub durable_rounds: u64,
    /// Seconds the measured samples took.
    pub seconds: f64,
}

/// Every case the groups bench recorded under `criterion`, by case id; none when it did
/// not run.
pub fn load(criterion: &Path) -> Result<BTreeMap<String, Measured>, String> {
    let dir = criterion.join(DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(BTreeMap::new());
    };
    let mut found = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let cases: BTreeMap<String, Measured> = read_json(&path)?;
            found.extend(cases);
        }
    }
    Ok(found)
}

impl Results {
    /// The groups cases with results: (engine, puts), engines in the usual order.
    fn groups_engines_and_sizes(&self) -> Vec<(&str, u64)> {
        let mut pairs: Vec<(&str, u64)> = self
            .0
            .keys()
            .filter_map(|id| case(id))
            .map(|(engine, _, puts, _)| (engine, puts))
            .collect();
        pairs.sort_by_key(|&(engine, puts)| (rank(engine), puts));
        pairs.dedup();
        pairs
    }

    /// The appliers with groups results, ascending.
    fn appliers(&self) -> Vec<u64> {
        let mut appliers: Vec<u64> = self
            .0
            .keys()
            .filter_map(|id| case(id))
            .map(|(.., appliers)| appliers)
            .collect();
        appliers.sort_unstable();
        appliers.dedup();
        appliers
    }

    fn groups_id(engine: &str, layout: &str, puts: u64, appliers: u64) -> String {
        format!("groups/{engine}/{layout}/{puts}/{appliers}")
    }

    /// The criterion result of one groups case.
    fn groups_estimate(
        &self,
        engine: &str,
        layout: &str,
        puts: u64,
        appliers: u64,
    ) -> Option<&Estimate> {
        self.get(&Self::groups_id(engine, layout, puts, appliers))
    }

    /// What the bench recorded of one groups case.
    pub fn groups_measured(
        &self,
        engine: &str,
        layout: &str,
        puts: u64,
        appliers: u64,
    ) -> Option<&Measured> {
        self.1.get(&Self::groups_id(engine, layout, puts, appliers))
    }

    /// Applies per second of one groups case: criterion's median when it knows the
    /// applies per iteration, else the bench's own median.
    pub fn applies_per_second(
        &self,
        engine: &str,
        layout: &str,
        puts: u64,
        appliers: u64,
    ) -> Option<f64> {
        let estimate = self.groups_estimate(engine, layout, puts, appliers);
        let from_criterion = estimate.and_then(|e| Some(e.elements? as f64 * 1e9 / e.median_ns));
        from_criterion.or_else(|| {
            self.groups_measured(engine, layout, puts, appliers)
                .map(|m| m.applies_per_second)
        })
    }
}

/// The groups section of the Markdown report, or nothing without groups results.
pub fn markdown(results: &Results) -> String {
    let pairs = results.groups_engines_and_sizes();
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n### Many groups in one store: concurrent Sync applies\n\n\
         N threads, one group each, apply Sync batches with increasing indexes, in three \
         layouts measured in the same run: `groups`, the N groups in one groups store \
         (concurrent commits share one engine commit and one fsync); `stores`, a store per \
         group; `alone`, one group alone in a groups store. Applies/s is criterion's median \
         over all N threads; latency is the median of the applies' own latencies; fsyncs \
         counts the groups store's durable engine commits. Target at N = {TARGET_APPLIERS}: \
         groups ≥ {OVER_ALONE_TARGET}× alone and ≥ {OVER_STORES_TARGET}× stores in \
         throughput, latency ≤ {LATENCY_TARGET}× alone's; a ratio that misses it is \
         bold.\n\n\
         | engine | puts/batch | N | groups applies/s | stores applies/s | alone applies/s \
         | groups ÷ alone | groups ÷ stores | groups latency (p99) | stores latency \
         | groups latency ÷ alone | fsyncs/apply (groups) | fsyncs/s (groups) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let appliers = results.appliers();
    for (engine, puts) in pairs {
        let alone_rate = results.applies_per_second(engine, "alone", puts, 1);
        let alone = results.groups_measured(engine, "alone", puts, 1);
        for &n in &appliers {
            let groups_rate = results.applies_per_second(engine, "groups", puts, n);
            let stores_rate = results.applies_per_second(engine, "stores", puts, n);
            if groups_rate.is_none() && stores_rate.is_none() && (n != 1 || alone_rate.is_none()) {
                continue;
            }
            let groups = results.groups_measured(engine, "groups", puts, n);
            let stores = results.groups_measured(engine, "stores", puts, n);
            let targeted = n == TARGET_APPLIERS;
            let mark = |ratio: f64, met: bool| {
                let bold = if targeted && !met { "**" } else { "" };
                format!("{bold}{}{bold}", times(ratio))
            };
            let over = |a: Option<f64>, b: Option<f64>, target: f64| {
                or_dash(a.zip(b).map(|(a, b)| mark(a / b, a / b >= target)))
            };
            let to_alone = over(groups_rate, alone_rate, OVER_ALONE_TARGET);
            let to_stores = over(groups_rate, stores_rate, OVER_STORES_TARGET);
            let latency_ratio = groups.zip(alone).map(|(groups, alone)| {
                let ratio = groups.latency_median_ns / alone.latency_median_ns;
                mark(ratio, ratio <= LATENCY_TARGET)
            });
            let per_second = |rate_: Option<f64>| or_dash(rate_.map(rate));
            let alone_cell = if n == 1 {
                per_second(alone_rate)
            } else {
                String::new()
            };
            let groups_latency = groups.map(|m| {
                let (median, p99) = (duration(m.latency_median_ns), duration(m.latency_p99_ns));
                format!("{median} ({p99})")
            });
            let stores_latency = stores.map(|m| duration(m.latency_median_ns));
            let per_apply =
                groups.map(|m| format!("{:.3}", m.durable_rounds as f64 / m.applies as f64));
            let fsyncs = groups.map(|m| rate(m.durable_rounds as f64 / m.seconds.max(1e-9)));
            out += &format!(
                "| {engine} | {puts} | {n} | {} | {} | {alone_cell} | {to_alone} | {to_stores} \
                 | {} | {} | {} | {} | {} |\n",
                per_second(groups_rate),
                per_second(stores_rate),
                or_dash(groups_latency),
                or_dash(stores_latency),
                or_dash(latency_ratio),
                or_dash(per_apply),
                or_dash(fsyncs),
            );
        }
    }
    out
}
