//! `[expect]`: what a scenario promises, checked against its report.
//!
//! Each key is a metric with a `_min` or `_max` suffix (`stale_reads_max = 0`,
//! `latency_ms_p99_max = 50`, `get_latency_ms_p50_min = 100`), or
//! `outcome = "completed" | "violation" | "limit"`. A scenario with `[expect]`
//! is judged by its expectations alone, so a lab can expect a violation.

use crate::error::InputError;
use reports::RunReport;
use reports::report::ExpectationResult;
use sim_core::OpKind;
use std::collections::BTreeMap;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    Min,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    Metric {
        key: String,
        metric: String,
        bound: Bound,
        value: f64,
    },
    Outcome(String),
    /// `linearizable = true` and friends, or a protocol check's name
    /// (`atomicity = true`): a check's verdict.
    Verdict {
        key: String,
        check: &'static str,
        pass: bool,
    },
}

/// Boolean expectations and the check whose verdict each one reads.
pub const VERDICT_KEYS: [(&str, &str); 3] =
    [("linearizable", "linearizable"), ("sequentially_consistent", "sequential"), ("converged", "convergence")];

const STATS: [&str; 6] = ["p50", "p90", "p99", "p999", "max", "mean"];
const STATUSES: [&str; 3] = ["ok", "fail", "unknown"];
const OUTCOMES: [&str; 3] = ["completed", "violation", "limit"];

/// Metrics every protocol has.
const BASE_METRICS: &[&str] = &[
    "stale_reads",
    "lost_writes",
    "divergent_keys",
    "ops",
    "availability",
    "throughput_ops_per_s",
    "messages",
    "messages_dropped",
    "message_bytes",
    "messages_per_op",
    "faults",
    "events",
    "sim_time_ms",
    "checks_failed",
];

/// Whether `metric` names a number a report of this protocol has.
pub fn is_known(metric: &str, details: &[String], protocol_checks: &[&str]) -> bool {
    if BASE_METRICS.contains(&metric) || details.iter().any(|d| d == metric) {
        return true;
    }
    if metric.strip_suffix("_violations").is_some_and(|c| protocol_checks.contains(&c)) {
        return true;
    }
    let rest = OpKind::ALL.iter().find_map(|k| metric.strip_prefix(&format!("{}_", k.name()))).unwrap_or(metric);
    if let Some(stat) = rest.strip_prefix("latency_ms_") {
        return STATS.contains(&stat);
    }
    if rest == "ops" {
        return true;
    }
    rest.strip_prefix("ops_").is_some_and(|s| STATUSES.contains(&s))
}

/// The check a metric needs, if any.
fn metric_check(metric: &str) -> Option<&'static str> {
    match metric {
        "stale_reads" => Some("stale_reads"),
        "lost_writes" => Some("lost_writes"),
        "divergent_keys" => Some("convergence"),
        _ => None,
    }
}

/// Parses `[expect]`; `err(key, message)` builds an error at a key.
/// `checks` are the checks the scenario runs: an expectation on a check
/// that does not run could never be met. `protocol_checks` always run; each
/// may be expected by name (`atomicity = true`) and by its count of
/// violations (`atomicity_violations_max = 0`).
pub fn parse(
    table: &BTreeMap<String, toml::Value>,
    details: &[String],
    checks: &[String],
    protocol_checks: &[&'static str],
    err: impl Fn(&str, String) -> InputError,
) -> Result<Vec<Expectation>, InputError> {
    let mut out = Vec::new();
    let needs = |path: &str, check: &str| -> Result<(), InputError> {
        if checks.iter().any(|c| c == check) {
            Ok(())
        } else {
            Err(err(path, format!("needs the `{check}` check, which this scenario does not run"))
                .with_hint(format!("add \"{check}\" to scenario.checks")))
        }
    };
    for (key, value) in table {
        let path = format!("expect.{key}");
        if let Some((_, check)) = VERDICT_KEYS.iter().find(|(k, _)| k == key) {
            let pass = value.as_bool().ok_or_else(|| err(&path, format!("must be true or false, got {value}")))?;
            needs(&path, check)?;
            out.push(Expectation::Verdict { key: key.clone(), check, pass });
            continue;
        }
        if let Some(check) = protocol_checks.iter().find(|c| **c == key) {
            let pass = value.as_bool().ok_or_else(|| err(&path, format!("must be true or false, got {value}")))?;
            out.push(Expectation::Verdict { key: key.clone(), check, pass });
            continue;
        }
        if key == "outcome" {
            let s = value.as_str().filter(|s| OUTCOMES.contains(s)).ok_or_else(|| {
                err(&path, format!("must be one of \"completed\", \"violation\", \"limit\", got {value}"))
            })?;
            out.push(Expectation::Outcome(s.to_string()));
            continue;
        }
        let (metric, bound) = if let Some(m) = key.strip_suffix("_min") {
            (m, Bound::Min)
        } else if let Some(m) = key.strip_suffix("_max") {
            (m, Bound::Max)
        } else {
            let mut verdicts: Vec<&str> = VERDICT_KEYS.iter().map(|(k, _)| *k).collect();
            verdicts.extend(protocol_checks);
            return Err(err(
                &path,
                format!(
                    "an expectation ends in `_min` or `_max`, or is `outcome` or a check's verdict ({})",
                    verdicts.join(", ")
                ),
            )
            .with_hint("e.g. stale_reads_max = 0, latency_ms_p99_max = 50, ops_ok_min = 100"));
        };
        if !is_known(metric, details, protocol_checks) {
            let mut names: Vec<String> = BASE_METRICS.iter().map(|s| s.to_string()).collect();
            names.extend(details.iter().cloned());
            names.extend(protocol_checks.iter().map(|c| format!("{c}_violations")));
            return Err(err(&path, format!("unknown metric `{metric}`")).with_hint(format!(
                "metrics: {}, ops_<ok|fail|unknown>, latency_ms_<p50|p90|p99|p999|max|mean>, and the latter two prefixed by an op kind (get_, put_)",
                names.join(", ")
            )));
        }
        if let Some(check) = metric_check(metric) {
            needs(&path, check)?;
        }
        let number = match value {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) if f.is_finite() => *f,
            other => return Err(err(&path, format!("must be a number, got {other}"))),
        };
        out.push(Expectation::Metric { key: key.clone(), metric: metric.to_string(), bound, value: number });
    }
    Ok(out)
}

/// The value of a metric in a report, if the run has one.
pub fn metric(r: &RunReport, name: &str) -> Option<f64> {
    let count = |n: u64| Some(n as f64);
    match name {
        "stale_reads" => return r.check("stale_reads").map(|c| c.violation_count as f64),
        "lost_writes" => return r.check("lost_writes").map(|c| c.violation_count as f64),
        "divergent_keys" => return r.check("convergence").map(|c| c.violation_count as f64),
        "ops" => return count(r.ops.total),
        "availability" => return (r.ops.total > 0).then(|| r.ops.ok as f64 / r.ops.total as f64),
        "throughput_ops_per_s" => return Some(r.throughput_ops_per_s),
        "messages" => return count(r.messages.sent),
        "messages_dropped" => return count(r.messages.dropped),
        "message_bytes" => return count(r.messages.sent_bytes),
        "messages_per_op" => return Some(r.messages.per_ok_op),
        "faults" => return count(r.faults.len() as u64),
        "events" => return count(r.events),
        "sim_time_ms" => return Some(r.sim_time_ms),
        "checks_failed" => {
            return count(r.checks.iter().filter(|c| c.verdict == reports::Verdict::Fail).count() as u64);
        }
        _ => {}
    }
    if let Some(v) = r.protocol_details.get(name).and_then(|v| v.as_f64()) {
        return Some(v);
    }
    if let Some(c) = name.strip_suffix("_violations").and_then(|c| r.check(c)) {
        return count(c.violation_count);
    }
    let (kind, rest) =
        match OpKind::ALL.iter().find_map(|k| name.strip_prefix(&format!("{}_", k.name())).map(|r| (k.name(), r))) {
            Some((k, r)) => (Some(k), r),
            None => (None, name),
        };
    if let Some(stat) = rest.strip_prefix("latency_ms_") {
        let l = r.latency_ms.get(kind.unwrap_or("all"))?;
        return match stat {
            "p50" => Some(l.p50),
            "p90" => Some(l.p90),
            "p99" => Some(l.p99),
            "p999" => Some(l.p999),
            "max" => Some(l.max),
            "mean" => Some(l.mean),
            _ => None,
        };
    }
    let counts = match kind {
        Some(k) => r.ops.by_kind.get(k).cloned().unwrap_or_default(),
        None => reports::latency::StatusCounts { ok: r.ops.ok, fail: r.ops.fail, unknown: r.ops.unknown },
    };
    match rest {
        "ops" => count(counts.ok + counts.fail + counts.unknown),
        "ops_ok" => count(counts.ok),
        "ops_fail" => count(counts.fail),
        "ops_unknown" => count(counts.unknown),
        _ => None,
    }
}

fn show(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.3}") }
}

/// Checks every expectation against a report.
pub fn evaluate(exps: &[Expectation], r: &RunReport) -> Vec<ExpectationResult> {
    exps.iter()
        .map(|e| match e {
            Expectation::Outcome(want) => ExpectationResult {
                key: "outcome".into(),
                expected: want.clone(),
                actual: r.outcome.to_string(),
                met: r.outcome == want,
            },
            Expectation::Verdict { key, check, pass } => {
                let result = r.check(check);
                let verdict = result.map(|c| c.verdict);
                ExpectationResult {
                    key: key.clone(),
                    expected: pass.to_string(),
                    actual: match result {
                        Some(c) => match c.verdict {
                            reports::Verdict::Pass => "true".into(),
                            reports::Verdict::Fail => "false".into(),
                            reports::Verdict::Unknown => {
                                format!("unknown ({})", c.reason().unwrap_or("no reason given"))
                            }
                        },
                        None => "n/a (check did not run)".into(),
                    },
                    met: verdict == Some(if *pass { reports::Verdict::Pass } else { reports::Verdict::Fail }),
                }
            }
            Expectation::Metric { key, metric: name, bound, value } => {
                let actual = metric(r, name);
                let met = actual.is_some_and(|a| match bound {
                    Bound::Min => a >= *value,
                    Bound::Max => a <= *value,
                });
                ExpectationResult {
                    key: key.clone(),
                    expected: format!("{} {}", if *bound == Bound::Min { ">=" } else { "<=" }, show(*value)),
                    actual: actual.map_or("n/a (no such data in this run)".into(), show),
                    met,
                }
            }
        })
        .collect()
}
