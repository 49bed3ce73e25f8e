//! Software prefetching: telling the CPU which memory the next event will
//! touch while it still works on this one.
//!
//! In a large simulation every event lands on a random node, so its event
//! slot, the node's counters and its random stream are cache misses (about
//! 100 ns each, more than the rest of the event's work). The queue knows
//! which event comes next, so the engine asks for those lines one event
//! ahead and the misses overlap with useful work. A prefetch is only a hint:
//! it changes no value and no order, so runs stay bit-for-bit the same.
//!
//! The only `unsafe` code in the workspace: `_mm_prefetch` is an unsafe
//! intrinsic although it can neither fault nor change memory.

#![allow(unsafe_code)]

/// The cache line size of every x86-64 and most ARM cores.
const LINE_BYTES: usize = 64;

/// Prefetches at most this many lines of one value: enough for a node's
/// random stream (about 320 bytes), not so many that a large actor floods
/// the cache.
const MAX_LINES: usize = 6;

/// Starts loading the cache lines of `value` (up to `MAX_LINES`).
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        let size = std::mem::size_of::<T>().clamp(1, MAX_LINES * LINE_BYTES);
        let mut offset = 0;
        while offset < size {
            // SAFETY: a prefetch never faults and has no effect the program
            // can observe (it only warms the cache); the address stays
            // within `value`, and `sse` is part of every x86-64 target.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += LINE_BYTES;
        }
        // The value may straddle one more line than its size suggests.
        // SAFETY: as above.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(size - 1)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
