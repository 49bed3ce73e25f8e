//! `report.html`: one self-contained page per run, readable offline.
//!
//! Everything is inline: the CSS, the SVG plots and one small script that
//! only records script errors on the page (so a headless browser test can
//! tell that the page ran cleanly). A Content-Security-Policy forbids every
//! fetch, so a page that tried to load anything from the network would
//! fail visibly instead of silently depending on it. Every string that
//! comes from a scenario or a run (names, descriptions, keys, messages) is
//! HTML-escaped.

use crate::check::Verdict;
use crate::plot::{OpSpan, Plot, escape, fault_timeline_svg, fault_windows, ops_timeline_svg};
use crate::report::RunReport;
use std::fmt::Write;

/// The ids of the page's main sections, in order.
pub const SECTION_IDS: [&str; 7] = ["run", "summary", "expectations", "checks", "plots", "faults", "protocol"];

/// At most this many operations are drawn around a violation.
const MAX_TIMELINE_OPS: usize = 40;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1000px; padding: 0 16px 40px; color: #222; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: bold; }
.pass, .met, .completed { background: #d4f4d2; color: #185c14; }
.fail, .failed, .violation { background: #fbd5d5; color: #8a1313; }
.unknown, .limit { background: #fdebc8; color: #7a4d00; }
tr.failed td { background: #fde8e8; } tr.met td { background: #f1fbf0; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
figure { margin: 16px 0; overflow-x: auto; } figcaption { color: #555; font-size: 90%; }
.violation-item { margin: 12px 0 20px; } .warning { color: #8a5300; }
svg .bar:hover rect { stroke: #000; stroke-width: 2; }
";

fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", escape(class), escape(text))
}

fn row(cells: &[String]) -> String {
    let mut s = String::from("<tr>");
    for c in cells {
        s.push_str(&format!("<td>{c}</td>"));
    }
    s.push_str("</tr>");
    s
}

fn num(x: impl std::fmt::Display) -> String {
    format!("<td class=\"num\">{x}</td>")
}

fn header(w: &mut String, r: &RunReport) {
    let passed = r.passed();
    let _ = write!(
        w,
        "<header id=\"run\"><h1>{}</h1><table>\
         <tr><th>protocol</th><td>{}</td></tr><tr><th>file</th><td>{}</td></tr>\
         <tr><th>seed</th><td>{}</td></tr><tr><th>trace hash</th><td><code>{}</code></td></tr>\
         <tr><th>simulated</th><td>{:.3} ms, {} events, ended: {}</td></tr>\
         <tr><th>outcome</th><td>{} {}</td></tr></table>\
         <p>Reproduce with:</p><pre><code>{}</code></pre>",
        escape(&r.scenario),
        escape(&r.protocol),
        escape(&r.file),
        r.seed,
        escape(&r.trace_hash),
        r.sim_time_ms,
        r.events,
        escape(r.end_reason.describe()),
        badge(r.outcome, r.outcome),
        if passed { badge("pass", "passed") } else { badge("fail", "FAILED") },
        escape(&r.command)
    );
    for warning in &r.warnings {
        let _ = write!(w, "<p class=\"warning\">warning: {}</p>", escape(warning));
    }
    w.push_str("</header>");
}

fn summary(w: &mut String, r: &RunReport) {
    let o = &r.ops;
    let _ = write!(
        w,
        "<section id=\"summary\"><h2>Summary</h2><p>{} operations: {} ok, {} fail, {} unknown; {:.1} ok operations per second.</p>",
        o.total, o.ok, o.fail, o.unknown, r.throughput_ops_per_s
    );
    if !r.latency_ms.is_empty() {
        w.push_str(
            "<table><tr><th>op</th><th class=\"num\">ok</th><th class=\"num\">p50 ms</th><th class=\"num\">p90 ms</th>\
             <th class=\"num\">p99 ms</th><th class=\"num\">p99.9 ms</th><th class=\"num\">max ms</th><th class=\"num\">mean ms</th></tr>",
        );
        for (kind, l) in &r.latency_ms {
            let _ = write!(
                w,
                "<tr><td>{}</td>{}{}{}{}{}{}{}</tr>",
                escape(kind),
                num(l.count),
                num(format!("{:.3}", l.p50)),
                num(format!("{:.3}", l.p90)),
                num(format!("{:.3}", l.p99)),
                num(format!("{:.3}", l.p999)),
                num(format!("{:.3}", l.max)),
                num(format!("{:.3}", l.mean))
            );
        }
        w.push_str("</table>");
    }
    let m = &r.messages;
    let _ = write!(
        w,
        "<h3>Messages</h3><p>{} sent ({} bytes), {} delivered, {} dropped, {} duplicated; {:.2} per ok operation.</p>",
        m.sent, m.sent_bytes, m.delivered, m.dropped, m.duplicated, m.per_ok_op
    );
    if !m.by_type.is_empty() {
        w.push_str(
            "<table><tr><th>type</th><th class=\"num\">sent</th><th class=\"num\">bytes</th>\
             <th class=\"num\">delivered</th><th class=\"num\">dropped</th></tr>",
        );
        for (kind, k) in &m.by_type {
            let _ = write!(
                w,
                "<tr><td>{}</td>{}{}{}{}</tr>",
                escape(kind),
                num(k.sent),
                num(k.sent_bytes),
                num(k.delivered),
                num(k.dropped())
            );
        }
        w.push_str("</table>");
    }
    w.push_str(
        "<h3>Nodes</h3><table><tr><th>node</th><th>role</th><th>status</th><th class=\"num\">msgs out</th>\
         <th class=\"num\">msgs in</th><th class=\"num\">crashes</th></tr>",
    );
    for n in &r.nodes {
        let status = serde_json::to_value(n.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let _ = write!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}{}{}</tr>",
            escape(&n.name),
            escape(&n.role),
            escape(&status),
            num(n.load.msgs_sent),
            num(n.load.msgs_received),
            num(n.load.crashes)
        );
    }
    w.push_str("</table></section>");
}

fn expectations(w: &mut String, r: &RunReport) {
    w.push_str("<section id=\"expectations\"><h2>Expectations</h2>");
    if r.expectations.is_empty() {
        w.push_str("<p>The scenario states no <code>[expect]</code>; the run is judged by its outcome.</p>");
    } else {
        let met = r.expectations.iter().filter(|e| e.met).count();
        let _ = write!(
            w,
            "<p>{met} of {} met.</p><table><tr><th></th><th>key</th><th>expected</th><th>actual</th></tr>",
            r.expectations.len()
        );
        for e in &r.expectations {
            let (class, text) = if e.met { ("met", "met") } else { ("failed", "NOT MET") };
            let _ = write!(
                w,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                badge(class, text),
                escape(&e.key),
                escape(&e.expected),
                escape(&e.actual)
            );
        }
        w.push_str("</table>");
    }
    w.push_str("</section>");
}

fn checks(w: &mut String, r: &RunReport, spans: &[OpSpan]) {
    w.push_str("<section id=\"checks\"><h2>Checks</h2>");
    if r.checks.is_empty() {
        w.push_str("<p>No checks ran.</p>");
    }
    for c in &r.checks {
        let verdict = c.verdict.name();
        let _ = write!(
            w,
            "<div class=\"check\" id=\"check-{}\"><h3>{} {}</h3><p>{} violation(s).</p>",
            escape(c.name),
            escape(c.name),
            badge(verdict, verdict),
            c.violation_count
        );
        if c.verdict == Verdict::Unknown {
            let _ = write!(w, "<p>Reason: {}</p>", escape(c.reason().unwrap_or("not given")));
        }
        for (i, v) in c.violations.iter().enumerate() {
            let ids: Vec<String> = v.ops.iter().map(|id| id.to_string()).collect();
            let _ = write!(
                w,
                "<div class=\"violation-item\"><p><b>{}</b> at {:.3} ms [{}]{}: {}</p>",
                escape(v.kind),
                v.at_ms,
                escape(&v.processes.join(", ")),
                if ids.is_empty() { String::new() } else { format!(", ops {}", ids.join(", ")) },
                escape(&v.message)
            );
            if !v.ops.is_empty() {
                let title =
                    format!("{} example {}: operations per process around ops {}", c.name, i + 1, ids.join(", "));
                let _ = write!(w, "<figure>{}</figure>", ops_timeline_svg(&title, spans, &v.ops, MAX_TIMELINE_OPS));
            }
            w.push_str("</div>");
        }
        if c.violation_count > c.violations.len() as u64 {
            let _ = write!(w, "<p>... and {} more.</p>", c.violation_count - c.violations.len() as u64);
        }
        w.push_str("</div>");
    }
    w.push_str("</section>");
}

fn plots(w: &mut String, plots: &[Plot]) {
    w.push_str("<section id=\"plots\"><h2>Plots</h2>");
    if plots.is_empty() {
        w.push_str("<p>No plots.</p>");
    }
    for p in plots {
        let stem = p.file.trim_end_matches(".svg");
        let _ = write!(
            w,
            "<figure id=\"plot-{}\">{}<figcaption>{} (also <a href=\"{}\">{}</a>)</figcaption></figure>",
            escape(stem),
            p.svg,
            escape(&p.title),
            escape(p.file),
            escape(p.file)
        );
    }
    w.push_str("</section>");
}

fn faults(w: &mut String, r: &RunReport) {
    w.push_str("<section id=\"faults\"><h2>Faults</h2>");
    if r.faults.is_empty() {
        w.push_str("<p>No faults were injected.</p></section>");
        return;
    }
    let windows = fault_windows(&r.faults);
    let end_ns = (r.sim_time_ms * 1e6).round().max(0.0) as u64;
    if !windows.is_empty() {
        let _ = write!(w, "<figure>{}</figure>", fault_timeline_svg(&windows, end_ns));
    }
    w.push_str("<table><tr><th class=\"num\">at ms</th><th>source</th><th>kind</th><th>nodes</th><th>detail</th></tr>");
    for f in &r.faults {
        let source = serde_json::to_value(f.source).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let _ = write!(
            w,
            "{}",
            row(&[
                format!("{:.3}", f.at_ms),
                escape(&source),
                escape(f.kind),
                escape(&f.nodes.join(", ")),
                escape(&f.detail)
            ])
        );
    }
    w.push_str("</table></section>");
}

fn protocol(w: &mut String, r: &RunReport) {
    w.push_str("<section id=\"protocol\"><h2>Protocol details</h2>");
    if let Some(table) = r.protocol_details.get("table").and_then(|t| t.as_str()) {
        let _ = write!(w, "<pre>{}</pre>", escape(table));
    }
    let json = serde_json::to_string_pretty(&r.protocol_details).unwrap_or_default();
    let _ = write!(w, "<details><summary>protocol_details (JSON)</summary><pre>{}</pre></details>", escape(&json));
    w.push_str("</section>");
}

/// Records script errors in `#js-status` (`data-errors`), for people and
/// for the headless browser test, which reads the page's final DOM.
const SCRIPT: &str = "(function () {
  var errors = [];
  function show() {
    var s = document.getElementById('js-status');
    s.setAttribute('data-errors', String(errors.length));
    s.textContent = errors.length ? 'script errors: ' + errors.join('; ') : 'page checked: no script errors';
  }
  window.addEventListener('error', function (e) { errors.push(String(e.message)); show(); });
  show();
})();";

/// The whole page of one run: `spans` are its operations (for the
/// counterexample timelines), `plots` the plots to show.
pub fn render_html(r: &RunReport, plots_list: &[Plot], spans: &[OpSpan]) -> String {
    let mut w = String::new();
    let _ = write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>dsim: {} (seed {})</title><style>{STYLE}</style></head><body>\n",
        escape(&r.scenario),
        r.seed
    );
    header(&mut w, r);
    w.push('\n');
    summary(&mut w, r);
    w.push('\n');
    expectations(&mut w, r);
    w.push('\n');
    checks(&mut w, r, spans);
    w.push('\n');
    plots(&mut w, plots_list);
    w.push('\n');
    faults(&mut w, r);
    w.push('\n');
    protocol(&mut w, r);
    let _ = write!(
        w,
        "\n<footer><p>dsim {} &middot; <span id=\"js-status\" data-errors=\"not run\">the page script did not run</span></p></footer>\
         <script>{SCRIPT}</script></body></html>\n",
        escape(r.dsim_version)
    );
    w
}

/// The ids of a comparison page's sections, in order.
pub const COMPARE_SECTION_IDS: [&str; 3] = ["comparison", "table", "plots"];

/// One row of a comparison page: its cells (already formatted, escaped
/// here), whether its run passed, and the run's own report page.
pub struct CompareRow {
    pub cells: Vec<String>,
    pub passed: bool,
    /// Path of the run's report.html, relative to the comparison page.
    pub link: Option<String>,
}

/// A comparison's page: the table (a row per run, each linking to its
/// run's report) and the overlaid plots.
pub fn render_compare_html(title: &str, header: &[String], rows: &[CompareRow], plots_list: &[Plot]) -> String {
    let mut w = String::new();
    let _ = write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>dsim comparison: {}</title><style>{STYLE}</style></head><body>\n\
         <header id=\"comparison\"><h1>{}</h1><p>{} runs with the same seed; each row links to its run's report.</p></header>\n",
        escape(title),
        escape(title),
        rows.len()
    );
    w.push_str("<section id=\"table\"><h2>Runs</h2><table><tr>");
    for h in header {
        let _ = write!(w, "<th>{}</th>", escape(h));
    }
    w.push_str("</tr>");
    for r in rows {
        let _ = write!(w, "<tr class=\"{}\">", if r.passed { "met" } else { "failed" });
        for (i, c) in r.cells.iter().enumerate() {
            match (&r.link, i) {
                (Some(link), 0) => {
                    let _ = write!(w, "<td><a href=\"{}\">{}</a></td>", escape(link), escape(c));
                }
                (_, 0) => {
                    let _ = write!(w, "<td>{}</td>", escape(c));
                }
                _ => w.push_str(&num(escape(c))),
            }
        }
        w.push_str("</tr>");
    }
    w.push_str("</table></section>\n");
    plots(&mut w, plots_list);
    let _ = write!(
        w,
        "\n<footer><p><span id=\"js-status\" data-errors=\"not run\">the page script did not run</span></p></footer>\
         <script>{SCRIPT}</script></body></html>\n"
    );
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckResult, Violation};
    use crate::latency::OpCounts;
    use crate::report::{ExpectationResult, FaultReport, MessageReport};
    use sim_core::fault::FaultSource;
    use sim_core::{EndReason, OpKind, OpStatus};

    const HOSTILE: &str = "<script>alert('x')</script>&\"";

    fn report() -> RunReport {
        RunReport {
            dsim_version: "0.1.0",
            scenario: HOSTILE.into(),
            protocol: "directory_kv".into(),
            file: "a<b>.toml".into(),
            seed: 7,
            trace_hash: "00000000deadbeef".into(),
            command: "dsim run 'a<b>.toml' --seed 7".into(),
            events: 10,
            sim_time_ms: 100.0,
            end_reason: EndReason::Quiesced,
            ops: OpCounts::default(),
            throughput_ops_per_s: 0.0,
            latency_ms: Default::default(),
            messages: MessageReport {
                sent: 0,
                sent_bytes: 0,
                delivered: 0,
                dropped: 0,
                duplicated: 0,
                per_ok_op: 0.0,
                by_type: Default::default(),
            },
            nodes: Vec::new(),
            faults: vec![FaultReport {
                at_ms: 10.0,
                source: FaultSource::Schedule,
                kind: "crash",
                nodes: vec!["s<1>".into()],
                detail: "s<1>".into(),
            }],
            checks: vec![CheckResult {
                name: "stale_reads",
                verdict: Verdict::Fail,
                violation_count: 3,
                violations: vec![Violation {
                    kind: "stale-read",
                    ops: vec![4, 6],
                    processes: vec!["c<2>".into()],
                    at_ms: 40.0,
                    message: format!("key {HOSTILE} read an old value"),
                }],
                details: serde_json::json!({}),
            }],
            protocol_details: serde_json::json!({ "table": HOSTILE, "key": HOSTILE }),
            expectations: vec![
                ExpectationResult { key: HOSTILE.into(), expected: "1".into(), actual: "0".into(), met: false },
                ExpectationResult { key: "ops_ok_min".into(), expected: "1".into(), actual: "2".into(), met: true },
            ],
            warnings: vec![HOSTILE.into()],
            outcome: "violation",
        }
    }

    fn spans() -> Vec<OpSpan> {
        (0..10)
            .map(|i| OpSpan {
                id: i,
                process: if i % 2 == 0 { "c1".into() } else { "c<2>".into() },
                kind: OpKind::Get,
                keys: vec!["k1".into()],
                invoke_ns: u64::from(i) * 5_000_000,
                complete_ns: Some(u64::from(i) * 5_000_000 + 7_000_000),
                status: OpStatus::Ok,
            })
            .collect()
    }

    #[test]
    fn page_has_every_section_and_escapes_hostile_strings() {
        let plots = [Plot { file: "throughput.svg", title: HOSTILE.into(), svg: "<svg></svg>".into() }];
        let page = render_html(&report(), &plots, &spans());
        for id in SECTION_IDS {
            assert!(page.contains(&format!("id=\"{id}\"")), "section {id} missing");
        }
        assert!(page.contains("id=\"plot-throughput\""));
        // The page's own script is the only one.
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
        assert!(!page.contains("alert('x')"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert!(!page.contains("s<1>") && !page.contains("c<2>") && !page.contains("a<b>"));
        assert!(page.contains("NOT MET") && page.contains("... and 2 more"));
    }

    #[test]
    fn counterexample_timeline_names_the_violating_ops() {
        let page = render_html(&report(), &[], &spans());
        assert!(page.contains("data-op=\"4\"") && page.contains("data-op=\"6\""));
        assert_eq!(page.matches("bar violating").count(), 2);
    }

    #[test]
    fn page_loads_nothing_from_outside() {
        let page = render_html(&report(), &[], &spans());
        assert!(page.contains("default-src 'none'"));
        assert!(!page.contains("https://") && !page.contains("src="));
        // The only http:// strings are SVG namespaces, which are names, not fetches.
        assert_eq!(page.matches("http://").count(), page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    }

    #[test]
    fn comparison_page_links_rows_escapes_cells_and_has_its_sections() {
        let rows = [
            CompareRow { cells: vec![HOSTILE.into(), "12".into()], passed: true, link: Some("a/report.html".into()) },
            CompareRow { cells: vec!["b".into(), "3".into()], passed: false, link: None },
        ];
        let plots = [Plot { file: "latency-cdf.svg", title: "cdf".into(), svg: "<svg></svg>".into() }];
        let page = render_compare_html(HOSTILE, &["variant".into(), "ops".into()], &rows, &plots);
        for id in COMPARE_SECTION_IDS {
            assert!(page.contains(&format!("id=\"{id}\"")), "section {id} missing");
        }
        assert!(page.contains("<a href=\"a/report.html\">&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "hostile text unescaped");
        assert!(page.contains("<tr class=\"failed\">"));
        assert!(page.contains("id=\"plot-latency-cdf\""));
    }
}
