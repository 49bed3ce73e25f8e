//! End-to-end tests of primary-backup replication: the view rules, the
//! forwarding and state transfer, the at-most-once filter, each lab bug
//! caught, the checks on hand-built facts, and the invariants across many
//! seeds with random crashes.

use protocols::primary_backup::{
    AT_MOST_ONCE, Ack, Applied, Bug, Msg, Node, ONE_PRIMARY_PER_VIEW, PARAM_DOCS, Params, PrimaryReply, ReqId, State,
    View, ViewRecord, at_most_once, build, checks, client_ids, final_replicas, one_primary_per_view, report, server,
    server_id, view_log,
};
use reports::Labels;
use reports::linear::{Budget, KvMap};
use reports::replicas::FinalState;
use sim_core::fault::{FaultAction, Nemesis, NemesisKind, TimedFault};
use sim_core::net::NodeSet;
use sim_core::workload::WorkloadConfig;
use sim_core::{Dist, Key, Limits, Message, NodeId, OpKind, OpStatus, Sim, SimConfig, SimTime, Value, ms};
use std::collections::BTreeMap;

struct Setup {
    params: Params,
    servers: usize,
    clients: usize,
    cfg: SimConfig,
}

impl Setup {
    /// A closed-loop get/put workload on `keys` keys from 500 ms (when the
    /// first views have settled) until `stop_ms`, latencies 0.5..1.5 ms.
    fn new(params: Params, servers: usize, clients: usize, keys: u64, stop_ms: u64, seed: u64) -> Setup {
        let nodes = 1 + servers + clients;
        let mut net = sim_core::net::NetConfig::simple(nodes, 1.0);
        net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
        let mut workload = WorkloadConfig::closed(client_ids(servers, clients), keys, SimTime::from_ms(stop_ms));
        workload.start = SimTime::from_ms(500);
        workload.arrivals =
            sim_core::workload::Arrivals::Closed { think_time_ms: Dist::Uniform { min: 0.0, max: 5.0 } };
        let cfg = SimConfig {
            seed,
            net,
            workload,
            faults: Default::default(),
            limits: Limits { quiesce_ns: ms(500), deadline: SimTime::from_ms(stop_ms + 20_000), max_events: 5_000_000 },
            record_trace: false,
        };
        Setup { params, servers, clients, cfg }
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    fn cut(self, at_ms: u64, from: &[NodeId], to: &[NodeId]) -> Setup {
        let (from, to) = (NodeSet::from_nodes(from.iter().copied()), NodeSet::from_nodes(to.iter().copied()));
        self.fault(at_ms, FaultAction::Cut { from, to })
    }

    fn run(self) -> Run {
        self.params.validate(self.servers).expect("test parameters are valid");
        let mut sim = Sim::new(self.cfg, build(&self.params, self.servers, self.clients));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        Run { sim, params: self.params }
    }
}

struct Run {
    sim: Sim<Node>,
    params: Params,
}

const VS: NodeId = NodeId(0);

fn s(i: usize) -> NodeId {
    server_id(i - 1)
}

impl Run {
    fn linearizable(&self) -> reports::Verdict {
        let (keys, values) = (BTreeMap::new(), BTreeMap::new());
        let labels = Labels { nodes: self.sim.names(), keys: &keys, values: &values };
        let history = reports::convert::from_sim(self.sim.history(), &labels);
        reports::linear::check(&history, &KvMap, &Budget::default(), 5).verdict
    }

    fn lost_writes(&self) -> Option<u64> {
        let (keys, values) = (BTreeMap::new(), BTreeMap::new());
        let labels = Labels { nodes: self.sim.names(), keys: &keys, values: &values };
        let finals = final_replicas(&self.sim).map(|replicas| FinalState { replicas });
        finals.as_ref()?;
        Some(reports::replicas::lost_writes(self.sim.history(), finals.as_ref(), 5, &labels).violation_count)
    }

    fn check(&self, name: &str) -> Option<bool> {
        checks(&self.sim, 5).into_iter().find(|c| c.name == name).expect("a protocol check").passed
    }

    fn report(&self) -> protocols::primary_backup::PbReport {
        let threshold = ms(self.params.client_timeout_ms);
        report(self.sim.actors(), self.sim.history(), self.sim.fault_log(), self.sim.names(), threshold, self.sim.now())
    }

    fn views(&self) -> Vec<View> {
        view_log(self.sim.actors()).iter().map(|r| r.view).collect()
    }

    fn ok(&self, kind: OpKind) -> usize {
        self.sim.history().ops.iter().filter(|r| r.op.kind == kind && r.status == Some(OpStatus::Ok)).count()
    }

    fn sent(&self, kind: &str) -> u64 {
        let i = Msg::KINDS.iter().position(|k| *k == kind).expect("a message kind");
        self.sim.stats().by_kind[i].sent
    }
}

fn three(seed: u64) -> Setup {
    Setup::new(Params::default(), 3, 4, 10, 3_000, seed)
}

fn with_bug(bug: Bug) -> Params {
    Params { bug, ..Params::default() }
}

// ---- views ----

#[test]
fn views_start_with_the_lowest_servers_and_each_waits_for_the_primarys_ack() {
    let run = three(1).run();
    let log: Vec<ViewRecord> = view_log(run.sim.actors()).to_vec();
    assert_eq!(log[0].view, View { num: 1, primary: Some(s(1)), backup: None });
    assert_eq!(log[1].view, View { num: 2, primary: Some(s(1)), backup: Some(s(2)) });
    for pair in log.windows(2) {
        let acked = pair[0].acked_at.expect("a view is acknowledged before the next starts");
        assert!(
            acked <= pair[1].at,
            "view {} started before view {} was acknowledged",
            pair[1].view.num,
            pair[0].view.num
        );
    }
    assert_eq!(log.len(), 2, "no failures, no view changes after the backup joins: {log:?}");
}

#[test]
fn a_dead_primary_is_replaced_by_its_backup_and_an_idle_server_becomes_backup() {
    for seed in 0..5 {
        let run = three(seed).fault(1_500, FaultAction::Crash(s(1))).run();
        let views = run.views();
        let last = *views.last().expect("views");
        assert_eq!(last, View { num: 3, primary: Some(s(2)), backup: Some(s(3)) }, "seed {seed}: {views:?}");
        assert_eq!(run.linearizable(), reports::Verdict::Pass, "seed {seed}");
        assert_eq!(run.lost_writes(), Some(0), "seed {seed}");
        let r = run.report();
        assert_eq!(r.failovers.len(), 1);
        let f = r.failovers[0].failover_ms.expect("served again");
        // Dead after three silent intervals (300-400 ms), then the new
        // primary hears of its view and transfers the state.
        assert!((300.0..=600.0).contains(&f), "seed {seed}: failover took {f} ms");
        assert!(r.counters.unavailability_longest_ms >= 250.0, "seed {seed}: {:?}", r.windows);
    }
}

#[test]
fn the_view_does_not_advance_without_the_primarys_acknowledgement() {
    // s2 never gets view 2's state transfer (s1 cannot reach it), so s1
    // never acknowledges view 2. When s1 dies, the view server must not
    // promote s2, which holds nothing: the service stops instead.
    let run = three(1).cut(0, &[s(1)], &[s(2)]).fault(1_500, FaultAction::Crash(s(1))).run();
    let log = view_log(run.sim.actors());
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].view.backup, Some(s(2)));
    assert_eq!(log[1].acked_at, None);
    assert!(run.views().iter().all(|v| v.primary != Some(s(2))));
    assert_eq!(run.ok(OpKind::Put) + run.ok(OpKind::Get), 0, "no backup ever held the state: nothing completes");
    assert_eq!(run.linearizable(), reports::Verdict::Pass);
}

#[test]
fn a_primary_restarted_before_the_view_server_noticed_refuses_to_serve() {
    // s1 crashes and restarts within one ping interval: its first ping, of
    // view 0, tells the view server, which promotes the backup.
    let run = three(3).fault(1_500, FaultAction::Crash(s(1))).fault(1_520, FaultAction::Restart(s(1))).run();
    let last = *run.views().last().expect("views");
    assert_eq!(last.primary, Some(s(2)), "{:?}", run.views());
    assert_eq!(run.linearizable(), reports::Verdict::Pass);
    assert_eq!(run.lost_writes(), Some(0));
}

// ---- forwarding, rejections, split brain ----

#[test]
fn a_primary_cut_off_from_the_view_server_is_refused_by_its_backup() {
    let clients = client_ids(3, 4);
    let run = three(2)
        .cut(1_000, &[s(1)], &[VS])
        .cut(1_000, &[VS, clients[2], clients[3]], &[s(1)])
        .fault(2_500, FaultAction::Heal)
        .run();
    let r = run.report();
    assert!(r.counters.forwards_rejected >= 1, "{:?}", r.counters);
    assert!(r.counters.rejected_requests >= 1, "the deposed primary tells its clients: {:?}", r.counters);
    assert_eq!(run.linearizable(), reports::Verdict::Pass);
    assert_eq!(run.check(ONE_PRIMARY_PER_VIEW), Some(true));
    assert_eq!(run.lost_writes(), Some(0));
}

// ---- each bug is caught ----

#[test]
fn no_view_check_lets_a_deposed_primary_serve_stale_reads() {
    let clients = client_ids(3, 4);
    let mut setup = Setup::new(with_bug(Bug::NoViewCheck), 3, 4, 5, 3_000, 1);
    setup = setup
        .cut(1_000, &[s(1)], &[VS])
        .cut(1_000, &[VS, clients[2], clients[3]], &[s(1)])
        .fault(2_500, FaultAction::Heal);
    let run = setup.run();
    assert_eq!(run.check(ONE_PRIMARY_PER_VIEW), Some(false));
    assert_eq!(run.linearizable(), reports::Verdict::Fail);
}

#[test]
fn promote_idle_erases_the_state_and_loses_writes() {
    let run = Setup::new(with_bug(Bug::PromoteIdle), 3, 4, 100, 3_000, 1).fault(1_500, FaultAction::Crash(s(1))).run();
    let last = *run.views().last().expect("views");
    assert_eq!(last, View { num: 3, primary: Some(s(3)), backup: Some(s(2)) });
    assert_eq!(run.linearizable(), reports::Verdict::Fail);
    assert!(run.lost_writes().expect("final state known") >= 1);
}

#[test]
fn reply_before_ack_loses_acknowledged_writes_in_a_crash() {
    let setup = |bug| {
        Setup::new(with_bug(bug), 3, 4, 100, 1_700, 1)
            .cut(1_000, &[s(1)], &[s(2)])
            .fault(1_200, FaultAction::Crash(s(1)))
            .run()
    };
    let buggy = setup(Bug::ReplyBeforeAck);
    assert_eq!(buggy.linearizable(), reports::Verdict::Fail);
    assert!(buggy.lost_writes().expect("final state known") >= 1);
    // The same faults cost the correct protocol availability, not writes.
    let correct = setup(Bug::None);
    assert_eq!(correct.linearizable(), reports::Verdict::Pass);
    assert_eq!(correct.lost_writes(), Some(0));
    assert!(correct.report().counters.unavailability_longest_ms >= 400.0);
}

// ---- at most once ----

#[test]
fn duplicated_and_lost_messages_are_filtered_and_applied_once() {
    let mut setup =
        Setup::new(Params { client_timeout_ms: 50, forward_timeout_ms: 20, ..Params::default() }, 3, 4, 10, 3_000, 4);
    setup.cfg.net.loss = 0.1;
    setup.cfg.net.duplicate = 0.2;
    let run = setup.run();
    let r = run.report();
    assert!(r.counters.duplicates_filtered >= 10, "{:?}", r.counters);
    assert_eq!(run.check(AT_MOST_ONCE), Some(true));
    assert_eq!(run.linearizable(), reports::Verdict::Pass);
    // Without crashes each server applies each request at most once.
    let mut per_server: BTreeMap<(NodeId, ReqId), u32> = BTreeMap::new();
    for i in 1..=3 {
        for a in server(run.sim.actors(), s(i)).applies() {
            *per_server.entry((a.server, a.id)).or_default() += 1;
        }
    }
    assert!(per_server.values().all(|&n| n == 1), "a request applied twice at one server");
    // Every acknowledged put is in the final primary's state exactly once.
    let primary = run.views().last().and_then(|v| v.primary).expect("a primary");
    let state = server(run.sim.actors(), primary).state();
    assert!(state.applied.values().all(|&n| n == 1));
    assert!(state.applied.len() >= run.ok(OpKind::Put));
}

#[test]
fn at_most_once_flags_a_second_application_of_a_request() {
    let names: Vec<String> = ["vs", "s1", "s2", "c1"].iter().map(|s| s.to_string()).collect();
    let id = ReqId { client: NodeId(3), req: (1 << 40) + 7 };
    let apply = |server, count| Applied { at: SimTime::from_ms(5), server: NodeId(server), view: 2, id, count };
    assert!(at_most_once(&[apply(1, 1), apply(2, 1)], &names).is_empty());
    let bad = at_most_once(&[apply(1, 1), apply(2, 1), apply(2, 2)], &names);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].kind, "applied-twice");
    assert!(bad[0].message.contains("s2") && bad[0].message.contains("c1#1.7"), "{}", bad[0].message);
}

// ---- one primary per view, on hand-built facts ----

#[test]
fn one_primary_per_view_on_hand_built_facts() {
    let names: Vec<String> = ["vs", "s1", "s2", "s3", "c1"].iter().map(|s| s.to_string()).collect();
    let view = |num, p: u32, b: u32| ViewRecord {
        at: SimTime::from_ms(num * 100),
        view: View { num, primary: Some(NodeId(p)), backup: Some(NodeId(b)) },
        acked_at: None,
    };
    let log = vec![view(1, 1, 2), view(2, 2, 3)];
    let reply = |server: u32, v: u64, ack: Option<(u32, u64)>, at_ms: u64| PrimaryReply {
        at: SimTime::from_ms(at_ms),
        server: NodeId(server),
        view: v,
        id: ReqId { client: NodeId(4), req: (1 << 40) + at_ms },
        ack: ack.map(|(by, view)| Ack { by: NodeId(by), view }),
    };
    // Good: s1 in view 1 on s2's acks in view 1, then s2 in view 2.
    let good = [reply(1, 1, Some((2, 1)), 150), reply(2, 2, Some((3, 2)), 250), reply(2, 2, None, 260)];
    assert!(one_primary_per_view(&good, &log, &names).is_empty());
    // Two servers replying as primary of view 2.
    let two = [reply(2, 2, Some((3, 2)), 250), reply(3, 2, None, 260)];
    let kinds: Vec<&str> = one_primary_per_view(&two, &log, &names).iter().map(|f| f.kind).collect();
    assert_eq!(kinds, ["two-primaries", "unnamed-primary"]);
    // s1 replies as primary of view 1 on an ack s2 gave in view 2, whose
    // primary is s2: both acting at once.
    let stale = [reply(2, 2, Some((3, 2)), 250), reply(1, 1, Some((2, 2)), 255)];
    let found = one_primary_per_view(&stale, &log, &names);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, "stale-primary");
    assert_eq!(found[0].nodes, vec![NodeId(1), NodeId(2)]);
    // An ack from a later view in which the replier is still primary is
    // not two primaries.
    let log3 = vec![
        view(1, 1, 2),
        ViewRecord { view: View { num: 2, primary: Some(NodeId(1)), backup: Some(NodeId(3)) }, ..view(2, 1, 3) },
    ];
    assert!(one_primary_per_view(&[reply(1, 1, Some((2, 2)), 255)], &log3, &names).is_empty());
}

// ---- state transfer ----

#[test]
fn a_new_backup_receives_the_whole_state() {
    let run = three(5).fault(1_500, FaultAction::Crash(s(2))).run();
    let last = *run.views().last().expect("views");
    assert_eq!(last, View { num: 3, primary: Some(s(1)), backup: Some(s(3)) });
    let primary = server(run.sim.actors(), s(1)).state();
    let backup = server(run.sim.actors(), s(3)).state();
    assert_eq!(primary, backup, "after quiescence the backup's copy is the primary's");
    assert!(!primary.data.is_empty());
    let r = run.report();
    assert_eq!(r.counters.state_transfers, 2, "to s2 in view 2, to s3 in view 3");
    // By the crash every one of the 10 keys holds a 100-byte value: the
    // transfer to s3 carries at least those.
    assert!(r.counters.state_transfer_bytes >= 10 * (16 + 100), "{:?}", r.counters);
    assert_eq!(run.sent("transfer"), r.counters.state_transfer_messages);
    assert_eq!(run.linearizable(), reports::Verdict::Pass);
    assert_eq!(run.check(ONE_PRIMARY_PER_VIEW), Some(true));
}

#[test]
fn a_transfer_costs_the_states_bytes() {
    let mut state = State::default();
    state.data.insert(1 as Key, Value { id: 1, size_bytes: 1_000 });
    state.data.insert(2, Value { id: 2, size_bytes: 500 });
    state.applied.insert(ReqId { client: NodeId(9), req: 1 }, 1);
    assert_eq!(state.size_bytes(), 16 + 1_000 + 16 + 500 + 16);
    let msg = Msg::Transfer { view: 3, state: state.clone() };
    assert_eq!(msg.size_bytes(), protocols::primary_backup::HEADER_BYTES + state.size_bytes());
}

// ---- many seeds, random crashes ----

#[test]
fn invariants_hold_across_seeds_with_random_crashes() {
    let mut changed = 0;
    for seed in 0..24 {
        let mut setup = Setup::new(Params::default(), 3, 4, 5, 4_000, seed);
        setup.cfg.faults.nemeses.push(Nemesis {
            kind: NemesisKind::Crash,
            targets: (1..=3).map(s).collect(),
            interval_ms: Dist::Uniform { min: 500.0, max: 900.0 },
            duration_ms: Dist::Uniform { min: 50.0, max: 450.0 },
            start: SimTime::from_ms(700),
            stop: SimTime::from_ms(4_000),
        });
        setup.cfg.faults.final_heal = true;
        setup.cfg.net.loss = 0.01;
        let run = setup.run();
        assert_eq!(run.linearizable(), reports::Verdict::Pass, "seed {seed}");
        assert_eq!(run.check(ONE_PRIMARY_PER_VIEW), Some(true), "seed {seed}");
        assert_eq!(run.check(AT_MOST_ONCE), Some(true), "seed {seed}");
        assert!(run.lost_writes().unwrap_or(0) == 0, "seed {seed}");
        changed += usize::from(run.views().len() > 2);
    }
    assert!(changed >= 12, "the nemesis changed views in only {changed} of 24 runs");
}

// ---- determinism ----

#[test]
fn same_seed_same_trace_hash() {
    let go = |seed| {
        let run = three(seed).fault(1_500, FaultAction::Crash(s(1))).run();
        (run.sim.trace_hash(), format!("{:?}", run.sim.history().ops))
    };
    assert_eq!(go(7), go(7));
    assert_ne!(go(7).0, go(8).0);
}

// ---- parameters ----

#[test]
fn bad_params_name_their_key() {
    let cases: Vec<(Params, usize, &str)> = vec![
        (Params { dead_pings: 0, ..Params::default() }, 3, "dead_pings"),
        (Params { client_retries: 1_000_000, ..Params::default() }, 3, "client_retries"),
        (Params { ping_interval_ms: 0, ..Params::default() }, 3, "ping_interval_ms"),
        (Params { client_timeout_ms: 0, ..Params::default() }, 3, "client_timeout_ms"),
        (Params { forward_timeout_ms: u64::MAX, ..Params::default() }, 3, "forward_timeout_ms"),
        (with_bug(Bug::PromoteIdle), 2, "bug"),
    ];
    for (params, servers, key) in cases {
        let e = params.validate(servers).expect_err(key);
        assert_eq!(e.key, key, "{e}");
    }
    assert!(Params::default().validate(3).expect("defaults are valid").is_empty());
    assert!(!Params::default().validate(1).expect("one server is legal").is_empty(), "but warned about");
    assert!(!with_bug(Bug::ReplyBeforeAck).validate(3).expect("legal").is_empty(), "a bug is warned about");
}

#[test]
fn every_parameter_is_documented_and_parsed_from_toml() {
    let value = toml::Value::try_from(Params::default()).expect("params serialize");
    let keys: Vec<&String> = value.as_table().expect("a table").keys().collect();
    let documented: Vec<&str> = PARAM_DOCS.iter().map(|(k, _, _)| *k).collect();
    for k in &keys {
        assert!(documented.contains(&k.as_str()), "{k} is not documented");
    }
    assert_eq!(keys.len(), documented.len());
    let p: Params = toml::from_str("dead_pings = 5\nbug = \"promote_idle\"\n").expect("parses");
    assert_eq!((p.dead_pings, p.bug), (5, Bug::PromoteIdle));
    assert!(toml::from_str::<Params>("bug = \"sideways\"\n").is_err());
}
