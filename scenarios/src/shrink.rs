//! `dsim shrink`: delta debugging of a failing run. Starting from a scenario
//! and a seed whose run fails, it tries smaller scenarios (fewer faults,
//! scripted operations, clients and nodes, fewer operations, a shorter run, a
//! smaller key space) and keeps each one whose run, with the same seed, still
//! fails the same way (the same [`signature`]). It stops at a fixpoint or
//! after `max_runs` simulation runs.
//!
//! Every candidate is an edit of the scenario's TOML text, loaded and checked
//! like a file, so the result is a scenario file that reproduces the failure
//! by itself. The result depends only on the inputs: candidates are tried in
//! a fixed order and nothing reads the clock or unseeded randomness.

use crate::load::{Scenario, load_str};
use crate::overrides::{Override, apply};
use crate::run::{RunOptions, run};
use reports::{RunReport, Verdict};
use sim_core::time::NANOS_PER_MS;
use std::collections::BTreeSet;
use std::fmt;
use toml_edit::{DocumentMut, Item, Value};

/// Options of a shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// The most simulation runs to spend, the first (failing) run included.
    pub max_runs: usize,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions { max_runs: 500 }
    }
}

/// How big a scenario and its failing run are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    /// Server nodes (`cluster.nodes`).
    pub nodes: usize,
    pub clients: usize,
    /// `[[faults.schedule]]` entries plus `[[faults.nemesis]]` entries.
    pub faults: usize,
    /// `[[workload.script]]` entries.
    pub script_ops: usize,
    /// Operations in the run's history.
    pub ops: u64,
    /// `scenario.duration_ms`.
    pub duration_ms: u64,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} nodes, {} clients, {} faults, {} ops, {} ms",
            self.nodes, self.clients, self.faults, self.ops, self.duration_ms
        )
    }
}

/// What a shrink found.
#[derive(Clone, Debug)]
pub struct ShrinkResult {
    /// The reduced scenario as TOML, with `scenario.seed` set to the seed and
    /// a header comment saying where it came from.
    pub text: String,
    pub seed: u64,
    /// How the run fails (see [`signature`]), the same before and after.
    pub signature: String,
    pub before: Size,
    pub after: Size,
    /// Simulation runs spent, the first included.
    pub runs: usize,
    /// The trace hash of the reduced scenario's run.
    pub trace_hash: String,
}

/// How a run failed, stably enough to tell "the same failure": the sorted
/// keys of the unmet expectations (`expect:stale_reads_max`) if any,
/// otherwise the sorted names of the failing checks (`check:linearizable`),
/// otherwise the outcome (`outcome:limit`). `None` if the run passed.
pub fn signature(report: &RunReport) -> Option<String> {
    if report.passed() {
        return None;
    }
    let mut parts: Vec<String> =
        report.expectations.iter().filter(|e| !e.met).map(|e| format!("expect:{}", e.key)).collect();
    if parts.is_empty() {
        parts =
            report.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| format!("check:{}", c.name)).collect();
    }
    if parts.is_empty() {
        parts.push(format!("outcome:{}", report.outcome));
    }
    parts.sort();
    parts.dedup();
    Some(parts.join(", "))
}

/// The lists of tables that delta debugging removes entries from.
const LISTS: [(&str, &str); 3] = [("faults", "schedule"), ("faults", "nemesis"), ("workload", "script")];

/// Shrinks the scenario `text` (named `file` in messages), with `--set`
/// overrides `sets`, whose run with `seed` fails. `progress` is called after
/// each accepted reduction. Errors if the scenario does not load, or passes
/// with that seed (nothing to shrink).
pub fn shrink(
    file: &str,
    text: &str,
    sets: &[String],
    seed: u64,
    opts: &ShrinkOptions,
    progress: &dyn Fn(&str),
) -> Result<ShrinkResult, String> {
    // Load with the overrides first, so errors name the file or the --set.
    load_str(file, text, sets).map_err(|e| e.to_string())?;
    let overrides: Vec<Override> =
        sets.iter().map(|s| Override::parse(s)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let applied = apply(file, text, &overrides).map_err(|e| e.to_string())?;
    let mut doc: DocumentMut = applied.parse().map_err(|e| format!("{file}: not valid TOML: {e}"))?;
    let seed_value = i64::try_from(seed)
        .map_err(|_| format!("seed {seed} is larger than a TOML integer can hold ({})", i64::MAX))?;
    set_value(&mut doc, "scenario", "seed", Value::from(seed_value));
    let start_text = doc.to_string();
    let scn = load_str(file, &start_text, &[]).map_err(|e| e.to_string())?;
    let report = run(&scn, &RunOptions { seed: Some(seed), record_trace: false, ..RunOptions::default() }).report;
    let Some(sig) = signature(&report) else {
        return Err(format!("{file} passes with seed {seed}: nothing to shrink"));
    };
    let before = size_of(&doc, &scn, &report);
    let mut s = Shrinker {
        file,
        seed,
        signature: sig,
        max_runs: opts.max_runs.max(1),
        runs: 1,
        doc,
        scn,
        size: before.clone(),
        trace_hash: report.trace_hash.clone(),
        rejected: BTreeSet::new(),
        progress,
    };
    while s.pass() && !s.exhausted() {}
    let after = s.size.clone();
    let text = format!(
        "# Shrunk by dsim shrink from {file} (seed {seed}): {before} -> {after}; fails with {}. Reproduce: dsim run <this file>\n\n{}",
        s.signature, s.doc
    );
    Ok(ShrinkResult { text, seed, signature: s.signature, before, after, runs: s.runs, trace_hash: s.trace_hash })
}

struct Shrinker<'a> {
    file: &'a str,
    seed: u64,
    signature: String,
    max_runs: usize,
    runs: usize,
    /// The current (smallest failing) scenario, its loaded form and size.
    doc: DocumentMut,
    scn: Scenario,
    size: Size,
    trace_hash: String,
    /// Candidate texts already tried and rejected.
    rejected: BTreeSet<String>,
    progress: &'a dyn Fn(&str),
}

impl Shrinker<'_> {
    fn exhausted(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// One pass of every reduction; whether any was accepted.
    fn pass(&mut self) -> bool {
        let mut accepted = false;
        for (table, key) in LISTS {
            accepted |= self.ddmin(table, key);
        }
        accepted |= self.reduce_count("clients");
        accepted |= self.reduce_count("nodes");
        accepted |= self.cap_ops();
        accepted |= self.halve("scenario", "duration_ms", self.size.duration_ms);
        accepted |= self.halve("workload", "keys", self.scn.workload.keys);
        accepted
    }

    /// Tries the edited document: keeps it if it loads and its run (same
    /// seed) fails with the same signature and, when `fewer_ops`, issues
    /// fewer operations than the current run.
    fn attempt(&mut self, candidate: DocumentMut, what: &str, fewer_ops: bool) -> bool {
        if self.exhausted() {
            return false;
        }
        let text = candidate.to_string();
        if text == self.doc.to_string() || self.rejected.contains(&text) {
            return false;
        }
        let Ok(scn) = load_str(self.file, &text, &[]) else {
            self.rejected.insert(text);
            return false;
        };
        self.runs += 1;
        let report =
            run(&scn, &RunOptions { seed: Some(self.seed), record_trace: false, ..RunOptions::default() }).report;
        let same = signature(&report).as_deref() == Some(self.signature.as_str());
        if !same || (fewer_ops && report.ops.total >= self.size.ops) {
            self.rejected.insert(text);
            return false;
        }
        self.size = size_of(&candidate, &scn, &report);
        self.doc = candidate;
        self.scn = scn;
        self.trace_hash = report.trace_hash;
        (self.progress)(&format!("{what}: {} (run {} of at most {})", self.size, self.runs, self.max_runs));
        true
    }

    /// Delta debugging over the entries of `[[table.key]]`: tries removing
    /// all of them, then chunks of ever smaller size, down to single entries.
    fn ddmin(&mut self, table: &str, key: &str) -> bool {
        let name = format!("{table}.{key}");
        let n = list_len(&self.doc, table, key);
        if n == 0 {
            return false;
        }
        let mut doc = self.doc.clone();
        remove_entries(&mut doc, table, key, 0, n);
        if self.attempt(doc, &format!("removed all {n} {name} entries"), false) {
            return true;
        }
        let mut accepted = false;
        let mut chunks = 2;
        loop {
            let n = list_len(&self.doc, table, key);
            if n == 0 || self.exhausted() {
                break;
            }
            chunks = chunks.min(n);
            let mut removed = false;
            for i in 0..chunks {
                let (lo, hi) = (i * n / chunks, (i + 1) * n / chunks);
                if lo == hi {
                    continue;
                }
                let mut doc = self.doc.clone();
                remove_entries(&mut doc, table, key, lo, hi);
                let what = if hi - lo == 1 {
                    format!("removed {name}[{lo}] (of {n})")
                } else {
                    format!("removed {name}[{lo}..{hi}] (of {n})")
                };
                if self.attempt(doc, &what, false) {
                    removed = true;
                    break;
                }
            }
            if removed {
                accepted = true;
                chunks = (chunks - 1).max(2);
            } else if chunks >= n {
                break;
            } else {
                chunks = (chunks * 2).min(n);
            }
        }
        accepted
    }

    /// Halves `cluster.{key}` (`clients` or `nodes`) while the failure
    /// stays, then decrements it.
    fn reduce_count(&mut self, key: &str) -> bool {
        let mut accepted = false;
        loop {
            let cur = if key == "clients" { self.scn.clients } else { self.scn.servers };
            if cur <= 1 {
                break;
            }
            let half = (cur / 2).max(1);
            let mut targets = vec![half];
            if cur - 1 != half {
                targets.push(cur - 1);
            }
            for to in targets {
                let mut doc = self.doc.clone();
                set_value(&mut doc, "cluster", key, Value::from(to as i64));
                if self.attempt(doc, &format!("cluster.{key} {cur} -> {to}"), false) {
                    accepted = true;
                    break;
                }
            }
            let now = if key == "clients" { self.scn.clients } else { self.scn.servers };
            if now == cur {
                break;
            }
        }
        accepted
    }

    /// Caps `workload.total_ops` at half the operations the current failing
    /// run issued (then three quarters), while the failure stays.
    fn cap_ops(&mut self) -> bool {
        let mut accepted = false;
        'outer: loop {
            let ops = self.size.ops;
            for to in [ops / 2, ops - ops / 4] {
                if to < 1 || to >= ops {
                    continue;
                }
                let mut doc = self.doc.clone();
                set_value(&mut doc, "workload", "total_ops", Value::from(to as i64));
                if self.attempt(doc, &format!("workload.total_ops = {to} (the run issued {ops})"), true) {
                    accepted = true;
                    continue 'outer;
                }
            }
            break;
        }
        accepted
    }

    /// Halves the integer `table.key` (at least 1) while the failure stays,
    /// then tries taking a quarter off.
    fn halve(&mut self, table: &str, key: &str, mut cur: u64) -> bool {
        let mut accepted = false;
        'outer: while cur > 1 {
            for to in [cur / 2, cur - cur / 4] {
                if to < 1 || to >= cur {
                    continue;
                }
                let mut doc = self.doc.clone();
                set_value(&mut doc, table, key, Value::from(to as i64));
                if self.attempt(doc, &format!("{table}.{key} {cur} -> {to}"), false) {
                    accepted = true;
                    cur = to;
                    continue 'outer;
                }
            }
            break;
        }
        accepted
    }
}

fn size_of(doc: &DocumentMut, scn: &Scenario, report: &RunReport) -> Size {
    Size {
        nodes: scn.servers,
        clients: scn.clients,
        faults: list_len(doc, "faults", "schedule") + list_len(doc, "faults", "nemesis"),
        script_ops: list_len(doc, "workload", "script"),
        ops: report.ops.total,
        duration_ms: scn.workload.stop.as_nanos() / NANOS_PER_MS,
    }
}

fn list_item<'d>(doc: &'d DocumentMut, table: &str, key: &str) -> Option<&'d Item> {
    doc.get(table)?.as_table_like()?.get(key)
}

/// Entries of `[[table.key]]` (or of an inline array `table.key = [...]`).
fn list_len(doc: &DocumentMut, table: &str, key: &str) -> usize {
    match list_item(doc, table, key) {
        Some(Item::ArrayOfTables(a)) => a.len(),
        Some(Item::Value(Value::Array(a))) => a.len(),
        _ => 0,
    }
}

/// Removes entries `lo..hi` of `[[table.key]]`, and the key itself when no
/// entry is left.
fn remove_entries(doc: &mut DocumentMut, table: &str, key: &str, lo: usize, hi: usize) {
    let Some(t) = doc.get_mut(table).and_then(Item::as_table_like_mut) else { return };
    let left = match t.get_mut(key) {
        Some(Item::ArrayOfTables(a)) => {
            (lo..hi.min(a.len())).rev().for_each(|i| {
                a.remove(i);
            });
            a.len()
        }
        Some(Item::Value(Value::Array(a))) => {
            (lo..hi.min(a.len())).rev().for_each(|i| {
                a.remove(i);
            });
            a.len()
        }
        _ => return,
    };
    if left == 0 {
        t.remove(key);
    }
}

/// Sets `table.key = value`, creating the table if needed. A replaced
/// value's trailing comment goes with it (it described the old value).
fn set_value(doc: &mut DocumentMut, table: &str, key: &str, value: Value) {
    if doc.get(table).and_then(Item::as_table_like).is_none() {
        doc.insert(table, toml_edit::table());
    }
    if let Some(t) = doc.get_mut(table).and_then(Item::as_table_like_mut) {
        t.insert(key, Item::Value(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_entries_and_sets_values() {
        let text = "[scenario]\nname = \"a\"\n\n[[faults.schedule]]\nat_ms = 1\n\n[[faults.schedule]]\nat_ms = 2\n\n[[faults.schedule]]\nat_ms = 3\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        assert_eq!(list_len(&doc, "faults", "schedule"), 3);
        remove_entries(&mut doc, "faults", "schedule", 0, 2);
        assert_eq!(list_len(&doc, "faults", "schedule"), 1);
        assert!(doc.to_string().contains("at_ms = 3"));
        remove_entries(&mut doc, "faults", "schedule", 0, 1);
        assert_eq!(list_len(&doc, "faults", "schedule"), 0);
        set_value(&mut doc, "cluster", "clients", Value::from(2));
        set_value(&mut doc, "scenario", "seed", Value::from(7));
        let v: toml::Table = toml::from_str(&doc.to_string()).unwrap();
        assert_eq!(v["cluster"]["clients"].as_integer(), Some(2));
        assert_eq!(v["scenario"]["seed"].as_integer(), Some(7));
        assert!(v.get("faults").is_none_or(|f| f.get("schedule").is_none()));
    }

    #[test]
    fn inline_arrays_count_too() {
        let mut doc: DocumentMut = "[workload]\nscript = [{ at_ms = 1 }, { at_ms = 2 }]\n".parse().unwrap();
        assert_eq!(list_len(&doc, "workload", "script"), 2);
        remove_entries(&mut doc, "workload", "script", 1, 2);
        assert_eq!(list_len(&doc, "workload", "script"), 1);
    }

    #[test]
    fn sizes_display_as_documented() {
        let s = Size { nodes: 3, clients: 2, faults: 4, script_ops: 0, ops: 120, duration_ms: 5000 };
        assert_eq!(s.to_string(), "3 nodes, 2 clients, 4 faults, 120 ops, 5000 ms");
    }
}
