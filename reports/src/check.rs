//! The common shape of a check's result, and the labels checks use to
//! name processes, keys and values in their messages.

use serde::Serialize;
use sim_core::{Key, NodeId};
use std::collections::BTreeMap;

/// Human names for ids: node names, and the names a scenario gave to
/// scripted keys and values. Unnamed keys print as `k17`.
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a> {
    pub nodes: &'a [String],
    pub keys: &'a BTreeMap<Key, String>,
    pub values: &'a BTreeMap<u64, String>,
}

impl Labels<'_> {
    pub fn process(&self, n: NodeId) -> String {
        self.nodes.get(n.index()).cloned().unwrap_or_else(|| format!("node{}", n.0))
    }

    pub fn key(&self, k: Key) -> String {
        self.keys.get(&k).cloned().unwrap_or_else(|| format!("k{k}"))
    }

    /// A value as every check and every history file names it: a generated
    /// value by its id (`42`), a scripted one by its quoted name (`"v1"`).
    pub fn value(&self, id: u64) -> String {
        self.values.get(&id).map_or_else(|| id.to_string(), |n| format!("{n:?}"))
    }
}

/// A check's verdict.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The check could not decide (budget exceeded, not enough information).
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One example of a violation, with enough context to find it in the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// Short machine-readable kind, e.g. `stale-read`.
    pub kind: &'static str,
    /// Operation ids (indices in the history) involved.
    pub ops: Vec<u32>,
    /// Processes (client names) involved.
    pub processes: Vec<String>,
    /// Simulated time of the violating operation, in milliseconds.
    pub at_ms: f64,
    /// One sentence a person can read.
    pub message: String,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub verdict: Verdict,
    /// Number of violations found (may exceed the examples listed).
    pub violation_count: u64,
    /// Up to the configured number of examples.
    pub violations: Vec<Violation>,
    /// Check-specific numbers (for stale reads: staleness statistics).
    pub details: serde_json::Value,
}

impl CheckResult {
    /// Why the check could not decide (`details.reason`), when it says.
    /// Every check that can end `unknown` gives one.
    pub fn reason(&self) -> Option<&str> {
        self.details.get("reason").and_then(|r| r.as_str())
    }
}
