//! The protocol's parameters, their defaults, documentation and validation.

use serde::{Deserialize, Serialize};

/// A deliberate mistake, for labs: each breaks one rule of the protocol
/// and a catalog scenario shows what it costs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    /// The protocol as designed.
    #[default]
    None,
    /// A server applies and acknowledges a forwarded request whatever view
    /// number it carries, so a deposed primary keeps serving through it.
    NoViewCheck,
    /// When the primary dies, the view server promotes an idle server (which
    /// holds nothing) instead of the backup.
    PromoteIdle,
    /// The primary applies an operation and replies to the client at once,
    /// forwarding it to the backup without waiting for the acknowledgement.
    ReplyBeforeAck,
}

impl Bug {
    pub fn name(self) -> &'static str {
        match self {
            Bug::None => "none",
            Bug::NoViewCheck => "no_view_check",
            Bug::PromoteIdle => "promote_idle",
            Bug::ReplyBeforeAck => "reply_before_ack",
        }
    }
}

/// Parameters of primary-backup replication with a view server.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub ping_interval_ms: u64,
    pub dead_pings: u32,
    pub client_timeout_ms: u64,
    pub client_retries: u32,
    pub client_backoff_ms: u64,
    pub forward_timeout_ms: u64,
    pub bug: Bug,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            ping_interval_ms: 100,
            dead_pings: 3,
            client_timeout_ms: 200,
            client_retries: 20,
            client_backoff_ms: 20,
            forward_timeout_ms: 50,
            bug: Bug::None,
        }
    }
}

/// The largest `dead_pings` and `client_retries`: bounds how long a run can
/// spend on one operation or one failure.
pub const MAX_COUNT: u32 = 10_000;

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    ("ping_interval_ms", "100", "how often each server pings the view server (and the view server checks for deaths)"),
    ("dead_pings", "3", "missed ping intervals after which the view server declares a server dead (1..=10000)"),
    ("client_timeout_ms", "200", "how long a client waits for a view or a reply before retrying"),
    (
        "client_retries",
        "20",
        "retries per operation after the first attempt, each with the same request id (0..=10000)",
    ),
    ("client_backoff_ms", "20", "pause before a client retries after a rejection (a view change is under way)"),
    ("forward_timeout_ms", "50", "how long the primary waits for the backup's acknowledgement before resending"),
    (
        "bug",
        "none",
        "none; no_view_check: backups accept forwards of any view; promote_idle: the view server promotes an idle \
         server instead of the backup; reply_before_ack: the primary replies before the backup acknowledges",
    ),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for a deployment with `servers` replica
    /// servers. Returns warnings for settings that are legal but weak.
    pub fn validate(&self, servers: usize) -> Result<Vec<String>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        if self.dead_pings == 0 || self.dead_pings > MAX_COUNT {
            return err("dead_pings", format!("must be between 1 and {MAX_COUNT}, got {}", self.dead_pings));
        }
        if self.client_retries > MAX_COUNT {
            return err("client_retries", format!("must be at most {MAX_COUNT}, got {}", self.client_retries));
        }
        crate::check_durations_ms(&[
            ("ping_interval_ms", self.ping_interval_ms, false),
            ("client_timeout_ms", self.client_timeout_ms, false),
            ("client_backoff_ms", self.client_backoff_ms, true),
            ("forward_timeout_ms", self.forward_timeout_ms, false),
        ])?;
        if self.bug == Bug::PromoteIdle && servers < 3 {
            return err(
                "bug",
                format!(
                    "promote_idle needs an idle server besides the primary and the backup: at least 3 servers \
                     (cluster.nodes), got {servers}"
                ),
            );
        }
        let mut warnings = Vec::new();
        if servers < 2 {
            warnings.push(
                "one server: there is never a backup, so a crash of the primary loses everything and no view \
                 change can follow"
                    .to_string(),
            );
        }
        if self.bug != Bug::None {
            warnings.push(format!("bug = {}: this deployment breaks the protocol on purpose", self.bug.name()));
        }
        let dead_ms = self.ping_interval_ms.saturating_mul(u64::from(self.dead_pings));
        let patience_ms = self.client_timeout_ms.saturating_mul(u64::from(self.client_retries) + 1);
        if patience_ms <= dead_ms {
            warnings.push(format!(
                "client_timeout_ms x (client_retries + 1) = {patience_ms} ms is no more than the {dead_ms} ms the \
                 view server needs to declare a primary dead: clients give up before any failover"
            ));
        }
        if self.forward_timeout_ms >= self.client_timeout_ms {
            warnings.push(format!(
                "forward_timeout_ms ({}) >= client_timeout_ms ({}): clients time out before a lost forward is resent",
                self.forward_timeout_ms, self.client_timeout_ms
            ));
        }
        Ok(warnings)
    }
}
