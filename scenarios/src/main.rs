//! `dsim`: run, validate and list scenarios.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reports::Verdict;
use reports::history_io::{self, Format};
use reports::linear::{Budget, Consistency, ModelKind};
use reports::plot::{MAX_DIAGRAM_MESSAGES, MAX_DIAGRAM_NODES};
use scenarios::InputError;
use scenarios::drivers::PROTOCOLS;
use scenarios::run::{RunOptions, trace_prefix, write_atomic, write_outputs};
use scenarios::shrink::{self, ShrinkOptions};
use scenarios::sweep::{self, SeedOutcome, SweepOptions, SweepSummary};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for a clean run (or one that met its expectations).
const EXIT_OK: u8 = 0;
/// Exit code for a violation or a failed expectation.
const EXIT_FAILED: u8 = 1;
/// Exit code for bad input or usage.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code of `dsim check` when the checker ran out of budget.
const EXIT_UNKNOWN: u8 = 3;
/// Exit code of a sweep stopped by Ctrl-C (128 + SIGINT, as shells use).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "dsim",
    version = scenarios::sweep::VERSION,
    about = "A deterministic discrete-event simulator for distributed storage protocols",
    long_about = "A deterministic discrete-event simulator for distributed storage protocols.\n\n\
Same scenario + same seed = same trace hash, on any machine.\n\n\
Exit codes: 0 clean (or every [expect] met), 1 a violation or a failed expectation, 2 bad input or usage; \
`dsim check` also exits 3 when its verdict is unknown.",
    after_help = "Examples:\n  dsim run scenarios/catalog/directory_kv/recursive.toml\n  dsim run scenarios/catalog/directory_kv/recursive.toml --seed 7 --set network.loss=0.1 --out out/\n  dsim validate my-scenario.toml\n  dsim check out/history.jsonl --model kv\n  dsim sweep scenarios/catalog/directory_kv/careless.toml --seeds 0..100\n  dsim list"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and report what happened.
    Run {
        /// The scenario TOML file.
        file: PathBuf,
        /// Seed for this run (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override any scenario key, e.g. --set network.loss=0.1 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print the JSON report on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
        /// Write report.json, report.txt, history.jsonl, history.edn, report.html (one
        /// self-contained page) and its plots (latency-cdf.svg, latency-over-time.svg,
        /// throughput.svg, and messages.svg for runs of at most 24 nodes) into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also record every event and write trace.jsonl (needs --out). Without it,
        /// messages.svg is drawn from the run's first events, recorded by replaying them.
        #[arg(long, requires = "out")]
        trace: bool,
        /// Print only the outcome line and problems.
        #[arg(long, short)]
        quiet: bool,
        /// Run only this `[[variant]]` of the scenario (without it, a scenario
        /// with variants runs them all and prints their comparison).
        #[arg(long, value_name = "NAME")]
        variant: Option<String>,
    },
    /// Run several scenarios, or every `[[variant]]` of one, with the same
    /// seed and print one table: a row per run with throughput, p50/p99
    /// latency, availability, stale reads, violations and messages per
    /// operation. Exits 1 if any run failed its expectations.
    Compare {
        /// Scenario files; a file with [[variant]] tables contributes each variant.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The one seed every run uses (default: each scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override any scenario key in every run (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print the comparison (rows and full reports) as JSON.
        #[arg(long)]
        json: bool,
        /// Write compare.json, compare.txt, compare.html with overlaid plots (SVG), and each run's reports (one directory per row) here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Parallel runs (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a scenario file without running it.
    Validate {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// List protocols with their parameters, and the catalog scenarios.
    List,
    /// Run a scenario over many seeds, in parallel, and list every failure with
    /// a command that reproduces it. Exits 1 if any seed failed.
    Sweep {
        /// The scenario TOML file.
        file: PathBuf,
        /// Seeds: A..B (B excluded), A..=B, single seeds, or a comma-separated mix.
        #[arg(long, value_name = "RANGE")]
        seeds: String,
        /// Parallel runs (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Stop starting new seeds after the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Run every seed twice; a seed whose traces differ fails, naming the first diverging event.
        #[arg(long)]
        check_determinism: bool,
        /// Run only the K-th of N disjoint slices of the seeds (1 <= K <= N), e.g. --shard 3/8.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Override any scenario key for every run (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print one JSON document (counts and every seed's run) instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write the JSON document to this file as well (atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write a repro bundle for every failing seed into this directory:
        /// seed-N.toml (the scenario exactly as run) and seed-N.json.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Sweep this `[[variant]]` of the scenario (needed when it has variants).
        #[arg(long, value_name = "NAME")]
        variant: Option<String>,
    },
    /// Find a smaller scenario that still fails the same way with a seed (fewer
    /// faults, clients, nodes and operations; a shorter run), by delta debugging.
    ///
    /// Writes it as a TOML file with its seed pinned. Exits 0 when it wrote one,
    /// 1 when the run passes (nothing to shrink), 2 for bad input.
    Shrink {
        /// The scenario TOML file.
        file: PathBuf,
        /// The failing seed (default: the scenario's seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Override any scenario key (repeatable); part of the shrunk scenario.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Where to write the shrunk scenario (default: NAME-shrunk-seedN.toml here).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The most simulation runs to spend.
        #[arg(long, default_value_t = 500)]
        max_runs: usize,
    },
    /// Combine the --json outputs of sweep shards into one summary. Exits 1 if any seed failed.
    Merge {
        /// Shard results written by `dsim sweep --json` (or --out).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Print the merged JSON document instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Check a recorded history (dsim JSON lines or Jepsen EDN) against a model.
    ///
    /// Exit codes: 0 consistent, 1 not, 2 bad input (with the line number), 3 unknown (budget exceeded).
    Check {
        /// The history file: dsim's history.jsonl, or a Jepsen history.edn.
        history: PathBuf,
        /// The sequential model the history should follow.
        #[arg(long, value_parser = ["register", "cas-register", "kv"])]
        model: String,
        /// The consistency condition to check.
        #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "sequential"])]
        consistency: String,
        /// The file's format (default: detected from its first characters).
        #[arg(long, value_parser = ["jsonl", "edn"])]
        format: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Wall-clock budget of the whole check; past it the verdict is unknown (exit 3).
        #[arg(long, default_value_t = 10_000)]
        time_budget_ms: u64,
        /// Memory budget of each key's search (every key gets all of it, so the
        /// verdict does not depend on the number of cores; keys searched in
        /// parallel may together use a multiple of it).
        #[arg(long, default_value_t = 1 << 30)]
        memory_budget_bytes: u64,
        /// How many counterexamples to list.
        #[arg(long, default_value_t = 10)]
        max_examples: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { EXIT_OK };
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run { file, seed, sets, json, out, trace, quiet, variant } => {
            let base = match scenarios::load(&file, &sets) {
                Ok(s) => s,
                Err(e) => return bad_input(&e),
            };
            if variant.is_none() && !base.variant_specs.is_empty() {
                if trace {
                    return bad_input(&InputError::new(
                        &file.display().to_string(),
                        "--trace records one run: pick a variant with --variant NAME",
                    ));
                }
                let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
                return cmd_compare(&[file], seed, &sets, json, out, jobs, quiet);
            }
            let scn = match pick_variant(base, variant.as_deref()) {
                Ok(s) => s,
                Err(e) => return bad_input(&e),
            };
            cmd_run(scn, seed, json, out, trace, quiet)
        }
        Command::Compare { files, seed, sets, json, out, jobs, quiet } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return bad_input(&InputError::new("dsim compare", "--jobs must be at least 1"));
            }
            cmd_compare(&files, seed, &sets, json, out, jobs, quiet)
        }
        Command::Validate { file, sets } => cmd_validate(&file, &sets),
        Command::List => cmd_list(),
        Command::Shrink { file, seed, sets, out, max_runs } => cmd_shrink(&file, seed, &sets, out, max_runs),
        Command::Sweep {
            file,
            seeds,
            jobs,
            fail_fast,
            check_determinism,
            shard,
            sets,
            json,
            out,
            bundle,
            quiet,
            variant,
        } => {
            let opts = SweepOptions {
                jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                fail_fast,
                check_determinism,
            };
            let outputs = SweepOutputs { json, out, bundle, quiet };
            cmd_sweep(&file, variant.as_deref(), &seeds, shard.as_deref(), &sets, &opts, &outputs)
        }
        Command::Merge { parts, json } => cmd_merge(&parts, json),
        Command::Check {
            history,
            model,
            consistency,
            format,
            json,
            time_budget_ms,
            memory_budget_bytes,
            max_examples,
        } => {
            let budget = Budget { time_ms: time_budget_ms, memory_bytes: memory_budget_bytes, ..Budget::default() };
            cmd_check(&history, &model, &consistency, format.as_deref(), json, &budget, max_examples)
        }
    }
}

fn bad_input(e: &InputError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// The scenario itself, or its variant `name`. A scenario with variants
/// must be given one: its base alone is none of the runs it describes.
fn pick_variant(base: scenarios::Scenario, name: Option<&str>) -> Result<scenarios::Scenario, InputError> {
    match name {
        Some(n) => base.variant(n),
        None if !base.variant_specs.is_empty() => {
            let names: Vec<&str> = base.variant_specs.iter().map(|v| v.name.as_str()).collect();
            Err(InputError::new(&base.file, "this scenario has [[variant]] tables: say which one to use")
                .with_hint(format!("add --variant NAME ({})", names.join(", "))))
        }
        None => Ok(base),
    }
}

fn cmd_compare(
    files: &[PathBuf],
    seed: Option<u64>,
    sets: &[String],
    json: bool,
    out: Option<PathBuf>,
    jobs: usize,
    quiet: bool,
) -> ExitCode {
    let scns = match scenarios::compare::expand(files, sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let labels = scenarios::compare::labels(&scns);
    // A bar only on a terminal (indicatif draws nothing elsewhere) and not with --quiet or --json.
    let bar = if quiet || json { ProgressBar::hidden() } else { ProgressBar::new(scns.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, ETA {eta}").expect("a valid progress template"),
    );
    let outputs = scenarios::compare::run_all(&scns, seed, jobs, &bar);
    bar.finish_and_clear();
    let comparison = scenarios::compare::compare(&labels, &outputs, &scenarios::compare::metric_columns(&scns));
    if json {
        match serde_json::to_string_pretty(&comparison) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the comparison: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    } else if quiet {
        for r in comparison.rows.iter().filter(|r| !r.passed) {
            println!("{}: outcome {}, FAILED; reproduce with: {}", r.variant, r.outcome, r.command);
        }
    } else {
        print!("{}", scenarios::compare::render_text(&comparison));
    }
    if let Some(dir) = out {
        match scenarios::compare::write(&dir, &comparison, &labels, &outputs) {
            Ok(paths) => {
                if !json && !quiet {
                    println!("wrote      {} files under {}", paths.len(), dir.display());
                }
            }
            Err(e) => {
                eprintln!("error: cannot write the comparison to {}: {e}", dir.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    ExitCode::from(if comparison.passed() { EXIT_OK } else { EXIT_FAILED })
}

fn cmd_run(
    scn: scenarios::Scenario,
    seed: Option<u64>,
    json: bool,
    out: Option<PathBuf>,
    trace: bool,
    quiet: bool,
) -> ExitCode {
    let seed = seed.unwrap_or(scn.seed);
    let scn = match scn.for_seed(seed) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    if !scn.drawn.is_empty() && !json && !quiet {
        println!("swarm      drawn for seed {seed}: {}", scn.drawn.join(", "));
    }
    // Hidden until the run has taken more than a moment (see run::run_within);
    // then drawn on stderr if it is a terminal.
    let progress = (!quiet && !json).then(|| {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} simulated ms, {msg}, ETA {eta}")
                .expect("a valid progress template"),
        );
        bar
    });
    let mut output = scenarios::run(&scn, &RunOptions { seed: Some(seed), record_trace: trace, progress });
    // The message diagram needs the run's first events; without --trace they
    // were not kept, and replaying the start is cheaper than keeping them all.
    if out.is_some() && !trace && scn.names.len() <= MAX_DIAGRAM_NODES {
        output.trace_prefix = Some(trace_prefix(&scn, seed, MAX_DIAGRAM_MESSAGES));
    }
    let report = &output.report;
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    } else if quiet {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "{}: outcome {}{} (seed {}, trace {})",
            report.scenario,
            report.outcome,
            if report.passed() { "" } else { ", FAILED" },
            report.seed,
            report.trace_hash
        );
    } else {
        print!("{}", reports::text::render(report));
    }
    if let Some(dir) = out {
        match write_outputs(&dir, &output) {
            Ok(paths) => {
                if !json && !quiet {
                    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                    println!("wrote      {}", names.join(", "));
                }
            }
            Err(e) => {
                eprintln!("error: cannot write reports to {}: {e}", dir.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    if report.passed() {
        ExitCode::from(EXIT_OK)
    } else {
        if !json {
            eprintln!("failed; reproduce with: {}", report.command);
        }
        ExitCode::from(EXIT_FAILED)
    }
}

fn cmd_check(
    file: &Path,
    model: &str,
    consistency: &str,
    format: Option<&str>,
    json: bool,
    budget: &Budget,
    max_examples: usize,
) -> ExitCode {
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return bad_input(&InputError::new(&shown, format!("cannot read the history: {e}"))),
    };
    let format = match format {
        Some("edn") => Format::Edn,
        Some(_) => Format::Jsonl,
        None => history_io::detect(&text),
    };
    let history = match history_io::parse(&text, format) {
        Ok(h) => h,
        Err(e) => {
            let err = InputError::new(&shown, e.message).at_line(Some(e.line));
            return bad_input(&err.with_hint(format!("read as {}; use --format to choose", format.name())));
        }
    };
    let kind = ModelKind::from_name(model).expect("clap restricts --model to known models");
    let condition = Consistency::from_name(consistency).expect("clap restricts --consistency to known conditions");
    if let Some(op) = kind.first_unsupported(&history) {
        let fits: Vec<&str> = ModelKind::ALL.iter().filter(|k| k.supports(&op.call)).map(|k| k.name()).collect();
        let err = InputError::new(&shown, format!("the {model} model has no `{}` operation", op.call.name()))
            .at_line(op.line)
            .with_hint(format!("use --model {}", fits.join(" or ")));
        return bad_input(&err);
    }
    let result = kind.check(condition, &history, budget, max_examples);
    if json {
        let doc = serde_json::json!({
            "file": shown,
            "format": format.name(),
            "model": model,
            "consistency": consistency,
            "ops": history.ops.len(),
            "keys": history.keys.len().max(1),
            "check": result,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "{shown}: {} {} ops, {} key(s), model {model}: {} {}",
            format.name(),
            history.ops.len(),
            history.keys.len().max(1),
            consistency,
            result.verdict.name()
        );
        for v in &result.violations {
            println!("  - {}", v.message);
        }
        if let Some(reason) = result.reason() {
            println!("  reason: {reason}");
        }
    }
    ExitCode::from(match result.verdict {
        Verdict::Pass => EXIT_OK,
        Verdict::Fail => EXIT_FAILED,
        Verdict::Unknown => EXIT_UNKNOWN,
    })
}

/// Where a sweep's results go.
struct SweepOutputs {
    json: bool,
    out: Option<PathBuf>,
    bundle: Option<PathBuf>,
    quiet: bool,
}

fn cmd_sweep(
    file: &Path,
    variant: Option<&str>,
    seeds: &str,
    shard: Option<&str>,
    sets: &[String],
    opts: &SweepOptions,
    o: &SweepOutputs,
) -> ExitCode {
    let (json, quiet) = (o.json, o.quiet);
    let usage = |m: String| bad_input(&InputError::new("dsim sweep", m));
    let all = match sweep::parse_seeds(seeds) {
        Ok(s) => s,
        Err(m) => return usage(format!("--seeds: {m}")),
    };
    let seeds = match shard.map(sweep::parse_shard) {
        None => all.as_slice(),
        Some(Ok((k, n))) => sweep::shard(&all, k, n),
        Some(Err(m)) => return usage(format!("--shard: {m}")),
    };
    if opts.jobs == 0 {
        return usage("--jobs must be at least 1".into());
    }
    let scn = match scenarios::load(file, sets).and_then(|b| pick_variant(b, variant)) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    // A bar only on a terminal (indicatif draws nothing elsewhere) and not with --quiet or --json.
    let bar = if quiet || json { ProgressBar::hidden() } else { ProgressBar::new(seeds.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} seeds, {per_sec}, {msg}, ETA {eta}")
            .expect("a valid progress template"),
    );
    bar.set_message("0 failed");
    // Ctrl-C stops starting seeds; the runs in progress finish and the
    // summary covers what ran. A second Ctrl-C is not caught again.
    let _ = ctrlc::set_handler(|| sweep::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed));
    let summary = sweep::sweep(&scn, seeds, opts, &bar);
    bar.finish_and_clear();
    let interrupted = sweep::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed);
    let doc = match serde_json::to_string_pretty(&summary) {
        Ok(d) => d,
        Err(e) => return usage(format!("cannot encode the summary: {e}")),
    };
    if let Some(path) = &o.out
        && let Err(e) = write_atomic(path, format!("{doc}\n").as_bytes())
    {
        return usage(format!("cannot write {}: {e}", path.display()));
    }
    if let Some(dir) = &o.bundle {
        let failing =
            summary.runs.iter().filter(|r| matches!(r.outcome, SeedOutcome::Failed | SeedOutcome::Nondeterministic));
        for r in failing {
            match sweep::write_bundle(dir, &scn, r) {
                Ok(path) if !json && !quiet => eprintln!("bundle     {}", path.display()),
                Ok(_) => {}
                Err(m) => return usage(m),
            }
        }
    }
    if json {
        println!("{doc}");
    } else {
        print!("{}", sweep::render(&summary, 20));
        if !quiet {
            let secs = bar.elapsed().as_secs_f64();
            eprintln!(
                "took {secs:.1} s ({:.1} runs/s on {} jobs)",
                summary.runs_total as f64 / secs.max(1e-9),
                opts.jobs
            );
        }
    }
    if interrupted {
        eprintln!("interrupted: {} of {} seeds ran; the summary covers those", summary.runs_total, seeds.len());
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    ExitCode::from(if summary.any_failed() { EXIT_FAILED } else { EXIT_OK })
}

fn cmd_shrink(file: &Path, seed: Option<u64>, sets: &[String], out: Option<PathBuf>, max_runs: usize) -> ExitCode {
    let scn = match scenarios::load(file, sets) {
        Ok(b) if !b.variant_specs.is_empty() => {
            return bad_input(&InputError::new(&b.file, "shrink works on one run, and this scenario has [[variant]] tables").with_hint(
                "sweep the failing variant with --bundle DIR (`dsim sweep FILE --variant NAME --seeds N --bundle DIR`) and shrink the bundled seed-N.toml, which holds that variant alone",
            ));
        }
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let seed = seed.unwrap_or(scn.seed);
    // Swarm draws for the seed become --set overrides, so the shrinker works
    // on the scenario exactly as the failing run saw it.
    let as_run = match scn.for_seed(seed) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let all_sets: Vec<String> = as_run.overrides.iter().map(|o| o.raw.clone()).collect();
    let opts = ShrinkOptions { max_runs };
    let result = match shrink::shrink(&scn.file, &scn.source, &all_sets, seed, &opts, &|m| eprintln!("shrink     {m}"))
    {
        Ok(r) => r,
        Err(m) if m.contains("nothing to shrink") => {
            println!("{m}");
            return ExitCode::from(EXIT_FAILED);
        }
        Err(m) => return bad_input(&InputError::new(&scn.file, m)),
    };
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{}-shrunk-seed{seed}.toml", scn.name)));
    let text = result.text.replace("<this file>", &path.display().to_string());
    if let Err(e) = write_atomic(&path, text.as_bytes()) {
        return bad_input(&InputError::new(&path.display().to_string(), format!("cannot write: {e}")));
    }
    println!("shrunk     {} with seed {seed}, failing with {}", scn.name, result.signature);
    println!("before     {}", result.before);
    println!("after      {}", result.after);
    println!("runs       {} simulations; trace hash {}", result.runs, result.trace_hash);
    println!("wrote      {} (reproduce: dsim run {})", path.display(), path.display());
    ExitCode::from(EXIT_OK)
}

fn cmd_merge(parts: &[PathBuf], json: bool) -> ExitCode {
    let mut docs = Vec::new();
    for p in parts {
        let shown = p.display().to_string();
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return bad_input(&InputError::new(&shown, format!("cannot read: {e}"))),
        };
        match serde_json::from_str::<SweepSummary>(&text) {
            Ok(d) => docs.push(d),
            Err(e) => {
                let err = InputError::new(&shown, format!("not a sweep result: {e}")).at_line(Some(e.line()));
                return bad_input(&err.with_hint("merge the files written by `dsim sweep --json` or `--out`"));
            }
        }
    }
    let merged = match sweep::merge(docs) {
        Ok(m) => m,
        Err(m) => return bad_input(&InputError::new("dsim merge", m)),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&merged).unwrap_or_default());
    } else {
        print!("{}", sweep::render(&merged, 20));
    }
    ExitCode::from(if merged.any_failed() { EXIT_FAILED } else { EXIT_OK })
}

fn cmd_validate(file: &Path, sets: &[String]) -> ExitCode {
    match scenarios::load(file, sets) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "ok: {} ({}; {} nodes, of which {} clients; {} scheduled faults, {} nemeses; {} expectations)",
                s.name,
                s.protocol.name(),
                s.names.len(),
                s.clients,
                s.faults.schedule.len(),
                s.faults.nemeses.len(),
                s.expectations.len()
            );
            ExitCode::from(EXIT_OK)
        }
        Err(e) => bad_input(&e),
    }
}

/// The catalog directory: `scenarios/catalog` under the current directory if
/// it exists (running from a checkout), else the one this binary was built from.
fn catalog_dir() -> PathBuf {
    let local = PathBuf::from("scenarios/catalog");
    if local.is_dir() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog") }
}

fn cmd_list() -> ExitCode {
    println!("protocols");
    for p in PROTOCOLS {
        println!("  {}: {}", p.name, p.summary);
        println!("    cluster.nodes (default {}) counts {}", p.default_nodes, p.nodes_are);
        println!("    operations: {}", p.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "));
        if p.sessions {
            println!("    clients run file sessions: open, workload.ops_per_session operations, close");
        }
        println!("    default checks: {}", p.default_checks.join(", "));
        if !p.checks.is_empty() {
            println!("    protocol checks (always run; [expect] names them): {}", p.checks.join(", "));
        }
        println!("    [params]");
        for (name, default, doc) in p.params {
            println!("      {name:<24} default {default:<12} {doc}");
        }
    }
    println!();
    let dir = catalog_dir();
    println!("catalog ({})", dir.display());
    for f in scenarios::catalog::scenario_files(&dir) {
        match scenarios::load(&f, &[]) {
            Ok(s) => {
                let first_line = s.description.lines().next().unwrap_or("");
                println!("  {:<56} {}", f.display(), first_line);
            }
            Err(e) => println!("  {:<56} (invalid: {})", f.display(), e.message),
        }
    }
    ExitCode::from(EXIT_OK)
}
