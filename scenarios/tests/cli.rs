//! The `dsim` binary, end to end: reports, determinism, reproduce commands,
//! exit codes, output files, `validate`, `list` and `--quiet`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dsim");

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_root() -> PathBuf {
    manifest_dir().parent().expect("scenarios/ has a parent").to_path_buf()
}

fn catalog(name: &str) -> PathBuf {
    manifest_dir().join("catalog").join("directory_kv").join(name)
}

/// Every catalog scenario, sorted.
fn catalog_files() -> Vec<PathBuf> {
    let files = scenarios::catalog::scenario_files(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog"));
    assert!(files.len() >= 9, "expected the 9 catalog scenarios, found {files:?}");
    files
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn dsim_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(cwd).output().expect("run dsim")
}

fn dsim(args: &[&str]) -> Output {
    dsim_in(&workspace_root(), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn describe(o: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", code(o), stdout(o), stderr(o))
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(o)))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Splits a POSIX shell command line as `run::shell_quote` writes it
/// (single quotes, `'\''`, backslash escapes, whitespace separators).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut in_single = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if in_single {
            if c == '\'' {
                in_single = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '\'' => {
                in_single = true;
                in_word = true;
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    assert!(!in_single, "unbalanced quote in {s:?}");
    if in_word {
        words.push(cur);
    }
    words
}

/// Runs a report's `command` (with `dsim` replaced by the binary) plus
/// `--json`, from `cwd`, and returns its report.
fn rerun_command(command: &str, cwd: &Path) -> Value {
    let words = shell_words(command);
    assert_eq!(words.first().map(String::as_str), Some("dsim"), "command starts with dsim: {command}");
    let out = Command::new(BIN).args(&words[1..]).arg("--json").current_dir(cwd).output().expect("run dsim");
    assert!(matches!(code(&out), Some(0 | 1)), "reproduce command failed: {command}\n{}", describe(&out));
    json_of(&out)
}

#[test]
fn run_json_has_every_report_key() {
    let file = catalog("recursive.toml");
    let out = dsim(&["run", path_str(&file), "--json"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let r = json_of(&out);
    for key in [
        "scenario",
        "seed",
        "trace_hash",
        "events",
        "sim_time_ms",
        "ops",
        "latency_ms",
        "messages",
        "nodes",
        "faults",
        "checks",
        "expectations",
        "outcome",
        "command",
    ] {
        assert!(r.get(key).is_some(), "report lacks `{key}`");
    }
    assert_eq!(r["scenario"], "directory-recursive");
    assert_eq!(r["seed"], 1);
    assert_eq!(r["outcome"], "completed");
    let hash = r["trace_hash"].as_str().expect("trace_hash is a string");
    assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "trace_hash {hash}");
    assert!(r["events"].as_u64().is_some_and(|e| e > 0));
    assert!(r["sim_time_ms"].as_f64().is_some_and(|t| t >= 5000.0), "the run lasts at least duration_ms");
    assert!(r["ops"]["total"].as_u64().is_some_and(|n| n > 0));

    let latency = r["latency_ms"].as_object().expect("latency_ms is an object");
    for kind in ["get", "put"] {
        let l = latency.get(kind).unwrap_or_else(|| panic!("latency_ms has no `{kind}`: {latency:?}"));
        for stat in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(l[stat].as_f64().is_some(), "latency_ms.{kind}.{stat} is not a number: {l}");
        }
        let (p50, p99, max) = (l["p50"].as_f64().unwrap(), l["p99"].as_f64().unwrap(), l["max"].as_f64().unwrap());
        assert!(p50 <= p99 && p99 <= max, "percentiles out of order for {kind}: {l}");
    }

    assert!(r["messages"]["sent"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(r["nodes"].as_array().map(Vec::len), Some(9), "dir + 4 storage + 4 clients");
    assert!(r["faults"].is_array());
    let checks = r["checks"].as_array().expect("checks is an array");
    assert!(!checks.is_empty());
    for c in checks {
        assert!(c["name"].is_string() && c["verdict"].is_string() && c["violations"].is_array(), "check {c}");
    }
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["linearizable", "stale_reads", "lost_writes", "convergence"], "the default checks, in order");
    let exps = r["expectations"].as_array().expect("expectations is an array");
    assert_eq!(exps.len(), 8, "recursive.toml has eight expectations");
    assert!(exps.iter().all(|e| e["met"] == true), "{exps:?}");
}

#[test]
fn same_seed_gives_identical_json_and_another_seed_another_hash() {
    let file = catalog("careless.toml");
    let a = dsim(&["run", path_str(&file), "--json"]);
    let b = dsim(&["run", path_str(&file), "--json"]);
    assert_eq!(code(&a), Some(0), "{}", describe(&a));
    assert!(a.stdout == b.stdout, "two runs of the same scenario and seed differ");

    let explicit = dsim(&["run", path_str(&file), "--json", "--seed", "1"]);
    assert!(explicit.stdout == a.stdout, "--seed 1 equals the scenario's own seed = 1");

    let c = dsim(&["run", path_str(&file), "--json", "--seed", "2"]);
    let (ra, rc) = (json_of(&a), json_of(&c));
    assert_eq!(rc["seed"], 2);
    assert_ne!(ra["trace_hash"], rc["trace_hash"], "seed 2 should give another trace");
}

#[test]
fn set_loss_changes_the_trace_and_its_command_reproduces_it() {
    let root = workspace_root();
    let file = "scenarios/catalog/directory_kv/recursive.toml";
    let base = json_of(&dsim(&["run", file, "--json"]));
    assert_eq!(base["messages"]["dropped"], 0);

    let out = dsim(&["run", file, "--json", "--set", "network.loss=0.2"]);
    assert!(matches!(code(&out), Some(0 | 1)), "{}", describe(&out));
    let lossy = json_of(&out);
    assert_ne!(base["trace_hash"], lossy["trace_hash"]);
    assert!(lossy["messages"]["dropped"].as_u64().is_some_and(|d| d > 0), "{}", lossy["messages"]);
    let command = lossy["command"].as_str().expect("command is a string");
    assert!(command.contains("--set network.loss=0.2"), "{command}");
    assert!(command.contains("--seed 1"), "{command}");

    let again = rerun_command(command, &root);
    assert_eq!(again["trace_hash"], lossy["trace_hash"], "`{command}` does not reproduce the run");
}

#[test]
fn reproduce_command_quotes_paths_and_values() {
    // A path with a space and an override whose value has spaces and quotes.
    let dir = scratch("quote dir");
    let file = dir.join("my scenario.toml");
    std::fs::copy(catalog("recursive.toml"), &file).expect("copy");
    let set = r#"network.latency_ms={ dist = "uniform", min = 0.5, max = 1.5 }"#;
    let out = dsim_in(&dir, &["run", "my scenario.toml", "--json", "--seed", "7", "--set", set]);
    assert!(matches!(code(&out), Some(0 | 1)), "{}", describe(&out));
    let r = json_of(&out);
    let command = r["command"].as_str().expect("command");
    let words = shell_words(command);
    assert_eq!(words[..5], ["dsim", "run", "my scenario.toml", "--seed", "7"], "{command}");
    assert_eq!(words[5..], ["--set", set], "{command}");
    let again = rerun_command(command, &dir);
    assert_eq!(again["trace_hash"], r["trace_hash"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_catalog_scenario_exits_zero() {
    for f in catalog_files() {
        let out = dsim(&["run", path_str(&f), "--quiet"]);
        assert_eq!(code(&out), Some(0), "{}: {}", f.display(), describe(&out));
    }
}

#[test]
fn failed_expectation_exits_one_and_says_how_to_reproduce() {
    let file = catalog("serialized.toml");
    let out = dsim(&["run", path_str(&file), "--set", "expect.stale_reads_min=1000000"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("reproduce"), "{}", describe(&out));
    assert!(stderr(&out).contains("--set expect.stale_reads_min=1000000"), "{}", describe(&out));

    // --json: still exit 1, the report says which expectation failed.
    let out = dsim(&["run", path_str(&file), "--json", "--set", "expect.stale_reads_min=1000000"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    let r = json_of(&out);
    let failed: Vec<&Value> = r["expectations"].as_array().unwrap().iter().filter(|e| e["met"] == false).collect();
    assert_eq!(failed.len(), 1, "{}", r["expectations"]);
    assert_eq!(failed[0]["key"], "stale_reads_min");

    // A scenario file of its own with an impossible expectation.
    let dir = scratch("impossible");
    let f = dir.join("impossible.toml");
    std::fs::write(
        &f,
        "[scenario]\nname = \"impossible\"\nprotocol = \"directory_kv\"\nduration_ms = 200\n\n[expect]\nops_min = 1e12\n",
    )
    .unwrap();
    let out = dsim(&["run", path_str(&f), "--quiet"]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    assert!(stdout(&out).contains("FAILED"), "{}", describe(&out));
    assert!(stderr(&out).contains("reproduce"), "{}", describe(&out));
}

#[test]
fn bad_input_and_usage_exit_two() {
    let dir = scratch("bad-input");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let head = "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\n\n";
    let malformed = write("malformed.toml", &format!("{head}[network\nloss = 0.1\n"));
    let unknown_key = write("unknown-key.toml", &format!("{head}[network]\nlos = 0.1\n"));
    let bad_value = write("bad-value.toml", &format!("{head}[network]\nloss = 1.5\n"));
    let unknown_protocol =
        write("unknown-protocol.toml", "[scenario]\nname = \"t\"\nprotocol = \"carrier-pigeon\"\nduration_ms = 100\n");
    let missing = dir.join("missing.toml").to_str().unwrap().to_string();
    let good = catalog("scripted.toml").to_str().unwrap().to_string();

    // (args, what stderr must mention)
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["run", &missing], vec!["missing.toml", "cannot read"]),
        (vec!["validate", &missing], vec!["missing.toml"]),
        (vec!["run", &malformed], vec!["malformed.toml:6"]),
        (vec!["run", &unknown_key], vec!["unknown-key.toml:7", "network.los"]),
        (vec!["validate", &unknown_key], vec!["unknown-key.toml:7", "network.los"]),
        (vec!["run", &bad_value], vec!["bad-value.toml:7", "network.loss", "probability"]),
        (vec!["run", &unknown_protocol], vec!["unknown-protocol.toml:3", "scenario.protocol", "carrier-pigeon"]),
        (vec!["frobnicate"], vec![]),
        (vec![], vec![]),
        (vec!["run"], vec![]),
        (vec!["run", &good, "--bogus"], vec!["--bogus"]),
        (vec!["run", &good, "--seed", "abc"], vec![]),
        (vec!["run", &good, "--trace"], vec!["--out"]),
        (vec!["list", "extra"], vec![]),
        (vec!["run", &good, "--set", "network.loss"], vec!["--set", "network.loss", "="]),
        (vec!["run", &good, "--set", "net work=1"], vec!["--set", "bad key"]),
        (vec!["run", &good, "--set", "network.loss=2"], vec!["--set", "network.loss"]),
        (vec!["validate", &good, "--set", "network.loss=2"], vec!["--set", "network.loss"]),
        (vec!["run", &good, "--set", "faults.schedule[0]=1"], vec!["--set"]),
    ];
    for (args, needles) in cases {
        let out = dsim(&args);
        assert_eq!(code(&out), Some(2), "dsim {args:?}: {}", describe(&out));
        let err = stderr(&out);
        for n in needles {
            assert!(err.contains(n), "dsim {args:?}: stderr lacks {n:?}\n{}", describe(&out));
        }
        assert!(!err.contains("panicked"), "dsim {args:?} panicked: {err}");
        assert!(out.stdout.is_empty() || args.is_empty(), "dsim {args:?} printed a report: {}", describe(&out));
    }
}

#[test]
fn help_and_version_exit_zero() {
    for args in [&["--help"][..], &["--version"], &["run", "--help"]] {
        let out = dsim(args);
        assert_eq!(code(&out), Some(0), "dsim {args:?}: {}", describe(&out));
        assert!(!out.stdout.is_empty());
    }
}

fn history_line_ok(line: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    for k in ["process", "type", "f", "key", "value"] {
        if v.get(k).is_none() {
            return Err(format!("no `{k}`"));
        }
    }
    let ty = v["type"].as_str().ok_or("type is not a string")?;
    if !["invoke", "ok", "fail", "info"].contains(&ty) {
        return Err(format!("type `{ty}`"));
    }
    if !["read", "write"].contains(&v["f"].as_str().unwrap_or("")) {
        return Err(format!("f = {}", v["f"]));
    }
    Ok(())
}

#[test]
fn out_dir_holds_reports_history_and_trace() {
    let dir = scratch("out");
    let file = catalog("scripted.toml");

    let plain = dir.join("plain");
    let out = dsim(&["run", path_str(&file), "--out", path_str(&plain), "--quiet"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let mut names: Vec<String> =
        std::fs::read_dir(&plain).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    // The page and its plots (see tests/html_report.rs) sit beside the reports.
    let page = [
        "latency-cdf.svg",
        "latency-over-time.svg",
        "messages.svg",
        "report.html",
        "report.json",
        "report.txt",
        "throughput.svg",
    ];
    assert_eq!(names, [&["history.edn", "history.jsonl"][..], &page[..]].concat());

    let traced = dir.join("nested").join("traced");
    let out = dsim(&["run", path_str(&file), "--out", path_str(&traced), "--trace", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let stdout_report = json_of(&out);
    let mut names: Vec<String> =
        std::fs::read_dir(&traced).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, [&["history.edn", "history.jsonl"][..], &page[..], &["trace.jsonl"][..]].concat());
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // report.json is the report printed with --json; the trace changes nothing.
    let file_report: Value = serde_json::from_slice(&std::fs::read(traced.join("report.json")).unwrap()).unwrap();
    assert_eq!(file_report, stdout_report);
    let untraced: Value = serde_json::from_slice(&std::fs::read(plain.join("report.json")).unwrap()).unwrap();
    assert_eq!(untraced["trace_hash"], file_report["trace_hash"], "recording the trace changed the run");

    let txt = std::fs::read_to_string(traced.join("report.txt")).unwrap();
    assert!(txt.contains(file_report["trace_hash"].as_str().unwrap()), "report.txt names the trace hash");

    // history.jsonl: every line valid; every operation invoked once and completed once.
    let history = std::fs::read_to_string(traced.join("history.jsonl")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert!(!lines.is_empty());
    for (i, l) in lines.iter().enumerate() {
        if let Err(e) = history_line_ok(l) {
            panic!("history.jsonl line {}: {e}: {l}", i + 1);
        }
    }
    let invokes = lines.iter().filter(|l| l.contains("\"type\":\"invoke\"")).count();
    assert_eq!(invokes, 7, "scripted.toml runs seven operations");
    assert_eq!(lines.len(), 2 * invokes);

    // Both history files read back as the same operations.
    let from_jsonl = reports::history_io::parse_jsonl(&history).expect("history.jsonl parses");
    let edn = std::fs::read_to_string(traced.join("history.edn")).unwrap();
    let from_edn = reports::history_io::parse_edn(&edn).expect("history.edn parses");
    assert_eq!(from_jsonl.ops.len(), 7);
    assert_eq!(from_edn.ops.len(), 7);
    let calls =
        |h: &reports::ops::CheckHistory| h.ops.iter().map(|o| (o.call.clone(), o.ret.clone())).collect::<Vec<_>>();
    assert_eq!(calls(&from_jsonl), calls(&from_edn));

    let trace = std::fs::read_to_string(traced.join("trace.jsonl")).unwrap();
    assert!(trace.lines().count() > 10);
    for (i, l) in trace.lines().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("trace.jsonl line {}: {e}: {l}", i + 1));
        assert!(v.get("time_ns").is_some() && v.get("kind").is_some(), "trace.jsonl line {}: {l}", i + 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_dir_that_is_a_file_is_an_error() {
    let dir = scratch("out-file");
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let out = dsim(&["run", path_str(&catalog("scripted.toml")), "--out", path_str(&blocker), "--quiet"]);
    assert_eq!(code(&out), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", describe(&out));
}

#[test]
fn validate_accepts_every_catalog_file() {
    for f in catalog_files() {
        let out = dsim(&["validate", path_str(&f)]);
        assert_eq!(code(&out), Some(0), "{}: {}", f.display(), describe(&out));
        assert!(stdout(&out).starts_with("ok: "), "{}", describe(&out));
    }
}

#[test]
fn list_shows_protocols_parameters_and_catalog() {
    // From the checkout and from elsewhere (the binary then falls back to its own catalog).
    let elsewhere = scratch("list");
    for cwd in [workspace_root(), elsewhere] {
        let out = dsim_in(&cwd, &["list"]);
        assert_eq!(code(&out), Some(0), "{}", describe(&out));
        let s = stdout(&out);
        for needle in [
            "directory_kv",
            "replication_factor",
            "query",
            "recursive.toml",
            "iterative.toml",
            "large-values.toml",
            "scripted.toml",
        ] {
            assert!(s.contains(needle), "`dsim list` in {} lacks {needle:?}:\n{s}", cwd.display());
        }
        assert!(!s.contains("(invalid"), "a catalog file is listed as invalid:\n{s}");
    }
}

#[test]
fn quiet_prints_one_outcome_line() {
    for name in ["recursive.toml", "careless.toml"] {
        let out = dsim(&["run", path_str(&catalog(name)), "--quiet"]);
        assert_eq!(code(&out), Some(0), "{}", describe(&out));
        let s = stdout(&out);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 1, "{}", describe(&out));
        assert!(lines[0].contains("outcome") && lines[0].contains("trace"), "{}", lines[0]);
        assert!(!lines[0].contains("FAILED"));
    }
}

// ---------------------------------------------------------------------------
// Bugs: values the loader accepts crash the run (exit 101 instead of 2).

fn run_temp(name: &str, body: &str) -> Output {
    let dir = scratch(name);
    let f = dir.join(format!("{name}.toml"));
    std::fs::write(&f, format!("[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 200\n\n{body}"))
        .unwrap();
    dsim(&["run", path_str(&f), "--quiet"])
}

fn assert_no_panic(o: &Output) {
    assert!(matches!(code(o), Some(0..=2)), "{}", describe(o));
    assert!(!stderr(o).contains("panicked"), "{}", describe(o));
}

#[test]
fn huge_drain_ms_is_rejected_not_a_panic() {
    let dir = scratch("huge-drain");
    let f = dir.join("d.toml");
    std::fs::write(
        &f,
        "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 200\ndrain_ms = 100000000000000\n",
    )
    .unwrap();
    let out = dsim(&["validate", path_str(&f)]);
    assert_eq!(code(&out), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("scenario.drain_ms"), "{}", describe(&out));
}

#[test]
fn huge_value_size_does_not_crash() {
    assert_no_panic(&run_temp("huge-value", "[workload]\nvalue_size_bytes = 1e30\n"));
}

#[test]
fn huge_jitter_does_not_crash() {
    assert_no_panic(&run_temp("huge-jitter", "[network]\njitter_ms = 1e300\n"));
}

#[test]
fn huge_protocol_timeouts_do_not_crash() {
    assert_no_panic(&run_temp(
        "huge-params",
        "[params]\nrequest_timeout_ms = 9223372036854775807\nlease_ms = 9223372036854775807\n\
         failure_timeout_ms = 9223372036854775807\nheartbeat_interval_ms = 9223372036854775806\n",
    ));
}

/// Runs a catalog scenario with `--out` and returns the output directory.
fn run_to_dir(name: &str, scenario: &str) -> PathBuf {
    let dir = scratch(name);
    let out = dsim(&["run", path_str(&catalog(scenario)), "--out", path_str(&dir), "--quiet"]);
    assert!(code(&out).is_some_and(|c| c <= 1), "{}", describe(&out));
    dir
}

#[test]
fn check_rechecks_a_runs_history_in_both_formats() {
    let bad = run_to_dir("check-bad", "scripted.toml");
    for file in ["history.jsonl", "history.edn"] {
        let out = dsim(&["check", path_str(&bad.join(file)), "--model", "kv"]);
        assert_eq!(code(&out), Some(1), "{file}: {}", describe(&out));
        assert!(stdout(&out).contains("linearizable fail"), "{}", describe(&out));
        assert!(stdout(&out).contains("cannot be ordered"), "the counterexample is printed: {}", describe(&out));
        let out = dsim(&["check", path_str(&bad.join(file)), "--model", "kv", "--consistency", "sequential"]);
        assert_eq!(code(&out), Some(1), "c3 reads v1 after v2: not even sequential; {}", describe(&out));
    }
    let good = run_to_dir("check-good", "serialized.toml");
    let out = dsim(&["check", path_str(&good.join("history.edn")), "--model", "kv", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("--json prints JSON");
    assert_eq!(v["check"]["verdict"], "pass");
    assert_eq!(v["format"], "edn");
    assert!(v["ops"].as_u64().unwrap() > 100);
    let _ = std::fs::remove_dir_all(&bad);
    let _ = std::fs::remove_dir_all(&good);
}

#[test]
fn check_rejects_bad_histories_with_their_line() {
    let dir = scratch("check-input");
    let cases: [(&str, &str, &[&str], &str); 5] = [
        ("malformed.jsonl", "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{oops\n", &[], ":2"),
        // An op id is not a line: the cas with op id 77 is on line 2.
        (
            "cas-op-id.jsonl",
            "{\"op\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
             {\"op\":77,\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2]}\n\
             {\"op\":77,\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"value\":[1,2]}\n",
            &["--model", "register"],
            "cas-op-id.jsonl:2: the register model has no `cas` operation\n  hint: use --model cas-register or kv",
        ),
        ("orphan.jsonl", "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n", &[], ":1"),
        (
            "cas.edn",
            "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 0, :type :ok, :f :cas, :value [1 2]}\n",
            &["--model", "register"],
            "cas-register",
        ),
        ("missing.jsonl", "", &["--format", "edn"], "cannot read"),
    ];
    for (name, text, extra, needle) in cases {
        let path = dir.join(name);
        if name != "missing.jsonl" {
            std::fs::write(&path, text).unwrap();
        }
        let mut args = vec!["check", path_str(&path)];
        if !extra.contains(&"--model") {
            args.extend(["--model", "kv"]);
        }
        args.extend(extra.iter().copied());
        let out = dsim(&args);
        assert_eq!(code(&out), Some(2), "{name}: {}", describe(&out));
        assert!(stderr(&out).contains(needle), "{name}: want `{needle}` in {}", describe(&out));
    }
    let out = dsim(&["check", path_str(&dir.join("x")), "--model", "queue"]);
    assert_eq!(code(&out), Some(2), "an unknown model is a usage error: {}", describe(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_says_unknown_when_the_budget_runs_out() {
    // Forty concurrent writes of distinct values, then a read of a value
    // none of them wrote: proving that impossible means searching subsets
    // of the writes, and a 1-byte memory budget stops the search.
    let dir = scratch("check-budget");
    let mut lines = Vec::new();
    for p in 0..40 {
        lines.push(format!("{{\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"value\":{}}}", p + 1));
    }
    for p in 0..40 {
        lines.push(format!("{{\"process\":{p},\"type\":\"ok\",\"f\":\"write\",\"value\":{}}}", p + 1));
    }
    lines.push("{\"process\":99,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}".into());
    lines.push("{\"process\":99,\"type\":\"ok\",\"f\":\"read\",\"value\":1000}".into());
    let path = dir.join("wide.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = dsim(&["check", path_str(&path), "--model", "register", "--memory-budget-bytes", "1"]);
    assert_eq!(code(&out), Some(3), "{}", describe(&out));
    assert!(stdout(&out).contains("unknown"), "{}", describe(&out));
    assert!(stdout(&out).contains("budget"), "the reason is printed: {}", describe(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_text_summary_shows_a_protocols_state_table() {
    let file = manifest_dir().join("catalog/chord/classroom-m3.toml");
    let out = dsim(&["run", path_str(&file)]);
    assert_eq!(code(&out), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let table: Vec<&str> = text.lines().skip_while(|l| *l != "protocol state").take(6).collect();
    // The Chord paper's Figure 3: node 0's fingers point at 1, 3 and 0.
    assert!(table.iter().any(|l| l.contains("n1") && l.contains("0:n2 1:n3 2:n1")), "{table:?}");
}

#[test]
fn cluster_nodes_defaults_per_protocol() {
    let dir = scratch("default-nodes");
    let write = |name: &str, protocol: &str| -> PathBuf {
        let p = dir.join(name);
        let text = format!("[scenario]\nname = \"t\"\nprotocol = \"{protocol}\"\nduration_ms = 100\n");
        std::fs::write(&p, text).expect("write scenario");
        p
    };
    // One file server unless the file says otherwise; three servers elsewhere.
    let files = scenarios::load(&write("fs.toml", "file_caching"), &[]).expect("file_caching loads");
    assert_eq!(files.servers, 1);
    assert!(files.names.contains(&"fs".to_string()), "{:?}", files.names);
    let quorum = scenarios::load(&write("q.toml", "quorum"), &[]).expect("quorum loads");
    assert_eq!(quorum.servers, 3);
    let out = dsim(&["validate", path_str(&write("fs2.toml", "file_caching")), "--set", "cluster.nodes=2"]);
    assert_eq!(code(&out), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("cluster.nodes"), "{}", describe(&out));
}
