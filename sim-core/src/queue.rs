//! The event queue: events ordered by (time, insertion sequence), so events
//! at equal times run first-in first-out.
//!
//! Events live in a slab; the ordering structure holds small fixed-size
//! entries (time and slot, 16 bytes), so ordering never moves an event and
//! a steady-state run allocates nothing per event. A handle names a slot and
//! its generation; cancelling is O(1) (the slot is emptied and its entry
//! skipped when reached), and a stale handle to a reused slot cannot cancel
//! someone else's event.
//!
//! The ordering structure is a radix heap (Ahuja, Mehlhorn, Orlin and
//! Tarjan, "Faster algorithms for the shortest path problem", 1990), which
//! suits a simulation: time is an integer and never goes backwards. Entries
//! due no later than `last` form the *front run*, sorted by time; every
//! other entry is in the bucket `b` (1..=64) where its time first differs
//! from `last`, in bit `b - 1`, so bucket `b` holds earlier times than
//! bucket `b + 1`. Popping takes the front run from its head (kept at the
//! end of a reversed vector, so a push into the run shifts only the
//! entries due before it, usually a handful). When the run
//! is used up, the lowest non-empty bucket is taken: a small one (at most
//! `SORT_AT_MOST` entries) is sorted into the new run and `last` becomes
//! its latest time; a larger one yields its minimum as the new `last`, the
//! entries at that time become the run, and the rest move to lower buckets.
//! A queue of a few dozen events skips the buckets altogether (*small
//! mode*: every push goes into the run, which stays a short sorted array).
//! An entry only ever moves down, so a push and a pop cost O(1) amortised
//! plus a few moves (the bits the pending times span, about 21 for
//! millisecond delays in nanoseconds, less the bits a small sorted bucket
//! covers), in sequential memory, where a binary heap pays log2(pending)
//! scattered comparisons: some 20 cache misses per pop at a million pending
//! events.
//!
//! First-in first-out at equal times needs no sequence numbers: entries of
//! equal time always sit together (in the run, or in one bucket, which
//! depends only on the time and `last`), a bucket is appended to in push
//! order, moving a bucket down keeps its order, sorting is stable, and a
//! push into the run goes after the entries of equal time.
//!
//! Cancelling leaves the entry in place (finding it would cost a search);
//! once cancelled entries outnumber live ones, one sweep drops them all, so
//! a protocol that cancels most of its timeouts keeps a small queue.
//!
//! A push earlier than the last popped event's time is a programmer error
//! (the engine schedules nothing in the past) and panics. A push earlier
//! than `last` is otherwise fine (it goes into the run at its place).

use crate::time::SimTime;

/// Names a scheduled event so it can be cancelled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventId {
    slot: u32,
    generation: u32,
}

/// Aligned to 16 bytes, its size: shifting the run then moves each entry
/// with one load and one store instead of one per field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
struct Entry {
    time: u64,
    slot: u32,
}

/// A slot's state, apart from its event: bit 0 is set while the slot holds
/// a pending event, the other bits count the slot's uses (its generation,
/// wrapping). Kept in a dense array of its own, so checking whether an
/// entry is live touches 4 bytes, not the (often 100-byte) event.
#[derive(Copy, Clone)]
struct SlotState(u32);

impl SlotState {
    fn pending(self) -> bool {
        self.0 & 1 == 1
    }

    fn generation(self) -> u32 {
        self.0 >> 1
    }
}

/// One bucket per bit of a `u64` time.
const BUCKETS: usize = 64;

/// A bucket this small is sorted into the front run instead of being spread
/// over lower buckets: sorting a few entries is cheaper than moving each of
/// them down several times.
const SORT_AT_MOST: usize = 64;

/// `last` in *small mode*: every bucket is empty and every push goes into
/// the run, a sorted array short enough to shift through (at most
/// `SHIFT_INSERT_MAX` entries; one more push ends the mode). A queue of a
/// few events then never sorts or moves entries between buckets.
const SMALL: u64 = u64::MAX;

/// A front run at most this long takes a push by shifting entries one by
/// one; a longer one by a binary search and a block move.
const SHIFT_INSERT_MAX: usize = 32;

/// With fewer slots than this the slab stays in the cache, and
/// prefetching the slot of the event after next would only cost time.
const PREFETCH_MIN_SLOTS: usize = 1024;

/// Compact once dead entries outnumber live ones by this many, so a small
/// queue that cancels a little is not swept again and again.
const COMPACT_SLACK: usize = 64;

pub struct EventQueue<E> {
    /// `buckets[b - 1]` is bucket `b`.
    buckets: Vec<Vec<Entry>>,
    /// Bit `b - 1` is set when bucket `b` may be non-empty.
    occupied: u64,
    /// The front run: entries due no later than `last`, in reverse order
    /// of popping (the next entry is the last element). Reversed so that a
    /// push, usually due soon, shifts only the few entries due before it,
    /// not the far-future timers a run may also hold.
    run: Vec<Entry>,
    /// Every entry in a bucket is due later than this.
    last: u64,
    /// The time of the last event popped: nothing may be pushed earlier.
    floor: u64,
    /// The events, by slot; `None` once popped or cancelled.
    events: Vec<Option<E>>,
    states: Vec<SlotState>,
    free: Vec<u32>,
    live: usize,
    /// Entries of cancelled events still in the run or a bucket.
    dead: usize,
    /// The slot of the event `pop_time` removed last.
    popped: u32,
    /// The head of the run is known to be live (`settle` found it so, and
    /// nothing popped or cancelled since): the run loop peeks, then pops.
    settled: bool,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: 0,
            run: Vec::new(),
            last: SMALL,
            floor: 0,
            events: Vec::new(),
            states: Vec::new(),
            free: Vec::new(),
            live: 0,
            dead: 0,
            popped: 0,
            settled: false,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    ///
    /// Panics if `time` is earlier than the last popped event's time.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, event: E) -> EventId {
        let time = time.0;
        assert!(time >= self.floor, "event pushed at {time} ns, before the last popped event at {} ns", self.floor);
        let slot = match self.free.pop() {
            Some(s) => {
                let state = &mut self.states[s as usize];
                debug_assert!(!state.pending() && self.events[s as usize].is_none());
                *state = SlotState((state.generation().wrapping_add(1) << 1) | 1);
                self.events[s as usize] = Some(event);
                s
            }
            None => {
                let s = u32::try_from(self.events.len()).expect("more than 2^32 pending events");
                self.events.push(Some(event));
                self.states.push(SlotState(1));
                s
            }
        };
        // The entry's two fields go down separately and are stored where
        // the entry ends up: built here and copied whole (16-byte loads of
        // two narrower stores just made), it stalled on store forwarding.
        if time > self.last {
            self.file_in_bucket(time, slot);
        } else {
            self.file_in_run(time, slot);
        }
        self.live += 1;
        EventId { slot, generation: self.states[slot as usize].generation() }
    }

    /// Files an entry due after `last` in its bucket.
    #[inline]
    fn file_in_bucket(&mut self, time: u64, slot: u32) {
        debug_assert!(time > self.last);
        let b = (u64::BITS - (time ^ self.last).leading_zeros()) as usize;
        self.buckets[b - 1].push(Entry { time, slot });
        self.occupied |= 1 << (b - 1);
    }

    /// Puts an entry due no later than `last` into the run, after the
    /// entries of equal or earlier time.
    #[inline]
    fn file_in_run(&mut self, time: u64, slot: u32) {
        // Reversed order: the entries due later than `time` come first; the
        // new entry goes right after them, so it pops after every entry of
        // equal or earlier time.
        if self.run.len() <= SHIFT_INSERT_MAX {
            // A short run: shift the entries due no later than `time` up
            // one place from the end, as insertion sort does; cheaper than
            // a search and a call to move memory.
            self.run.push(Entry { time, slot });
            // Through a local slice and a counted loop: indexing `self.run`
            // made the compiler reload its length and check bounds at
            // every step.
            let run = self.run.as_mut_slice();
            let n = run.len();
            let mut at = n - 1;
            for j in (0..n - 1).rev() {
                let before = run[j];
                if before.time > time {
                    break;
                }
                run[j + 1] = before;
                at = j;
            }
            run[at] = Entry { time, slot };
        } else {
            let at = self.run.partition_point(|e| e.time > time);
            self.run.insert(at, Entry { time, slot });
        }
        if self.last == SMALL && self.run.len() > SHIFT_INSERT_MAX {
            self.leave_small_mode();
        }
    }

    /// The run grew too long to shift through: keep only the entries due
    /// first (those at the earliest time) and file the others in buckets,
    /// which are empty in small mode. `last` becomes that earliest time,
    /// not the latest: a far-future entry (a final heal, a long timer)
    /// would otherwise keep every later push in the run.
    #[cold]
    fn leave_small_mode(&mut self) {
        let soonest = self.run[self.run.len() - 1].time;
        self.last = soonest;
        let run = std::mem::take(&mut self.run);
        // In popping order (time, then push order), so each bucket is
        // appended to in push order.
        for &e in run.iter().rev() {
            if e.time == soonest {
                self.run.push(e);
            } else {
                self.file_in_bucket(e.time, e.slot);
            }
        }
        self.run.reverse();
    }

    /// Cancels a pending event; returns false if it already ran or was cancelled.
    pub fn cancel(&mut self, id: EventId) -> bool {
        match self.states.get_mut(id.slot as usize) {
            Some(state) if state.pending() && state.generation() == id.generation => {
                state.0 &= !1;
                // The event is dropped now; the slot is freed when its
                // entry is reached, so an entry never points at a slot that
                // was handed to another event.
                self.events[id.slot as usize] = None;
                self.live -= 1;
                self.dead += 1;
                self.settled = false;
                if self.dead > self.live + COMPACT_SLACK {
                    self.compact();
                }
                true
            }
            _ => false,
        }
    }

    /// Drops the entries of every cancelled event and frees their slots.
    ///
    /// Protocols cancel most of their timers (a request timeout is
    /// cancelled when the reply comes), and a cancelled entry otherwise
    /// stays until its time comes: seconds of simulated time, thousands of
    /// entries moved from bucket to bucket, slots that cannot be reused,
    /// and a front run that every near-term push has to shift. Called when
    /// dead entries outnumber live ones (plus a slack), so its O(entries)
    /// cost is paid for by as many cancels. Removing entries keeps the
    /// order of the others, so it changes no outcome.
    fn compact(&mut self) {
        let states = &self.states;
        let free = &mut self.free;
        let mut keep = |e: &Entry| {
            let live = states[e.slot as usize].pending();
            if !live {
                free.push(e.slot);
            }
            live
        };
        self.run.retain(&mut keep);
        let mut occupied = self.occupied;
        while occupied != 0 {
            let b = occupied.trailing_zeros() as usize;
            occupied &= occupied - 1;
            self.buckets[b].retain(&mut keep);
            if self.buckets[b].is_empty() {
                self.occupied &= !(1 << b);
            }
        }
        self.dead = 0;
        self.settled = false;
    }

    /// Leaves the earliest live event at the head of the run; returns false
    /// when no live event is pending. Entries of cancelled events met on the
    /// way are dropped and their slots freed.
    #[inline]
    fn settle(&mut self) -> bool {
        if self.settled {
            return true;
        }
        // The usual case, inline: the run's head is live.
        if let Some(next) = self.run.last()
            && self.states[next.slot as usize].pending()
        {
            self.settled = true;
            return true;
        }
        self.settled = self.refill();
        self.settled
    }

    #[cold]
    fn refill(&mut self) -> bool {
        loop {
            while let Some(next) = self.run.last() {
                let slot = next.slot;
                if self.states[slot as usize].pending() {
                    return true;
                }
                self.free.push(slot);
                self.dead -= 1;
                self.run.pop();
            }
            if self.occupied == 0 {
                self.last = SMALL;
                return false;
            }
            let b = self.occupied.trailing_zeros() as usize;
            self.occupied &= !(1 << b);
            // Entries move without looking at their slots (which would be
            // a cache miss each in a large queue): a cancelled event's entry
            // travels on and is dropped when it reaches the head of the run.
            let mut taken = std::mem::take(&mut self.buckets[b]);
            if taken.len() <= SORT_AT_MOST {
                // A small bucket becomes the run, sorted; the sort is
                // stable, so equal times (which share a bucket) keep their
                // order. Only this bucket: the next ones may hold far
                // later times, and a run reaching that far would take
                // every push until then. A bucket spans at most twice its
                // distance from the old `last`.
                taken.sort_by_key(|e| e.time);
                std::mem::swap(&mut self.run, &mut taken);
                self.last = if self.occupied == 0 && self.run.len() <= SHIFT_INSERT_MAX {
                    SMALL
                } else {
                    self.run.last().map_or(self.last, |e| e.time)
                };
                self.run.reverse();
            } else {
                self.last = taken.iter().map(|e| e.time).min().expect("a bucket marked occupied has entries");
                for &e in &taken {
                    if e.time == self.last {
                        self.run.push(e);
                    } else {
                        self.file_in_bucket(e.time, e.slot);
                    }
                }
                // Equal times in push order, reversed like the whole run.
                self.run.reverse();
            }
            // Keep the bucket's memory for its next fill.
            taken.clear();
            self.buckets[b] = taken;
        }
    }

    /// Removes the earliest live event from the order and returns its
    /// time, leaving the event itself in its slot for `take_popped`. The
    /// engine then moves it straight into its handler: returning a
    /// (time, event) pair cost one more copy of the event, and copies of a
    /// 100-byte enum made in pieces stall the reads that follow.
    #[inline(always)]
    pub(crate) fn pop_time(&mut self) -> Option<SimTime> {
        if !self.settle() {
            return None;
        }
        let entry = self.run.pop().expect("settle leaves a live event at the front");
        self.settled = false;
        self.states[entry.slot as usize].0 &= !1;
        if self.events.len() >= PREFETCH_MIN_SLOTS
            && let Some(after_next) = self.run.len().checked_sub(2).map(|i| self.run[i])
        {
            crate::prefetch::prefetch(&self.events[after_next.slot as usize]);
        }
        self.popped = entry.slot;
        self.live -= 1;
        self.floor = entry.time;
        Some(SimTime(entry.time))
    }

    /// The event `pop_time` just removed. Call it once after each
    /// `pop_time` that returned a time, before any other pop.
    #[inline(always)]
    pub(crate) fn take_popped(&mut self) -> E {
        let slot = self.popped;
        self.free.push(slot);
        self.events[slot as usize].take().expect("take_popped follows a successful pop_time")
    }

    /// Removes and returns the earliest live event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let time = self.pop_time()?;
        Some((time, self.take_popped()))
    }

    /// The event most likely to run next (the head of the front run), if it
    /// is already known and live, for prefetching what it will touch. A
    /// hint only: a push may still come before it.
    #[inline]
    pub fn next_event(&self) -> Option<&E> {
        let entry = self.run.last()?;
        self.events[entry.slot as usize].as_ref()
    }

    /// The time of the earliest live event. Entries of cancelled events at
    /// the front are discarded first: the run loop compares this time with
    /// its deadline and quiesce limits before popping, and a cancelled entry
    /// would let a later event slip past them.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.settle().then(|| SimTime(self.run[self.run.len() - 1].time))
    }

    /// Live (not cancelled) pending events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes one pending event takes in the queue: its entry, its slab slot
    /// and the slot's state.
    pub fn bytes_per_event() -> usize {
        std::mem::size_of::<Entry>() + std::mem::size_of::<Option<E>>() + std::mem::size_of::<SlotState>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), "b1");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "b2");
        q.push(SimTime(3), "c");
        q.push(SimTime(5), "b3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "c", "b1", "b2", "b3"]);
    }

    #[test]
    fn cancel_removes_only_the_named_event() {
        let mut q = EventQueue::new();
        let a = q.push(SimTime(1), 'a');
        let _b = q.push(SimTime(2), 'b');
        assert!(q.cancel(a));
        assert!(!q.cancel(a), "double cancel reports false");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((SimTime(2), 'b')));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn peek_skips_cancelled_events() {
        let mut q = EventQueue::new();
        let a = q.push(SimTime(1), 'a');
        q.push(SimTime(9), 'b');
        q.cancel(a);
        assert_eq!(q.peek_time(), Some(SimTime(9)));
        assert_eq!(q.pop(), Some((SimTime(9), 'b')));
        assert_eq!(q.peek_time(), None);
    }

    #[test]
    fn stale_handle_cannot_cancel_a_reused_slot() {
        let mut q = EventQueue::new();
        let a = q.push(SimTime(1), 1);
        assert_eq!(q.pop(), Some((SimTime(1), 1)));
        let _b = q.push(SimTime(2), 2); // reuses a's slot
        assert!(!q.cancel(a));
        assert_eq!(q.pop(), Some((SimTime(2), 2)));
    }

    /// The reference: a binary heap of (time, seq) keys, cancellation by a
    /// set of cancelled sequence numbers; what the queue must match.
    #[derive(Default)]
    struct Reference {
        heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64)>>,
        cancelled: std::collections::BTreeSet<u64>,
        done: std::collections::BTreeSet<u64>,
    }

    impl Reference {
        fn settle(&mut self) {
            while let Some(std::cmp::Reverse((_, seq))) = self.heap.peek() {
                if self.cancelled.contains(seq) {
                    self.heap.pop();
                } else {
                    break;
                }
            }
        }

        fn pop(&mut self) -> Option<(u64, u64)> {
            self.settle();
            let std::cmp::Reverse(key) = self.heap.pop()?;
            self.done.insert(key.1);
            Some(key)
        }

        fn peek(&mut self) -> Option<u64> {
            self.settle();
            self.heap.peek().map(|std::cmp::Reverse((t, _))| *t)
        }

        fn cancel(&mut self, seq: u64) -> bool {
            !self.done.contains(&seq) && self.cancelled.insert(seq)
        }
    }

    /// Random pushes (many at equal times, some far in the future, some
    /// right after a peek moved the queue's lower bound), pops, peeks and
    /// cancels, checked step by step against the reference.
    fn compare_with_reference(seed: u64, steps: usize, spread_ns: u64, burst: u64) {
        use crate::rng::{SimRng, Stream};
        let mut rng = SimRng::new(seed, Stream::Aux(0));
        let mut q = EventQueue::new();
        let mut r = Reference::default();
        let mut ids = Vec::new();
        let mut floor = 0u64;
        let mut live = 0usize;
        for _ in 0..steps {
            match rng.below(100) {
                0..=44 => {
                    for _ in 0..=rng.below(burst) {
                        let time = match rng.below(10) {
                            0 => (u64::MAX - rng.below(3)).max(floor),
                            1 => floor,
                            2 => floor.saturating_add(rng.below(4)),
                            _ => floor.saturating_add(rng.below(spread_ns)),
                        };
                        let seq = ids.len() as u64;
                        ids.push(q.push(SimTime(time), seq));
                        r.heap.push(std::cmp::Reverse((time, seq)));
                        live += 1;
                    }
                }
                45..=79 => {
                    let got = q.pop().map(|(t, e)| (t.0, e));
                    assert_eq!(got, r.pop(), "seed {seed}");
                    if let Some((t, _)) = got {
                        floor = t;
                        live -= 1;
                    }
                }
                80..=89 => assert_eq!(q.peek_time().map(|t| t.0), r.peek(), "seed {seed}"),
                _ => {
                    if !ids.is_empty() {
                        let seq = rng.below(ids.len() as u64);
                        let expected = r.cancel(seq);
                        assert_eq!(q.cancel(ids[seq as usize]), expected, "seed {seed}");
                        if expected {
                            live -= 1;
                        }
                    }
                }
            }
            assert_eq!(q.len(), live);
        }
        while let Some(key) = r.pop() {
            assert_eq!(q.pop().map(|(t, e)| (t.0, e)), Some(key));
        }
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    /// Entries held (live or dead) in the run and the buckets.
    fn stored_entries<E>(q: &EventQueue<E>) -> usize {
        q.run.len() + q.buckets.iter().map(Vec::len).sum::<usize>()
    }

    /// Like a protocol's request timeouts: most events are cancelled long
    /// before their time. The order must match the reference, and the
    /// entries held must stay within about twice the live events.
    #[test]
    fn cancelling_most_events_keeps_order_and_bounds_memory() {
        use crate::rng::{SimRng, Stream};
        for seed in 0..20 {
            let mut rng = SimRng::new(seed, Stream::Aux(1));
            let mut q = EventQueue::new();
            let mut r = Reference::default();
            let mut ids: Vec<(EventId, u64)> = Vec::new();
            let mut now = 0u64;
            for step in 0..20_000u64 {
                // A near-term message and a far timer, then the timer of an
                // earlier step is cancelled (as its reply came).
                let msg_at = now + 1 + rng.below(1_000);
                q.push(SimTime(msg_at), 2 * step);
                r.heap.push(std::cmp::Reverse((msg_at, 2 * step)));
                let timer_at = now + 1_000_000 + rng.below(1_000);
                ids.push((q.push(SimTime(timer_at), 2 * step + 1), 2 * step + 1));
                r.heap.push(std::cmp::Reverse((timer_at, 2 * step + 1)));
                if rng.below(10) < 9 {
                    let (id, seq) = ids.swap_remove(rng.below(ids.len() as u64) as usize);
                    assert_eq!(q.cancel(id), r.cancel(seq), "seed {seed}");
                }
                let got = q.pop().map(|(t, e)| (t.0, e));
                assert_eq!(got, r.pop(), "seed {seed} step {step}");
                now = got.map_or(now, |(t, _)| t);
                assert!(
                    stored_entries(&q) <= 2 * q.len() + COMPACT_SLACK + 2,
                    "seed {seed}: {} entries held for {} live events",
                    stored_entries(&q),
                    q.len()
                );
            }
            while let Some(key) = r.pop() {
                assert_eq!(q.pop().map(|(t, e)| (t.0, e)), Some(key), "seed {seed}");
            }
            assert_eq!(q.pop(), None);
        }
    }

    /// A far-future event (a final heal, a long timer) must not pull the
    /// front run out to its time: the run would then take every push and
    /// each push would shift thousands of entries.
    #[test]
    fn a_far_future_event_keeps_the_run_short() {
        use crate::rng::{SimRng, Stream};
        let mut rng = SimRng::new(7, Stream::Aux(2));
        let mut q = EventQueue::new();
        q.push(SimTime(1 << 40), u64::MAX);
        for i in 0..10 {
            q.push(SimTime(1 + rng.below(1_000_000)), i);
        }
        // A few events, then a burst grows the queue to 4,000 pending.
        let mut longest = 0;
        for i in 0..100_000 {
            let (t, _) = q.pop().expect("events pending");
            let fanout = if (1_000..5_000).contains(&i) { 2 } else { 1 };
            for _ in 0..fanout {
                q.push(SimTime(t.0 + 500_000 + rng.below(1_000_000)), i);
            }
            longest = longest.max(q.run.len());
        }
        assert!(q.len() > 4_000);
        assert!(longest <= 2 * SORT_AT_MOST, "the front run reached {longest} entries");
    }

    #[test]
    fn matches_a_binary_heap_on_random_operations() {
        for seed in 0..200 {
            compare_with_reference(seed, 2_000, 1 << 20, 1);
        }
    }

    #[test]
    fn matches_a_binary_heap_when_times_mostly_tie() {
        for seed in 0..200 {
            compare_with_reference(seed, 2_000, 3, 1);
        }
    }

    #[test]
    fn matches_a_binary_heap_on_times_spanning_every_bit() {
        for seed in 0..50 {
            compare_with_reference(seed, 5_000, u64::MAX, 1);
        }
    }

    /// Bursts of pushes fill buckets past `SORT_AT_MOST`, so buckets are
    /// spread over lower ones as well as sorted.
    #[test]
    fn matches_a_binary_heap_on_bursts() {
        for seed in 0..10 {
            compare_with_reference(seed, 1_000, 1 << 20, 200);
            compare_with_reference(seed, 1_000, 40, 200);
        }
    }

    #[test]
    fn equal_times_after_moves_keep_push_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(1000), 0);
        q.push(SimTime(40), 1);
        q.push(SimTime(1000), 2);
        assert_eq!(q.pop(), Some((SimTime(40), 1)));
        // 1000 now shares a bucket with the earlier entries at 1000.
        q.push(SimTime(1000), 3);
        q.push(SimTime(999), 4);
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, [4, 0, 2, 3]);
    }

    #[test]
    fn a_push_after_a_peek_may_come_before_the_peeked_event() {
        let mut q = EventQueue::new();
        q.push(SimTime(10), 'a');
        assert_eq!(q.pop(), Some((SimTime(10), 'a')));
        q.push(SimTime(500), 'c');
        q.push(SimTime(500), 'd');
        assert_eq!(q.peek_time(), Some(SimTime(500)));
        q.push(SimTime(20), 'b');
        q.push(SimTime(500), 'e');
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ['b', 'c', 'd', 'e']);
    }

    #[test]
    fn far_future_times_are_ordered() {
        let mut q = EventQueue::new();
        q.push(SimTime::MAX, 3);
        q.push(SimTime(u64::MAX - 1), 2);
        q.push(SimTime(0), 0);
        q.push(SimTime::MAX, 4);
        q.push(SimTime(1 << 63), 1);
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }

    #[test]
    #[should_panic(expected = "before the last popped event")]
    fn pushing_into_the_past_panics() {
        let mut q = EventQueue::new();
        q.push(SimTime(10), ());
        q.pop();
        q.push(SimTime(9), ());
    }
}
