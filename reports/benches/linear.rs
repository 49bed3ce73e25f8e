//! Linearizability checker benchmark: generated histories (a sequential
//! execution stretched into overlapping intervals, fixed seeds) of 1e3 to
//! 1e6 operations over many keys, and single-key histories with 50
//! processes. Prints one table row per check: time, verdict (the default
//! budget of 10 s and 1 GiB applies, so a row may end `unknown`), states
//! explored, the checker's estimate of its peak memory for one key, and the
//! process's peak RSS (which includes the history).
//!
//! `cargo bench -p reports --bench linear`

use reports::Verdict;
use reports::linear::synth::{GenConfig, sequential};
use reports::linear::{Budget, ModelKind, check_kind};

/// Wall-clock timing is what a benchmark measures; no simulation runs here.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1e3)
}

/// Resets the kernel's peak-RSS mark (Linux); harmless elsewhere.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size in MiB since the last reset, if the OS says.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Row {
    ops: usize,
    processes: usize,
    keys: usize,
    kind: ModelKind,
    unknown_per_mille: u32,
    threads: usize,
}

fn run(row: &Row) {
    let mut cfg = GenConfig::new(row.ops, row.processes, row.keys, row.kind, 0xD51 + row.ops as u64);
    cfg.unknown_per_mille = row.unknown_per_mille;
    cfg.fail_per_mille = 10;
    let h = sequential(&cfg);
    let budget = Budget { threads: row.threads, ..Budget::default() };
    reset_peak_rss();
    let (res, ms) = timed(|| check_kind(&h, row.kind, &budget, 3));
    let rss = peak_rss_mib().map_or("-".to_string(), |m| format!("{m:.0}"));
    assert_ne!(res.verdict, Verdict::Fail, "generated histories are linearizable: {:?}", res.details);
    let d = &res.details;
    println!(
        "| {:>9} | {:>5} | {:>5} | {:<12} | {:>4} | {:>7} | {:>10.1} | {:>7} | {:>10} | {:>12} | {:>8} |",
        row.ops,
        row.processes,
        row.keys,
        row.kind.name(),
        format!("{}%", row.unknown_per_mille as f64 / 10.0),
        row.threads,
        ms,
        res.verdict.name(),
        d["states_explored"],
        d["peak_cache_bytes"],
        rss,
    );
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("linearizability checker; {cores} cores available");
    println!(
        "| {:>9} | {:>5} | {:>5} | {:<12} | {:>4} | {:>7} | {:>10} | {:>7} | {:>10} | {:>12} | {:>8} |",
        "ops", "procs", "keys", "model", "unkn", "threads", "time ms", "verdict", "states", "peak cache B", "RSS MiB"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|");
    let multi = [(1_000, 10, 10), (10_000, 20, 100), (100_000, 50, 1_000), (1_000_000, 50, 10_000)];
    for (ops, processes, keys) in multi {
        for threads in [1, cores] {
            run(&Row { ops, processes, keys, kind: ModelKind::Kv, unknown_per_mille: 0, threads });
        }
    }
    run(&Row { ops: 100_000, processes: 50, keys: 1_000, kind: ModelKind::Register, unknown_per_mille: 0, threads: 1 });
    run(&Row { ops: 100_000, processes: 50, keys: 1_000, kind: ModelKind::Kv, unknown_per_mille: 20, threads: 1 });
    for kind in ModelKind::ALL {
        for ops in [2_000, 10_000, 100_000] {
            run(&Row { ops, processes: 50, keys: 1, kind, unknown_per_mille: 0, threads: 1 });
        }
    }
    for kind in ModelKind::ALL {
        run(&Row { ops: 2_000, processes: 50, keys: 1, kind, unknown_per_mille: 20, threads: 1 });
    }
}
