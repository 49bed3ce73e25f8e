//! The human-readable summary printed by `dsim run`.

use crate::check::Verdict;
use crate::report::RunReport;
use std::fmt::Write;

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Renders the report as text for a terminal.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "scenario   {} ({})", r.scenario, r.file);
    let _ = writeln!(w, "protocol   {}", r.protocol);
    let _ = writeln!(w, "seed       {}", r.seed);
    let _ = writeln!(w, "trace hash {}", r.trace_hash);
    let _ = writeln!(w, "simulated  {:.3} ms, {} events, ended: {}", r.sim_time_ms, r.events, r.end_reason.describe());
    for warning in &r.warnings {
        let _ = writeln!(w, "warning    {warning}");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "operations {} total: {} ok, {} fail, {} unknown; {:.1} ok/s",
        r.ops.total, r.ops.ok, r.ops.fail, r.ops.unknown, r.throughput_ops_per_s
    );
    if !r.latency_ms.is_empty() {
        let _ = writeln!(
            w,
            "  {:<6} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "op", "ok", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "mean ms"
        );
        for (kind, l) in &r.latency_ms {
            let _ = writeln!(
                w,
                "  {:<6} {:>8} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                kind, l.count, l.p50, l.p90, l.p99, l.p999, l.max, l.mean
            );
        }
    }
    let _ = writeln!(w);
    let m = &r.messages;
    let _ = writeln!(
        w,
        "messages   {} sent ({}), {} delivered, {} dropped, {} duplicated; {:.2} per ok op",
        m.sent,
        bytes(m.sent_bytes),
        m.delivered,
        m.dropped,
        m.duplicated,
        m.per_ok_op
    );
    for (kind, k) in &m.by_type {
        let drops = k.dropped();
        let _ = writeln!(w, "  {:<16} {:>9} sent {:>11}  {:>9} dropped", kind, k.sent, bytes(k.sent_bytes), drops);
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "nodes");
    for n in &r.nodes {
        let _ = writeln!(
            w,
            "  {:<8} {:<10} {:<6} out {:>8} msgs {:>11}  in {:>8} msgs {:>11}{}",
            n.name,
            n.role,
            serde_json::to_value(n.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            n.load.msgs_sent,
            bytes(n.load.bytes_sent),
            n.load.msgs_received,
            bytes(n.load.bytes_received),
            if n.load.crashes > 0 { format!("  crashes {}", n.load.crashes) } else { String::new() }
        );
    }
    if !r.faults.is_empty() {
        let _ = writeln!(w);
        let _ = writeln!(w, "faults");
        for f in &r.faults {
            let _ = writeln!(w, "  {:>10.3} ms  {:<13} {}", f.at_ms, f.kind, f.detail);
        }
    }
    let _ = writeln!(w);
    // A protocol may describe its final state as a table (Chord's rings).
    if let Some(table) = r.protocol_details.get("table").and_then(|t| t.as_str()) {
        let _ = writeln!(w, "protocol state");
        for line in table.lines() {
            let _ = writeln!(w, "  {line}");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "checks");
    for c in &r.checks {
        let _ = writeln!(w, "  {:<14} {:<7} {} violation(s)", c.name, c.verdict.name(), c.violation_count);
        if c.verdict == Verdict::Unknown {
            let _ = writeln!(w, "    reason: {}", c.reason().unwrap_or("not given"));
        }
        if c.verdict == Verdict::Fail {
            for v in &c.violations {
                let _ = writeln!(w, "    - [{}] {}", v.processes.join(", "), v.message);
            }
            if c.violation_count > c.violations.len() as u64 {
                let _ = writeln!(w, "    ... and {} more", c.violation_count - c.violations.len() as u64);
            }
        }
    }
    if !r.expectations.is_empty() {
        let _ = writeln!(w);
        let _ = writeln!(w, "expectations");
        for e in &r.expectations {
            let _ = writeln!(
                w,
                "  {} {:<24} expected {:<12} actual {}",
                if e.met { "met   " } else { "FAILED" },
                e.key,
                e.expected,
                e.actual
            );
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "outcome    {}{}", r.outcome, if r.passed() { "" } else { " (FAILED)" });
    let _ = writeln!(w, "reproduce  {}", r.command);
    s
}
