//! report.html in a real browser: headless Chromium loads the page written
//! by `dsim run --out`, and the DOM it ends with must have every main
//! section and the page script's verdict of no script errors, and
//! Chromium's console log must show no error (an uncaught exception, or a
//! fetch the page's Content-Security-Policy refused).
//!
//! Without a Chromium on PATH the test fails and says how to install one,
//! unless `DSIM_SKIP_BROWSER_TEST=1` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dsim");
const BROWSERS: [&str; 5] = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"];
/// How long the browser may take to load and dump the page: polls of
/// `POLL` (counted, not timed: the workspace bans reading the clock).
const POLL: Duration = Duration::from_millis(100);
const MAX_POLLS: u32 = 1200;

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the browser on `page` and returns (DOM, stderr), killing it past the timeout.
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> (String, String) {
    let out_file = profile.with_extension("dom.html");
    let err_file = profile.with_extension("stderr.txt");
    let mut child = Command::new(browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions"])
        .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).expect("create dom file"))
        .stderr(std::fs::File::create(&err_file).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let mut polls = 0;
    while child.try_wait().expect("wait for the browser").is_none() {
        polls += 1;
        if polls > MAX_POLLS {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within {:?}", browser.display(), POLL * MAX_POLLS);
        }
        std::thread::sleep(POLL);
    }
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&out_file), read(&err_file))
}

/// The browser to test with; `None` when the test is to be skipped. Without
/// a browser (and without the skip) the test fails saying how to get one.
fn browser_or_skip() -> Option<PathBuf> {
    if std::env::var("DSIM_SKIP_BROWSER_TEST").as_deref() == Ok("1") {
        eprintln!("DSIM_SKIP_BROWSER_TEST=1: the browser test is skipped");
        return None;
    }
    let Some(browser) = find_browser() else {
        panic!(
            "no Chromium on PATH (looked for {}). Install it with `apt-get install -y chromium` \
             (Debian; on Ubuntu the chromium-browser package is a snap stub: install Google Chrome or use a \
             Debian image), or set DSIM_SKIP_BROWSER_TEST=1 to skip this test",
            BROWSERS.join(", ")
        )
    };
    Some(browser)
}

/// Console lines that show a script error or a refused fetch.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to")).collect()
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else { return };
    let dir = scratch("partition");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv/partition.toml");
    let hostile = "<img src=x onerror=document.title=1><script>document.title=2</script>";
    let run = Command::new(BIN)
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--out"])
        .arg(&dir)
        .args(["--set", &format!("scenario.name=\"{hostile}\"")])
        .output()
        .expect("run dsim");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let page = dir.join("report.html").canonicalize().expect("report.html written");
    let (dom, stderr) = dump_dom(&browser, &page, &dir.join("profile"));
    assert!(dom.contains("<html"), "no DOM from {}; its stderr:\n{stderr}", browser.display());
    for id in reports::html::SECTION_IDS {
        assert!(dom.contains(&format!("id=\"{id}\"")), "section {id} missing from the rendered page");
    }
    assert!(dom.contains("data-errors=\"0\""), "the page script reported errors or did not run:\n{dom}");
    assert!(dom.contains("<svg"), "no inline SVG in the rendered page");
    assert!(dom.contains("<title>dsim: &lt;img src=x"), "the hostile scenario name is not shown escaped");
    let errors = console_errors(&stderr);
    assert!(errors.is_empty(), "the browser logged console errors:\n{}", errors.join("\n"));
}

#[test]
fn compare_html_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else { return };
    let dir = scratch("compare");
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/nrw-table/nrw.toml");
    let run = Command::new(BIN).arg("run").arg(&lab).args(["--quiet", "--out"]).arg(&dir).output().expect("run dsim");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let page = dir.join("compare.html").canonicalize().expect("compare.html written");
    let (dom, stderr) = dump_dom(&browser, &page, &dir.join("profile"));
    assert!(dom.contains("<html"), "no DOM from {}; its stderr:\n{stderr}", browser.display());
    for id in reports::html::COMPARE_SECTION_IDS {
        assert!(dom.contains(&format!("id=\"{id}\"")), "section {id} missing from the rendered page");
    }
    for v in ["3-1-1", "3-2-2", "3-3-3"] {
        assert!(dom.contains(&format!("href=\"{v}/report.html\"")), "row {v} does not link its report");
    }
    assert!(dom.contains("data-errors=\"0\""), "the page script reported errors or did not run:\n{dom}");
    let errors = console_errors(&stderr);
    assert!(errors.is_empty(), "the browser logged console errors:\n{}", errors.join("\n"));
}
