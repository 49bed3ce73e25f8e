//! The work behind `cargo xtask catalog` and `cargo xtask golden`, as a
//! library so tests run it too. Scenarios run in-process through the
//! `scenarios` library, so the result never depends on which `dsim` binary
//! happens to be built (or where `CARGO_TARGET_DIR` put it).

use scenarios::catalog::scenario_files;
use scenarios::{RunOptions, load, run};
use std::path::{Path, PathBuf};

/// The seeds every scenario's trace hash is pinned for.
pub const GOLDEN_SEEDS: [u64; 3] = [1, 2, 3];

/// Where the pinned trace hashes live, relative to the workspace root.
pub const GOLDEN_FILE: &str = "scenarios/golden/trace-hashes.txt";

/// The workspace root (xtask lives in it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// Every scenario under `scenarios/catalog` and `scenarios/labs` (if there
/// are labs), in sorted order, as paths relative to `root`.
pub fn scenario_paths(root: &Path) -> Vec<String> {
    let mut files = scenario_files(&root.join("scenarios/catalog"));
    files.extend(scenario_files(&root.join("scenarios/labs")));
    files.iter().map(|f| relative(root, f)).collect()
}

/// `f` relative to `root`, with `/` separators on every platform.
fn relative(root: &Path, f: &Path) -> String {
    let rel = f.strip_prefix(root).unwrap_or(f);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// What running one scenario with its own seed came to.
pub struct Outcome {
    pub path: String,
    pub passed: bool,
    /// The line `dsim run --quiet` prints, or the reason it could not run.
    pub line: String,
    pub warnings: Vec<String>,
}

/// Runs the scenario at `path` (relative to `root`) with its own seed and
/// judges it by its `[expect]` (or, without one, its outcome); a scenario
/// with `[[variant]]` tables runs each variant.
pub fn run_scenario(root: &Path, path: &str) -> Vec<Outcome> {
    let failed = |e: scenarios::InputError| {
        vec![Outcome { path: path.to_string(), passed: false, line: e.to_string(), warnings: Vec::new() }]
    };
    let variants = match load(&root.join(path), &[]).and_then(|base| base.variants()) {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let mut out = Vec::new();
    for v in variants {
        let scn = match v.for_seed(v.seed) {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let report =
            run(&scn, &RunOptions { seed: Some(scn.seed), record_trace: false, ..RunOptions::default() }).report;
        let passed = report.passed();
        let line = format!(
            "{}{}: outcome {}{} (seed {}, trace {})",
            report.scenario,
            scn.variant.as_ref().map_or(String::new(), |v| format!(" [{v}]")),
            report.outcome,
            if passed { "" } else { ", FAILED" },
            report.seed,
            report.trace_hash
        );
        let failures = report.expectations.iter().filter(|e| !e.met);
        let line = failures.fold(line, |l, e| format!("{l}\n    expected {} {}, got {}", e.key, e.expected, e.actual));
        out.push(Outcome { path: path.to_string(), passed, line, warnings: report.warnings });
    }
    out
}

/// `cargo xtask catalog`: runs every scenario, prints one line each and a
/// summary; true if every scenario passed.
pub fn catalog(root: &Path) -> bool {
    let (mut passed, mut failed) = (0, 0);
    for path in scenario_paths(root) {
        for o in run_scenario(root, &path) {
            for w in &o.warnings {
                eprintln!("warning: {path}: {w}");
            }
            println!("{}", o.line);
            if o.passed {
                passed += 1;
            } else {
                failed += 1;
                eprintln!("FAILED: {path}");
            }
        }
    }
    println!("catalog: {passed} passed, {failed} failed");
    failed == 0
}

/// The golden file's text for the scenarios under `root`: a comment, then
/// one line `path seed trace_hash` per scenario and seed in
/// [`GOLDEN_SEEDS`]. A scenario that does not load gets `error: ...` in
/// place of a hash.
pub fn golden_text(root: &Path) -> String {
    let mut out = String::from(
        "# Trace hashes of every catalog (and lab) scenario for seeds 1, 2 and 3: `path seed trace_hash`.\n\
         # Checked by `cargo test` (xtask); after an intended change, regenerate with `cargo xtask golden`.\n",
    );
    for path in scenario_paths(root) {
        // A scenario with variants gets a line per variant: `path#variant`.
        let runs: Vec<(String, Result<scenarios::Scenario, scenarios::InputError>)> =
            match load(&root.join(&path), &[]).and_then(|base| base.variants()) {
                Ok(vs) => vs
                    .into_iter()
                    .map(|v| (v.variant.as_ref().map_or(path.clone(), |name| format!("{path}#{name}")), Ok(v)))
                    .collect(),
                Err(e) => vec![(path.clone(), Err(e))],
            };
        for (what, scn) in &runs {
            for seed in GOLDEN_SEEDS {
                let hash = scn.clone().and_then(|scn| scn.for_seed(seed)).map_or_else(
                    |e| format!("error: {}", e.message),
                    |scn| {
                        run(&scn, &RunOptions { seed: Some(seed), record_trace: false, ..RunOptions::default() })
                            .report
                            .trace_hash
                    },
                );
                out.push_str(&format!("{what} {seed} {hash}\n"));
            }
        }
    }
    out
}

/// The (path seed, hash) pairs of a golden text, comments and blank lines skipped.
fn entries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.rsplit_once(' ') {
            Some((what, hash)) => (what.to_string(), hash.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Compares the committed golden text with a fresh one: every mismatch,
/// missing and extra line, in words; empty if they agree.
pub fn golden_mismatches(committed: &str, fresh: &str) -> Vec<String> {
    let old = entries(committed);
    let new = entries(fresh);
    let mut out = Vec::new();
    for (what, hash) in &new {
        match old.iter().find(|(w, _)| w == what) {
            None => out.push(format!("{what}: not in the golden file (now {hash})")),
            Some((_, was)) if was != hash => out.push(format!("{what}: golden {was}, now {hash}")),
            Some(_) => {}
        }
    }
    for (what, was) in &old {
        if !new.iter().any(|(w, _)| w == what) {
            out.push(format!("{what}: in the golden file ({was}) but no longer run"));
        }
    }
    out
}

/// `cargo xtask golden --check`: Ok if the committed golden file matches
/// the current tree, else a message listing every mismatch.
pub fn check_golden(root: &Path) -> Result<(), String> {
    let file = root.join(GOLDEN_FILE);
    let committed = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mismatches = golden_mismatches(&committed, &golden_text(root));
    if mismatches.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} trace hash(es) differ from {GOLDEN_FILE}:\n  {}\n\
         If the change is intended (a new scenario, or a change to the engine, a protocol or a scenario \
         that alters its runs), run `cargo xtask golden` and commit the file.",
        mismatches.len(),
        mismatches.join("\n  ")
    ))
}

/// `cargo xtask golden`: writes the golden file for the current tree.
pub fn write_golden(root: &Path) -> std::io::Result<PathBuf> {
    let file = root.join(GOLDEN_FILE);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    scenarios::run::write_atomic(&file, golden_text(root).as_bytes())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_name_changed_missing_and_extra_lines() {
        let committed = "# comment\na.toml 1 aaaa\na.toml 2 bbbb\ngone.toml 1 cccc\n";
        let fresh = "# other comment\na.toml 1 aaaa\na.toml 2 dddd\nnew.toml 1 eeee\n";
        assert_eq!(
            golden_mismatches(committed, fresh),
            [
                "a.toml 2: golden bbbb, now dddd",
                "new.toml 1: not in the golden file (now eeee)",
                "gone.toml 1: in the golden file (cccc) but no longer run",
            ]
        );
        assert!(golden_mismatches(committed, committed).is_empty());
    }
}
