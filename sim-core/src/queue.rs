//! The event queue: events ordered by (time, insertion sequence), so events
//! at equal times run first-in first-out.
//!
//! Events live in a slab and the heap orders small fixed-size keys, so a
//! push or pop moves 24 bytes, not the event, and a steady-state run
//! allocates nothing per event. A handle names a slot and its generation;
//! cancelling is O(1) (the slot is emptied and its key skipped when popped),
//! and a stale handle to a reused slot cannot cancel someone else's event.

use crate::time::SimTime;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Names a scheduled event so it can be cancelled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventId {
    slot: u32,
    generation: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: u64,
    seq: u64,
    slot: u32,
}

struct Slot<E> {
    generation: u32,
    event: Option<E>,
}

pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), next_seq: 0, live: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    pub fn push(&mut self, time: SimTime, event: E) -> EventId {
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
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Key { time: time.0, seq, slot }));
        self.live += 1;
        EventId { slot, generation: self.slots[slot as usize].generation }
    }

    /// Cancels a pending event; returns false if it already ran or was cancelled.
    pub fn cancel(&mut self, id: EventId) -> bool {
        match self.slots.get_mut(id.slot as usize) {
            Some(s) if s.generation == id.generation && s.event.is_some() => {
                s.event = None;
                self.live -= 1;
                // The slot is freed when its key is popped, so the key never
                // points at a slot that was handed to another event.
                true
            }
            _ => false,
        }
    }

    /// Removes and returns the earliest live event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        while let Some(Reverse(key)) = self.heap.pop() {
            let slot = &mut self.slots[key.slot as usize];
            let event = slot.event.take();
            self.free.push(key.slot);
            if let Some(e) = event {
                self.live -= 1;
                return Some((SimTime(key.time), e));
            }
        }
        None
    }

    /// The time of the earliest live event. Keys of cancelled events at the
    /// head are discarded first: the run loop compares this time with its
    /// deadline and quiesce limits before popping, and a cancelled key would
    /// let a later event slip past them.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(Reverse(key)) = self.heap.peek() {
            if self.slots[key.slot as usize].event.is_some() {
                return Some(SimTime(key.time));
            }
            self.free.push(key.slot);
            self.heap.pop();
        }
        None
    }

    /// Live (not cancelled) pending events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
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
}
