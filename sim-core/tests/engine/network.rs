//! The network model seen from the actors: loss, duplication, cuts and
//! partitions, bandwidth, latency rules, FIFO links and jitter.

use crate::support::*;
use sim_core::fault::{FaultAction, TimedFault};
use sim_core::net::{LinkRule, NodeSet, transfer_ns};
use sim_core::{Dist, NodeId, OpStatus, SimConfig, SimTime, ms};

/// `n` messages of 100 bytes from A to B, one every 10 µs.
fn stream(n: u64) -> Vec<Send> {
    (0..n).map(|i| send(10_000 * (i + 1), B, i, 100)).collect()
}

fn fault(at: SimTime, action: FaultAction) -> TimedFault {
    TimedFault { at, action }
}

fn set(nodes: &[NodeId]) -> NodeSet {
    NodeSet::from_nodes(nodes.iter().copied())
}

#[test]
fn loss_drops_about_the_configured_share() {
    const N: u64 = 10_000;
    let mut cfg = config(2, 3);
    cfg.net.loss = 0.3;
    let mut sim = build(cfg, vec![sender(stream(N)), quiet()]);
    sim.run();
    let k = &sim.stats().by_kind[DATA];
    // 30% of 10 000 has a standard deviation of about 46.
    assert!((2_800..3_200).contains(&k.dropped_loss), "dropped {}", k.dropped_loss);
    assert_eq!(k.sent, N);
    assert_eq!(k.delivered + k.dropped_loss, N);
    assert_eq!(probe(&sim, B).received().len() as u64, k.delivered);
}

#[test]
fn total_loss_delivers_nothing() {
    let mut cfg = config(2, 3);
    cfg.net.loss = 1.0;
    let mut sim = build(cfg, vec![sender(stream(500)), quiet()]);
    sim.run();
    let k = &sim.stats().by_kind[DATA];
    assert_eq!((k.sent, k.delivered, k.dropped_loss), (500, 0, 500));
    assert!(probe(&sim, B).received().is_empty());
}

#[test]
fn full_duplication_delivers_every_message_twice() {
    let mut cfg = config(2, 3);
    cfg.net.duplicate = 1.0;
    let mut sim = build(cfg, vec![sender(stream(200)), quiet()]);
    sim.run();
    let k = &sim.stats().by_kind[DATA];
    assert_eq!((k.sent, k.duplicated, k.delivered), (200, 200, 400));
    let mut seqs = probe(&sim, B).received_seqs();
    seqs.sort();
    let twice: Vec<u64> = (0..200).flat_map(|i| [i, i]).collect();
    assert_eq!(seqs, twice);
}

#[test]
fn partial_duplication_counts_each_duplicate() {
    let mut cfg = config(2, 3);
    cfg.net.duplicate = 0.25;
    let mut sim = build(cfg, vec![sender(stream(4_000)), quiet()]);
    sim.run();
    let k = &sim.stats().by_kind[DATA];
    assert!((900..1_100).contains(&k.duplicated), "duplicated {}", k.duplicated);
    assert_eq!(k.delivered, 4_000 + k.duplicated);
    assert_eq!(probe(&sim, B).received().len() as u64, k.delivered);
}

/// A sends seq 1 to B at 10 ms and seq 2 at 60 ms; B sends seq 11 to A at
/// 10 ms and seq 12 at 60 ms; `faults` happen in between.
fn two_way_exchange(faults: Vec<TimedFault>) -> (Vec<u64>, Vec<u64>, u64) {
    let mut cfg = config(2, 1);
    cfg.faults.schedule = faults;
    let a = sender(vec![send(ms(10), B, 1, 1), send(ms(60), B, 2, 1)]);
    let b = sender(vec![send(ms(10), A, 11, 1), send(ms(60), A, 12, 1)]);
    let mut sim = build(cfg, vec![a, b]);
    sim.run();
    let dropped = sim.stats().by_kind[DATA].dropped_partition;
    (probe(&sim, A).received_seqs(), probe(&sim, B).received_seqs(), dropped)
}

#[test]
fn one_way_cut_blocks_only_its_direction_until_healed() {
    let (at_a, at_b, dropped) = two_way_exchange(vec![
        fault(at_ms(5), FaultAction::Cut { from: set(&[A]), to: set(&[B]) }),
        fault(at_ms(50), FaultAction::Heal),
    ]);
    assert_eq!(at_a, [11, 12], "B -> A is never blocked");
    assert_eq!(at_b, [2], "A -> B is blocked until the heal");
    assert_eq!(dropped, 1);
}

#[test]
fn partition_blocks_both_directions_until_healed() {
    let (at_a, at_b, dropped) = two_way_exchange(vec![
        fault(at_ms(5), FaultAction::Partition(vec![vec![A], vec![B]])),
        fault(at_ms(50), FaultAction::Heal),
    ]);
    assert_eq!(at_a, [12]);
    assert_eq!(at_b, [2]);
    assert_eq!(dropped, 2);
}

#[test]
fn unlisted_nodes_form_their_own_partition_group() {
    let mut cfg = config(3, 1);
    cfg.faults.schedule = vec![fault(at_ms(1), FaultAction::Partition(vec![vec![A]]))];
    let a = sender(vec![send(ms(10), B, 1, 1), send(ms(10), C, 2, 1)]);
    let b = sender(vec![send(ms(10), C, 3, 1)]);
    let mut sim = build(cfg, vec![a, b, quiet()]);
    sim.run();
    assert!(probe(&sim, B).received().is_empty());
    assert_eq!(probe(&sim, C).received_seqs(), [3], "B and C share the rest group");
}

#[test]
fn message_in_flight_when_a_partition_starts_is_dropped_at_delivery() {
    let mut cfg = config(2, 1);
    cfg.net.latency_ms = Dist::constant(10.0);
    // Seq 2 is in flight across [1, 11) ms and the first partition heals
    // before it lands; seq 1 is in flight across [10, 20) ms and lands in the second.
    cfg.faults.schedule = vec![
        fault(at_ms(5), FaultAction::Partition(vec![vec![A], vec![B]])),
        fault(at_ms(8), FaultAction::Heal),
        fault(at_ms(15), FaultAction::Partition(vec![vec![A], vec![B]])),
        fault(at_ms(30), FaultAction::Heal),
    ];
    let a = sender(vec![send(ms(10), B, 1, 1), send(ms(1), B, 2, 1)]);
    let mut sim = build(cfg, vec![a, quiet()]);
    sim.run();
    assert_eq!(probe(&sim, B).received(), [(at_ms(11), A, 2)]);
    let k = &sim.stats().by_kind[DATA];
    assert_eq!((k.sent, k.delivered, k.dropped_partition), (2, 1, 1));
}

const GBIT_BYTES_PER_S: u64 = 125_000_000;
const MIB_128: u64 = 128 << 20;

#[test]
fn large_message_takes_size_over_bandwidth_plus_latency() {
    let mut cfg = config(2, 1);
    cfg.net.nics[A.index()].egress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    let mut sim = build(cfg, vec![sender(vec![send(0, B, 1, MIB_128)]), quiet()]);
    sim.run();
    let t = transfer_ns(MIB_128, Some(GBIT_BYTES_PER_S));
    assert_eq!(t, 1_073_741_824, "128 MiB at 1 Gbit/s is 1.073741824 s");
    assert_eq!(probe(&sim, B).received(), [(SimTime(t + ms(1)), A, 1)]);
}

#[test]
fn equal_nics_on_both_ends_charge_the_transfer_once() {
    let mut cfg = config(2, 1);
    cfg.net.nics[A.index()].egress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    cfg.net.nics[B.index()].ingress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    let mut sim = build(cfg, vec![sender(vec![send(0, B, 1, MIB_128)]), quiet()]);
    sim.run();
    let t = transfer_ns(MIB_128, Some(GBIT_BYTES_PER_S));
    assert_eq!(probe(&sim, B).received(), [(SimTime(t + ms(1)), A, 1)]);
}

#[test]
fn large_messages_from_one_sender_queue_behind_each_other() {
    let mut cfg = config(3, 1);
    cfg.net.nics[A.index()].egress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    let a = sender(vec![send(0, B, 1, MIB_128), send(0, C, 2, MIB_128)]);
    let mut sim = build(cfg, vec![a, quiet(), quiet()]);
    sim.run();
    let t = transfer_ns(MIB_128, Some(GBIT_BYTES_PER_S));
    assert_eq!(probe(&sim, B).received(), [(SimTime(t + ms(1)), A, 1)]);
    assert_eq!(probe(&sim, C).received(), [(SimTime(2 * t + ms(1)), A, 2)]);
}

#[test]
fn ingress_bandwidth_serialises_messages_from_two_senders() {
    let mut cfg = config(3, 1);
    cfg.net.nics[C.index()].ingress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    let a = sender(vec![send(0, C, 1, MIB_128)]);
    let b = sender(vec![send(0, C, 2, MIB_128)]);
    let mut sim = build(cfg, vec![a, b, quiet()]);
    sim.run();
    let t = transfer_ns(MIB_128, Some(GBIT_BYTES_PER_S));
    assert_eq!(probe(&sim, C).received(), [(SimTime(t + ms(1)), A, 1), (SimTime(2 * t + ms(1)), B, 2)]);
}

#[test]
fn small_message_on_another_nic_is_not_delayed_by_a_large_transfer() {
    let mut cfg = config(4, 1);
    for nic in &mut cfg.net.nics {
        nic.egress_bytes_per_s = Some(GBIT_BYTES_PER_S);
        nic.ingress_bytes_per_s = Some(GBIT_BYTES_PER_S);
    }
    let a = sender(vec![send(0, B, 1, MIB_128)]);
    let c = sender(vec![send(ms(2), D, 2, 1_000)]);
    let mut sim = build(cfg, vec![a, quiet(), c, quiet()]);
    sim.run();
    let small = transfer_ns(1_000, Some(GBIT_BYTES_PER_S));
    assert_eq!(small, 8_000);
    assert_eq!(probe(&sim, D).received(), [(SimTime(ms(2) + ms(1) + small), C, 2)]);
    let big = transfer_ns(MIB_128, Some(GBIT_BYTES_PER_S));
    assert_eq!(probe(&sim, B).received(), [(SimTime(big + ms(1)), A, 1)]);
}

/// Client B is 32 ms from server A by a link rule; client C uses the 1 ms default.
fn round_trips_ns(one_way: bool) -> (u64, u64) {
    let mut cfg = config(3, 1);
    cfg.net.links.push(LinkRule { from: set(&[B, C]), to: set(&[A]), one_way, latency_ms: Dist::constant(32.0) });
    // A later rule overrides an earlier one: C is back to the default.
    cfg.net.links.push(LinkRule { from: set(&[C]), to: set(&[A]), one_way: false, latency_ms: Dist::constant(1.0) });
    cfg.workload.clients = vec![B, C];
    cfg.workload.script = vec![
        sim_core::workload::ScriptedOp { at: at_ms(1), client: B, op: put(1, 1) },
        sim_core::workload::ScriptedOp { at: at_ms(1), client: C, op: put(2, 2) },
    ];
    let mut sim = build(cfg, vec![server(), client(A), client(A)]);
    sim.run();
    let ops = &sim.history().ops;
    assert!(ops.iter().all(|o| o.status == Some(OpStatus::Ok)));
    let latency = |c: NodeId| ops.iter().find(|o| o.process == c).and_then(|o| o.latency_ns()).expect("completed");
    (latency(B), latency(C))
}

#[test]
fn link_rule_sets_the_latency_of_client_server_round_trips() {
    assert_eq!(round_trips_ns(false), (ms(64), ms(2)));
}

#[test]
fn one_way_link_rule_applies_to_one_direction_only() {
    assert_eq!(round_trips_ns(true), (ms(33), ms(2)));
}

/// Seqs in the order B received a dense stream from A with 5 ms of jitter.
fn jittered_stream(fifo: bool, ingress_bytes_per_s: Option<u64>) -> Vec<u64> {
    let mut cfg: SimConfig = config(2, 11);
    cfg.net.latency_ms = Dist::Uniform { min: 1.0, max: 2.0 };
    cfg.net.jitter_ms = 5.0;
    cfg.net.fifo = fifo;
    cfg.net.nics[B.index()].ingress_bytes_per_s = ingress_bytes_per_s;
    let mut sim = build(cfg, vec![sender(stream(1_000)), quiet()]);
    sim.run();
    let seqs = probe(&sim, B).received_seqs();
    assert_eq!(seqs.len(), 1_000);
    seqs
}

fn is_sorted(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn fifo_links_never_reorder_under_jitter() {
    assert!(is_sorted(&jittered_stream(true, None)));
}

#[test]
fn fifo_links_never_reorder_under_jitter_with_finite_ingress_bandwidth() {
    // 100-byte messages at 1 GB/s: 100 ns of ingress each, far below the jitter.
    assert!(is_sorted(&jittered_stream(true, Some(1_000_000_000))));
}

#[test]
fn non_fifo_links_reorder_under_jitter() {
    assert!(!is_sorted(&jittered_stream(false, None)));
    assert!(!is_sorted(&jittered_stream(false, Some(1_000_000_000))));
}
