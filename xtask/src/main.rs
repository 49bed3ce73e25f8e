//! `cargo xtask <command>`: project automation, in Rust so it runs wherever
//! cargo does.
//!
//! - `ci`: what CI runs (`.ci/run`): formatting, clippy, tests, catalog.
//! - `catalog [--release]`: run every scenario under `scenarios/catalog`
//!   and `scenarios/labs`, print one line per scenario, fail if any misses
//!   its `[expect]`.
//! - `bench`: the engine benchmark (`cargo bench -p sim-core`).

use scenarios::catalog::scenario_files;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}

fn cargo(args: &[&str]) -> bool {
    eprintln!("$ cargo {}", args.join(" "));
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success())
}

fn catalog() -> bool {
    if !cargo(&["build", "--release", "--bin", "dsim"]) {
        return false;
    }
    let dsim = root().join("target/release/dsim");
    let mut files = scenario_files(&root().join("scenarios/catalog"));
    files.extend(scenario_files(&root().join("scenarios/labs")));
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let ok = Command::new(&dsim)
            .arg("run")
            .arg(f)
            .arg("--quiet")
            .current_dir(root())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            passed += 1;
        } else {
            failed += 1;
            eprintln!("FAILED: {}", f.display());
        }
    }
    println!("catalog: {passed} passed, {failed} failed");
    failed == 0
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("ci") => Command::new("bash").arg(root().join(".ci/run")).status().is_ok_and(|s| s.success()),
        Some("catalog") => catalog(),
        Some("bench") => cargo(&["bench", "-p", "sim-core", "--bench", "engine"]),
        _ => {
            eprintln!("usage: cargo xtask <ci | catalog | bench>");
            return ExitCode::from(2);
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
