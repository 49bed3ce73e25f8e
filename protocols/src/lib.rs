//! # protocols
//!
//! The distributed storage protocols that dsim simulates, one module per
//! protocol. Each module opens with an essay on its algorithm, what it
//! guarantees and what it does not, and the papers it follows. Protocols see
//! the world only through `sim_core::Ctx`: they never do I/O, never read the
//! wall clock and draw randomness only from their node's own stream, so a
//! seed reproduces a run exactly.

/// The `Actor` methods of a protocol's node enum that only pass each call
/// to the node's role (`Node::Server(s) => s.on_start(ctx)`, ...): every
/// role handles start, messages, timers, crashes and recovery, and only
/// `Node::Client` takes client operations. Invoked inside `impl Actor for
/// Node` with the enum's variants, `Client` among them; the impl adds its
/// associated types and anything that differs (such as `replica_values`).
#[macro_export]
macro_rules! dispatch_to_roles {
    ($($role:ident),+) => {
        fn on_start(&mut self, ctx: &mut sim_core::Ctx<'_, Self>) {
            match self {
                $(Node::$role(n) => n.on_start(ctx),)+
            }
        }

        fn on_message(&mut self, ctx: &mut sim_core::Ctx<'_, Self>, from: sim_core::NodeId, msg: Self::Msg) {
            match self {
                $(Node::$role(n) => n.on_message(ctx, from, msg),)+
            }
        }

        fn on_timer(&mut self, ctx: &mut sim_core::Ctx<'_, Self>, timer: Self::Timer) {
            match self {
                $(Node::$role(n) => n.on_timer(ctx, timer),)+
            }
        }

        fn on_client_op(&mut self, ctx: &mut sim_core::Ctx<'_, Self>, id: sim_core::OpId, op: sim_core::Op) {
            match self {
                Node::Client(c) => c.on_client_op(ctx, id, op),
                _ => panic!("client operation {id:?} sent to {:?}, which is not a client", ctx.me()),
            }
        }

        fn on_crash(&mut self) {
            match self {
                $(Node::$role(n) => n.on_crash(),)+
            }
        }

        fn on_recover(&mut self, ctx: &mut sim_core::Ctx<'_, Self>) {
            match self {
                $(Node::$role(n) => n.on_recover(ctx),)+
            }
        }
    };
}

pub mod chord;
pub mod directory_kv;
pub mod file_caching;
pub mod incarnation;
pub mod primary_backup;
pub mod quorum;
pub mod two_phase_commit;

use std::fmt;

/// A protocol parameter that cannot work, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The offending key, as written in a scenario's `[params]`.
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ParamError {}

/// Checks durations in milliseconds: each at most
/// `sim_core::time::MAX_DURATION_MS`, and positive unless zero is allowed
/// (zero meaning "off").
pub fn check_durations_ms(durations: &[(&'static str, u64, bool)]) -> Result<(), ParamError> {
    use sim_core::time::MAX_DURATION_MS;
    for &(key, value, zero_ok) in durations {
        if value == 0 && !zero_ok {
            return Err(ParamError { key, message: "must be > 0 milliseconds".into() });
        }
        if value > MAX_DURATION_MS {
            return Err(ParamError {
                key,
                message: format!("must be at most {MAX_DURATION_MS} ms (about 31 years), got {value}"),
            });
        }
    }
    Ok(())
}

/// One violation a protocol's own check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Short machine-readable kind, e.g. `partial-commit`.
    pub kind: &'static str,
    /// History operations involved (indices, as `OpId.0`).
    pub ops: Vec<u32>,
    /// Nodes involved (clients, servers).
    pub nodes: Vec<sim_core::NodeId>,
    /// When it happened, or was noticed.
    pub at: sim_core::SimTime,
    /// One sentence a person can read, naming nodes by their names.
    pub message: String,
}

/// The result of one of a protocol's own checks (atomicity, one primary
/// per view, close-to-open, ...). The scenario runner turns it into a
/// report's check; `[expect]` names it by `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolCheck {
    pub name: &'static str,
    /// `None` when the check cannot decide; `reason` says why.
    pub passed: Option<bool>,
    pub reason: Option<String>,
    /// All violations found; the report lists the first `max_examples`.
    pub violation_count: u64,
    /// Examples, at most as many as the caller asked for.
    pub examples: Vec<Finding>,
    /// Check-specific numbers (e.g. transactions examined).
    pub numbers: Vec<(&'static str, f64)>,
}

impl ProtocolCheck {
    /// A decided check: it passes when it found nothing. Keeps the first
    /// `max_examples` findings as examples.
    pub fn from_findings(
        name: &'static str,
        mut findings: Vec<Finding>,
        max_examples: usize,
        numbers: Vec<(&'static str, f64)>,
    ) -> ProtocolCheck {
        let violation_count = findings.len() as u64;
        findings.truncate(max_examples);
        ProtocolCheck {
            name,
            passed: Some(violation_count == 0),
            reason: None,
            violation_count,
            examples: findings,
            numbers,
        }
    }

    /// A check that could not decide, and why.
    pub fn undecided(name: &'static str, reason: impl Into<String>) -> ProtocolCheck {
        ProtocolCheck {
            name,
            passed: None,
            reason: Some(reason.into()),
            violation_count: 0,
            examples: Vec::new(),
            numbers: Vec::new(),
        }
    }
}
