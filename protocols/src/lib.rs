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
pub mod quorum;
