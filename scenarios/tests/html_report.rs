//! `dsim run --out` writes report.html and the plots; the message diagram's
//! replayed trace prefix is exactly the start of the run's own trace.

use scenarios::run::trace_prefix;
use scenarios::{RunOptions, load, run};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dsim");
const PLOTS: [&str; 4] = ["latency-cdf.svg", "latency-over-time.svg", "throughput.svg", "messages.svg"];

fn catalog(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog").join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("html-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[test]
fn trace_prefix_is_the_start_of_the_full_trace() {
    let scn = load(&catalog("directory_kv/partition.toml"), &[]).expect("catalog scenario loads");
    let full = run(&scn, &RunOptions { seed: Some(3), record_trace: true, ..RunOptions::default() })
        .trace
        .expect("trace recorded");
    let prefix = trace_prefix(&scn, 3, 50);
    assert!(prefix.len() >= 100 && prefix.len() < full.len(), "{} of {}", prefix.len(), full.len());
    assert_eq!(prefix[..], full[..prefix.len()]);
}

#[test]
fn out_writes_the_page_and_the_plots_and_escapes_the_scenario_name() {
    let dir = scratch("out");
    let hostile = "<script>document.title='owned'</script>";
    let out = Command::new(BIN)
        .arg("run")
        .arg(catalog("directory_kv/partition.toml"))
        .args(["--quiet", "--out"])
        .arg(&dir)
        .args(["--set", &format!("scenario.name=\"{hostile}\"")])
        .output()
        .expect("run dsim");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in PLOTS {
        let svg = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{f}");
    }
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html written");
    for id in reports::html::SECTION_IDS {
        assert!(page.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    assert!(!page.contains(hostile) && page.contains("&lt;script&gt;document.title=&#39;owned&#39;"));
    // The partition is shaded and drawn in the message diagram's time span or the fault timeline.
    assert!(page.contains("partition"));
    let messages = std::fs::read_to_string(dir.join("messages.svg")).expect("messages.svg");
    assert!(messages.contains("Messages: the first 200 ("), "{}", &messages[..300.min(messages.len())]);
}

#[test]
fn a_stale_messages_svg_is_removed_when_the_run_has_too_many_nodes_for_it() {
    let dir = scratch("many-nodes");
    std::fs::write(dir.join("messages.svg"), "<svg>old</svg>").expect("write a stale file");
    let out = Command::new(BIN)
        .arg("run")
        .arg(catalog("chord/path-length-100.toml"))
        .args(["--quiet", "--out"])
        .arg(&dir)
        .output()
        .expect("run dsim");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("report.html").exists() && dir.join("throughput.svg").exists());
    assert!(!dir.join("messages.svg").exists());
}
