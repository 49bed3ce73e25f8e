//! The history of client-visible operations, shaped like a Jepsen history:
//! each operation has a process, a function, arguments, an invocation time, a
//! completion time, a result, and a status: `ok` (it happened), `fail` (it
//! certainly did not happen) or `unknown` (it timed out or its client crashed:
//! it may or may not have happened, now or later).
//!
//! Values are not bytes: each write carries a `Value` with a unique id and a
//! size, so checkers can tell writes apart and the network can charge the
//! size without the simulator holding 128 MiB buffers.

use crate::NodeId;
use crate::time::SimTime;
use serde::Serialize;

/// A key of the workload's key space.
pub type Key = u64;

/// A written value: `id` is unique per write in a run (0 is never written),
/// `size_bytes` is what it costs to move.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Value {
    pub id: u64,
    pub size_bytes: u64,
}

/// What a client asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Get,
    Put,
    /// Find the node responsible for a key (a DHT lookup): reads nothing,
    /// writes nothing; its result names the node.
    Lookup,
}

impl OpKind {
    pub const ALL: [OpKind; 3] = [OpKind::Get, OpKind::Put, OpKind::Lookup];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Lookup => "lookup",
        }
    }

    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the operation can change state (reads can be retried or
    /// failed freely; a timed-out write is `unknown`).
    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Put)
    }
}

/// One operation as the workload issues it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Op {
    pub kind: OpKind,
    pub key: Key,
    /// The value written by a put.
    pub value: Option<Value>,
}

/// How an operation ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpStatus {
    Ok,
    Fail,
    Unknown,
}

impl OpStatus {
    pub fn name(self) -> &'static str {
        match self {
            OpStatus::Ok => "ok",
            OpStatus::Fail => "fail",
            OpStatus::Unknown => "unknown",
        }
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase", tag = "type", content = "values")]
pub enum Output {
    /// Nothing: a put's acknowledgement, or a get of an absent key.
    #[default]
    Nothing,
    /// One value.
    Value(Value),
    /// Several values: concurrent versions (siblings) returned together.
    Values(Vec<Value>),
}

/// Index of an operation in the history.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct OpId(pub u32);

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpRecord {
    pub id: OpId,
    /// The client node that ran it (Jepsen's process).
    pub process: NodeId,
    pub op: Op,
    pub invoke: SimTime,
    /// When it completed, or when its client crashed (status unknown);
    /// `None` if it was still pending when the run ended (status unknown).
    /// An unknown operation may take effect at any time after `invoke`.
    pub complete: Option<SimTime>,
    /// `None` while pending.
    pub status: Option<OpStatus>,
    /// Position of the invocation in the run's real-time order of
    /// invocations and completions. Times can tie (two events in the same
    /// nanosecond); these never do: `a` precedes `b` in real time exactly
    /// when `a.complete_seq < b.invoke_seq`.
    pub invoke_seq: u64,
    /// Position of the completion in the same order.
    pub complete_seq: Option<u64>,
    pub output: Output,
}

impl OpRecord {
    pub fn latency_ns(&self) -> Option<u64> {
        self.complete.map(|c| c.since(self.invoke))
    }
}

/// All operations of a run, in invocation order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub ops: Vec<OpRecord>,
    /// The next real-time sequence number.
    next_seq: u64,
}

impl History {
    pub fn invoke(&mut self, process: NodeId, op: Op, now: SimTime) -> OpId {
        let id = OpId(u32::try_from(self.ops.len()).expect("history longer than 2^32 operations"));
        let invoke_seq = self.next_seq;
        self.next_seq += 1;
        self.ops.push(OpRecord {
            id,
            process,
            op,
            invoke: now,
            complete: None,
            status: None,
            output: Output::Nothing,
            invoke_seq,
            complete_seq: None,
        });
        id
    }

    /// Records the completion of a pending operation. Completing an operation
    /// twice is a protocol bug and panics.
    pub fn complete(&mut self, id: OpId, status: OpStatus, output: Output, now: SimTime) {
        let rec = &mut self.ops[id.0 as usize];
        assert!(rec.status.is_none(), "operation {id:?} completed twice (first {:?})", rec.status);
        rec.status = Some(status);
        rec.complete = Some(now);
        rec.output = output;
        rec.complete_seq = Some(self.next_seq);
        self.next_seq += 1;
    }

    pub fn is_pending(&self, id: OpId) -> bool {
        self.ops.get(id.0 as usize).is_some_and(|r| r.status.is_none())
    }

    pub fn get(&self, id: OpId) -> &OpRecord {
        &self.ops[id.0 as usize]
    }

    /// Marks every pending operation unknown: at the end of a run nobody
    /// knows whether they took effect.
    pub fn close_pending(&mut self) {
        for rec in self.ops.iter_mut().filter(|r| r.status.is_none()) {
            rec.status = Some(OpStatus::Unknown);
        }
    }
}
