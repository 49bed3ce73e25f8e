//! The report of one run: what `dsim run --json` prints and `report.json` holds.

use crate::check::{CheckResult, Labels, Verdict};
use crate::latency::{LatencySummary, OpCounts, latency_by_kind, op_counts, throughput_ops_per_s};
use crate::linear::{Budget, KvMap};
use crate::ops::CheckHistory;
use crate::replicas::FinalState;
use serde::Serialize;
use sim_core::disk::DiskStats;
use sim_core::sim::{MsgKindStats, NodeStats};
use sim_core::{Actor, EndReason, Message, NodeId, NodeStatus, RunSummary, Sim};
use std::collections::BTreeMap;

/// What the caller knows about the run that the simulation does not.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    pub scenario: String,
    pub protocol: String,
    pub file: String,
    pub seed: u64,
    /// One command that reproduces this run exactly.
    pub command: String,
    pub warnings: Vec<String>,
    /// How many example violations each check lists.
    pub max_examples: usize,
    /// Names of scripted keys and values, for messages.
    pub key_names: BTreeMap<sim_core::Key, String>,
    pub value_names: BTreeMap<u64, String>,
    /// The checks to run (names from `CHECKS`), in any order.
    pub checks: Vec<String>,
    /// Budget of the model-based checks.
    pub budget: Budget,
}

/// Every check, in the order reports list them: the one list of check
/// names (scenario files are validated against it).
pub const CHECKS: [&str; 5] =
    [crate::linear::CHECK_NAME, crate::sequential::CHECK_NAME, "stale_reads", "lost_writes", "convergence"];

/// The checks a scenario runs when it names none: all but `sequential`
/// (which is usually implied by `linearizable` and may search long).
pub const DEFAULT_CHECKS: [&str; 4] = [crate::linear::CHECK_NAME, "stale_reads", "lost_writes", "convergence"];

/// What the checks read besides the simulation.
pub struct CheckInputs<'a> {
    /// The history in the checkers' form (see `convert::from_sim`).
    pub history: &'a CheckHistory,
    /// The protocol's replicas at the end, if it reports them.
    pub final_state: Option<&'a FinalState>,
    /// The protocol's own checks (atomicity, one primary per view, ...),
    /// already run; the report lists them after the generic ones.
    pub protocol_checks: Vec<CheckResult>,
}

/// Runs the named checks over a finished run.
fn run_checks<A: Actor>(sim: &Sim<A>, meta: &RunMeta, labels: &Labels, inputs: &CheckInputs) -> Vec<CheckResult> {
    let n = meta.max_examples;
    CHECKS
        .iter()
        .filter(|c| meta.checks.iter().any(|m| m == *c))
        .map(|&c| match c {
            crate::linear::CHECK_NAME => crate::linear::check(inputs.history, &KvMap, &meta.budget, n),
            crate::sequential::CHECK_NAME => crate::sequential::check(inputs.history, &KvMap, &meta.budget, n),
            "stale_reads" => crate::stale::check(sim.history(), n, labels),
            "lost_writes" => crate::replicas::lost_writes(sim.history(), inputs.final_state, n, labels),
            _ => match inputs.final_state {
                Some(f) => crate::replicas::convergence(f, n, labels),
                None => CheckResult {
                    name: "convergence",
                    verdict: Verdict::Unknown,
                    violation_count: 0,
                    violations: Vec::new(),
                    details: serde_json::json!({ "reason": "the protocol cannot report its replicas' final state (it does not track them, or a node that knows them is down at the end)" }),
                },
            },
        })
        .collect()
}

/// Message counters, totals and per type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageReport {
    pub sent: u64,
    pub sent_bytes: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    /// Messages sent per successful client operation.
    pub per_ok_op: f64,
    pub by_type: BTreeMap<String, MsgKindStats>,
}

/// One node's load and state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub role: String,
    pub status: NodeStatus,
    #[serde(flatten)]
    pub load: NodeStats,
    pub disk: DiskStats,
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultReport {
    pub at_ms: f64,
    pub source: sim_core::fault::FaultSource,
    pub kind: &'static str,
    pub nodes: Vec<String>,
    pub detail: String,
}

/// One `[expect]` line and whether the run met it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub key: String,
    pub expected: String,
    pub actual: String,
    pub met: bool,
}

/// The whole report of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    pub dsim_version: &'static str,
    pub scenario: String,
    pub protocol: String,
    pub file: String,
    pub seed: u64,
    /// The trace hash as 16 hex digits.
    pub trace_hash: String,
    pub command: String,
    pub events: u64,
    pub sim_time_ms: f64,
    pub end_reason: EndReason,
    pub ops: OpCounts,
    pub throughput_ops_per_s: f64,
    pub latency_ms: BTreeMap<String, LatencySummary>,
    pub messages: MessageReport,
    pub nodes: Vec<NodeReport>,
    pub faults: Vec<FaultReport>,
    pub checks: Vec<CheckResult>,
    /// Protocol-specific numbers (placement, repairs, ...).
    pub protocol_details: serde_json::Value,
    pub expectations: Vec<ExpectationResult>,
    pub warnings: Vec<String>,
    /// `completed`, `violation` (a check failed) or `limit` (a run limit cut it short).
    pub outcome: &'static str,
}

impl RunReport {
    /// Gathers the report of a finished simulation and runs the checks.
    pub fn collect<A: Actor>(
        sim: &Sim<A>,
        summary: &RunSummary,
        meta: RunMeta,
        protocol_details: serde_json::Value,
        inputs: &CheckInputs,
    ) -> RunReport {
        let history = sim.history();
        let names = sim.names();
        let stats = sim.stats();
        let ops = op_counts(history);
        let mut by_type = BTreeMap::new();
        let (mut sent, mut sent_bytes, mut delivered, mut dropped, mut duplicated) = (0, 0, 0, 0, 0);
        for (i, k) in stats.by_kind.iter().enumerate() {
            sent += k.sent;
            sent_bytes += k.sent_bytes;
            delivered += k.delivered;
            dropped += k.dropped();
            duplicated += k.duplicated;
            if k.sent > 0 {
                by_type.insert(A::Msg::KINDS[i].to_string(), k.clone());
            }
        }
        let per_ok_op = if ops.ok == 0 { 0.0 } else { (sent as f64 / ops.ok as f64 * 100.0).round() / 100.0 };
        let nodes = (0..names.len())
            .map(|i| NodeReport {
                name: names[i].clone(),
                role: sim.roles()[i].clone(),
                status: sim.status(NodeId(i as u32)),
                load: stats.by_node[i].clone(),
                disk: sim.disk_stats(NodeId(i as u32)),
            })
            .collect();
        let faults = sim
            .fault_log()
            .iter()
            .map(|f| FaultReport {
                at_ms: f.at.as_ms_f64(),
                source: f.source,
                kind: f.kind,
                nodes: f.nodes.iter().map(|n| names[n.index()].clone()).collect(),
                detail: f.detail.clone(),
            })
            .collect();
        let labels = Labels { nodes: names, keys: &meta.key_names, values: &meta.value_names };
        let mut checks = run_checks(sim, &meta, &labels, inputs);
        checks.extend(inputs.protocol_checks.iter().cloned());
        let mut report = RunReport {
            dsim_version: env!("CARGO_PKG_VERSION"),
            scenario: meta.scenario,
            protocol: meta.protocol,
            file: meta.file,
            seed: meta.seed,
            trace_hash: format!("{:016x}", summary.trace_hash),
            command: meta.command,
            events: summary.events,
            sim_time_ms: summary.end_time.as_ms_f64(),
            end_reason: summary.end_reason,
            throughput_ops_per_s: throughput_ops_per_s(history),
            latency_ms: latency_by_kind(history),
            ops,
            messages: MessageReport { sent, sent_bytes, delivered, dropped, duplicated, per_ok_op, by_type },
            nodes,
            faults,
            checks,
            protocol_details,
            expectations: Vec::new(),
            warnings: meta.warnings,
            outcome: "completed",
        };
        report.outcome = report.judge_outcome();
        report
    }

    fn judge_outcome(&self) -> &'static str {
        if self.end_reason.is_limit() {
            "limit"
        } else if self.checks.iter().any(|c| c.verdict == Verdict::Fail) {
            "violation"
        } else {
            "completed"
        }
    }

    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Whether the run passes: by its expectations if it has any, otherwise
    /// by its outcome.
    pub fn passed(&self) -> bool {
        if self.expectations.is_empty() { self.outcome == "completed" } else { self.expectations.iter().all(|e| e.met) }
    }
}
