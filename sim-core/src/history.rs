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

/// What a client asks for. Key-value stores use `get`/`put`; a DHT
/// `lookup`; transactional stores `transfer`, `multi_put`, `multi_get` and
/// `audit`; file systems `open`, `read`, `read_file`, `write`, `close`,
/// `stat` and `remove` (their key is the file). A protocol lists the kinds it serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Get,
    Put,
    /// Find the node responsible for a key (a DHT lookup): reads nothing,
    /// writes nothing; its result names the node.
    Lookup,
    /// Move `amount` from account `key` to account `to` (`OpArg::Transfer`),
    /// atomically.
    Transfer,
    /// Write one value to several keys (`key` and `OpArg::Keys`) atomically.
    MultiPut,
    /// Read several keys (`key` and `OpArg::Keys`) in one transaction;
    /// the output holds one value per key, in the order the op names them.
    MultiGet,
    /// Read every account's balance in one transaction (`Output::Numbers`,
    /// indexed by account).
    Audit,
    /// Open a file.
    Open,
    /// Read one block of an open file (`OpArg::Block`).
    Read,
    /// Read every block of an open file; the output holds one value per block.
    ReadFile,
    /// Write one block of an open file (`OpArg::Block`) with a new value.
    Write,
    /// Close a file (flushing what the client wrote).
    Close,
    /// Read a file's attributes (`Output::Numbers`: size in blocks, version).
    Stat,
    /// Remove (unlink) a file. Last in the enum so that adding it left
    /// every earlier discriminant, and so every trace hash, unchanged.
    Remove,
}

impl OpKind {
    pub const ALL: [OpKind; 14] = [
        OpKind::Get,
        OpKind::Put,
        OpKind::Lookup,
        OpKind::Transfer,
        OpKind::MultiPut,
        OpKind::MultiGet,
        OpKind::Audit,
        OpKind::Open,
        OpKind::Read,
        OpKind::ReadFile,
        OpKind::Write,
        OpKind::Close,
        OpKind::Stat,
        OpKind::Remove,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Lookup => "lookup",
            OpKind::Transfer => "transfer",
            OpKind::MultiPut => "multi_put",
            OpKind::MultiGet => "multi_get",
            OpKind::Audit => "audit",
            OpKind::Open => "open",
            OpKind::Read => "read",
            OpKind::ReadFile => "read_file",
            OpKind::Write => "write",
            OpKind::Close => "close",
            OpKind::Stat => "stat",
            OpKind::Remove => "remove",
        }
    }

    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the operation can change state (reads can be retried or
    /// failed freely; a timed-out write is `unknown`).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpKind::Put | OpKind::Transfer | OpKind::MultiPut | OpKind::Write | OpKind::Close | OpKind::Remove
        )
    }

    /// Whether the operation writes a fresh `Value`.
    pub fn carries_value(self) -> bool {
        matches!(self, OpKind::Put | OpKind::MultiPut | OpKind::Write)
    }

    /// Whether the operation names several keys (`OpArg::Keys`).
    pub fn is_multi_key(self) -> bool {
        matches!(self, OpKind::MultiPut | OpKind::MultiGet)
    }

    /// Whether the operation names a block of its file (`OpArg::Block`).
    pub fn names_block(self) -> bool {
        matches!(self, OpKind::Read | OpKind::Write)
    }
}

/// The most keys one multi-key operation names.
pub const MAX_KEYS_PER_OP: usize = 4;

/// What an operation needs beyond its kind, key and value. Small and `Copy`
/// so that key-value operations stay cheap to move.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OpArg {
    #[default]
    None,
    /// A transfer's destination account and amount.
    Transfer { to: Key, amount: u64 },
    /// The keys after `Op::key` of a multi-key operation: `more[..len]`.
    Keys { len: u8, more: [Key; MAX_KEYS_PER_OP - 1] },
    /// A block number within the file `Op::key`.
    Block(u32),
}

/// One operation as the workload issues it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    pub kind: OpKind,
    pub key: Key,
    /// The value written by a put, multi-put or block write.
    pub value: Option<Value>,
    pub arg: OpArg,
}

/// Hashes `arg` only when there is one, so that key-value operations hash
/// exactly as they did before operations had arguments: trace hashes of
/// existing scenarios stay the same.
impl std::hash::Hash for Op {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.key.hash(state);
        self.value.hash(state);
        if self.arg != OpArg::None {
            self.arg.hash(state);
        }
    }
}

impl Op {
    pub fn get(key: Key) -> Op {
        Op { kind: OpKind::Get, key, value: None, arg: OpArg::None }
    }

    pub fn put(key: Key, value: Value) -> Op {
        Op { kind: OpKind::Put, key, value: Some(value), arg: OpArg::None }
    }

    /// An operation of `kind` on `key` with nothing else.
    pub fn on(kind: OpKind, key: Key) -> Op {
        Op { kind, key, value: None, arg: OpArg::None }
    }

    /// A multi-key operation on `keys` (1 to `MAX_KEYS_PER_OP` of them).
    pub fn multi(kind: OpKind, keys: &[Key], value: Option<Value>) -> Op {
        assert!(!keys.is_empty() && keys.len() <= MAX_KEYS_PER_OP, "a multi-key op names 1 to 4 keys");
        let mut more = [0; MAX_KEYS_PER_OP - 1];
        more[..keys.len() - 1].copy_from_slice(&keys[1..]);
        Op { kind, key: keys[0], value, arg: OpArg::Keys { len: (keys.len() - 1) as u8, more } }
    }

    /// Every key the operation names, `key` first. An audit names only
    /// `key` here: it reads every account.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        let more: &[Key] = match &self.arg {
            OpArg::Keys { len, more } => &more[..*len as usize],
            _ => &[],
        };
        let to = match self.arg {
            OpArg::Transfer { to, .. } => Some(to),
            _ => None,
        };
        std::iter::once(self.key).chain(more.iter().copied()).chain(to)
    }
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
    /// Several values: concurrent versions (siblings) returned together,
    /// or one value per key of a multi-get or per block of a file read
    /// (id 0 where nothing was written).
    Values(Vec<Value>),
    /// Numbers: an audit's balances, a stat's attributes.
    Numbers(Vec<i64>),
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
    /// Operations invoked and not yet completed, so that `close_pending`
    /// need not read a million finished records when none is left.
    #[serde(skip)]
    open: usize,
}

impl History {
    /// An empty history with room for `ops` operations.
    pub fn with_capacity(ops: usize) -> History {
        History { ops: Vec::with_capacity(ops), ..History::default() }
    }

    pub fn invoke(&mut self, process: NodeId, op: Op, now: SimTime) -> OpId {
        let id = OpId(u32::try_from(self.ops.len()).expect("history longer than 2^32 operations"));
        let invoke_seq = self.next_seq;
        self.next_seq += 1;
        self.open += 1;
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
        self.open -= 1;
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
        if self.open == 0 {
            return;
        }
        for rec in self.ops.iter_mut().filter(|r| r.status.is_none()) {
            rec.status = Some(OpStatus::Unknown);
        }
        self.open = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: Key) -> Op {
        Op { kind: OpKind::Get, key, value: None, arg: OpArg::None }
    }

    /// Closing marks exactly the operations still pending unknown, whether
    /// none, some or all are, and leaves completed ones as they were.
    #[test]
    fn close_pending_marks_only_pending_operations_unknown() {
        let mut h = History::default();
        let (a, b, c) = (
            h.invoke(NodeId(0), get(1), SimTime(10)),
            h.invoke(NodeId(1), get(2), SimTime(11)),
            h.invoke(NodeId(2), get(3), SimTime(12)),
        );
        h.complete(b, OpStatus::Ok, Output::Nothing, SimTime(20));
        h.close_pending();
        let status = |h: &History, id: OpId| h.get(id).status;
        assert_eq!(status(&h, a), Some(OpStatus::Unknown));
        assert_eq!(status(&h, b), Some(OpStatus::Ok));
        assert_eq!(status(&h, c), Some(OpStatus::Unknown));
        assert_eq!(h.get(a).complete, None, "an unknown operation has no completion time");

        // Nothing pending: closing changes nothing.
        let mut done = History::default();
        let d = done.invoke(NodeId(0), get(1), SimTime(1));
        done.complete(d, OpStatus::Fail, Output::Nothing, SimTime(2));
        let before = done.ops.clone();
        done.close_pending();
        assert_eq!(done.ops, before);

        // An operation invoked after a close is closed by the next one.
        let e = h.invoke(NodeId(0), get(4), SimTime(30));
        h.close_pending();
        assert_eq!(status(&h, e), Some(OpStatus::Unknown));
    }
}
