//! Checks on the final replica state of a run, after it quiesced:
//!
//! - **Lost acknowledged writes.** A put acknowledged `ok` is lost when
//!   neither any read that began after its acknowledgement nor the final
//!   state of any replica reflects it. A value reflects a write `W` when it
//!   is `W`'s own value or the value of a write that did not complete before
//!   `W` began (a concurrent or later write may legitimately have replaced
//!   `W`; a write of unknown outcome may have taken effect at any time).
//!   Reading nothing reflects no write. A put is judged only where there is
//!   evidence: a later read, or the protocol's final state.
//! - **Convergence.** Every replica of a key holds the same versions (the
//!   same value, the same set of siblings, or nothing). Divergent keys are
//!   listed with what each replica holds.
//!
//! Both need the protocol to say which copies are replicas: a storage node
//! may keep orphan copies its directory no longer lists, and those are not
//! part of the store's state.
//!
//! Cost: O(n log n) in the history plus linear in the final state.

use crate::check::{CheckResult, Labels, Verdict, Violation};
use serde_json::json;
use sim_core::{History, Key, NodeId, OpKind, OpStatus, Output, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The replicas of each key at the end of a run: `(node, key, versions)`.
/// `versions` is empty where a replica the protocol lists for the key holds
/// nothing, and has several entries where it keeps concurrent siblings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalState {
    pub replicas: Vec<(NodeId, Key, Vec<Value>)>,
}

/// "Completion position" of the write of each value: how late it may have
/// taken effect. Unknown or failed-but-read writes may take effect any time.
fn write_horizons(history: &History) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for r in &history.ops {
        if r.op.kind != OpKind::Put {
            continue;
        }
        let Some(v) = r.op.value else { continue };
        let horizon = match (r.status, r.complete_seq) {
            (Some(OpStatus::Ok), Some(c)) => c,
            _ => u64::MAX,
        };
        out.insert(v.id, horizon);
    }
    out
}

fn horizon_of(horizons: &BTreeMap<u64, u64>, v: Option<Value>) -> u64 {
    // A value no put wrote reflects nothing (the stale-read check reports it).
    v.map_or(0, |v| horizons.get(&v.id).copied().unwrap_or(0))
}

/// Finds acknowledged puts that no later read and no replica reflects.
/// `final_state` is `None` when the protocol does not report its replicas;
/// then only reads are evidence.
pub fn lost_writes(
    history: &History,
    final_state: Option<&FinalState>,
    max_examples: usize,
    labels: &Labels,
) -> CheckResult {
    let horizons = write_horizons(history);
    // Per key: reads as (invoke position, horizon of what they returned).
    let mut reads: BTreeMap<Key, Vec<(u64, u64)>> = BTreeMap::new();
    for r in &history.ops {
        if r.op.kind != OpKind::Get || r.status != Some(OpStatus::Ok) {
            continue;
        }
        let h = match &r.output {
            Output::Nothing => 0,
            Output::Value(v) => horizon_of(&horizons, Some(*v)),
            Output::Values(vs) => vs.iter().map(|v| horizon_of(&horizons, Some(*v))).max().unwrap_or(0),
            Output::Numbers(_) => 0,
        };
        reads.entry(r.op.key).or_default().push((r.invoke_seq, h));
    }
    // Suffix maxima: for reads sorted by invocation, the newest horizon of
    // any read at or after each position.
    let suffix: BTreeMap<Key, (Vec<u64>, Vec<u64>)> = reads
        .into_iter()
        .map(|(k, mut rs)| {
            rs.sort();
            let mut max = vec![0; rs.len()];
            let mut m = 0;
            for i in (0..rs.len()).rev() {
                m = m.max(rs[i].1);
                max[i] = m;
            }
            (k, (rs.into_iter().map(|(p, _)| p).collect(), max))
        })
        .collect();
    let mut finals: BTreeMap<Key, u64> = BTreeMap::new();
    if let Some(f) = final_state {
        for (_, k, versions) in &f.replicas {
            let e = finals.entry(*k).or_insert(0);
            for v in versions {
                *e = (*e).max(horizon_of(&horizons, Some(*v)));
            }
        }
    }

    let mut lost = Vec::new();
    let mut judged = 0u64;
    for r in &history.ops {
        if r.op.kind != OpKind::Put || r.status != Some(OpStatus::Ok) {
            continue;
        }
        let Some(done) = r.complete_seq else { continue };
        let later = suffix.get(&r.op.key).and_then(|(pos, max)| {
            let i = pos.partition_point(|p| *p <= done);
            (i < pos.len()).then(|| max[i])
        });
        let final_horizon = final_state.map(|_| finals.get(&r.op.key).copied().unwrap_or(0));
        if later.is_none() && final_horizon.is_none() {
            continue;
        }
        judged += 1;
        let reflected = later.is_some_and(|h| h > r.invoke_seq) || final_horizon.is_some_and(|h| h > r.invoke_seq);
        if !reflected {
            lost.push(r);
        }
    }

    let violations = lost
        .iter()
        .take(max_examples)
        .map(|r| {
            let value = r.op.value.map_or("nothing".to_string(), |v| labels.value(v.id));
            let at = r.complete.unwrap_or(r.invoke);
            Violation {
                kind: "lost-write",
                ops: vec![r.id.0],
                processes: vec![labels.process(r.process)],
                at_ms: at.as_ms_f64(),
                message: format!(
                    "put of {value} to key {} acknowledged at {:.3} ms is reflected by no later read and no replica",
                    labels.key(r.op.key),
                    at.as_ms_f64()
                ),
            }
        })
        .collect();
    CheckResult {
        name: "lost_writes",
        verdict: if lost.is_empty() { Verdict::Pass } else { Verdict::Fail },
        violation_count: lost.len() as u64,
        violations,
        details: json!({
            "acknowledged_puts_judged": judged,
            "lost_writes": lost.len(),
            "final_state_known": final_state.is_some(),
        }),
    }
}

/// What each replica of one key holds.
type Holdings = Vec<(NodeId, BTreeSet<u64>)>;

/// Lists keys whose replicas disagree at the end of the run.
pub fn convergence(final_state: &FinalState, max_examples: usize, labels: &Labels) -> CheckResult {
    let mut per_key: BTreeMap<Key, Holdings> = BTreeMap::new();
    for (n, k, versions) in &final_state.replicas {
        per_key.entry(*k).or_default().push((*n, versions.iter().map(|v| v.id).collect()));
    }
    let divergent: Vec<(&Key, &Holdings)> =
        per_key.iter().filter(|(_, reps)| reps.iter().map(|(_, ids)| ids).collect::<BTreeSet<_>>().len() > 1).collect();
    let violations = divergent
        .iter()
        .take(max_examples)
        .map(|(k, reps)| Violation {
            kind: "divergent-key",
            ops: Vec::new(),
            processes: reps.iter().map(|(n, _)| labels.process(*n)).collect(),
            at_ms: 0.0,
            message: format!(
                "key {} differs across replicas: {}",
                labels.key(**k),
                reps.iter()
                    .map(|(n, ids)| format!("{} has {}", labels.process(*n), holding(ids, labels)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    CheckResult {
        name: "convergence",
        verdict: if divergent.is_empty() { Verdict::Pass } else { Verdict::Fail },
        violation_count: divergent.len() as u64,
        violations,
        details: json!({ "keys_checked": per_key.len(), "divergent_keys": divergent.len() }),
    }
}

fn holding(ids: &BTreeSet<u64>, labels: &Labels) -> String {
    match ids.len() {
        0 => "nothing".into(),
        1 => labels.value(*ids.first().expect("one id")),
        _ => format!("siblings [{}]", ids.iter().map(|id| labels.value(*id)).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{Op, SimTime};

    fn labels() -> Labels<'static> {
        static EMPTY: BTreeMap<u64, String> = BTreeMap::new();
        Labels { nodes: &[], keys: &EMPTY, values: &EMPTY }
    }

    fn val(id: u64) -> Value {
        Value { id, size_bytes: 1 }
    }

    /// Records operations in the order given (invoke, then complete).
    fn put(h: &mut History, id: u64, status: OpStatus) {
        let op = h.invoke(NodeId(0), Op::put(1, val(id)), SimTime::ZERO);
        h.complete(op, status, Output::Nothing, SimTime::ZERO);
    }

    fn get(h: &mut History, returns: Option<u64>) {
        let op = h.invoke(NodeId(1), Op::get(1), SimTime::ZERO);
        h.complete(op, OpStatus::Ok, returns.map_or(Output::Nothing, |id| Output::Value(val(id))), SimTime::ZERO);
    }

    fn state(values: &[Option<u64>]) -> FinalState {
        let replica = |(i, v): (usize, &Option<u64>)| (NodeId(i as u32), 1, v.map(val).into_iter().collect());
        FinalState { replicas: values.iter().enumerate().map(replica).collect() }
    }

    #[test]
    fn a_write_replaced_by_a_later_write_is_not_lost() {
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Ok);
        put(&mut h, 2, OpStatus::Ok);
        let r = lost_writes(&h, Some(&state(&[Some(2), Some(2)])), 10, &labels());
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn a_final_state_older_than_an_acknowledged_write_loses_it() {
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Ok);
        put(&mut h, 2, OpStatus::Ok);
        let r = lost_writes(&h, Some(&state(&[Some(1), Some(1)])), 10, &labels());
        assert_eq!(r.violation_count, 1, "write 2 is lost; write 1 is reflected by itself");
        let r = lost_writes(&h, Some(&state(&[None])), 10, &labels());
        assert_eq!(r.violation_count, 2, "an empty replica reflects nothing");
    }

    #[test]
    fn a_later_read_of_the_value_saves_it_even_if_replicas_lost_it() {
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Ok);
        get(&mut h, Some(1));
        let r = lost_writes(&h, Some(&state(&[None])), 10, &labels());
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn only_reads_judge_when_the_final_state_is_unknown() {
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Ok);
        assert_eq!(lost_writes(&h, None, 10, &labels()).details["acknowledged_puts_judged"], 0);
        get(&mut h, None);
        assert_eq!(lost_writes(&h, None, 10, &labels()).violation_count, 1);
    }

    #[test]
    fn a_value_from_a_write_of_unknown_outcome_reflects_everything() {
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Unknown);
        put(&mut h, 2, OpStatus::Ok);
        // The unknown write may have landed after write 2.
        let r = lost_writes(&h, Some(&state(&[Some(1)])), 10, &labels());
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn siblings_converge_when_every_replica_holds_the_same_set() {
        let both = |n| (NodeId(n), 1, vec![val(1), val(2)]);
        let same = FinalState { replicas: vec![both(0), both(1)] };
        assert_eq!(convergence(&same, 10, &labels()).verdict, Verdict::Pass);
        let differ = FinalState { replicas: vec![both(0), (NodeId(1), 1, vec![val(2)])] };
        let r = convergence(&differ, 10, &labels());
        assert_eq!(r.violation_count, 1);
        assert!(r.violations[0].message.contains("siblings [1, 2]"), "{}", r.violations[0].message);
        // A sibling reflects its write: neither is lost.
        let mut h = History::default();
        put(&mut h, 1, OpStatus::Ok);
        put(&mut h, 2, OpStatus::Ok);
        assert_eq!(lost_writes(&h, Some(&same), 10, &labels()).verdict, Verdict::Pass);
    }

    #[test]
    fn convergence_lists_disagreeing_keys() {
        assert_eq!(convergence(&state(&[Some(1), Some(1)]), 10, &labels()).verdict, Verdict::Pass);
        let r = convergence(&state(&[Some(1), Some(2), None]), 10, &labels());
        assert_eq!(r.violation_count, 1);
        assert!(r.violations[0].message.contains("node2 has nothing"), "{}", r.violations[0].message);
    }
}
