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
