//! Integration tests of the engine through its public API, driven by the
//! tiny protocol in `support`. Every assertion is on virtual time, the
//! history, statistics or the fault log: never on the wall clock.

mod determinism;
mod faults;
mod network;
mod review_fixes;
mod support;
mod workload;
