//! Closed, open and scripted workloads, and how runs end.

use crate::support::*;
use sim_core::workload::{Arrivals, ScriptedOp};
use sim_core::{Dist, EndReason, NodeId, OpStatus, SimConfig, SimTime, ms};

/// A server (node 0) and `clients` clients with a closed loop of 1 ms
/// latency (2 ms round trips) and a 10 s deadline.
fn closed(clients: u32, seed: u64) -> SimConfig {
    let mut cfg = config(clients as usize + 1, seed);
    cfg.workload.clients = (1..=clients).map(NodeId).collect();
    cfg.workload.arrivals = Arrivals::Closed { think_time_ms: Dist::constant(0.0) };
    cfg.workload.keys = 100;
    cfg.workload.stop = at_ms(10_000);
    cfg
}

fn nodes(clients: u32) -> Vec<Node> {
    std::iter::once(server()).chain((0..clients).map(|_| client(A))).collect()
}

#[test]
fn closed_loop_waits_for_completion_plus_think_time() {
    let mut cfg = closed(1, 1);
    cfg.workload.arrivals = Arrivals::Closed { think_time_ms: Dist::constant(10.0) };
    cfg.workload.ops_per_client = Some(5);
    let mut sim = build(cfg, nodes(1));
    sim.run();
    let ops = &sim.history().ops;
    let invokes: Vec<SimTime> = ops.iter().map(|o| o.invoke).collect();
    assert_eq!(invokes, [0, 12, 24, 36, 48].map(at_ms));
    assert!(ops.iter().all(|o| o.status == Some(OpStatus::Ok) && o.latency_ns() == Some(ms(2))));
    for w in ops.windows(2) {
        assert_eq!(w[1].invoke, w[0].complete.expect("completed").after(ms(10)));
    }
}

#[test]
fn closed_loop_with_random_think_time_never_overlaps_a_clients_ops() {
    let mut cfg = closed(3, 4);
    cfg.net.latency_ms = Dist::Uniform { min: 0.5, max: 4.0 };
    cfg.workload.arrivals = Arrivals::Closed { think_time_ms: Dist::Exponential { mean: 3.0, offset: 0.5 } };
    cfg.workload.stop = at_ms(1_000);
    let mut sim = build(cfg, nodes(3));
    sim.run();
    for c in 1..=3 {
        let mine: Vec<_> = sim.history().ops.iter().filter(|o| o.process == NodeId(c)).collect();
        assert!(mine.len() > 50);
        for w in mine.windows(2) {
            // At least the 0.5 ms offset of think time after the previous completion.
            assert!(w[1].invoke >= w[0].complete.expect("completed").after(ms(1) / 2));
        }
    }
}

#[test]
fn ops_per_client_bounds_each_client() {
    let mut cfg = closed(3, 1);
    cfg.workload.ops_per_client = Some(7);
    let mut sim = build(cfg, nodes(3));
    sim.run();
    let ops = &sim.history().ops;
    for c in 1..=3 {
        assert_eq!(ops.iter().filter(|o| o.process == NodeId(c)).count(), 7);
    }
    assert!(ops.iter().all(|o| o.status == Some(OpStatus::Ok)));
}

#[test]
fn total_ops_bounds_the_whole_workload() {
    let mut cfg = closed(3, 1);
    cfg.workload.total_ops = Some(10);
    let mut sim = build(cfg, nodes(3));
    sim.run();
    assert_eq!(sim.history().ops.len(), 10);
}

#[test]
fn open_loop_issues_about_rate_times_duration() {
    let mut cfg = closed(4, 9);
    cfg.workload.arrivals = Arrivals::Open { rate_per_s: 1_000.0 };
    cfg.workload.start = at_ms(500);
    cfg.workload.stop = at_ms(2_500);
    let mut sim = build(cfg, nodes(4));
    sim.run();
    let ops = &sim.history().ops;
    // A Poisson count with mean 2000 has a standard deviation of about 45.
    assert!((1_800..2_200).contains(&ops.len()), "{} ops", ops.len());
    assert!(ops.iter().all(|o| (at_ms(500)..at_ms(2_500)).contains(&o.invoke)));
    for c in 1..=4 {
        let n = ops.iter().filter(|o| o.process == NodeId(c)).count();
        assert!((350..650).contains(&n), "client {c} got {n} ops");
    }
}

#[test]
fn open_loop_does_not_wait_for_completions() {
    // Replies take 50 ms, arrivals come every 1 ms on average to 1 client:
    // a closed loop would issue about 20 ops in a second, an open loop ~1000.
    let mut cfg = closed(1, 2);
    cfg.net.latency_ms = Dist::constant(25.0);
    cfg.workload.arrivals = Arrivals::Open { rate_per_s: 1_000.0 };
    cfg.workload.stop = at_ms(1_000);
    let mut sim = build(cfg, nodes(1));
    sim.run();
    let ops = &sim.history().ops;
    assert!(ops.len() > 800, "{}", ops.len());
    let most_in_flight =
        ops.iter().map(|o| ops.iter().filter(|p| p.invoke <= o.invoke && p.complete > Some(o.invoke)).count()).max();
    assert!(most_in_flight > Some(20), "{most_in_flight:?}");
}

#[test]
fn scripted_ops_run_at_their_times_on_their_clients() {
    let mut cfg = config(3, 1);
    cfg.workload.clients = vec![B, C];
    let script = [(5, C, put(3, 30)), (7, B, get(3)), (7, C, put(4, 40)), (12, B, get(4))];
    cfg.workload.script = script.iter().map(|&(t, client, op)| ScriptedOp { at: at_ms(t), client, op }).collect();
    let mut sim = build(cfg, vec![server(), client(A), client(A)]);
    let summary = sim.run();
    let got: Vec<_> = sim.history().ops.iter().map(|o| (o.invoke, o.process, o.op)).collect();
    let want: Vec<_> = script.iter().map(|&(t, c, op)| (at_ms(t), c, op)).collect();
    assert_eq!(got, want);
    let outputs: Vec<_> = sim.history().ops.iter().map(|o| o.output.clone()).collect();
    assert_eq!(outputs[1], sim_core::Output::Value(put(3, 30).value.expect("put")));
    assert_eq!(outputs[3], sim_core::Output::Value(put(4, 40).value.expect("put")));
    assert_eq!(summary.end_reason, EndReason::QueueEmpty);
}

#[test]
fn ops_pending_at_the_deadline_end_unknown() {
    let mut cfg = config(2, 1);
    cfg.workload.clients = vec![B];
    cfg.workload.script = vec![ScriptedOp { at: at_ms(1), client: B, op: put(1, 1) }];
    cfg.limits.deadline = at_ms(100);
    // The "server" is a probe that never answers; a tick keeps the run going.
    let mute = Node::Probe(Probe::new(|ctx, seen| {
        if matches!(seen, Seen::Start | Seen::Timer(_)) {
            ctx.set_timer(ms(30), Timer::Tick(0));
        }
    }));
    let mut sim = build(cfg, vec![mute, client(A)]);
    let summary = sim.run();
    let op = &sim.history().ops[0];
    assert_eq!((op.status, op.complete), (Some(OpStatus::Unknown), None));
    assert_eq!((summary.end_reason, summary.end_time), (EndReason::Deadline, at_ms(100)));
    assert!(!summary.end_reason.is_limit());
}

#[test]
fn max_events_ends_the_run() {
    let mut cfg = closed(1, 1);
    cfg.limits.max_events = 50;
    let mut sim = build(cfg, nodes(1));
    let summary = sim.run();
    assert_eq!((summary.end_reason, summary.events), (EndReason::MaxEvents, 50));
    assert!(summary.end_reason.is_limit());
    assert!(sim.history().ops.iter().any(|o| o.status == Some(OpStatus::Unknown)), "the op in flight is unknown");
    assert_eq!(sim.run(), summary, "a finished run stays finished");
}

#[test]
fn run_quiesces_once_the_workload_is_done_and_quiet_time_passed() {
    let mut cfg = closed(1, 1);
    cfg.workload.ops_per_client = Some(3);
    cfg.limits.quiesce_ns = ms(100);
    // A background timer every 10 ms keeps the queue from ever emptying.
    let ticking = Node::Server(Server { tick_ns: Some(ms(10)), ..Server::default() });
    let mut sim = build(cfg, vec![ticking, client(A)]);
    let summary = sim.run();
    let last = sim.history().ops.iter().filter_map(|o| o.complete).max();
    assert_eq!(last, Some(at_ms(6)));
    assert_eq!((summary.end_reason, summary.end_time), (EndReason::Quiesced, at_ms(106)));
    assert!(sim.history().ops.iter().all(|o| o.status == Some(OpStatus::Ok)));
}

#[test]
fn run_does_not_quiesce_while_an_op_is_pending() {
    let mut cfg = closed(1, 1);
    cfg.workload.ops_per_client = Some(1);
    cfg.limits.quiesce_ns = ms(10);
    cfg.net.latency_ms = Dist::constant(50.0);
    let ticking = Node::Server(Server { tick_ns: Some(ms(1)), ..Server::default() });
    let mut sim = build(cfg, vec![ticking, client(A)]);
    let summary = sim.run();
    assert_eq!(sim.history().ops[0].complete, Some(at_ms(100)));
    assert_eq!((summary.end_reason, summary.end_time), (EndReason::Quiesced, at_ms(110)));
}
