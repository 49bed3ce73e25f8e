//! Determinism through the library: the same scenario and seed give the same
//! report (and history), byte for byte; another seed gives another trace.
//!
//! Every catalog scenario runs in well under a second in a debug build
//! (measured: at most ~0.1 s each), so none is skipped.

use scenarios::{RunOptions, load, run};
use std::path::PathBuf;

fn catalog_files() -> Vec<PathBuf> {
    let files = scenarios::catalog::scenario_files(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog"));
    assert!(files.len() >= 9, "expected the 9 catalog scenarios, found {files:?}");
    files
}

/// (report JSON, history JSONL, trace hash)
fn run_once(scn: &scenarios::Scenario, seed: u64) -> (String, String, String) {
    let out = run(scn, &RunOptions { seed: Some(seed), record_trace: false, ..RunOptions::default() });
    let json = serde_json::to_string(&out.report).expect("the report serializes");
    (json, reports::history_io::to_jsonl(&out.history), out.report.trace_hash.clone())
}

#[test]
fn every_catalog_scenario_is_deterministic_and_seed_sensitive() {
    for f in catalog_files() {
        let scn = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        let mut hashes = Vec::new();
        for seed in [1, 2] {
            let a = run_once(&scn, seed);
            let b = run_once(&scn, seed);
            assert!(a.0 == b.0, "{}: seed {seed}: two runs give different reports", f.display());
            assert!(a.1 == b.1, "{}: seed {seed}: two runs give different histories", f.display());
            let report: serde_json::Value = serde_json::from_str(&a.0).unwrap();
            assert_eq!(report["seed"], seed, "{}", f.display());
            assert!(report["ops"]["total"].as_u64().is_some_and(|n| n > 0), "{}: no operations", f.display());
            hashes.push(a.2);
        }
        // Every catalog scenario draws random numbers: uniform or exponential
        // latencies and think times, random keys, and (scripted.toml) a
        // random replica per iterative get. So the seed changes the trace.
        assert_ne!(hashes[0], hashes[1], "{}: seeds 1 and 2 give the same trace", f.display());
    }
}

#[test]
fn recording_the_trace_does_not_change_the_run() {
    for name in ["scripted.toml", "crash-replication.toml"] {
        let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv").join(name);
        let scn = load(&f, &[]).unwrap();
        let plain = run(&scn, &RunOptions { seed: Some(3), record_trace: false, ..RunOptions::default() });
        let traced = run(&scn, &RunOptions { seed: Some(3), record_trace: true, ..RunOptions::default() });
        assert!(plain.trace.is_none());
        assert!(traced.trace.as_ref().is_some_and(|t| !t.is_empty()));
        assert_eq!(
            serde_json::to_string(&plain.report).unwrap(),
            serde_json::to_string(&traced.report).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_scenario_seed_is_the_default_and_overrides_apply() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv/recursive.toml");
    let scn = load(&f, &[]).unwrap();
    let default = run(&scn, &RunOptions::default());
    assert_eq!(default.report.seed, scn.seed);
    assert_eq!(default.report.trace_hash, run_once(&scn, scn.seed).2);

    let reseeded = load(&f, &["scenario.seed=2".to_string()]).unwrap();
    assert_eq!(reseeded.seed, 2);
    assert_eq!(run(&reseeded, &RunOptions::default()).report.trace_hash, run_once(&scn, 2).2);
}

/// A progress bar makes the engine run in slices between redraws; the run
/// must be the same event for event.
#[test]
fn a_progress_bar_does_not_change_the_run() {
    for name in ["directory_kv/partition.toml", "quorum/sloppy-stale.toml", "chord/churn-successor-list.toml"] {
        let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog").join(name);
        let scn = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        let plain = run_once(&scn, 4);
        let bar = indicatif::ProgressBar::hidden();
        let with_bar = run(&scn, &RunOptions { seed: Some(4), progress: Some(bar), ..RunOptions::default() });
        assert_eq!(plain.2, with_bar.report.trace_hash, "{name}");
        assert_eq!(plain.1, reports::history_io::to_jsonl(&with_bar.history), "{name}");
    }
}
