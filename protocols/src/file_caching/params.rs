//! The protocol's parameters, their defaults, documentation and validation.

use serde::{Deserialize, Serialize};

/// Which caching protocol the clients and the server run.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// NFS v2/v3: stateless server, block and attribute caches with
    /// timeouts, close-to-open revalidation.
    #[default]
    Nfs,
    /// AFS: whole-file fetch on open under a callback promise, store on
    /// close, callback breaks.
    Afs,
    /// AFS-style whole files under leases that expire (Gray & Cheriton).
    Leases,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Nfs => "nfs",
            Mode::Afs => "afs",
            Mode::Leases => "leases",
        }
    }
}

/// Parameters of the file-caching protocols.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub mode: Mode,
    pub acregmin_ms: u64,
    pub acregmax_ms: u64,
    pub write_through: bool,
    pub lease_ms: u64,
    pub rpc_timeout_ms: u64,
    pub rpc_retries: u32,
    pub block_size_bytes: u64,
    pub probe_interval_ms: u64,
    pub create_files: bool,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            mode: Mode::Nfs,
            acregmin_ms: 3_000,
            acregmax_ms: 60_000,
            write_through: false,
            lease_ms: 10_000,
            rpc_timeout_ms: 100,
            rpc_retries: 10,
            block_size_bytes: 8_192,
            probe_interval_ms: 0,
            create_files: false,
        }
    }
}

/// The key a `cluster.nodes` error names: not a `[params]` key, so the
/// scenario loader places it at `cluster.nodes`.
pub const NODES_KEY: &str = "cluster.nodes";

/// The largest block: bounds message sizes far from overflow.
pub const MAX_BLOCK_SIZE_BYTES: u64 = 1 << 30;
/// The most retransmissions of one call.
pub const MAX_RPC_RETRIES: u32 = 1_000;
/// The longest a retransmission timer grows to, however many retries
/// (NFS caps its doubling timeout the same way).
pub const MAX_RPC_BACKOFF_MS: u64 = 60_000;

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    (
        "mode",
        "nfs",
        "nfs: stateless server, attribute-cache timeouts, close-to-open; afs: whole files under callbacks; leases: \
         whole files under expiring leases",
    ),
    (
        "acregmin_ms",
        "3000",
        "nfs: first attribute-cache timeout; doubled while the attributes stay unchanged (0 turns the cache off)",
    ),
    ("acregmax_ms", "60000", "nfs: the longest attribute-cache timeout (>= acregmin_ms)"),
    ("write_through", "false", "nfs: send each block write to the server at once instead of on close"),
    ("lease_ms", "10000", "leases: how long a read lease lets a client use its copy without asking"),
    ("rpc_timeout_ms", "100", "first retransmission timeout of a call, doubled per retry (capped at 60 s)"),
    ("rpc_retries", "10", "retransmissions before a call gives up (reads then fail, writes end unknown)"),
    ("block_size_bytes", "8192", "bytes of one block: what a read, a write, a fetch or a store moves"),
    (
        "probe_interval_ms",
        "0",
        "afs, leases: how often clients probe the server, noticing a restart (0: only on their next call)",
    ),
    (
        "create_files",
        "false",
        "files do not exist at start: an open creates a missing file (lookup, then a guarded create)",
    ),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for `servers` server nodes (exactly one file
    /// server). Returns warnings for legal but surprising settings.
    pub fn validate(&self, servers: usize) -> Result<Vec<String>, ParamError> {
        if servers != 1 {
            return Err(ParamError {
                key: NODES_KEY,
                message: format!(
                    "file_caching has exactly one file server (`fs`), so cluster.nodes must be 1, got {servers}; \
                     clients are cluster.clients"
                ),
            });
        }
        if self.acregmin_ms > self.acregmax_ms {
            return Err(ParamError {
                key: "acregmin_ms",
                message: format!(
                    "must be at most acregmax_ms ({}), got {}: the timeout grows from acregmin to acregmax",
                    self.acregmax_ms, self.acregmin_ms
                ),
            });
        }
        if self.block_size_bytes == 0 || self.block_size_bytes > MAX_BLOCK_SIZE_BYTES {
            return Err(ParamError {
                key: "block_size_bytes",
                message: format!("must be between 1 and {MAX_BLOCK_SIZE_BYTES}, got {}", self.block_size_bytes),
            });
        }
        if self.rpc_retries > MAX_RPC_RETRIES {
            return Err(ParamError {
                key: "rpc_retries",
                message: format!("must be at most {MAX_RPC_RETRIES}, got {}", self.rpc_retries),
            });
        }
        crate::check_durations_ms(&[
            ("acregmin_ms", self.acregmin_ms, true),
            ("acregmax_ms", self.acregmax_ms, true),
            ("lease_ms", self.lease_ms, false),
            ("rpc_timeout_ms", self.rpc_timeout_ms, false),
            ("probe_interval_ms", self.probe_interval_ms, true),
        ])?;
        let mut warnings = Vec::new();
        if self.mode != Mode::Nfs && (self.write_through || self.acregmin_ms != 3_000 || self.acregmax_ms != 60_000) {
            warnings.push(format!(
                "mode = {}: acregmin_ms, acregmax_ms and write_through apply to nfs only",
                self.mode.name()
            ));
        }
        if self.mode == Mode::Nfs && self.probe_interval_ms > 0 {
            warnings.push("mode = nfs: the server keeps no client state, so probe_interval_ms does nothing".into());
        }
        if self.mode == Mode::Leases && self.lease_ms <= self.rpc_timeout_ms {
            warnings.push(format!(
                "lease_ms ({}) <= rpc_timeout_ms ({}): leases expire about as fast as calls time out, so clients \
                 renew on nearly every operation",
                self.lease_ms, self.rpc_timeout_ms
            ));
        }
        Ok(warnings)
    }
}
