//! Crashes, restarts, pauses, timers, and the random nemesis.

use crate::support::*;
use sim_core::fault::{FaultAction, FaultSource, Nemesis, NemesisKind, TimedFault};
use sim_core::workload::ScriptedOp;
use sim_core::{Dist, EndReason, NodeId, NodeStatus, OpStatus, SimTime, TimerId, ms};
use std::cell::Cell;
use std::rc::Rc;

fn fault(at: SimTime, action: FaultAction) -> TimedFault {
    TimedFault { at, action }
}

/// Writes 1, 2, syncs, writes 3 at start; sets Tick(n) at n*10 ms for n in
/// 1..=10; on recovery writes and syncs 4 and sets Tick(100) 5 ms later.
fn durable_ticker() -> Node {
    Node::Probe(Probe::new(|ctx, seen| match seen {
        Seen::Start => {
            ctx.disk().write(1);
            ctx.disk().write(2);
            ctx.disk().sync();
            ctx.disk().write(3);
            for n in 1..=10 {
                ctx.set_timer(ms(10 * n), Timer::Tick(n));
            }
        }
        Seen::Recover { .. } => {
            ctx.disk().write(4);
            ctx.disk().sync();
            ctx.set_timer(ms(5), Timer::Tick(100));
        }
        _ => {}
    }))
}

fn crash_restart(crash_ms: u64, restart_ms: u64) -> Vec<TimedFault> {
    vec![fault(at_ms(crash_ms), FaultAction::Crash(A)), fault(at_ms(restart_ms), FaultAction::Restart(A))]
}

#[test]
fn restart_recovers_exactly_the_synced_records() {
    let mut cfg = config(1, 1);
    cfg.faults.schedule = crash_restart(35, 50);
    let mut sim = build(cfg, vec![durable_ticker()]);
    sim.run();
    let recoveries: Vec<_> =
        probe(&sim, A).log.iter().filter(|(_, s)| matches!(s, Seen::Recover { .. })).cloned().collect();
    assert_eq!(recoveries, [(at_ms(50), Seen::Recover { synced: vec![1, 2], read: vec![1, 2] })]);
    // The unsynced 3 is gone for good: the next sync does not revive it.
    assert_eq!(sim.disk(A).synced(), [1, 2, 4]);
    let d = sim.disk_stats(A);
    assert_eq!((d.writes, d.syncs, d.records, d.lost_on_crash), (4, 2, 3, 1));
    let n = &sim.stats().by_node[A.index()];
    assert_eq!((n.crashes, n.restarts), (1, 1));
}

#[test]
fn timers_set_before_a_crash_never_fire_after_it() {
    let mut cfg = config(1, 1);
    cfg.faults.schedule = crash_restart(35, 50);
    let mut sim = build(cfg, vec![durable_ticker()]);
    sim.run();
    // Ticks 4..=10 were due at 40..=100 ms, after the crash; only the timer
    // set by the new incarnation fires.
    assert_eq!(probe(&sim, A).ticks(), [(at_ms(10), 1), (at_ms(20), 2), (at_ms(30), 3), (at_ms(55), 100)]);
    assert_eq!(sim.stats().by_node[A.index()].timers_fired, 4);
}

#[test]
fn messages_to_a_down_node_are_dropped() {
    let mut cfg = config(3, 1);
    cfg.faults.schedule = crash_restart(10, 30);
    let b = sender(vec![send(ms(5), A, 1, 1), send(ms(15), A, 2, 1), send(ms(40), A, 3, 1)]);
    // A message in flight at the crash lands while the node is down, too.
    let c = sender(vec![send(ms(9), A, 4, 1)]);
    let mut sim = build(cfg, vec![quiet(), b, c]);
    sim.run();
    assert_eq!(probe(&sim, A).received_seqs(), [1, 3]);
    assert_eq!(sim.stats().by_kind[DATA].dropped_receiver_down, 2);
}

#[test]
fn client_crash_makes_its_pending_operation_unknown() {
    let mut cfg = config(2, 1);
    cfg.net.latency_ms = Dist::constant(10.0);
    cfg.workload.clients = vec![B];
    cfg.workload.script = vec![ScriptedOp { at: SimTime::ZERO, client: B, op: put(1, 1) }];
    cfg.faults.schedule = vec![fault(at_ms(5), FaultAction::Crash(B))];
    let mut sim = build(cfg, vec![server(), client(A)]);
    let summary = sim.run();
    let op = &sim.history().ops[0];
    assert_eq!(op.status, Some(OpStatus::Unknown));
    // Why unknown and not fail: the request was in flight and took effect.
    assert_eq!(sim.stats().by_kind[REQ].delivered, 1);
    assert_eq!(sim.status(B), NodeStatus::Down);
    assert_eq!(summary.end_reason, EndReason::QueueEmpty);
}

#[test]
fn crashed_client_settles_its_op_and_carries_on_after_restart() {
    let mut cfg = config(2, 1);
    cfg.net.latency_ms = Dist::constant(10.0);
    cfg.workload.clients = vec![B];
    cfg.workload.stop = at_ms(10_000);
    cfg.workload.ops_per_client = Some(3);
    cfg.workload.arrivals = sim_core::workload::Arrivals::Closed { think_time_ms: Dist::constant(0.0) };
    cfg.faults.schedule = vec![fault(at_ms(5), FaultAction::Crash(B)), fault(at_ms(20), FaultAction::Restart(B))];
    cfg.limits.quiesce_ns = ms(50);
    let ticking = Node::Server(Server { tick_ns: Some(ms(10)), ..Server::default() });
    let mut sim = build(cfg, vec![ticking, client(A)]);
    let summary = sim.run();
    let ops: Vec<_> = sim.history().ops.iter().map(|o| (o.invoke, o.status)).collect();
    assert_eq!(
        ops,
        [(SimTime::ZERO, Some(OpStatus::Unknown)), (at_ms(20), Some(OpStatus::Ok)), (at_ms(40), Some(OpStatus::Ok)),]
    );
    // The lost op is no longer pending, so the run can quiesce.
    assert_eq!((summary.end_reason, summary.end_time), (EndReason::Quiesced, at_ms(110)));
}

#[test]
fn paused_node_gets_its_events_at_resume_in_order() {
    let mut cfg = config(2, 1);
    cfg.faults.schedule = vec![fault(at_ms(5), FaultAction::Pause(A)), fault(at_ms(50), FaultAction::Resume(A))];
    let a = Node::Probe(Probe::new(|ctx, seen| {
        if *seen == Seen::Start {
            ctx.set_timer(ms(25), Timer::Tick(7));
        }
    }));
    let b = sender(vec![send(ms(9), A, 1, 1), send(ms(19), A, 2, 1), send(ms(29), A, 3, 1), send(ms(59), A, 4, 1)]);
    let mut sim = build(cfg, vec![a, b]);
    sim.run();
    let log: Vec<_> = probe(&sim, A).log.iter().filter(|(_, s)| *s != Seen::Start).cloned().collect();
    let data = |seq| Seen::Msg { from: B, msg: Msg::Data { seq, size_bytes: 1 } };
    assert_eq!(
        log,
        [
            (at_ms(50), data(1)),
            (at_ms(50), data(2)),
            (at_ms(50), Seen::Timer(Timer::Tick(7))),
            (at_ms(50), data(3)),
            (at_ms(60), data(4)),
        ]
    );
    assert_eq!(sim.status(A), NodeStatus::Up);
}

/// A probe that sets Tick(1) at 10 ms and Tick(2) at 20 ms, and cancels
/// Tick(1) when a message arrives; the cancel's result goes to `cancelled`.
fn canceller(cancelled: Rc<Cell<Option<bool>>>) -> Node {
    let mut id: Option<TimerId> = None;
    Node::Probe(Probe::new(move |ctx, seen| match seen {
        Seen::Start => {
            id = Some(ctx.set_timer(ms(10), Timer::Tick(1)));
            ctx.set_timer(ms(20), Timer::Tick(2));
        }
        Seen::Msg { .. } => cancelled.set(Some(ctx.cancel_timer(id.expect("set at start")))),
        _ => {}
    }))
}

#[test]
fn cancelled_timer_never_fires() {
    let cancelled = Rc::new(Cell::new(None));
    let b = sender(vec![send(ms(4), A, 1, 1)]);
    let mut sim = build(config(2, 1), vec![canceller(cancelled.clone()), b]);
    sim.run();
    assert_eq!(cancelled.get(), Some(true));
    assert_eq!(probe(&sim, A).ticks(), [(at_ms(20), 2)]);
}

#[test]
fn cancelling_a_fired_timer_reports_false() {
    let cancelled = Rc::new(Cell::new(None));
    let b = sender(vec![send(ms(14), A, 1, 1)]);
    let mut sim = build(config(2, 1), vec![canceller(cancelled.clone()), b]);
    sim.run();
    assert_eq!(cancelled.get(), Some(false));
    assert_eq!(probe(&sim, A).ticks(), [(at_ms(10), 1), (at_ms(20), 2)]);
}

#[test]
fn timer_cancelled_after_a_pause_never_fires() {
    // The message (due at 5 ms) and Tick(1) (due at 10 ms) are both held by
    // the pause; at resume the message runs first and cancels the timer.
    let cancelled = Rc::new(Cell::new(None));
    let mut cfg = config(2, 1);
    cfg.faults.schedule = vec![fault(at_ms(2), FaultAction::Pause(A)), fault(at_ms(15), FaultAction::Resume(A))];
    let b = sender(vec![send(ms(4), A, 1, 1)]);
    let mut sim = build(cfg, vec![canceller(cancelled.clone()), b]);
    sim.run();
    assert_eq!(cancelled.get(), Some(true));
    assert_eq!(probe(&sim, A).ticks(), [(at_ms(20), 2)]);
}

#[test]
fn cancelled_timer_does_not_let_a_later_event_run_past_the_deadline() {
    let p = Node::Probe(Probe::new(|ctx, seen| {
        if *seen == Seen::Start {
            let early = ctx.set_timer(ms(5), Timer::Tick(1));
            ctx.set_timer(ms(20), Timer::Tick(2));
            assert!(ctx.cancel_timer(early));
        }
    }));
    let mut cfg = config(1, 1);
    cfg.limits.deadline = at_ms(10);
    let mut sim = build(cfg, vec![p]);
    let summary = sim.run();
    assert!(probe(&sim, A).ticks().is_empty(), "fired {:?}", probe(&sim, A).ticks());
    assert_eq!((summary.end_reason, summary.end_time), (EndReason::Deadline, at_ms(10)));
}

fn crash_nemesis(interval_ms: f64, duration_ms: f64, stop: SimTime) -> Nemesis {
    Nemesis {
        kind: NemesisKind::Crash,
        targets: vec![A, B, C],
        interval_ms: Dist::constant(interval_ms),
        duration_ms: Dist::constant(duration_ms),
        start: SimTime::ZERO,
        stop,
    }
}

fn nemesis_log(seed: u64) -> Vec<sim_core::fault::FaultRecord> {
    let mut cfg = config(3, seed);
    cfg.faults.nemeses.push(crash_nemesis(100.0, 50.0, at_ms(1_000)));
    let mut sim = build(cfg, vec![quiet(), quiet(), quiet()]);
    sim.run();
    assert!((0..3).all(|i| sim.status(NodeId(i)) == NodeStatus::Up));
    sim.fault_log().to_vec()
}

#[test]
fn crash_nemesis_crashes_and_restarts_on_schedule() {
    let log = nemesis_log(5);
    // Strikes at 100, 200, ..., 900 ms; each crash is undone 50 ms later.
    assert_eq!(log.len(), 18, "{log:#?}");
    for (i, pair) in log.chunks(2).enumerate() {
        let (crash, restart) = (&pair[0], &pair[1]);
        let at = at_ms(100 * (i as u64 + 1));
        assert_eq!((crash.kind, crash.at, crash.source), ("crash", at, FaultSource::Nemesis));
        assert_eq!((restart.kind, restart.at, restart.source), ("restart", at.after(ms(50)), FaultSource::Nemesis));
        assert_eq!(crash.nodes.len(), 1);
        assert_eq!(crash.nodes, restart.nodes);
    }
}

#[test]
fn crash_nemesis_is_deterministic_for_a_seed() {
    let targets = |log: &[sim_core::fault::FaultRecord]| log.iter().map(|r| r.nodes[0]).collect::<Vec<_>>();
    assert_eq!(nemesis_log(5), nemesis_log(5));
    let picks: Vec<_> = [5, 6, 7].into_iter().map(|s| targets(&nemesis_log(s))).collect();
    assert!(picks[0] != picks[1] || picks[0] != picks[2], "targets should depend on the seed: {picks:?}");
    // Over 27 strikes every target is hit.
    assert!([A, B, C].iter().all(|n| picks.iter().flatten().any(|p| p == n)));
}

#[test]
fn final_heal_restarts_a_node_still_down_at_the_workload_stop() {
    let mut cfg = config(3, 1);
    // One strike at 900 ms whose own restart would come only at 10.9 s.
    cfg.faults.nemeses.push(crash_nemesis(900.0, 10_000.0, at_ms(1_000)));
    cfg.faults.final_heal = true;
    cfg.workload.stop = at_ms(1_000);
    let mut sim = build(cfg, vec![quiet(), quiet(), quiet()]);
    sim.run();
    let log = sim.fault_log();
    assert_eq!(log.len(), 2, "the late nemesis restart finds the node up: {log:#?}");
    assert_eq!((log[0].kind, log[0].at, log[0].source), ("crash", at_ms(900), FaultSource::Nemesis));
    assert_eq!((log[1].kind, log[1].at, log[1].source), ("restart", at_ms(1_000), FaultSource::FinalHeal));
    assert_eq!(log[0].nodes, log[1].nodes);
    assert!((0..3).all(|i| sim.status(NodeId(i)) == NodeStatus::Up));
}

#[test]
fn final_heal_also_heals_partitions_and_resumes_paused_nodes() {
    let mut cfg = config(3, 1);
    cfg.faults.schedule =
        vec![fault(at_ms(100), FaultAction::Partition(vec![vec![A]])), fault(at_ms(100), FaultAction::Pause(B))];
    cfg.faults.final_heal = true;
    cfg.workload.stop = at_ms(500);
    let c = sender(vec![send(ms(200), A, 1, 1), send(ms(600), A, 2, 1)]);
    let mut sim = build(cfg, vec![quiet(), quiet(), c]);
    sim.run();
    let healed: Vec<_> =
        sim.fault_log().iter().filter(|r| r.source == FaultSource::FinalHeal).map(|r| r.kind).collect();
    assert_eq!(healed, ["heal", "resume"]);
    assert_eq!(probe(&sim, A).received(), [(at_ms(601), C, 2)]);
    assert_eq!(sim.status(B), NodeStatus::Up);
}
