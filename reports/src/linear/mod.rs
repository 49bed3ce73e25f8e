//! # Linearizability checking
//!
//! A history is linearizable (Herlihy & Wing 1990) when every operation can
//! be given a single instant between its invocation and its completion such
//! that, taken in the order of those instants, the operations are a legal
//! sequential execution of the object's specification (its [`Model`]).
//! Deciding this is NP-complete in general, so the checker searches, and
//! makes the search cheap in the cases that occur in practice.
//!
//! ## Algorithm
//!
//! **P-compositionality** (Herlihy & Wing's locality; Horn & Kroening 2015):
//! a history of independent objects is linearizable exactly when each
//! object's sub-history is. The history is split by key (all operations
//! without a key are one object) and each key is searched on its own, on
//! [`Budget::threads`] worker threads that take keys from a shared queue,
//! largest first. Results are merged in key order, so the report does not
//! depend on the number of threads or on their timing.
//!
//! **Just-in-time linearization** (Wing & Gong 1993, with Lowe's 2017
//! memoisation, as in Porcupine): a key's call and return entries form a
//! doubly linked list in real-time order (the calls of operations of
//! unknown outcome, which have no return, form a second one). The search
//! walks the list from its head. At a call, it tries to linearize that operation next: if the
//! model accepts it and the resulting configuration (set of linearized
//! operations, model state) has not been seen before, the call and its
//! return are lifted out of the list, the previous state is pushed on a
//! stack, and the walk restarts from the head. At a return, the operation
//! had to be linearized already, so no pending call led anywhere new: the
//! search pops the last linearized operation, puts its entries back, and
//! tries the next call after it. The history is linearizable when every
//! operation with a completion is linearized; it is not when a return is
//! reached with an empty stack.
//!
//! The cache makes the search visit each configuration at most once. A
//! configuration is stored compactly: the linearized set is a watermark
//! (all earlier operations linearized) plus the bit window above it, which
//! is as wide as the history's concurrency, and is hashed incrementally
//! (Zobrist keys per operation, XORed on add and remove).
//!
//! **Unknown outcomes.** An operation with no completion (a client crash, a
//! timeout: Jepsen's `:info`) may take effect at any time after its
//! invocation, or never. It has a call entry but no return entry, so the
//! search may linearize it anywhere after its invocation and never has to.
//! Unknown calls are tried after the definite ones, and a configuration is
//! pruned when a visited one had the same definite operations and state and
//! a subset of its unknown ones (*subsumption*: whatever completes the
//! larger set completes the smaller). Without that, each pending unknown
//! operation would double the configurations to refute. A read of unknown
//! outcome constrains nothing and is dropped up front. Operations that
//! failed certainly did not happen and are dropped too, except a failed
//! `cas`, which observed that the value differed from the expected one and
//! is linearized as that observation (with no effect).
//!
//! **Reductions.** With many concurrent processes on one key the plain
//! search drowns in orders of writes that no read distinguishes yet. Four
//! sound reductions, enabled by optional [`Model`] hints the built-in
//! models give, keep it near-linear on realistic histories:
//! - *observers first*: a pending read that the state allows is linearized
//!   at once and is the only child tried (it changes nothing, and all that
//!   had to precede it already has);
//! - *needed contents*: when a value has a single producer in a key (unique
//!   written values, as in Jepsen), an order that overwrites it while a
//!   read still needs it, or appends where a read's list disagrees, is
//!   abandoned at once instead of when that read completes;
//! - *unread values*: states holding a value no operation reads or compares
//!   against behave alike until overwritten, so they are merged into one;
//! - *twins*: operations with the same call, observation and status (two
//!   deletes, two reads of `nil`) are interchangeable, so only the one that
//!   must complete first is tried.
//!
//! The brute force and the hint-free search agree with it on thousands of
//! generated histories (see the tests).
//!
//! ## Guarantees
//!
//! - `pass` and `fail` are exact for the model: a `fail` comes with a
//!   counterexample (the longest prefix the search could linearize, the
//!   operation whose completion forced it back, and the operations pending
//!   with it, each with why it cannot come next). The brute-force checker in
//!   [`brute`] cross-checks this on thousands of small histories in tests.
//! - Deterministic: the same history gives the same result with any number
//!   of threads (each key's search gets the whole memory budget), unless
//!   the time budget runs out.
//! - Bounded: each check has a time and a memory budget; a key that exceeds
//!   them is `unknown` with the reason, and the check returns promptly.
//!
//! ## Limits
//!
//! - The search is exponential in the worst case: many concurrent
//!   operations on one key that no read pins down, values that repeat (a
//!   read of `nil` is explained by any delete), or many operations of
//!   unknown outcome. Such keys end `unknown` when the budget runs out. A
//!   single key with 50 concurrent clients mixing put, append, delete and
//!   cas (many values nobody reads) grows super-linearly beyond a few
//!   thousand operations; registers and cas registers stay near-linear.
//! - The hints must be exact: a custom model that gives wrong ones can make
//!   the checker report violations that are not there.
//! - Operations of unknown outcome are never retired, so a key with many of
//!   them keeps a wider linearized set in every cache entry.
//! - The counterexample is the deepest point of one search order, not a
//!   minimal unsatisfiable core.
//! - The memory budget is an estimate (cache entries, their words, the
//!   hash index and model-reported heap bytes) and applies to each key's
//!   search on its own, whatever the number of threads (so a verdict does
//!   not depend on the machine's cores); with `threads` keys searched at
//!   once, the check may hold up to `threads` times the budget.
//!
//! ## References
//!
//! - M. Herlihy, J. Wing, "Linearizability: a correctness condition for
//!   concurrent objects", TOPLAS 12(3), 1990 (definition, locality, §3).
//! - J. Wing, C. Gong, "Testing and verifying concurrent objects", JPDC
//!   17(1-2), 1993 (the search over call/return entries).
//! - G. Lowe, "Testing for linearizability", Concurrency and Computation:
//!   Practice and Experience 29(4), 2017 (just-in-time linearization and the
//!   memoisation of configurations, §3-§4).
//! - A. Horn, D. Kroening, "Faster linearizability checking via
//!   P-compositionality", FORTE 2015 (partitioning by object).

pub mod brute;
mod explain;
mod model;
mod search;
pub mod synth;

pub use explain::{Counterexample, StuckOp};
pub use model::{CasRegister, KvMap, KvState, Model, Register, UNREAD};

pub use crate::budget::Budget;
use crate::budget::Stopwatch;
use crate::check::{CheckResult, Verdict, Violation};
use crate::ops::{COp, Call, CheckHistory};
use search::{KeyOutcome, KeyVerdict, Limits};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The name of this check in reports.
pub const CHECK_NAME: &str = "linearizable";

/// How many failing keys `details.failing_keys` lists at most.
const FAILING_KEYS_LISTED: usize = 100;

/// The built-in models, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Runs `$body` with `$m` bound to the built-in model of `$kind`.
macro_rules! with_model {
    ($kind:expr, $m:ident => $body:expr) => {
        match $kind {
            ModelKind::Register => {
                let $m = &Register;
                $body
            }
            ModelKind::CasRegister => {
                let $m = &CasRegister;
                $body
            }
            ModelKind::Kv => {
                let $m = &KvMap;
                $body
            }
        }
    };
}

impl ModelKind {
    /// Whether the model has an operation for `call`.
    pub fn supports(self, call: &Call) -> bool {
        with_model!(self, m => m.supports(call))
    }

    /// The first operation of `h` the model has no operation for, if any.
    pub fn first_unsupported(self, h: &CheckHistory) -> Option<&COp> {
        with_model!(self, m => first_unsupported(h, m))
    }

    /// Checks `h` for `consistency` against this model.
    pub fn check(
        self,
        consistency: Consistency,
        h: &CheckHistory,
        budget: &Budget,
        max_examples: usize,
    ) -> CheckResult {
        with_model!(self, m => consistency.check(h, m, budget, max_examples))
    }
}

/// The consistency conditions the model-based checks decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Real-time order (the `linearizable` check).
    Linearizable,
    /// Each process's own order (the `sequential` check).
    Sequential,
}

impl Consistency {
    pub const ALL: [Consistency; 2] = [Consistency::Linearizable, Consistency::Sequential];

    /// The condition's name, which is also its check's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Linearizable => CHECK_NAME,
            Consistency::Sequential => crate::sequential::CHECK_NAME,
        }
    }

    pub fn from_name(name: &str) -> Option<Consistency> {
        Consistency::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Checks `h` for this condition against any model.
    pub fn check<M: Model>(self, h: &CheckHistory, model: &M, budget: &Budget, max_examples: usize) -> CheckResult {
        match self {
            Consistency::Linearizable => check(h, model, budget, max_examples),
            Consistency::Sequential => crate::sequential::check(h, model, budget, max_examples),
        }
    }
}

/// Checks `h` for linearizability against the built-in model `kind`.
pub fn check_kind(h: &CheckHistory, kind: ModelKind, budget: &Budget, max_examples: usize) -> CheckResult {
    kind.check(Consistency::Linearizable, h, budget, max_examples)
}

/// The first operation of `h` that `model` does not support, if any. Both
/// model-based checks answer `unknown` for such a history (see
/// [`unsupported_result`]); `dsim check` rejects it as bad input.
pub fn first_unsupported<'a, M: Model>(h: &'a CheckHistory, model: &M) -> Option<&'a COp> {
    h.ops.iter().find(|op| !model.supports(&op.call))
}

/// The `unknown` result of check `name` on a history with an operation
/// (`op`) that `model` does not support.
pub(crate) fn unsupported_result<M: Model>(name: &'static str, h: &CheckHistory, model: &M, op: &COp) -> CheckResult {
    let reason = format!(
        "the {} model does not support {} ({} by {} on key {})",
        model.name(),
        op.call.name(),
        h.op_name(op),
        h.processes.get(op.process).map_or("?", String::as_str),
        h.key_name(op.key),
    );
    CheckResult {
        name,
        verdict: Verdict::Unknown,
        violation_count: 0,
        violations: Vec::new(),
        details: json!({ "model": model.name(), "reason": reason }),
    }
}

/// Checks that `h` is linearizable with respect to `model`, key by key.
/// Lists at most `max_examples` counterexamples.
pub fn check<M: Model>(h: &CheckHistory, model: &M, budget: &Budget, max_examples: usize) -> CheckResult {
    check_explained(h, model, budget, max_examples).0
}

/// [`check`], also returning the counterexamples (the same ones as in the
/// result's details) for printing with [`Counterexample::text`].
pub fn check_explained<M: Model>(
    h: &CheckHistory,
    model: &M,
    budget: &Budget,
    max_examples: usize,
) -> (CheckResult, Vec<Counterexample>) {
    let clock = Stopwatch::start();
    if let Some(op) = first_unsupported(h, model) {
        return (unsupported_result(CHECK_NAME, h, model, op), Vec::new());
    }

    let mut by_key: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        by_key.entry(op.key).or_default().push(i);
    }
    let parts: Vec<(Option<usize>, Vec<usize>)> = by_key.into_iter().collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(parts[i].1.len()), i));

    let workers = budget.threads.clamp(1, parts.len().max(1));
    let stop = AtomicBool::new(false);
    let limits = Limits { clock: &clock, time_ms: budget.time_ms, memory_bytes: budget.memory_bytes, stop: &stop };
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&pi) = order.get(i) else { break };
            let (key, ops) = &parts[pi];
            let name = h.key_name(*key);
            let outcome = if stop.load(Ordering::Relaxed) {
                KeyOutcome {
                    verdict: KeyVerdict::Unknown {
                        reason: format!("key {name} not checked: the time budget of {} ms ran out", budget.time_ms),
                        tripped: false,
                    },
                    ops: 0,
                    states: 0,
                    peak_bytes: 0,
                    snapshot: None,
                }
            } else {
                search::search(h, model, ops, name, &limits)
            };
            done.push((pi, outcome));
        }
        done
    };
    let mut results = if workers == 1 {
        worker()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(worker)).collect();
            handles.into_iter().flat_map(|t| t.join().expect("a linearizability worker panicked")).collect()
        })
    };
    results.sort_by_key(|(pi, _)| *pi);
    assert_eq!(results.len(), parts.len(), "every key gets exactly one outcome");
    assemble(h, model, &parts, results, max_examples)
}

/// Whether the operations `indices` (into `h.ops`, all of one key) are
/// linearizable, decided within `budget` on `clock`; false if they are not
/// or the budget ran out. (The sequential-consistency check uses this as a
/// shortcut: a linearizable key is sequentially consistent.)
pub(crate) fn key_is_linearizable<M: Model>(
    h: &CheckHistory,
    model: &M,
    indices: &[usize],
    budget: &Budget,
    clock: &Stopwatch,
) -> bool {
    let stop = AtomicBool::new(false);
    let limits = Limits { clock, time_ms: budget.time_ms, memory_bytes: budget.memory_bytes, stop: &stop };
    let key = indices.first().map_or("-", |&i| h.key_name(h.ops[i].key));
    matches!(search::search(h, model, indices, key, &limits).verdict, KeyVerdict::Pass)
}

fn assemble<M: Model>(
    h: &CheckHistory,
    model: &M,
    parts: &[(Option<usize>, Vec<usize>)],
    results: Vec<(usize, KeyOutcome<M::State>)>,
    max_examples: usize,
) -> (CheckResult, Vec<Counterexample>) {
    let mut failed: u64 = 0;
    let mut failing_keys = Vec::new();
    let mut counterexamples = Vec::new();
    let mut unknown_keys: u64 = 0;
    let mut reason: Option<String> = None;
    let mut first_unknown: Option<String> = None;
    let (mut ops, mut states, mut peak_bytes, mut decided) = (0usize, 0u64, 0u64, 0usize);
    for (pi, out) in results {
        let key = h.key_name(parts[pi].0);
        ops += out.ops;
        states += out.states;
        peak_bytes = peak_bytes.max(out.peak_bytes);
        match out.verdict {
            KeyVerdict::Pass => decided += 1,
            KeyVerdict::Fail => {
                decided += 1;
                failed += 1;
                if failing_keys.len() < FAILING_KEYS_LISTED {
                    failing_keys.push(key.to_string());
                }
                if counterexamples.len() < max_examples
                    && let Some(snap) = &out.snapshot
                {
                    counterexamples.push(explain::counterexample(h, model, key, snap));
                }
            }
            KeyVerdict::Unknown { reason: r, tripped } => {
                unknown_keys += 1;
                if tripped && reason.is_none() {
                    reason = Some(r);
                } else if first_unknown.is_none() {
                    first_unknown = Some(r);
                }
            }
        }
    }
    let verdict = if failed > 0 {
        Verdict::Fail
    } else if unknown_keys > 0 {
        Verdict::Unknown
    } else {
        Verdict::Pass
    };
    let violations = counterexamples.iter().map(violation).collect();
    let mut details = json!({
        "model": model.name(),
        "keys": parts.len(),
        "keys_checked": decided,
        "ops_checked": ops,
        "states_explored": states,
        "peak_cache_bytes": peak_bytes,
        "failing_keys": failing_keys,
        "counterexamples": counterexamples,
    });
    if unknown_keys > 0 {
        let mut r = reason.or(first_unknown).unwrap_or_default();
        if unknown_keys > 1 {
            r.push_str(&format!(" ({unknown_keys} keys undecided)"));
        }
        details["reason"] = json!(r);
        details["keys_unknown"] = json!(unknown_keys);
    }
    (CheckResult { name: CHECK_NAME, verdict, violation_count: failed, violations, details }, counterexamples)
}

fn violation(c: &Counterexample) -> Violation {
    let mut processes: Vec<String> = Vec::new();
    for op in &c.stuck {
        if !processes.contains(&op.process) {
            processes.push(op.process.clone());
        }
    }
    let at_ms = c.stuck.first().and_then(|op| op.complete_ms.or(op.invoke_ms)).unwrap_or(0.0);
    Violation {
        kind: "not-linearizable",
        ops: c.stuck.iter().map(|op| u32::try_from(op.id).unwrap_or(u32::MAX)).collect(),
        processes,
        at_ms,
        message: c.summary(),
    }
}
