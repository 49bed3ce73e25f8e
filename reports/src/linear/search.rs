//! The search for one object (one key): Lowe's just-in-time linearization
//! over a doubly linked list of call and return entries, with a cache of
//! visited (linearized set, state) configurations.

use super::model::{Model, UNREAD};
use crate::budget::Stopwatch;
use crate::ops::{COp, Call, CheckHistory, NIL, Ret, Status, Val};
use sim_core::trace::TraceHasher;
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};

/// "No entry" in the linked list and in cache chains.
const NONE: u32 = u32::MAX;
/// How often (in search iterations) the time and memory budgets are checked.
const BUDGET_CHECK_EVERY: u64 = 1024;
/// How many of the last linearized operations a counterexample keeps.
pub(crate) const PREFIX_TAIL: usize = 20;
/// How many operations a counterexample names as stuck, at most.
const STUCK_MAX: usize = 16;
/// How far the pending calls are scanned when recording a counterexample.
const PENDING_SCAN_MAX: usize = 256;

/// The budget one key's search runs under.
pub(crate) struct Limits<'a> {
    pub clock: &'a Stopwatch,
    pub time_ms: u64,
    /// The memory budget of this key's search (each key gets all of it).
    pub memory_bytes: u64,
    /// Set by whichever search runs out of time first; the others stop too.
    pub stop: &'a AtomicBool,
}

pub(crate) enum KeyVerdict {
    Pass,
    Fail,
    /// Undecided. `tripped` is true if this key ran out of budget itself,
    /// false if it stopped because another key used up the time.
    Unknown {
        reason: String,
        tripped: bool,
    },
}

/// The deepest point the search reached before it had to back up: the
/// prefix it had linearized, and the operations it could not continue with.
pub(crate) struct Snapshot<S> {
    pub prefix_len: usize,
    /// Indices into `CheckHistory::ops` of the last `PREFIX_TAIL` operations
    /// of the prefix, in linearization order.
    pub prefix_tail: Vec<usize>,
    pub state: S,
    /// Indices into `CheckHistory::ops`: first the operation whose
    /// completion forced the search back, then the calls pending with it.
    pub stuck: Vec<usize>,
    /// Whether more operations were pending than `stuck` lists.
    pub stuck_truncated: bool,
}

pub(crate) struct KeyOutcome<S> {
    pub verdict: KeyVerdict,
    /// Operations that took part in the search (after dropping failed ones).
    pub ops: usize,
    /// Distinct (linearized set, state) configurations visited.
    pub states: u64,
    /// Peak estimated bytes of the search's cache and stack.
    pub peak_bytes: u64,
    /// Set when the verdict is `Fail`.
    pub snapshot: Option<Snapshot<S>>,
}

/// The operations of one object, in the order the search indexes them:
/// operations with a completion ("definite") first, then those of unknown
/// outcome, each group by invocation.
struct Partition {
    ops: Vec<usize>,
    definite: usize,
}

/// Whether an operation may take effect or not (no completion to wait for).
fn is_unknown(op: &COp) -> bool {
    op.status == Status::Unknown || op.complete.is_none()
}

fn partition(h: &CheckHistory, indices: &[usize]) -> Partition {
    let mut definite = Vec::new();
    let mut unknown = Vec::new();
    for &i in indices {
        let op = &h.ops[i];
        // A failed operation certainly did not happen; a failed cas still
        // observed that the value differed from the expected one.
        if op.status == Status::Fail && !matches!(op.call, Call::Cas { .. }) {
            continue;
        }
        if is_unknown(op) {
            // A read that may not have happened observed nothing we can use.
            if op.call != Call::Read {
                unknown.push(i);
            }
        } else {
            let complete = op.complete.unwrap_or(u64::MAX);
            assert!(
                complete > op.invoke,
                "op {} completes (at {complete}) before it is invoked ({})",
                op.id,
                op.invoke
            );
            definite.push(i);
        }
    }
    definite.sort_by_key(|&i| (h.ops[i].invoke, i));
    unknown.sort_by_key(|&i| (h.ops[i].invoke, i));
    let n = definite.len();
    definite.extend(unknown);
    Partition { ops: definite, definite: n }
}

/// Zobrist key of the operation with search index `k`, for incremental
/// hashing of the linearized set.
fn zobrist(k: usize) -> u64 {
    let mut z = (k as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn state_hash<S: Hash>(s: &S) -> u64 {
    let mut hs = TraceHasher::default();
    s.hash(&mut hs);
    hs.finish()
}

/// The values of `Linearized`'s derived fields before a change, restored on undo.
#[derive(Clone, Copy)]
struct Marks {
    watermark: u32,
    hi_definite: u32,
    hi_unknown: u32,
}

/// The set of linearized operations, as two bitsets (definite, unknown),
/// with an incremental hash of the definite part.
///
/// Its canonical, compact form is what the cache stores: the watermark `w`
/// (every definite operation below `w` is linearized, `w` is not), the
/// definite words from `w` up to the highest linearized one, and the unknown
/// words up to the highest linearized one. A definite operation above `w`
/// can only be linearized if it was invoked before `w` returned, so the
/// definite window stays as narrow as the history's concurrency. Because
/// the search adds and removes operations in stack order, the highest
/// indices are restored from the stack instead of being searched for.
struct Linearized {
    definite: Vec<u64>,
    unknown: Vec<u64>,
    n_definite: usize,
    count_definite: usize,
    marks: Marks,
    zobrist: u64,
}

impl Linearized {
    fn new(n_definite: usize, n_unknown: usize) -> Linearized {
        Linearized {
            definite: vec![0; n_definite.div_ceil(64)],
            unknown: vec![0; n_unknown.div_ceil(64)],
            n_definite,
            count_definite: 0,
            marks: Marks { watermark: 0, hi_definite: 0, hi_unknown: 0 },
            zobrist: 0,
        }
    }

    fn has_definite(&self, k: usize) -> bool {
        self.definite[k / 64] & (1 << (k % 64)) != 0
    }

    fn has_unknown(&self, u: usize) -> bool {
        self.unknown[u / 64] & (1 << (u % 64)) != 0
    }

    /// Adds operation `k` (not yet in the set); returns the marks to undo it.
    fn add(&mut self, k: usize) -> Marks {
        let before = self.marks;
        if k < self.n_definite {
            self.zobrist ^= zobrist(k);
            debug_assert!(!self.has_definite(k));
            self.definite[k / 64] |= 1 << (k % 64);
            self.count_definite += 1;
            let m = &mut self.marks;
            m.hi_definite = m.hi_definite.max(k as u32 + 1);
            if k == m.watermark as usize {
                let mut w = k + 1;
                while w < self.n_definite && self.has_definite(w) {
                    w += 1;
                }
                self.marks.watermark = w as u32;
            }
        } else {
            let u = k - self.n_definite;
            debug_assert!(self.unknown[u / 64] & (1 << (u % 64)) == 0);
            self.unknown[u / 64] |= 1 << (u % 64);
            self.marks.hi_unknown = self.marks.hi_unknown.max(u as u32 + 1);
        }
        before
    }

    /// Removes operation `k`, the last one added, restoring `before`.
    fn remove(&mut self, k: usize, before: Marks) {
        if k < self.n_definite {
            self.zobrist ^= zobrist(k);
            self.definite[k / 64] &= !(1 << (k % 64));
            self.count_definite -= 1;
        } else {
            let u = k - self.n_definite;
            self.unknown[u / 64] &= !(1 << (u % 64));
        }
        self.marks = before;
    }

    fn definite_window(&self) -> &[u64] {
        let start = self.marks.watermark as usize / 64;
        let hi = self.marks.hi_definite as usize;
        let end = if hi > self.marks.watermark as usize { (hi - 1) / 64 + 1 } else { start };
        &self.definite[start..end]
    }

    fn unknown_words(&self) -> &[u64] {
        &self.unknown[..(self.marks.hi_unknown as usize).div_ceil(64)]
    }
}

struct CacheEntry<S> {
    state: S,
    /// Next entry with the same hash.
    next: u32,
    watermark: u32,
    /// Offset of this entry's words in `Cache::words`: the definite window,
    /// then the unknown words.
    start: usize,
    definite_len: u32,
    unknown_len: u32,
}

/// The visited configurations, grouped by (definite set, state).
///
/// A configuration with the same definite operations and state as a visited
/// one, and a superset of its unknown operations, is *subsumed*: unknown
/// operations are optional, so whatever order completes it also completes
/// the visited one, which was (or is being) explored. Only such
/// configurations are pruned; without the subsumption, each unknown
/// operation would double the configurations the search must refute.
///
/// Only membership is ever asked of the hash table (it maps a hash to the
/// first entry of a chain), never its iteration order, so the result cannot
/// depend on the hasher.
struct Cache<S> {
    #[allow(clippy::disallowed_types)]
    index: std::collections::HashMap<u64, u32, BuildHasherDefault<TraceHasher>>,
    entries: Vec<CacheEntry<S>>,
    words: Vec<u64>,
    heap_bytes: usize,
}

/// Whether every bit of `a` is set in `b` (missing words are zero).
fn is_subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().enumerate().all(|(i, &x)| x & !b.get(i).copied().unwrap_or(0) == 0)
}

impl<S: Eq + Clone> Cache<S> {
    #[allow(clippy::disallowed_types)]
    fn new() -> Cache<S> {
        Cache { index: std::collections::HashMap::default(), entries: Vec::new(), words: Vec::new(), heap_bytes: 0 }
    }

    /// Records the configuration (`lin`, `state`) under `hash` (of its
    /// definite set and state); false if a visited one subsumes it (or the
    /// cache is full, which the memory budget prevents).
    fn insert_if_new(&mut self, hash: u64, state: &S, lin: &Linearized, heap: usize) -> bool {
        let def = lin.definite_window();
        let unk = lin.unknown_words();
        let head = self.index.get(&hash).copied().unwrap_or(NONE);
        let mut cur = head;
        while cur != NONE {
            let e = &self.entries[cur as usize];
            let words = &self.words[e.start..e.start + e.definite_len as usize + e.unknown_len as usize];
            if e.watermark == lin.marks.watermark
                && e.definite_len as usize == def.len()
                && words[..def.len()] == *def
                && is_subset(&words[def.len()..], unk)
                && e.state == *state
            {
                return false;
            }
            cur = e.next;
        }
        let Ok(id) = u32::try_from(self.entries.len()) else { return false };
        if id == NONE {
            return false;
        }
        let start = self.words.len();
        self.words.extend_from_slice(def);
        self.words.extend_from_slice(unk);
        self.entries.push(CacheEntry {
            state: state.clone(),
            next: head,
            watermark: lin.marks.watermark,
            start,
            definite_len: def.len() as u32,
            unknown_len: unk.len() as u32,
        });
        self.index.insert(hash, id);
        self.heap_bytes += heap;
        true
    }

    fn bytes(&self) -> usize {
        self.entries.capacity() * size_of::<CacheEntry<S>>()
            + self.words.capacity() * size_of::<u64>()
            + self.index.capacity() * (size_of::<(u64, u32)>() + 1)
            + self.heap_bytes
    }
}

struct Frame<S> {
    /// Search index of the operation linearized at this depth.
    op: u32,
    /// The state before it.
    state: S,
    marks: Marks,
    /// The frontier of the configuration it was linearized from (its first
    /// return entry), to resume that configuration's scan.
    frontier: u32,
    /// An observer linearized as soon as it could be: its parent has no
    /// other child worth trying.
    forced: bool,
}

/// How many of the last values of an operation's needed contents serve as
/// anchors. The recent values are the ones pending operations can still
/// disturb; older ones are shared by every later reader.
const ANCHORS_PER_OP: usize = 8;

/// Readers that need the same neighbourhood around an anchor: the anchor at
/// `pos` in their needed contents, preceded by `prev` and followed by `next`.
struct Class {
    pos: usize,
    prev: Option<Val>,
    next: Option<Val>,
    /// Definite operations of this class not yet linearized.
    left: u32,
}

impl Class {
    /// Whether contents `c` (just after `anchor` was produced, or while it
    /// is held) can still grow into the contents this class needs.
    fn can_grow_into(&self, anchor: Val, c: &[Val]) -> bool {
        let i = self.pos;
        c.len() > i
            && c[i] == anchor
            && (i == 0 || Some(c[i - 1]) == self.prev)
            && (c.len() == i + 1 || self.next == Some(c[i + 1]))
    }
}

/// The dead-end detection that [`Model::contents`] enables.
///
/// An anchor is a value that exactly one operation of the key produces and
/// that some definite operation needs in the contents. Once it is produced
/// it can never be produced again, so the contents must keep it and only
/// grow until every operation needing it has happened: an order that
/// breaks this for an operation still to come is a dead end. After each
/// step the search checks the classes of the value that was last in the
/// contents and of the value just produced.
struct Anchors {
    /// Sorted anchor values.
    values: Vec<Val>,
    classes: Vec<Vec<Class>>,
    /// Per anchor: the operations (search indices) that need it.
    needers: Vec<Vec<u32>>,
    /// Per operation: its (anchor, class) memberships, in `member_list`
    /// from `member_start[k]` to `member_start[k + 1]`.
    member_start: Vec<u32>,
    member_list: Vec<(u32, u32)>,
}

impl Anchors {
    fn new<M: Model>(h: &CheckHistory, model: &M, p: &Partition) -> Anchors {
        let op = |k: usize| &h.ops[p.ops[k]];
        let mut producers: BTreeMap<Val, u32> = BTreeMap::new();
        for k in 0..p.ops.len() {
            if let Some(v) = model.produces(op(k)).filter(|&v| v != NIL) {
                *producers.entry(v).or_default() += 1;
            }
        }
        let mut index: BTreeMap<Val, usize> = BTreeMap::new();
        let mut a = Anchors {
            values: Vec::new(),
            classes: Vec::new(),
            needers: Vec::new(),
            member_start: Vec::with_capacity(p.ops.len() + 1),
            member_list: Vec::new(),
        };
        let mut slots: Vec<Val> = Vec::new();
        for k in 0..p.ops.len() {
            a.member_start.push(a.member_list.len() as u32);
            let Some(need) = model.needs(op(k)).filter(|_| k < p.definite) else { continue };
            for i in need.len().saturating_sub(ANCHORS_PER_OP)..need.len() {
                let v = need[i];
                if v == NIL || producers.get(&v) != Some(&1) {
                    continue;
                }
                let ai = *index.entry(v).or_insert_with(|| {
                    slots.push(v);
                    a.classes.push(Vec::new());
                    a.needers.push(Vec::new());
                    slots.len() - 1
                });
                let (prev, next) = (i.checked_sub(1).map(|j| need[j]), need.get(i + 1).copied());
                let classes = &mut a.classes[ai];
                let ci = match classes.iter().position(|c| c.pos == i && c.prev == prev && c.next == next) {
                    Some(ci) => ci,
                    None => {
                        classes.push(Class { pos: i, prev, next, left: 0 });
                        classes.len() - 1
                    }
                };
                classes[ci].left += 1;
                if a.needers[ai].last() != Some(&(k as u32)) {
                    a.needers[ai].push(k as u32);
                }
                a.member_list.push((ai as u32, ci as u32));
            }
        }
        a.member_start.push(a.member_list.len() as u32);
        // Sort the anchors by value, renumbering the memberships.
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_unstable_by_key(|&i| slots[i]);
        let mut rank = vec![0u32; slots.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        let mut classes: Vec<Option<Vec<Class>>> = a.classes.into_iter().map(Some).collect();
        let mut needers: Vec<Option<Vec<u32>>> = a.needers.into_iter().map(Some).collect();
        a.values = order.iter().map(|&i| slots[i]).collect();
        a.classes = order.iter().map(|&i| classes[i].take().expect("each once")).collect();
        a.needers = order.iter().map(|&i| needers[i].take().expect("each once")).collect();
        for m in &mut a.member_list {
            m.0 = rank[m.0 as usize];
        }
        a
    }

    fn memberships(&self, k: usize) -> &[(u32, u32)] {
        &self.member_list[self.member_start[k] as usize..self.member_start[k + 1] as usize]
    }

    /// Whether linearizing operation `k`, which took the contents from
    /// `before` to `after` and may have produced `produced`, leaves some
    /// operation still to come unable to ever happen.
    fn dooms(&self, before: &[Val], after: &[Val], produced: Option<Val>, k: usize) -> bool {
        let last = before.last().copied();
        for anchor in [last, produced.filter(|&p| Some(p) != last)].into_iter().flatten() {
            let Ok(ai) = self.values.binary_search(&anchor) else { continue };
            for (ci, c) in self.classes[ai].iter().enumerate() {
                let own = u32::from(self.memberships(k).contains(&(ai as u32, ci as u32)));
                if c.left > own && !c.can_grow_into(anchor, after) {
                    return true;
                }
            }
        }
        false
    }

    fn linearized(&mut self, k: usize) {
        for i in self.member_start[k]..self.member_start[k + 1] {
            let (ai, ci) = self.member_list[i as usize];
            self.classes[ai as usize][ci as usize].left -= 1;
        }
    }

    fn unlinearized(&mut self, k: usize) {
        for i in self.member_start[k]..self.member_start[k + 1] {
            let (ai, ci) = self.member_list[i as usize];
            self.classes[ai as usize][ci as usize].left += 1;
        }
    }

    /// The operations not yet linearized that need contents holding `v`.
    fn waiting_for(&self, v: Option<Val>, lin: &Linearized) -> Vec<usize> {
        let Some(ai) = v.and_then(|v| self.values.binary_search(&v).ok()) else { return Vec::new() };
        self.needers[ai].iter().map(|&k| k as usize).filter(|&k| !lin.has_definite(k)).collect()
    }

    fn bytes(&self) -> usize {
        self.values.len() * (size_of::<Val>() + 2 * size_of::<Vec<u32>>())
            + self.classes.iter().map(|c| c.len() * size_of::<Class>()).sum::<usize>()
            + self.needers.iter().map(|n| n.len() * size_of::<u32>()).sum::<usize>()
            + self.member_start.len() * size_of::<u32>()
            + self.member_list.len() * size_of::<(u32, u32)>()
    }
}

/// Operations that agree on call, observation and status, for models whose
/// steps look at nothing else ([`Model::anonymous_ops`]): such "twins" are
/// interchangeable, so of the pending twins only one is worth trying next.
/// For definite twins that is the one that must complete first (any order
/// that linearizes another twin now also works with the two swapped); for
/// unknown twins, the one invoked first.
struct Twins {
    /// Per search index: the twin class, or `NONE` for an operation with no twin.
    class: Vec<u32>,
    /// Per class: definite members by completion, or unknown ones by invocation.
    members: Vec<Vec<u32>>,
}

impl Twins {
    #[allow(clippy::disallowed_types)]
    fn new<M: Model>(h: &CheckHistory, model: &M, p: &Partition) -> Twins {
        let m = p.ops.len();
        let mut twins = Twins { class: vec![NONE; m], members: Vec::new() };
        if !model.anonymous_ops() {
            return twins;
        }
        // Looked up by key only, never iterated: class numbers follow the
        // operations' order.
        let mut ids: std::collections::HashMap<(bool, &Call, &Ret, Status), usize, BuildHasherDefault<TraceHasher>> =
            Default::default();
        let mut first: Vec<u32> = Vec::new();
        for k in 0..m {
            let op = &h.ops[p.ops[k]];
            let key = (k < p.definite, &op.call, &op.ret, op.status);
            let next = first.len();
            let id = *ids.entry(key).or_insert(next);
            if id == next {
                first.push(k as u32);
            } else {
                if twins.class[first[id] as usize] == NONE {
                    twins.class[first[id] as usize] = twins.members.len() as u32;
                    twins.members.push(vec![first[id]]);
                }
                let c = twins.class[first[id] as usize];
                twins.class[k] = c;
                twins.members[c as usize].push(k as u32);
            }
        }
        let completion = |k: u32| h.ops[p.ops[k as usize]].complete.unwrap_or(u64::MAX);
        for ms in &mut twins.members {
            if (ms[0] as usize) < p.definite {
                ms.sort_unstable_by_key(|&k| (completion(k), k));
            }
        }
        twins
    }

    /// Whether candidate `k` should wait for a pending twin: one invoked
    /// before `frontier_pos` that is not linearized and comes first.
    fn defer(&self, k: usize, lin: &Linearized, list: &Entries, frontier_pos: u64) -> bool {
        let c = self.class[k];
        if c == NONE {
            return false;
        }
        let ms = &self.members[c as usize];
        if k < list.definite {
            // Twins completing before the frontier are linearized already.
            let from = ms.partition_point(|&y| list.pos[list.m + y as usize] < frontier_pos);
            ms[from..]
                .iter()
                .map(|&y| y as usize)
                .take_while(|&y| y != k)
                .any(|y| !lin.has_definite(y) && list.pos[y] < frontier_pos)
        } else {
            ms.iter().map(|&y| y as usize).take_while(|&y| y != k).any(|y| !lin.has_unknown(y - list.definite))
        }
    }

    fn bytes(&self) -> usize {
        self.class.len() * size_of::<u32>() + self.members.iter().map(|v| v.len() * size_of::<u32>()).sum::<usize>()
    }
}

/// The call and return entries of one partition as two doubly linked lists
/// from which linearized calls (and their returns) are lifted and put back
/// in stack order ("dancing links"): the calls and returns of definite
/// operations in real-time order, and the calls of unknown operations by
/// invocation (an unknown operation never has to take effect, so it has no
/// return entry).
///
/// Entry `k` is the call of operation `k`, entry `m + k` the return of a
/// definite operation `k`; entries `2m` and `2m + 1` are the heads.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Real-time position of each entry (calls: invocation; returns: completion).
    pos: Vec<u64>,
    m: usize,
    definite: usize,
}

impl Entries {
    fn new(h: &CheckHistory, p: &Partition) -> Entries {
        let m = p.ops.len();
        let mut pos = vec![0; 2 * m];
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(m + p.definite);
        for (k, &i) in p.ops.iter().enumerate() {
            let op = &h.ops[i];
            pos[k] = op.invoke;
            if k < p.definite {
                let complete = op.complete.unwrap_or(u64::MAX);
                pos[m + k] = complete;
                // At equal positions a call sorts before a return: the two
                // operations are then concurrent, never ordered.
                events.push((op.invoke, 0, k as u32));
                events.push((complete, 1, k as u32));
            }
        }
        events.sort_unstable();
        let mut next = vec![NONE; 2 * m + 2];
        let mut prev = vec![NONE; 2 * m + 2];
        let mut link = |from: usize, to: usize| {
            next[from] = to as u32;
            prev[to] = from as u32;
        };
        let mut last = 2 * m;
        for (_, kind, k) in events {
            let e = if kind == 0 { k as usize } else { m + k as usize };
            link(last, e);
            last = e;
        }
        // Unknown operations are already sorted by invocation.
        let mut last = 2 * m + 1;
        for k in p.definite..m {
            link(last, k);
            last = k;
        }
        Entries { next, prev, pos, m, definite: p.definite }
    }

    fn first_definite(&self) -> u32 {
        self.next[2 * self.m]
    }

    fn first_unknown(&self) -> u32 {
        self.next[2 * self.m + 1]
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p as usize] = n;
        if n != NONE {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p as usize] = e as u32;
        if n != NONE {
            self.prev[n as usize] = e as u32;
        }
    }

    /// Removes operation `k`'s call and return.
    fn lift(&mut self, k: usize) {
        self.unlink(k);
        if k < self.definite {
            self.unlink(self.m + k);
        }
    }

    /// Puts back what `lift(k)` removed, in reverse order.
    fn unlift(&mut self, k: usize) {
        if k < self.definite {
            self.relink(self.m + k);
        }
        self.relink(k);
    }
}

/// Where the scan of candidate next operations stands.
#[derive(Clone, Copy)]
enum Scan {
    /// A configuration just entered: look for an observer that can be
    /// linearized now.
    Observers,
    /// Walking the definite list; the entry is a call or the first return.
    Definite(u32),
    /// The definite calls before the frontier (the first return) are all
    /// tried; walking the unknown calls invoked before it.
    Unknown(u32),
    /// Nothing (more) to try here: back up.
    Back,
}

/// Checks one object's operations `indices` (into `h.ops`) against `model`.
///
/// At each configuration the search first looks for a pending observer (a
/// read) that can be linearized: doing so first never hurts (it leaves the
/// state as it is, and every operation that had to precede it already did),
/// so it is the only child tried. Otherwise the candidates are the pending
/// calls: the definite calls before the first return, tried first, then
/// the unknown calls invoked before that return. Trying definite calls
/// first means a configuration is usually reached first with as few
/// unknown operations as possible, so the subsumption check prunes the
/// others.
pub(crate) fn search<M: Model>(
    h: &CheckHistory,
    model: &M,
    indices: &[usize],
    key: &str,
    limits: &Limits,
) -> KeyOutcome<M::State> {
    let p = partition(h, indices);
    let m = p.ops.len();
    let d = p.definite;
    let mut out = KeyOutcome { verdict: KeyVerdict::Pass, ops: m, states: 0, peak_bytes: 0, snapshot: None };
    if d == 0 {
        return out;
    }
    if m >= (NONE / 2 - 1) as usize {
        let reason = format!("key {key} has {m} operations, more than this checker can index");
        out.verdict = KeyVerdict::Unknown { reason, tripped: true };
        return out;
    }
    let op = |k: usize| &h.ops[p.ops[k]];
    let observer: Vec<bool> = (0..d).map(|k| model.is_observer(op(k))).collect();
    let mut anchors = Anchors::new(h, model, &p);
    let twins = Twins::new(h, model, &p);
    let observed = observed_values(h, &p);
    // A history that itself uses the sentinel value cannot merge states.
    let merge = !p.ops.iter().any(|&i| mentions(&h.ops[i], UNREAD));
    let unobserved = |v: Val| merge && v != NIL && observed.binary_search(&v).is_err();
    let mut list = Entries::new(h, &p);
    let mut lin = Linearized::new(d, m - d);
    let mut cache: Cache<M::State> = Cache::new();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut state = model.init();
    let mut scan = Scan::Observers;
    // The current configuration's first return entry, once known.
    let mut frontier = NONE;
    let mut iterations: u64 = 0;
    let fixed_bytes = anchors.bytes()
        + twins.bytes()
        + observed.len() * size_of::<Val>()
        + (list.next.len() + list.prev.len()) * size_of::<u32>()
        + (list.pos.len() + lin.definite.len() + lin.unknown.len()) * size_of::<u64>();
    loop {
        if lin.count_definite == d {
            out.peak_bytes = out.peak_bytes.max((fixed_bytes + cache.bytes()) as u64);
            return out;
        }
        iterations += 1;
        if iterations.is_multiple_of(BUDGET_CHECK_EVERY) {
            let bytes = (fixed_bytes + cache.bytes() + stack.capacity() * size_of::<Frame<M::State>>()) as u64;
            out.peak_bytes = out.peak_bytes.max(bytes);
            if let Some((reason, tripped)) = over_budget(limits, bytes, key, out.states) {
                out.verdict = KeyVerdict::Unknown { reason, tripped };
                return out;
            }
        }
        // The candidate to try next, and whether it is a forced observer.
        let (k, forced) = match scan {
            Scan::Observers => {
                let mut e = list.first_definite();
                let mut found = None;
                while e != NONE && (e as usize) < m {
                    let k = e as usize;
                    if observer[k] && model.step(&state, op(k)).is_some() {
                        found = Some(k);
                        break;
                    }
                    e = list.next[k];
                }
                match found {
                    Some(k) => (k, true),
                    None => {
                        frontier = e;
                        scan = Scan::Definite(list.first_definite());
                        continue;
                    }
                }
            }
            Scan::Definite(e) => {
                // Some definite operation is not linearized, and its return
                // follows its call, so the walk meets a return first.
                assert!(e != NONE, "scan ran off the list with {} of {d} definite ops linearized", lin.count_definite);
                let k = e as usize;
                if k >= m {
                    debug_assert_eq!(e, frontier);
                    scan = Scan::Unknown(list.first_unknown());
                    continue;
                }
                // An observer is not linearizable here, or it would have been
                // forced.
                if observer[k] || twins.defer(k, &lin, &list, list.pos[frontier as usize]) {
                    scan = Scan::Definite(list.next[k]);
                    continue;
                }
                (k, false)
            }
            Scan::Unknown(u) => {
                if u != NONE && list.pos[u as usize] < list.pos[frontier as usize] {
                    if twins.defer(u as usize, &lin, &list, list.pos[frontier as usize]) {
                        scan = Scan::Unknown(list.next[u as usize]);
                        continue;
                    }
                    (u as usize, false)
                } else {
                    // Every candidate is tried: the operation of the frontier
                    // return had to be linearized by now.
                    if out.snapshot.as_ref().is_none_or(|s| stack.len() > s.prefix_len) {
                        let last = model.contents(&state).and_then(|c| c.last().copied());
                        let waiting = anchors.waiting_for(last, &lin);
                        out.snapshot = Some(snapshot(&list, &p, &stack, &state, frontier as usize, &waiting));
                    }
                    scan = Scan::Back;
                    continue;
                }
            }
            Scan::Back => {
                let Some(frame) = stack.pop() else {
                    out.verdict = KeyVerdict::Fail;
                    out.peak_bytes = out.peak_bytes.max((fixed_bytes + cache.bytes()) as u64);
                    return out;
                };
                let k = frame.op as usize;
                lin.remove(k, frame.marks);
                anchors.unlinearized(k);
                state = frame.state;
                list.unlift(k);
                frontier = frame.frontier;
                scan = if frame.forced {
                    Scan::Back
                } else if k < d {
                    Scan::Definite(list.next[k])
                } else {
                    Scan::Unknown(list.next[k])
                };
                continue;
            }
        };
        // Try to linearize operation `k` now.
        if let Some(next_state) = model.step(&state, op(k)).map(|s| model.forget(&s, &unobserved).unwrap_or(s))
            && !doomed(model, &anchors, &state, &next_state, op(k), k)
        {
            let marks = lin.add(k);
            let hash = lin.zobrist ^ state_hash(&next_state);
            if cache.insert_if_new(hash, &next_state, &lin, model.heap_bytes(&next_state)) {
                out.states += 1;
                let before = std::mem::replace(&mut state, next_state);
                stack.push(Frame { op: k as u32, state: before, marks, frontier, forced });
                anchors.linearized(k);
                list.lift(k);
                scan = Scan::Observers;
                continue;
            }
            lin.remove(k, marks);
        }
        scan = match scan {
            // A forced observer that leads nowhere new: neither does this
            // configuration.
            Scan::Observers => Scan::Back,
            Scan::Unknown(_) => Scan::Unknown(list.next[k]),
            _ => Scan::Definite(list.next[k]),
        };
    }
}

/// Whether `op` writes, expects or observes `v`.
fn mentions(op: &COp, v: Val) -> bool {
    let in_call = match op.call {
        Call::Read | Call::Delete => false,
        Call::Write(x) | Call::Append(x) => x == v,
        Call::Cas { expected, new } => expected == v || new == v,
    };
    in_call
        || match &op.ret {
            Ret::Nothing => false,
            Ret::Value(x) => *x == v,
            Ret::List(l) | Ret::Siblings(l) => l.contains(&v),
        }
}

/// The values the key's operations observe or compare against, sorted.
fn observed_values(h: &CheckHistory, p: &Partition) -> Vec<Val> {
    let mut vs = Vec::new();
    for &i in &p.ops {
        let op = &h.ops[i];
        if let Call::Cas { expected, .. } = op.call {
            vs.push(expected);
        }
        match &op.ret {
            Ret::Nothing => {}
            Ret::Value(v) => vs.push(*v),
            Ret::List(l) | Ret::Siblings(l) => vs.extend_from_slice(l),
        }
    }
    vs.sort_unstable();
    vs.dedup();
    vs
}

/// Whether linearizing operation `k` (`op`) from `state` to `next` makes
/// some operation still to come impossible (see [`Anchors`]).
fn doomed<M: Model>(model: &M, anchors: &Anchors, state: &M::State, next: &M::State, op: &COp, k: usize) -> bool {
    if anchors.values.is_empty() {
        return false;
    }
    match (model.contents(state), model.contents(next)) {
        (Some(before), Some(after)) => anchors.dooms(before, after, model.produces(op), k),
        _ => false,
    }
}

fn over_budget(limits: &Limits, bytes: u64, key: &str, states: u64) -> Option<(String, bool)> {
    if limits.stop.load(Ordering::Relaxed) {
        let reason = format!("time budget of {} ms ran out while other keys were checked", limits.time_ms);
        return Some((reason, false));
    }
    if limits.clock.elapsed_ms() > limits.time_ms {
        limits.stop.store(true, Ordering::Relaxed);
        let reason = format!("time budget of {} ms exceeded on key {key} after {states} states", limits.time_ms);
        return Some((reason, true));
    }
    if bytes > limits.memory_bytes {
        let reason = format!(
            "memory budget of {} bytes for key {key} exceeded after {states} states ({bytes} bytes of search cache)",
            limits.memory_bytes
        );
        return Some((reason, true));
    }
    None
}

/// Records where the search stands when the return entry `frontier` is
/// reached with nothing left to try at this depth. `waiting` are the
/// operations that need the value the state shows (overwriting it would
/// strand them).
fn snapshot<S: Clone>(
    list: &Entries,
    p: &Partition,
    stack: &[Frame<S>],
    state: &S,
    frontier: usize,
    waiting: &[usize],
) -> Snapshot<S> {
    let forcing = frontier - list.m;
    let tail_from = stack.len().saturating_sub(PREFIX_TAIL);
    let prefix_tail = stack[tail_from..].iter().map(|f| p.ops[f.op as usize]).collect();
    let mut stuck = vec![p.ops[forcing]];
    stuck.extend(waiting.iter().filter(|&&k| k != forcing).map(|&k| p.ops[k]));
    let mut truncated = false;
    // Every definite entry before the first return is a pending call; the
    // unknown calls invoked before it are pending too.
    let mut scanned = 0;
    let mut e = list.first_definite();
    while e != NONE && (e as usize) < list.m {
        let k = e as usize;
        if k != forcing && !waiting.contains(&k) {
            stuck.push(p.ops[k]);
        }
        scanned += 1;
        e = list.next[e as usize];
        if scanned == PENDING_SCAN_MAX {
            truncated = e != NONE && (e as usize) < list.m;
            break;
        }
    }
    let mut u = list.first_unknown();
    while !truncated && u != NONE && list.pos[u as usize] < list.pos[frontier] {
        if scanned == PENDING_SCAN_MAX {
            truncated = true;
            break;
        }
        stuck.push(p.ops[u as usize]);
        scanned += 1;
        u = list.next[u as usize];
    }
    if stuck.len() > STUCK_MAX {
        stuck.truncate(STUCK_MAX);
        truncated = true;
    }
    Snapshot { prefix_len: stack.len(), prefix_tail, state: state.clone(), stuck, stuck_truncated: truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linearized_set_has_a_canonical_form_whatever_the_order() {
        let mut a = Linearized::new(200, 70);
        let mut b = Linearized::new(200, 70);
        for k in [0, 1, 2, 5, 130, 3, 4, 210, 269] {
            a.add(k);
        }
        for k in [269, 130, 5, 4, 3, 2, 1, 0, 210] {
            b.add(k);
        }
        assert_eq!(a.marks.watermark, 6);
        assert_eq!(b.marks.watermark, 6);
        assert_eq!(a.definite_window(), b.definite_window());
        assert_eq!(a.definite_window().len(), 3, "words 0..=2 (ops 6..=130)");
        assert_eq!(a.unknown_words(), b.unknown_words());
        assert_eq!(a.zobrist, b.zobrist);
    }

    #[test]
    fn a_class_checks_the_anchor_and_its_neighbours() {
        let c = Class { pos: 1, prev: Some(1), next: Some(3), left: 1 };
        assert!(c.can_grow_into(2, &[1, 2]));
        assert!(c.can_grow_into(2, &[1, 2, 3]));
        assert!(!c.can_grow_into(2, &[1, 2, 4]), "the next value differs");
        assert!(!c.can_grow_into(2, &[5, 2]), "the previous value differs");
        assert!(!c.can_grow_into(2, &[2]), "at the wrong position");
        let last = Class { pos: 0, prev: None, next: None, left: 1 };
        assert!(last.can_grow_into(7, &[7]));
        assert!(!last.can_grow_into(7, &[7, 8]), "a read of exactly [7] is stranded");
    }

    fn cop(id: usize, call: Call, invoke: u64, complete: Option<u64>) -> COp {
        let status = if complete.is_some() { Status::Ok } else { Status::Unknown };
        COp {
            id,
            line: None,
            process: id,
            key: None,
            call,
            ret: Ret::Nothing,
            status,
            invoke,
            complete,
            invoke_ns: None,
            complete_ns: None,
        }
    }

    #[test]
    fn only_the_twin_that_completes_first_is_tried() {
        let mut h = CheckHistory::new();
        // Three concurrent deletes (ops 0-2), a write, two unknown deletes.
        h.ops = vec![
            cop(0, Call::Delete, 0, Some(9)),
            cop(1, Call::Delete, 1, Some(6)),
            cop(2, Call::Delete, 2, Some(8)),
            cop(3, Call::Write(1), 3, Some(7)),
            cop(4, Call::Delete, 4, None),
            cop(5, Call::Delete, 5, None),
        ];
        let p = partition(&h, &[0, 1, 2, 3, 4, 5]);
        let twins = Twins::new(&h, &super::super::KvMap, &p);
        let list = Entries::new(&h, &p);
        let mut lin = Linearized::new(p.definite, p.ops.len() - p.definite);
        let frontier_pos = 6;
        let deferred =
            |lin: &Linearized| (0..6).filter(|&k| twins.defer(k, lin, &list, frontier_pos)).collect::<Vec<_>>();
        // Op 1 completes first; op 3 has no twin; op 4 is the first unknown delete.
        assert_eq!(deferred(&lin), vec![0, 2, 5]);
        lin.add(1);
        assert_eq!(deferred(&lin), vec![0, 5], "then op 2, which completes before op 0");
        lin.add(4);
        assert_eq!(deferred(&lin), vec![0]);
        assert_eq!(twins.class[3], NONE);
    }

    #[test]
    fn add_then_remove_restores_everything() {
        let mut a = Linearized::new(100, 10);
        a.add(0);
        a.add(2);
        let (w, z) = (a.marks.watermark, a.zobrist);
        let window = a.definite_window().to_vec();
        let m = a.add(1);
        assert_eq!(a.marks.watermark, 3);
        a.remove(1, m);
        assert_eq!((a.marks.watermark, a.zobrist), (w, z));
        assert_eq!(a.definite_window(), window.as_slice());
        let m = a.add(105);
        a.remove(105, m);
        assert!(a.unknown_words().is_empty());
    }
}
