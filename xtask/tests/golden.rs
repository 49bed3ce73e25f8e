//! The committed trace hashes match the tree: the same check as
//! `cargo xtask golden --check`, through the library.

#[test]
fn every_scenario_has_its_golden_trace_hashes() {
    if let Err(m) = xtask::check_golden(&xtask::root()) {
        panic!("{m}");
    }
}
