//! Seeded randomness in independent streams.
//!
//! A run has one seed. Every consumer of randomness (the network, the
//! workload, the fault injector, each node) draws from its own ChaCha8 stream
//! derived from that seed, so adding a node or a fault does not shift the
//! draws of anyone else. All helpers here are integer-exact or use `libm`,
//! so the same seed gives the same numbers on any platform.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Names the independent random streams of a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Latency, loss, duplication and jitter draws.
    Network,
    /// Which client does what, to which key, and when.
    Workload,
    /// The random nemesis.
    Faults,
    /// Node `n`'s own randomness (`ctx.rng()`).
    Node(u32),
    /// Extra streams for tools built on the engine (sweeps, swarm draws).
    Aux(u32),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Workload => 2,
            Stream::Faults => 3,
            Stream::Node(n) => (1 << 32) | n as u64,
            Stream::Aux(n) => (2 << 32) | n as u64,
        }
    }
}

/// A deterministic random number generator for one stream of one run.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    pub fn new(seed: u64, stream: Stream) -> SimRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.id());
        SimRng(rng)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, n)`; `n` must be positive. Unbiased (Lemire's method).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values to draw");
        let mut product = (self.next_u64() as u128) * (n as u128);
        let mut low = product as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                product = (self.next_u64() as u128) * (n as u128);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }

    /// Uniform in `[lo, hi)`; returns `lo` when the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo { lo } else { lo + self.below(hi - lo) }
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        // Through `i64`: the 53-bit integer converts exactly either way,
        // and x86-64 converts a signed integer in one instruction but an
        // unsigned one in several.
        (self.next_u64() >> 11) as i64 as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (p <= 0 never draws, so a zero-loss network
    /// consumes no randomness and stays comparable with a lossy one only
    /// where it matters).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// A uniformly chosen element, or `None` for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { Some(&items[self.below(items.len() as u64) as usize]) }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unit` converts through `i64` for speed; every trace hash depends on
    /// it giving exactly the unsigned conversion's value, extremes included.
    #[test]
    fn unit_is_the_53_bit_fraction_of_the_draw() {
        let mut a = SimRng::new(11, Stream::Network);
        let mut b = SimRng::new(11, Stream::Network);
        let scale = 1.0 / (1u64 << 53) as f64;
        for _ in 0..100_000 {
            let x = b.next_u64();
            assert_eq!(a.unit().to_bits(), ((x >> 11) as f64 * scale).to_bits());
        }
        for x in [0u64, 1 << 11, u64::MAX, u64::MAX >> 1, (1 << 63) + 2047] {
            assert_eq!(((x >> 11) as i64 as f64).to_bits(), ((x >> 11) as f64).to_bits(), "{x:#x}");
        }
    }

    #[test]
    fn same_seed_and_stream_give_same_draws() {
        let mut a = SimRng::new(7, Stream::Node(3));
        let mut b = SimRng::new(7, Stream::Node(3));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_are_independent() {
        let draws = |s: Stream| -> Vec<u64> {
            let mut r = SimRng::new(7, s);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_ne!(draws(Stream::Node(0)), draws(Stream::Node(1)));
        assert_ne!(draws(Stream::Network), draws(Stream::Workload));
        assert_ne!(draws(Stream::Aux(0)), draws(Stream::Node(0)));
    }

    #[test]
    fn known_first_draw_pins_the_generator() {
        // Pinning one value guards against a silent change of algorithm or
        // seeding in a dependency upgrade, which would change every trace.
        let mut r = SimRng::new(0, Stream::Network);
        let first = r.next_u64();
        let mut again = SimRng::new(0, Stream::Network);
        assert_eq!(first, again.next_u64());
        assert_eq!(first, crate::rng::tests::PINNED_FIRST_DRAW);
    }

    pub(crate) const PINNED_FIRST_DRAW: u64 = 13_937_087_304_575_520_531;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(1, Stream::Workload);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7);
            assert!(x < 7);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn chance_frequency_is_close_to_p() {
        let mut r = SimRng::new(2, Stream::Network);
        let hits = (0..100_000).filter(|_| r.chance(0.3)).count();
        assert!((28_000..32_000).contains(&hits), "{hits}");
    }
}
