//! End-to-end tests of the quorum store: each mechanism on its own, then
//! the linearizability checker over many seeds. Whole simulations, checked
//! through the client history, the final replica contents, the message
//! statistics and the protocol's report.

use protocols::quorum::{
    Coordinator, Node, PARAM_DOCS, Params, Quorum, ReadRepair, Ring, Stamp, Versioning, build, client_ids,
    final_replicas, key_position, report, server_id, token_position,
};
use reports::Labels;
use reports::linear::{Budget, KvMap};
use sim_core::fault::{FaultAction, Nemesis, NemesisKind, TimedFault};
use sim_core::net::{LinkRule, NetConfig, NodeSet};
use sim_core::workload::{Arrivals, ScriptedOp, WorkloadConfig};
use sim_core::{
    Dist, Key, Limits, Message, NodeId, Op, OpKind, OpRecord, OpStatus, Output, Sim, SimConfig, SimTime, Value, ms,
};
use std::collections::{BTreeMap, BTreeSet};

/// A deployment and a workload, before the run.
struct Setup {
    params: Params,
    servers: usize,
    clients: usize,
    cfg: SimConfig,
}

impl Setup {
    /// A closed-loop get/put workload on `keys` keys until `stop_ms`, over a
    /// network with latencies uniform in 0.5..1.5 ms.
    fn new(params: Params, servers: usize, clients: usize, keys: u64, stop_ms: u64, seed: u64) -> Setup {
        let mut net = NetConfig::simple(servers + clients, 1.0);
        net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
        let cfg = SimConfig {
            seed,
            net,
            workload: WorkloadConfig::closed(client_ids(servers, clients), keys, SimTime::from_ms(stop_ms)),
            faults: Default::default(),
            limits: Limits { quiesce_ns: ms(2_000), deadline: SimTime::from_ms(60_000), max_events: 5_000_000 },
            record_trace: false,
        };
        Setup { params, servers, clients, cfg }
    }

    /// Only `ops` run, on a network with 1 ms constant latency.
    fn script(mut self, ops: Vec<ScriptedOp>) -> Setup {
        self.cfg.net.latency_ms = Dist::constant(1.0);
        self.cfg.workload.arrivals = Arrivals::ScriptOnly;
        self.cfg.workload.script = ops;
        self
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    /// Latency between `a` and `b`, both ways.
    fn link(mut self, a: &[NodeId], b: &[NodeId], latency_ms: f64) -> Setup {
        self.cfg.net.links.push(LinkRule {
            from: NodeSet::from_nodes(a.iter().copied()),
            to: NodeSet::from_nodes(b.iter().copied()),
            one_way: false,
            latency_ms: Dist::constant(latency_ms),
        });
        self
    }

    fn run(self) -> Run {
        self.params.validate(self.servers).expect("test parameters are valid");
        let mut sim = Sim::new(self.cfg, build(&self.params, self.servers, self.clients));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        Run { sim, params: self.params, servers: self.servers }
    }
}

struct Run {
    sim: Sim<Node>,
    params: Params,
    servers: usize,
}

impl Run {
    fn ops(&self) -> &[OpRecord] {
        &self.sim.history().ops
    }

    fn ops_of(&self, kind: OpKind) -> Vec<&OpRecord> {
        self.ops().iter().filter(|r| r.op.kind == kind).collect()
    }

    fn report(&self) -> protocols::quorum::QuorumReport {
        report(self.sim.actors())
    }

    /// Per key, what each home replica holds (value ids).
    fn replicas(&self) -> BTreeMap<Key, Vec<(NodeId, Vec<u64>)>> {
        let mut out: BTreeMap<Key, Vec<(NodeId, Vec<u64>)>> = BTreeMap::new();
        for (n, k, vs) in final_replicas(self.sim.actors(), self.servers, &self.params) {
            out.entry(k).or_default().push((n, vs.iter().map(|v| v.id).collect()));
        }
        out
    }

    fn divergent_keys(&self) -> Vec<Key> {
        self.replicas()
            .into_iter()
            .filter(|(_, reps)| reps.iter().map(|(_, ids)| ids).collect::<BTreeSet<_>>().len() > 1)
            .map(|(k, _)| k)
            .collect()
    }

    fn server(&self, i: usize) -> &protocols::quorum::Server {
        match &self.sim.actors()[i] {
            Node::Server(s) => s,
            Node::Client(_) => panic!("node {i} is a client"),
        }
    }

    fn sent(&self, kind: &str) -> u64 {
        let i = protocols::quorum::Msg::KINDS.iter().position(|k| *k == kind).expect("a message kind");
        self.sim.stats().by_kind[i].sent
    }

    fn labels(&self) -> (BTreeMap<Key, String>, BTreeMap<u64, String>) {
        (BTreeMap::new(), BTreeMap::new())
    }

    /// The linearizability checker's verdict on the run's history.
    fn linearizable(&self) -> reports::Verdict {
        let (keys, values) = self.labels();
        let labels = Labels { nodes: self.sim.names(), keys: &keys, values: &values };
        let history = reports::convert::from_sim(self.sim.history(), &labels);
        reports::linear::check(&history, &KvMap, &Budget::default(), 5).verdict
    }

    /// Stale reads, as the report's check counts them.
    fn stale_reads(&self) -> u64 {
        let (keys, values) = self.labels();
        let labels = Labels { nodes: self.sim.names(), keys: &keys, values: &values };
        reports::stale::check(self.sim.history(), 5, &labels).violation_count
    }
}

fn val(id: u64) -> Value {
    Value { id, size_bytes: 100 }
}

fn put_at(at_ms: u64, client: NodeId, key: Key, id: u64) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::put(key, val(id)) }
}

fn get_at(at_ms: u64, client: NodeId, key: Key) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::get(key) }
}

fn client(servers: usize, i: usize) -> NodeId {
    server_id(servers + i)
}

fn servers(ids: impl IntoIterator<Item = usize>) -> Vec<NodeId> {
    ids.into_iter().map(server_id).collect()
}

/// Keys whose home replicas (in ring order) satisfy `pred`.
fn keys_where(params: &Params, servers: usize, count: usize, pred: impl Fn(&[NodeId]) -> bool) -> Vec<Key> {
    let ring = Ring::new(servers, params.tokens_per_node, params.n as usize);
    let keys: Vec<Key> = (0..10_000).filter(|&k| pred(ring.homes(k))).take(count).collect();
    assert_eq!(keys.len(), count, "not enough keys with the wanted placement");
    keys
}

fn latency(r: &OpRecord) -> u64 {
    r.latency_ns().expect("completed")
}

// ---- placement ----

#[test]
fn ring_places_keys_on_the_first_n_distinct_servers_clockwise() {
    for (servers, tokens, n) in [(5, 8, 3), (3, 1, 3), (8, 64, 3), (4, 16, 1)] {
        let ring = Ring::new(servers, tokens, n);
        // The ring computed directly from the documented hash.
        let mut all: Vec<(u64, usize)> = (0..servers)
            .flat_map(|s| (0..tokens).map(move |t| (token_position(&format!("n{}", s + 1), t), s)))
            .collect();
        all.sort();
        let mut skipped_duplicates = false;
        for key in 0..300u64 {
            let pos = key_position(key);
            let start = all.iter().position(|(p, _)| *p >= pos).unwrap_or(0);
            let mut walk: Vec<usize> = Vec::new();
            for step in 0..all.len() {
                let s = all[(start + step) % all.len()].1;
                if walk.contains(&s) {
                    if walk.len() < n {
                        skipped_duplicates = true;
                    }
                } else {
                    walk.push(s);
                }
            }
            let expected: Vec<NodeId> = walk.iter().map(|&s| server_id(s)).collect();
            assert_eq!(ring.preference_list(key), expected.as_slice(), "key {key}");
            assert_eq!(ring.homes(key), &expected[..n], "key {key}");
            assert!(ring.ranges_of(expected[0]).contains(&ring.range_of(key)));
        }
        if tokens > 1 && n > 1 {
            assert!(skipped_duplicates, "{servers} servers, {tokens} tokens: no walk met a server twice");
        }
    }
}

#[test]
fn more_tokens_per_node_spread_keys_more_evenly() {
    let spread = |tokens: u32| {
        let ring = Ring::new(8, tokens, 1);
        let mut load = [0u64; 8];
        for key in 0..20_000 {
            load[ring.homes(key)[0].index()] += 1;
        }
        let (min, max) = (*load.iter().min().unwrap(), *load.iter().max().unwrap());
        (min, max)
    };
    let (min1, max1) = spread(1);
    let (min64, max64) = spread(64);
    assert!(max1 > 2 * min1.max(1), "one token: loads {min1}..{max1} should differ widely");
    assert!(max64 < 3_500 && min64 > 1_500, "64 tokens: loads {min64}..{max64} should be near 2500");

    // The report's keys per node shows the same on a real run.
    let run_with = |tokens_per_node| {
        let params = Params { n: 1, r: 1, w: 1, tokens_per_node, ..Params::default() };
        let mut setup = Setup::new(params, 8, 4, 2_000, 3_000, 1);
        setup.cfg.workload.mix = vec![(OpKind::Put, 1.0)];
        setup.run().report().counters
    };
    let (one, many) = (run_with(1), run_with(64));
    assert!(one.keys_per_node_max > 2 * one.keys_per_node_min, "{one:?}");
    assert!(many.keys_per_node_max * 2 < one.keys_per_node_max * 3 / 2, "{many:?} vs {one:?}");
    assert!(many.keys_per_node_stddev < one.keys_per_node_stddev / 2.0, "{many:?} vs {one:?}");
}

// ---- quorums and timeouts ----

#[test]
fn puts_wait_for_w_acknowledgements_and_gets_for_r_replies() {
    // n3 is 30 ms from everyone; the owner coordinates. Waiting for two of
    // three replicas never waits for n3, waiting for three always does.
    for (r, w) in [(2, 2), (3, 3), (1, 3), (3, 1)] {
        let params =
            Params { r, w, coordinator: Coordinator::Owner, read_repair: ReadRepair::None, ..Params::default() };
        let keys = keys_where(&params, 3, 5, |h| h[0] != server_id(2));
        let c = client(3, 0);
        let mut script = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            script.push(put_at(200 * i as u64, c, k, i as u64 + 1));
            script.push(get_at(200 * i as u64 + 100, c, k));
        }
        let all = servers(0..3).into_iter().chain([c]).collect::<Vec<_>>();
        let run = Setup::new(params, 3, 1, 5, 2_000, 1).script(script).link(&[server_id(2)], &all, 30.0).run();
        for op in run.ops() {
            assert_eq!(op.status, Some(OpStatus::Ok), "r={r} w={w}: {op:?}");
            let quorum = if op.op.kind == OpKind::Put { w } else { r };
            let l = latency(op);
            if quorum == 3 {
                assert!(l >= ms(62), "r={r} w={w}: {op:?} took {l} ns without waiting for n3");
            } else {
                assert!(l < ms(10), "r={r} w={w}: {op:?} took {l} ns");
            }
            if op.op.kind == OpKind::Get {
                let put = run.ops().iter().find(|p| p.op.key == op.op.key && p.op.kind == OpKind::Put).unwrap();
                assert_eq!(op.output, Output::Value(put.op.value.unwrap()), "r={r} w={w}");
            }
        }
        let rep = run.report().counters;
        assert_eq!((rep.puts_ok, rep.gets_ok), (5, 5));
    }
}

#[test]
fn timeouts_end_puts_unknown_and_gets_failed_and_refusals_fail() {
    // Every server down: the client's own timeout ends every operation.
    let params = Params::default();
    let mut setup = Setup::new(params.clone(), 3, 2, 4, 3_000, 5);
    for s in 0..3 {
        setup = setup.fault(0, FaultAction::Crash(server_id(s)));
    }
    setup.cfg.faults.final_heal = false;
    let run = setup.run();
    let (puts, gets) = (run.ops_of(OpKind::Put), run.ops_of(OpKind::Get));
    assert!(!puts.is_empty() && !gets.is_empty());
    assert!(puts.iter().all(|p| p.status == Some(OpStatus::Unknown)), "{puts:?}");
    assert!(gets.iter().all(|g| g.status == Some(OpStatus::Fail)), "{gets:?}");
    assert!(run.ops().iter().all(|o| latency(o) == ms(params.request_timeout_ms)));

    // Two of three replicas down: the coordinator's first put reaches only
    // itself and times out (unknown: it holds the value); it then suspects
    // the silent replicas and refuses at once (fail: written nowhere).
    let params = Params { coordinator: Coordinator::Owner, ..Params::default() };
    let key = keys_where(&params, 3, 1, |h| h[0] == server_id(0))[0];
    let c = client(3, 0);
    let script = vec![put_at(10, c, key, 1), put_at(400, c, key, 2), get_at(500, c, key)];
    let run = Setup::new(params.clone(), 3, 1, 1, 1_000, 1)
        .script(script)
        .fault(0, FaultAction::Crash(server_id(1)))
        .fault(0, FaultAction::Crash(server_id(2)))
        .run();
    let ops = run.ops();
    assert_eq!(ops[0].status, Some(OpStatus::Unknown), "{:?}", ops[0]);
    assert!(latency(&ops[0]) >= ms(params.replica_timeout_ms) && latency(&ops[0]) < ms(params.request_timeout_ms));
    assert_eq!(ops[1].status, Some(OpStatus::Fail), "{:?}", ops[1]);
    assert_eq!(ops[2].status, Some(OpStatus::Fail), "{:?}", ops[2]);
    assert!(latency(&ops[1]) < ms(5) && latency(&ops[2]) < ms(5), "refusals are immediate");
    assert!(run.report().counters.suspicions >= 2);
}

// ---- sloppy quorum and hinted handoff ----

/// Five servers, key placed on homes (a, b, c) with a as the owner; b and c
/// crash at 5 ms and restart at `back_ms`; puts every 100 ms until 900 ms,
/// and a get at the end.
fn two_homes_down(quorum: Quorum, back_ms: u64, seed: u64) -> (Run, Key) {
    let params = Params { quorum, coordinator: Coordinator::Owner, ..Params::default() };
    let key = keys_where(&params, 5, 1, |_| true)[0];
    let ring = Ring::new(5, params.tokens_per_node, 3);
    let homes = ring.homes(key).to_vec();
    let c = client(5, 0);
    let mut script: Vec<ScriptedOp> = (0..9).map(|i| put_at(10 + 100 * i, c, key, i + 1)).collect();
    script.push(get_at(3_000, c, key));
    let run = Setup::new(params, 5, 1, 1, 3_000, seed)
        .script(script)
        .fault(5, FaultAction::Crash(homes[1]))
        .fault(5, FaultAction::Crash(homes[2]))
        .fault(back_ms, FaultAction::Restart(homes[1]))
        .fault(back_ms, FaultAction::Restart(homes[2]))
        .run();
    (run, key)
}

#[test]
fn sloppy_quorum_writes_to_stand_ins_that_hand_off_after_recovery() {
    for seed in 1..=3 {
        sloppy_run(seed);
    }
}

fn sloppy_run(seed: u64) {
    let (run, key) = two_homes_down(Quorum::Sloppy, 1_500, seed);
    let puts = run.ops_of(OpKind::Put);
    assert!(puts.iter().all(|p| p.status == Some(OpStatus::Ok)), "{puts:?}");
    // Puts issued before the owner timed out on the dead replicas wait for
    // that timeout, then go to stand-ins; later ones go there at once.
    let timeout = SimTime::from_ms(10 + run.params.replica_timeout_ms);
    assert!(puts.iter().filter(|p| p.invoke < timeout).all(|p| latency(p) >= ms(run.params.replica_timeout_ms - 100)));
    assert!(puts.iter().filter(|p| p.invoke > timeout).all(|p| latency(p) < ms(10)), "{puts:?}");
    let rep = run.report().counters;
    assert!(rep.hints_created >= 2, "{rep:?}");
    assert_eq!(rep.hints_delivered, rep.hints_created, "{rep:?}");
    assert_eq!(rep.hints_pending, 0);
    assert!(run.sent("handoff") > 0 && run.sent("handoff_ack") > 0);
    let last = val(9);
    let replicas = run.replicas();
    assert!(replicas[&key].iter().all(|(_, ids)| ids == &vec![last.id]), "{replicas:?}");
    assert_eq!(run.ops().last().unwrap().output, Output::Value(last));
    assert!(run.divergent_keys().is_empty());
}

#[test]
fn strict_quorum_fails_instead_of_using_stand_ins() {
    for seed in 1..=3 {
        strict_run(seed);
    }
}

fn strict_run(seed: u64) {
    let (run, key) = two_homes_down(Quorum::Strict, 1_500, seed);
    let puts = run.ops_of(OpKind::Put);
    // Before the owner's first timeout, puts reach the owner alone and end
    // unknown; after it, the owner refuses them: they fail.
    let timeout = SimTime::from_ms(10 + run.params.replica_timeout_ms);
    for p in &puts {
        let expected = if p.invoke < timeout { OpStatus::Unknown } else { OpStatus::Fail };
        assert_eq!(p.status, Some(expected), "{p:?}");
    }
    let rep = run.report().counters;
    assert_eq!((rep.hints_created, run.sent("handoff")), (0, 0), "{rep:?}");
    // Only the owner stored anything: the unknown puts, the last of which
    // the final get returns.
    let replicas = &run.replicas()[&key];
    assert_eq!(replicas[0].1, vec![3], "{replicas:?}");
    assert_eq!(run.ops().last().unwrap().output, Output::Value(val(3)));
}

// ---- versioning ----

/// Rounds of: put A, put B 20 ms later from another client, get 100 ms
/// later; returns how many gets saw A (B was acknowledged before the get).
fn older_put_wins(clock_skew_ms: u64, seed: u64) -> usize {
    let params = Params { clock_skew_ms, ..Params::default() };
    let (c1, c2, c3) = (client(3, 0), client(3, 1), client(3, 2));
    let mut script = Vec::new();
    for k in 0..20 {
        let t = 200 * k;
        script.push(put_at(t, c1, k, 2 * k + 1));
        script.push(put_at(t + 20, c2, k, 2 * k + 2));
        script.push(get_at(t + 100, c3, k));
    }
    let run = Setup::new(params, 3, 3, 20, 5_000, seed).script(script).run();
    assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)));
    run.ops_of(OpKind::Get).iter().filter(|g| matches!(g.output, Output::Value(v) if v.id % 2 == 1)).count()
}

#[test]
fn last_writer_wins_picks_the_newest_and_clock_skew_breaks_it() {
    let mut lost = 0;
    for seed in 1..=3 {
        assert_eq!(older_put_wins(0, seed), 0, "seed {seed}: without skew the later put wins");
        lost += older_put_wins(500, seed);
    }
    assert!(lost > 0, "with 500 ms of skew some later put should lose to an earlier one");
}

#[test]
fn vector_clocks_make_siblings_of_concurrent_puts_and_a_put_with_context_supersedes_them() {
    let params = Params { versioning: Versioning::VectorClocks, ..Params::default() };
    let (c1, c2, c3) = (client(3, 0), client(3, 1), client(3, 2));
    let script = vec![
        put_at(0, c1, 7, 1),   // blind, concurrent with
        put_at(0, c2, 7, 2),   // this blind put
        get_at(100, c3, 7),    // both, as siblings
        put_at(200, c3, 7, 3), // with the context of that get: supersedes both
        get_at(300, c1, 7),
        put_at(400, c2, 7, 4), // c2 saw only its own put: concurrent with 3
        get_at(500, c1, 7),
    ];
    for seed in 1..=3 {
        let run = Setup::new(params.clone(), 3, 3, 1, 1_000, seed).script(script.clone()).run();
        let ops = run.ops();
        assert!(ops.iter().all(|o| o.status == Some(OpStatus::Ok)), "seed {seed}: {ops:?}");
        assert_eq!(ops[2].output, Output::Values(vec![val(1), val(2)]), "seed {seed}");
        assert_eq!(ops[4].output, Output::Value(val(3)), "seed {seed}");
        assert_eq!(ops[6].output, Output::Values(vec![val(3), val(4)]), "seed {seed}");
        let rep = run.report().counters;
        assert_eq!((rep.gets_with_siblings, rep.max_versions_per_get), (2, 2), "{rep:?}");
        assert!((rep.versions_per_get_mean - 5.0 / 3.0).abs() < 1e-9);
        assert_eq!(rep.keys_with_siblings, 1);
    }
}

#[test]
fn vector_clocks_are_truncated_to_the_configured_bound() {
    let params = Params { versioning: Versioning::VectorClocks, vector_clock_max_entries: 2, ..Params::default() };
    let run = Setup::new(params, 3, 5, 1, 1_000, 3).run();
    let mut longest = 0;
    for s in 0..3 {
        for v in run.server(s).versions(0).expect("the key was written") {
            let Stamp::Clock(c) = &v.stamp else { panic!("a vector clock store holds {v:?}") };
            longest = longest.max(c.len());
        }
    }
    assert_eq!(longest, 2, "five writers, at most two entries, and the bound is reached");
    assert!(run.ops_of(OpKind::Put).len() > 20);
}

// ---- read repair ----

/// Keys owned by n1 are written while n3 is cut off from the other
/// servers (until 300 ms), then read `gets` times each after the heal.
fn n3_misses_writes(read_repair: ReadRepair, gets: u64, anti_entropy_interval_ms: u64, seed: u64) -> Run {
    let params = Params {
        coordinator: Coordinator::Owner,
        read_repair,
        anti_entropy_interval_ms,
        merkle_leaves: 8,
        ..Params::default()
    };
    let keys = keys_where(&params, 3, 6, |h| h[0] == server_id(0));
    let c = client(3, 0);
    let mut script: Vec<ScriptedOp> =
        keys.iter().enumerate().map(|(i, &k)| put_at(10 + 10 * i as u64, c, k, k + 1)).collect();
    for round in 0..gets {
        script.extend(keys.iter().enumerate().map(|(i, &k)| get_at(400 + 100 * round + 10 * i as u64, c, k)));
    }
    let (n12, n3) = (servers(0..2), servers(2..3));
    // n2 is 20 ms from the other servers, so n1's first two replies come
    // from itself and n3.
    Setup::new(params, 3, 1, 1, 1_000, seed)
        .script(script)
        .link(&[server_id(1)], &[server_id(0), server_id(2)], 20.0)
        .fault(0, FaultAction::Cut { from: NodeSet::from_nodes(n3.clone()), to: NodeSet::from_nodes(n12.clone()) })
        .fault(0, FaultAction::Cut { from: NodeSet::from_nodes(n12), to: NodeSet::from_nodes(n3) })
        .fault(300, FaultAction::Heal)
        .run()
}

#[test]
fn async_read_repair_fixes_a_stale_replica_and_without_it_the_replica_stays_stale() {
    for seed in 1..=3 {
        let run = n3_misses_writes(ReadRepair::Async, 1, 0, seed);
        assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)));
        assert!(run.ops_of(OpKind::Get).iter().all(|g| matches!(g.output, Output::Value(v) if v.id == g.op.key + 1)));
        let rep = run.report().counters;
        assert_eq!(rep.read_repairs, 6, "one repair per key, to n3: {rep:?}");
        assert_eq!(run.sent("read_repair"), 6);
        assert!(rep.read_repair_bytes >= 6 * 100);
        assert!(run.divergent_keys().is_empty(), "{:?}", run.replicas());

        let run = n3_misses_writes(ReadRepair::None, 1, 0, seed);
        assert_eq!(run.divergent_keys().len(), 6, "nothing repairs n3");
        assert_eq!(run.report().counters.read_repairs, 0);
    }
}

#[test]
fn blocking_read_repair_writes_back_before_answering() {
    // The first round of gets: the first two replies come from n1 (fresh)
    // and n3 (behind). Async gets answer at once (client -> n1 -> n3 -> n1
    // -> client: 4 ms); blocking ones first write the value back to n3 and
    // wait for its acknowledgement (6 ms). In the second round n3 has it.
    for seed in 1..=3 {
        let fast = n3_misses_writes(ReadRepair::Async, 1, 0, seed);
        let slow = n3_misses_writes(ReadRepair::Blocking, 2, 0, seed);
        let gets = |run: &Run| run.ops_of(OpKind::Get).into_iter().map(latency).collect::<Vec<_>>();
        let (fast, slow_gets) = (gets(&fast), gets(&slow));
        assert!(fast.iter().all(|l| *l == ms(4)), "{fast:?}");
        assert!(slow_gets[..6].iter().all(|l| *l == ms(6)), "{slow_gets:?}");
        assert!(slow_gets[6..].iter().all(|l| *l == ms(4)), "{slow_gets:?}");
        assert!(slow.ops().iter().all(|o| o.status == Some(OpStatus::Ok)));
        assert!(slow.sent("write_back") > 0 && slow.sent("read_repair") == 0);
        assert!(slow.report().counters.read_repairs > 0);
        assert!(slow.divergent_keys().is_empty());
        assert_eq!(slow.stale_reads(), 0);
    }
}

// ---- anti-entropy ----

#[test]
fn merkle_anti_entropy_repairs_a_replica_that_missed_writes() {
    for seed in 1..=3 {
        let run = n3_misses_writes(ReadRepair::None, 0, 100, seed);
        let rep = run.report().counters;
        assert!(run.divergent_keys().is_empty(), "{:?}", run.replicas());
        assert_eq!(rep.anti_entropy_keys_repaired, 6, "each missed key repaired once, on n3: {rep:?}");
        assert!(rep.anti_entropy_rounds > 0);
        let ae_sent = run.sent("ae_tree") + run.sent("ae_sync") + run.sent("ae_sync_reply");
        assert_eq!(rep.anti_entropy_messages, ae_sent, "the counters match the network's statistics");
        assert!(run.sent("ae_sync") > 0 && rep.anti_entropy_bytes > 6 * 100);

        let without = n3_misses_writes(ReadRepair::None, 0, 0, seed);
        assert_eq!(without.divergent_keys().len(), 6);
        assert_eq!(without.report().counters.anti_entropy_rounds, 0);
    }
}

#[test]
fn anti_entropy_between_equal_replicas_sends_only_roots() {
    // Twenty puts in the first 40 ms, each on all three replicas before it
    // is acknowledged; then nothing but anti-entropy for five seconds. Every
    // round finds equal roots: one message of root hashes, nothing more.
    let params = Params { w: 3, anti_entropy_interval_ms: 500, ..Params::default() };
    let script: Vec<ScriptedOp> = (0..20).map(|k| put_at(2 * k, client(4, 0), k, k + 1)).collect();
    for seed in 1..=3 {
        let mut setup = Setup::new(params.clone(), 4, 1, 20, 100, seed).script(script.clone());
        setup.cfg.limits.quiesce_ns = ms(5_000);
        let run = setup.run();
        let rep = run.report().counters;
        assert!(rep.anti_entropy_rounds >= 30, "seed {seed}: {rep:?}");
        assert_eq!(run.sent("ae_tree"), rep.anti_entropy_rounds, "seed {seed}: only roots were sent");
        assert_eq!(run.sent("ae_sync") + run.sent("ae_sync_reply") + rep.anti_entropy_keys_repaired, 0);
    }
}

// ---- failure detection ----

#[test]
fn gossip_spreads_liveness_so_coordinators_skip_a_dead_server_without_timing_out() {
    // n5 dies at 50 ms and returns at 3 s. Sloppy puts with w = 3 need
    // three live targets: a coordinator that does not know n5 is dead
    // waits out the replica timeout once before using a stand-in.
    let run_with = |gossip_interval_ms, seed| {
        let params = Params {
            quorum: Quorum::Sloppy,
            coordinator: Coordinator::Owner,
            w: 3,
            r: 1,
            gossip_interval_ms,
            suspect_ms: 500,
            hinted_handoff_interval_ms: 100_000,
            ..Params::default()
        };
        let keys = keys_where(&params, 5, 10, |h| h.contains(&server_id(4)) && h[0] != server_id(4));
        let c = client(5, 0);
        let mut script: Vec<ScriptedOp> =
            keys.iter().enumerate().map(|(i, &k)| put_at(1_500 + 20 * i as u64, c, k, k + 1)).collect();
        script.extend(keys.iter().enumerate().map(|(i, &k)| put_at(5_000 + 20 * i as u64, c, k, k + 100_000)));
        Setup::new(params, 5, 1, 1, 5_500, seed)
            .script(script)
            .fault(50, FaultAction::Crash(server_id(4)))
            .fault(3_000, FaultAction::Restart(server_id(4)))
            .run()
    };
    for seed in 1..=3 {
        let with = run_with(50, seed);
        let without = run_with(0, seed);
        let slowest = |run: &Run| run.ops().iter().take(10).map(latency).max().unwrap();
        assert!(slowest(&with) < ms(10), "gossip had told every coordinator that n5 is down");
        assert!(slowest(&without) >= ms(300), "without gossip some coordinator had to time out on n5");
        for run in [&with, &without] {
            assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)));
        }
        // Back up, n5's heartbeats rise again: the late puts go to it directly
        // (no handoff ever runs here), so it holds them.
        let n5 = with.server(4);
        let late: Vec<bool> = with
            .ops()
            .iter()
            .skip(10)
            .map(|p| n5.versions(p.op.key).is_some_and(|vs| vs[0].value == p.op.value.unwrap()))
            .collect();
        assert!(late.iter().all(|l| *l), "{late:?}");
    }
}

// ---- durability ----

#[test]
fn crashed_servers_and_stand_ins_keep_their_synced_data() {
    // A stand-in holding hints crashes and restarts before the home
    // replicas are back: its hints survive and are still handed off.
    let params = Params { quorum: Quorum::Sloppy, coordinator: Coordinator::Owner, ..Params::default() };
    let key = keys_where(&params, 5, 1, |_| true)[0];
    let ring = Ring::new(5, params.tokens_per_node, 3);
    let pref = ring.preference_list(key).to_vec();
    let c = client(5, 0);
    let script: Vec<ScriptedOp> = (0..5).map(|i| put_at(10 + 100 * i, c, key, i + 1)).collect();
    let run = Setup::new(params, 5, 1, 1, 3_000, 1)
        .script(script)
        .fault(5, FaultAction::Crash(pref[1]))
        .fault(5, FaultAction::Crash(pref[2]))
        .fault(700, FaultAction::Crash(pref[3]))
        .fault(800, FaultAction::Restart(pref[3]))
        .fault(1_500, FaultAction::Restart(pref[1]))
        .fault(1_500, FaultAction::Restart(pref[2]))
        .run();
    assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)), "{:?}", run.ops());
    for n in [pref[1], pref[2], pref[3]] {
        assert_eq!(run.sim.disk_stats(n).lost_on_crash, 0, "every write is synced before it is acknowledged");
    }
    let rep = run.report().counters;
    assert_eq!(rep.hints_pending, 0, "{rep:?}");
    assert!(run.replicas()[&key].iter().all(|(_, ids)| ids == &vec![5]), "{:?}", run.replicas());
}

#[test]
fn restarted_replica_serves_what_it_synced() {
    let params =
        Params { r: 1, w: 3, coordinator: Coordinator::Owner, read_repair: ReadRepair::None, ..Params::default() };
    let c = client(3, 0);
    let mut script: Vec<ScriptedOp> = (0..10).map(|k| put_at(10 * k, c, k, k + 1)).collect();
    script.extend((0..10).map(|k| get_at(600 + 10 * k, c, k)));
    // Every server crashes and restarts between the puts and the gets.
    let mut setup = Setup::new(params, 3, 1, 10, 1_000, 1).script(script);
    for s in 0..3 {
        setup = setup.fault(300, FaultAction::Crash(server_id(s))).fault(400, FaultAction::Restart(server_id(s)));
    }
    let run = setup.run();
    assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)));
    for g in run.ops_of(OpKind::Get) {
        assert_eq!(g.output, Output::Value(val(g.op.key + 1)));
    }
}

// ---- whole-store properties ----

/// Servers whose links have heavy-tailed latencies (exponential, mean
/// `mean_ms`): a put often reaches one replica long before the others.
fn heavy_tailed(setup: &mut Setup, mean_ms: f64) {
    let all = servers(0..setup.servers);
    setup.cfg.net.links.push(LinkRule {
        from: NodeSet::from_nodes(all.iter().copied()),
        to: NodeSet::from_nodes(all),
        one_way: false,
        latency_ms: Dist::Exponential { mean: mean_ms, offset: 0.0 },
    });
}

/// Six clients on two keys for 2 s while random partitions strike: the
/// nodes, clients included, split into two random halves, or one server is
/// cut off. Clients on both sides keep sending requests to coordinators on
/// both sides, so minority coordinators write what they can reach.
fn partitioned(mut params: Params, seed: u64) -> Run {
    params.request_timeout_ms = 300;
    params.replica_timeout_ms = 100;
    params.suspect_ms = 200;
    let mut setup = Setup::new(params, 3, 6, 2, 2_000, seed);
    heavy_tailed(&mut setup, 3.0);
    setup.cfg.workload.mix = vec![(OpKind::Get, 0.7), (OpKind::Put, 0.3)];
    let everyone: Vec<NodeId> = (0..9).map(NodeId).collect();
    for (kind, targets) in [(NemesisKind::Partition, everyone), (NemesisKind::Isolate, servers(0..3))] {
        setup.cfg.faults.nemeses.push(Nemesis {
            kind,
            targets,
            interval_ms: Dist::Exponential { mean: 300.0, offset: 0.0 },
            duration_ms: Dist::Uniform { min: 50.0, max: 300.0 },
            start: SimTime::ZERO,
            stop: SimTime::from_ms(2_000),
        });
    }
    setup.cfg.faults.final_heal = true;
    setup.run()
}

/// Eight clients on one key, mostly reading, over heavy-tailed server
/// links, without faults.
fn contended(params: Params, seed: u64) -> Run {
    let mut setup = Setup::new(params, 3, 8, 1, 1_000, seed);
    heavy_tailed(&mut setup, 5.0);
    setup.cfg.workload.mix = vec![(OpKind::Get, 0.8), (OpKind::Put, 0.2)];
    setup.run()
}

#[test]
fn blocking_read_repair_with_r_plus_w_above_n_is_linearizable_under_partitions() {
    let params = Params { read_repair: ReadRepair::Blocking, ..Params::default() };
    let mut not_ok = 0;
    for seed in 1..=30 {
        let run = partitioned(params.clone(), seed);
        let ops = run.ops();
        assert!(ops.len() > 100, "seed {seed}: only {} ops", ops.len());
        not_ok += ops.iter().filter(|o| o.status != Some(OpStatus::Ok)).count();
        assert_eq!(run.linearizable(), reports::Verdict::Pass, "seed {seed}");
        assert_eq!(run.stale_reads(), 0, "seed {seed}");
    }
    assert!(not_ok > 100, "the partitions cost only {not_ok} operations: they did not bite");
    for seed in 1..=5 {
        assert_eq!(contended(params.clone(), seed).linearizable(), reports::Verdict::Pass, "contended, seed {seed}");
    }
}

#[test]
fn clock_skew_breaks_the_linearizability_of_blocking_read_repair() {
    // The same runs with clocks 20 ms apart at most: a put coordinated by a
    // server whose clock is behind can lose to an older one.
    let params = Params { read_repair: ReadRepair::Blocking, clock_skew_ms: 20, ..Params::default() };
    let fails =
        (1..=3).filter(|&seed| partitioned(params.clone(), seed).linearizable() == reports::Verdict::Fail).count();
    assert!(fails >= 2, "skewed clocks broke linearizability in only {fails} of 3 runs");
}

#[test]
fn r_plus_w_at_most_n_is_not_linearizable() {
    let params = Params { r: 1, w: 1, read_repair: ReadRepair::Blocking, ..Params::default() };
    let fails =
        (1..=5).filter(|&seed| partitioned(params.clone(), seed).linearizable() == reports::Verdict::Fail).count();
    assert!(fails >= 4, "r = w = 1 of 3 read old values in only {fails} of 5 runs");
}

#[test]
fn quorums_without_write_back_never_read_stale_but_are_not_linearizable() {
    // R + W > N: no get misses an acknowledged put. But a put that so far
    // reached one replica may be seen by one get and missed by a later one
    // that reads two other replicas (a new-old inversion).
    for read_repair in [ReadRepair::None, ReadRepair::Async] {
        let params = Params { read_repair, ..Params::default() };
        let mut violations = 0;
        for seed in 1..=5 {
            let run = contended(params.clone(), seed);
            assert_eq!(run.stale_reads(), 0, "{read_repair:?} seed {seed}");
            violations += usize::from(run.linearizable() == reports::Verdict::Fail);
            assert_eq!(partitioned(params.clone(), seed).stale_reads(), 0, "{read_repair:?} seed {seed}");
        }
        assert!(violations >= 3, "{read_repair:?}: new-old inversions in only {violations} of 5 runs");
    }
}

#[test]
fn random_faults_never_trip_an_assertion() {
    // Crashes, pauses, partitions, loss and duplication of every node,
    // clients included, in every mode: requests may fail, but no state the
    // assertions call impossible is ever reached.
    let modes = [
        Params { quorum: Quorum::Sloppy, versioning: Versioning::VectorClocks, ..Params::default() },
        Params {
            read_repair: ReadRepair::Blocking,
            gossip_interval_ms: 50,
            anti_entropy_interval_ms: 100,
            ..Params::default()
        },
        Params {
            quorum: Quorum::Sloppy,
            read_repair: ReadRepair::None,
            anti_entropy_interval_ms: 100,
            merkle_leaves: 4,
            clock_skew_ms: 50,
            ..Params::default()
        },
        Params {
            versioning: Versioning::VectorClocks,
            vector_clock_max_entries: 2,
            read_repair: ReadRepair::Blocking,
            coordinator: Coordinator::Owner,
            tokens_per_node: 1,
            ..Params::default()
        },
    ];
    for (m, params) in modes.into_iter().enumerate() {
        for seed in 1..=4 {
            let mut setup = Setup::new(params.clone(), 5, 3, 8, 2_000, seed);
            let all: Vec<NodeId> = (0..8).map(NodeId).collect();
            for (kind, every_ms) in [
                (NemesisKind::Crash, 500.0),
                (NemesisKind::Pause, 800.0),
                (NemesisKind::Partition, 700.0),
                (NemesisKind::Isolate, 900.0),
            ] {
                setup.cfg.faults.nemeses.push(Nemesis {
                    kind,
                    targets: all.clone(),
                    interval_ms: Dist::Exponential { mean: every_ms, offset: 0.0 },
                    duration_ms: Dist::Uniform { min: 50.0, max: 600.0 },
                    start: SimTime::ZERO,
                    stop: SimTime::from_ms(2_000),
                });
            }
            setup.cfg.faults.final_heal = true;
            setup.cfg.net.loss = 0.02;
            setup.cfg.net.duplicate = 0.02;
            setup.cfg.net.jitter_ms = 3.0;
            let run = setup.run();
            assert!(run.ops().iter().all(|r| r.status.is_some()), "mode {m} seed {seed}");
            let rep = run.report().counters;
            assert!(rep.hints_delivered <= rep.hints_created, "mode {m} seed {seed}: {rep:?}");
        }
    }
}

#[test]
fn same_seed_same_trace() {
    let hash = |seed| {
        let params = Params {
            quorum: Quorum::Sloppy,
            versioning: Versioning::VectorClocks,
            anti_entropy_interval_ms: 100,
            gossip_interval_ms: 50,
            ..Params::default()
        };
        let setup = Setup::new(params, 5, 3, 10, 800, seed).fault(200, FaultAction::Crash(server_id(1)));
        setup.run().sim.trace_hash()
    };
    assert_eq!(hash(11), hash(11));
    assert_ne!(hash(11), hash(12));
}

// ---- parameters ----

#[test]
fn validate_names_the_offending_key() {
    let check = |p: Params| p.validate(3);
    assert_eq!(check(Params { n: 4, ..Params::default() }).unwrap_err().key, "n");
    assert!(check(Params { n: 4, ..Params::default() }).unwrap_err().message.contains('3'));
    assert_eq!(check(Params { n: 0, ..Params::default() }).unwrap_err().key, "n");
    assert_eq!(check(Params { r: 4, ..Params::default() }).unwrap_err().key, "r");
    assert_eq!(check(Params { w: 0, ..Params::default() }).unwrap_err().key, "w");
    assert_eq!(check(Params { tokens_per_node: 0, ..Params::default() }).unwrap_err().key, "tokens_per_node");
    assert_eq!(check(Params { merkle_leaves: 48, ..Params::default() }).unwrap_err().key, "merkle_leaves");
    assert_eq!(
        check(Params { vector_clock_max_entries: 0, ..Params::default() }).unwrap_err().key,
        "vector_clock_max_entries"
    );
    assert_eq!(check(Params { request_timeout_ms: 0, ..Params::default() }).unwrap_err().key, "request_timeout_ms");
    let huge = sim_core::time::MAX_DURATION_MS + 1;
    assert_eq!(check(Params { suspect_ms: huge, ..Params::default() }).unwrap_err().key, "suspect_ms");
    assert_eq!(check(Params { gossip_interval_ms: huge, ..Params::default() }).unwrap_err().key, "gossip_interval_ms");
    assert_eq!(check(Params::default()), Ok(Vec::new()));
    let weak = check(Params { r: 1, w: 1, ..Params::default() }).unwrap();
    assert!(weak.iter().any(|w| w.contains("reads may miss the latest write")), "{weak:?}");
    assert!(weak.iter().any(|w| w.contains("w = 1")), "{weak:?}");
    assert!(check(Params { clock_skew_ms: 10, ..Params::default() }).unwrap().iter().any(|w| w.contains("skew")));
}

#[test]
fn params_read_from_toml_and_are_all_documented() {
    let p: Params =
        toml::from_str("n = 5\nquorum = \"sloppy\"\nversioning = \"vector_clocks\"\nread_repair = \"blocking\"")
            .expect("valid parameters");
    assert_eq!(
        (p.n, p.quorum, p.versioning, p.read_repair),
        (5, Quorum::Sloppy, Versioning::VectorClocks, ReadRepair::Blocking)
    );
    assert_eq!(p.r, Params::default().r, "unset keys keep their default");
    assert!(toml::from_str::<Params>("quorom = \"sloppy\"").is_err(), "unknown keys are rejected");
    let defaults: toml::Table = toml::Table::try_from(Params::default()).expect("params serialize");
    let documented: BTreeMap<&str, &str> = PARAM_DOCS.iter().map(|(name, default, _)| (*name, *default)).collect();
    assert_eq!(defaults.keys().map(String::as_str).collect::<BTreeSet<_>>(), documented.keys().copied().collect());
    for (name, value) in &defaults {
        let shown = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        assert_eq!(documented[name.as_str()], shown, "documented default of {name}");
    }
}
