//! The checkers' view of a history, independent of where it came from: a
//! dsim run, dsim's JSON-lines format, or a Jepsen EDN history.
//!
//! Keys, values and processes are interned to small integers so models can
//! hash and compare states cheaply; the tables keep their names for reports.
//! Real-time order is given by positions (`invoke`, `complete`) in one
//! sequence of invocations and completions: `a` precedes `b` exactly when
//! `a.complete < b.invoke`. An operation of unknown outcome has no
//! completion: it may take effect at any time after its invocation, or never.

use serde::Serialize;

/// An interned value. `NIL` stands for "nothing" (an absent key, Jepsen's nil).
pub type Val = u64;
pub const NIL: Val = 0;

/// What an operation asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Call {
    Read,
    Write(Val),
    Cas { expected: Val, new: Val },
    Append(Val),
    Delete,
}

impl Call {
    /// The function name, as in histories (`read`, `write`, `cas`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Call::Read => "read",
            Call::Write(_) => "write",
            Call::Cas { .. } => "cas",
            Call::Append(_) => "append",
            Call::Delete => "delete",
        }
    }
}

/// What an operation observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ret {
    /// Nothing observed: a write's acknowledgement, or an unknown outcome.
    Nothing,
    /// A read of one value (`NIL` for an absent key).
    Value(Val),
    /// A read of a list (append-style keys).
    List(Vec<Val>),
    /// A read that returned several concurrent versions (siblings).
    Siblings(Vec<Val>),
}

/// How an operation ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It happened, and `ret` is what it observed.
    Ok,
    /// It certainly did not happen. A failed `cas` is the exception that
    /// still observes something: its comparison did not match.
    Fail,
    /// It may or may not have happened, at any time after its invocation.
    Unknown,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct COp {
    /// Index in the source history (an op id, or the invoke's line number).
    pub id: usize,
    /// The 1-based line of the invocation in the file it was read from, if
    /// it was read from one (`history_io`); `None` for a run's history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Index into `CheckHistory::processes`.
    pub process: usize,
    /// Index into `CheckHistory::keys`; `None` for single-object histories.
    pub key: Option<usize>,
    pub call: Call,
    pub ret: Ret,
    pub status: Status,
    /// Position of the invocation in real-time order.
    pub invoke: u64,
    /// Position of the completion; `None` if the outcome is unknown.
    pub complete: Option<u64>,
    /// Times in nanoseconds, when the source has them (for reports).
    pub invoke_ns: Option<u64>,
    pub complete_ns: Option<u64>,
}

/// A history ready for checking.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckHistory {
    pub ops: Vec<COp>,
    /// Process names (`c1`, `0`, ...), by index.
    pub processes: Vec<String>,
    /// Key names, by index.
    pub keys: Vec<String>,
    /// Value names, by `Val`; `values[NIL]` is `"nil"`.
    pub values: Vec<String>,
}

impl CheckHistory {
    /// An empty history whose value table already holds `nil`.
    pub fn new() -> CheckHistory {
        CheckHistory { values: vec!["nil".into()], ..CheckHistory::default() }
    }

    pub fn value_name(&self, v: Val) -> &str {
        self.values.get(v as usize).map_or("?", String::as_str)
    }

    pub fn key_name(&self, k: Option<usize>) -> &str {
        k.and_then(|k| self.keys.get(k)).map_or("-", String::as_str)
    }

    /// How messages name an operation: `op 7`, with its invocation's line
    /// when it was read from a file (`op 7 (line 12)`).
    pub fn op_name(&self, op: &COp) -> String {
        match op.line {
            Some(l) if l != op.id => format!("op {} (line {l})", op.id),
            _ => format!("op {}", op.id),
        }
    }
}

/// Builds a name table: the same name always gets the same index, in order
/// of first appearance.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    names: Vec<String>,
    index: std::collections::BTreeMap<String, usize>,
}

impl Interner {
    /// A table whose first entry (index 0) is `first`, e.g. `nil` for values.
    pub fn starting_with(first: &str) -> Interner {
        let mut i = Interner::default();
        i.intern(first);
        i
    }

    pub fn intern(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// The index of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name at index `i` (`?` if there is none).
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    pub fn into_names(self) -> Vec<String> {
        self.names
    }
}
