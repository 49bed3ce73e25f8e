//! End-to-end tests of Chord: whole simulations, checked against a direct
//! computation from the set of live identifiers, through the client
//! history, the final replicas and the protocol's report.

use protocols::chord::{
    Bootstrap, ChordNode, ChordReport, Id, IdSpec, LookupStyle, Node, PARAM_DOCS, Params, Peer, build, client_ids,
    final_replicas, final_ring, key_id, node_id, report, successor_of, tables_vs_truth,
};
use sim_core::fault::{FaultAction, TimedFault};
use sim_core::net::NetConfig;
use sim_core::workload::{Arrivals, ScriptedOp, WorkloadConfig};
use sim_core::{Dist, Limits, NodeId, Op, OpKind, OpStatus, Output, Sim, SimConfig, SimTime, Value, ms};

/// A deployment and a workload, before the run.
struct Setup {
    params: Params,
    nodes: usize,
    clients: usize,
    cfg: SimConfig,
}

impl Setup {
    /// Closed-loop lookups on 1,000 keys until `stop_ms`, latencies uniform
    /// in 0.5..1.5 ms, then 1 s of quiet.
    fn new(params: Params, nodes: usize, clients: usize, stop_ms: u64, seed: u64) -> Setup {
        let total = nodes + params.spare_nodes as usize + clients;
        let mut net = NetConfig::simple(total, 1.0);
        net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
        let mut workload =
            WorkloadConfig::closed(client_ids(&params, nodes, clients), 1_000, SimTime::from_ms(stop_ms));
        workload.mix = vec![(OpKind::Lookup, 1.0)];
        workload.arrivals = Arrivals::Closed { think_time_ms: Dist::constant(2.0) };
        let cfg = SimConfig {
            seed,
            net,
            workload,
            faults: Default::default(),
            limits: Limits {
                quiesce_ns: ms(1_000),
                deadline: SimTime::from_ms(stop_ms + 20_000),
                max_events: 20_000_000,
            },
            record_trace: false,
        };
        Setup { params, nodes, clients, cfg }
    }

    /// Only `ops` run (on client c1 unless they say otherwise).
    fn script(mut self, ops: Vec<ScriptedOp>) -> Setup {
        self.cfg.workload.arrivals = Arrivals::ScriptOnly;
        self.cfg.workload.script = ops;
        self
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    fn run(self) -> Run {
        self.params.validate(self.nodes).expect("test parameters are valid");
        let mut sim = Sim::new(self.cfg, build(&self.params, self.nodes, self.clients));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        Run { sim, params: self.params, nodes: self.nodes, trace_hash: summary.trace_hash }
    }
}

struct Run {
    sim: Sim<Node>,
    params: Params,
    nodes: usize,
    trace_hash: u64,
}

impl Run {
    fn report(&self) -> ChordReport {
        report(self.sim.actors(), self.sim.fault_log(), 1_000, &self.params)
    }

    fn chord(&self) -> Vec<&ChordNode> {
        self.sim
            .actors()
            .iter()
            .filter_map(|a| match a {
                Node::Chord(c) => Some(&**c),
                Node::Client(_) => None,
            })
            .collect()
    }

    fn client(&self) -> NodeId {
        node_id(self.nodes + self.params.spare_nodes as usize)
    }

    /// Asserts every member's successor list, predecessor and fingers equal
    /// a direct computation from the live identifiers.
    fn assert_tables_exact(&self) {
        let ring = final_ring(self.sim.actors());
        let m = self.params.m;
        let r = self.params.successor_list_len as usize;
        for n in self.chord().into_iter().filter(|n| n.is_member()) {
            assert_eq!(tables_vs_truth(n, &ring, m), (false, false), "node {} tables", n.id());
            let pos = ring.iter().position(|p| p.id == n.id()).expect("member is on the ring");
            let want: Vec<Peer> = (1..=r.min(ring.len() - 1)).map(|k| ring[(pos + k) % ring.len()]).collect();
            assert_eq!(n.successors(), &want[..], "node {} successor list", n.id());
            let pred = ring[(pos + ring.len() - 1) % ring.len()];
            assert_eq!(n.predecessor(), Some(pred), "node {} predecessor", n.id());
            // Key ownership: the node owns exactly (predecessor, itself].
            for key in 0..200 {
                let owns = key_id(key, m).in_half_open(pred.id, n.id());
                let owner = successor_of(&ring, key_id(key, m)).expect("ring is not empty");
                assert_eq!(owns, owner.id == n.id(), "key {key} at node {}", n.id());
            }
        }
    }
}

fn params(bootstrap: Bootstrap, style: LookupStyle) -> Params {
    Params {
        bootstrap,
        lookup_style: style,
        stabilize_interval_ms: 50,
        fix_fingers_interval_ms: 20,
        check_predecessor_interval_ms: 100,
        request_timeout_ms: 50,
        ..Params::default()
    }
}

fn put(at_ms: u64, client: NodeId, key: u64, id: u64) -> ScriptedOp {
    let op = Op::put(key, Value { id, size_bytes: 10 });
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op }
}

fn get(at_ms: u64, client: NodeId, key: u64) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::get(key) }
}

#[test]
fn fingers_and_ownership_match_a_direct_computation_after_stabilisation() {
    for bootstrap in [Bootstrap::Stable, Bootstrap::Join] {
        for seed in 1..=3 {
            let run = Setup::new(params(bootstrap, LookupStyle::Iterative), 16, 1, 1_000, seed).run();
            assert_eq!(final_ring(run.sim.actors()).len(), 16, "{bootstrap:?} seed {seed}: everyone joined");
            run.assert_tables_exact();
        }
    }
}

#[test]
fn the_classroom_ring_has_the_papers_finger_tables() {
    let p = Params {
        m: 3,
        node_ids: Some(vec![IdSpec::Number(0), IdSpec::Number(1), IdSpec::Number(3)]),
        successor_list_len: 2,
        replicas: 1,
        ..params(Bootstrap::Join, LookupStyle::Iterative)
    };
    let run = Setup::new(p, 3, 1, 2_000, 1).run();
    run.assert_tables_exact();
    let fingers: Vec<Vec<u32>> =
        run.chord().iter().map(|n| n.fingers().iter().map(|f| f.expect("finger known").node.0).collect()).collect();
    // Figure 3(b): node 0 -> 1, 3, 0; node 1 -> 3, 3, 0; node 3 -> 0, 0, 0.
    assert_eq!(fingers, vec![vec![1, 2, 0], vec![2, 2, 0], vec![0, 0, 0]]);
}

#[test]
fn lookups_are_correct_in_a_stable_ring_in_both_styles() {
    for style in [LookupStyle::Iterative, LookupStyle::Recursive] {
        let run = Setup::new(params(Bootstrap::Stable, style), 40, 4, 500, 7).run();
        let r = run.report();
        assert!(r.counters.lookups > 200, "{style:?}: {} lookups", r.counters.lookups);
        assert_eq!((r.counters.lookup_failures, r.counters.lookup_wrong_owner), (0, 0), "{style:?}");
        // The history names the owner: compare with the true ring.
        let ring = final_ring(run.sim.actors());
        for rec in &run.sim.history().ops {
            assert_eq!(rec.status, Some(OpStatus::Ok));
            let owner = successor_of(&ring, key_id(rec.op.key, run.params.m)).expect("ring");
            assert_eq!(rec.output, Output::Value(Value { id: owner.node.0 as u64, size_bytes: 0 }));
        }
    }
}

#[test]
fn mean_path_length_grows_like_half_log2_n() {
    let mut means = Vec::new();
    for n in [16usize, 64, 256] {
        // A stable ring needs no fast maintenance: slow timers keep it cheap.
        let p = Params {
            stabilize_interval_ms: 1_000,
            fix_fingers_interval_ms: 1_000,
            check_predecessor_interval_ms: 1_000,
            ..params(Bootstrap::Stable, LookupStyle::Iterative)
        };
        let run = Setup::new(p, n, 8, 400, 3).run();
        let r = run.report();
        let half_log = 0.5 * (n as f64).log2();
        let mean = r.counters.hops_mean;
        assert!(mean > 0.7 * half_log && mean < 1.2 * half_log, "N = {n}: mean {mean}, ½·log2 N = {half_log}");
        means.push(mean);
    }
    for w in means.windows(2) {
        // Four times the nodes: about one more hop (½ per doubling).
        let step = w[1] - w[0];
        assert!((0.5..1.5).contains(&step), "hops grew by {step} from {means:?}");
    }
}

#[test]
fn successor_lists_route_around_failed_nodes() {
    let p = Params { successor_list_len: 4, ..params(Bootstrap::Stable, LookupStyle::Iterative) };
    let mut setup = Setup::new(p, 32, 2, 2_500, 5);
    for i in [2, 9, 15, 22, 28] {
        setup = setup.fault(1_000, FaultAction::Crash(node_id(i)));
    }
    let run = setup.run();
    let r = run.report();
    assert_eq!(r.counters.ring_size_end, 27);
    run.assert_tables_exact();
    // A few lookups in flight at the crash may fail; nearly all succeed.
    let bad = r.counters.lookup_failures + r.counters.lookup_wrong_owner;
    assert!(bad * 50 < r.counters.lookups, "{bad} bad of {} lookups", r.counters.lookups);
    // Long after the crash, every lookup is right.
    for n in run.sim.actors() {
        if let Node::Client(c) = n {
            for l in c.lookups().iter().filter(|l| l.completed > SimTime::from_ms(2_000)) {
                assert!(l.owner.is_some(), "lookup at {} failed", l.completed);
            }
        }
    }
}

#[test]
fn dhash_puts_survive_a_crash_and_are_re_replicated() {
    let p = Params { successor_list_len: 4, replicas: 2, ..params(Bootstrap::Stable, LookupStyle::Recursive) };
    let nodes = 16;
    let ids = p.ids(nodes).expect("ids");
    let mut ring: Vec<Peer> = ids.iter().enumerate().map(|(i, id)| Peer { id: *id, node: node_id(i) }).collect();
    ring.sort();
    let owner = successor_of(&ring, key_id(0, p.m)).expect("ring").node;
    let c1 = client_ids(&p, nodes, 1)[0];
    let mut ops: Vec<ScriptedOp> = (0..20).map(|k| put(100 + k, c1, k, k + 1)).collect();
    ops.extend((0..20).map(|k| get(3_000 + k, c1, k)));
    let run = Setup::new(p, nodes, 1, 3_100, 1).script(ops).fault(1_000, FaultAction::Crash(owner)).run();
    assert_eq!(run.client(), c1);
    for rec in &run.sim.history().ops {
        assert_eq!(rec.status, Some(OpStatus::Ok), "{rec:?}");
        if rec.op.kind == OpKind::Get {
            assert_eq!(rec.output, Output::Value(Value { id: rec.op.key + 1, size_bytes: 10 }), "{rec:?}");
        }
    }
    // Every key is back on its owner and two successors in the final ring.
    let replicas = final_replicas(run.sim.actors(), &run.params);
    assert_eq!(replicas.len(), 20 * 3);
    for (node, key, values) in replicas {
        assert_ne!(node, owner, "the crashed node is not a replica");
        assert_eq!(values, vec![Value { id: key + 1, size_bytes: 10 }], "key {key} on {node:?}");
    }
}

#[test]
fn graceful_leaves_hand_keys_to_the_successor() {
    let p = Params {
        successor_list_len: 3,
        replicas: 0,
        leave_rate_per_s: 4.0,
        churn_stop_ms: 1_500,
        ..params(Bootstrap::Stable, LookupStyle::Iterative)
    };
    let nodes = 16;
    let c1 = client_ids(&p, nodes, 1)[0];
    let mut ops: Vec<ScriptedOp> = (0..20).map(|k| put(50 + k, c1, k, k + 1)).collect();
    ops.extend((0..20).map(|k| get(3_000 + k, c1, k)));
    let run = Setup::new(p, nodes, 1, 3_100, 2).script(ops).run();
    let r = run.report();
    assert!(r.counters.leaves >= 2, "{} leaves", r.counters.leaves);
    // With no replicas, only the hand-off keeps the keys of leaving nodes.
    for rec in run.sim.history().ops.iter().filter(|r| r.op.kind == OpKind::Get) {
        assert_eq!(rec.output, Output::Value(Value { id: rec.op.key + 1, size_bytes: 10 }), "{rec:?}");
    }
    run.assert_tables_exact();
}

#[test]
fn runs_are_deterministic() {
    let churn = || Params {
        spare_nodes: 4,
        join_rate_per_s: 4.0,
        leave_rate_per_s: 4.0,
        ..params(Bootstrap::Join, LookupStyle::Recursive)
    };
    let a = Setup::new(churn(), 12, 2, 1_000, 9).run();
    let b = Setup::new(churn(), 12, 2, 1_000, 9).run();
    let c = Setup::new(churn(), 12, 2, 1_000, 10).run();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.report().table, b.report().table);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert!(a.report().counters.joins > 12, "spares joined");
}

#[test]
fn parameters_are_documented_and_checked() {
    let json = serde_json::to_value(Params::default()).expect("params serialise");
    let mut keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
    let mut documented: Vec<&str> = PARAM_DOCS.iter().map(|(k, _, _)| *k).collect();
    keys.sort_unstable();
    documented.sort_unstable();
    assert_eq!(keys, documented);
    let bad = |p: Params, nodes: usize| p.validate(nodes).expect_err("invalid").key;
    assert_eq!(bad(Params { m: 0, ..Params::default() }, 3), "m");
    assert_eq!(bad(Params { m: 161, ..Params::default() }, 3), "m");
    assert_eq!(bad(Params { replicas: 5, successor_list_len: 4, ..Params::default() }, 3), "replicas");
    assert_eq!(bad(Params { request_timeout_ms: 0, ..Params::default() }, 3), "request_timeout_ms");
    let dup = Some(vec![IdSpec::Number(1), IdSpec::Number(1)]);
    assert_eq!(bad(Params { m: 3, node_ids: dup, ..Params::default() }, 2), "node_ids");
    let big = Some(vec![IdSpec::Number(8)]);
    assert_eq!(bad(Params { m: 3, node_ids: big, ..Params::default() }, 1), "node_ids");
    // Eight nodes hashed onto a ring of 2 positions must collide.
    assert_eq!(bad(Params { m: 1, ..Params::default() }, 8), "m");
    let text = Some(vec![IdSpec::Text("0xffffffffffffffffffffffffffffffffffffffff".into())]);
    assert!(Params { node_ids: text, ..Params::default() }.validate(1).is_ok());
    assert_eq!(Id::parse("0x10"), Some(Id::from_u128(16)));
}
