//! A transaction coordinator: splits a client's operation into actions per
//! participant, collects votes under a timeout, logs and sends the
//! decision, answers questions about it, and aborts what it had not
//! decided when it restarts.

use super::msg::{Action, Msg, Outcome, Record, Timer, TxnId, first_id, next_boot};
use super::params::{Bug, Params};
use super::{Node, Topology};
use sim_core::{Ctx, Key, NodeId, Op, OpArg, OpKind, Output, SimTime, TimerId, Value, ms};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A transaction this coordinator is running.
#[derive(Clone, Debug)]
struct Active {
    client: NodeId,
    req: u64,
    op: Op,
    participants: Vec<NodeId>,
    yes: Vec<NodeId>,
    values: BTreeMap<Key, Value>,
    balances: BTreeMap<Key, i64>,
    timer: TimerId,
    /// The commit record is being forced: the decision is taken but not
    /// yet durable, so the coordinator neither aborts nor answers.
    committing: bool,
}

/// What a coordinator did, for the checks and the report. Instrumentation,
/// not state: it survives crashes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CoordinatorStats {
    /// Transactions begun here.
    pub begun: u64,
    /// Every decision taken here, in order.
    pub decisions: Vec<(TxnId, Outcome, SimTime)>,
    /// The participants of every transaction begun here.
    pub participants: BTreeMap<TxnId, Vec<NodeId>>,
    pub aborts_vote_no: u64,
    pub aborts_vote_timeout: u64,
    /// Undecided transactions aborted on restart.
    pub aborts_on_recovery: u64,
    /// Transactions aborted because a participant asked before the votes
    /// were in.
    pub aborts_on_request: u64,
    pub acks: u64,
    /// Audits refused because the key space exceeds `MAX_AUDIT_ACCOUNTS`.
    pub audits_refused: u64,
    pub messages_sent: u64,
}

/// The most accounts an audit reads; beyond it audits are refused (`fail`).
pub const MAX_AUDIT_ACCOUNTS: u64 = 100_000;

/// A coordinator node.
#[derive(Clone, Debug)]
pub struct Coordinator {
    params: Params,
    topo: Arc<Topology>,
    index: u32,
    next_seq: u64,
    /// Decisions: durable (rebuilt from the log), except without a log.
    decisions: BTreeMap<TxnId, Outcome>,
    active: BTreeMap<TxnId, Active>,
    /// Requests already begun in this life, so a duplicated `Begin` does
    /// not run its operation twice.
    begun: BTreeMap<(NodeId, u64), TxnId>,
    pub(super) stats: CoordinatorStats,
}

impl Coordinator {
    pub fn new(params: Params, topo: Arc<Topology>, index: usize) -> Coordinator {
        assert!(index < topo.coordinators, "coordinator {index} of {}", topo.coordinators);
        Coordinator {
            params,
            topo,
            index: index as u32,
            next_seq: 0,
            decisions: BTreeMap::new(),
            active: BTreeMap::new(),
            begun: BTreeMap::new(),
            stats: CoordinatorStats::default(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.boot(ctx);
    }

    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_seq = first_id(n);
    }

    /// Transactions still running (votes or the commit record pending).
    pub fn active(&self) -> usize {
        self.active.len()
    }

    pub fn on_crash(&mut self) {
        self.decisions.clear();
        self.active.clear();
        self.begun.clear();
        self.next_seq = 0;
    }

    /// Rebuilds the decisions from the log; a transaction begun but not
    /// decided is aborted (no commit record: it never committed), and its
    /// participants are told so they need not wait.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.active.is_empty(), "coordinator recovered without crashing");
        let mut begun: BTreeMap<TxnId, Vec<NodeId>> = BTreeMap::new();
        for rec in ctx.disk().synced() {
            match rec {
                Record::Begin { txn, participants } => {
                    begun.insert(*txn, participants.clone());
                }
                Record::Decided { txn, outcome } => {
                    self.decisions.insert(*txn, *outcome);
                }
                _ => {}
            }
        }
        self.boot(ctx);
        begun.retain(|t, _| !self.decisions.contains_key(t));
        for (txn, participants) in begun {
            self.stats.aborts_on_recovery += 1;
            self.decide_abort(ctx, txn, &participants);
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg) {
        self.stats.messages_sent += 1;
        ctx.send(to, msg);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Begin { req, op } => self.begin(ctx, from, req, op),
            Msg::VoteYes { txn, values, balances } => self.vote_yes(ctx, from, txn, values, balances),
            Msg::VoteNo { txn } => {
                if self.active.get(&txn).is_some_and(|a| !a.committing) {
                    self.stats.aborts_vote_no += 1;
                    self.abort(ctx, txn);
                }
            }
            Msg::Ack { .. } => self.stats.acks += 1,
            Msg::DecisionRequest { txn } => self.answer(ctx, from, txn),
            other => panic!("coordinator {:?} got {other:?} from {from:?}", ctx.me()),
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Votes { txn } => {
                if self.active.get(&txn).is_some_and(|a| !a.committing) {
                    self.stats.aborts_vote_timeout += 1;
                    self.abort(ctx, txn);
                }
            }
            Timer::Synced { txn } => {
                ctx.disk().sync();
                // With the bug, the commit already went out before the log.
                if self.params.bug != Bug::CommitBeforeLog {
                    self.send_commit(ctx, txn);
                }
            }
            other => panic!("coordinator got a timer it never sets: {other:?}"),
        }
    }

    /// Starts a transaction: log its participants, send prepares, wait.
    fn begin(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, req: u64, op: Op) {
        assert!(self.next_seq > 0, "coordinator began a transaction before booting");
        let txn = TxnId { coordinator: self.index, seq: self.next_seq };
        if self.begun.contains_key(&(client, req)) {
            return;
        }
        self.begun.insert((client, req), txn);
        self.next_seq += 1;
        if op.kind == OpKind::Audit && self.topo.accounts > MAX_AUDIT_ACCOUNTS {
            // Bounded work per message: an audit of a huge key space is
            // refused rather than locking and shipping every account.
            self.stats.begun += 1;
            self.stats.audits_refused += 1;
            self.decide_abort(ctx, txn, &[]);
            self.send(ctx, client, Msg::Aborted { req, txn });
            return;
        }
        let plan = self.topo.plan(&op);
        let participants: Vec<NodeId> = plan.keys().copied().collect();
        self.stats.begun += 1;
        self.stats.participants.insert(txn, participants.clone());
        if self.params.bug != Bug::NoWal {
            // So that a restart knows to abort it and tell its participants.
            // Synced at once without charging `log_sync_ms`: its fsync
            // overlaps the prepare round trip, which is longer.
            ctx.disk().write(Record::Begin { txn, participants: participants.clone() });
            ctx.disk().sync();
        }
        for (p, actions) in plan {
            self.send(ctx, p, Msg::Prepare { txn, participants: participants.clone(), actions });
        }
        let timer = ctx.set_timer(ms(self.params.vote_timeout_ms), Timer::Votes { txn });
        self.active.insert(
            txn,
            Active {
                client,
                req,
                op,
                participants,
                yes: Vec::new(),
                values: BTreeMap::new(),
                balances: BTreeMap::new(),
                timer,
                committing: false,
            },
        );
    }

    fn vote_yes(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        txn: TxnId,
        values: Vec<(Key, Value)>,
        balances: Vec<(Key, i64)>,
    ) {
        let Some(a) = self.active.get_mut(&txn) else { return };
        assert!(a.participants.contains(&from), "vote on {txn:?} from {from:?}, which is not a participant");
        if a.committing || a.yes.contains(&from) {
            return;
        }
        a.yes.push(from);
        a.values.extend(values);
        a.balances.extend(balances);
        if a.yes.len() < a.participants.len() {
            return;
        }
        // Every participant voted yes: commit.
        a.committing = true;
        match self.params.bug {
            Bug::NoWal => self.send_commit(ctx, txn),
            Bug::CommitBeforeLog => {
                // The bug: the decision leaves before it is durable.
                self.send_commit(ctx, txn);
                self.force(ctx, txn, Outcome::Commit);
            }
            Bug::None | Bug::ForgetVote => self.force(ctx, txn, Outcome::Commit),
        }
    }

    /// Writes the decision and forces it; `Timer::Synced` continues.
    fn force(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId, outcome: Outcome) {
        ctx.disk().write(Record::Decided { txn, outcome });
        if self.params.log_sync_ms == 0 {
            self.on_timer(ctx, Timer::Synced { txn });
        } else {
            ctx.set_timer(ms(self.params.log_sync_ms), Timer::Synced { txn });
        }
    }

    /// The commit point has passed: tell the participants and the client.
    fn send_commit(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId) {
        let Some(a) = self.active.remove(&txn) else { return };
        ctx.cancel_timer(a.timer);
        self.decisions.insert(txn, Outcome::Commit);
        self.stats.decisions.push((txn, Outcome::Commit, ctx.now()));
        for &p in &a.participants {
            self.send(ctx, p, Msg::Commit { txn });
        }
        let output = self.output(&a);
        self.send(ctx, a.client, Msg::Committed { req: a.req, txn, output });
    }

    /// Aborts a running transaction.
    fn abort(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId) {
        let a = self.active.remove(&txn).expect("aborting a running transaction");
        assert!(!a.committing, "{txn:?} aborted after its commit decision");
        ctx.cancel_timer(a.timer);
        self.decide_abort(ctx, txn, &a.participants);
        self.send(ctx, a.client, Msg::Aborted { req: a.req, txn });
    }

    /// Logs an abort (not forced: with no commit record, a restart aborts
    /// anyway) and tells the participants.
    fn decide_abort(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId, participants: &[NodeId]) {
        if self.params.bug != Bug::NoWal {
            ctx.disk().write(Record::Decided { txn, outcome: Outcome::Abort });
        }
        self.decisions.insert(txn, Outcome::Abort);
        self.stats.decisions.push((txn, Outcome::Abort, ctx.now()));
        for &p in participants {
            self.send(ctx, p, Msg::Abort { txn });
        }
    }

    /// A participant in doubt asks. Without a decision and still collecting
    /// votes, the coordinator aborts now; without any record of the
    /// transaction it presumes abort: in the correct protocol a commit is
    /// always logged before it is sent.
    fn answer(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, txn: TxnId) {
        let outcome = match (self.decisions.get(&txn), self.active.get(&txn)) {
            (Some(o), _) => Some(*o),
            (None, Some(a)) if a.committing => None,
            (None, Some(_)) => {
                self.stats.aborts_on_request += 1;
                self.abort(ctx, txn);
                Some(Outcome::Abort)
            }
            (None, None) => Some(Outcome::Abort),
        };
        self.send(ctx, from, Msg::DecisionReply { txn, outcome });
    }

    /// What the client's operation returns, from the votes' reads.
    fn output(&self, a: &Active) -> Output {
        let value = |k: Key| a.values.get(&k).copied().unwrap_or(Value { id: 0, size_bytes: 0 });
        match a.op.kind {
            OpKind::Get => {
                let v = value(a.op.key);
                if v.id == 0 { Output::Nothing } else { Output::Value(v) }
            }
            OpKind::MultiGet => Output::Values(a.op.keys().map(value).collect()),
            OpKind::Audit => Output::Numbers(
                (0..self.topo.accounts)
                    .map(|k| a.balances.get(&k).copied().unwrap_or(self.params.initial_balance))
                    .collect(),
            ),
            _ => Output::Nothing,
        }
    }
}

impl Topology {
    /// The actions of `op` at each participant it touches, in node order.
    pub fn plan(&self, op: &Op) -> BTreeMap<NodeId, Vec<Action>> {
        let mut plan: BTreeMap<NodeId, Vec<Action>> = BTreeMap::new();
        let mut add = |p: NodeId, a: Action| plan.entry(p).or_default().push(a);
        match (op.kind, op.arg) {
            (OpKind::Transfer, OpArg::Transfer { to, amount }) => {
                add(self.participant_of(op.key), Action::Debit(op.key, amount));
                add(self.participant_of(to), Action::Credit(to, amount));
            }
            (OpKind::Put | OpKind::MultiPut, _) => {
                let v = op.value.expect("a put carries a value");
                for k in op.keys() {
                    add(self.participant_of(k), Action::Write(k, v));
                }
            }
            (OpKind::Get | OpKind::MultiGet, _) => {
                for k in op.keys() {
                    add(self.participant_of(k), Action::Read(k));
                }
            }
            (OpKind::Audit, _) => {
                for i in 0..self.participants {
                    add(self.participant_id(i), Action::ReadAccounts);
                }
            }
            (kind, arg) => panic!("two-phase commit does not serve {kind:?} with {arg:?}"),
        }
        plan
    }
}
