//! # scenarios
//!
//! The scenario file format and its loader, the glue to each protocol, the
//! expectations, and the `dsim` command line. Scenario files live in
//! `scenarios/catalog/` (one per interesting case) and `scenarios/labs/`.

pub mod catalog;
pub mod compare;
pub mod drivers;
pub mod error;
pub mod expect;
pub mod load;
pub mod locate;
pub mod overrides;
pub mod run;
pub mod schema;
pub mod shrink;
pub mod swarm;
pub mod sweep;

pub use error::InputError;
pub use load::{Scenario, load, load_str};
pub use run::{RunOptions, RunOutput, run};
