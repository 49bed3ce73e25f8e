//! Engine behaviours fixed after review: each test fails on the old engine.

use crate::support::*;
use sim_core::fault::{FaultAction, Nemesis, NemesisKind, TimedFault};
use sim_core::trace::TraceKind;
use sim_core::workload::ScriptedOp;
use sim_core::{Dist, EndReason, NodeId, OpStatus, SimTime};

fn fault(at: SimTime, action: FaultAction) -> TimedFault {
    TimedFault { at, action }
}

/// 1 MB at 1,000,000 B/s takes one second to leave the NIC.
const MB: u64 = 1_000_000;

#[test]
fn a_crashed_sender_never_finishes_what_its_nic_had_not_sent() {
    // A sends three 1 MB messages at t=0 over a 1 MB/s NIC: they would leave
    // by 1 s, 2 s and 3 s. A crashes at 1.5 s: only the first got out.
    let mut cfg = config(2, 1);
    cfg.net.nics[A.index()].egress_bytes_per_s = Some(MB);
    cfg.faults.schedule = vec![fault(SimTime(1_500_000_000), FaultAction::Crash(A))];
    let mut sim = build(cfg, vec![sender(vec![send(0, B, 1, MB), send(0, B, 2, MB), send(0, B, 3, MB)]), quiet()]);
    sim.run();
    assert_eq!(probe(&sim, B).received_seqs(), [1]);
    assert_eq!(sim.stats().by_kind[DATA].dropped_sender_down, 2);
    assert_eq!(sim.stats().by_kind[DATA].dropped(), 2);
}

#[test]
fn a_restarted_node_starts_with_an_idle_nic() {
    // A queues 10 s of sending, crashes at 1 s and restarts at 2 s, then
    // sends one byte: it does not wait behind the dead queue.
    let mut cfg = config(2, 1);
    cfg.net.nics[A.index()].egress_bytes_per_s = Some(MB);
    cfg.faults.schedule = vec![
        fault(SimTime::from_ms(1000), FaultAction::Crash(A)),
        fault(SimTime::from_ms(2000), FaultAction::Restart(A)),
    ];
    let a = Node::Probe(Probe::new(|ctx, seen| match seen {
        Seen::Start => (0..10).for_each(|i| ctx.send(B, Msg::Data { seq: i, size_bytes: MB })),
        Seen::Recover { .. } => ctx.send(B, Msg::Data { seq: 99, size_bytes: 1 }),
        _ => {}
    }));
    let mut sim = build(cfg, vec![a, quiet()]);
    sim.run();
    let got = probe(&sim, B).received();
    let seqs: Vec<u64> = got.iter().map(|r| r.2).collect();
    assert_eq!(seqs, [0, 99], "only the first MB left before the crash");
    assert!(got[1].0 < SimTime::from_ms(2010), "sent at 2 s on an idle NIC, arrived at {}", got[1].0);
}

#[test]
fn a_nemesis_heal_leaves_a_scheduled_partition_in_place() {
    // s1 is cut off by the schedule for the whole run; a partition nemesis
    // strikes and heals meanwhile. Its heal must not end the scheduled one.
    let mut cfg = config(3, 1);
    cfg.faults.schedule = vec![fault(SimTime::ZERO, FaultAction::Partition(vec![vec![A]]))];
    cfg.faults.nemeses = vec![Nemesis {
        kind: NemesisKind::Partition,
        targets: vec![B, C],
        interval_ms: Dist::constant(100.0),
        duration_ms: Dist::constant(10.0),
        start: SimTime::ZERO,
        stop: SimTime::from_ms(500),
    }];
    let plan: Vec<Send> = (1..=10).map(|i| send(i * 100_000_000 + 50_000_000, C, i, 1)).collect();
    let mut sim = build(cfg, vec![sender(plan), quiet(), quiet()]);
    sim.run();
    assert!(probe(&sim, C).received_seqs().is_empty(), "A stayed partitioned from C");
    let log = sim.fault_log();
    assert!(log.iter().any(|f| f.kind == "heal"), "the nemesis did heal its own partitions");
}

#[test]
fn final_heal_cancels_pending_nemesis_undos_so_the_run_can_quiesce() {
    // The nemesis crashes a node for 20 s, but the workload stops at 1 s and
    // the final heal restarts everything then: the run quiesces soon after
    // instead of waiting for the 20 s restart.
    let mut cfg = config(2, 1);
    cfg.workload.clients = vec![B];
    cfg.workload.stop = SimTime::from_ms(1000);
    cfg.workload.script = vec![ScriptedOp { at: SimTime::from_ms(10), client: B, op: put(1, 1) }];
    cfg.faults.final_heal = true;
    cfg.faults.nemeses = vec![Nemesis {
        kind: NemesisKind::Crash,
        targets: vec![A],
        interval_ms: Dist::constant(500.0),
        duration_ms: Dist::constant(20_000.0),
        start: SimTime::ZERO,
        stop: SimTime::from_ms(1000),
    }];
    cfg.limits.quiesce_ns = 0;
    let mut sim = build(cfg, vec![server(), client(A)]);
    let summary = sim.run();
    // Without the fix the 20 s restart kept the run going until 20.5 s.
    assert!(matches!(summary.end_reason, EndReason::Quiesced | EndReason::QueueEmpty), "{:?}", summary.end_reason);
    assert!(summary.end_time < SimTime::from_ms(2000), "ended at {}", summary.end_time);
}

#[test]
fn a_scripted_operation_on_a_down_client_is_recorded_as_failed() {
    let mut cfg = config(2, 1);
    cfg.workload.clients = vec![B];
    cfg.workload.script = vec![
        ScriptedOp { at: SimTime::from_ms(10), client: B, op: put(1, 1) },
        ScriptedOp { at: SimTime::from_ms(30), client: B, op: put(1, 2) },
    ];
    cfg.faults.schedule = vec![fault(SimTime::from_ms(20), FaultAction::Crash(B))];
    let mut sim = build(cfg, vec![server(), client(A)]);
    sim.run();
    let ops = &sim.history().ops;
    assert_eq!(ops.len(), 2, "the second put is in the history");
    assert_eq!(ops[1].status, Some(OpStatus::Fail));
    assert_eq!(ops[1].invoke, SimTime::from_ms(30));
}

#[test]
fn an_empty_message_keeps_its_place_in_a_fifo_ingress_queue() {
    // B's ingress takes 1 s per MB. A sends 1 MB then an empty message on a
    // FIFO link: the empty one must not overtake.
    let mut cfg = config(2, 1);
    cfg.net.fifo = true;
    cfg.net.nics[B.index()].ingress_bytes_per_s = Some(MB);
    let mut sim = build(cfg, vec![sender(vec![send(0, B, 1, MB), send(0, B, 2, 0)]), quiet()]);
    sim.run();
    assert_eq!(probe(&sim, B).received_seqs(), [1, 2]);
}

#[test]
fn a_client_crash_completes_its_operations_in_the_trace() {
    let mut cfg = config(2, 1);
    cfg.record_trace = true;
    cfg.net.latency_ms = Dist::constant(10.0);
    cfg.workload.clients = vec![B];
    cfg.workload.script = vec![ScriptedOp { at: SimTime::ZERO, client: B, op: put(1, 1) }];
    cfg.faults.schedule = vec![fault(SimTime::from_ms(5), FaultAction::Crash(B))];
    let mut sim = build(cfg, vec![server(), client(A)]);
    sim.run();
    let trace = sim.trace().expect("recorded");
    let completes = trace.iter().filter(|e| e.kind == TraceKind::Complete && e.node == NodeId(1)).count();
    assert_eq!(completes, 1);
}

#[test]
fn a_message_storm_ends_at_the_pending_event_cap() {
    // Every message received is answered with two: the queue doubles.
    let storm = || {
        Node::Probe(Probe::new(|ctx, seen| match seen {
            Seen::Start if ctx.me() == A => ctx.send(B, Msg::Data { seq: 0, size_bytes: 1 }),
            Seen::Msg { .. } => {
                let other = if ctx.me() == A { B } else { A };
                ctx.send(other, Msg::Data { seq: 0, size_bytes: 1 });
                ctx.send(other, Msg::Data { seq: 0, size_bytes: 1 });
            }
            _ => {}
        }))
    };
    let mut sim = build(config(2, 1), vec![storm(), storm()]);
    sim.set_resource_limits(sim_core::ResourceLimits { max_pending_events: 1000, max_history_ops: u64::MAX });
    let summary = sim.run();
    assert_eq!(summary.end_reason, EndReason::MaxPendingEvents);
    assert!(summary.end_reason.is_limit());
}

#[test]
fn the_history_cap_ends_a_run_that_would_record_too_much() {
    let mut cfg = config(2, 1);
    cfg.workload.clients = vec![B];
    cfg.workload.script =
        (0..100).map(|i| ScriptedOp { at: SimTime::from_ms(10 * i), client: B, op: put(1, i + 1) }).collect();
    let mut sim = build(cfg, vec![server(), client(A)]);
    sim.set_resource_limits(sim_core::ResourceLimits { max_pending_events: u64::MAX, max_history_ops: 25 });
    let summary = sim.run();
    assert_eq!(summary.end_reason, EndReason::MaxHistoryOps);
    assert_eq!(sim.history().ops.len(), 25);
}

#[test]
fn a_run_can_be_driven_in_slices_and_stopped() {
    let mut cfg = config(2, 1);
    cfg.net.latency_ms = Dist::constant(10.0);
    cfg.workload.clients = vec![B];
    cfg.workload.script = vec![ScriptedOp { at: SimTime::ZERO, client: B, op: put(1, 1) }];
    let mut whole = build(cfg.clone(), vec![server(), client(A)]);
    let expected = whole.run();
    // Slices of one event reach the same end as one call.
    let mut sliced = build(cfg.clone(), vec![server(), client(A)]);
    let summary = loop {
        if let Some(s) = sliced.run_for(1) {
            break s;
        }
    };
    assert_eq!(summary, expected);
    // Stopping early ends the run there, pending operations unknown.
    let mut stopped = build(cfg, vec![server(), client(A)]);
    assert!(stopped.run_for(2).is_none());
    let s = stopped.stop(EndReason::WallClock);
    assert_eq!(s.end_reason, EndReason::WallClock);
    assert_eq!(stopped.history().ops[0].status, Some(OpStatus::Unknown));
    assert_eq!(stopped.run(), s, "a stopped run stays stopped");
}
