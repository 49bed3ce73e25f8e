//! End-to-end tests of two-phase commit: each mechanism on its own
//! (locking, termination, recovery), each bug caught, the invariants over
//! many seeds with random faults, and the checks' verdicts on hand-built
//! evidence.

use protocols::two_phase_commit::{
    Bug, CoordinatorChoice, Evidence, Msg, Node, Outcome, Params, TpcCounters, TxnId, atomicity, build, conservation,
    evidence, isolation, report,
};
use protocols::two_phase_commit::{MAX_AUDIT_ACCOUNTS, PARAM_DOCS, accounts};
use sim_core::fault::{FaultAction, Nemesis, NemesisKind, TimedFault};
use sim_core::net::{LinkRule, NetConfig, Nic, NodeSet};
use sim_core::workload::{Arrivals, ScriptedOp, WorkloadConfig};
use sim_core::{
    Dist, History, Key, Limits, Message, NodeId, Op, OpArg, OpKind, OpStatus, Output, Sim, SimConfig, SimTime, Value,
    ms,
};
use std::collections::{BTreeMap, BTreeSet};

/// A deployment and a workload, before the run: coordinators first, then
/// participants, then clients.
struct Setup {
    params: Params,
    participants: usize,
    clients: usize,
    cfg: SimConfig,
}

impl Setup {
    /// A closed-loop transaction workload on `keys` accounts until
    /// `stop_ms`, latencies uniform in 0.5..1.5 ms.
    fn new(params: Params, participants: usize, clients: usize, keys: u64, stop_ms: u64, seed: u64) -> Setup {
        let k = params.coordinators as usize;
        let n = k + participants + clients;
        let mut net = NetConfig::simple(n, 1.0);
        net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
        let client_ids = (0..clients).map(|c| NodeId((k + participants + c) as u32)).collect();
        let mut workload = WorkloadConfig::closed(client_ids, keys, SimTime::from_ms(stop_ms));
        workload.mix = vec![
            (OpKind::Transfer, 0.4),
            (OpKind::MultiPut, 0.2),
            (OpKind::MultiGet, 0.2),
            (OpKind::Audit, 0.1),
            (OpKind::Get, 0.1),
        ];
        workload.transfer_amount = Dist::Uniform { min: 1.0, max: 300.0 };
        workload.arrivals = Arrivals::Closed { think_time_ms: Dist::Uniform { min: 0.0, max: 5.0 } };
        let cfg = SimConfig {
            seed,
            net,
            workload,
            faults: sim_core::fault::FaultPlan { final_heal: true, ..Default::default() },
            limits: Limits { quiesce_ns: ms(2_000), deadline: SimTime::from_ms(60_000), max_events: 5_000_000 },
            record_trace: false,
        };
        Setup { params, participants, clients, cfg }
    }

    /// Only `ops` run, on a network with 1 ms constant latency.
    fn script(mut self, ops: Vec<ScriptedOp>) -> Setup {
        self.cfg.net.latency_ms = Dist::constant(1.0);
        self.cfg.workload.arrivals = Arrivals::ScriptOnly;
        self.cfg.workload.clients = Vec::new();
        for s in &ops {
            if !self.cfg.workload.clients.contains(&s.client) {
                self.cfg.workload.clients.push(s.client);
            }
        }
        self.cfg.workload.script = ops;
        self
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    /// Latency from `a` to `b`, both ways.
    fn link(mut self, a: NodeId, b: NodeId, latency_ms: f64) -> Setup {
        self.cfg.net.links.push(LinkRule {
            from: NodeSet::from_nodes([a]),
            to: NodeSet::from_nodes([b]),
            one_way: false,
            latency_ms: Dist::constant(latency_ms),
        });
        self
    }

    fn coordinator(&self, i: usize) -> NodeId {
        NodeId(i as u32)
    }

    fn participant(&self, i: usize) -> NodeId {
        NodeId(self.params.coordinators + i as u32)
    }

    fn client(&self, i: usize) -> NodeId {
        NodeId(self.params.coordinators + (self.participants + i) as u32)
    }

    fn run(self) -> Run {
        self.params.validate(self.participants).expect("test parameters are valid");
        let accounts = accounts(&self.cfg.workload);
        let mut sim = Sim::new(self.cfg, build(&self.params, self.participants, self.clients, accounts));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        Run { sim }
    }
}

struct Run {
    sim: Sim<Node>,
}

impl Run {
    fn counters(&self) -> TpcCounters {
        report(self.sim.actors(), self.sim.names(), self.sim.now()).counters
    }

    fn evidence(&self) -> Evidence {
        evidence(&self.sim)
    }

    fn history(&self) -> &History {
        self.sim.history()
    }

    /// (atomicity, conservation, isolation) verdicts.
    fn verdicts(&self) -> [Option<bool>; 3] {
        let ev = self.evidence();
        let names = self.sim.names();
        [
            atomicity(&ev, self.history(), names, 5).passed,
            conservation(&ev, self.history(), names, 5).passed,
            isolation(&ev, self.history(), names, 5).passed,
        ]
    }

    fn statuses(&self, kind: OpKind) -> Vec<OpStatus> {
        self.history().ops.iter().filter(|r| r.op.kind == kind).filter_map(|r| r.status).collect()
    }

    fn sent(&self, kind: &str) -> u64 {
        let i = Msg::KINDS.iter().position(|k| *k == kind).expect("a message kind");
        self.sim.stats().by_kind[i].sent
    }

    fn decisions_of(&self, node: NodeId) -> Vec<Outcome> {
        self.evidence().decisions.iter().filter(|d| d.0 == node).map(|d| d.2).collect()
    }
}

fn transfer(at_ms: u64, client: NodeId, from: Key, to: Key, amount: u64) -> ScriptedOp {
    let mut op = Op::on(OpKind::Transfer, from);
    op.arg = OpArg::Transfer { to, amount };
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op }
}

fn multi_put(at_ms: u64, client: NodeId, keys: &[Key], id: u64) -> ScriptedOp {
    ScriptedOp {
        at: SimTime::from_ms(at_ms),
        client,
        op: Op::multi(OpKind::MultiPut, keys, Some(Value { id, size_bytes: 10 })),
    }
}

fn audit(at_ms: u64, client: NodeId) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::on(OpKind::Audit, 0) }
}

fn params() -> Params {
    Params::default()
}

// ---- the happy path and the invariants ----

#[test]
fn a_transfer_commits_everywhere_and_conserves_money() {
    let s = Setup::new(params(), 2, 1, 2, 0, 1);
    let c = s.client(0);
    let run = s.script(vec![transfer(10, c, 0, 1, 30), audit(100, c)]).run();
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Ok]);
    let ev = run.evidence();
    assert_eq!(ev.final_balances, Ok(vec![970, 1030]));
    let audit = run.history().ops.iter().find(|r| r.op.kind == OpKind::Audit).unwrap();
    assert_eq!(audit.output, Output::Numbers(vec![970, 1030]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
    let k = run.counters();
    assert_eq!((k.txns_committed, k.txns_aborted, k.txns_in_doubt), (2, 0, 0));
    // One prepare, vote, commit and ack per participant; begin and reply.
    assert_eq!((run.sent("prepare"), run.sent("vote_yes"), run.sent("commit"), run.sent("ack")), (4, 4, 4, 4));
}

#[test]
fn an_overdrawing_transfer_aborts_and_changes_nothing() {
    let s = Setup::new(params(), 2, 1, 2, 0, 1);
    let c = s.client(0);
    let run = s.script(vec![transfer(10, c, 0, 1, 1_001)]).run();
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Fail]);
    assert_eq!(run.evidence().final_balances, Ok(vec![1000, 1000]));
    assert_eq!(run.counters().insufficient_funds, 1);
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

#[test]
fn atomicity_conservation_and_isolation_hold_over_seeds_with_random_faults() {
    for seed in 0..40 {
        let mut p = params();
        p.coordinators = 2;
        p.coordinator_choice = CoordinatorChoice::PerTransaction;
        p.client_timeout_ms = 300;
        let mut s = Setup::new(p, 3, 4, 12, 3_000, seed);
        s.cfg.net.loss = 0.02;
        s.cfg.net.duplicate = 0.02;
        let servers: Vec<NodeId> = (0..5).map(|i| NodeId(i as u32)).collect();
        for kind in [NemesisKind::Crash, NemesisKind::Partition] {
            s.cfg.faults.nemeses.push(Nemesis {
                kind,
                targets: servers.clone(),
                interval_ms: Dist::Exponential { mean: 300.0, offset: 50.0 },
                duration_ms: Dist::Uniform { min: 50.0, max: 400.0 },
                start: SimTime::from_ms(200),
                stop: SimTime::from_ms(3_000),
            });
        }
        let run = s.run();
        let [a, c, i] = run.verdicts();
        assert_eq!(a, Some(true), "seed {seed}: atomicity");
        assert_eq!(c, Some(true), "seed {seed}: conservation (or undecided)");
        assert_eq!(i, Some(true), "seed {seed}: isolation");
        let k = run.counters();
        assert!(k.txns_committed > 20, "seed {seed}: {k:?}");
        assert_eq!(k.commits_refused, 0, "seed {seed}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    let hash = |seed| {
        let mut s = Setup::new(params(), 3, 3, 20, 1_000, seed);
        s.cfg.net.loss = 0.01;
        s.run().sim.trace_hash()
    };
    assert_eq!(hash(7), hash(7));
    assert_ne!(hash(7), hash(8));
}

#[test]
fn an_audit_of_a_huge_key_space_is_refused_not_run() {
    let s = Setup::new(params(), 2, 1, MAX_AUDIT_ACCOUNTS + 1, 0, 1);
    let c = s.client(0);
    let run = s.script(vec![audit(10, c)]).run();
    assert_eq!(run.statuses(OpKind::Audit), [OpStatus::Fail]);
    assert_eq!((run.counters().audits_refused, run.sent("prepare")), (1, 0));
}

// ---- locks ----

#[test]
fn a_held_lock_makes_the_second_transaction_vote_no() {
    let s = Setup::new(params(), 2, 2, 4, 0, 1);
    let (c1, c2) = (s.client(0), s.client(1));
    // Both prepares reach the participants at the same instant; the first
    // one in takes the locks.
    let run = s.script(vec![multi_put(10, c1, &[0, 1], 1), multi_put(10, c2, &[1, 2], 2)]).run();
    let mut st = run.statuses(OpKind::MultiPut);
    st.sort();
    assert_eq!(st, [OpStatus::Ok, OpStatus::Fail]);
    let k = run.counters();
    assert_eq!((k.lock_conflicts, k.aborts_vote_no), (1, 1));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

#[test]
fn two_coordinators_racing_on_the_same_keys_may_both_abort_but_never_both_commit() {
    let mut p = params();
    p.coordinators = 2;
    let s = Setup::new(p, 2, 2, 2, 0, 1);
    let (c1, c2) = (s.client(0), s.client(1));
    // c1 goes to tc1 and c2 to tc2 (fixed choice). tc1 is close to p1 and
    // far from p2, tc2 the other way round: each wins one key's lock.
    let (tc1, tc2, p1, p2) = (s.coordinator(0), s.coordinator(1), s.participant(0), s.participant(1));
    let run = s
        .link(tc1, p2, 5.0)
        .link(tc2, p1, 5.0)
        .script(vec![transfer(10, c1, 0, 1, 10), transfer(10, c2, 1, 0, 20)])
        .run();
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Fail, OpStatus::Fail]);
    assert_eq!(run.counters().lock_conflicts, 2);
    assert_eq!(run.evidence().final_balances, Ok(vec![1000, 1000]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

// ---- timeouts, termination, recovery ----

#[test]
fn the_coordinator_aborts_when_a_vote_does_not_come() {
    let s = Setup::new(params(), 2, 1, 2, 0, 1);
    let (c, p2) = (s.client(0), s.participant(1));
    let run = s.fault(5, FaultAction::Crash(p2)).script(vec![transfer(10, c, 0, 1, 30)]).run();
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Fail]);
    assert_eq!(run.counters().aborts_vote_timeout, 1);
    assert_eq!(run.verdicts()[0], Some(true));
}

#[test]
fn a_restarted_coordinator_without_a_commit_record_aborts() {
    let s = Setup::new(params(), 2, 1, 2, 0, 1);
    let (c, tc1, p2) = (s.client(0), s.coordinator(0), s.participant(1));
    // p2 is far away: tc1 crashes after sending the prepares and before
    // p2's vote arrives, so it has a begin record and no decision.
    let run = s
        .link(tc1, p2, 20.0)
        .fault(20, FaultAction::Crash(tc1))
        .fault(100, FaultAction::Restart(tc1))
        .script(vec![transfer(10, c, 0, 1, 30)])
        .run();
    let k = run.counters();
    assert_eq!(k.aborts_on_recovery, 1);
    assert_eq!(run.decisions_of(tc1), [Outcome::Abort]);
    // p1 voted yes and p2 too: both learn the abort from the restarted tc1.
    assert_eq!(run.decisions_of(NodeId(1)), [Outcome::Abort]);
    assert_eq!(run.decisions_of(p2), [Outcome::Abort]);
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Unknown]);
    assert_eq!(run.evidence().final_balances, Ok(vec![1000, 1000]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

/// p2 votes yes at about 22 ms (the tc1-p2 link takes 10 ms), the commit
/// can be back at about 34 ms; crashing p2 at 25 ms falls in between.
fn crash_after_vote(bug: Bug) -> Run {
    let mut p = params();
    p.bug = bug;
    let s = Setup::new(p, 2, 1, 2, 0, 1);
    let (c, tc1, p2) = (s.client(0), s.coordinator(0), s.participant(1));
    s.link(tc1, p2, 10.0)
        .fault(25, FaultAction::Crash(p2))
        .fault(300, FaultAction::Restart(p2))
        .script(vec![transfer(10, c, 0, 1, 30)])
        .run()
}

#[test]
fn a_participant_with_a_yes_record_asks_after_restarting_and_commits() {
    let run = crash_after_vote(Bug::None);
    assert_eq!(run.statuses(OpKind::Transfer), [OpStatus::Ok]);
    let k = run.counters();
    assert!(k.termination_rounds >= 1 && k.resolved_by_termination >= 1, "{k:?}");
    // In doubt from the vote until after the restart.
    assert!(k.blocking_time_ms_max > 270.0, "{k:?}");
    assert_eq!(run.evidence().final_balances, Ok(vec![970, 1030]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

#[test]
fn forget_vote_is_caught() {
    let run = crash_after_vote(Bug::ForgetVote);
    assert_eq!(run.evidence().final_balances, Ok(vec![970, 1000]));
    assert_eq!(run.verdicts()[..2], [Some(false), Some(false)]);
}

#[test]
fn no_wal_is_caught() {
    let run = crash_after_vote(Bug::NoWal);
    assert_eq!(run.evidence().final_balances, Ok(vec![970, 1000]));
    assert_eq!(run.verdicts()[..2], [Some(false), Some(false)]);
    assert!(run.counters().commits_refused >= 1 || run.counters().termination_rounds == 0);
}

/// tc1's NIC sends one commit per 10 ms; it crashes after the commit to p1
/// left and before the one to p2 did.
fn crash_mid_commit(bug: Bug, log_sync_ms: u64, crash_ms: u64, restart_ms: u64, decision_timeout_ms: u64) -> Run {
    let mut p = params();
    p.bug = bug;
    p.log_sync_ms = log_sync_ms;
    p.decision_timeout_ms = decision_timeout_ms;
    let mut s = Setup::new(p, 2, 1, 2, 0, 1);
    let (c, tc1) = (s.client(0), s.coordinator(0));
    s.cfg.net.nics = vec![Nic { egress_bytes_per_s: None, ingress_bytes_per_s: None }; 4];
    s.cfg.net.nics[0].egress_bytes_per_s = Some(6_400);
    s.fault(crash_ms, FaultAction::Crash(tc1))
        .fault(restart_ms, FaultAction::Restart(tc1))
        .script(vec![transfer(10, c, 0, 1, 30)])
        .run()
}

#[test]
fn termination_resolves_when_another_participant_knows() {
    // Prepares leave tc1 at about 27.5 and 45 ms, the votes are back by
    // about 48 ms, the commit is forced by 49: the commit to p1 leaves at
    // about 59 ms and the one to p2 would at 69.
    let run = crash_mid_commit(Bug::None, 1, 64, 2_000, 100);
    let k = run.counters();
    assert_eq!(k.resolved_by_termination, 1, "{k:?}");
    assert!(k.blocking_time_ms_max >= 100.0 && k.blocking_time_ms_max < 200.0, "{k:?}");
    assert_eq!(run.evidence().final_balances, Ok(vec![970, 1030]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

#[test]
fn commit_before_log_is_caught() {
    // With a 40 ms fsync the votes are back by about 87 ms; the buggy
    // coordinator sends the commits at once (p1's leaves at about 97 ms) and
    // crashes at 102 ms, 25 ms before its commit record is durable.
    let run = crash_mid_commit(Bug::CommitBeforeLog, 40, 102, 150, 500);
    assert_eq!(run.counters().aborts_on_recovery, 1);
    assert_eq!(run.evidence().final_balances, Ok(vec![970, 1000]));
    assert_eq!(run.verdicts()[..2], [Some(false), Some(false)]);
}

#[test]
fn the_correct_coordinator_aborts_safely_in_the_same_crash() {
    // It had not sent the commit, since its commit record was not yet
    // durable: aborting on restart is consistent everywhere.
    let run = crash_mid_commit(Bug::None, 40, 102, 150, 500);
    assert_eq!(run.counters().aborts_on_recovery, 1);
    assert_eq!(run.evidence().final_balances, Ok(vec![1000, 1000]));
    assert_eq!(run.verdicts(), [Some(true); 3]);
}

#[test]
fn participants_stay_blocked_when_nobody_knows() {
    let mut p = params();
    p.decision_timeout_ms = 100;
    let mut s = Setup::new(p, 2, 1, 2, 0, 1);
    let (c, tc1) = (s.client(0), s.coordinator(0));
    let (p1, p2) = (s.participant(0), s.participant(1));
    // The prepares arrive at 12 ms and the votes go out at 13 ms; from
    // 12.5 ms on, tc1 hears nothing and says nothing: the participants both
    // voted yes and only tc1 knows (it aborts, in vain).
    s.cfg.faults.final_heal = false;
    s.cfg.limits.deadline = SimTime::from_ms(1_000);
    let partition = FaultAction::Partition(vec![vec![tc1, c], vec![p1, p2]]);
    s.cfg.faults.schedule.push(TimedFault { at: SimTime(12_500_000), action: partition });
    let run = s.script(vec![transfer(10, c, 0, 1, 30)]).run();
    let k = run.counters();
    assert_eq!(k.txns_in_doubt, 1, "{k:?}");
    assert!(k.termination_rounds >= 2 * 8, "both ask every 100 ms: {k:?}");
    assert_eq!(k.resolved_by_termination, 0);
    assert!(k.blocking_time_ms_max > 900.0, "{k:?}");
    // The final balances are not knowable while the transfer is in doubt.
    assert!(run.evidence().final_balances.is_err());
    assert_eq!(run.verdicts(), [Some(true), None, Some(true)]);
}

// ---- the checks on hand-built evidence ----

fn txn(seq: u64) -> TxnId {
    TxnId { coordinator: 0, seq }
}

const TC: NodeId = NodeId(0);
const P1: NodeId = NodeId(1);
const P2: NodeId = NodeId(2);
const C1: NodeId = NodeId(3);

fn names() -> Vec<String> {
    ["tc1", "p1", "p2", "c1"].map(String::from).to_vec()
}

fn good_evidence() -> Evidence {
    let t = SimTime::from_ms(1);
    Evidence {
        accounts: 2,
        initial_balance: 100,
        decisions: vec![
            (TC, txn(1), Outcome::Commit, t),
            (P1, txn(1), Outcome::Commit, t),
            (P2, txn(1), Outcome::Commit, t),
        ],
        participants: BTreeMap::from([(txn(1), vec![P1, P2])]),
        applied: BTreeMap::from([(P1, BTreeSet::from([txn(1)])), (P2, BTreeSet::from([txn(1)]))]),
        in_doubt: BTreeMap::new(),
        txn_of_op: BTreeMap::from([(0, txn(1))]),
        final_balances: Ok(vec![90, 110]),
        key_versions: BTreeMap::new(),
    }
}

/// A history of one client's operations: (op, status, output).
fn history(ops: Vec<(Op, OpStatus, Output)>) -> History {
    let mut h = History::default();
    for (i, (op, status, output)) in ops.into_iter().enumerate() {
        let id = h.invoke(C1, op, SimTime::from_ms(10 * i as u64));
        h.complete(id, status, output, SimTime::from_ms(10 * i as u64 + 5));
    }
    h
}

fn transfer_op() -> Op {
    let mut op = Op::on(OpKind::Transfer, 0);
    op.arg = OpArg::Transfer { to: 1, amount: 10 };
    op
}

#[test]
fn atomicity_passes_a_consistent_commit_and_flags_split_and_partial_ones() {
    let h = history(vec![(transfer_op(), OpStatus::Ok, Output::Nothing)]);
    let ev = good_evidence();
    assert_eq!(atomicity(&ev, &h, &names(), 5).passed, Some(true));

    let mut split = good_evidence();
    split.decisions[2].2 = Outcome::Abort;
    split.applied.insert(P2, BTreeSet::new());
    let c = atomicity(&split, &h, &names(), 5);
    assert_eq!(c.passed, Some(false));
    let kinds: BTreeSet<&str> = c.examples.iter().map(|f| f.kind).collect();
    // The client's `ok` is contradicted by p2's abort as well.
    assert_eq!(kinds, BTreeSet::from(["split-decision", "partial-commit", "ok-but-aborted"]));
    assert!(c.examples[0].message.contains("p2"), "{:?}", c.examples[0]);

    // A participant still in doubt is blocked, not inconsistent.
    let mut blocked = good_evidence();
    blocked.decisions.pop();
    blocked.applied.insert(P2, BTreeSet::new());
    blocked.in_doubt.insert(P2, BTreeSet::from([txn(1)]));
    assert_eq!(atomicity(&blocked, &h, &names(), 5).passed, Some(true));

    // The client was told `fail` for a transaction that committed.
    let failed = history(vec![(transfer_op(), OpStatus::Fail, Output::Nothing)]);
    let c = atomicity(&ev, &failed, &names(), 5);
    assert_eq!(c.examples.iter().map(|f| f.kind).collect::<Vec<_>>(), ["fail-but-committed"]);
}

#[test]
fn conservation_checks_the_final_total_and_audits_and_says_when_it_cannot_know() {
    let audit_op = Op::on(OpKind::Audit, 0);
    let ok = history(vec![(audit_op, OpStatus::Ok, Output::Numbers(vec![95, 105]))]);
    assert_eq!(conservation(&good_evidence(), &ok, &names(), 5).passed, Some(true));

    let mut lost = good_evidence();
    lost.final_balances = Ok(vec![90, 100]);
    let c = conservation(&lost, &ok, &names(), 5);
    assert_eq!((c.passed, c.examples[0].kind), (Some(false), "total-changed"));

    let bad_audit = history(vec![(audit_op, OpStatus::Ok, Output::Numbers(vec![90, 100]))]);
    let c = conservation(&good_evidence(), &bad_audit, &names(), 5);
    assert_eq!((c.passed, c.examples[0].kind), (Some(false), "audit-total"));
    // A failed audit returned nothing to judge.
    let failed = history(vec![(audit_op, OpStatus::Fail, Output::Nothing)]);
    assert_eq!(conservation(&good_evidence(), &failed, &names(), 5).passed, Some(true));

    let mut unknown = good_evidence();
    unknown.final_balances = Err("p2 is down at the end".into());
    let c = conservation(&unknown, &ok, &names(), 5);
    assert_eq!(c.passed, None);
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("p2 is down")), "{c:?}");
}

#[test]
fn isolation_flags_fractured_and_dirty_reads_only() {
    let v = |id| Value { id, size_bytes: 10 };
    let mut ev = good_evidence();
    // Key 0 got value 1 then 2; key 1 got value 1 only.
    ev.key_versions = BTreeMap::from([(0, vec![1, 2]), (1, vec![1])]);
    let put1 = Op::multi(OpKind::MultiPut, &[0, 1], Some(v(1)));
    let put2 = Op::put(0, v(2));
    let get = Op::multi(OpKind::MultiGet, &[0, 1], None);
    let verdict = |read: Vec<Value>| {
        let h = history(vec![
            (put1, OpStatus::Ok, Output::Nothing),
            (put2, OpStatus::Ok, Output::Nothing),
            (get, OpStatus::Ok, Output::Values(read)),
        ]);
        let c = isolation(&ev, &h, &names(), 5);
        (c.passed, c.examples.iter().map(|f| f.kind).collect::<Vec<_>>())
    };
    // Before the multi-put, all of it, and all of it then a newer value.
    assert_eq!(verdict(vec![v(0), v(0)]), (Some(true), vec![]));
    assert_eq!(verdict(vec![v(1), v(1)]), (Some(true), vec![]));
    assert_eq!(verdict(vec![v(2), v(1)]), (Some(true), vec![]));
    // Half of it.
    assert_eq!(verdict(vec![v(0), v(1)]), (Some(false), vec!["fractured-read"]));
    // A value never committed.
    assert_eq!(verdict(vec![v(0), v(9)]), (Some(false), vec!["dirty-read"]));
}

// ---- parameters ----

#[test]
fn bad_params_name_their_key() {
    let bad = |f: fn(&mut Params)| {
        let mut p = params();
        f(&mut p);
        p.validate(3).expect_err("invalid").key
    };
    assert_eq!(bad(|p| p.coordinators = 0), "coordinators");
    assert_eq!(bad(|p| p.coordinators = 1_000), "coordinators");
    assert_eq!(bad(|p| p.initial_balance = -1), "initial_balance");
    assert_eq!(bad(|p| p.vote_timeout_ms = 0), "vote_timeout_ms");
    assert_eq!(bad(|p| p.decision_timeout_ms = u64::MAX), "decision_timeout_ms");
    assert_eq!(bad(|p| p.client_timeout_ms = 0), "client_timeout_ms");
    assert!(params().validate(3).expect("defaults are valid").is_empty());
    let mut buggy = params();
    buggy.bug = Bug::NoWal;
    assert!(buggy.validate(3).unwrap()[0].contains("no_wal"));
    // Every parameter is documented, under its name in the scenario.
    let keys: Vec<String> =
        toml::to_string(&params()).unwrap().lines().filter_map(|l| l.split(" = ").next().map(String::from)).collect();
    for k in keys {
        assert!(PARAM_DOCS.iter().any(|(name, _, _)| *name == k), "{k} is not documented");
    }
}
