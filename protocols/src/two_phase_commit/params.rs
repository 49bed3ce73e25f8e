//! The protocol's parameters, their defaults, documentation and validation.

use serde::{Deserialize, Serialize};

/// How a client picks the coordinator of a transaction.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorChoice {
    /// Client `c(i)` always uses coordinator `tc((i - 1) mod coordinators + 1)`.
    #[default]
    Fixed,
    /// A coordinator drawn uniformly at random for every transaction.
    PerTransaction,
}

/// A deliberate mistake, for labs: each breaks atomicity or conservation in
/// the catalog scenario that demonstrates it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    /// The correct protocol.
    #[default]
    None,
    /// No write-ahead log: participants vote yes without logging it and
    /// coordinators decide without logging; only committed data is stored.
    NoWal,
    /// The coordinator sends commit before its commit record is durable.
    CommitBeforeLog,
    /// A restarted participant ignores its yes records and aborts instead.
    ForgetVote,
}

impl Bug {
    /// The name a scenario gives it.
    pub fn name(self) -> &'static str {
        match self {
            Bug::None => "none",
            Bug::NoWal => "no_wal",
            Bug::CommitBeforeLog => "commit_before_log",
            Bug::ForgetVote => "forget_vote",
        }
    }
}

/// Parameters of two-phase commit.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub coordinators: u32,
    pub coordinator_choice: CoordinatorChoice,
    pub initial_balance: i64,
    pub vote_timeout_ms: u64,
    pub decision_timeout_ms: u64,
    pub client_timeout_ms: u64,
    pub log_sync_ms: u64,
    pub bug: Bug,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            coordinators: 1,
            coordinator_choice: CoordinatorChoice::Fixed,
            initial_balance: 1000,
            vote_timeout_ms: 100,
            decision_timeout_ms: 200,
            client_timeout_ms: 1000,
            log_sync_ms: 1,
            bug: Bug::None,
        }
    }
}

/// The most coordinators a deployment may have.
pub const MAX_COORDINATORS: u32 = 64;
/// The largest `initial_balance`: a total of every account stays far from
/// overflowing an `i64`.
pub const MAX_INITIAL_BALANCE: i64 = 1_000_000_000_000;

/// Every parameter as (name, default, description), for `dsim list`.
pub const PARAM_DOCS: &[(&str, &str, &str)] = &[
    ("coordinators", "1", "transaction coordinators tc1..tcK (role `coordinator`)"),
    (
        "coordinator_choice",
        "fixed",
        "fixed: each client always uses one coordinator (c1 -> tc1, c2 -> tc2, ...); per_transaction: a random one \
         per transaction",
    ),
    ("initial_balance", "1000", "every account's balance at the start; audits must always sum to accounts x this"),
    ("vote_timeout_ms", "100", "how long a coordinator waits for votes before aborting"),
    (
        "decision_timeout_ms",
        "200",
        "how long a participant that voted yes waits for the decision before asking the coordinator and the other \
         participants (cooperative termination), and between such rounds",
    ),
    ("client_timeout_ms", "1000", "client-side timeout per transaction: a write then ends unknown, a read fails"),
    ("log_sync_ms", "1", "time a forced log write (fsync) takes: yes votes and commit decisions wait for it"),
    (
        "bug",
        "none",
        "none; no_wal: nothing is logged before voting or deciding; commit_before_log: the coordinator sends commit \
         before its commit record is durable; forget_vote: a restarted participant aborts what it voted yes on",
    ),
];

pub use crate::ParamError;

impl Params {
    /// Checks the parameters for `participants` participants; returns
    /// warnings for settings that are legal but weak (labs use them).
    pub fn validate(&self, participants: usize) -> Result<Vec<String>, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        if participants == 0 {
            return err("coordinators", "a deployment needs at least one participant (cluster.nodes)".into());
        }
        if self.coordinators == 0 || self.coordinators > MAX_COORDINATORS {
            return err("coordinators", format!("must be between 1 and {MAX_COORDINATORS}, got {}", self.coordinators));
        }
        if !(0..=MAX_INITIAL_BALANCE).contains(&self.initial_balance) {
            return err(
                "initial_balance",
                format!("must be between 0 and {MAX_INITIAL_BALANCE}, got {}", self.initial_balance),
            );
        }
        crate::check_durations_ms(&[
            ("vote_timeout_ms", self.vote_timeout_ms, false),
            ("decision_timeout_ms", self.decision_timeout_ms, false),
            ("client_timeout_ms", self.client_timeout_ms, false),
            ("log_sync_ms", self.log_sync_ms, true),
        ])?;
        let mut warnings = Vec::new();
        if self.bug != Bug::None {
            warnings.push(format!("bug = {}: this deliberately broken variant can violate atomicity", self.bug.name()));
        }
        if self.client_timeout_ms <= self.vote_timeout_ms {
            warnings.push(format!(
                "client_timeout_ms ({}) <= vote_timeout_ms ({}): clients give up before coordinators decide, so \
                 aborted transactions end unknown",
                self.client_timeout_ms, self.vote_timeout_ms
            ));
        }
        Ok(warnings)
    }
}
