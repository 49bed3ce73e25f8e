//! Virtual time. Instants are integer nanoseconds since the start of a run;
//! durations are plain `u64` nanoseconds. Floating point never stores time,
//! so sums of delays are exact and identical on every machine.

use serde::Serialize;

/// Nanoseconds in one millisecond.
pub const NANOS_PER_MS: u64 = 1_000_000;
/// Nanoseconds in one second.
pub const NANOS_PER_S: u64 = 1_000_000_000;

/// An instant of virtual time, in nanoseconds since the run began.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub fn from_ms(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(NANOS_PER_MS))
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds as a float, for reports only.
    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MS as f64
    }

    /// This instant plus `delay_ns`, saturating at the end of time.
    pub fn after(self, delay_ns: u64) -> SimTime {
        SimTime(self.0.saturating_add(delay_ns))
    }

    /// Nanoseconds from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The longest duration a scenario may name: 10^12 ms, about 31 years of
/// simulated time. Far below `u64::MAX` nanoseconds, so sums of a few such
/// durations cannot overflow.
pub const MAX_DURATION_MS: u64 = 1_000_000_000_000;

/// `ms` milliseconds as nanoseconds, saturating at the end of time.
pub const fn ms(ms: u64) -> u64 {
    ms.saturating_mul(NANOS_PER_MS)
}

/// Converts a non-negative, finite number of milliseconds to whole nanoseconds,
/// rounding to nearest. Negative or NaN inputs give zero; huge ones saturate.
pub fn ms_f64_to_ns(ms: f64) -> u64 {
    if ms.is_nan() || ms <= 0.0 {
        return 0;
    }
    let ns = ms * NANOS_PER_MS as f64;
    if ns >= u64::MAX as f64 {
        return u64::MAX;
    }
    // Rounds half away from zero, exactly as `libm::round`, without the
    // call: below 2^53 (where a fraction can exist) the cast truncates
    // exactly, and the whole part and the fraction are exact.
    if ns >= (1u64 << 53) as f64 {
        // Every float this large is a whole number.
        return ns as u64;
    }
    let whole = ns as i64;
    if ns - whole as f64 >= 0.5 { whole as u64 + 1 } else { whole as u64 }
}

impl std::fmt::Display for SimTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}ms", self.as_ms_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written rounding must agree with `libm::round` everywhere,
    /// or every trace hash would move.
    #[test]
    fn rounding_matches_libm() {
        let mut rng = crate::rng::SimRng::new(5, crate::rng::Stream::Aux(0));
        let mut cases = vec![0.0, 1e-7, 0.0000005, 0.0000015, 0.0000025, 0.4999999, 1.5, 2.5, 1e9, 1e12, 9.2e12];
        cases.extend((0..100_000).map(|_| rng.unit() * 10f64.powi(rng.below(16) as i32 - 6)));
        cases.extend((0..10_000).map(|i| (i as f64 + 0.5) / 1e6));
        for ms in cases {
            let ns = ms * NANOS_PER_MS as f64;
            assert_eq!(ms_f64_to_ns(ms), libm::round(ns) as u64, "{ms} ms");
        }
        assert_eq!(ms_f64_to_ns(f64::MAX), u64::MAX);
        assert_eq!(ms_f64_to_ns(-1.0), 0);
    }
}
