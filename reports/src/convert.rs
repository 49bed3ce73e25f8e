//! From a simulated run's history to the checkers' `CheckHistory`.

use crate::check::Labels;
use crate::ops::{COp, Call, CheckHistory, Interner, NIL, Ret, Status, Val};
use sim_core::{History, OpKind, OpStatus, Output};
use std::collections::BTreeMap;

/// Interns a run's value ids densely: `Val` 0 is nil, the rest in order of
/// first appearance. Names are in the printed form history files use: a
/// generated value is its id as an integer (`17`), a scripted one its name
/// as a string (`"v1"`); two scripted puts of the same name write the same
/// value, as the script says.
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
        let name = self.labels.values.get(&id).map_or_else(|| id.to_string(), |n| format!("{n:?}"));
        let v = self.names.intern(&name) as Val;
        self.ids.insert(id, v);
        v
    }
}

/// Converts a run's history. Processes are node names; keys are strings
/// named by the scenario (`"k17"`, or a scripted name).
pub fn from_sim(history: &History, labels: &Labels) -> CheckHistory {
    let mut keys = Interner::default();
    let mut values = Values { labels, ids: BTreeMap::new(), names: Interner::starting_with("nil") };
    let ops = history
        .ops
        .iter()
        .map(|r| {
            let call = match r.op.kind {
                OpKind::Get => Call::Read,
                OpKind::Put => Call::Write(r.op.value.map_or(NIL, |v| values.get(v.id))),
            };
            let status = match r.status.unwrap_or(OpStatus::Unknown) {
                OpStatus::Ok => Status::Ok,
                OpStatus::Fail => Status::Fail,
                OpStatus::Unknown => Status::Unknown,
            };
            let ret = match (&call, status, &r.output) {
                (Call::Read, Status::Ok, Output::Nothing) => Ret::Value(NIL),
                (Call::Read, Status::Ok, Output::Value(v)) => Ret::Value(values.get(v.id)),
                (Call::Read, Status::Ok, Output::Values(vs)) => {
                    Ret::Siblings(vs.iter().map(|v| values.get(v.id)).collect())
                }
                _ => Ret::Nothing,
            };
            let known = status != Status::Unknown;
            COp {
                id: r.id.0 as usize,
                process: r.process.index(),
                key: Some(keys.intern(&format!("{:?}", labels.key(r.op.key)))),
                call,
                ret,
                status,
                invoke: r.invoke_seq,
                complete: if known { r.complete_seq } else { None },
                invoke_ns: Some(r.invoke.as_nanos()),
                complete_ns: r.complete.map(|c| c.as_nanos()),
            }
        })
        .collect();
    CheckHistory { ops, processes: labels.nodes.to_vec(), keys: keys.into_names(), values: values.names.into_names() }
}
