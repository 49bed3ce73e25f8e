//! The protocol's parameters, their defaults, documentation and validation.

use serde::{Deserialize, Serialize};

/// Which node a client sends its request to.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coordinator {
    /// Any server, chosen uniformly at random per request (a load balancer).
    #[default]
    Random,
    /// The first node of the key's preference list (a partition-aware client).
    Owner,
}

/// Which nodes may hold a key's copies while home replicas are unreachable.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quorum {
    /// Only the N home replicas count towards R and W.
    #[default]
    Strict,
    /// The first N nodes of the preference list the coordinator believes
    /// alive count; stand-ins keep hinted copies for the home replicas.
    Sloppy,
}

/// How concurrent versions are ordered.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Last writer wins: the coordinator's clock and id order all versions.
    #[default]
    Lww,
    /// Vector clocks: concurrent puts become siblings the client reconciles.
    VectorClocks,
}

/// What a get does with replicas that answered with older versions.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadRepair {
    /// Nothing: only anti-entropy and hinted handoff repair replicas.
    None,
    /// After answering, the coordinator sends the newest versions to the
    /// replicas that answered with older ones.
    #[default]
    Async,
    /// Before answering, the coordinator writes what it returns back to W
    /// replicas (ABD's second phase).
    Blocking,
}

/// Parameters of a quorum-replicated (Dynamo-style) key-value store.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub n: u32,
    pub r: u32,
    pub w: u32,
    pub tokens_per_node: u32,
    pub coordinator: Coordinator,
    pub quorum: Quorum,
    pub versioning: Versioning,
    pub vector_clock_max_entries: u32,
    pub read_repair: ReadRepair,
    pub anti_entropy_interval_ms: u64,
    pub merkle_leaves: u32,
    pub request_timeout_ms: u64,
    pub replica_timeout_ms: u64,
    pub suspect_ms: u64,
    pub hinted_handoff_interval_ms: u64,
    pub gossip_interval_ms: u64,
    pub clock_skew_ms: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            n: 3,
            r: 2,
            w: 2,
            tokens_per_node: 8,
            coordinator: Coordinator::Random,
            quorum: Quorum::Strict,
            versioning: Versioning::Lww,
            vector_clock_max_entries: 10,
            read_repair: ReadRepair::Async,
            anti_entropy_interval_ms: 0,
            merkle_leaves: 64,
            request_timeout_ms: 1000,
            replica_timeout_ms: 300,
            suspect_ms: 1000,
            hinted_handoff_interval_ms: 200,
            gossip_interval_ms: 0,
            clock_skew_ms: 0,
        }
    }
}

/// The largest `tokens_per_node`: bounds the ring's size and the work of
/// building it.
pub const MAX_TOKENS_PER_NODE: u32 = 1024;
/// The largest `merkle_leaves`: bounds the size of each tree.
pub const MAX_MERKLE_LEAVES: u32 = 1 << 16;
/// The largest `vector_clock_max_entries`.
pub const MAX_CLOCK_ENTRIES: u32 = 1024;

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    ("n", "3", "replicas per key: the first N distinct servers clockwise from the key on the ring (1..=servers)"),
    ("r", "2", "replies a get waits for (1..=n); r + w > n makes every read quorum meet every write quorum"),
    ("w", "2", "acknowledgements a put waits for (1..=n)"),
    ("tokens_per_node", "8", "virtual nodes: ring positions per server; more tokens spread keys more evenly"),
    (
        "coordinator",
        "random",
        "random: clients send each request to a random server; owner: to the key's first home replica",
    ),
    (
        "quorum",
        "strict",
        "strict: only the n home replicas count; sloppy: the first n live nodes of the preference list, with hinted handoff",
    ),
    (
        "versioning",
        "lww",
        "lww: last writer wins by (coordinator clock, node id); vector_clocks: concurrent puts become siblings",
    ),
    ("vector_clock_max_entries", "10", "vector clock entries kept; beyond it the entry updated longest ago is dropped"),
    (
        "read_repair",
        "async",
        "none; async: fix stale replicas after answering; blocking: write the answer back to w replicas first (ABD)",
    ),
    ("anti_entropy_interval_ms", "0", "how often each server compares Merkle trees with a random peer (0: never)"),
    ("merkle_leaves", "64", "leaves of the Merkle tree of each key range (a power of two)"),
    ("request_timeout_ms", "1000", "client-side timeout per operation: a put then ends unknown, a get fails"),
    ("replica_timeout_ms", "300", "how long a coordinator waits for replicas before giving up on them"),
    (
        "suspect_ms",
        "1000",
        "how long coordinators and clients avoid a server that did not answer in time; with gossip, the heartbeat \
         silence after which a server is suspected",
    ),
    ("hinted_handoff_interval_ms", "200", "how often a stand-in tries to hand hinted copies to their home replicas"),
    ("gossip_interval_ms", "0", "how often each server gossips heartbeats to a random peer (0: no gossip)"),
    (
        "clock_skew_ms",
        "0",
        "each server's clock is off by a fixed amount drawn from [-skew, +skew]: last-writer-wins then errs",
    ),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for a deployment with `servers` servers.
    /// Returns warnings for settings that are legal but weak (labs use them
    /// on purpose).
    pub fn validate(&self, servers: usize) -> Result<Vec<String>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        let (n, r, w) = (self.n as usize, self.r as usize, self.w as usize);
        if n == 0 || n > servers {
            return err(
                "n",
                format!(
                    "must be between 1 and the number of servers ({servers}), got {n}: lower it or add servers \
                     (cluster.nodes)"
                ),
            );
        }
        for (key, value) in [("r", r), ("w", w)] {
            if value == 0 || value > n {
                return err(
                    key,
                    format!("must be between 1 and n ({n}), got {value}: a quorum is a subset of the n replicas"),
                );
            }
        }
        if self.tokens_per_node == 0 || self.tokens_per_node > MAX_TOKENS_PER_NODE {
            return err(
                "tokens_per_node",
                format!("must be between 1 and {MAX_TOKENS_PER_NODE}, got {}", self.tokens_per_node),
            );
        }
        if !self.merkle_leaves.is_power_of_two() || self.merkle_leaves > MAX_MERKLE_LEAVES {
            return err(
                "merkle_leaves",
                format!("must be a power of two between 1 and {MAX_MERKLE_LEAVES}, got {}", self.merkle_leaves),
            );
        }
        if self.vector_clock_max_entries == 0 || self.vector_clock_max_entries > MAX_CLOCK_ENTRIES {
            return err(
                "vector_clock_max_entries",
                format!("must be between 1 and {MAX_CLOCK_ENTRIES}, got {}", self.vector_clock_max_entries),
            );
        }
        crate::check_durations_ms(&[
            ("request_timeout_ms", self.request_timeout_ms, false),
            ("replica_timeout_ms", self.replica_timeout_ms, false),
            ("suspect_ms", self.suspect_ms, false),
            ("hinted_handoff_interval_ms", self.hinted_handoff_interval_ms, false),
            ("anti_entropy_interval_ms", self.anti_entropy_interval_ms, true),
            ("gossip_interval_ms", self.gossip_interval_ms, true),
            ("clock_skew_ms", self.clock_skew_ms, true),
        ])?;
        let mut warnings = Vec::new();
        if r + w <= n {
            warnings.push(format!(
                "r + w = {} <= n = {n}: read and write quorums need not meet, so reads may miss the latest write",
                r + w
            ));
        }
        if w == 1 && n > 1 {
            warnings.push("w = 1: an acknowledged put may live on one replica only, and die with it".to_string());
        }
        if self.read_repair == ReadRepair::Blocking && r + w <= n {
            warnings.push(
                "read_repair = blocking with r + w <= n: writing back to w replicas does not make reads linearizable"
                    .to_string(),
            );
        }
        if self.quorum == Quorum::Sloppy {
            warnings.push(
                "quorum = sloppy: stand-ins count towards w, so a read quorum of home replicas may miss acknowledged \
                 writes until hinted handoff runs"
                    .to_string(),
            );
        }
        if self.versioning == Versioning::Lww && self.clock_skew_ms > 0 {
            warnings.push(format!(
                "clock_skew_ms = {} with last-writer-wins: a put coordinated by a server whose clock runs behind can \
                 lose to an older put",
                self.clock_skew_ms
            ));
        }
        if self.replica_timeout_ms >= self.request_timeout_ms {
            warnings.push(format!(
                "replica_timeout_ms ({}) >= request_timeout_ms ({}): clients give up before coordinators do",
                self.replica_timeout_ms, self.request_timeout_ms
            ));
        }
        if self.gossip_interval_ms > 0 && self.suspect_ms < 4 * self.gossip_interval_ms {
            warnings.push(format!(
                "suspect_ms ({}) is less than four gossip intervals ({}): heartbeats may not spread in time and live \
                 servers look down",
                self.suspect_ms,
                4 * self.gossip_interval_ms
            ));
        }
        if self.tokens_per_node == 1 && servers > 1 {
            warnings
                .push("tokens_per_node = 1: ring arcs differ widely in length, so keys spread unevenly".to_string());
        }
        Ok(warnings)
    }
}
