//! The protocol's parameters, their defaults, documentation and validation.

use serde::{Deserialize, Serialize};

/// How a client finds and reaches the data.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Query {
    /// The client asks the directory, which does the work and answers.
    #[default]
    Recursive,
    /// The client asks the directory where the key lives, then talks to the
    /// storage nodes itself.
    Iterative,
}

/// How a put spreads among a key's replicas.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// Fan-out: the writer sends the put to every replica and collects acks.
    #[default]
    Iterative,
    /// Chain: the writer sends to the first replica, each replica forwards to
    /// the next, and the last one acknowledges.
    Recursive,
}

/// Whether the directory orders the work on each key.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// One piece of work per key at a time, in arrival order, with versions.
    #[default]
    Serialized,
    /// Everything is forwarded at once and puts carry no version.
    Careless,
}

/// Parameters of a directory-based key-value store.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub query: Query,
    pub replication_factor: u32,
    pub replication: Replication,
    pub ordering: Ordering,
    pub storage_capacity_bytes: u64,
    pub request_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub failure_timeout_ms: u64,
    pub lease_ms: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            query: Query::Recursive,
            replication_factor: 2,
            replication: Replication::Iterative,
            ordering: Ordering::Serialized,
            storage_capacity_bytes: 1 << 30,
            request_timeout_ms: 1000,
            heartbeat_interval_ms: 100,
            failure_timeout_ms: 500,
            lease_ms: 1000,
        }
    }
}

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    (
        "query",
        "recursive",
        "recursive: the directory relays requests and values; iterative: clients look up replicas and talk to them",
    ),
    ("replication_factor", "2", "number of storage nodes that hold each key (1..=storage nodes)"),
    ("replication", "iterative", "iterative: the writer fans a put out to every replica; recursive: chain replication"),
    (
        "ordering",
        "serialized",
        "serialized: one versioned operation per key at a time; careless: forward at once, ack on the first replica",
    ),
    (
        "storage_capacity_bytes",
        "1073741824",
        "bytes each storage node offers; the directory places new keys by free space",
    ),
    ("request_timeout_ms", "1000", "client-side timeout per operation: a put then ends unknown, a get fails"),
    ("heartbeat_interval_ms", "100", "how often storage nodes heartbeat and the directory checks liveness"),
    ("failure_timeout_ms", "500", "silence after which the directory declares a storage node dead and re-replicates"),
    (
        "lease_ms",
        "1000",
        "longest the directory lets one operation hold a key (iterative lease, relayed request, repair)",
    ),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for a deployment with `storage_nodes` storage
    /// nodes. Returns warnings for settings that are legal but weak.
    pub fn validate(&self, storage_nodes: usize) -> Result<Vec<String>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        let rf = self.replication_factor as usize;
        if rf == 0 || rf > storage_nodes {
            return err(
                "replication_factor",
                format!(
                    "must be between 1 and the number of storage nodes ({storage_nodes}), got {rf}: \
                     lower it or add storage nodes"
                ),
            );
        }
        if self.storage_capacity_bytes == 0 {
            return err("storage_capacity_bytes", "must be > 0: a node without space can hold no key".into());
        }
        crate::check_durations_ms(&[
            ("request_timeout_ms", self.request_timeout_ms, false),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms, false),
            ("failure_timeout_ms", self.failure_timeout_ms, false),
            ("lease_ms", self.lease_ms, false),
        ])?;
        if self.failure_timeout_ms <= self.heartbeat_interval_ms {
            return err(
                "failure_timeout_ms",
                format!(
                    "must exceed heartbeat_interval_ms ({}), got {}: otherwise every node is declared dead \
                     between two heartbeats",
                    self.heartbeat_interval_ms, self.failure_timeout_ms
                ),
            );
        }
        let mut warnings = Vec::new();
        if rf == 1 {
            warnings.push("replication_factor = 1: a crash of one storage node loses its keys".to_string());
        }
        if self.failure_timeout_ms < 2 * self.heartbeat_interval_ms {
            warnings.push(format!(
                "failure_timeout_ms ({}) is less than two heartbeat intervals ({}): one late heartbeat declares \
                 a live node dead",
                self.failure_timeout_ms, self.heartbeat_interval_ms
            ));
        }
        if self.ordering == Ordering::Serialized && self.lease_ms < self.request_timeout_ms {
            warnings.push(format!(
                "lease_ms ({}) is shorter than request_timeout_ms ({}): a slow client may still be writing after \
                 the directory gave its key to the next operation",
                self.lease_ms, self.request_timeout_ms
            ));
        }
        if self.ordering == Ordering::Careless {
            warnings.push("ordering = careless: reads may be stale and replicas may diverge".to_string());
        }
        Ok(warnings)
    }
}
