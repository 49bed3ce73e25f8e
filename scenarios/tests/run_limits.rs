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
