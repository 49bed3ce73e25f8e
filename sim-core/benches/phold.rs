//! PHOLD on dsim's engine and on `simcore` (the maintained successor of
//! dslab-core), side by side in the same run, at 10, 1e3, 1e5 and 1e6
//! pending events.
//!
//! The model: N actors, each starting with one message in flight. On
//! receipt an actor sends one message to a uniformly random actor with a
//! delay uniform in [0.5, 1.5) time units, so exactly N events are pending
//! at all times. A message carries one `u64` (a hop count) in both engines.
//!
//! - dsim: an `Actor` whose `on_message` draws the destination from its own
//!   stream (`ctx.rng()`) and calls `ctx.send`; the network's latency rule
//!   is `Uniform { min: 0.5, max: 1.5 }` ms (a time unit is a millisecond,
//!   held as integer nanoseconds) drawn from the network stream. So each
//!   event also pays for dsim's network model (reachability, loss and
//!   duplication checks, NIC bookkeeping), its statistics and its trace hash.
//! - simcore: an `EventHandler` component whose `on` draws the destination
//!   and the delay from the simulation's generator (`ctx.gen_range`) and
//!   calls `ctx.emit(Hop { hops }, dst, delay)`; time is an `f64`.
//!
//! Only stepping is timed: building the actors, the first N sends and
//! dropping the simulation are not. Each size runs `DSIM_BENCH_REPEATS`
//! rounds (default 3); a round runs dsim then simcore, and the table shows
//! the median rate of each engine and the median of the per-round ratios,
//! so a burst of load from other processes hits both engines alike.
//!
//! Memory: each engine is built in a fresh child process (this binary
//! again, with `DSIM_PHOLD_CHILD=engine,n` set), and the resident-set growth
//! from before building to "all N messages pending" is divided by N: bytes
//! per actor with its pending event, everything included (actor, names,
//! random streams, queue). dsim's queue alone is reported from `size_of`.
//!
//! `cargo bench -p sim-core --bench phold` (or `cargo xtask bench phold`).
//! `DSIM_PHOLD_SIZES=10,1000` picks sizes; `DSIM_PHOLD_ONLY=dsim` (or
//! `simcore`) runs one engine alone, for profiling.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // wall-clock timing is what a benchmark measures

use serde::Serialize;
use sim_core::fault::FaultPlan;
use sim_core::net::NetConfig;
use sim_core::workload::{Arrivals, WorkloadConfig};
use sim_core::{Actor, Ctx, Dist, EndReason, Limits, Message, NodeId, NodeSpec, Sim, SimConfig, SimTime};
use simcore::{Event, EventHandler, Id, Simulation, SimulationContext, cast};
use std::cell::RefCell;
use std::hint::black_box;
use std::process::Command;
use std::rc::Rc;
use std::time::Instant;

// ---------- dsim ----------

#[derive(Clone, Debug, Hash)]
struct Token(u64);

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

impl Actor for Lp {
    type Msg = Token;
    type Timer = ();
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let n = ctx.node_count() as u64;
        let to = NodeId(ctx.rng().below(n) as u32);
        ctx.send(to, Token(0));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Token) {
        let n = ctx.node_count() as u64;
        let to = NodeId(ctx.rng().below(n) as u32);
        ctx.send(to, Token(msg.0 + 1));
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}

    fn on_crash(&mut self) {}

    fn on_recover(&mut self, _ctx: &mut Ctx<'_, Self>) {}
}

fn dsim_phold(actors: usize, events: u64) -> Sim<Lp> {
    let mut net = NetConfig::simple(actors, 1.0);
    net.latency_ms = Dist::Uniform { min: 0.5, max: 1.5 };
    let mut workload = WorkloadConfig::closed(Vec::new(), 1, SimTime::ZERO);
    workload.arrivals = Arrivals::ScriptOnly;
    let cfg = SimConfig {
        seed: 42,
        net,
        workload,
        faults: FaultPlan::default(),
        limits: Limits { quiesce_ns: u64::MAX, deadline: SimTime::MAX, max_events: events },
        record_trace: false,
    };
    let nodes = (0..actors).map(|i| NodeSpec { name: format!("lp{i}"), role: "lp".into(), actor: Lp }).collect();
    let mut sim = Sim::new(cfg, nodes);
    // Starts the actors (the first N sends) without processing an event.
    assert!(sim.run_for(0).is_none());
    sim
}

/// Events per second of wall-clock time for `events` events after the start.
fn dsim_rate(actors: usize, events: u64) -> f64 {
    let mut sim = dsim_phold(actors, events);
    let started = Instant::now();
    let summary = sim.run();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!((summary.end_reason, summary.events), (EndReason::MaxEvents, events));
    black_box(summary.trace_hash);
    drop(black_box(sim));
    events as f64 / elapsed
}

// ---------- simcore ----------

#[derive(Clone, Serialize)]
struct Hop {
    hops: u64,
}

struct SimcoreLp {
    ctx: SimulationContext,
    actors: Id,
}

impl EventHandler for SimcoreLp {
    fn on(&mut self, event: Event) {
        cast!(match event.data {
            Hop { hops } => {
                let to: Id = self.ctx.gen_range(0..self.actors);
                let delay: f64 = self.ctx.gen_range(0.5..1.5);
                self.ctx.emit(Hop { hops: hops + 1 }, to, delay);
            }
        })
    }
}

fn simcore_phold(actors: usize) -> Simulation {
    let mut sim = Simulation::new(42);
    let n = actors as Id;
    for i in 0..actors {
        let ctx = sim.create_context(format!("lp{i}"));
        let lp = Rc::new(RefCell::new(SimcoreLp { ctx, actors: n }));
        sim.add_handler(format!("lp{i}"), lp);
    }
    // The first message of each actor, as dsim's `on_start` sends it.
    let starter = sim.create_context("starter");
    for _ in 0..actors {
        let to: Id = sim.gen_range(0..n);
        let delay: f64 = sim.gen_range(0.5..1.5);
        starter.emit(Hop { hops: 0 }, to, delay);
    }
    sim
}

fn simcore_rate(actors: usize, events: u64) -> f64 {
    let mut sim = simcore_phold(actors);
    let started = Instant::now();
    assert!(sim.steps(events), "PHOLD never runs out of events");
    let elapsed = started.elapsed().as_secs_f64();
    black_box(sim.time());
    drop(black_box(sim));
    events as f64 / elapsed
}

// ---------- memory, in a child process ----------

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Run in the child: build one engine with `actors` pending events and
/// print the resident-set growth.
fn child(spec: &str) {
    let (engine, n) = spec.split_once(',').expect("DSIM_PHOLD_CHILD=engine,n");
    let n: usize = n.parse().expect("actor count");
    let before = rss_bytes();
    let grown = match engine {
        "dsim" => {
            let sim = dsim_phold(n, u64::MAX);
            let grown = rss_bytes() - before;
            black_box(&sim);
            grown
        }
        "simcore" => {
            let sim = simcore_phold(n);
            let grown = rss_bytes() - before;
            black_box(&sim);
            grown
        }
        other => panic!("unknown engine {other}"),
    };
    println!("{grown}");
}

fn bytes_per_pending(engine: &str, actors: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe).env("DSIM_PHOLD_CHILD", format!("{engine},{actors}")).output().ok()?;
    let grown: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(grown / actors as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    if let Ok(spec) = std::env::var("DSIM_PHOLD_CHILD") {
        child(&spec);
        return;
    }
    let sizes: Vec<usize> = match std::env::var("DSIM_PHOLD_SIZES") {
        Ok(s) => s.split(',').map(|x| x.trim().parse().expect("DSIM_PHOLD_SIZES: numbers")).collect(),
        Err(_) => vec![10, 1_000, 100_000, 1_000_000],
    };
    // For profiling one engine alone.
    let only = std::env::var("DSIM_PHOLD_ONLY");
    let repeats: usize = std::env::var("DSIM_BENCH_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    println!("PHOLD: one message in flight per actor, delay uniform in [0.5, 1.5); {repeats} rounds per size");
    println!("dsim queue: {} bytes per pending event (queue entry + slab slot)", Sim::<Lp>::queue_bytes_per_event());
    println!();
    println!(
        "| pending events | events timed | dsim Mev/s | simcore Mev/s | dsim / simcore | dsim B/pending | simcore B/pending |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        // Enough events that the steady state dominates (3 per actor at 1e6).
        let events = (3 * n as u64).max(2_000_000);
        let mut dsim = Vec::new();
        let mut peer = Vec::new();
        let mut ratios = Vec::new();
        for _ in 0..repeats {
            let d = if only.as_deref() == Ok("simcore") { f64::NAN } else { dsim_rate(n, events) };
            let s = if only.as_deref() == Ok("dsim") { f64::NAN } else { simcore_rate(n, events) };
            dsim.push(d);
            peer.push(s);
            ratios.push(d / s);
        }
        let fmt_mem = |m: Option<f64>| m.map_or("?".to_string(), |b| format!("{b:.0}"));
        println!(
            "| {n} | {events} | {:.2} | {:.2} | {:.2}x (min {:.2}x) | {} | {} |",
            median(dsim) / 1e6,
            median(peer) / 1e6,
            median(ratios.clone()),
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            fmt_mem(bytes_per_pending("dsim", n)),
            fmt_mem(bytes_per_pending("simcore", n)),
        );
    }
}
