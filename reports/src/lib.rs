//! # reports
//!
//! Everything dsim says about a run after it ends: consistency checks over
//! the recorded history, latency and throughput statistics, message and
//! per-node counters, and their rendering as JSON and human text.
//!
//! Reports read a finished simulation; they never drive or change one.

pub mod budget;
pub mod check;
pub mod convert;
pub mod history_io;
pub mod html;
pub mod latency;
pub mod linear;
pub mod ops;
pub mod plot;
pub mod replicas;
pub mod report;
pub mod sequential;
pub mod stale;
pub mod text;

pub use check::{CheckResult, Labels, Verdict, Violation};
pub use report::{RunMeta, RunReport};
