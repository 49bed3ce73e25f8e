//! `dsim sweep` and `dsim merge`, through the binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dsim runs")
}

fn catalog(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv").join(name).display().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

/// A careless-directory sweep where some seeds miss an expectation: its
/// stale-read count varies by seed around this bound.
const SOME_FAIL: &str = "expect.stale_reads_min=85";

#[test]
fn a_sweep_lists_every_seed_and_exits_one_when_any_fails() {
    let out = dsim(&["sweep", &catalog("careless.toml"), "--seeds", "0..12", "--json", "--set", SOME_FAIL]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json(&out);
    let runs = doc["runs"].as_array().unwrap();
    let seeds: Vec<u64> = runs.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, (0..12).collect::<Vec<_>>(), "every seed, in order");
    let failed = runs.iter().filter(|r| r["outcome"] == "failed").count();
    assert!(failed > 0 && failed < 12, "the bound splits the seeds: {failed} failed");
    assert_eq!(doc["failed"], failed);
    assert_eq!(doc["passed"].as_u64().unwrap() as usize + failed, 12);
    for r in runs {
        assert!(r["trace_hash"].as_str().is_some_and(|h| h.len() == 16));
        if r["outcome"] == "failed" {
            assert!(r["problem"].as_str().unwrap().contains("stale_reads_min"), "{r}");
            // The repro command reproduces the failing run exactly.
            let cmd = r["command"].as_str().unwrap();
            let args: Vec<&str> = cmd.split(' ').skip(1).collect();
            let again = dsim(&[args.as_slice(), &["--json"]].concat());
            assert_eq!(again.status.code(), Some(1));
            assert_eq!(json(&again)["trace_hash"], r["trace_hash"], "{cmd}");
        }
    }
}

#[test]
fn the_result_does_not_depend_on_the_number_of_jobs() {
    let run = |jobs: &str| {
        let out = dsim(&[
            "sweep",
            &catalog("careless.toml"),
            "--seeds",
            "0..10",
            "--json",
            "--jobs",
            jobs,
            "--set",
            SOME_FAIL,
        ]);
        out.stdout
    };
    assert_eq!(run("1"), run("3"));
}

#[test]
fn merged_shards_equal_the_unsharded_sweep() {
    let dir = scratch("shards");
    let base = ["sweep", &catalog("careless.toml"), "--seeds", "0..=16", "--set", SOME_FAIL];
    let mut parts = Vec::new();
    for k in 1..=3 {
        let path = dir.join(format!("shard-{k}.json"));
        let shard = format!("{k}/3");
        let out = dsim(&[&base[..], &["--shard", &shard, "--quiet", "--out", path.to_str().unwrap()]].concat());
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
        parts.push(path.display().to_string());
    }
    let whole = dsim(&[&base[..], &["--json"]].concat());
    let merge_args: Vec<&str> = ["merge", "--json"].into_iter().chain(parts.iter().map(String::as_str)).collect();
    let merged = dsim(&merge_args);
    assert_eq!(merged.status.code(), whole.status.code());
    assert_eq!(json(&merged), json(&whole));

    // Merging a shard twice is refused: shards must be disjoint.
    let twice = dsim(&["merge", &parts[0], &parts[0]]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("appears in two parts"));
    // So is merging sweeps of different scenarios.
    let other = dir.join("other.json");
    dsim(&["sweep", &catalog("serialized.toml"), "--seeds", "100", "--quiet", "--out", other.to_str().unwrap()]);
    let mixed = dsim(&["merge", &parts[0], other.to_str().unwrap()]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("not of"));
    // And a file that is not a sweep result names its line.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\n\"scenario\": 3\n}\n").unwrap();
    let bad = dsim(&["merge", junk.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("junk.json:2"), "{}", String::from_utf8_lossy(&bad.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fail_fast_stops_starting_seeds_after_a_failure() {
    // Every seed fails this bound; with one job the sweep stops after the first.
    let out = dsim(&[
        "sweep",
        &catalog("careless.toml"),
        "--seeds",
        "0..50",
        "--json",
        "--jobs",
        "1",
        "--fail-fast",
        "--set",
        "expect.stale_reads_min=1000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    assert_eq!(doc["runs_total"], 1);
    assert_eq!(doc["skipped"], 49);
}

#[test]
fn check_determinism_runs_each_seed_twice_and_passes_a_deterministic_engine() {
    let out = dsim(&["sweep", &catalog("partition.toml"), "--seeds", "0..4", "--check-determinism", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["nondeterministic"], 0);
}

#[test]
fn bad_sweep_arguments_exit_two_and_say_why() {
    for (args, needle) in [
        (vec!["--seeds", "5..2"], "empty"),
        (vec!["--seeds", "x"], "not a seed"),
        (vec!["--seeds", "0..4", "--shard", "4/3"], "not a shard"),
        (vec!["--seeds", "0..4", "--jobs", "0"], "--jobs"),
        (vec!["--seeds", "0..4", "--set", "network.loss=7"], "--set"),
    ] {
        let file = catalog("serialized.toml");
        let out = dsim(&[&["sweep", file.as_str()][..], &args[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A scenario with swarm ranges: fault mixes differ by seed.
const SWARM: &str = r#"
[scenario]
name = "swarm"
protocol = "directory_kv"
duration_ms = 1500

[cluster]
nodes = 4
clients = 3

[network]
loss = [0.0, 0.2]

[[faults.nemesis]]
kind = "partition"
interval_ms = [300, 900]
duration_ms = [100, 400]

[params]
replication_factor = [1, 3]
request_timeout_ms = 300
"#;

#[test]
fn swarm_ranges_are_drawn_per_seed_and_pinned_in_the_reproduce_command() {
    let dir = scratch("swarm");
    let file = dir.join("swarm.toml");
    std::fs::write(&file, SWARM).unwrap();
    let f = file.to_str().unwrap();
    let doc = |seed: &str| json(&dsim(&["run", f, "--seed", seed, "--json"]));
    let (a, b) = (doc("1"), doc("2"));
    let (ca, cb) = (a["command"].as_str().unwrap(), b["command"].as_str().unwrap());
    for key in ["--set network.loss=", "'faults.nemesis[0].interval_ms=", "--set params.replication_factor="] {
        assert!(ca.contains(key), "{key} in {ca}");
    }
    assert_ne!(ca, cb, "two seeds draw different values");
    assert_eq!(doc("1")["command"], a["command"], "a seed always draws the same values");
    // Replaying the command (ranges pinned by --set) gives the same run.
    let args: Vec<String> = shell_words(ca).into_iter().skip(1).collect();
    let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
    argv.push("--json");
    assert_eq!(json(&dsim(&argv))["trace_hash"], a["trace_hash"]);
    // The text summary says what was drawn.
    let text = String::from_utf8_lossy(&dsim(&["run", f, "--seed", "1"]).stdout).to_string();
    assert!(text.starts_with("swarm      drawn for seed 1: network.loss="), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_range_that_is_invalid_at_either_end_is_an_error_at_its_key() {
    let dir = scratch("swarm-bad");
    for (bad, key, needle) in
        [("loss = [0.3, 0.1]", "network.loss", "is empty"), ("loss = [0.0, 1.5]", "network.loss", "high end")]
    {
        let file = dir.join("bad.toml");
        std::fs::write(&file, SWARM.replace("loss = [0.0, 0.2]", bad)).unwrap();
        let out = dsim(&["validate", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("bad.toml:12: key `{key}`")) && err.contains(needle), "{bad}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bundle_replays_each_failing_seed_exactly() {
    let dir = scratch("bundle");
    let file = dir.join("swarm.toml");
    std::fs::write(&file, SWARM).unwrap();
    let bundle = dir.join("bundle");
    let out = dsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--json",
        "--bundle",
        bundle.to_str().unwrap(),
        "--set",
        "expect.events_max=0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    for r in doc["runs"].as_array().unwrap() {
        let seed = r["seed"].as_u64().unwrap();
        let toml = bundle.join(format!("seed-{seed}.toml"));
        let header = std::fs::read_to_string(&toml).unwrap();
        assert!(header.contains(&format!("expected trace hash {}", r["trace_hash"].as_str().unwrap())), "{header}");
        assert!(header.contains("built by dsim 0.1.0 ("), "{header}");
        // The bundle alone replays the run: no --seed, no --set.
        let replay = json(&dsim(&["run", toml.to_str().unwrap(), "--json"]));
        assert_eq!(replay["trace_hash"], r["trace_hash"], "seed {seed}");
        assert_eq!(replay["seed"], seed);
        assert!(bundle.join(format!("seed-{seed}.json")).exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shrink_writes_a_smaller_failing_scenario() {
    let dir = scratch("shrink-cli");
    let out_file = dir.join("small.toml");
    let out = dsim(&[
        "shrink",
        &catalog("careless.toml"),
        "--set",
        "expect.stale_reads_max=0",
        "--out",
        out_file.to_str().unwrap(),
        "--max-runs",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("failing with expect:stale_reads_max"), "{report}");
    let replay = dsim(&["run", out_file.to_str().unwrap(), "--json"]);
    assert_eq!(replay.status.code(), Some(1), "the shrunk scenario still fails");
    assert!(json(&replay)["ops"]["total"].as_u64().unwrap() < 100, "and is much smaller");
    // A passing run has nothing to shrink.
    let pass = dsim(&["shrink", &catalog("serialized.toml"), "--out", out_file.to_str().unwrap()]);
    assert_eq!(pass.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pass.stdout).contains("nothing to shrink"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Splits a POSIX shell command line as `repro_command` quotes it.
fn shell_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn ctrl_c_stops_a_sweep_and_prints_the_summary_so_far() {
    // Long runs, one at a time: the sweep is still going when interrupted.
    let child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["sweep", &catalog("recursive.toml"), "--seeds", "0..10000", "--jobs", "1", "--quiet"])
        .args(["--set", "scenario.duration_ms=20000"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ran: usize = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|t| t.strip_suffix(" runs"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary: {stdout}"));
    assert!(ran < 10_000, "{stdout}");
    assert!(stdout.contains("not started"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
}
