//! A brute-force linearizability checker, the reference the real one is
//! tested against.
//!
//! It shares nothing with the search but the model: it does not split the
//! history by key (it keeps one state per key), has no linked list, no
//! cache and no special case for reads of unknown outcome. It tries every
//! order of every subset of the operations of unknown outcome together with
//! all definite ones, respecting real-time order, so it is only usable on
//! tiny histories (up to about 8 operations).
//!
//! [`brute_force_sequential`] decides sequential consistency the same way,
//! with program order (an operation of a process precedes the operations
//! of the same process invoked after it completed) instead of real time.

use super::model::Model;
use crate::ops::{COp, Call, CheckHistory, Status};

/// The most operations (after dropping failed ones) `brute_force` accepts.
pub const MAX_OPS: usize = 12;

/// Whether `h` is linearizable with respect to `model`, by exhaustive search.
/// Panics if more than [`MAX_OPS`] operations take part.
pub fn brute_force<M: Model>(h: &CheckHistory, model: &M) -> bool {
    exhaust(h, model, false)
}

/// Whether `h` is sequentially consistent with respect to `model`, by
/// exhaustive search. Panics if more than [`MAX_OPS`] operations take part.
pub fn brute_force_sequential<M: Model>(h: &CheckHistory, model: &M) -> bool {
    exhaust(h, model, true)
}

/// Tries every order; with `per_process`, only a process's own completed
/// operations constrain the order of its later ones.
fn exhaust<M: Model>(h: &CheckHistory, model: &M, per_process: bool) -> bool {
    let ops: Vec<&COp> =
        h.ops.iter().filter(|op| op.status != Status::Fail || matches!(op.call, Call::Cas { .. })).collect();
    assert!(ops.len() <= MAX_OPS, "brute force over {} ops would take too long", ops.len());
    let n = ops.len();
    let completion = |op: &COp| if op.status == Status::Unknown { None } else { op.complete };
    // before[b]: the ops (of b's process, if per_process) that completed
    // before b was invoked.
    let orders =
        |a: &COp, b: &COp| completion(a).is_some_and(|c| c < b.invoke) && (!per_process || a.process == b.process);
    let before: Vec<u32> =
        ops.iter().map(|b| (0..n).filter(|&a| orders(ops[a], b)).fold(0, |m, a| m | (1 << a))).collect();
    let definite: u32 = (0..n).filter(|&a| completion(ops[a]).is_some()).fold(0, |m, a| m | (1 << a));
    let mut states: Vec<(Option<usize>, M::State)> = Vec::new();
    for op in &ops {
        if !states.iter().any(|(k, _)| *k == op.key) {
            states.push((op.key, model.init()));
        }
    }
    extend(model, &ops, &before, definite, 0, &mut states)
}

/// Whether the order so far (the ops in `done`, leaving `states`) extends to
/// a linearization.
fn extend<M: Model>(
    model: &M,
    ops: &[&COp],
    before: &[u32],
    definite: u32,
    done: u32,
    states: &mut Vec<(Option<usize>, M::State)>,
) -> bool {
    if done & definite == definite {
        return true;
    }
    for (i, op) in ops.iter().enumerate() {
        if done & (1 << i) != 0 || before[i] & !done != 0 {
            continue;
        }
        let slot = states.iter().position(|(k, _)| *k == op.key).expect("every key has a state");
        let Some(next) = model.step(&states[slot].1, op) else { continue };
        let prev = std::mem::replace(&mut states[slot].1, next);
        if extend(model, ops, before, definite, done | (1 << i), states) {
            return true;
        }
        states[slot].1 = prev;
    }
    false
}
