//! Simulated client operations per second of wall-clock time, for whole
//! protocols, and the speed-up of a seed sweep on all cores.
//!
//! - The quorum store (N = 3, R = W = 2, `catalog/quorum/nrw-3-2-2.toml`,
//!   no think time) without faults at 1e4, 1e5 and 1e6 operations (cost
//!   per operation as the run grows), with the protocol's default
//!   asynchronous read repair and with the catalog's blocking read repair
//!   (a get writes its answer back before replying), and with faults for 60 simulated
//!   seconds: the catalog's one-second cut of n3 plus a crash nemesis (a
//!   random server down for 100-300 ms every 1-2 s) and 1% message loss.
//! - The directory store (`catalog/directory_kv/recursive.toml`, no think
//!   time, 1 ms links) at 1e5 operations.
//! - Chord lookups (`catalog/chord/path-length-1000.toml`, 20 clients, a
//!   stable ring) on rings of 1e4 and 1e5 nodes for 10 simulated seconds,
//!   with stabilisation every 5 s. The rate counts lookups only, but the
//!   time includes the ring's upkeep (every node's timers).
//!
//! Only `Sim::run` is timed (building the nodes is not; neither are the
//! checks, which `reports`' `linear` bench measures). Memory per history
//! operation is `size_of::<OpRecord>()` and the resident-set growth over a
//! run divided by its operations (which includes everything else the run
//! grew, so it is an upper bound).
//!
//! The sweep: 4 x cores (at least 8) seeds of `nrw-3-2-2.toml` (30
//! simulated seconds each, with the default checks) on one thread, then on
//! every core.
//!
//! `cargo bench -p scenarios --bench protocols` (or `cargo xtask bench`).
//! `DSIM_BENCH_REPEATS` rounds per row (default 3; the median is shown);
//! `DSIM_BENCH_ONLY=quorum` runs the rows whose label contains it.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // wall-clock timing is what a benchmark measures

use indicatif::ProgressBar;
use protocols::{chord, directory_kv, quorum};
use scenarios::sweep::{SweepOptions, sweep};
use scenarios::{Scenario, load};
use sim_core::fault::{Nemesis, NemesisKind};
use sim_core::{Actor, Dist, NodeSpec, OpRecord, Sim, SimConfig, SimTime};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("scenarios lives in the workspace").to_path_buf()
}

fn scenario(path: &str, sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load(&root().join(path), &sets).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// What one timed run came to.
struct Run {
    ops: u64,
    events: u64,
    secs: f64,
    rss_growth_bytes: u64,
}

fn timed<A: Actor>(scn: &Scenario, nodes: Vec<NodeSpec<A>>) -> Run {
    let cfg = SimConfig {
        seed: scn.seed,
        net: scn.net.clone(),
        workload: scn.workload.clone(),
        faults: scn.faults.clone(),
        limits: scn.limits,
        record_trace: false,
    };
    let before = rss_bytes();
    let mut sim = Sim::new(cfg, nodes);
    sim.set_resource_limits(scn.resources);
    let started = Instant::now();
    let summary = sim.run();
    let secs = started.elapsed().as_secs_f64();
    let rss_growth_bytes = rss_bytes().saturating_sub(before);
    assert!(!summary.end_reason.is_limit(), "{}: {:?}", scn.name, summary.end_reason);
    Run { ops: sim.history().ops.len() as u64, events: summary.events, secs, rss_growth_bytes }
}

fn run_once(scn: &Scenario) -> Run {
    scenarios::with_nodes!(&scn.protocol, scn.servers, scn.clients, Some(&scn.workload), nodes => timed(scn, nodes))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Whether `DSIM_BENCH_ONLY` (if set) selects the row `label`.
fn wanted(label: &str) -> bool {
    std::env::var("DSIM_BENCH_ONLY").map_or(true, |only| label.contains(&only))
}

fn row(label: &str, scn: &Scenario, repeats: usize) {
    let runs: Vec<Run> = (0..repeats).map(|_| run_once(scn)).collect();
    let ops = runs[0].ops;
    let events = runs[0].events;
    let ops_per_s = median(runs.iter().map(|r| r.ops as f64 / r.secs).collect());
    let ns_per_op = 1e9 / ops_per_s;
    let events_per_s = median(runs.iter().map(|r| r.events as f64 / r.secs).collect());
    let rss_per_op = runs[0].rss_growth_bytes as f64 / ops as f64;
    println!(
        "| {label} | {ops} | {events} | {:.0} | {ns_per_op:.0} | {:.2} | {rss_per_op:.0} |",
        ops_per_s / 1e3,
        events_per_s / 1e6
    );
}

/// `read_repair`: `async` (the protocol's default) or `blocking` (what the
/// catalog scenario uses, so that gets are linearizable: ABD's write-back).
fn quorum(total_ops: u64, read_repair: &str) -> Scenario {
    let mut scn = scenario(
        "scenarios/catalog/quorum/nrw-3-2-2.toml",
        &["scenario.duration_ms=100_000_000", "workload.think_time_ms=0", &format!("params.read_repair={read_repair}")],
    );
    scn.workload.total_ops = Some(total_ops);
    scn
}

fn main() {
    let repeats: usize = std::env::var("DSIM_BENCH_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    println!("Simulated client operations per second of wall-clock time (median of {repeats}; only Sim::run timed)");
    println!("history: {} bytes per OpRecord", std::mem::size_of::<OpRecord>());
    println!(
        "queue: {} bytes per pending event (quorum), {} (directory store), {} (chord)",
        Sim::<quorum::Node>::queue_bytes_per_event(),
        Sim::<directory_kv::Node>::queue_bytes_per_event(),
        Sim::<chord::Node>::queue_bytes_per_event()
    );
    println!();
    println!("| run | client ops | events | k ops/s | ns per op | M events/s | RSS growth B/op |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (read_repair, total) in [
        ("async", 10_000),
        ("async", 100_000),
        ("async", 1_000_000),
        ("blocking", 10_000),
        ("blocking", 100_000),
        ("blocking", 1_000_000),
    ] {
        let label = format!("quorum N=3 R=W=2, {read_repair} read repair, no faults, {total} ops");
        if !wanted(&label) {
            continue;
        }
        let mut scn = quorum(total, read_repair);
        scn.faults.schedule.clear();
        // Nothing to heal, and a final heal would keep the run going until
        // the (far) workload stop.
        scn.faults.final_heal = false;
        row(&label, &scn, repeats);
    }
    if wanted("quorum N=3 R=W=2, cut + crash nemesis + 1% loss, 60 s") {
        // Sixty simulated seconds: the faults need a stop, and the final
        // heal at the workload's stop lets the run end.
        let mut scn = scenario(
            "scenarios/catalog/quorum/nrw-3-2-2.toml",
            &["scenario.duration_ms=60_000", "workload.think_time_ms=0", "network.loss=0.01"],
        );
        let servers: Vec<_> = (0..3).map(quorum::server_id).collect();
        scn.faults.nemeses.push(Nemesis {
            kind: NemesisKind::Crash,
            targets: servers,
            interval_ms: Dist::Uniform { min: 1_000.0, max: 2_000.0 },
            duration_ms: Dist::Uniform { min: 100.0, max: 300.0 },
            start: SimTime::ZERO,
            stop: scn.workload.stop,
        });
        row("quorum N=3 R=W=2, cut + crash nemesis + 1% loss, 60 s", &scn, repeats);
    }
    if wanted("directory store (recursive), 100000 ops") {
        let mut scn = scenario(
            "scenarios/catalog/directory_kv/recursive.toml",
            &["scenario.duration_ms=100_000_000", "workload.think_time_ms=0", "network.links[0].latency_ms=1"],
        );
        scn.workload.total_ops = Some(100_000);
        scn.faults.final_heal = false;
        row("directory store (recursive), 100000 ops", &scn, repeats);
    }
    for nodes in [10_000, 100_000] {
        let label = format!("chord lookups, ring of {nodes} nodes");
        if !wanted(&label) {
            continue;
        }
        let scn = scenario(
            "scenarios/catalog/chord/path-length-1000.toml",
            &[
                &format!("cluster.nodes={nodes}"),
                "scenario.duration_ms=10_000",
                "params.stabilize_interval_ms=5_000",
                "params.fix_fingers_interval_ms=5_000",
                "params.check_predecessor_interval_ms=5_000",
            ],
        );
        row(&label, &scn, repeats.min(2));
    }

    if !wanted("sweep") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scn = scenario("scenarios/catalog/quorum/nrw-3-2-2.toml", &["scenario.duration_ms=30_000"]);
    let seeds: Vec<u64> = (1..=(4 * cores as u64).max(8)).collect();
    let mut secs = Vec::new();
    for jobs in [1, cores] {
        let opts = SweepOptions { jobs, fail_fast: false, check_determinism: false };
        let started = Instant::now();
        let summary = sweep(&scn, &seeds, &opts, &ProgressBar::hidden());
        secs.push(started.elapsed().as_secs_f64());
        assert_eq!(summary.runs_total, seeds.len());
    }
    println!();
    println!("| sweep | seeds | 1 thread s | {cores} threads s | speed-up |");
    println!("|---|---:|---:|---:|---:|");
    println!("| quorum nrw-3-2-2 | {} | {:.2} | {:.2} | {:.2}x |", seeds.len(), secs[0], secs[1], secs[0] / secs[1]);
}
