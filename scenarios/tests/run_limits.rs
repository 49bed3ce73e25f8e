//! Run-window arithmetic, late scripted operations, and output directories.

use scenarios::load_str;
use sim_core::SimTime;
use std::process::Command;

const BASE: &str = "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 1000\n";

#[test]
fn the_quiet_period_comes_on_top_of_the_drain_time() {
    let text = format!("{BASE}drain_ms = 500\nquiesce_ms = 2000\n");
    let scn = load_str("t.toml", &text, &[]).unwrap();
    // 1000 ms of workload, up to 500 ms of draining, then 2000 ms of quiet.
    assert_eq!(scn.limits.deadline, SimTime::from_ms(3500));
}

#[test]
fn a_scripted_operation_after_the_run_ends_is_a_warning() {
    let script = "[workload]\nmode = \"script\"\n[[workload.script]]\nat_ms = 50000\nclient = \"c1\"\nop = \"get\"\nkey = \"x\"\n";
    let scn = load_str("t.toml", &format!("{BASE}drain_ms = 100\n{script}"), &[]).unwrap();
    assert!(
        scn.warnings.iter().any(|w| w.contains("workload.script[0] at 50000 ms is after the run's end (1100 ms)")),
        "{:?}",
        scn.warnings
    );
}

#[test]
fn a_run_without_trace_removes_a_stale_trace_from_its_out_dir() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stale-trace");
    let _ = std::fs::remove_dir_all(&dir);
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv/scripted.toml");
    let dsim = |extra: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(["run", file.to_str().unwrap(), "--quiet", "--out", dir.to_str().unwrap()])
            .args(extra)
            .status()
            .unwrap();
        assert!(status.code().is_some_and(|c| c <= 1));
    };
    dsim(&["--trace"]);
    assert!(dir.join("trace.jsonl").exists());
    dsim(&[]);
    assert!(!dir.join("trace.jsonl").exists(), "the old trace is gone");
    assert!(dir.join("report.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_json(extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv/recursive.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["run", file.to_str().unwrap(), "--json", "--set", "expect.outcome=\"limit\""])
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).expect("the report is complete JSON"))
}

#[test]
fn each_limit_ends_the_run_with_outcome_limit_and_names_itself() {
    for (set, reason) in [
        ("scenario.max_events=500", "max_events"),
        ("scenario.max_history_ops=20", "max_history_ops"),
        ("scenario.max_pending_events=3", "max_pending_events"),
    ] {
        let (_, r) = run_json(&["--set", set]);
        assert_eq!(r["outcome"], "limit", "{set}");
        assert_eq!(r["end_reason"], reason, "{set}");
        let outcome = r["expectations"].as_array().unwrap().iter().find(|e| e["key"] == "outcome").cloned();
        assert_eq!(outcome.unwrap()["met"], true, "{set}: `outcome = \"limit\"` is met");
        assert!(r["checks"].as_array().is_some_and(|c| !c.is_empty()), "{set}: the partial report has its checks");
    }
}

#[test]
fn a_wall_clock_budget_stops_a_long_run() {
    // 2,000 simulated seconds would take far longer than 1 ms of real time.
    let (_, r) = run_json(&["--set", "scenario.duration_ms=2000000", "--set", "scenario.wall_clock_budget_ms=1"]);
    assert_eq!(r["end_reason"], "wall_clock");
    assert_eq!(r["outcome"], "limit");
    assert!(r["sim_time_ms"].as_f64().unwrap() < 2_000_000.0);
}

#[test]
fn zero_limits_are_errors() {
    for key in ["max_pending_events", "max_history_ops", "wall_clock_budget_ms"] {
        let text = format!("{BASE}{key} = 0\n");
        let e = load_str("t.toml", &text, &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(format!("scenario.{key}").as_str()));
        assert_eq!(e.line, Some(5));
    }
}
