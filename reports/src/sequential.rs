//! Sequential consistency per key.
//!
//! A history is sequentially consistent (Lamport 1979) when some total order
//! of its operations respects each process's own order and makes every
//! operation's observation true in the model. Unlike linearizability, real
//! time across processes does not constrain the order, so a read may return
//! a value that another process overwrote long ago, as long as every process
//! sees the writes in one common order. Weaker protocols (asynchronous
//! replication, quorums without read repair) often keep this promise while
//! breaking linearizability.
//!
//! The search is a depth-first walk over "how far each process has got",
//! memoising (positions, model state) so no configuration is explored twice;
//! it tries processes in the order their next operations were invoked, so
//! histories that are also linearizable are accepted without backtracking.
//! An operation of unknown outcome may be applied or skipped; a failed
//! operation (other than a failed `cas`, which observed something) is
//! dropped. Each key is checked on its own. The search is NP-complete in
//! general (Gibbons & Korach 1997), so it runs under the same time and
//! memory budget as the linearizability check and answers `unknown` when
//! that runs out.
//!
//! # References
//!
//! - L. Lamport. *How to Make a Multiprocessor Computer That Correctly
//!   Executes Multiprocess Programs*. IEEE Trans. Computers, 1979.
//! - P. B. Gibbons, E. Korach. *Testing Shared Memories*. SIAM J. Comput., 1997.

use crate::check::{CheckResult, Verdict, Violation};
use crate::linear::{Budget, Model};
use crate::ops::{COp, Call, CheckHistory, Status};
use serde_json::json;
use std::collections::BTreeMap;
use std::hash::BuildHasherDefault;

// Membership only: the set is never iterated, so its order cannot leak into
// results.
#[allow(clippy::disallowed_types)]
type Seen<S> = std::collections::HashSet<(Vec<u32>, S), BuildHasherDefault<sim_core::trace::TraceHasher>>;

/// How one key's search ended.
enum KeyOutcome {
    Consistent,
    Inconsistent { applied: usize, total: usize, blocked: Vec<usize> },
    OutOfBudget(String),
}

/// A wall-clock stopwatch for the budget. A checker runs outside the
/// simulation, so reading the wall clock here cannot break determinism of
/// runs; it only decides when to give up.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
struct Stopwatch(std::time::Instant);

#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

fn counts(op: &COp) -> bool {
    op.status != Status::Fail || matches!(op.call, Call::Cas { .. })
}

fn check_key<M: Model>(ops: &[&COp], model: &M, budget: &Budget, clock: &Stopwatch) -> KeyOutcome {
    // Program order of each process.
    let mut by_process: BTreeMap<usize, Vec<&COp>> = BTreeMap::new();
    for op in ops {
        by_process.entry(op.process).or_default().push(op);
    }
    let seqs: Vec<Vec<&COp>> = by_process
        .into_values()
        .map(|mut v| {
            v.sort_by_key(|o| o.invoke);
            v
        })
        .collect();
    let total: usize = seqs.iter().map(Vec::len).sum();
    let entry_bytes = (seqs.len() * 4 + std::mem::size_of::<M::State>() + 48) as u64;

    let mut seen: Seen<M::State> = Seen::default();
    // Each frame: positions, state, and the next choice to try there.
    let mut stack: Vec<(Vec<u32>, M::State, usize)> = vec![(vec![0; seqs.len()], model.init(), 0)];
    let mut deepest: (usize, Vec<u32>, M::State) = (0, vec![0; seqs.len()], model.init());
    let mut steps = 0u64;
    while let Some((pos, state, choice)) = stack.pop() {
        steps += 1;
        if steps.is_multiple_of(4096) {
            if clock.elapsed_ms() > budget.time_ms {
                return KeyOutcome::OutOfBudget(format!(
                    "time budget of {} ms exceeded after {steps} steps",
                    budget.time_ms
                ));
            }
            if seen.len() as u64 * entry_bytes > budget.memory_bytes {
                return KeyOutcome::OutOfBudget(format!(
                    "memory budget of {} bytes exceeded after {} states",
                    budget.memory_bytes,
                    seen.len()
                ));
            }
        }
        let done: usize = pos.iter().map(|p| *p as usize).sum();
        if done == total {
            return KeyOutcome::Consistent;
        }
        if done > deepest.0 {
            deepest = (done, pos.clone(), state.clone());
        }
        // Choices: for each process with ops left, in the order their next
        // op was invoked: apply it, or (unknown outcome) skip it.
        let mut options: Vec<(u64, usize, bool)> = Vec::new();
        for (p, seq) in seqs.iter().enumerate() {
            if let Some(op) = seq.get(pos[p] as usize) {
                options.push((op.invoke, p, true));
                if op.status == Status::Unknown {
                    options.push((op.invoke, p, false));
                }
            }
        }
        options.sort();
        let mut next = choice;
        while next < options.len() {
            let (_, p, apply) = options[next];
            next += 1;
            let op = seqs[p][pos[p] as usize];
            let after = if apply { model.step(&state, op) } else { Some(state.clone()) };
            let Some(after) = after else { continue };
            let mut moved = pos.clone();
            moved[p] += 1;
            if seen.insert((moved.clone(), after.clone())) {
                stack.push((pos, state, next));
                stack.push((moved, after, 0));
                break;
            }
        }
    }
    let (applied, pos, state) = deepest;
    let blocked = seqs
        .iter()
        .enumerate()
        .filter_map(|(p, seq)| seq.get(pos[p] as usize))
        .filter(|op| model.step(&state, op).is_none())
        .map(|op| op.id)
        .collect();
    KeyOutcome::Inconsistent { applied, total, blocked }
}

/// Checks sequential consistency of each key of `h` under `model`.
pub fn check<M: Model>(h: &CheckHistory, model: &M, budget: &Budget, max_examples: usize) -> CheckResult {
    let clock = Stopwatch::start();
    let mut per_key: BTreeMap<Option<usize>, Vec<&COp>> = BTreeMap::new();
    for op in h.ops.iter().filter(|o| counts(o)) {
        per_key.entry(op.key).or_default().push(op);
    }
    let by_id: BTreeMap<usize, &COp> = h.ops.iter().map(|o| (o.id, o)).collect();
    let mut failed = Vec::new();
    let mut unknown = Vec::new();
    for (key, ops) in &per_key {
        match check_key(ops, model, budget, &clock) {
            KeyOutcome::Consistent => {}
            KeyOutcome::Inconsistent { applied, total, blocked } => failed.push((*key, applied, total, blocked)),
            KeyOutcome::OutOfBudget(reason) => unknown.push((*key, reason)),
        }
    }
    let violations = failed
        .iter()
        .take(max_examples)
        .map(|(key, applied, total, blocked)| {
            let ops: Vec<&COp> = blocked.iter().filter_map(|id| by_id.get(id).copied()).collect();
            Violation {
                kind: "not-sequentially-consistent",
                ops: blocked.iter().map(|id| *id as u32).collect(),
                processes: ops.iter().map(|o| h.processes.get(o.process).cloned().unwrap_or_default()).collect(),
                at_ms: ops.iter().filter_map(|o| o.invoke_ns).min().unwrap_or(0) as f64 / 1e6,
                message: format!(
                    "key {}: no order respecting each process's program order explains its history; at best {applied} of {total} operations apply, then {} cannot",
                    h.key_name(*key),
                    ops.iter()
                        .map(|o| format!("{} {}", h.processes.get(o.process).map_or("?", String::as_str), o.call.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        })
        .collect();
    let verdict = if !failed.is_empty() {
        Verdict::Fail
    } else if !unknown.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Pass
    };
    CheckResult {
        name: "sequential",
        verdict,
        violation_count: failed.len() as u64,
        violations,
        details: json!({
            "model": model.name(),
            "keys_checked": per_key.len(),
            "keys_unknown": unknown.iter().take(max_examples).map(|(k, r)| json!({"key": h.key_name(*k), "reason": r})).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{CasRegister, Register};
    use crate::ops::{NIL, Ret, Val};

    /// (process, call, ret, status, invoke, complete)
    type Spec = (usize, Call, Ret, Status, u64, Option<u64>);

    /// Builds a single-key history.
    fn history(ops: &[Spec]) -> CheckHistory {
        let mut h = CheckHistory::new();
        h.processes = (0..4).map(|p| format!("p{p}")).collect();
        h.values.extend((1..10).map(|v| v.to_string()));
        for (i, (p, call, ret, status, inv, done)) in ops.iter().enumerate() {
            h.ops.push(COp {
                id: i,
                process: *p,
                key: None,
                call: call.clone(),
                ret: ret.clone(),
                status: *status,
                invoke: *inv,
                complete: *done,
                invoke_ns: None,
                complete_ns: None,
            });
        }
        h
    }

    fn w(p: usize, v: Val, inv: u64, done: u64) -> Spec {
        (p, Call::Write(v), Ret::Nothing, Status::Ok, inv, Some(done))
    }

    fn r(p: usize, v: Val, inv: u64, done: u64) -> Spec {
        (p, Call::Read, Ret::Value(v), Status::Ok, inv, Some(done))
    }

    fn verdict(h: &CheckHistory) -> Verdict {
        check(h, &Register, &Budget::default(), 5).verdict
    }

    #[test]
    fn a_stale_read_is_sequentially_consistent_but_not_linearizable() {
        // p0 writes 1 and finishes; later p1 reads nothing. Real time forbids
        // it, program order does not: p1's read can go first.
        let h = history(&[w(0, 1, 0, 1), r(1, NIL, 2, 3)]);
        assert_eq!(verdict(&h), Verdict::Pass);
        assert_eq!(crate::linear::check(&h, &Register, &Budget::default(), 5).verdict, Verdict::Fail);
    }

    #[test]
    fn a_process_cannot_read_backwards() {
        // p1 sees 2 and then 1: no single order of the writes explains that.
        let h = history(&[w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 2, 4, 5), r(1, 1, 6, 7)]);
        let res = check(&h, &Register, &Budget::default(), 5);
        assert_eq!(res.verdict, Verdict::Fail);
        assert_eq!(res.violations[0].ops, [3], "the second read is the one that cannot apply");
    }

    #[test]
    fn two_readers_must_agree_on_the_order_of_writes() {
        // p2 sees 1 then 2; p3 sees 2 then 1: not sequentially consistent.
        let h = history(&[w(0, 1, 0, 1), w(1, 2, 0, 1), r(2, 1, 2, 3), r(2, 2, 4, 5), r(3, 2, 2, 3), r(3, 1, 4, 5)]);
        assert_eq!(verdict(&h), Verdict::Fail);
        // Both agreeing on 1 then 2 is fine.
        let h = history(&[w(0, 1, 0, 1), w(1, 2, 0, 1), r(2, 1, 2, 3), r(2, 2, 4, 5), r(3, 1, 2, 3), r(3, 2, 4, 5)]);
        assert_eq!(verdict(&h), Verdict::Pass);
    }

    #[test]
    fn unknown_writes_may_or_may_not_apply() {
        let unknown = (0, Call::Write(1), Ret::Nothing, Status::Unknown, 0, None);
        assert_eq!(verdict(&history(&[unknown.clone(), r(1, 1, 2, 3)])), Verdict::Pass, "it applied");
        assert_eq!(verdict(&history(&[unknown, r(1, NIL, 2, 3)])), Verdict::Pass, "it did not");
        // A failed write did not happen: reading its value is impossible.
        let failed = (0, Call::Write(1), Ret::Nothing, Status::Fail, 0, Some(1));
        assert_eq!(verdict(&history(&[failed, r(1, 1, 2, 3)])), Verdict::Fail);
    }

    #[test]
    fn a_failed_cas_still_observed_a_different_value() {
        let cas_fail = |expected| (1, Call::Cas { expected, new: 3 }, Ret::Nothing, Status::Fail, 2, Some(3));
        let h = history(&[w(0, 1, 0, 1), cas_fail(2)]);
        assert_eq!(check(&h, &CasRegister, &Budget::default(), 5).verdict, Verdict::Pass);
        // Its comparison failed, so the value cannot have been 1 at any point
        // after p0's write in p1's view: only if it ran first (value nil).
        let h = history(&[w(0, 1, 0, 1), cas_fail(1), r(1, 1, 4, 5)]);
        assert_eq!(check(&h, &CasRegister, &Budget::default(), 5).verdict, Verdict::Pass);
        let h = history(&[w(0, 1, 0, 1), r(1, 1, 2, 3), cas_fail(1)]);
        assert_eq!(check(&h, &CasRegister, &Budget::default(), 5).verdict, Verdict::Fail);
    }

    #[test]
    fn an_exhausted_budget_answers_unknown_with_a_reason() {
        // Four writers of distinct values and a reader of a value nobody
        // wrote: no order works, and proving it means trying the writers'
        // interleavings (about 21^4 of them). A 1-byte memory budget stops
        // the search at its first budget check.
        let mut ops = Vec::new();
        for p in 0..4u64 {
            for i in 0..20u64 {
                ops.push(w(p as usize, 1 + p * 20 + i, i * 2, i * 2 + 1));
            }
        }
        ops.push(r(3, 999, 100, 101));
        let h = history(&ops);
        let budget = Budget { time_ms: 60_000, memory_bytes: 1, threads: 1 };
        let res = check(&h, &Register, &budget, 5);
        assert_eq!(res.verdict, Verdict::Unknown);
        let reason = res.details["keys_unknown"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("memory budget of 1 bytes exceeded"), "{reason}");
        // With room to finish, the same history is found inconsistent.
        assert_eq!(check(&h, &Register, &Budget::default(), 5).verdict, Verdict::Fail);
    }
}
