//! Transactions, messages, timers and log records of two-phase commit.
//!
//! Sizes: every message costs a 64-byte header, plus 16 bytes per
//! participant, action, balance or key named, plus the sizes of the values
//! it carries, so an audit's prepare and votes weigh more than a transfer's.

use sim_core::{Key, Message, NodeId, Op, Output, Value};

/// Bytes of addressing and framing that every message costs on the wire.
pub const HEADER_BYTES: u64 = 64;

/// A transaction: the index of its coordinator and a sequence number that
/// starts at `first_id(boot)` in each of the coordinator's lives, so ids
/// never repeat across coordinators or restarts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TxnId {
    pub coordinator: u32,
    pub seq: u64,
}

/// The global outcome of a transaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Commit,
    Abort,
}

/// What a transaction does at one participant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read a key's value (shared lock).
    Read(Key),
    /// Read the balance of every account this participant holds (shared
    /// locks on all of them): an audit's share.
    ReadAccounts,
    /// Write a value (exclusive lock).
    Write(Key, Value),
    /// Take `amount` from an account; the participant votes no if the
    /// balance is smaller (exclusive lock).
    Debit(Key, u64),
    /// Add `amount` to an account (exclusive lock).
    Credit(Key, u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Client to coordinator: run `op` as a transaction.
    Begin { req: u64, op: Op },
    /// Coordinator to client: committed, with what the reads returned.
    Committed { req: u64, txn: TxnId, output: Output },
    /// Coordinator to client: aborted (certainly: nothing was applied).
    Aborted { req: u64, txn: TxnId },
    /// Coordinator to participant (phase one): lock, check, log, vote.
    Prepare { txn: TxnId, participants: Vec<NodeId>, actions: Vec<Action> },
    /// Participant to coordinator: prepared (durably), with what it read.
    VoteYes { txn: TxnId, values: Vec<(Key, Value)>, balances: Vec<(Key, i64)> },
    /// Participant to coordinator: cannot commit (lock held, insufficient
    /// funds, or already aborted).
    VoteNo { txn: TxnId },
    /// Coordinator to participant (phase two): global commit.
    Commit { txn: TxnId },
    /// Coordinator to participant (phase two): global abort.
    Abort { txn: TxnId },
    /// Participant to coordinator: commit applied.
    Ack { txn: TxnId },
    /// Participant in doubt to the coordinator and the other participants
    /// (cooperative termination): do you know the outcome?
    DecisionRequest { txn: TxnId },
    /// The answer: the outcome, or `None` when the sender is in doubt too.
    DecisionReply { txn: TxnId, outcome: Option<Outcome> },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "begin",
        "committed",
        "aborted",
        "prepare",
        "vote_yes",
        "vote_no",
        "commit",
        "abort",
        "ack",
        "decision_request",
        "decision_reply",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::Begin { .. } => 0,
            Msg::Committed { .. } => 1,
            Msg::Aborted { .. } => 2,
            Msg::Prepare { .. } => 3,
            Msg::VoteYes { .. } => 4,
            Msg::VoteNo { .. } => 5,
            Msg::Commit { .. } => 6,
            Msg::Abort { .. } => 7,
            Msg::Ack { .. } => 8,
            Msg::DecisionRequest { .. } => 9,
            Msg::DecisionReply { .. } => 10,
        }
    }

    fn size_bytes(&self) -> u64 {
        let values = |vs: &mut dyn Iterator<Item = &Value>| vs.fold(0u64, |a, v| a.saturating_add(v.size_bytes));
        let body = match self {
            Msg::Begin { op, .. } => {
                (16 * op.keys().count() as u64).saturating_add(op.value.map_or(0, |v| v.size_bytes))
            }
            Msg::Committed { output, .. } => match output {
                Output::Nothing => 0,
                Output::Value(v) => v.size_bytes,
                Output::Values(vs) => values(&mut vs.iter()),
                Output::Numbers(ns) => 16 * ns.len() as u64,
            },
            Msg::Prepare { participants, actions, .. } => {
                let written = actions.iter().filter_map(|a| match a {
                    Action::Write(_, v) => Some(v),
                    _ => None,
                });
                (16 * (participants.len() + actions.len()) as u64).saturating_add(values(&mut written.into_iter()))
            }
            Msg::VoteYes { values: vs, balances, .. } => {
                (16 * (vs.len() + balances.len()) as u64).saturating_add(values(&mut vs.iter().map(|(_, v)| v)))
            }
            Msg::Aborted { .. }
            | Msg::VoteNo { .. }
            | Msg::Commit { .. }
            | Msg::Abort { .. }
            | Msg::Ack { .. }
            | Msg::DecisionRequest { .. }
            | Msg::DecisionReply { .. } => 0,
        };
        HEADER_BYTES.saturating_add(body)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Client: request `req` timed out.
    Request { req: u64 },
    /// Coordinator: the votes of `txn` had their time.
    Votes { txn: TxnId },
    /// A forced log write for `txn` is durable: the coordinator's commit
    /// record, or a participant's yes record.
    Synced { txn: TxnId },
    /// Participant: still in doubt about `txn`; run a termination round.
    Decision { txn: TxnId },
}

/// What nodes write to their disks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// The number of this incarnation.
    Boot { n: u64 },
    /// Coordinator: `txn` started with these participants.
    Begin { txn: TxnId, participants: Vec<NodeId> },
    /// Coordinator: the decision.
    Decided { txn: TxnId, outcome: Outcome },
    /// Participant: voted yes on `txn` (the "prepared" record), with what it
    /// needs to finish it: its actions, its coordinator and the others.
    Prepared { txn: TxnId, coordinator: NodeId, participants: Vec<NodeId>, actions: Vec<Action> },
    /// Participant: `txn` committed here, with the after-images it wrote
    /// (the database: replayed in order on recovery).
    Committed { txn: TxnId, values: Vec<(Key, Value)>, balances: Vec<(Key, i64)> },
    /// Participant: `txn` aborted here.
    Aborted { txn: TxnId },
}

impl Record {
    /// The boot number, if this is a boot record.
    pub fn boot(&self) -> Option<u64> {
        if let Record::Boot { n } = self { Some(*n) } else { None }
    }
}

/// The next boot number, from a node's synced log.
pub fn next_boot<'a>(log: impl IntoIterator<Item = &'a Record>) -> u64 {
    crate::incarnation::next_boot(log.into_iter().filter_map(Record::boot))
}

pub use crate::incarnation::first_id;
