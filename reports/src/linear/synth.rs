//! Synthetic histories for tests and benchmarks: a sequential execution of
//! random operations, stretched into overlapping intervals around their
//! instants. Such a history is linearizable by construction (the instants
//! are a witness), however much its operations overlap.

use super::ModelKind;
use crate::ops::{COp, Call, CheckHistory, NIL, Ret, Status, Val};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A small seeded generator (SplitMix64): the same seed gives the same
/// numbers everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "empty range");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille as u64
    }
}

/// The shape of a generated history.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub ops: usize,
    pub processes: usize,
    pub keys: usize,
    /// Which calls to generate: reads and writes; plus cas; or all kv calls.
    pub kind: ModelKind,
    pub seed: u64,
    /// Each operation lasts between 2 ns and this long.
    pub max_latency_ns: u64,
    /// Pause between a process's operations, up to this long.
    pub max_think_ns: u64,
    /// Operations whose outcome is unknown (half of them take effect).
    pub unknown_per_mille: u32,
    /// Non-cas operations that fail (and take no effect).
    pub fail_per_mille: u32,
}

impl GenConfig {
    pub fn new(ops: usize, processes: usize, keys: usize, kind: ModelKind, seed: u64) -> GenConfig {
        GenConfig {
            ops,
            processes,
            keys,
            kind,
            seed,
            max_latency_ns: 10_000_000,
            max_think_ns: 2_000_000,
            unknown_per_mille: 0,
            fail_per_mille: 0,
        }
    }
}

struct Slot {
    process: usize,
    invoke_ns: u64,
    complete_ns: u64,
    at_ns: u64,
}

/// The single value `cas` compares, if the contents are not a longer list.
fn single(seq: &[Val]) -> Option<Val> {
    match seq {
        [] => Some(NIL),
        [v] => Some(*v),
        _ => None,
    }
}

/// A linearizable history as described by `cfg`.
pub fn sequential(cfg: &GenConfig) -> CheckHistory {
    assert!(cfg.processes > 0 && cfg.keys > 0 && cfg.max_latency_ns >= 2, "degenerate generator config");
    let mut rng = Rng::new(cfg.seed);
    // Intervals: each process runs its operations one after another.
    let mut ready: BinaryHeap<Reverse<(u64, usize)>> =
        (0..cfg.processes).map(|p| Reverse((rng.below(cfg.max_think_ns + 1), p))).collect();
    let mut slots = Vec::with_capacity(cfg.ops);
    for _ in 0..cfg.ops {
        let Reverse((t, p)) = ready.pop().expect("processes never run out");
        let duration = 2 + rng.below(cfg.max_latency_ns - 1);
        let at_ns = t + 1 + rng.below(duration - 1);
        slots.push(Slot { process: p, invoke_ns: t, complete_ns: t + duration, at_ns });
        ready.push(Reverse((t + duration + rng.below(cfg.max_think_ns + 1), p)));
    }
    // The sequential execution, in order of the instants.
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| (slots[i].at_ns, i));
    let mut contents: Vec<Vec<Val>> = vec![Vec::new(); cfg.keys];
    let mut next_value: Val = 1;
    let fresh = |next: &mut Val| {
        *next += 1;
        *next - 1
    };
    let mut ops: Vec<Option<(usize, Call, Ret, Status)>> = (0..slots.len()).map(|_| None).collect();
    for &i in &order {
        let key = rng.below(cfg.keys as u64) as usize;
        let roll = rng.below(100);
        let call = match cfg.kind {
            ModelKind::Register if roll < 50 => Call::Read,
            ModelKind::Register => Call::Write(fresh(&mut next_value)),
            ModelKind::CasRegister | ModelKind::Kv if roll < 40 => Call::Read,
            ModelKind::CasRegister if roll < 70 => Call::Write(fresh(&mut next_value)),
            ModelKind::Kv if roll < 60 => Call::Write(fresh(&mut next_value)),
            ModelKind::Kv if roll < 75 => Call::Append(fresh(&mut next_value)),
            ModelKind::Kv if roll < 80 => Call::Delete,
            _ => {
                let current = single(&contents[key]);
                let expected = match current {
                    Some(v) if rng.chance(600) => v,
                    _ => rng.below(next_value),
                };
                Call::Cas { expected, new: fresh(&mut next_value) }
            }
        };
        let unknown = rng.chance(cfg.unknown_per_mille);
        let failed =
            !unknown && !matches!(call, Call::Cas { .. }) && call != Call::Read && rng.chance(cfg.fail_per_mille);
        let takes_effect = !failed && (!unknown || rng.chance(500));
        let c = &mut contents[key];
        let ret = match call {
            Call::Read => match c.as_slice() {
                [] => Ret::Value(NIL),
                [v] => Ret::Value(*v),
                l => Ret::List(l.to_vec()),
            },
            _ => Ret::Nothing,
        };
        let mut status = Status::Ok;
        if takes_effect {
            match call {
                Call::Read => {}
                Call::Write(v) => *c = vec![v],
                Call::Append(v) => c.push(v),
                Call::Delete => c.clear(),
                Call::Cas { expected, new } => {
                    if single(c) == Some(expected) {
                        *c = vec![new];
                    } else {
                        status = Status::Fail;
                    }
                }
            }
        }
        if failed {
            status = Status::Fail;
        }
        if unknown {
            status = Status::Unknown;
        }
        let ret = if status == Status::Ok { ret } else { Ret::Nothing };
        ops[i] = Some((key, call, ret, status));
    }
    // Positions: completions before invocations at equal times, so a
    // process's next operation always follows its previous one.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * slots.len());
    for (i, s) in slots.iter().enumerate() {
        events.push((s.invoke_ns, 1, i));
        if ops[i].as_ref().is_some_and(|o| o.3 != Status::Unknown) {
            events.push((s.complete_ns, 0, i));
        }
    }
    events.sort_unstable();
    let mut invoke = vec![0; slots.len()];
    let mut complete = vec![None; slots.len()];
    for (pos, &(_, kind, i)) in events.iter().enumerate() {
        if kind == 1 {
            invoke[i] = pos as u64;
        } else {
            complete[i] = Some(pos as u64);
        }
    }
    let mut h = CheckHistory::new();
    h.processes = (0..cfg.processes).map(|p| format!("p{p}")).collect();
    h.keys = (0..cfg.keys).map(|k| format!("k{k}")).collect();
    h.values.extend((1..next_value).map(|v| format!("v{v}")));
    h.ops = slots
        .iter()
        .zip(ops)
        .enumerate()
        .map(|(i, (s, o))| {
            let (key, call, ret, status) = o.expect("every slot was executed");
            COp {
                id: i,
                line: None,
                process: s.process,
                key: Some(key),
                call,
                ret,
                status,
                invoke: invoke[i],
                complete: complete[i],
                invoke_ns: Some(s.invoke_ns),
                complete_ns: complete[i].map(|_| s.complete_ns),
            }
        })
        .collect();
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_histories_are_well_formed_and_reproducible() {
        let mut cfg = GenConfig::new(500, 7, 3, ModelKind::Kv, 42);
        cfg.unknown_per_mille = 50;
        cfg.fail_per_mille = 50;
        let h = sequential(&cfg);
        assert_eq!(h, sequential(&cfg));
        assert_eq!(h.ops.len(), 500);
        for op in &h.ops {
            if let Some(c) = op.complete {
                assert!(c > op.invoke);
            }
            assert_eq!(op.complete.is_none(), op.status == Status::Unknown);
        }
        // Each process's operations are sequential.
        for p in 0..7 {
            let mut mine: Vec<&COp> = h.ops.iter().filter(|o| o.process == p).collect();
            mine.sort_by_key(|o| o.invoke);
            for w in mine.windows(2) {
                if let Some(c) = w[0].complete {
                    assert!(c < w[1].invoke);
                }
            }
        }
        assert!(h.ops.iter().any(|o| o.status == Status::Fail && matches!(o.call, Call::Cas { .. })));
        assert!(h.ops.iter().any(|o| matches!(o.ret, Ret::List(_))));
    }
}
