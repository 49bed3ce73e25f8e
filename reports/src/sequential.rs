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
//! The search is a depth-first walk over "which operations each process has
//! done", memoising (done set, model state) so no configuration is explored
//! twice; it tries the eligible operations in the order they were invoked, so
//! histories that are also linearizable are accepted without backtracking.
//! A process's program order is real time among its own operations: one
//! operation precedes another of the same process when it completed before
//! the other was invoked, so a process that overlaps its operations (an
//! open-loop client, a history with `op` ids) constrains only the order of
//! those that do not overlap. An operation of unknown outcome may be
//! applied or skipped, and precedes nothing (it never completed); a failed
//! operation (other than a failed `cas`, which observed something) and a
//! read of unknown outcome are dropped. Each key is checked on its own. The search is NP-complete in
//! general (Gibbons & Korach 1997), so it runs under the same time and
//! memory budget as the linearizability check and answers `unknown` when
//! that runs out. Since a linearizable key is sequentially consistent, each
//! key is first given to the linearizability search, which real time makes
//! far cheaper; only keys it does not accept are searched over program
//! orders.
//!
//! # References
//!
//! - L. Lamport. *How to Make a Multiprocessor Computer That Correctly
//!   Executes Multiprocess Programs*. IEEE Trans. Computers, 1979.
//! - P. B. Gibbons, E. Korach. *Testing Shared Memories*. SIAM J. Comput., 1997.

use crate::budget::{Budget, Stopwatch};
use crate::check::{CheckResult, Verdict, Violation};
use crate::linear::{Model, first_unsupported, key_is_linearizable, unsupported_result};
use crate::ops::{COp, Call, CheckHistory, Status};
use serde_json::json;
use std::collections::BTreeMap;
use std::hash::BuildHasherDefault;

/// The name of this check in reports.
pub const CHECK_NAME: &str = "sequential";

/// How often (in search steps) the time and memory budgets are checked.
const BUDGET_CHECK_EVERY: u64 = 4096;

// Membership only: the set is never iterated, so its order cannot leak into
// results.
#[allow(clippy::disallowed_types)]
type Seen<S> = std::collections::HashSet<(Done, S), BuildHasherDefault<sim_core::trace::TraceHasher>>;

/// How one key's search ended.
enum KeyOutcome {
    Consistent,
    Inconsistent { applied: usize, total: usize, blocked: Vec<usize> },
    OutOfBudget(String),
}

/// Whether an operation takes part: a failed one certainly did not happen,
/// except a failed `cas`, which observed a value other than the expected
/// one; a read of unknown outcome observed nothing.
fn counts(op: &COp) -> bool {
    match op.status {
        Status::Ok => true,
        Status::Fail => matches!(op.call, Call::Cas { .. }),
        Status::Unknown => op.call != Call::Read,
    }
}

/// When an operation completed, if it is known to have.
fn completion(op: &COp) -> Option<u64> {
    if op.status == Status::Unknown { None } else { op.complete }
}

/// Which operations of a key are done (applied, or skipped when their
/// outcome is unknown), in a compact canonical form: per process, a
/// watermark (its first `wm[p]` operations by invocation are all done) and
/// the done operations above it as sorted (process, index) pairs. A process
/// that runs one operation at a time keeps nothing above its watermark.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Done {
    wm: Vec<u32>,
    above: Vec<(u32, u32)>,
}

impl Done {
    fn new(processes: usize) -> Done {
        Done { wm: vec![0; processes], above: Vec::new() }
    }

    fn count(&self) -> usize {
        self.wm.iter().map(|w| *w as usize).sum::<usize>() + self.above.len()
    }

    fn has(&self, p: usize, i: u32) -> bool {
        i < self.wm[p] || self.above.binary_search(&(p as u32, i)).is_ok()
    }

    fn mark(&mut self, p: usize, i: u32) {
        if i != self.wm[p] {
            if let Err(at) = self.above.binary_search(&(p as u32, i)) {
                self.above.insert(at, (p as u32, i));
            }
            return;
        }
        self.wm[p] += 1;
        while let Ok(at) = self.above.binary_search(&(p as u32, self.wm[p])) {
            self.above.remove(at);
            self.wm[p] += 1;
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Done>() + self.wm.len() * 4 + self.above.len() * 8
    }
}

/// The operations of process `p` that may come next: not done, and every
/// operation of `p` that completed before their invocation is done. (Program
/// order is real-time order within a process: two operations of one process
/// that overlap, as in an open-loop client, are unordered; an operation of
/// unknown outcome never completes, so it precedes nothing.)
fn eligible(seq: &[&COp], p: usize, done: &Done, out: &mut Vec<u32>) {
    // The earliest completion among the operations not yet done.
    let mut blocking = u64::MAX;
    let start = done.wm[p] as usize;
    for (i, op) in seq.iter().enumerate().skip(start) {
        if blocking < op.invoke {
            // Operations are sorted by invocation: all later ones wait too.
            break;
        }
        if done.has(p, i as u32) {
            continue;
        }
        out.push(i as u32);
        if let Some(c) = completion(op) {
            blocking = blocking.min(c);
        }
    }
}

fn check_key<M: Model>(ops: &[&COp], model: &M, budget: &Budget, clock: &Stopwatch) -> KeyOutcome {
    // Each process's operations, by invocation.
    let mut by_process: BTreeMap<usize, Vec<&COp>> = BTreeMap::new();
    for op in ops {
        by_process.entry(op.process).or_default().push(op);
    }
    let seqs: Vec<Vec<&COp>> = by_process
        .into_values()
        .map(|mut v| {
            v.sort_by_key(|o| (o.invoke, o.id));
            v
        })
        .collect();
    let total: usize = seqs.iter().map(Vec::len).sum();
    let state_bytes = std::mem::size_of::<M::State>() + 48;

    let mut seen: Seen<M::State> = Seen::default();
    let mut cache_bytes: u64 = 0;
    // Each frame: what is done, the state, and the next choice to try there.
    let mut stack: Vec<(Done, M::State, usize)> = vec![(Done::new(seqs.len()), model.init(), 0)];
    let mut deepest: (usize, Done, M::State) = (0, Done::new(seqs.len()), model.init());
    let mut steps = 0u64;
    let mut next_ops: Vec<u32> = Vec::new();
    while let Some((done, state, choice)) = stack.pop() {
        steps += 1;
        if steps.is_multiple_of(BUDGET_CHECK_EVERY) {
            if clock.elapsed_ms() > budget.time_ms {
                return KeyOutcome::OutOfBudget(format!(
                    "time budget of {} ms exceeded after {steps} steps",
                    budget.time_ms
                ));
            }
            if cache_bytes > budget.memory_bytes {
                return KeyOutcome::OutOfBudget(format!(
                    "memory budget of {} bytes exceeded after {} states ({cache_bytes} bytes of search cache)",
                    budget.memory_bytes,
                    seen.len()
                ));
            }
        }
        let count = done.count();
        if count == total {
            return KeyOutcome::Consistent;
        }
        if count > deepest.0 {
            deepest = (count, done.clone(), state.clone());
        }
        // Choices, in the order the operations were invoked: apply an
        // eligible operation, or (unknown outcome) skip it.
        let mut options: Vec<(u64, usize, u32, bool)> = Vec::new();
        for (p, seq) in seqs.iter().enumerate() {
            next_ops.clear();
            eligible(seq, p, &done, &mut next_ops);
            for &i in &next_ops {
                let op = seq[i as usize];
                options.push((op.invoke, p, i, false));
                if op.status == Status::Unknown {
                    options.push((op.invoke, p, i, true));
                }
            }
        }
        options.sort_unstable();
        let mut next = choice;
        while next < options.len() {
            let (_, p, i, skip) = options[next];
            next += 1;
            let op = seqs[p][i as usize];
            let after = if skip { Some(state.clone()) } else { model.step(&state, op) };
            let Some(after) = after else { continue };
            let mut moved = done.clone();
            moved.mark(p, i);
            let entry_bytes = moved.bytes() + state_bytes + model.heap_bytes(&after);
            if seen.insert((moved.clone(), after.clone())) {
                cache_bytes += entry_bytes as u64;
                stack.push((done, state, next));
                stack.push((moved, after, 0));
                break;
            }
        }
    }
    let (applied, done, state) = deepest;
    let mut blocked = Vec::new();
    for (p, seq) in seqs.iter().enumerate() {
        next_ops.clear();
        eligible(seq, p, &done, &mut next_ops);
        for &i in &next_ops {
            let op = seq[i as usize];
            if model.step(&state, op).is_none() {
                blocked.push(op.id);
            }
        }
    }
    KeyOutcome::Inconsistent { applied, total, blocked }
}

/// Checks sequential consistency of each key of `h` under `model`. Each key
/// may use the whole memory budget; the time budget covers all keys.
pub fn check<M: Model>(h: &CheckHistory, model: &M, budget: &Budget, max_examples: usize) -> CheckResult {
    check_keys(h, model, budget, max_examples, true)
}

/// [`check`]; with `linearizable_first`, a key is first searched for a
/// linearization (much faster, thanks to real time), and only a key that
/// has none gets the search over program orders.
fn check_keys<M: Model>(
    h: &CheckHistory,
    model: &M,
    budget: &Budget,
    max_examples: usize,
    linearizable_first: bool,
) -> CheckResult {
    let clock = Stopwatch::start();
    if let Some(op) = first_unsupported(h, model) {
        return unsupported_result(CHECK_NAME, h, model, op);
    }
    let mut all_by_key: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    let mut per_key: BTreeMap<Option<usize>, Vec<&COp>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        all_by_key.entry(op.key).or_default().push(i);
        if counts(op) {
            per_key.entry(op.key).or_default().push(op);
        }
    }
    let by_id: BTreeMap<usize, &COp> = h.ops.iter().map(|o| (o.id, o)).collect();
    let mut failed = Vec::new();
    let mut unknown = Vec::new();
    for (key, ops) in &per_key {
        let linearizable = linearizable_first
            && all_by_key.get(key).is_some_and(|all| key_is_linearizable(h, model, all, budget, &clock));
        let outcome = if linearizable { KeyOutcome::Consistent } else { check_key(ops, model, budget, &clock) };
        match outcome {
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
                ops: blocked.iter().map(|id| u32::try_from(*id).unwrap_or(u32::MAX)).collect(),
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
    let mut details = json!({
        "model": model.name(),
        "keys_checked": per_key.len(),
        "keys_unknown": unknown.iter().take(max_examples).map(|(k, r)| json!({"key": h.key_name(*k), "reason": r})).collect::<Vec<_>>(),
    });
    if let Some((key, r)) = unknown.first() {
        let mut reason = format!("key {}: {r}", h.key_name(*key));
        if unknown.len() > 1 {
            reason.push_str(&format!(" ({} keys undecided)", unknown.len()));
        }
        details["reason"] = json!(reason);
    }
    CheckResult { name: CHECK_NAME, verdict, violation_count: failed.len() as u64, violations, details }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::brute::brute_force_sequential;
    use crate::linear::synth::Rng;
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
                line: None,
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

    /// The search over program orders alone, checked against the full
    /// check (which tries a linearization first): they must agree.
    fn sc<M: Model>(h: &CheckHistory, model: &M, budget: &Budget) -> CheckResult {
        let searched = check_keys(h, model, budget, 5, false);
        assert_eq!(searched.verdict, check(h, model, budget, 5).verdict, "with and without the shortcut");
        searched
    }

    fn verdict(h: &CheckHistory) -> Verdict {
        sc(h, &Register, &Budget::default()).verdict
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
        let res = sc(&h, &Register, &Budget::default());
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
    fn overlapping_operations_of_one_process_are_unordered() {
        // The reviewer's repro (`dsim check` with op ids): c1 invokes a write
        // of 1, then a read that returns nothing before the write completes.
        // Linearizable (the read goes first), so sequentially consistent too.
        let h = history(&[w(0, 1, 0, 3), r(0, NIL, 1, 2)]);
        assert_eq!(crate::linear::check(&h, &Register, &Budget::default(), 5).verdict, Verdict::Pass);
        assert_eq!(verdict(&h), Verdict::Pass);
        // Once the write has completed, the process's later read must see it.
        let h = history(&[w(0, 1, 0, 1), r(0, NIL, 2, 3)]);
        assert_eq!(verdict(&h), Verdict::Fail);
        // An operation of unknown outcome never completes, so it orders
        // nothing after it: the read may come before the write or without it.
        let unknown = (0, Call::Write(1), Ret::Nothing, Status::Unknown, 0, None);
        assert_eq!(verdict(&history(&[unknown.clone(), r(0, NIL, 1, 2)])), Verdict::Pass);
        assert_eq!(verdict(&history(&[unknown, r(0, 1, 1, 2), r(0, NIL, 3, 4)])), Verdict::Fail);
    }

    #[test]
    fn an_unsupported_operation_is_unknown_with_a_reason() {
        let cas = (0, Call::Cas { expected: 1, new: 2 }, Ret::Nothing, Status::Ok, 0, Some(1));
        let res = sc(&history(&[cas]), &Register, &Budget::default());
        assert_eq!(res.verdict, Verdict::Unknown);
        assert_eq!(res.reason(), Some("the register model does not support cas (op 0 by p0 on key -)"));
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
        let cas_fail_at =
            |expected, at: u64| (1, Call::Cas { expected, new: 3 }, Ret::Nothing, Status::Fail, at, Some(at + 1));
        let cas_fail = |expected| cas_fail_at(expected, 2);
        let h = history(&[w(0, 1, 0, 1), cas_fail(2)]);
        assert_eq!(sc(&h, &CasRegister, &Budget::default()).verdict, Verdict::Pass);
        // Its comparison failed, so the value cannot have been 1 at any point
        // after p0's write in p1's view: only if it ran first (value nil).
        let h = history(&[w(0, 1, 0, 1), cas_fail(1), r(1, 1, 4, 5)]);
        assert_eq!(sc(&h, &CasRegister, &Budget::default()).verdict, Verdict::Pass);
        let h = history(&[w(0, 1, 0, 1), r(1, 1, 2, 3), cas_fail_at(1, 4)]);
        assert_eq!(sc(&h, &CasRegister, &Budget::default()).verdict, Verdict::Fail);
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
        let res = sc(&h, &Register, &budget);
        assert_eq!(res.verdict, Verdict::Unknown);
        let reason = res.details["keys_unknown"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("memory budget of 1 bytes exceeded"), "{reason}");
        assert!(res.reason().unwrap().starts_with("key -: memory budget of 1 bytes exceeded"), "{:?}", res.reason());
        // With room to finish, the same history is found inconsistent.
        assert_eq!(sc(&h, &Register, &Budget::default()).verdict, Verdict::Fail);
    }

    /// A random single-key history of up to 8 operations by 3 processes,
    /// whose intervals overlap (a process's own included), with repeated
    /// values, failures and unknown outcomes.
    fn random_history(rng: &mut Rng, n: usize, with_cas: bool) -> CheckHistory {
        let mut pos: Vec<u64> = (0..2 * n as u64).collect();
        for i in (1..pos.len()).rev() {
            pos.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut ops = Vec::new();
        for i in 0..n {
            let (a, b) = (pos[2 * i].min(pos[2 * i + 1]), pos[2 * i].max(pos[2 * i + 1]));
            let p = rng.below(3) as usize;
            let v = rng.below(4);
            let spec = match rng.below(10) {
                0..4 => r(p, v, a, b),
                4..8 => w(p, 1 + v % 3, a, b),
                _ if with_cas => {
                    (p, Call::Cas { expected: v, new: 1 + rng.below(3) }, Ret::Nothing, Status::Ok, a, Some(b))
                }
                _ => w(p, 1 + v % 3, a, b),
            };
            let spec = match rng.below(10) {
                0 => (spec.0, spec.1, Ret::Nothing, Status::Unknown, spec.4, None),
                1 => (spec.0, spec.1, Ret::Nothing, Status::Fail, spec.4, spec.5),
                _ => spec,
            };
            ops.push(spec);
        }
        history(&ops)
    }

    #[test]
    fn the_search_agrees_with_brute_force_and_accepts_every_linearizable_history() {
        let mut rng = Rng::new(77);
        let (mut linearizable, mut only_sequential, mut neither) = (0, 0, 0);
        for case in 0..4000 {
            let with_cas = case % 2 == 0;
            let n = 1 + rng.below(8) as usize;
            let h = random_history(&mut rng, n, with_cas);
            let (searched, lin, brute) = if with_cas {
                let s = sc(&h, &CasRegister, &Budget::default()).verdict;
                (
                    s,
                    crate::linear::check(&h, &CasRegister, &Budget::default(), 1).verdict,
                    brute_force_sequential(&h, &CasRegister),
                )
            } else {
                let s = sc(&h, &Register, &Budget::default()).verdict;
                (
                    s,
                    crate::linear::check(&h, &Register, &Budget::default(), 1).verdict,
                    brute_force_sequential(&h, &Register),
                )
            };
            assert_eq!(searched == Verdict::Pass, brute, "case {case}: {h:#?}");
            assert_ne!(searched, Verdict::Unknown);
            if lin == Verdict::Pass {
                assert_eq!(searched, Verdict::Pass, "case {case}: linearizable, so sequentially consistent: {h:#?}");
                linearizable += 1;
            } else if brute {
                only_sequential += 1;
            } else {
                neither += 1;
            }
        }
        assert!(
            linearizable > 1000 && only_sequential > 150 && neither > 1000,
            "linearizable {linearizable}, only sequential {only_sequential}, neither {neither}"
        );
    }
}
