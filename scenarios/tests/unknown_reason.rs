//! An `unknown` verdict always comes with its reason: in the text report,
//! and in the `[expect]` line it leaves unmet.

use scenarios::{RunOptions, load_str, run};

/// The directory (which knows where the replicas are) is down at the end,
/// so convergence cannot be judged.
const DIRECTORY_DOWN: &str = r#"
[scenario]
name = "directory-down"
protocol = "directory_kv"
duration_ms = 50

[cluster]
nodes = 2
clients = 1

[workload]
mode = "script"

[[workload.script]]
at_ms = 1
client = "c1"
op = "put"
key = "x"

[faults]
final_heal = false

[[faults.schedule]]
at_ms = 20
action = "crash"
nodes = ["dir"]

[expect]
converged = true
"#;

#[test]
fn an_unknown_check_says_why_in_the_text_and_in_its_expectation() {
    let scn = load_str("down.toml", DIRECTORY_DOWN, &[]).unwrap_or_else(|e| panic!("{e}"));
    let out = run(&scn, &RunOptions::default());
    let check = out.report.check("convergence").expect("convergence runs by default");
    assert_eq!(check.verdict, reports::Verdict::Unknown);
    let reason = check.reason().expect("an unknown check gives its reason");
    let text = reports::text::render(&out.report);
    assert!(text.contains(&format!("    reason: {reason}")), "{text}");
    let e = &out.report.expectations[0];
    assert!(!e.met);
    assert_eq!(e.actual, format!("unknown ({reason})"));
    assert!(!e.actual.contains("budget"), "not every unknown is a budget: {}", e.actual);
}
