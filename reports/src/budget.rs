//! What a model-based check (linearizability, sequential consistency) may
//! spend, and the wall-clock stopwatch that enforces its time budget.

/// What one check may spend.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Wall-clock time for the whole check (all keys together).
    pub time_ms: u64,
    /// Estimated memory of one key's search (its cache of visited
    /// configurations). Every key gets the whole budget, whatever the number
    /// of threads, so verdicts do not depend on the machine; with `threads`
    /// keys searched at once, the check may use up to `threads` times this.
    pub memory_bytes: u64,
    /// Worker threads (keys are checked in parallel); 0 counts as 1.
    pub threads: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            time_ms: 10_000,
            memory_bytes: 1 << 30,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Wall-clock stopwatch for the time budget. A checker runs after a
/// simulation has ended and its timing never feeds back into one, so the
/// wall clock is allowed here (and only here): it decides when to give up,
/// never a verdict.
#[allow(clippy::disallowed_types)]
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    pub(crate) fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
