//! Seed sweeps: one scenario over many seeds, seeds in parallel across
//! cores (each simulation stays single-threaded), with a summary in which
//! every failure is one command that reproduces it.
//!
//! A sweep's result depends only on the scenario and the seeds, never on
//! the number of jobs or on timing: runs are collected and listed in seed
//! order, and nothing in the JSON document is measured in wall-clock time.
//! That is what lets shards of a sweep, run on different machines, merge
//! into exactly the document one machine would have written.

use crate::load::Scenario;
use crate::run::{RunOptions, run};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use sim_core::trace::TraceEvent;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The most seeds one sweep may name, so a typo cannot allocate unbounded memory.
pub const MAX_SEEDS: u64 = 100_000_000;

/// Parses a seed list: `A..B` (B excluded), `A..=B`, a single seed, or a
/// comma-separated mix of these.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        let num = |s: &str| {
            s.trim().parse::<u64>().map_err(|_| format!("`{s}` is not a seed (a whole number from 0 to {})", u64::MAX))
        };
        let (lo, hi) = if let Some((a, b)) = part.split_once("..=") {
            (num(a)?, num(b)?.checked_add(1).ok_or("the range ends past the largest seed")?)
        } else if let Some((a, b)) = part.split_once("..") {
            (num(a)?, num(b)?)
        } else {
            let s = num(part)?;
            (s, s + 1)
        };
        if hi <= lo {
            return Err(format!("`{part}` is empty: write A..B with A < B (B is excluded) or A..=B"));
        }
        if (seeds.len() as u64).saturating_add(hi - lo) > MAX_SEEDS {
            return Err(format!("more than {MAX_SEEDS} seeds: split the sweep with --shard"));
        }
        seeds.extend(lo..hi);
    }
    seeds.sort_unstable();
    seeds.dedup();
    Ok(seeds)
}

/// Parses `K/N` (1 <= K <= N): the K-th of N shards.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. --shard 2/8");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n) = (k.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The seeds of shard `k` of `n`: the k-th of n contiguous, disjoint slices
/// that together cover `seeds` exactly.
pub fn shard(seeds: &[u64], k: usize, n: usize) -> &[u64] {
    let len = seeds.len();
    &seeds[len * (k - 1) / n..len * k / n]
}

/// How one seed's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedOutcome {
    Passed,
    Failed,
    /// A run limit (max events) cut the run short.
    Limit,
    /// Two runs of the same seed differed (with --check-determinism).
    Nondeterministic,
    /// The simulation panicked: a bug in dsim or a protocol, never in the input.
    Crashed,
}

/// One seed of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    pub seed: u64,
    pub trace_hash: String,
    pub outcome: SeedOutcome,
    /// Checks that failed (whether or not expectations made that a failure).
    pub failed_checks: Vec<String>,
    /// Expectations that were not met.
    pub failed_expectations: Vec<String>,
    /// What went wrong, in one sentence (empty when it passed).
    pub problem: String,
    /// One command that reproduces this run.
    pub command: String,
}

/// A sweep's result: what `--json` prints and `dsim merge` combines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub scenario: String,
    pub file: String,
    /// The `--set` overrides applied to every run.
    pub overrides: Vec<String>,
    pub runs_total: usize,
    pub passed: usize,
    pub failed: usize,
    pub limit: usize,
    pub nondeterministic: usize,
    pub crashed: usize,
    /// Seeds that were to run but did not (`--fail-fast` stopped the sweep).
    pub skipped: usize,
    pub runs: Vec<SeedRun>,
}

impl SweepSummary {
    /// Builds a summary from runs, counting outcomes and sorting by seed.
    pub fn from_runs(
        scn_name: &str,
        file: &str,
        overrides: Vec<String>,
        mut runs: Vec<SeedRun>,
        skipped: usize,
    ) -> SweepSummary {
        runs.sort_by_key(|r| r.seed);
        let count = |o: SeedOutcome| runs.iter().filter(|r| r.outcome == o).count();
        SweepSummary {
            scenario: scn_name.to_string(),
            file: file.to_string(),
            overrides,
            runs_total: runs.len(),
            passed: count(SeedOutcome::Passed),
            failed: count(SeedOutcome::Failed),
            limit: count(SeedOutcome::Limit),
            nondeterministic: count(SeedOutcome::Nondeterministic),
            crashed: count(SeedOutcome::Crashed),
            skipped,
            runs,
        }
    }

    /// Whether any seed failed (a limit is reported, not a failure).
    pub fn any_failed(&self) -> bool {
        self.failed > 0 || self.nondeterministic > 0 || self.crashed > 0
    }
}

/// Options of a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub jobs: usize,
    pub fail_fast: bool,
    pub check_determinism: bool,
}

/// Set by Ctrl-C during a sweep: no new seed starts, runs in progress
/// finish, and the summary covers what ran.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Describes the first event where two traces of the same seed differ.
fn first_divergence(a: &[TraceEvent], b: &[TraceEvent], names: &[String]) -> String {
    let show = |e: &TraceEvent| {
        let peer = e.peer.map(|p| format!(" <-> {}", names[p.index()])).unwrap_or_default();
        format!("{:?} {} at {} on {}{peer} ({} B)", e.kind, e.label, e.at, names[e.node.index()], e.size_bytes)
    };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("traces diverge at event {i}: first run {}; second run {}", show(&a[i]), show(&b[i])),
        None if a.len() != b.len() => {
            format!(
                "traces diverge after {} events: one run has {} events, the other {}",
                a.len().min(b.len()),
                a.len(),
                b.len()
            )
        }
        None => "trace hashes differ but the recorded events are equal".into(),
    }
}

/// Runs one seed and classifies it.
fn run_seed(scn: &Scenario, seed: u64, check_determinism: bool) -> SeedRun {
    let scn = match scn.for_seed(seed) {
        Ok(s) => s,
        // Both ends of every range were checked at load; a mix of drawn
        // values can still conflict (two ranges bounding each other).
        Err(e) => {
            return SeedRun {
                seed,
                trace_hash: String::new(),
                outcome: SeedOutcome::Failed,
                failed_checks: Vec::new(),
                failed_expectations: Vec::new(),
                problem: format!("the values drawn for this seed are invalid: {e}"),
                command: format!("dsim run {} --seed {seed}", crate::run::shell_quote(&scn.file)),
            };
        }
    };
    let scn = &scn;
    let out = run(scn, &RunOptions { seed: Some(seed), record_trace: check_determinism, ..RunOptions::default() });
    let r = &out.report;
    let failed_checks: Vec<String> =
        r.checks.iter().filter(|c| c.verdict == reports::Verdict::Fail).map(|c| c.name.to_string()).collect();
    let failed_expectations: Vec<String> = r
        .expectations
        .iter()
        .filter(|e| !e.met)
        .map(|e| format!("{} (expected {}, got {})", e.key, e.expected, e.actual))
        .collect();
    let mut outcome = if r.end_reason.is_limit() {
        SeedOutcome::Limit
    } else if r.passed() {
        SeedOutcome::Passed
    } else {
        SeedOutcome::Failed
    };
    let mut problem = match outcome {
        SeedOutcome::Passed => String::new(),
        SeedOutcome::Limit => format!("hit a run limit ({:?})", r.end_reason),
        _ if !failed_expectations.is_empty() => format!("expectation not met: {}", failed_expectations.join("; ")),
        _ => r
            .checks
            .iter()
            .find(|c| c.verdict == reports::Verdict::Fail)
            .map(|c| {
                let example = c.violations.first().map(|v| v.message.clone()).unwrap_or_default();
                format!("{} failed: {example}", c.name)
            })
            .unwrap_or_default(),
    };
    if check_determinism {
        let again = run(scn, &RunOptions { seed: Some(seed), record_trace: true, ..RunOptions::default() });
        if again.report.trace_hash != r.trace_hash {
            outcome = SeedOutcome::Nondeterministic;
            let (a, b) = (out.trace.as_deref().unwrap_or(&[]), again.trace.as_deref().unwrap_or(&[]));
            problem = first_divergence(a, b, &out.names);
        }
    }
    SeedRun {
        seed,
        trace_hash: r.trace_hash.clone(),
        outcome,
        failed_checks,
        failed_expectations,
        problem,
        command: r.command.clone(),
    }
}

/// Runs `seeds` of `scn` on `opts.jobs` threads; `progress` ticks once per seed.
pub fn sweep(scn: &Scenario, seeds: &[u64], opts: &SweepOptions, progress: &ProgressBar) -> SweepSummary {
    let repro = |seed: u64| {
        let mut cmd = format!("dsim run {} --seed {seed}", crate::run::shell_quote(&scn.file));
        for o in &scn.overrides {
            cmd.push_str(&format!(" --set {}", crate::run::shell_quote(&o.raw)));
        }
        cmd
    };
    let runs = run_all(seeds, opts, progress, &|seed| run_seed(scn, seed, opts.check_determinism), &repro);
    let skipped = seeds.len() - runs.len();
    let overrides = scn.overrides.iter().map(|o| o.raw.clone()).collect();
    SweepSummary::from_runs(&scn.name, &scn.file, overrides, runs, skipped)
}

thread_local! {
    /// The message and place of the last panic on this thread.
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// Whether this thread is a sweep worker, whose panics are recorded.
    static IN_SWEEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `runner` for each seed on worker threads. A run that panics is
/// recorded as `crashed` with the panic's message and place, and the sweep
/// goes on; `repro` gives the command for such a seed.
fn run_all(
    seeds: &[u64],
    opts: &SweepOptions,
    progress: &ProgressBar,
    runner: &(dyn Fn(u64) -> SeedRun + Sync),
    repro: &(dyn Fn(u64) -> String + Sync),
) -> Vec<SeedRun> {
    // While the sweep runs, its workers' panics are recorded rather than
    // printed over the progress bar; any other thread's go to the previous
    // hook, which comes back afterwards.
    let previous = std::sync::Arc::new(std::panic::take_hook());
    let forward = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if IN_SWEEP.with(|w| w.get()) {
            LAST_PANIC.with(|p| *p.borrow_mut() = info.to_string());
        } else {
            forward(info);
        }
    }));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let runs = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, seeds.len().max(1)) {
            s.spawn(|| {
                IN_SWEEP.with(|w| w.set(true));
                loop {
                    if stop.load(Ordering::Relaxed) || INTERRUPTED.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner(seed)))
                        .unwrap_or_else(|_| SeedRun {
                            seed,
                            trace_hash: String::new(),
                            outcome: SeedOutcome::Crashed,
                            failed_checks: Vec::new(),
                            failed_expectations: Vec::new(),
                            problem: LAST_PANIC.with(|p| p.borrow().replace('\n', " ")),
                            command: repro(seed),
                        });
                    if matches!(
                        result.outcome,
                        SeedOutcome::Failed | SeedOutcome::Nondeterministic | SeedOutcome::Crashed
                    ) {
                        let n = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.set_message(format!("{n} failed"));
                        if opts.fail_fast {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    runs.lock().expect("a sweep worker panicked").push(result);
                    progress.inc(1);
                }
            });
        }
    });
    std::panic::set_hook(Box::new(move |info| previous(info)));
    runs.into_inner().expect("a sweep worker panicked outside a run")
}

/// The dsim version and commit this binary was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DSIM_COMMIT"), ")");

/// Writes a repro bundle for one seed's run into `dir`: `seed-N.toml`, the
/// scenario exactly as run (overrides and swarm draws applied, the seed
/// pinned), headed by the dsim version, commit and trace hash, so that
/// `dsim run seed-N.toml` replays the run on any machine; and `seed-N.json`,
/// the seed's entry of the sweep. Both are written atomically.
pub fn write_bundle(dir: &std::path::Path, scn: &Scenario, run: &SeedRun) -> Result<std::path::PathBuf, String> {
    let as_run = scn.for_seed(run.seed).map_err(|e| e.to_string())?;
    let pin = crate::overrides::Override::parse(&format!("scenario.seed={}", run.seed)).map_err(|e| e.to_string())?;
    let body = crate::overrides::apply(&scn.file, &as_run.text, &[pin]).map_err(|e| e.to_string())?;
    let header = format!(
        "# dsim repro bundle: {} seed {}\n# from {}{}\n# built by dsim {VERSION}; expected trace hash {}\n# outcome: {:?}: {}\n# replay: dsim run seed-{}.toml\n\n",
        scn.name,
        run.seed,
        scn.file,
        if as_run.overrides.is_empty() {
            String::new()
        } else {
            format!(
                " with --set {}",
                as_run.overrides.iter().map(|o| o.raw.as_str()).collect::<Vec<_>>().join(" --set ")
            )
        },
        run.trace_hash,
        run.outcome,
        run.problem.replace('\n', " "),
        run.seed,
    );
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let toml_path = dir.join(format!("seed-{}.toml", run.seed));
    crate::run::write_atomic(&toml_path, format!("{header}{body}").as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", toml_path.display()))?;
    let json = serde_json::to_string_pretty(run).map_err(|e| e.to_string())?;
    let json_path = dir.join(format!("seed-{}.json", run.seed));
    crate::run::write_atomic(&json_path, format!("{json}\n").as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    Ok(toml_path)
}

/// Combines shard summaries of one scenario into one summary. Fails if
/// they name different scenarios, files or overrides, or share a seed.
pub fn merge(parts: Vec<SweepSummary>) -> Result<SweepSummary, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let (name, file, overrides) = (first.scenario.clone(), first.file.clone(), first.overrides.clone());
    let mut runs: Vec<SeedRun> = Vec::new();
    let mut skipped = 0;
    for (i, p) in parts.into_iter().enumerate() {
        if p.scenario != name || p.file != file || p.overrides != overrides {
            return Err(format!(
                "part {} is a sweep of `{}` ({}), not of `{name}` ({file}) with the same --set overrides",
                i + 1,
                p.scenario,
                p.file
            ));
        }
        skipped += p.skipped;
        runs.extend(p.runs);
    }
    runs.sort_by_key(|r| r.seed);
    if let Some(w) = runs.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!("seed {} appears in two parts: shards must be disjoint", w[0].seed));
    }
    Ok(SweepSummary::from_runs(&name, &file, overrides, runs, skipped))
}

/// The human summary of a sweep.
pub fn render(s: &SweepSummary, max_failures: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "sweep      {} ({}), {} runs", s.scenario, s.file, s.runs_total);
    let _ = writeln!(
        out,
        "outcome    {} passed, {} failed, {} hit a limit{}{}{}",
        s.passed,
        s.failed,
        s.limit,
        if s.nondeterministic > 0 { format!(", {} nondeterministic", s.nondeterministic) } else { String::new() },
        if s.crashed > 0 { format!(", {} crashed", s.crashed) } else { String::new() },
        if s.skipped > 0 { format!(", {} not started (--fail-fast or Ctrl-C)", s.skipped) } else { String::new() }
    );
    let bad: Vec<&SeedRun> = s.runs.iter().filter(|r| r.outcome != SeedOutcome::Passed).collect();
    if !bad.is_empty() {
        let _ = writeln!(out, "\nfailures (each line reproduces one):");
        for r in bad.iter().take(max_failures) {
            let _ = writeln!(out, "  seed {} [{:?}] {}", r.seed, r.outcome, r.problem);
            let _ = writeln!(out, "    {}", r.command);
        }
        if bad.len() > max_failures {
            let _ = writeln!(out, "  ... and {} more (use --json for all)", bad.len() - max_failures);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_parse_and_reject_nonsense() {
        assert_eq!(parse_seeds("0..3").unwrap(), [0, 1, 2]);
        assert_eq!(parse_seeds("5..=6, 1, 2..4").unwrap(), [1, 2, 3, 5, 6]);
        assert_eq!(parse_seeds("7").unwrap(), [7]);
        assert!(parse_seeds("3..3").unwrap_err().contains("empty"));
        assert!(parse_seeds("a..3").unwrap_err().contains("not a seed"));
        assert!(parse_seeds("0..1000000000000").unwrap_err().contains("--shard"));
        assert!(parse_seeds("18446744073709551615..=18446744073709551615").is_err());
    }

    #[test]
    fn a_panicking_run_is_recorded_as_crashed_and_the_sweep_goes_on() {
        let runner = |seed: u64| {
            assert!(seed != 3, "protocol invariant broken on seed {seed}");
            SeedRun {
                seed,
                trace_hash: "0".repeat(16),
                outcome: SeedOutcome::Passed,
                failed_checks: Vec::new(),
                failed_expectations: Vec::new(),
                problem: String::new(),
                command: String::new(),
            }
        };
        let opts = SweepOptions { jobs: 2, fail_fast: false, check_determinism: false };
        let seeds: Vec<u64> = (0..6).collect();
        let runs = run_all(&seeds, &opts, &ProgressBar::hidden(), &runner, &|s| format!("dsim run x --seed {s}"));
        let s = SweepSummary::from_runs("x", "x.toml", Vec::new(), runs, 0);
        assert_eq!((s.passed, s.crashed), (5, 1));
        let crashed = &s.runs[3];
        assert_eq!(crashed.outcome, SeedOutcome::Crashed);
        assert!(crashed.problem.contains("protocol invariant broken on seed 3"), "{}", crashed.problem);
        assert!(crashed.problem.contains("sweep.rs"), "the panic's place is kept: {}", crashed.problem);
        assert_eq!(crashed.command, "dsim run x --seed 3");
        assert!(s.any_failed());
    }

    #[test]
    fn the_first_diverging_event_is_named() {
        use sim_core::trace::TraceKind;
        use sim_core::{NodeId, SimTime};
        let ev = |t, label| TraceEvent {
            at: SimTime(t),
            kind: TraceKind::Deliver,
            node: NodeId(0),
            peer: Some(NodeId(1)),
            label,
            size_bytes: 64,
        };
        let names = vec!["a".to_string(), "b".to_string()];
        let a = [ev(1, "put"), ev(2, "ack"), ev(3, "get")];
        let b = [ev(1, "put"), ev(2, "nack"), ev(3, "get")];
        let d = first_divergence(&a, &b, &names);
        assert!(d.starts_with("traces diverge at event 1:"), "{d}");
        assert!(d.contains("ack") && d.contains("nack") && d.contains("on a <-> b"), "{d}");
        let d = first_divergence(&a, &a[..2], &names);
        assert!(d.contains("after 2 events"), "{d}");
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_seed() {
        let seeds: Vec<u64> = (0..103).collect();
        for n in 1..=9 {
            let mut all: Vec<u64> = (1..=n).flat_map(|k| shard(&seeds, k, n).to_vec()).collect();
            all.sort();
            assert_eq!(all, seeds, "{n} shards");
        }
        assert_eq!(parse_shard("2/8").unwrap(), (2, 8));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
