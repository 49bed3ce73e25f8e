//! From a simulated run's history to the checkers' `CheckHistory`.

use crate::check::Labels;
use crate::ops::{COp, Call, CheckHistory, Interner, NIL, Ret, Status, Val};
use sim_core::{History, OpKind, OpStatus, Output};
use std::collections::BTreeMap;

/// Interns a run's value ids densely: `Val` 0 is nil, the rest in order of
/// first appearance. Names are [`Labels::value`]'s, which is also the
/// printed form history files use: a generated value is its id as an
/// integer (`17`), a scripted one its name as a string (`"v1"`); two
/// scripted puts of the same name write the same value, as the script says.
struct Values<'a> {
    labels: &'a Labels<'a>,
    ids: BTreeMap<u64, Val>,
    names: Interner,
}

impl Values<'_> {
    fn get(&mut self, id: u64) -> Val {
        if let Some(&v) = self.ids.get(&id) {
            return v;
        }
        let v = self.names.intern(&self.labels.value(id)) as Val;
        self.ids.insert(id, v);
        v
    }
}

/// Converts a run's history. Processes are node names; keys are strings
/// named by the scenario (`"k17"`, or a scripted name).
///
/// A multi-put becomes one write per key and a multi-get one read per key,
/// all with the operation's id and times: linearizability composes per key,
/// so each key's register must be linearizable on its own (atomicity across
/// keys is the transactional checks' business). Lookups, transfers, audits
/// and file operations name no single register value, and are left out.
pub fn from_sim(history: &History, labels: &Labels) -> CheckHistory {
    let mut keys = Interner::default();
    let mut values = Values { labels, ids: BTreeMap::new(), names: Interner::starting_with("nil") };
    let mut ops = Vec::with_capacity(history.ops.len());
    for r in &history.ops {
        let status = match r.status.unwrap_or(OpStatus::Unknown) {
            OpStatus::Ok => Status::Ok,
            OpStatus::Fail => Status::Fail,
            OpStatus::Unknown => Status::Unknown,
        };
        let known = status != Status::Unknown;
        let mut push = |key, call: Call, ret: Ret| {
            ops.push(COp {
                id: r.id.0 as usize,
                line: None,
                process: r.process.index(),
                key: Some(keys.intern(&format!("{:?}", labels.key(key)))),
                call,
                ret,
                status,
                invoke: r.invoke_seq,
                complete: if known { r.complete_seq } else { None },
                invoke_ns: Some(r.invoke.as_nanos()),
                complete_ns: r.complete.map(|c| c.as_nanos()),
            })
        };
        let written = r.op.value.map_or(NIL, |v| values.get(v.id));
        match r.op.kind {
            OpKind::Get => {
                let ret = match (status, &r.output) {
                    (Status::Ok, Output::Nothing) => Ret::Value(NIL),
                    (Status::Ok, Output::Value(v)) => Ret::Value(values.get(v.id)),
                    (Status::Ok, Output::Values(vs)) => Ret::Siblings(vs.iter().map(|v| values.get(v.id)).collect()),
                    _ => Ret::Nothing,
                };
                push(r.op.key, Call::Read, ret);
            }
            OpKind::Put => push(r.op.key, Call::Write(written), Ret::Nothing),
            OpKind::MultiPut => {
                for k in r.op.keys() {
                    push(k, Call::Write(written), Ret::Nothing);
                }
            }
            OpKind::MultiGet => {
                let read: &[sim_core::Value] = match &r.output {
                    Output::Values(vs) if status == Status::Ok => vs,
                    _ => &[],
                };
                for (i, k) in r.op.keys().enumerate() {
                    let ret = match read.get(i) {
                        Some(v) if v.id != 0 => Ret::Value(values.get(v.id)),
                        Some(_) => Ret::Value(NIL),
                        None => Ret::Nothing,
                    };
                    push(k, Call::Read, ret);
                }
            }
            OpKind::Lookup
            | OpKind::Transfer
            | OpKind::Audit
            | OpKind::Open
            | OpKind::Read
            | OpKind::ReadFile
            | OpKind::Write
            | OpKind::Close
            | OpKind::Stat
            | OpKind::Remove => {}
        }
    }
    CheckHistory { ops, processes: labels.nodes.to_vec(), keys: keys.into_names(), values: values.names.into_names() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, Op, SimTime, Value};

    #[test]
    fn values_are_named_as_every_other_check_names_them() {
        let keys = BTreeMap::new();
        let values: BTreeMap<u64, String> = [(5, "v1".to_string())].into();
        let nodes = ["c1".to_string()];
        let labels = Labels { nodes: &nodes, keys: &keys, values: &values };
        let mut h = History::default();
        for id in [14, 5] {
            let op = Op::put(1, Value { id, size_bytes: 1 });
            let op = h.invoke(NodeId(0), op, SimTime::ZERO);
            h.complete(op, OpStatus::Ok, Output::Nothing, SimTime::ZERO);
        }
        let c = from_sim(&h, &labels);
        let written: Vec<&str> = c
            .ops
            .iter()
            .map(|op| match op.call {
                Call::Write(v) => c.value_name(v),
                _ => unreachable!("only writes"),
            })
            .collect();
        // The stale-read and lost-write checks name values with `Labels::value`.
        assert_eq!(written, [labels.value(14), labels.value(5)]);
        assert_eq!(written, ["14", "\"v1\""]);
    }
}
