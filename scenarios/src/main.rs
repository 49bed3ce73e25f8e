//! `dsim`: run, validate and list scenarios.

use clap::{Parser, Subcommand};
use scenarios::InputError;
use scenarios::drivers::PROTOCOLS;
use scenarios::run::{RunOptions, write_outputs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for a clean run (or one that met its expectations).
const EXIT_OK: u8 = 0;
/// Exit code for a violation or a failed expectation.
const EXIT_FAILED: u8 = 1;
/// Exit code for bad input or usage.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "dsim",
    version,
    about = "A deterministic discrete-event simulator for distributed storage protocols",
    long_about = "A deterministic discrete-event simulator for distributed storage protocols.\n\n\
Same scenario + same seed = same trace hash, on any machine.\n\n\
Exit codes: 0 clean (or every [expect] met), 1 a violation or a failed expectation, 2 bad input or usage.",
    after_help = "Examples:\n  dsim run scenarios/catalog/directory_kv/recursive.toml\n  dsim run scenarios/catalog/directory_kv/recursive.toml --seed 7 --set network.loss=0.1 --out out/\n  dsim validate my-scenario.toml\n  dsim list"
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
        /// Write report.json, report.txt and history.jsonl into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also record every event and write trace.jsonl (needs --out).
        #[arg(long, requires = "out")]
        trace: bool,
        /// Print only the outcome line and problems.
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
        Command::Run { file, seed, sets, json, out, trace, quiet } => {
            cmd_run(&file, seed, &sets, json, out, trace, quiet)
        }
        Command::Validate { file, sets } => cmd_validate(&file, &sets),
        Command::List => cmd_list(),
    }
}

fn bad_input(e: &InputError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn cmd_run(
    file: &Path,
    seed: Option<u64>,
    sets: &[String],
    json: bool,
    out: Option<PathBuf>,
    trace: bool,
    quiet: bool,
) -> ExitCode {
    let scn = match scenarios::load(file, sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let output = scenarios::run(&scn, &RunOptions { seed, record_trace: trace });
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
        println!("    cluster.nodes counts {}", p.nodes_are);
        println!("    operations: {}", p.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", "));
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
