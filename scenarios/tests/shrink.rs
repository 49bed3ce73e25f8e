//! `scenarios::shrink`: delta debugging of failing runs.

use scenarios::shrink::{ShrinkOptions, ShrinkResult, shrink, signature};
use scenarios::{RunOptions, load_str, run};
use std::cell::RefCell;
use std::path::Path;

fn catalog(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv").join(name);
    (path.display().to_string(), std::fs::read_to_string(&path).unwrap())
}

fn sets(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Shrinks, collecting the progress messages.
fn shrink_with(file: &str, text: &str, sets: &[String], seed: u64, max_runs: usize) -> (ShrinkResult, Vec<String>) {
    let log = RefCell::new(Vec::new());
    let result =
        shrink(file, text, sets, seed, &ShrinkOptions { max_runs }, &|m: &str| log.borrow_mut().push(m.to_string()))
            .unwrap_or_else(|e| panic!("shrink failed: {e}"));
    (result, log.into_inner())
}

/// Loads and runs the written text on its own (no --set, no --seed).
fn rerun(text: &str) -> scenarios::RunOutput {
    let scn = load_str("shrunk.toml", text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    run(&scn, &RunOptions::default())
}

const CARELESS_SETS: &[&str] = &["expect.stale_reads_max=0"];

#[test]
fn shrinks_a_careless_run_and_the_result_reproduces() {
    let (file, text) = catalog("careless.toml");
    let (r, log) = shrink_with(&file, &text, &sets(CARELESS_SETS), 1, 100);
    eprintln!("{} -> {} in {} runs: {}", r.before, r.after, r.runs, r.signature);
    assert_eq!(r.signature, "expect:stale_reads_max");
    assert!(!log.is_empty());
    assert!(r.runs <= 100);
    let (b, a) = (&r.before, &r.after);
    assert!(a.clients <= b.clients && a.ops <= b.ops && a.duration_ms <= b.duration_ms && a.nodes <= b.nodes);
    assert!(a.clients < b.clients || a.ops < b.ops || a.duration_ms < b.duration_ms, "{b} -> {a}");
    assert!(r.text.starts_with("# Shrunk by dsim shrink from "), "{}", r.text);
    let out = rerun(&r.text);
    assert_eq!(signature(&out.report).as_deref(), Some(r.signature.as_str()));
    assert_eq!(out.report.seed, 1);
    assert_eq!(out.report.trace_hash, r.trace_hash);
    assert_eq!(out.report.ops.total, a.ops);
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let (file, text) = catalog("careless.toml");
    let e = shrink(&file, &text, &[], 1, &ShrinkOptions::default(), &|_: &str| {}).unwrap_err();
    assert!(e.contains("nothing to shrink"), "{e}");
    let e = shrink(&file, &text, &sets(&["cluster.bogus=1"]), 1, &ShrinkOptions::default(), &|_: &str| {}).unwrap_err();
    assert!(e.contains("bogus"), "{e}");
}

/// partition.toml plus scheduled faults that change nothing.
fn partition_with_noise() -> (String, String) {
    let (file, mut text) = catalog("partition.toml");
    for at in [500, 1_000, 3_000, 6_000, 7_000] {
        text.push_str(&format!("\n[[faults.schedule]]\nat_ms = {at}\naction = \"set_loss\"\nvalue = 0.0\n"));
    }
    (file, text)
}

/// With `messages_dropped_max = 0`, the run fails only because of the
/// partition (nothing else drops messages): the set_loss faults go, the
/// partition stays.
#[test]
fn irrelevant_faults_are_removed() {
    let (file, text) = partition_with_noise();
    let s = sets(&["expect.messages_dropped_max=0"]);
    let (r, _) = shrink_with(&file, &text, &s, 1, 100);
    eprintln!("{} -> {} in {} runs: {}", r.before, r.after, r.runs, r.signature);
    assert_eq!(r.signature, "expect:messages_dropped_max");
    assert_eq!(r.before.faults, 7);
    let doc: toml::Table = toml::from_str(&r.text).unwrap();
    let schedule = doc["faults"]["schedule"].as_array().unwrap();
    let actions: Vec<&str> = schedule.iter().map(|f| f["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"partition"), "{actions:?}");
    assert!(!actions.contains(&"set_loss"), "{actions:?}");
    assert!(r.after.faults < r.before.faults && r.after.faults <= 2);
    let out = rerun(&r.text);
    assert_eq!(signature(&out.report).as_deref(), Some("expect:messages_dropped_max"));
    assert_eq!(out.report.trace_hash, r.trace_hash);
}

#[test]
fn shrinking_is_deterministic() {
    let (file, text) = catalog("careless.toml");
    let (a, _) = shrink_with(&file, &text, &sets(CARELESS_SETS), 1, 40);
    let (b, _) = shrink_with(&file, &text, &sets(CARELESS_SETS), 1, 40);
    assert_eq!(a.text, b.text);
    assert_eq!((a.runs, &a.trace_hash), (b.runs, &b.trace_hash));
}
