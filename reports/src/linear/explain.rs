//! Counterexamples in words: the operations the search could not order,
//! with their processes, values and times, and the prefix it could.

use super::model::{Model, list_text};
use super::search::Snapshot;
use crate::ops::{COp, Call, CheckHistory, Ret, Status, Val};
use serde::Serialize;

/// Why one key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counterexample {
    pub key: String,
    /// Op ids of the last (at most 20) operations of the longest prefix the
    /// search could linearize, in the order it found.
    pub prefix: Vec<usize>,
    /// Length of that prefix.
    pub prefix_len: usize,
    /// The object's state after the prefix.
    pub prefix_state: String,
    /// The operations that cannot be ordered after the prefix: first the one
    /// whose completion forced the search back, then those pending with it.
    pub stuck: Vec<StuckOp>,
    /// Whether more operations were pending than `stuck` lists.
    pub stuck_truncated: bool,
}

/// One operation of a counterexample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StuckOp {
    pub id: usize,
    pub process: String,
    /// The function: `read`, `write`, `cas`, `append`, `delete`.
    pub f: &'static str,
    /// Its argument by name (`v3`, or `v1 -> v2` for a cas), if any.
    pub value: Option<String>,
    /// What it observed, if anything.
    pub observed: Option<String>,
    pub status: Status,
    pub invoke_ms: Option<f64>,
    pub complete_ms: Option<f64>,
    /// Why it cannot come next after the prefix.
    pub why: String,
}

fn ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|ns| ns as f64 / 1e6)
}

fn call_value(call: &Call, h: &CheckHistory) -> Option<String> {
    match call {
        Call::Read | Call::Delete => None,
        Call::Write(v) | Call::Append(v) => Some(h.value_name(*v).to_string()),
        Call::Cas { expected, new } => Some(format!("{} -> {}", h.value_name(*expected), h.value_name(*new))),
    }
}

fn observed(ret: &Ret, h: &CheckHistory) -> Option<String> {
    match ret {
        Ret::Nothing => None,
        Ret::Value(v) => Some(h.value_name(*v).to_string()),
        Ret::List(l) => Some(list_text(l, h)),
        Ret::Siblings(vs) => {
            Some(format!("siblings {{{}}}", vs.iter().map(|v| h.value_name(*v)).collect::<Vec<_>>().join(", ")))
        }
    }
}

fn process_name(h: &CheckHistory, p: usize) -> String {
    h.processes.get(p).cloned().unwrap_or_else(|| format!("process {p}"))
}

/// Why `op` cannot come next after a prefix that left `state`, when
/// `forcing` had to complete and `stuck` are the operations involved.
fn why<M: Model>(h: &CheckHistory, model: &M, state: &M::State, op: &COp, forcing: &COp, stuck: &[&COp]) -> String {
    let now = model.describe(state, h);
    let Some(next) = model.step(state, op) else {
        return match op.call {
            Call::Cas { .. } if op.status == Status::Fail => {
                format!("a failed cas saw a value other than the expected one, but the value is {now}")
            }
            Call::Cas { .. } => format!("the cas found its expected value, but the value is {now}"),
            _ => format!("it cannot happen when the value is {now}"),
        };
    };
    let before = model.contents(state);
    if let (Some(b), Some(a)) = (before, model.contents(&next))
        && b != a
        && let Some((needer, need)) = stuck.iter().find_map(|n| {
            let need = model.needs(n).filter(|l| n.id != op.id && l.starts_with(b) && !l.starts_with(a))?;
            Some((n, need))
        })
    {
        return format!(
            "it would leave {}, but op {} still needs {}",
            model.describe(&next, h),
            needer.id,
            contents_text(need, h)
        );
    }
    if let Some(need) = model.needs(op)
        && before == Some(need)
        && op.id != forcing.id
        && forcing.complete.is_some_and(|c| c < op.invoke)
    {
        return format!("it needs {} but starts only after op {} completes", contents_text(need, h), forcing.id);
    }
    format!("it would leave {}, from which no order of the remaining operations works", model.describe(&next, h))
}

fn contents_text(c: &[Val], h: &CheckHistory) -> String {
    match c {
        [v] => h.value_name(*v).to_string(),
        _ => list_text(c, h),
    }
}

pub(crate) fn counterexample<M: Model>(
    h: &CheckHistory,
    model: &M,
    key: &str,
    snap: &Snapshot<M::State>,
) -> Counterexample {
    let ops: Vec<&COp> = snap.stuck.iter().map(|&i| &h.ops[i]).collect();
    let stuck = ops
        .iter()
        .map(|op| StuckOp {
            id: op.id,
            process: process_name(h, op.process),
            f: op.call.name(),
            value: call_value(&op.call, h),
            observed: observed(&op.ret, h),
            status: op.status,
            invoke_ms: ms(op.invoke_ns),
            complete_ms: ms(op.complete_ns),
            why: why(h, model, &snap.state, op, ops[0], &ops),
        })
        .collect();
    Counterexample {
        key: key.to_string(),
        prefix: snap.prefix_tail.iter().map(|&i| h.ops[i].id).collect(),
        prefix_len: snap.prefix_len,
        prefix_state: model.describe(&snap.state, h),
        stuck,
        stuck_truncated: snap.stuck_truncated,
    }
}

impl StuckOp {
    /// `op 17 (c2 read -> v3, ok, 10.000-12.500 ms)`.
    pub fn label(&self) -> String {
        let mut s = format!("op {} ({} {}", self.id, self.process, self.f);
        if let Some(v) = &self.value {
            s.push_str(&format!(" {v}"));
        }
        if let Some(o) = &self.observed {
            s.push_str(&format!(" -> {o}"));
        }
        if self.status != Status::Ok {
            s.push_str(&format!(", {}", status_name(self.status)));
        }
        match (self.invoke_ms, self.complete_ms) {
            (Some(a), Some(b)) => s.push_str(&format!(", {a:.3}-{b:.3} ms")),
            (Some(a), None) => s.push_str(&format!(", from {a:.3} ms")),
            _ => {}
        }
        s.push(')');
        s
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Fail => "fail",
        Status::Unknown => "unknown",
    }
}

impl Counterexample {
    /// The stuck operations, each with why it cannot come next.
    fn reasons(&self) -> Vec<String> {
        self.stuck
            .iter()
            .enumerate()
            .map(|(n, op)| {
                if n == 0 {
                    format!("{} must take effect before it completes, but {}", op.label(), op.why)
                } else {
                    format!("{}: {}", op.label(), op.why)
                }
            })
            .collect()
    }

    /// One line, for a violation's message.
    pub fn summary(&self) -> String {
        let more = if self.stuck_truncated { "; ..." } else { "" };
        format!(
            "key {}: not linearizable; the longest linearizable prefix has {} ops (value then {}), \
             and these cannot be ordered after it: {}{more}",
            self.key,
            self.prefix_len,
            self.prefix_state,
            self.reasons().join("; ")
        )
    }

    /// Several lines, for people reading a failure.
    pub fn text(&self) -> String {
        let mut s = format!("key {} is not linearizable.\n", self.key);
        let ids: Vec<String> = self.prefix.iter().map(|id| id.to_string()).collect();
        let elided = if self.prefix_len > self.prefix.len() { "..., " } else { "" };
        s.push_str(&format!(
            "  longest linearizable prefix: {} ops [{elided}{}], leaving {}\n",
            self.prefix_len,
            ids.join(", "),
            self.prefix_state
        ));
        s.push_str("  operations that cannot be ordered after it:\n");
        for r in self.reasons() {
            s.push_str(&format!("    {r}\n"));
        }
        if self.stuck_truncated {
            s.push_str("    ... (more pending operations not shown)\n");
        }
        s
    }
}
