//! # sim-core
//!
//! The deterministic engine of dsim. It knows no protocol: it moves messages
//! between actors through a network model, fires timers, injects faults,
//! drives client workloads and records what clients saw.
//!
//! Determinism rules (enforced by clippy's `disallowed-types` and
//! `disallowed-methods`, see `clippy.toml`): no wall clock, no hash-map
//! iteration, no thread RNG. Randomness comes from per-purpose seeded streams
//! ([`rng::Stream`]); time is integer nanoseconds ([`time::SimTime`]).

pub mod actor;
pub mod disk;
pub mod dist;
pub mod fault;
pub mod history;
pub mod net;
mod prefetch;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;
pub mod trace;
pub mod workload;

pub use actor::{Actor, Ctx, Message, TimerId};
pub use disk::Disk;
pub use dist::Dist;
pub use history::{History, Key, MAX_KEYS_PER_OP, Op, OpArg, OpId, OpKind, OpRecord, OpStatus, Output, Value};
pub use sim::{EndReason, Limits, NodeSpec, NodeStatus, ResourceLimits, RunSummary, Sim, SimConfig};
pub use time::{SimTime, ms};

/// Index of a node in a simulation (dense, from zero).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
