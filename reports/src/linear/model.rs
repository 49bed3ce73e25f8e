//! Sequential specifications: what one object does when operations are
//! applied to it one at a time.
//!
//! A model is a pure function from (state, operation) to the next state, or
//! `None` when the operation, with what it observed, cannot happen in that
//! state. The checker keeps the states it has seen in a hash table, so a
//! state must be cheap to clone, hash and compare; values are interned ids.

use crate::ops::{COp, Call, CheckHistory, NIL, Ret, Status, Val};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential object that the checker can linearize operations against.
///
/// Protocols with their own semantics implement this and call
/// [`check`](super::check) directly; the three built-in models cover
/// registers, compare-and-set registers and key-value maps.
pub trait Model: Sync {
    type State: Clone + Eq + Hash + Debug + Send + Sync;

    /// The model's name in reports (`register`, `cas-register`, `kv`).
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `op` is applied to `state`, or `None` if `op` (with
    /// what it observed, `op.ret`, and its status) cannot happen in `state`.
    /// For an op of unknown outcome `ret` carries no information: step must
    /// not reject it for its observation.
    fn step(&self, state: &Self::State, op: &COp) -> Option<Self::State>;

    /// Whether the model supports this call at all. The checker rejects a
    /// history with an unsupported call up front, naming the operation.
    fn supports(&self, call: &Call) -> bool;

    /// The state in words, with value names, for counterexamples.
    fn describe(&self, state: &Self::State, h: &CheckHistory) -> String;

    /// Heap bytes a state owns beyond `size_of::<State>()`, for the memory
    /// budget. Models whose states own no heap memory keep the default.
    fn heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    // Optional hints that let the search prune. The defaults give none.
    // Each must hold exactly where a model provides it, or the checker may
    // report a violation that is not there.

    /// True if `op` never changes the state when it can happen (a read, a
    /// failed cas). The search then linearizes it as soon as it can,
    /// without trying other orders.
    fn is_observer(&self, _op: &COp) -> bool {
        false
    }

    /// True if `step` and every hint look only at an operation's call,
    /// observation (`ret`) and status, never at its id, process or times.
    /// Operations that agree on those are then interchangeable, and the
    /// search tries only one of them at each point.
    fn anonymous_ops(&self) -> bool {
        false
    }

    /// The object's contents as a sequence of values (a register's value, a
    /// list), if the model has that shape. A model that returns `Some` for
    /// its states promises: (1) when [`Model::needs`] gives `L` for an op,
    /// `step(s, op)` is `None` unless `contents(s) == L`; (2) every step
    /// leaves the contents alone, appends one value, or replaces them with
    /// at most one value; (3) a value other than `NIL` enters the contents
    /// only by a step of an operation that [`Model::produces`] it; (4) the
    /// initial contents hold no value other than `NIL`.
    ///
    /// Then, once a value with a single producer in a key has been
    /// produced, the contents can only grow until every operation that needs
    /// contents holding it has happened, and the search abandons an order
    /// as soon as it makes such an operation impossible.
    fn contents<'a>(&self, _state: &'a Self::State) -> Option<&'a [Val]> {
        None
    }

    /// The value `op` may put into the contents, if any.
    fn produces(&self, _op: &COp) -> Option<Val> {
        None
    }

    /// The exact contents `op` needs to happen at all, if any.
    fn needs<'a>(&self, _op: &'a COp) -> Option<&'a [Val]> {
        None
    }

    /// A canonical state that behaves exactly like `state` under every
    /// operation of the key, given that no operation observes or compares
    /// against a value `v` for which `unobserved(v)` holds (no read returns
    /// it, no cas expects it); `None` to keep `state`. Merging such states
    /// keeps the search from telling apart orders of operations whose values
    /// nobody reads. With [`Model::contents`], the canonical state's
    /// contents hold a value no operation needs (such as [`UNREAD`]).
    fn forget(&self, _state: &Self::State, _unobserved: &dyn Fn(Val) -> bool) -> Option<Self::State> {
        None
    }
}

/// A value no operation reads: what the built-in models turn a state into
/// when it holds such a value (every one behaves the same from then on).
pub const UNREAD: Val = Val::MAX;

fn value_text(v: Val, h: &CheckHistory) -> String {
    if v == UNREAD { "a value no operation reads".to_string() } else { h.value_name(v).to_string() }
}

fn forget_register(state: &Val, unobserved: &dyn Fn(Val) -> bool) -> Option<Val> {
    (*state != UNREAD && unobserved(*state)).then_some(UNREAD)
}

/// Reads and failed cas operations only observe.
fn observes_only(op: &COp) -> bool {
    op.call == Call::Read || (op.status == Status::Fail && matches!(op.call, Call::Cas { .. }))
}

/// The exact contents a definite read or successful cas needs.
fn needed_contents(op: &COp) -> Option<&[Val]> {
    if op.status != Status::Ok {
        return None;
    }
    let l = match (&op.call, &op.ret) {
        (Call::Read, Ret::Value(v)) | (Call::Cas { expected: v, .. }, _) => register_seq(v),
        (Call::Read, Ret::List(l)) => l.as_slice(),
        _ => return None,
    };
    (!l.is_empty()).then_some(l)
}

/// The value an operation may put into an object's contents.
fn produced_value(op: &COp) -> Option<Val> {
    let v = match op.call {
        Call::Write(v) | Call::Append(v) => v,
        Call::Cas { new, .. } if op.status != Status::Fail => new,
        _ => return None,
    };
    (v != NIL).then_some(v)
}

/// Whether a read's observation `ret` agrees with an object whose contents
/// are `seq` (empty: absent or nil; one element: a value; more: a list).
fn observes(seq: &[Val], ret: &Ret) -> bool {
    match ret {
        Ret::Nothing => true,
        Ret::Value(v) if *v == NIL => seq.is_empty(),
        Ret::Value(v) => seq == [*v],
        Ret::List(l) => seq == l.as_slice(),
        Ret::Siblings(vs) => single(seq).is_some_and(|v| vs.contains(&v)),
    }
}

/// The single value an object holds, as `cas` compares it: `NIL` when
/// absent, the value when it holds one, nothing when it holds a longer list.
fn single(seq: &[Val]) -> Option<Val> {
    match seq {
        [] => Some(NIL),
        [v] => Some(*v),
        _ => None,
    }
}

/// A compare-and-set on an object whose contents are `seq`: `Some(true)` if
/// it took effect, `Some(false)` if it was a no-op, `None` if impossible.
fn cas_outcome(seq: &[Val], expected: Val, status: Status) -> Option<bool> {
    let matches = single(seq) == Some(expected);
    match status {
        Status::Ok => matches.then_some(true),
        Status::Fail => (!matches).then_some(false),
        Status::Unknown => Some(matches),
    }
}

fn register_seq(v: &Val) -> &[Val] {
    if *v == NIL { &[] } else { std::slice::from_ref(v) }
}

fn register_step(state: &Val, op: &COp, cas: bool) -> Option<Val> {
    match op.call {
        Call::Read if op.status == Status::Unknown => Some(*state),
        Call::Read => observes(register_seq(state), &op.ret).then_some(*state),
        Call::Write(v) => Some(v),
        Call::Cas { expected, new } if cas => {
            let took = cas_outcome(register_seq(state), expected, op.status)?;
            Some(if took { new } else { *state })
        }
        _ => None,
    }
}

/// Implements `Model` for a register type; the two register models differ
/// only in their name and whether they accept `cas`.
macro_rules! register_model {
    ($model:ident, $name:literal, $cas:literal) => {
        impl Model for $model {
            type State = Val;

            fn name(&self) -> &'static str {
                $name
            }

            fn init(&self) -> Val {
                NIL
            }

            fn step(&self, state: &Val, op: &COp) -> Option<Val> {
                register_step(state, op, $cas)
            }

            fn supports(&self, call: &Call) -> bool {
                matches!(call, Call::Read | Call::Write(_)) || ($cas && matches!(call, Call::Cas { .. }))
            }

            fn describe(&self, state: &Val, h: &CheckHistory) -> String {
                value_text(*state, h)
            }

            fn forget(&self, state: &Val, unobserved: &dyn Fn(Val) -> bool) -> Option<Val> {
                forget_register(state, unobserved)
            }

            fn is_observer(&self, op: &COp) -> bool {
                observes_only(op)
            }

            fn anonymous_ops(&self) -> bool {
                true
            }

            fn contents<'a>(&self, state: &'a Val) -> Option<&'a [Val]> {
                Some(register_seq(state))
            }

            fn produces(&self, op: &COp) -> Option<Val> {
                produced_value(op)
            }

            fn needs<'a>(&self, op: &'a COp) -> Option<&'a [Val]> {
                needed_contents(op)
            }
        }
    };
}

/// A single register: read and write; the initial value is `nil`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

register_model!(Register, "register", false);

/// A register with compare-and-set. A `cas` that completed `ok` found the
/// expected value and wrote the new one; one that completed `fail` found a
/// different value and changed nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

register_model!(CasRegister, "cas-register", true);

/// The contents of one key of a key-value map.
///
/// Normalised so that equal contents are one state: `Value(NIL)` is
/// `Absent`, and a one-element list is a `Value` (they read the same and
/// behave the same under every later operation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvState {
    Absent,
    Value(Val),
    /// Two or more elements, oldest first.
    List(Vec<Val>),
}

impl KvState {
    fn seq(&self) -> &[Val] {
        match self {
            KvState::Absent => &[],
            KvState::Value(v) => std::slice::from_ref(v),
            KvState::List(l) => l,
        }
    }

    fn from_value(v: Val) -> KvState {
        if v == NIL { KvState::Absent } else { KvState::Value(v) }
    }

    fn appended(&self, x: Val) -> KvState {
        match self {
            KvState::Absent if x != NIL => KvState::Value(x),
            _ => {
                let mut l = Vec::with_capacity(self.seq().len() + 1);
                l.extend_from_slice(self.seq());
                l.push(x);
                KvState::List(l)
            }
        }
    }
}

/// One key of a key-value map (the checker splits the map by key): get
/// (read), put (write), append, delete and cas. An absent key reads as
/// `nil`; appending to a value makes a list `[value, x]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvMap;

impl Model for KvMap {
    type State = KvState;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> KvState {
        KvState::Absent
    }

    fn step(&self, state: &KvState, op: &COp) -> Option<KvState> {
        match op.call {
            Call::Read if op.status == Status::Unknown => Some(state.clone()),
            Call::Read => observes(state.seq(), &op.ret).then(|| state.clone()),
            Call::Write(v) => Some(KvState::from_value(v)),
            Call::Append(x) => Some(state.appended(x)),
            Call::Delete => Some(KvState::Absent),
            Call::Cas { expected, new } => {
                let took = cas_outcome(state.seq(), expected, op.status)?;
                Some(if took { KvState::from_value(new) } else { state.clone() })
            }
        }
    }

    fn supports(&self, _call: &Call) -> bool {
        true
    }

    fn describe(&self, state: &KvState, h: &CheckHistory) -> String {
        match state {
            KvState::Absent => "nil".to_string(),
            KvState::Value(v) => value_text(*v, h),
            KvState::List(l) => list_text(l, h),
        }
    }

    fn heap_bytes(&self, state: &KvState) -> usize {
        match state {
            KvState::List(l) => l.capacity() * std::mem::size_of::<Val>(),
            _ => 0,
        }
    }

    fn is_observer(&self, op: &COp) -> bool {
        observes_only(op)
    }

    fn anonymous_ops(&self) -> bool {
        true
    }

    fn contents<'a>(&self, state: &'a KvState) -> Option<&'a [Val]> {
        Some(state.seq())
    }

    /// Contents holding a value no operation reads can only be overwritten:
    /// every read and cas fails on them alike, until a put, delete or cas
    /// replaces them. Canonical states hold such a value only as
    /// `Value(UNREAD)`, so only the newest value needs checking.
    fn forget(&self, state: &KvState, unobserved: &dyn Fn(Val) -> bool) -> Option<KvState> {
        let poisoned = match state {
            KvState::Absent => false,
            KvState::Value(v) => *v != UNREAD && unobserved(*v),
            KvState::List(l) => l[0] == UNREAD || l.last().is_some_and(|&v| unobserved(v)),
        };
        poisoned.then_some(KvState::Value(UNREAD))
    }

    fn produces(&self, op: &COp) -> Option<Val> {
        produced_value(op)
    }

    fn needs<'a>(&self, op: &'a COp) -> Option<&'a [Val]> {
        needed_contents(op)
    }
}

/// A list of values by name, eliding the middle of long lists.
pub(crate) fn list_text(l: &[Val], h: &CheckHistory) -> String {
    const SHOWN: usize = 10;
    let names = |vs: &[Val]| vs.iter().map(|v| h.value_name(*v)).collect::<Vec<_>>().join(", ");
    if l.len() <= SHOWN {
        format!("[{}]", names(l))
    } else {
        format!("[{}, ... {} more ..., {}]", names(&l[..2]), l.len() - SHOWN, names(&l[l.len() - (SHOWN - 2)..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, ret: Ret, status: Status) -> COp {
        COp {
            id: 0,
            line: None,
            process: 0,
            key: None,
            call,
            ret,
            status,
            invoke: 0,
            complete: Some(1),
            invoke_ns: None,
            complete_ns: None,
        }
    }

    #[test]
    fn register_reads_and_writes() {
        let r = Register;
        assert_eq!(r.step(&NIL, &op(Call::Read, Ret::Value(NIL), Status::Ok)), Some(NIL));
        assert_eq!(r.step(&NIL, &op(Call::Read, Ret::Value(3), Status::Ok)), None);
        assert_eq!(r.step(&3, &op(Call::Read, Ret::Value(3), Status::Ok)), Some(3));
        assert_eq!(r.step(&3, &op(Call::Read, Ret::Siblings(vec![2, 3]), Status::Ok)), Some(3));
        assert_eq!(r.step(&3, &op(Call::Read, Ret::Siblings(vec![2]), Status::Ok)), None);
        assert_eq!(r.step(&3, &op(Call::Read, Ret::Value(9), Status::Unknown)), Some(3));
        assert_eq!(r.step(&3, &op(Call::Write(4), Ret::Nothing, Status::Ok)), Some(4));
        assert!(!r.supports(&Call::Cas { expected: 1, new: 2 }));
        assert!(!r.supports(&Call::Append(1)));
    }

    #[test]
    fn cas_register_outcomes() {
        let r = CasRegister;
        let cas = |status| op(Call::Cas { expected: 1, new: 2 }, Ret::Nothing, status);
        assert_eq!(r.step(&1, &cas(Status::Ok)), Some(2));
        assert_eq!(r.step(&3, &cas(Status::Ok)), None);
        assert_eq!(r.step(&1, &cas(Status::Fail)), None, "a failed cas saw a different value");
        assert_eq!(r.step(&3, &cas(Status::Fail)), Some(3));
        assert_eq!(r.step(&1, &cas(Status::Unknown)), Some(2));
        assert_eq!(r.step(&3, &cas(Status::Unknown)), Some(3));
        let from_nil = op(Call::Cas { expected: NIL, new: 5 }, Ret::Nothing, Status::Ok);
        assert_eq!(r.step(&NIL, &from_nil), Some(5));
    }

    #[test]
    fn kv_lists_values_and_absence() {
        let m = KvMap;
        let s = m.init();
        let s = m.step(&s, &op(Call::Append(1), Ret::Nothing, Status::Ok)).unwrap();
        assert_eq!(s, KvState::Value(1), "a one-element list is a value");
        assert!(m.step(&s, &op(Call::Read, Ret::Value(1), Status::Ok)).is_some());
        assert!(m.step(&s, &op(Call::Read, Ret::List(vec![1]), Status::Ok)).is_some());
        let s = m.step(&s, &op(Call::Append(2), Ret::Nothing, Status::Ok)).unwrap();
        assert_eq!(s, KvState::List(vec![1, 2]));
        assert!(m.step(&s, &op(Call::Read, Ret::List(vec![1, 2]), Status::Ok)).is_some());
        assert!(m.step(&s, &op(Call::Read, Ret::List(vec![2, 1]), Status::Ok)).is_none());
        assert!(m.step(&s, &op(Call::Read, Ret::Value(2), Status::Ok)).is_none());
        let cas = op(Call::Cas { expected: 1, new: 3 }, Ret::Nothing, Status::Ok);
        assert!(m.step(&s, &cas).is_none(), "a list is not a single value");
        let s = m.step(&s, &op(Call::Delete, Ret::Nothing, Status::Ok)).unwrap();
        assert_eq!(s, KvState::Absent);
        assert!(m.step(&s, &op(Call::Read, Ret::Value(NIL), Status::Ok)).is_some());
        assert!(m.step(&s, &op(Call::Read, Ret::List(vec![]), Status::Ok)).is_some());
        assert_eq!(m.step(&s, &op(Call::Write(NIL), Ret::Nothing, Status::Ok)), Some(KvState::Absent));
    }
}
