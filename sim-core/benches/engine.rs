//! Raw engine throughput, PHOLD-style: N actors, each starting with one
//! message in flight; on receipt an actor sends one message to a uniformly
//! random actor (drawn from its own `ctx.rng()`) over a network whose
//! latency is uniform in [0.5, 1.5) ms. A run stops after a fixed number of
//! events, so the throughput is events per second of wall-clock time.
//!
//! Building the simulation (N actors and their random streams) is set-up,
//! not measured: only `Sim::run` is timed.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sim_core::fault::FaultPlan;
use sim_core::net::NetConfig;
use sim_core::workload::{Arrivals, WorkloadConfig};
use sim_core::{Actor, Ctx, Dist, EndReason, Limits, Message, NodeId, NodeSpec, Sim, SimConfig, SimTime};
use std::hint::black_box;
use std::time::Duration;

#[derive(Clone, Debug, Hash)]
struct Token;

impl Message for Token {
    const KINDS: &'static [&'static str] = &["token"];

    fn kind(&self) -> usize {
        0
    }

    fn size_bytes(&self) -> u64 {
        64
    }
}

struct Lp;

impl Lp {
    fn forward(ctx: &mut Ctx<'_, Lp>) {
        let n = ctx.node_count() as u64;
        let to = NodeId(ctx.rng().below(n) as u32);
        ctx.send(to, Token);
    }
}

impl Actor for Lp {
    type Msg = Token;
    type Timer = ();
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        Lp::forward(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, _msg: Token) {
        Lp::forward(ctx);
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}

    fn on_crash(&mut self) {}

    fn on_recover(&mut self, _ctx: &mut Ctx<'_, Self>) {}
}

fn phold(actors: usize, events: u64) -> Sim<Lp> {
    let mut net = NetConfig::simple(actors, 1.0);
    net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
    let mut workload = WorkloadConfig::closed(Vec::new(), 1, SimTime::ZERO);
    workload.arrivals = Arrivals::ScriptOnly;
    let cfg = SimConfig {
        seed: 42,
        net,
        workload,
        faults: FaultPlan::default(),
        // Only the event cap ends the run: there is no workload to finish.
        limits: Limits { quiesce_ns: u64::MAX, deadline: SimTime::MAX, max_events: events },
        record_trace: false,
    };
    let nodes = (0..actors).map(|i| NodeSpec { name: format!("lp{i}"), role: "lp".into(), actor: Lp }).collect();
    Sim::new(cfg, nodes)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("phold");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    // The largest size runs longer so that its start (one send per actor,
    // each from a fresh random stream) weighs little against steady state.
    for (actors, events, measure_s) in [(10, 1_000_000, 6), (1_000, 1_000_000, 6), (100_000, 4_000_000, 36)] {
        group.throughput(Throughput::Elements(events));
        group.measurement_time(Duration::from_secs(measure_s));
        group.bench_function(format!("actors={actors}"), |b| {
            b.iter_batched(
                || phold(actors, events),
                |mut sim| {
                    let summary = sim.run();
                    assert_eq!((summary.end_reason, summary.events), (EndReason::MaxEvents, events));
                    black_box(summary.trace_hash);
                    // Dropping 100 000 actors is not engine throughput either.
                    sim
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
