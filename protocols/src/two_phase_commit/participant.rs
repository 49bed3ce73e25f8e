//! A participant: holds a partition of the keys, locks them for
//! transactions, votes, applies or discards, and, when it voted yes and
//! hears nothing, asks the others (cooperative termination).

use super::msg::{Action, Msg, Outcome, Record, Timer, TxnId, next_boot};
use super::params::{Bug, Params};
use super::{Node, Topology};
use sim_core::{Ctx, Key, NodeId, SimTime, TimerId, Value, ms};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Values and balances of keys: what reads saw, or what a commit wrote.
type Images = (Vec<(Key, Value)>, Vec<(Key, i64)>);

/// Who holds a key's lock: one writer, or any number of readers.
#[derive(Clone, Debug, Default)]
struct Lock {
    writer: Option<TxnId>,
    readers: Vec<TxnId>,
}

/// A transaction this participant has prepared (or is preparing).
#[derive(Clone, Debug)]
struct Prepared {
    coordinator: NodeId,
    participants: Vec<NodeId>,
    actions: Vec<Action>,
    /// What the vote carries: the values and balances read.
    values: Vec<(Key, Value)>,
    balances: Vec<(Key, i64)>,
    /// Whether the yes vote went out (false while the yes record is being
    /// forced to disk).
    voted: bool,
    timer: Option<TimerId>,
}

/// What a participant did, for the checks and the report. Instrumentation,
/// not state: it survives crashes, the way a trace would.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ParticipantStats {
    /// Every decision this node reached, in order: learnt from the
    /// coordinator or a peer, taken alone (abort before voting), or taken
    /// on recovery.
    pub decisions: Vec<(TxnId, Outcome, SimTime)>,
    /// Transactions whose writes were applied here.
    pub applied: BTreeSet<TxnId>,
    /// Per key, the ids of the values committed to it, in commit order.
    pub key_versions: BTreeMap<Key, Vec<u64>>,
    /// Transactions voted yes on and not yet resolved, since when.
    pub in_doubt_since: BTreeMap<TxnId, SimTime>,
    /// How long each resolved transaction sat prepared and in doubt.
    pub blocked_ns: Vec<u64>,
    pub votes_yes: u64,
    pub votes_no: u64,
    /// Prepares refused because a key's lock was held.
    pub lock_conflicts: u64,
    /// Transfers refused because the debited account held too little.
    pub insufficient_funds: u64,
    pub termination_rounds: u64,
    /// In-doubt transactions resolved by a `DecisionReply`.
    pub resolved_by_termination: u64,
    /// Commits received for a transaction this node had aborted or
    /// forgotten: only the buggy variants do this.
    pub commits_refused: u64,
    pub messages_sent: u64,
}

/// A participant node.
#[derive(Clone, Debug)]
pub struct Participant {
    params: Params,
    topo: Arc<Topology>,
    me: NodeId,
    // Durable state, mirrored in memory and rebuilt from the log.
    values: BTreeMap<Key, Value>,
    balances: BTreeMap<Key, i64>,
    outcomes: BTreeMap<TxnId, Outcome>,
    // Volatile state (prepared transactions are restored from the log).
    prepared: BTreeMap<TxnId, Prepared>,
    locks: BTreeMap<Key, Lock>,
    pub(super) stats: ParticipantStats,
}

impl Participant {
    pub fn new(params: Params, topo: Arc<Topology>, me: NodeId) -> Participant {
        assert!(topo.participant_index(me).is_some(), "{me:?} is not a participant");
        Participant {
            params,
            topo,
            me,
            values: BTreeMap::new(),
            balances: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            prepared: BTreeMap::new(),
            locks: BTreeMap::new(),
            stats: ParticipantStats::default(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
    }

    /// A balance as this participant holds it (accounts start at the
    /// initial balance).
    pub fn balance(&self, key: Key) -> i64 {
        self.balances.get(&key).copied().unwrap_or(self.params.initial_balance)
    }

    pub fn initial_balance(&self) -> i64 {
        self.params.initial_balance
    }

    /// Transactions prepared here and still waiting for their outcome.
    pub fn in_doubt(&self) -> impl Iterator<Item = TxnId> + '_ {
        self.prepared.iter().filter(|(_, p)| p.voted).map(|(t, _)| *t)
    }

    /// The value held for `key` (id 0: never written).
    pub fn value(&self, key: Key) -> Value {
        self.values.get(&key).copied().unwrap_or(Value { id: 0, size_bytes: 0 })
    }

    pub fn on_crash(&mut self) {
        self.values.clear();
        self.balances.clear();
        self.outcomes.clear();
        self.prepared.clear();
        self.locks.clear();
    }

    /// Replays the log: committed after-images rebuild the data, outcomes
    /// are remembered, and yes records without an outcome are in doubt:
    /// their locks are taken again and the others are asked at once.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.prepared.is_empty() && self.locks.is_empty(), "participant recovered without crashing");
        let log: Vec<Record> = ctx.disk().synced().to_vec();
        let mut pending: BTreeMap<TxnId, (NodeId, Vec<NodeId>, Vec<Action>)> = BTreeMap::new();
        for rec in log {
            match rec {
                Record::Prepared { txn, coordinator, participants, actions } => {
                    pending.insert(txn, (coordinator, participants, actions));
                }
                Record::Committed { txn, values, balances } => {
                    pending.remove(&txn);
                    self.values.extend(values);
                    self.balances.extend(balances);
                    self.outcomes.insert(txn, Outcome::Commit);
                }
                Record::Aborted { txn } => {
                    pending.remove(&txn);
                    self.outcomes.insert(txn, Outcome::Abort);
                }
                Record::Boot { .. } | Record::Begin { .. } | Record::Decided { .. } => {}
            }
        }
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        for (txn, (coordinator, participants, actions)) in pending {
            if self.params.bug == Bug::ForgetVote {
                // The bug: the yes vote is treated like no vote at all.
                self.log_abort(ctx, txn);
                continue;
            }
            let granted = self.try_lock(txn, &actions);
            assert!(granted, "locks of in-doubt {txn:?} conflict after recovery: they were held when it crashed");
            let (values, balances) = self.read(&actions);
            self.prepared.insert(
                txn,
                Prepared { coordinator, participants, actions, values, balances, voted: true, timer: None },
            );
            self.terminate(ctx, txn);
        }
        // Votes the log does not hold (no log, or the bug) were forgotten:
        // those transactions are no longer in doubt here.
        let prepared = &self.prepared;
        self.stats.in_doubt_since.retain(|t, _| prepared.contains_key(t));
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { txn, participants, actions } => self.prepare(ctx, from, txn, participants, actions),
            Msg::Commit { txn } => self.learn(ctx, txn, Outcome::Commit, false),
            Msg::Abort { txn } => self.learn(ctx, txn, Outcome::Abort, false),
            Msg::DecisionRequest { txn } => self.answer(ctx, from, txn),
            Msg::DecisionReply { txn, outcome: Some(o) } => self.learn(ctx, txn, o, true),
            Msg::DecisionReply { outcome: None, .. } => {}
            other => panic!("participant {:?} got {other:?} from {from:?}", ctx.me()),
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Synced { txn } => {
                ctx.disk().sync();
                self.vote_yes(ctx, txn);
            }
            Timer::Decision { txn } => {
                if self.prepared.get(&txn).is_some_and(|p| p.voted) {
                    self.terminate(ctx, txn);
                }
            }
            other => panic!("participant got a timer it never sets: {other:?}"),
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg) {
        self.stats.messages_sent += 1;
        ctx.send(to, msg);
    }

    /// Phase one: lock (try, never wait), check funds, log yes, vote.
    fn prepare(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        coordinator: NodeId,
        txn: TxnId,
        participants: Vec<NodeId>,
        actions: Vec<Action>,
    ) {
        assert!(participants.contains(&self.me), "prepare of {txn:?} at {:?}, which it does not name", self.me);
        if let Some(o) = self.outcomes.get(&txn) {
            // Already decided (aborted alone, or a duplicate prepare after
            // the outcome): a commit means it voted yes before, and the
            // coordinator, past its vote phase, ignores a repeated vote.
            if *o == Outcome::Abort {
                self.vote_no(ctx, coordinator, txn);
            }
            return;
        }
        if let Some(p) = self.prepared.get(&txn) {
            // A duplicated prepare: repeat the vote if it went out.
            if p.voted {
                let msg = Msg::VoteYes { txn, values: p.values.clone(), balances: p.balances.clone() };
                self.send(ctx, coordinator, msg);
            }
            return;
        }
        if !self.try_lock(txn, &actions) {
            self.stats.lock_conflicts += 1;
            self.vote_no(ctx, coordinator, txn);
            return;
        }
        let overdrawn = actions.iter().any(|a| match *a {
            Action::Debit(k, amount) => i64::try_from(amount).map_or(true, |amt| self.balance(k) < amt),
            _ => false,
        });
        if overdrawn {
            // A transfer never overdraws: the debited participant votes no.
            self.stats.insufficient_funds += 1;
            self.unlock(txn);
            self.vote_no(ctx, coordinator, txn);
            return;
        }
        let (values, balances) = self.read(&actions);
        let record =
            Record::Prepared { txn, coordinator, participants: participants.clone(), actions: actions.clone() };
        self.prepared
            .insert(txn, Prepared { coordinator, participants, actions, values, balances, voted: false, timer: None });
        if self.params.bug == Bug::NoWal {
            self.vote_yes(ctx, txn);
            return;
        }
        ctx.disk().write(record);
        if self.params.log_sync_ms == 0 {
            ctx.disk().sync();
            self.vote_yes(ctx, txn);
        } else {
            ctx.set_timer(ms(self.params.log_sync_ms), Timer::Synced { txn });
        }
    }

    /// The yes record is durable (or, without a log, never will be): vote.
    fn vote_yes(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId) {
        let timeout = ms(self.params.decision_timeout_ms);
        let Some(p) = self.prepared.get_mut(&txn) else { return };
        assert!(!p.voted, "{txn:?} voted twice");
        p.voted = true;
        p.timer = Some(ctx.set_timer(timeout, Timer::Decision { txn }));
        let (to, msg) = (p.coordinator, Msg::VoteYes { txn, values: p.values.clone(), balances: p.balances.clone() });
        self.stats.votes_yes += 1;
        self.stats.in_doubt_since.insert(txn, ctx.now());
        self.send(ctx, to, msg);
    }

    /// Votes no and remembers the abort, so a late duplicate prepare or a
    /// peer's question gets the same answer.
    fn vote_no(&mut self, ctx: &mut Ctx<'_, Node>, coordinator: NodeId, txn: TxnId) {
        self.stats.votes_no += 1;
        if self.outcomes.insert(txn, Outcome::Abort).is_none() {
            self.stats.decisions.push((txn, Outcome::Abort, ctx.now()));
        }
        self.send(ctx, coordinator, Msg::VoteNo { txn });
    }

    /// The outcome of `txn` arrived (from the coordinator, or from a peer
    /// during termination).
    fn learn(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId, outcome: Outcome, from_peer: bool) {
        if let Some(known) = self.outcomes.get(&txn).copied() {
            if outcome == Outcome::Commit && known == Outcome::Abort {
                self.stats.commits_refused += 1;
            }
            if outcome == Outcome::Commit && known == Outcome::Commit && !from_peer {
                let coordinator = self.topo.coordinator_id(txn.coordinator as usize);
                self.send(ctx, coordinator, Msg::Ack { txn });
            }
            return;
        }
        let Some(p) = self.prepared.get(&txn) else {
            match outcome {
                // A commit for a transaction never prepared here (or whose
                // yes vote was forgotten): nothing to apply. Only the buggy
                // variants send it.
                Outcome::Commit => self.stats.commits_refused += 1,
                // An abort of a transaction not prepared here: remember it,
                // so a late prepare is refused.
                Outcome::Abort => {
                    self.outcomes.insert(txn, Outcome::Abort);
                    self.stats.decisions.push((txn, Outcome::Abort, ctx.now()));
                }
            }
            return;
        };
        if !p.voted {
            // Still forcing the yes record: the coordinator cannot have
            // committed without this vote, so only an abort gets here.
            assert_eq!(outcome, Outcome::Abort, "{txn:?} committed before this participant voted");
        }
        let p = self.prepared.remove(&txn).expect("just found");
        if let Some(t) = p.timer {
            ctx.cancel_timer(t);
        }
        if from_peer {
            self.stats.resolved_by_termination += 1;
        }
        if let Some(since) = self.stats.in_doubt_since.remove(&txn) {
            self.stats.blocked_ns.push(ctx.now().since(since));
        }
        match outcome {
            Outcome::Commit => {
                let (values, balances) = self.apply(txn, &p.actions);
                ctx.disk().write(Record::Committed { txn, values, balances });
                ctx.disk().sync();
                self.outcomes.insert(txn, Outcome::Commit);
                self.stats.decisions.push((txn, Outcome::Commit, ctx.now()));
                self.unlock(txn);
                self.send(ctx, p.coordinator, Msg::Ack { txn });
            }
            Outcome::Abort => {
                // Not forced: a crash before the next sync leaves the yes
                // record alone, and recovery asks again.
                self.log_abort(ctx, txn);
                self.unlock(txn);
            }
        }
    }

    /// Records an abort in the log and in memory.
    fn log_abort(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId) {
        ctx.disk().write(Record::Aborted { txn });
        self.outcomes.insert(txn, Outcome::Abort);
        self.stats.in_doubt_since.remove(&txn);
        self.stats.decisions.push((txn, Outcome::Abort, ctx.now()));
    }

    /// A peer in doubt asks about `txn`.
    fn answer(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, txn: TxnId) {
        let outcome = if let Some(o) = self.outcomes.get(&txn) {
            Some(*o)
        } else if self.prepared.contains_key(&txn) {
            // Voted yes (or about to): in doubt too.
            None
        } else {
            // Never voted yes: it may abort on its own. The abort is forced
            // so that the prepare, should it still arrive (even after a
            // crash), gets a no.
            self.log_abort(ctx, txn);
            ctx.disk().sync();
            Some(Outcome::Abort)
        };
        self.send(ctx, from, Msg::DecisionReply { txn, outcome });
    }

    /// One round of cooperative termination: ask the coordinator and every
    /// other participant, then wait again.
    fn terminate(&mut self, ctx: &mut Ctx<'_, Node>, txn: TxnId) {
        let timeout = ms(self.params.decision_timeout_ms);
        let p = self.prepared.get_mut(&txn).expect("terminating a prepared transaction");
        p.timer = Some(ctx.set_timer(timeout, Timer::Decision { txn }));
        let mut ask = vec![p.coordinator];
        ask.extend(p.participants.iter().copied().filter(|&n| n != self.me));
        self.stats.termination_rounds += 1;
        for to in ask {
            self.send(ctx, to, Msg::DecisionRequest { txn });
        }
    }

    /// Takes every lock `actions` need, or none.
    fn try_lock(&mut self, txn: TxnId, actions: &[Action]) -> bool {
        let mut wanted: BTreeMap<Key, bool> = BTreeMap::new();
        for a in actions {
            match *a {
                Action::Read(k) => {
                    wanted.entry(k).or_insert(false);
                }
                Action::ReadAccounts => {
                    for k in self.topo.accounts_of(self.me) {
                        wanted.entry(k).or_insert(false);
                    }
                }
                Action::Write(k, _) | Action::Debit(k, _) | Action::Credit(k, _) => {
                    wanted.insert(k, true);
                }
            }
        }
        let free = wanted.iter().all(|(k, &exclusive)| match self.locks.get(k) {
            None => true,
            Some(l) => {
                let others_read = l.readers.iter().any(|&r| r != txn);
                let other_writes = l.writer.is_some_and(|w| w != txn);
                !(other_writes || exclusive && others_read)
            }
        });
        if !free {
            return false;
        }
        for (k, exclusive) in wanted {
            let l = self.locks.entry(k).or_default();
            if exclusive {
                l.writer = Some(txn);
            } else if !l.readers.contains(&txn) {
                l.readers.push(txn);
            }
        }
        true
    }

    fn unlock(&mut self, txn: TxnId) {
        self.locks.retain(|_, l| {
            if l.writer == Some(txn) {
                l.writer = None;
            }
            l.readers.retain(|&r| r != txn);
            l.writer.is_some() || !l.readers.is_empty()
        });
    }

    /// What the read actions see (under their locks).
    fn read(&self, actions: &[Action]) -> Images {
        let mut values = Vec::new();
        let mut balances = Vec::new();
        for a in actions {
            match *a {
                Action::Read(k) => values.push((k, self.value(k))),
                Action::ReadAccounts => balances.extend(self.topo.accounts_of(self.me).map(|k| (k, self.balance(k)))),
                Action::Write(..) | Action::Debit(..) | Action::Credit(..) => {}
            }
        }
        (values, balances)
    }

    /// Applies the writes of a committed transaction; returns the
    /// after-images for the log.
    fn apply(&mut self, txn: TxnId, actions: &[Action]) -> Images {
        let mut values = Vec::new();
        let mut balances = Vec::new();
        for a in actions {
            match *a {
                Action::Write(k, v) => {
                    self.values.insert(k, v);
                    values.push((k, v));
                    if !self.stats.applied.contains(&txn) {
                        self.stats.key_versions.entry(k).or_default().push(v.id);
                    }
                }
                Action::Debit(k, amount) | Action::Credit(k, amount) => {
                    // A committed debit was at most a balance, and its credit
                    // moves the same amount, so this never saturates.
                    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
                    let delta = if matches!(a, Action::Debit(..)) { -amount } else { amount };
                    let b = self.balance(k).saturating_add(delta);
                    self.balances.insert(k, b);
                    balances.push((k, b));
                }
                Action::Read(_) | Action::ReadAccounts => {}
            }
        }
        self.stats.applied.insert(txn);
        (values, balances)
    }
}
