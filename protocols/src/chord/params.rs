//! The protocol's parameters, their defaults, documentation and validation.

use super::id::{Id, MAX_BITS};
use serde::{Deserialize, Serialize};
use sim_core::time::MAX_DURATION_MS;

/// How a lookup travels.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupStyle {
    /// The client asks each node on the path in turn for the next one.
    #[default]
    Iterative,
    /// Each node forwards the query; the last one answers the client.
    Recursive,
}

/// How the initial ring comes to be.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bootstrap {
    /// Every initial node starts with the true ring: successors,
    /// predecessor and fingers already correct.
    #[default]
    Stable,
    /// n1 starts alone; every other initial node joins through it, one
    /// millisecond apart, and stabilisation builds the ring.
    Join,
}

/// An explicit identifier: a number, or a string holding a decimal or
/// `0x` hexadecimal number (TOML integers stop at 2^63).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum IdSpec {
    Number(u64),
    Text(String),
}

impl IdSpec {
    pub fn parse(&self) -> Option<Id> {
        match self {
            IdSpec::Number(n) => Some(Id::from_u128(*n as u128)),
            IdSpec::Text(s) => Id::parse(s.trim()),
        }
    }
}

/// Parameters of a Chord ring with DHash-style storage.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub m: u32,
    pub node_ids: Option<Vec<IdSpec>>,
    pub spare_nodes: u32,
    pub bootstrap: Bootstrap,
    pub lookup_style: LookupStyle,
    pub successor_list_len: u32,
    pub replicas: u32,
    pub stabilize_interval_ms: u64,
    pub fix_fingers_interval_ms: u64,
    pub check_predecessor_interval_ms: u64,
    pub request_timeout_ms: u64,
    pub join_rate_per_s: f64,
    pub leave_rate_per_s: f64,
    pub churn_stop_ms: u64,
    pub spare_join_at_ms: Vec<u64>,
    pub snapshot_at_ms: Vec<u64>,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            m: 160,
            node_ids: None,
            spare_nodes: 0,
            bootstrap: Bootstrap::Stable,
            lookup_style: LookupStyle::Iterative,
            successor_list_len: 4,
            replicas: 2,
            stabilize_interval_ms: 500,
            fix_fingers_interval_ms: 500,
            check_predecessor_interval_ms: 1000,
            request_timeout_ms: 200,
            join_rate_per_s: 0.0,
            leave_rate_per_s: 0.0,
            churn_stop_ms: 0,
            spare_join_at_ms: Vec::new(),
            snapshot_at_ms: Vec::new(),
        }
    }
}

/// The largest `successor_list_len`.
pub const MAX_SUCCESSORS: u32 = 64;

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    ("m", "160", "identifier bits: the ring has 2^m positions (1..=160); ids are SHA-1 of the name mod 2^m"),
    (
        "node_ids",
        "none",
        "explicit identifiers of n1..nN (and optionally the spares after them): numbers, or strings above 2^63; distinct, < 2^m",
    ),
    ("spare_nodes", "0", "extra chord nodes, not in the ring at first, that join at join_rate_per_s"),
    (
        "bootstrap",
        "stable",
        "stable: the initial nodes start with the true ring; join: they join one by one through n1",
    ),
    ("lookup_style", "iterative", "iterative: the client asks each hop; recursive: nodes forward the query"),
    ("successor_list_len", "4", "r: successors each node tracks, so lookups route around r - 1 failures"),
    ("replicas", "2", "k: DHash copies beyond the owner, on its next k successors (at most successor_list_len)"),
    (
        "stabilize_interval_ms",
        "500",
        "how often each node runs stabilize (and re-replicates if its neighbours changed)",
    ),
    ("fix_fingers_interval_ms", "500", "how often each node refreshes one finger"),
    ("check_predecessor_interval_ms", "1000", "how often each node pings its predecessor"),
    ("request_timeout_ms", "200", "how long a client or node waits for one reply before trying elsewhere"),
    ("join_rate_per_s", "0", "rate at which nodes outside the ring join (Poisson, over all spare nodes)"),
    ("leave_rate_per_s", "0", "rate at which ring members leave gracefully (Poisson, over the initial nodes)"),
    ("churn_stop_ms", "0", "no joins or leaves after this time (0: churn never stops)"),
    (
        "spare_join_at_ms",
        "[]",
        "fixed join times: the i-th spare node joins at the i-th time (besides join_rate_per_s)",
    ),
    ("snapshot_at_ms", "[]", "times at which every node records its successor, predecessor, successors and fingers"),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for a ring of `nodes` initial nodes. Returns
    /// warnings for settings that are legal but weak.
    pub fn validate(&self, nodes: usize) -> Result<Vec<String>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        if self.m == 0 || self.m > MAX_BITS {
            return err("m", format!("must be between 1 and {MAX_BITS}, got {}", self.m));
        }
        if nodes == 0 {
            return err("m", "a ring needs at least one node (cluster.nodes)".into());
        }
        if self.successor_list_len == 0 || self.successor_list_len > MAX_SUCCESSORS {
            return err(
                "successor_list_len",
                format!("must be between 1 and {MAX_SUCCESSORS}, got {}", self.successor_list_len),
            );
        }
        if self.replicas > self.successor_list_len {
            return err(
                "replicas",
                format!(
                    "must be at most successor_list_len ({}), got {}: replicas live on the successor list",
                    self.successor_list_len, self.replicas
                ),
            );
        }
        crate::check_durations_ms(&[
            ("stabilize_interval_ms", self.stabilize_interval_ms, false),
            ("fix_fingers_interval_ms", self.fix_fingers_interval_ms, false),
            ("check_predecessor_interval_ms", self.check_predecessor_interval_ms, false),
            ("request_timeout_ms", self.request_timeout_ms, false),
            ("churn_stop_ms", self.churn_stop_ms, true),
        ])?;
        if let Some(t) = self.snapshot_at_ms.iter().find(|t| **t > MAX_DURATION_MS) {
            return err("snapshot_at_ms", format!("times must be at most {MAX_DURATION_MS} ms, got {t}"));
        }
        if let Some(t) = self.spare_join_at_ms.iter().find(|t| **t > MAX_DURATION_MS) {
            return err("spare_join_at_ms", format!("times must be at most {MAX_DURATION_MS} ms, got {t}"));
        }
        if self.spare_join_at_ms.len() > self.spare_nodes as usize {
            return err(
                "spare_join_at_ms",
                format!(
                    "lists {} join times for {} spare nodes: add spare_nodes or drop times",
                    self.spare_join_at_ms.len(),
                    self.spare_nodes
                ),
            );
        }
        for (key, rate) in [("join_rate_per_s", self.join_rate_per_s), ("leave_rate_per_s", self.leave_rate_per_s)] {
            if !rate.is_finite() || rate < 0.0 {
                return err(key, format!("must be a finite rate >= 0, got {rate}"));
            }
        }
        if self.spare_nodes as usize > 100_000 {
            return err("spare_nodes", format!("must be at most 100000, got {}", self.spare_nodes));
        }
        self.ids(nodes)?;
        let mut warnings = Vec::new();
        if self.successor_list_len == 1 {
            warnings.push(
                "successor_list_len = 1: a node whose successor fails loses the ring until stabilisation repairs it"
                    .to_string(),
            );
        }
        if self.join_rate_per_s > 0.0 && self.spare_nodes == 0 && self.leave_rate_per_s == 0.0 {
            warnings.push("join_rate_per_s > 0 but no node is outside the ring: add spare_nodes".to_string());
        }
        Ok(warnings)
    }

    /// The identifiers of the initial nodes then the spare ones: explicit
    /// (`node_ids`) or SHA-1 of the node's name. Errors if they collide.
    pub fn ids(&self, nodes: usize) -> Result<Vec<Id>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        let total = nodes + self.spare_nodes as usize;
        let mut ids: Vec<Id> = (0..total).map(|i| Id::hash(super::node_name(i).as_bytes(), self.m)).collect();
        if let Some(given) = &self.node_ids {
            if given.len() != nodes && given.len() != total {
                return err(
                    "node_ids",
                    format!(
                        "lists {} identifiers: give one per initial node ({nodes}, cluster.nodes), or one per node \
                         including the spares ({total})",
                        given.len()
                    ),
                );
            }
            for (i, spec) in given.iter().enumerate() {
                match spec.parse() {
                    Some(id) if id.fits(self.m) => ids[i] = id,
                    _ => return err("node_ids", format!("entry {i} ({spec:?}) is not a number below 2^{}", self.m)),
                }
            }
        }
        let mut sorted = ids.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            let key = if self.node_ids.is_some() { "node_ids" } else { "m" };
            return err(
                key,
                format!(
                    "two nodes share identifier {} on a ring of 2^{} positions: list distinct node_ids or raise m",
                    w[0], self.m
                ),
            );
        }
        Ok(ids)
    }
}
