//! `cargo xtask <command>`: project automation, in Rust so it runs wherever
//! cargo does.
//!
//! - `ci`: what CI runs (`.ci/run`): formatting, clippy, tests, catalog.
//! - `catalog`: run every scenario under `scenarios/catalog` and
//!   `scenarios/labs` in-process (through the `scenarios` library, with its
//!   own seed), print one line per scenario, fail if any misses its
//!   `[expect]`.
//! - `golden [--check]`: write (or, with `--check`, compare against)
//!   `scenarios/golden/trace-hashes.txt`, the trace hash of every such
//!   scenario for seeds 1, 2 and 3. `cargo test` runs the check too.
//! - `bench [phold | engine | protocols | linear]`: the benchmarks, each
//!   printing a table (all four without an argument): PHOLD on dsim and on
//!   simcore in the same run, the engine's criterion bench, simulated
//!   client operations per second per protocol and a sweep's speed-up, and
//!   the linearizability checker. See BENCHMARKS.md.
//! - `fuzz [--seconds N]`: every cargo-fuzz target under `fuzz/`, each for
//!   N seconds (default 30), starting from its seeds in `fuzz/seeds/`. Installs cargo-fuzz
//!   if it is missing; libFuzzer needs nightly flags, which
//!   `RUSTC_BOOTSTRAP=1` unlocks on the stable toolchain.

use std::process::{Command, ExitCode};
use xtask::root;

fn cargo(args: &[&str]) -> bool {
    eprintln!("$ cargo {}", args.join(" "));
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success())
}

/// The benchmarks `cargo xtask bench` runs, by name.
const BENCHES: [(&str, &[&str]); 4] = [
    ("phold", &["bench", "-p", "sim-core", "--bench", "phold"]),
    ("protocols", &["bench", "-p", "scenarios", "--bench", "protocols"]),
    ("linear", &["bench", "-p", "reports", "--bench", "linear"]),
    ("engine", &["bench", "-p", "sim-core", "--bench", "engine"]),
];

/// The fuzz targets, each with committed seed inputs under `fuzz/seeds/<target>`.
const FUZZ_TARGETS: [&str; 5] = ["scenario_toml", "set_override", "history_jsonl", "history_edn", "seeds_and_shards"];

fn fuzz(seconds: u64) -> bool {
    let has_fuzz = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz && !cargo(&["install", "cargo-fuzz", "--locked"]) {
        eprintln!("fuzz: cannot install cargo-fuzz");
        return false;
    }
    let mut ok = true;
    for target in FUZZ_TARGETS {
        // libFuzzer adds what it finds to the first directory (a working
        // corpus, not committed) and reads the committed seeds from the second.
        let corpus = format!("fuzz/corpus/{target}");
        let seeds = format!("fuzz/seeds/{target}");
        let _ = std::fs::create_dir_all(root().join(&corpus));
        eprintln!("$ cargo fuzz run {target} {corpus} {seeds} -- -max_total_time={seconds}");
        let status = Command::new("cargo")
            .args(["fuzz", "run", target, &corpus, &seeds, "--", &format!("-max_total_time={seconds}")])
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root())
            .status();
        let passed = status.is_ok_and(|s| s.success());
        println!("fuzz: {target} {}", if passed { "found nothing" } else { "FAILED (see fuzz/artifacts)" });
        ok &= passed;
    }
    ok
}

fn golden(check: bool) -> bool {
    if check {
        match xtask::check_golden(&root()) {
            Ok(()) => {
                println!("golden: every trace hash matches {}", xtask::GOLDEN_FILE);
                true
            }
            Err(m) => {
                eprintln!("golden: {m}");
                false
            }
        }
    } else {
        match xtask::write_golden(&root()) {
            Ok(path) => {
                println!("golden: wrote {}", path.display());
                true
            }
            Err(e) => {
                eprintln!("golden: cannot write {}: {e}", xtask::GOLDEN_FILE);
                false
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ok = match args.as_slice() {
        ["ci"] => Command::new("bash").arg(root().join(".ci/run")).status().is_ok_and(|s| s.success()),
        ["catalog"] => xtask::catalog(&root()),
        ["golden"] => golden(false),
        ["golden", "--check"] => golden(true),
        ["bench"] => BENCHES.iter().all(|(_, args)| cargo(args)),
        ["bench", name] => match BENCHES.iter().find(|(n, _)| n == name) {
            Some((_, args)) => cargo(args),
            None => {
                eprintln!("bench: no benchmark `{name}` (phold, engine, protocols, linear)");
                return ExitCode::from(2);
            }
        },
        ["fuzz"] => fuzz(30),
        ["fuzz", "--seconds", n] => match n.parse() {
            Ok(secs) => fuzz(secs),
            Err(_) => {
                eprintln!("--seconds takes a whole number");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: cargo xtask <ci | catalog | golden [--check] | bench [NAME] | fuzz [--seconds N]>");
            return ExitCode::from(2);
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
