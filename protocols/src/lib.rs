//! # protocols
//!
//! The distributed storage protocols that dsim simulates, one module per
//! protocol. Each module opens with an essay on its algorithm, what it
//! guarantees and what it does not, and the papers it follows. Protocols see
//! the world only through `sim_core::Ctx`: they never do I/O, never read the
//! wall clock and draw randomness only from their node's own stream, so a
//! seed reproduces a run exactly.

pub mod chord;
pub mod directory_kv;
pub mod incarnation;
pub mod quorum;

use std::fmt;

/// A protocol parameter that cannot work, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The offending key, as written in a scenario's `[params]`.
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ParamError {}

/// Checks durations in milliseconds: each at most
/// `sim_core::time::MAX_DURATION_MS`, and positive unless zero is allowed
/// (zero meaning "off").
pub fn check_durations_ms(durations: &[(&'static str, u64, bool)]) -> Result<(), ParamError> {
    use sim_core::time::MAX_DURATION_MS;
    for &(key, value, zero_ok) in durations {
        if value == 0 && !zero_ok {
            return Err(ParamError { key, message: "must be > 0 milliseconds".into() });
        }
        if value > MAX_DURATION_MS {
            return Err(ParamError {
                key,
                message: format!("must be at most {MAX_DURATION_MS} ms (about 31 years), got {value}"),
            });
        }
    }
    Ok(())
}
