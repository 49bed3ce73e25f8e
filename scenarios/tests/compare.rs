//! Side-by-side comparisons: `dsim compare FILE...`, scenarios with
//! `[[variant]]` tables, `--variant`, and what each does with bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dsim");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("scenarios/ has a parent").to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compare-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn dsim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(root()).output().expect("run dsim")
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(o)))
}

/// A small quorum scenario with three variants; `extra` is appended.
fn variant_file(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"[scenario]
name = "t"
protocol = "quorum"
duration_ms = 500

[cluster]
nodes = 3
clients = 2

[workload]
keys = 5

[params]
n = 3

[expect]
ops_ok_min = 1

[[variant]]
name = "one"
set = ["params.r=1", "params.w=1"]

[[variant]]
name = "quorum"
set = ["params.r=2", "params.w=2"]
[variant.expect]
linearizable = true

[[variant]]
name = "all"
set = ["params.r=3", "params.w=3"]
{extra}"#
    );
    let path = dir.join("variants.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn a_scenario_with_variants_runs_each_with_the_same_seed_in_file_order() {
    let dir = scratch("order");
    let f = variant_file(&dir, "");
    let out = dsim(&["run", p(&f), "--seed", "5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc = json_of(&out);
    let rows = doc["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().map(|r| r["variant"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["one", "quorum", "all"]);
    assert!(rows.iter().all(|r| r["seed"] == 5), "{rows:?}");
    // The variants differ, so their traces do.
    let hashes: Vec<&str> = rows.iter().map(|r| r["trace_hash"].as_str().unwrap_or("")).collect();
    assert!(hashes[0] != hashes[1] && hashes[1] != hashes[2], "{hashes:?}");
    // The variant's own expectation is added to the scenario's.
    assert_eq!(rows[1]["expectations"], 2);
    assert_eq!(rows[0]["expectations"], 1);
    assert_eq!(doc["reports"].as_array().map(Vec::len), Some(3));
}

#[test]
fn each_rows_command_reproduces_its_run() {
    let dir = scratch("repro");
    let f = variant_file(&dir, "");
    let doc = json_of(&dsim(&["compare", p(&f), "--seed", "9", "--json", "--set", "workload.keys=4"]));
    for row in doc["rows"].as_array().expect("rows") {
        let command = row["command"].as_str().expect("command");
        assert!(command.contains(&format!("--variant {}", row["variant"].as_str().unwrap_or(""))), "{command}");
        assert!(command.contains("--set workload.keys=4"), "typed overrides are kept: {command}");
        assert!(!command.contains("params.r"), "a variant's own sets are implied by --variant: {command}");
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let again = json_of(&dsim(&[args.as_slice(), &["--json"]].concat()));
        assert_eq!(again["trace_hash"], row["trace_hash"], "{command}");
    }
}

#[test]
fn compare_puts_several_files_side_by_side() {
    let recursive = "scenarios/catalog/directory_kv/recursive.toml";
    let iterative = "scenarios/catalog/directory_kv/iterative.toml";
    let out = dsim(&["compare", recursive, iterative, "--seed", "3"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text.starts_with("comparison of 2 runs, seed 3\n"), "{text}");
    let header = text.lines().nth(1).unwrap_or("");
    for col in ["variant", "ops/s", "p50 ms", "p99 ms", "avail", "stale", "violations", "msgs/op"] {
        assert!(header.contains(col), "missing column {col}: {header}");
    }
    assert_eq!(text.lines().filter(|l| l.contains("directory_kv")).count(), 2, "{text}");
    // The same file twice gets distinct row labels.
    let twice = json_of(&dsim(&["compare", recursive, recursive, "--json"]));
    let labels: Vec<&str> =
        twice["rows"].as_array().expect("rows").iter().map(|r| r["variant"].as_str().unwrap_or("")).collect();
    assert_eq!(labels.len(), 2);
    assert_ne!(labels[0], labels[1]);
}

#[test]
fn a_failed_variant_expectation_fails_the_comparison_and_names_the_variant() {
    let dir = scratch("fail");
    let f = variant_file(&dir, "[variant.expect]\nops_ok_max = 0\n");
    let out = dsim(&["run", p(&f)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("all: expected ops_ok_max <= 0"), "{text}");
    assert!(text.contains("all: reproduce with dsim run"), "{text}");
}

#[test]
fn out_writes_the_table_and_every_runs_reports() {
    let dir = scratch("out");
    let f = variant_file(&dir, "");
    let out_dir = dir.join("out");
    let out = dsim(&["run", p(&f), "--out", p(&out_dir), "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("compare.json")).expect("compare.json"))
            .expect("valid JSON");
    assert_eq!(doc["rows"].as_array().map(Vec::len), Some(3));
    assert!(std::fs::read_to_string(out_dir.join("compare.txt")).expect("compare.txt").contains("quorum"));
    let page = std::fs::read_to_string(out_dir.join("compare.html")).expect("compare.html");
    for v in ["one", "quorum", "all"] {
        assert!(page.contains(&format!("<a href=\"{v}/report.html\">{v}</a>")), "row {v} links its report");
    }
    for svg in ["latency-cdf.svg", "latency-over-time.svg", "throughput.svg"] {
        let plot = std::fs::read_to_string(out_dir.join(svg)).unwrap_or_else(|e| panic!("{svg}: {e}"));
        // One series per run: every variant is in the legend.
        for v in ["one", "quorum", "all"] {
            let labelled = plot.lines().any(|l| l.trim() == v || l.trim().starts_with(&format!("{v} (")));
            assert!(labelled, "{svg} lacks the series {v}");
        }
    }
    for v in ["one", "quorum", "all"] {
        assert!(out_dir.join(v).join("report.json").is_file(), "{v}/report.json");
        assert!(out_dir.join(v).join("history.jsonl").is_file(), "{v}/history.jsonl");
    }
}

#[test]
fn a_swept_variants_bundle_holds_that_variant_alone() {
    let dir = scratch("bundle");
    let f = variant_file(&dir, "[variant.expect]\nops_ok_max = 0\n");
    let bundle = dir.join("bundle");
    let out = dsim(&["sweep", p(&f), "--variant", "all", "--seeds", "1..3", "--bundle", p(&bundle), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let saved = std::fs::read_to_string(bundle.join("seed-1.toml")).expect("bundle");
    assert!(!saved.contains("[[variant]]"), "{saved}");
    assert!(saved.contains("r = 3"), "the variant's settings are in the saved scenario:\n{saved}");
}

#[test]
fn metric_columns_come_from_compare_metrics() {
    let dir = scratch("metrics");
    let f = variant_file(&dir, "");
    let text = std::fs::read_to_string(&f).expect("read").replace(
        "duration_ms = 500\n",
        "duration_ms = 500\ncompare_metrics = [\"puts_coordinated\", \"get_latency_ms_p99\"]\n",
    );
    std::fs::write(&f, text).expect("write");
    let out = dsim(&["run", p(&f)]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let header = table.lines().nth(1).unwrap_or("");
    assert!(header.ends_with("puts_coordinated  get_latency_ms_p99"), "{table}");
    let doc = json_of(&dsim(&["run", p(&f), "--json"]));
    let m = &doc["rows"][0]["metrics"][0];
    assert_eq!(m[0], "puts_coordinated");
    assert!(m[1].as_f64().is_some_and(|v| v > 0.0), "{m}");
}

/// Runs `args`, expects exit 2 and every fragment in stderr.
fn rejects(args: &[&str], fragments: &[&str]) {
    let out = dsim(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for f in fragments {
        assert!(err.contains(f), "{args:?}: stderr lacks {f:?}:\n{err}");
    }
}

#[test]
fn bad_variants_and_bad_use_are_errors_naming_what_to_fix() {
    let dir = scratch("bad");
    let f = variant_file(&dir, "");
    let file = p(&f);
    rejects(&["run", file, "--variant", "nope"], &["no variant is called `nope`", "variants: one, quorum, all"]);
    rejects(&["sweep", file, "--seeds", "0..2"], &["say which one to use", "--variant NAME (one, quorum, all)"]);
    rejects(&["shrink", file], &["shrink works on one run", "--bundle"]);
    rejects(&["run", file, "--trace", "--out", p(&dir.join("t"))], &["--trace records one run"]);
    rejects(&["compare", file, "--jobs", "0"], &["--jobs must be at least 1"]);
    rejects(&["compare", p(&dir.join("missing.toml"))], &["cannot read the scenario"]);

    let edit = |name: &str, from: &str, to: &str| -> PathBuf {
        let text = std::fs::read_to_string(&f).expect("read").replacen(from, to, 1);
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let dup = edit("dup.toml", "name = \"all\"", "name = \"one\"");
    rejects(&["run", p(&dup)], &["dup.toml:30", "variant[2].name", "`one` names two variants"]);
    let syntax = edit("syntax.toml", "\"params.r=3\"", "\"params.r\"");
    rejects(&["run", p(&syntax)], &["syntax.toml:31", "variant[2].set[0]"]);
    let unknown_key = edit("key.toml", "\"params.r=3\"", "\"params.nonsense=3\"");
    rejects(&["run", p(&unknown_key)], &["variant `all`", "nonsense"]);
    let bad_value = edit("value.toml", "\"params.r=3\"", "\"params.r=9\"");
    rejects(&["run", p(&bad_value)], &["variant `all`"]);
    let bad_expect = edit("expect.toml", "linearizable = true", "frobs_max = 1");
    rejects(&["run", p(&bad_expect)], &["expect.toml:27", "variant[1].expect.frobs_max", "unknown metric `frobs`"]);
    let unknown_field = edit("field.toml", "name = \"one\"", "name = \"one\"\ncolour = \"red\"");
    rejects(&["run", p(&unknown_field)], &["colour"]);
    let bad_metric = edit("metric.toml", "duration_ms = 500", "duration_ms = 500\ncompare_metrics = [\"frobs\"]");
    rejects(&["run", p(&bad_metric)], &["scenario.compare_metrics[0]", "unknown metric `frobs`"]);
}
