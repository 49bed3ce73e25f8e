//! The stale-read check.
//!
//! A read is stale when it returns a value that a later write had already
//! superseded before the read began: it returned the value of write `W'` (or
//! nothing), and some write `W` acknowledged `ok` before the read was invoked
//! had itself been invoked after `W'` completed (`W'` happened before `W`,
//! which happened before the read). Writes concurrent with each other are not
//! ordered, so reading either is not stale; a write of unknown outcome may
//! take effect at any time, so reading it is never stale.
//!
//! For each stale read the check reports how long ago the returned value was
//! superseded (from the completion of the first superseding write to the
//! read's invocation) and how many acknowledged versions it is behind.
//!
//! A read that returns a value no write ever wrote is reported too, as
//! `never-written`.
//!
//! Cost: O(n log n) in the history length; per stale read, a scan of that
//! key's earlier writes.

use crate::check::{CheckResult, Labels, Verdict, Violation};
use serde_json::json;
use sim_core::{History, Key, OpKind, OpRecord, OpStatus, Output, SimTime};
use std::collections::BTreeMap;

/// One acknowledged write of a key. Order is decided by the history's
/// real-time sequence numbers, which never tie; times are for reporting.
struct Write {
    invoke_seq: u64,
    complete_seq: u64,
    complete: SimTime,
}

struct KeyWrites {
    /// Acknowledged writes, sorted by completion.
    by_complete: Vec<Write>,
    /// `max_invoke[i]` = latest invocation among `by_complete[..=i]`.
    max_invoke: Vec<u64>,
}

/// A stale read, with its staleness.
#[derive(Clone, Debug, PartialEq)]
pub struct StaleRead {
    pub read: u32,
    /// How long before the read began the returned value was superseded.
    pub staleness_ns: u64,
    /// How many acknowledged writes superseded it before the read began.
    pub versions_behind: u64,
}

/// Finds stale reads; lists at most `max_examples` of them.
pub fn check(history: &History, max_examples: usize, labels: &Labels) -> CheckResult {
    // Where each value came from: the write that wrote it.
    let mut writer_of: BTreeMap<u64, &OpRecord> = BTreeMap::new();
    let mut per_key: BTreeMap<Key, Vec<Write>> = BTreeMap::new();
    for rec in &history.ops {
        if rec.op.kind != OpKind::Put {
            continue;
        }
        if let Some(v) = rec.op.value {
            writer_of.entry(v.id).or_insert(rec);
        }
        if let (Some(OpStatus::Ok), Some(complete), Some(complete_seq)) = (rec.status, rec.complete, rec.complete_seq) {
            per_key.entry(rec.op.key).or_default().push(Write { invoke_seq: rec.invoke_seq, complete_seq, complete });
        }
    }
    let index: BTreeMap<Key, KeyWrites> = per_key
        .into_iter()
        .map(|(k, mut ws)| {
            ws.sort_by_key(|w| w.complete_seq);
            let mut max_invoke = Vec::with_capacity(ws.len());
            let mut m = 0;
            for w in &ws {
                m = m.max(w.invoke_seq);
                max_invoke.push(m);
            }
            (k, KeyWrites { by_complete: ws, max_invoke })
        })
        .collect();

    let mut stale: Vec<StaleRead> = Vec::new();
    let mut never_written: Vec<u32> = Vec::new();
    let mut reads_checked = 0u64;
    for rec in &history.ops {
        if rec.op.kind != OpKind::Get || rec.status != Some(OpStatus::Ok) {
            continue;
        }
        reads_checked += 1;
        let returned: Vec<u64> = match &rec.output {
            Output::Nothing | Output::Numbers(_) => Vec::new(),
            Output::Value(v) => vec![v.id],
            Output::Values(vs) => vs.iter().map(|v| v.id).collect(),
        };
        // Completions of the returned values' writes; None = might take
        // effect any time (not acknowledged), so never stale.
        let mut returned_completions: Vec<Option<u64>> = Vec::new();
        let mut bogus = false;
        for id in &returned {
            match writer_of.get(id) {
                Some(w) if w.op.key == rec.op.key => returned_completions.push(match w.status {
                    Some(OpStatus::Ok) => w.complete_seq,
                    _ => None,
                }),
                _ => bogus = true,
            }
        }
        if bogus {
            never_written.push(rec.id.0);
            continue;
        }
        let Some(writes) = index.get(&rec.op.key) else { continue };
        // Acknowledged writes that completed before the read began.
        let prefix = writes.by_complete.partition_point(|w| w.complete_seq < rec.invoke_seq);
        if prefix == 0 {
            continue;
        }
        let latest_invoke = writes.max_invoke[prefix - 1];
        // The newest returned value decides: with siblings, the read is stale
        // only if every returned version had been superseded. Reading nothing
        // is like reading a value written before time began.
        let newest: Option<Option<u64>> = if returned_completions.is_empty() {
            Some(None)
        } else if returned_completions.iter().any(|c| c.is_none()) {
            None
        } else {
            returned_completions.iter().copied().max()
        };
        let Some(returned_done) = newest else { continue };
        let superseded = match returned_done {
            None => true,
            Some(done) => done < latest_invoke,
        };
        if !superseded {
            continue;
        }
        let mut first_superseding = SimTime::MAX;
        let mut behind = 0u64;
        for w in &writes.by_complete[..prefix] {
            if returned_done.is_none_or(|done| done < w.invoke_seq) {
                behind += 1;
                first_superseding = first_superseding.min(w.complete);
            }
        }
        stale.push(StaleRead {
            read: rec.id.0,
            staleness_ns: rec.invoke.since(first_superseding),
            versions_behind: behind,
        });
    }

    let mut violations = Vec::new();
    for s in stale.iter().take(max_examples) {
        let r = history.get(sim_core::OpId(s.read));
        violations.push(Violation {
            kind: "stale-read",
            ops: vec![s.read],
            processes: vec![labels.process(r.process)],
            at_ms: r.invoke.as_ms_f64(),
            message: format!(
                "get of key {} at {:.3} ms returned {}, superseded {:.3} ms earlier ({} acknowledged version(s) behind)",
                labels.key(r.op.key),
                r.invoke.as_ms_f64(),
                describe(&r.output, labels),
                s.staleness_ns as f64 / 1e6,
                s.versions_behind
            ),
        });
    }
    for &id in never_written.iter().take(max_examples.saturating_sub(violations.len())) {
        let r = history.get(sim_core::OpId(id));
        violations.push(Violation {
            kind: "never-written",
            ops: vec![id],
            processes: vec![labels.process(r.process)],
            at_ms: r.invoke.as_ms_f64(),
            message: format!(
                "get of key {} at {:.3} ms returned {}, which no put of that key wrote",
                labels.key(r.op.key),
                r.invoke.as_ms_f64(),
                describe(&r.output, labels)
            ),
        });
    }
    let count = (stale.len() + never_written.len()) as u64;
    let staleness_ms: Vec<f64> = stale.iter().map(|s| s.staleness_ns as f64 / 1e6).collect();
    let max_behind = stale.iter().map(|s| s.versions_behind).max().unwrap_or(0);
    CheckResult {
        name: "stale_reads",
        verdict: if count == 0 { Verdict::Pass } else { Verdict::Fail },
        violation_count: count,
        violations,
        details: json!({
            "reads_checked": reads_checked,
            "stale_reads": stale.len(),
            "never_written_reads": never_written.len(),
            "staleness_ms_max": staleness_ms.iter().copied().fold(0.0, f64::max),
            "staleness_ms_mean": if staleness_ms.is_empty() { 0.0 } else { staleness_ms.iter().sum::<f64>() / staleness_ms.len() as f64 },
            "versions_behind_max": max_behind,
        }),
    }
}

fn describe(out: &Output, labels: &Labels) -> String {
    match out {
        Output::Nothing => "nothing".into(),
        Output::Value(v) => format!("value {}", labels.value(v.id)),
        Output::Values(vs) => {
            format!("values [{}]", vs.iter().map(|v| labels.value(v.id)).collect::<Vec<_>>().join(", "))
        }
        Output::Numbers(ns) => format!("numbers {ns:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, Op, Value};

    /// Operations as (process, op, invoke ms, complete ms, status, output),
    /// replayed in time order so the history's sequence numbers match the
    /// times, as the engine would record them.
    struct H(Vec<(u32, Op, u64, u64, OpStatus, Output)>);

    impl H {
        fn new() -> H {
            H(Vec::new())
        }
        fn put(&mut self, id: u64, from: u64, to: u64, status: OpStatus) -> &mut Self {
            let v = Value { id, size_bytes: 1 };
            self.0.push((0, Op::put(1, v), from, to, status, Output::Nothing));
            self
        }
        fn get(&mut self, returns: Option<u64>, from: u64, to: u64) -> &mut Self {
            let out = returns.map_or(Output::Nothing, |id| Output::Value(Value { id, size_bytes: 1 }));
            self.0.push((1, Op::get(1), from, to, OpStatus::Ok, out));
            self
        }
        fn run(&self) -> CheckResult {
            // (time, 0 = invoke / 1 = complete, index)
            let mut events: Vec<(u64, u8, usize)> = Vec::new();
            for (i, o) in self.0.iter().enumerate() {
                events.push((o.2, 0, i));
                events.push((o.3, 1, i));
            }
            events.sort();
            let mut h = History::default();
            let mut ids = vec![None; self.0.len()];
            for (t, phase, i) in events {
                let (p, op, _, _, status, out) = &self.0[i];
                if phase == 0 {
                    ids[i] = Some(h.invoke(NodeId(*p), *op, SimTime::from_ms(t)));
                } else {
                    h.complete(ids[i].expect("invoked first"), *status, out.clone(), SimTime::from_ms(t));
                }
            }
            check(&h, 10, &test_labels())
        }
    }

    fn test_labels() -> Labels<'static> {
        static NODES: [String; 0] = [];
        static EMPTY: BTreeMap<u64, String> = BTreeMap::new();
        Labels { nodes: &NODES, keys: &EMPTY, values: &EMPTY }
    }

    #[test]
    fn messages_use_scenario_names() {
        let keys = BTreeMap::from([(1, "x".to_string())]);
        let values = BTreeMap::from([(1, "v1".to_string())]);
        let nodes = vec!["c1".to_string(), "c2".to_string()];
        let mut h = History::default();
        let v1 = Value { id: 1, size_bytes: 1 };
        let v2 = Value { id: 2, size_bytes: 1 };
        let a = h.invoke(NodeId(0), Op::put(1, v1), SimTime::from_ms(0));
        h.complete(a, OpStatus::Ok, Output::Nothing, SimTime::from_ms(1));
        let b = h.invoke(NodeId(0), Op::put(1, v2), SimTime::from_ms(2));
        h.complete(b, OpStatus::Ok, Output::Nothing, SimTime::from_ms(3));
        let r = h.invoke(NodeId(1), Op::get(1), SimTime::from_ms(4));
        h.complete(r, OpStatus::Ok, Output::Value(v1), SimTime::from_ms(5));
        let res = check(&h, 10, &Labels { nodes: &nodes, keys: &keys, values: &values });
        let v = &res.violations[0];
        assert_eq!(v.processes, ["c2"]);
        assert!(v.message.contains("key x") && v.message.contains("value \"v1\""), "{}", v.message);
    }

    #[test]
    fn same_instant_completion_then_invocation_is_ordered_by_sequence() {
        // The write completes at 10 ms and, in the same nanosecond but later
        // in the run, the read is invoked: it must see the write.
        let mut h = History::default();
        let v1 = Value { id: 1, size_bytes: 1 };
        let w = h.invoke(NodeId(0), Op::put(1, v1), SimTime::from_ms(0));
        h.complete(w, OpStatus::Ok, Output::Nothing, SimTime::from_ms(10));
        let r = h.invoke(NodeId(1), Op::get(1), SimTime::from_ms(10));
        h.complete(r, OpStatus::Ok, Output::Nothing, SimTime::from_ms(12));
        assert_eq!(check(&h, 10, &test_labels()).violation_count, 1);
    }

    #[test]
    fn reading_the_latest_acknowledged_value_is_fine() {
        let r = H::new().put(1, 0, 10, OpStatus::Ok).put(2, 20, 30, OpStatus::Ok).get(Some(2), 40, 50).run();
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn reading_a_superseded_value_is_stale_with_its_staleness() {
        let r = H::new()
            .put(1, 0, 10, OpStatus::Ok)
            .put(2, 20, 30, OpStatus::Ok)
            .put(3, 35, 38, OpStatus::Ok)
            .get(Some(1), 40, 50)
            .run();
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.violation_count, 1);
        assert_eq!(r.details["versions_behind_max"], 2);
        assert_eq!(r.details["staleness_ms_max"], 10.0, "superseded at 30 ms, read at 40 ms");
    }

    #[test]
    fn reading_nothing_after_an_acknowledged_write_is_stale() {
        let r = H::new().put(1, 0, 10, OpStatus::Ok).get(None, 20, 30).run();
        assert_eq!(r.violation_count, 1);
    }

    #[test]
    fn concurrent_writes_may_be_read_in_either_order() {
        // Writes 1 and 2 overlap, so neither supersedes the other.
        let r = H::new().put(1, 0, 20, OpStatus::Ok).put(2, 5, 15, OpStatus::Ok).get(Some(1), 30, 40).run();
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn a_write_concurrent_with_the_read_does_not_make_it_stale() {
        let r = H::new().put(1, 0, 10, OpStatus::Ok).put(2, 20, 60, OpStatus::Ok).get(Some(1), 30, 40).run();
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn a_write_of_unknown_outcome_may_take_effect_late() {
        let r = H::new().put(1, 0, 10, OpStatus::Unknown).put(2, 20, 30, OpStatus::Ok).get(Some(1), 40, 50).run();
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn an_earlier_finishing_later_write_still_supersedes() {
        // W' = [0,10]; W* = [5,20] is concurrent with W', but W2 = [11,12]
        // strictly follows W', so reading W' at 25 is stale.
        let r = H::new()
            .put(1, 0, 10, OpStatus::Ok)
            .put(2, 5, 20, OpStatus::Ok)
            .put(3, 11, 12, OpStatus::Ok)
            .get(Some(1), 25, 30)
            .run();
        assert_eq!(r.violation_count, 1);
    }

    #[test]
    fn a_value_never_written_is_reported() {
        let r = H::new().put(1, 0, 10, OpStatus::Ok).get(Some(99), 20, 30).run();
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.violations[0].kind, "never-written");
    }
}
