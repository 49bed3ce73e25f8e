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
//! suits a simulation: time is an integer and never goes backwards. `last`
//! is a lower bound of every pending time; bucket 0 holds the entries whose
//! time equals `last`, and bucket `b` (1..=64) those whose time first
//! differs from `last` in bit `b - 1`. Popping takes bucket 0 from the front;
//! when it is empty, the lowest non-empty bucket's minimum becomes `last`
//! and that bucket's entries move to lower buckets. An entry only ever moves
//! down, so a push and a pop cost O(1) amortised plus the number of bits
//! the pending times span (about 21 for millisecond delays in nanoseconds),
//! in sequential memory, where a binary heap pays log2(pending) scattered
//! comparisons: 20 cache misses per pop at a million pending events.
//!
//! First-in first-out at equal times needs no sequence numbers: entries of
//! equal time always share a bucket (the bucket depends only on the time
//! and `last`), a bucket is appended to in push order, and moving a bucket
//! down keeps its order, so equal times stay in push order.
//!
//! A push earlier than the last popped event's time is a programmer error
//! (the engine schedules nothing in the past) and panics. A push earlier
//! than `last` but not earlier than the last pop (possible after
//! `peek_time`) is allowed: the buckets are rebuilt around it, in O(n).

use crate::time::SimTime;

/// Names a scheduled event so it can be cancelled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventId {
    slot: u32,
    generation: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Entry {
    time: u64,
    slot: u32,
}

struct Slot<E> {
    generation: u32,
    event: Option<E>,
}

/// Bucket 0 plus one bucket per bit of a `u64` time.
const BUCKETS: usize = 65;

pub struct EventQueue<E> {
    buckets: Vec<Vec<Entry>>,
    /// Entries of bucket 0 before this index were already taken.
    head: usize,
    /// Bit `b - 1` is set when bucket `b` (1..=64) may be non-empty.
    occupied: u64,
    /// No pending event is earlier than this.
    last: u64,
    /// The time of the last event popped: nothing may be pushed earlier.
    floor: u64,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    live: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            head: 0,
            occupied: 0,
            last: 0,
            floor: 0,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

/// The bucket of `time` when every pending time is at least `last`.
#[inline]
fn bucket_of(time: u64, last: u64) -> usize {
    (u64::BITS - (time ^ last).leading_zeros()) as usize
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    ///
    /// Panics if `time` is earlier than the last popped event's time.
    pub fn push(&mut self, time: SimTime, event: E) -> EventId {
        let time = time.0;
        assert!(time >= self.floor, "event pushed at {time} ns, before the last popped event at {} ns", self.floor);
        let slot = match self.free.pop() {
            Some(s) => {
                let entry = &mut self.slots[s as usize];
                debug_assert!(entry.event.is_none());
                entry.generation = entry.generation.wrapping_add(1);
                entry.event = Some(event);
                s
            }
            None => {
                let s = u32::try_from(self.slots.len()).expect("more than 2^32 pending events");
                self.slots.push(Slot { generation: 0, event: Some(event) });
                s
            }
        };
        if time < self.last {
            self.lower_last(time);
        }
        self.insert(Entry { time, slot });
        self.live += 1;
        EventId { slot, generation: self.slots[slot as usize].generation }
    }

    #[inline]
    fn insert(&mut self, entry: Entry) {
        let b = bucket_of(entry.time, self.last);
        self.buckets[b].push(entry);
        if b > 0 {
            self.occupied |= 1 << (b - 1);
        }
    }

    /// Makes `time` the new lower bound and rebuilds the buckets around it.
    /// Visiting buckets in order and each bucket front to back keeps equal
    /// times in push order (they share a bucket).
    fn lower_last(&mut self, time: u64) {
        let mut pending = Vec::with_capacity(self.live);
        pending.extend(self.buckets[0].drain(..).skip(self.head));
        self.head = 0;
        for b in 1..BUCKETS {
            pending.append(&mut self.buckets[b]);
        }
        self.occupied = 0;
        self.last = time;
        for entry in pending {
            self.insert(entry);
        }
    }

    /// Cancels a pending event; returns false if it already ran or was cancelled.
    pub fn cancel(&mut self, id: EventId) -> bool {
        match self.slots.get_mut(id.slot as usize) {
            Some(s) if s.generation == id.generation && s.event.is_some() => {
                s.event = None;
                self.live -= 1;
                // The slot is freed when its entry is reached, so an entry
                // never points at a slot that was handed to another event.
                true
            }
            _ => false,
        }
    }

    /// Leaves the earliest live event at the front of bucket 0; returns
    /// false when no live event is pending. Entries of cancelled events met
    /// on the way are dropped and their slots freed.
    fn settle(&mut self) -> bool {
        loop {
            let front = &self.buckets[0];
            while self.head < front.len() {
                let slot = front[self.head].slot;
                if self.slots[slot as usize].event.is_some() {
                    return true;
                }
                self.free.push(slot);
                self.head += 1;
            }
            self.buckets[0].clear();
            self.head = 0;
            if self.occupied == 0 {
                return false;
            }
            // The lowest non-empty bucket holds the earliest times: its live
            // minimum becomes `last`, and its entries move down.
            let b = self.occupied.trailing_zeros() as usize + 1;
            self.occupied &= !(1 << (b - 1));
            let mut moving = std::mem::take(&mut self.buckets[b]);
            let mut min = u64::MAX;
            let mut any_live = false;
            for e in &moving {
                if self.slots[e.slot as usize].event.is_some() {
                    min = min.min(e.time);
                    any_live = true;
                }
            }
            if any_live {
                self.last = min;
                for &e in &moving {
                    if self.slots[e.slot as usize].event.is_some() {
                        self.insert(e);
                    } else {
                        self.free.push(e.slot);
                    }
                }
            } else {
                self.free.extend(moving.iter().map(|e| e.slot));
            }
            // Keep the bucket's memory for its next fill.
            moving.clear();
            self.buckets[b] = moving;
        }
    }

    /// Removes and returns the earliest live event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if !self.settle() {
            return None;
        }
        let entry = self.buckets[0][self.head];
        self.head += 1;
        let event = self.slots[entry.slot as usize].event.take().expect("settle leaves a live event at the front");
        self.free.push(entry.slot);
        self.live -= 1;
        self.floor = entry.time;
        Some((SimTime(entry.time), event))
    }

    /// The time of the earliest live event. Entries of cancelled events at
    /// the front are discarded first: the run loop compares this time with
    /// its deadline and quiesce limits before popping, and a cancelled entry
    /// would let a later event slip past them.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.settle().then_some(SimTime(self.last))
    }

    /// Live (not cancelled) pending events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes one pending event takes in the queue: its entry and its slab slot.
    pub fn bytes_per_event() -> usize {
        std::mem::size_of::<Entry>() + std::mem::size_of::<Slot<E>>()
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
    fn compare_with_reference(seed: u64, steps: usize, spread_ns: u64) {
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

    #[test]
    fn matches_a_binary_heap_on_random_operations() {
        for seed in 0..200 {
            compare_with_reference(seed, 2_000, 1 << 20);
        }
    }

    #[test]
    fn matches_a_binary_heap_when_times_mostly_tie() {
        for seed in 0..200 {
            compare_with_reference(seed, 2_000, 3);
        }
    }

    #[test]
    fn matches_a_binary_heap_on_times_spanning_every_bit() {
        for seed in 0..50 {
            compare_with_reference(seed, 5_000, u64::MAX);
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
