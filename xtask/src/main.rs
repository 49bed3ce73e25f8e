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
//! - `bench`: the engine benchmark (`cargo bench -p sim-core`).

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
        ["bench"] => cargo(&["bench", "-p", "sim-core", "--bench", "engine"]),
        _ => {
            eprintln!("usage: cargo xtask <ci | catalog | golden [--check] | bench>");
            return ExitCode::from(2);
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
