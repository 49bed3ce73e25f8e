//! Side-by-side comparison: several scenarios, or the `[[variant]]`s of
//! one, run with the same seed and summarised in one table (a row per
//! variant). Each run is an ordinary run: the same workload and fault
//! schedule draw the same random numbers wherever the variants agree, so
//! differences in the table come from what the variants change.

use crate::error::InputError;
use crate::load::Scenario;
use crate::run::{RunOptions, RunOutput, run, write_atomic, write_outputs};
use indicatif::ProgressBar;
use reports::html::{CompareRow, render_compare_html};
use reports::plot::{Plot, compare_plots};
use reports::{RunReport, Verdict};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One row of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The variant's name, or the scenario's name.
    pub variant: String,
    pub file: String,
    pub protocol: String,
    pub seed: u64,
    pub trace_hash: String,
    pub outcome: &'static str,
    /// Whether the run met its expectations (or completed, without any).
    pub passed: bool,
    pub ops: u64,
    pub ops_ok: u64,
    /// ok / all operations.
    pub availability: f64,
    pub throughput_ops_per_s: f64,
    /// Latency of ok operations of every kind.
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    /// Reads the stale-read check flagged, if it ran.
    pub stale_reads: Option<u64>,
    /// Violations of every failed check together.
    pub violations: u64,
    /// Names of the checks that failed.
    pub failed_checks: Vec<String>,
    pub messages_per_op: f64,
    pub expectations_met: usize,
    pub expectations: usize,
    /// The scenarios' `compare_metrics`: (name, value if the run has it).
    pub metrics: Vec<(String, Option<f64>)>,
    /// One command that reproduces this row's run.
    pub command: String,
}

impl Row {
    pub fn of(label: &str, r: &RunReport, metrics: &[String]) -> Row {
        let all = r.latency_ms.get("all");
        let failed: Vec<&reports::CheckResult> = r.checks.iter().filter(|c| c.verdict == Verdict::Fail).collect();
        Row {
            variant: label.to_string(),
            file: r.file.clone(),
            protocol: r.protocol.clone(),
            seed: r.seed,
            trace_hash: r.trace_hash.clone(),
            outcome: r.outcome,
            passed: r.passed(),
            ops: r.ops.total,
            ops_ok: r.ops.ok,
            availability: if r.ops.total == 0 { 0.0 } else { r.ops.ok as f64 / r.ops.total as f64 },
            throughput_ops_per_s: r.throughput_ops_per_s,
            latency_ms_p50: all.map_or(0.0, |l| l.p50),
            latency_ms_p99: all.map_or(0.0, |l| l.p99),
            stale_reads: r.check("stale_reads").map(|c| c.violation_count),
            violations: failed.iter().map(|c| c.violation_count).sum(),
            failed_checks: failed.iter().map(|c| c.name.to_string()).collect(),
            messages_per_op: r.messages.per_ok_op,
            expectations_met: r.expectations.iter().filter(|e| e.met).count(),
            expectations: r.expectations.len(),
            metrics: metrics.iter().map(|m| (m.clone(), crate::expect::metric(r, m))).collect(),
            command: r.command.clone(),
        }
    }
}

/// What `dsim compare` prints with `--json` and writes as compare.json.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub rows: Vec<Row>,
    /// Every run's full report, in row order.
    pub reports: Vec<RunReport>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed)
    }
}

/// The runs of a comparison: every file's variants (a file without
/// variants is one run), in order. Labels are made unique by appending the
/// file's position when two runs would share one.
pub fn expand(files: &[PathBuf], sets: &[String]) -> Result<Vec<Scenario>, InputError> {
    let mut out: Vec<Scenario> = Vec::new();
    for f in files {
        let base = crate::load(f, sets)?;
        out.extend(base.variants()?);
    }
    Ok(out)
}

/// Labels for the rows: each run's label, with its position appended where
/// two runs would otherwise share one (the same file given twice).
pub fn labels(scns: &[Scenario]) -> Vec<String> {
    let plain: Vec<String> = scns.iter().map(Scenario::label).collect();
    plain
        .iter()
        .enumerate()
        .map(|(i, l)| if plain.iter().filter(|m| *m == l).count() > 1 { format!("{l} #{}", i + 1) } else { l.clone() })
        .collect()
}

/// Runs every scenario with `seed` (each its own seed when `None`) on up to
/// `jobs` threads; outputs come back in the order given.
pub fn run_all(scns: &[Scenario], seed: Option<u64>, jobs: usize, progress: &ProgressBar) -> Vec<RunOutput> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<RunOutput>>> = Mutex::new((0..scns.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, scns.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(scn) = scns.get(i) else { break };
                    let out = run(scn, &RunOptions { seed, record_trace: false, ..RunOptions::default() });
                    done.lock().expect("a comparison run panicked")[i] = Some(out);
                    progress.inc(1);
                }
            });
        }
    });
    done.into_inner().expect("a comparison run panicked").into_iter().map(|o| o.expect("every run ran")).collect()
}

/// The extra columns of a comparison: every run's `compare_metrics`, each once.
pub fn metric_columns(scns: &[Scenario]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in scns.iter().flat_map(|s| &s.compare_metrics) {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// The comparison of finished runs, with `metrics` as extra columns.
pub fn compare(labels: &[String], outputs: &[RunOutput], metrics: &[String]) -> Comparison {
    Comparison {
        rows: labels.iter().zip(outputs).map(|(l, o)| Row::of(l, &o.report, metrics)).collect(),
        reports: outputs.iter().map(|o| o.report.clone()).collect(),
    }
}

fn fixed(v: f64, places: usize) -> String {
    format!("{v:.places$}")
}

/// The table of a comparison: the header and each row's cells, as the
/// text table and the HTML page show them.
pub fn table(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        "variant",
        "protocol",
        "outcome",
        "ops",
        "avail",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "stale",
        "violations",
        "msgs/op",
        "expect",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    header.extend(
        c.rows.first().map(|r| r.metrics.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>()).unwrap_or_default(),
    );
    let rows =
        c.rows
            .iter()
            .map(|r| {
                vec![
                    r.variant.clone(),
                    r.protocol.clone(),
                    format!("{}{}", r.outcome, if r.passed { "" } else { " FAILED" }),
                    r.ops.to_string(),
                    fixed(r.availability, 3),
                    fixed(r.throughput_ops_per_s, 1),
                    fixed(r.latency_ms_p50, 2),
                    fixed(r.latency_ms_p99, 2),
                    r.stale_reads.map_or("-".into(), |s| s.to_string()),
                    if r.failed_checks.is_empty() {
                        "0".into()
                    } else {
                        format!("{} ({})", r.violations, r.failed_checks.join(","))
                    },
                    fixed(r.messages_per_op, 2),
                    if r.expectations == 0 { "-".into() } else { format!("{}/{}", r.expectations_met, r.expectations) },
                ]
                .into_iter()
                .chain(r.metrics.iter().map(|(_, v)| {
                    v.map_or("-".into(), |v| if v.fract() == 0.0 { format!("{v}") } else { fixed(v, 3) })
                }))
                .collect()
            })
            .collect();
    (header, rows)
}

/// The comparison as a text table, then each failed run's reproduce command.
pub fn render_text(c: &Comparison) -> String {
    let (header, rows) = table(c);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            // Names left, numbers right, as tables of numbers read best.
            .map(|(i, c)| if i < 3 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = String::new();
    if let Some(first) = c.rows.first() {
        out.push_str(&format!("comparison of {} runs, seed {}\n", c.rows.len(), first.seed));
    }
    out.push_str(&line(&header));
    for r in &rows {
        out.push_str(&line(r));
    }
    for (r, rep) in c.rows.iter().zip(&c.reports) {
        for e in rep.expectations.iter().filter(|e| !e.met) {
            out.push_str(&format!("{}: expected {} {}, got {}\n", r.variant, e.key, e.expected, e.actual));
        }
        if !r.passed {
            out.push_str(&format!("{}: reproduce with {}\n", r.variant, r.command));
        }
    }
    out
}

/// The comparison's page: the table, each row linking to its run's
/// report.html in `slug(label)/`, and the overlaid plots.
pub fn render_html(c: &Comparison, labels: &[String], outputs: &[RunOutput]) -> (String, Vec<Plot>) {
    let (header, cells) = table(c);
    let rows: Vec<CompareRow> = cells
        .into_iter()
        .zip(&c.rows)
        .zip(labels)
        .map(|((cells, r), l)| CompareRow { cells, passed: r.passed, link: Some(format!("{}/report.html", slug(l))) })
        .collect();
    let runs: Vec<(&str, &RunReport, &[reports::plot::OpSpan])> =
        labels.iter().zip(outputs).map(|(l, o)| (l.as_str(), &o.report, o.ops.as_slice())).collect();
    let plots = compare_plots(&runs);
    let title = match c.rows.first() {
        Some(r) => format!("comparison of {} runs, seed {}", c.rows.len(), r.seed),
        None => "empty comparison".into(),
    };
    (render_compare_html(&title, &header, &rows, &plots), plots)
}

/// A file-system-friendly name for a row's output directory.
pub fn slug(label: &str) -> String {
    let s: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "run".into() } else { s }
}

/// Writes compare.json, compare.txt, compare.html with its overlaid plots,
/// and each run's outputs in a subdirectory named after its row.
pub fn write(dir: &Path, c: &Comparison, labels: &[String], outputs: &[RunOutput]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(c).map_err(std::io::Error::other)?;
    let (page, plots) = render_html(c, labels, outputs);
    let mut files = vec![
        ("compare.json".to_string(), format!("{json}\n")),
        ("compare.txt".to_string(), render_text(c)),
        ("compare.html".to_string(), page),
    ];
    files.extend(plots.into_iter().map(|p| (p.file.to_string(), p.svg)));
    for (name, data) in files {
        let p = dir.join(&name);
        write_atomic(&p, data.as_bytes())?;
        written.push(p);
    }
    for (label, out) in labels.iter().zip(outputs) {
        written.extend(write_outputs(&dir.join(slug(label)), out)?);
    }
    Ok(written)
}
