//! Versions of a key and how they are ordered: last-writer-wins timestamps
//! or vector clocks.
//!
//! A replica holds a key as a set of versions, sorted by value id. Under
//! last-writer-wins the set has at most one element: of two versions the
//! one with the larger timestamp survives. Under vector clocks it holds
//! every version no other version descends from (the siblings); a version
//! replaces exactly the versions its clock descends from.

use super::ring::mix;
use sim_core::{NodeId, Value};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A last-writer-wins timestamp: the coordinator's clock reading (with its
/// skew), ties broken by the coordinator's id.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub time_ns: u64,
    pub node: NodeId,
}

/// One actor's entry in a vector clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockEntry {
    pub counter: u64,
    /// When the actor last advanced this entry (its clock), for truncation.
    pub updated_ns: u64,
}

/// A vector clock: one counter per actor that wrote the key.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VClock(pub BTreeMap<NodeId, ClockEntry>);

impl VClock {
    pub fn counter(&self, actor: NodeId) -> u64 {
        self.0.get(&actor).map_or(0, |e| e.counter)
    }

    /// Whether `self` has seen everything `other` has (equal clocks too).
    pub fn descends(&self, other: &VClock) -> bool {
        other.0.iter().all(|(a, e)| self.counter(*a) >= e.counter)
    }

    /// The least clock that descends from both.
    pub fn merge(&mut self, other: &VClock) {
        for (a, e) in &other.0 {
            let mine = self.0.entry(*a).or_insert(*e);
            if e.counter > mine.counter || (e.counter == mine.counter && e.updated_ns > mine.updated_ns) {
                *mine = *e;
            }
        }
    }

    /// Advances `actor`'s entry to `counter` at `now_ns`.
    pub fn advance(&mut self, actor: NodeId, counter: u64, now_ns: u64) {
        assert!(counter > self.counter(actor), "a vector clock entry only moves forward");
        self.0.insert(actor, ClockEntry { counter, updated_ns: now_ns });
    }

    /// Drops the entries updated longest ago until at most `max` remain, as
    /// Dynamo does (§4.4). A truncated clock may make a version look
    /// concurrent with one it descends from: spurious siblings, never a
    /// lost version.
    pub fn truncate(&mut self, max: usize) {
        while self.0.len() > max {
            let oldest = self
                .0
                .iter()
                .min_by_key(|(a, e)| (e.updated_ns, **a))
                .map(|(a, _)| *a)
                .expect("a clock longer than max has entries");
            self.0.remove(&oldest);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What orders a version among the others of its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stamp {
    Lww(Timestamp),
    /// Boxed, so that a version (and every message carrying one inline)
    /// stays as small as a timestamp needs. A box hashes and compares as
    /// its contents.
    Clock(Box<VClock>),
}

/// Out of line and cold, so that `supersedes` inlines into the merge loop
/// without the formatting machinery of the panic.
#[cold]
#[inline(never)]
fn mixed_kinds(a: &Version, b: &Version) -> ! {
    panic!("a key holds versions of both kinds: {a:?} and {b:?}")
}

/// One version of a key: a value and what orders it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub value: Value,
    pub stamp: Stamp,
}

impl Version {
    /// Bytes on the wire: the value, plus 16 per timestamp or clock entry.
    #[inline]
    pub fn size_bytes(&self) -> u64 {
        let stamp = match &self.stamp {
            Stamp::Lww(_) => 16,
            Stamp::Clock(c) => 16 * c.len() as u64,
        };
        self.value.size_bytes.saturating_add(stamp)
    }

    /// Whether `self` makes `other` obsolete: a larger timestamp, or a clock
    /// that descends from `other`'s. A version never supersedes itself.
    #[inline]
    fn supersedes(&self, other: &Version) -> bool {
        match (&self.stamp, &other.stamp) {
            (Stamp::Lww(a), Stamp::Lww(b)) => a > b,
            (Stamp::Clock(a), Stamp::Clock(b)) => a.descends(b) && !b.descends(a),
            _ => mixed_kinds(self, other),
        }
    }
}

/// The versions of one key, sorted by value id: none of them supersedes
/// another.
///
/// One version is stored inline: under last-writer-wins a key never has
/// more, and under vector clocks rarely, so copying a key's versions into
/// a message, a reply or a disk record does not allocate. It hashes like a
/// `Vec` of the same versions (the length, then each version), so the
/// trace hash does not depend on the representation.
pub type Versions = SmallVec<[Version; 1]>;

/// A copy of `versions`. `Versions::clone` goes through `SmallVec`'s
/// generic collect and extend, which costs several times the copy of the
/// one inline version a key holds under last-writer-wins; every read reply,
/// write-back and store record makes such a copy. Inlined, so that the
/// copy is built where the caller puts it (a message, a record) rather
/// than returned through memory and copied again, which also stalls the
/// load of a value just stored in pieces.
#[inline]
pub fn copy_versions(versions: &[Version]) -> Versions {
    match versions {
        [one] => Versions::from_buf([one.clone()]),
        many => copy_many(many),
    }
}

fn copy_many(versions: &[Version]) -> Versions {
    versions.iter().cloned().collect()
}

/// Adds `incoming` to `held`, keeping only versions nothing supersedes.
/// Returns whether `held` changed. Merging is commutative, associative and
/// idempotent, so replicas that exchange versions in any order, any number
/// of times, end up equal.
///
/// Inlined for its shortcuts: one timestamped version into none or one,
/// every store and every reply merged under last-writer-wins. They give
/// what `merge_slow` gives for these shapes, without its retain, push and
/// sort, or the call.
#[inline]
pub fn merge_into(held: &mut Versions, incoming: &[Version]) -> bool {
    if let [v] = incoming {
        match held.as_mut_slice() {
            [] => {
                held.push(v.clone());
                return true;
            }
            [h] => {
                // Two timestamps: one comparison decides. Equal stamps
                // with different values are left to the loop.
                if let (Stamp::Lww(held_t), Stamp::Lww(new_t)) = (&mut h.stamp, &v.stamp) {
                    match new_t.cmp(held_t) {
                        Ordering::Greater => {
                            // The newer version, copied in place.
                            h.value = v.value;
                            *held_t = *new_t;
                            return true;
                        }
                        Ordering::Less => return false,
                        Ordering::Equal if h.value == v.value => return false,
                        Ordering::Equal => {}
                    }
                }
            }
            _ => {}
        }
    }
    merge_slow(held, incoming)
}

/// `merge_into` for every other shape.
fn merge_slow(held: &mut Versions, incoming: &[Version]) -> bool {
    // One clock into one: at most one comparison each way decides.
    if let ([v], [h]) = (incoming, held.as_mut_slice())
        && !matches!((&h.stamp, &v.stamp), (Stamp::Lww(_), Stamp::Lww(_)))
    {
        if *h == *v || h.supersedes(v) {
            return false;
        }
        if v.supersedes(h) {
            h.clone_from(v);
            return true;
        }
    }
    let mut changed = false;
    for v in incoming {
        if held.iter().any(|h| h == v || h.supersedes(v)) {
            continue;
        }
        held.retain(|h| !v.supersedes(h));
        // Two different values under one clock can only come from a clock
        // truncated to nothing new; keep both rather than lose either.
        held.push(v.clone());
        changed = true;
    }
    if changed && held.len() > 1 {
        held.sort();
    }
    changed
}

/// The merge of several replies.
pub fn merge_all<'a>(replies: impl IntoIterator<Item = &'a Versions>) -> Versions {
    let mut out = Versions::new();
    for r in replies {
        merge_into(&mut out, r);
    }
    out
}

/// The clock that supersedes every one of `versions` (a get's context).
pub fn context_of(versions: &[Version]) -> VClock {
    let mut ctx = VClock::default();
    for v in versions {
        if let Stamp::Clock(c) = &v.stamp {
            ctx.merge(c);
        }
    }
    ctx
}

/// A stable digest of a key's versions (Merkle leaves, handoff acks).
pub fn digest(versions: &[Version]) -> u64 {
    let mut h = mix(0, versions.len() as u64);
    for v in versions {
        h = mix(h, v.value.id);
        h = mix(h, v.value.size_bytes);
        match &v.stamp {
            Stamp::Lww(t) => {
                h = mix(h, t.time_ns);
                h = mix(h, u64::from(t.node.0));
            }
            Stamp::Clock(c) => {
                for (a, e) in &c.0 {
                    h = mix(h, u64::from(a.0));
                    h = mix(h, e.counter);
                }
            }
        }
    }
    h
}

/// Bytes on the wire of a list of versions. Inlined, with the one-version
/// case apart: the engine sizes every message sent.
#[inline]
pub fn versions_size_bytes(versions: &[Version]) -> u64 {
    match versions {
        [one] => one.size_bytes(),
        many => many.iter().fold(0u64, |acc, v| acc.saturating_add(v.size_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(id: u64) -> Value {
        Value { id, size_bytes: 10 }
    }

    fn lww(id: u64, t: u64) -> Version {
        Version { value: val(id), stamp: Stamp::Lww(Timestamp { time_ns: t, node: NodeId(0) }) }
    }

    fn vc(id: u64, entries: &[(u32, u64)]) -> Version {
        let mut c = VClock::default();
        for &(a, n) in entries {
            c.advance(NodeId(a), n, n);
        }
        Version { value: val(id), stamp: Stamp::Clock(Box::new(c)) }
    }

    #[test]
    fn lww_keeps_the_newest_in_any_order() {
        let (a, b, c) = (lww(1, 10), lww(2, 30), lww(3, 20));
        for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
            let mut held = Versions::new();
            for v in order {
                merge_into(&mut held, std::slice::from_ref(v));
            }
            assert_eq!(held.as_slice(), std::slice::from_ref(&b));
        }
        let mut held: Versions = smallvec::smallvec![b.clone()];
        assert!(!merge_into(&mut held, std::slice::from_ref(&a)), "an older version changes nothing");
    }

    #[test]
    fn vector_clocks_keep_concurrent_versions_as_siblings() {
        let base = vc(1, &[(0, 1)]);
        let left = vc(2, &[(0, 1), (1, 1)]);
        let right = vc(3, &[(0, 1), (2, 1)]);
        let mut held: Versions = smallvec::smallvec![base.clone()];
        assert!(merge_into(&mut held, std::slice::from_ref(&left)));
        assert!(merge_into(&mut held, std::slice::from_ref(&right)));
        assert_eq!(held.as_slice(), [left.clone(), right.clone()]);
        let mut ctx = context_of(&held);
        ctx.advance(NodeId(0), 2, 5);
        let resolved = Version { value: val(4), stamp: Stamp::Clock(Box::new(ctx)) };
        assert!(merge_into(&mut held, std::slice::from_ref(&resolved)));
        assert_eq!(held.as_slice(), [resolved]);
        assert!(!merge_into(&mut held, &[base]), "an ancestor changes nothing");
    }

    #[test]
    fn truncation_drops_the_entry_updated_longest_ago() {
        let mut c = VClock::default();
        c.advance(NodeId(5), 1, 300);
        c.advance(NodeId(1), 1, 100);
        c.advance(NodeId(2), 4, 200);
        c.truncate(2);
        assert_eq!(c.0.keys().copied().collect::<Vec<_>>(), [NodeId(2), NodeId(5)]);
    }
}
