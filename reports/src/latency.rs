//! Latency and throughput statistics per operation kind.

use hdrhistogram::Histogram;
use serde::Serialize;
use sim_core::time::NANOS_PER_MS;
use sim_core::{History, OpKind, OpStatus};
use std::collections::BTreeMap;

/// Percentiles of successful operations' latency, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

fn ms(ns: u64) -> f64 {
    // Round to microseconds: the report promises no more precision than that.
    (ns as f64 / NANOS_PER_MS as f64 * 1000.0).round() / 1000.0
}

fn summarise(h: &Histogram<u64>) -> LatencySummary {
    LatencySummary {
        count: h.len(),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        mean: (h.mean() / NANOS_PER_MS as f64 * 1000.0).round() / 1000.0,
    }
}

/// Latency of `ok` operations per op kind, plus `all` over every kind.
/// Kinds with no successful operation are left out.
pub fn latency_by_kind(history: &History) -> BTreeMap<String, LatencySummary> {
    // 1 ns to 1 simulated day with three significant figures (0.1% relative
    // error); longer latencies are recorded as one day.
    let new = || Histogram::<u64>::new_with_bounds(1, 86_400 * 1_000_000_000, 3).expect("valid histogram bounds");
    let mut per_kind: BTreeMap<OpKind, Histogram<u64>> = BTreeMap::new();
    let mut all = new();
    for rec in &history.ops {
        if rec.status != Some(OpStatus::Ok) {
            continue;
        }
        let Some(ns) = rec.latency_ns() else { continue };
        per_kind.entry(rec.op.kind).or_insert_with(new).saturating_record(ns);
        all.saturating_record(ns);
    }
    let mut out: BTreeMap<String, LatencySummary> =
        per_kind.iter().map(|(k, h)| (k.name().to_string(), summarise(h))).collect();
    if !all.is_empty() {
        out.insert("all".into(), summarise(&all));
    }
    out
}

/// Operation counts by status and by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OpCounts {
    pub total: u64,
    pub ok: u64,
    pub fail: u64,
    pub unknown: u64,
    /// Per kind: (ok, fail, unknown).
    pub by_kind: BTreeMap<String, StatusCounts>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusCounts {
    pub ok: u64,
    pub fail: u64,
    pub unknown: u64,
}

pub fn op_counts(history: &History) -> OpCounts {
    let mut c = OpCounts::default();
    for rec in &history.ops {
        c.total += 1;
        let k = c.by_kind.entry(rec.op.kind.name().to_string()).or_default();
        match rec.status.unwrap_or(OpStatus::Unknown) {
            OpStatus::Ok => {
                c.ok += 1;
                k.ok += 1;
            }
            OpStatus::Fail => {
                c.fail += 1;
                k.fail += 1;
            }
            OpStatus::Unknown => {
                c.unknown += 1;
                k.unknown += 1;
            }
        }
    }
    c
}

/// Successful operations per second of simulated time, over the span from
/// the first invocation to the last completion.
pub fn throughput_ops_per_s(history: &History) -> f64 {
    let first = history.ops.iter().map(|r| r.invoke).min();
    let last = history.ops.iter().filter_map(|r| r.complete).max();
    let ok = history.ops.iter().filter(|r| r.status == Some(OpStatus::Ok)).count();
    match (first, last) {
        (Some(a), Some(b)) if b > a => {
            let secs = b.since(a) as f64 / 1e9;
            (ok as f64 / secs * 100.0).round() / 100.0
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, Op, Output, SimTime};

    fn history(latencies_ms: &[u64]) -> History {
        let mut h = History::default();
        for (i, l) in latencies_ms.iter().enumerate() {
            let t = SimTime::from_ms(i as u64 * 10);
            let id = h.invoke(NodeId(0), Op::get(0), t);
            h.complete(id, OpStatus::Ok, Output::Nothing, SimTime(t.0 + l * NANOS_PER_MS));
        }
        h
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let lat: Vec<u64> = (1..=100).collect();
        let s = &latency_by_kind(&history(&lat))["get"];
        assert_eq!(s.count, 100);
        assert!((s.p50 - 50.0).abs() < 0.1, "{}", s.p50);
        assert!((s.p99 - 99.0).abs() < 0.1, "{}", s.p99);
        assert!((s.max - 100.0).abs() < 0.1);
        assert!((s.mean - 50.5).abs() < 0.1);
    }

    #[test]
    fn failed_ops_do_not_count_toward_latency_but_do_toward_counts() {
        let mut h = history(&[5]);
        let id = h.invoke(NodeId(0), Op::on(OpKind::Put, 0), SimTime::ZERO);
        h.complete(id, OpStatus::Fail, Output::Nothing, SimTime::from_ms(1000));
        let lat = latency_by_kind(&h);
        assert!(!lat.contains_key("put"));
        let c = op_counts(&h);
        assert_eq!((c.ok, c.fail, c.total), (1, 1, 2));
        assert_eq!(c.by_kind["put"].fail, 1);
    }
}
