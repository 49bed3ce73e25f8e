//! Same seed, same run; different seed, different run; equal times run
//! first-in first-out.

use crate::support::*;
use sim_core::fault::{Nemesis, NemesisKind};
use sim_core::workload::{Arrivals, WorkloadConfig};
use sim_core::{Dist, RunSummary, Sim, SimConfig, SimTime, ms};

/// One server, three clients on a jittery, duplicating network, random keys
/// and think times, a server whose reply delay comes from its own stream,
/// and a nemesis crashing the server: randomness from every stream.
fn busy_config(seed: u64) -> SimConfig {
    let mut cfg = config(4, seed);
    cfg.net.latency_ms = Dist::Uniform { min: 1.0, max: 3.0 };
    cfg.net.jitter_ms = 2.0;
    cfg.net.duplicate = 0.1;
    let mut w = WorkloadConfig::closed(vec![B, C, D], 1_000, at_ms(2_000));
    w.arrivals = Arrivals::Closed { think_time_ms: Dist::Exponential { mean: 5.0, offset: 0.0 } };
    cfg.workload = w;
    cfg.faults.nemeses.push(Nemesis {
        kind: NemesisKind::Crash,
        targets: vec![A],
        interval_ms: Dist::Uniform { min: 200.0, max: 400.0 },
        duration_ms: Dist::constant(50.0),
        start: SimTime::ZERO,
        stop: at_ms(2_000),
    });
    cfg.limits.quiesce_ns = ms(100);
    cfg.record_trace = true;
    cfg
}

fn busy_run(seed: u64) -> (Sim<Node>, RunSummary) {
    let server = Node::Server(Server { reply_delay_max_ns: ms(3), ..Server::default() });
    let client = || Node::Client(Client { server: A, timeout_ns: Some(ms(20)) });
    let mut sim = build(busy_config(seed), vec![server, client(), client(), client()]);
    let summary = sim.run();
    (sim, summary)
}

#[test]
fn same_seed_gives_same_hash_history_stats_and_trace() {
    let (a, sa) = busy_run(7);
    let (b, sb) = busy_run(7);
    // The run must be busy enough for the comparison to mean something.
    assert!(a.history().ops.len() > 300, "only {} ops", a.history().ops.len());
    assert!(a.fault_log().len() >= 4, "the nemesis should strike several times");
    assert!(a.stats().by_kind[REQ].duplicated > 0);
    assert_eq!(sa, sb);
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(a.history().ops, b.history().ops);
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.fault_log(), b.fault_log());
    assert_eq!(a.trace(), b.trace());
}

#[test]
fn different_seeds_give_different_runs() {
    let runs: Vec<_> = [7, 8, 9].into_iter().map(busy_run).collect();
    for i in 0..runs.len() {
        for j in i + 1..runs.len() {
            let ((a, sa), (b, sb)) = (&runs[i], &runs[j]);
            assert_ne!(sa.trace_hash, sb.trace_hash, "runs {i} and {j}");
            assert_ne!(a.history().ops, b.history().ops, "runs {i} and {j}");
        }
    }
}

#[test]
fn trace_hash_sees_a_change_of_configuration() {
    let server = || Node::Server(Server { reply_delay_max_ns: ms(3), ..Server::default() });
    let client = || Node::Client(Client { server: A, timeout_ns: Some(ms(20)) });
    let run = |cfg: SimConfig| build(cfg, vec![server(), client(), client(), client()]).run().trace_hash;
    let base = busy_config(7);
    let mut slower = base.clone();
    slower.net.latency_ms = Dist::Uniform { min: 1.0, max: 3.5 };
    assert_eq!(run(base.clone()), run(base.clone()));
    assert_ne!(run(base), run(slower));
}

#[test]
fn trace_hash_covers_message_contents() {
    let hash = |seq| build(config(2, 1), vec![sender(vec![send(0, B, seq, 10)]), quiet()]).run().trace_hash;
    assert_eq!(hash(1), hash(1));
    assert_ne!(hash(1), hash(2), "same times and endpoints, different payload");
}

#[test]
fn messages_sent_at_once_arrive_in_send_order() {
    let plan = vec![send(0, B, 3, 10), send(0, B, 1, 10), send(0, B, 2, 10)];
    let mut sim = build(config(2, 1), vec![sender(plan), quiet()]);
    sim.run();
    let got = probe(&sim, B).received();
    assert_eq!(got, [(at_ms(1), A, 3), (at_ms(1), A, 1), (at_ms(1), A, 2)]);
}

#[test]
fn timers_due_at_once_fire_in_the_order_they_were_set() {
    let p = Node::Probe(Probe::new(|ctx, seen| {
        if *seen == Seen::Start {
            for n in [5, 2, 9, 1] {
                ctx.set_timer(ms(4), Timer::Tick(n));
            }
        }
    }));
    let mut sim = build(config(1, 1), vec![p]);
    sim.run();
    assert_eq!(probe(&sim, A).ticks(), [(at_ms(4), 5), (at_ms(4), 2), (at_ms(4), 9), (at_ms(4), 1)]);
}

#[test]
fn messages_from_two_senders_at_once_arrive_in_send_order() {
    // Node 0 starts first, so its message is sent (and delivered) first.
    let mut sim = build(config(3, 1), vec![sender(vec![send(0, C, 1, 1)]), sender(vec![send(0, C, 2, 1)]), quiet()]);
    sim.run();
    assert_eq!(probe(&sim, C).received(), [(at_ms(1), A, 1), (at_ms(1), B, 2)]);
}
