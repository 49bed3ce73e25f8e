//! Plots of a run as SVG strings: latency CDFs, latency and throughput
//! over time with fault windows shaded, a message sequence (Lamport)
//! diagram, and lane timelines of operations and faults.
//!
//! Every function is pure: data in, one SVG document out. None panics on
//! odd data (empty series, one point, zero-length runs): a plot that has
//! nothing to draw says so in its place. The functions that take `series`
//! overlay several runs or kinds, one labelled series each, so comparing
//! runs is a matter of passing more series.
//!
//! Charts are drawn with plotters' SVG backend, which writes text as
//! `<text>` elements: no font library is needed. The lane timelines are
//! written by hand because each bar carries the operation's id
//! (`data-op`) and a tooltip (`<title>`), which plotters cannot attach.
//! There is no PNG output: plotters' bitmap backend needs either font-kit
//! (fontconfig and freetype, system libraries) or a TTF file shipped with
//! dsim to draw any text.

use crate::check::Labels;
use crate::report::{FaultReport, RunReport};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sim_core::fault::FaultSource;
use sim_core::trace::{TraceEvent, TraceKind};
use sim_core::{History, OpKind, OpStatus};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

const NANOS_PER_MS: f64 = 1e6;
/// Size of the time-series charts, in pixels.
const CHART_SIZE_PX: (u32, u32) = (900, 420);
/// Past this many points a latency scatter becomes per-window percentiles:
/// an SVG with a circle per operation grows by ~100 bytes per operation.
const MAX_SCATTER_POINTS: usize = 3000;
/// Points per CDF curve; more would not show at this size.
const CDF_POINTS: usize = 400;
/// Windows across the run for throughput and latency percentiles.
const WINDOWS: u64 = 100;
/// The least latency a log axis shows (1 ns): a zero latency is drawn there.
const MIN_LOG_MS: f64 = 1e-6;

/// One operation as the plots and the HTML timelines draw it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSpan {
    /// The op id (index in the run's history), as checks name it.
    pub id: u32,
    pub process: String,
    pub kind: OpKind,
    /// The keys it names, by the names checks use (`k17`, or a scripted name).
    pub keys: Vec<String>,
    pub invoke_ns: u64,
    /// `None` if it was still pending when the run ended.
    pub complete_ns: Option<u64>,
    pub status: OpStatus,
}

impl OpSpan {
    /// Latency of a successful operation.
    pub fn ok_latency_ns(&self) -> Option<u64> {
        if self.status != OpStatus::Ok {
            return None;
        }
        self.complete_ns.map(|c| c.saturating_sub(self.invoke_ns))
    }
}

/// The operations of a run's history, named as the checks name them.
pub fn op_spans(history: &History, labels: &Labels) -> Vec<OpSpan> {
    history
        .ops
        .iter()
        .map(|r| OpSpan {
            id: r.id.0,
            process: labels.process(r.process),
            kind: r.op.kind,
            keys: r.op.keys().map(|k| labels.key(k)).collect(),
            invoke_ns: r.invoke.as_nanos(),
            complete_ns: r.complete.map(|c| c.as_nanos()),
            status: r.status.unwrap_or(OpStatus::Unknown),
        })
        .collect()
}

/// Latencies of successful operations per op kind, in nanoseconds.
pub fn ok_latencies_by_kind_ns(spans: &[OpSpan]) -> BTreeMap<&'static str, Vec<u64>> {
    let mut out: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for s in spans {
        if let Some(l) = s.ok_latency_ns() {
            out.entry(s.kind.name()).or_default().push(l);
        }
    }
    out
}

/// Operations grouped by kind, for per-kind series.
pub fn spans_by_kind(spans: &[OpSpan]) -> BTreeMap<&'static str, Vec<OpSpan>> {
    let mut out: BTreeMap<&'static str, Vec<OpSpan>> = BTreeMap::new();
    for s in spans {
        out.entry(s.kind.name()).or_default().push(s.clone());
    }
    out
}

/// A stretch of time during which a fault held: a node down or paused, or
/// the network partitioned or cut.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// `crash`, `pause`, `partition` or `cut`.
    pub kind: &'static str,
    pub nodes: Vec<String>,
    pub start_ns: u64,
    /// `None` if it still held when the run ended.
    pub end_ns: Option<u64>,
    pub detail: String,
}

impl FaultWindow {
    fn end_or(&self, run_end_ns: u64) -> u64 {
        self.end_ns.unwrap_or(run_end_ns).max(self.start_ns)
    }

    fn label(&self) -> String {
        match self.kind {
            "crash" | "pause" => format!("{} {}", self.kind, self.nodes.join(",")),
            _ => format!("{} {}", self.kind, self.detail),
        }
    }
}

fn ms_to_ns(ms: f64) -> u64 {
    // Fault times come from the report in milliseconds; rounding recovers
    // the nanosecond they were logged at.
    (ms * NANOS_PER_MS).round().max(0.0) as u64
}

/// Pairs the fault log's events into windows: crash with the node's next
/// restart, pause with its resume, a partition or cut with the heal that
/// ends it. A scheduled partition replaces the previous scheduled one (as
/// the network does); a nemesis heal ends the oldest nemesis partition
/// still open (the log does not say which layer it removes, so two
/// overlapping nemesis partitions may be paired the other way round; the
/// shaded union is the same); any other heal ends every open partition
/// and cut. Changes of loss, duplication or latency are not windows.
pub fn fault_windows(faults: &[FaultReport]) -> Vec<FaultWindow> {
    let mut out: Vec<FaultWindow> = Vec::new();
    let mut open_nodes: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    // Open partitions and cuts: (source, index in `out`).
    let mut open_net: Vec<(FaultSource, usize)> = Vec::new();
    for f in faults {
        let at_ns = ms_to_ns(f.at_ms);
        let window = |kind| FaultWindow {
            kind,
            nodes: f.nodes.clone(),
            start_ns: at_ns,
            end_ns: None,
            detail: f.detail.clone(),
        };
        match f.kind {
            "crash" | "pause" => {
                let kind = if f.kind == "crash" { "crash" } else { "pause" };
                for n in &f.nodes {
                    open_nodes.entry((kind, n.clone())).or_insert_with(|| {
                        out.push(FaultWindow { nodes: vec![n.clone()], ..window(kind) });
                        out.len() - 1
                    });
                }
            }
            "restart" | "resume" => {
                let opener = if f.kind == "restart" { "crash" } else { "pause" };
                for n in &f.nodes {
                    if let Some(i) = open_nodes.remove(&(opener, n.clone())) {
                        out[i].end_ns = Some(at_ns);
                    }
                }
            }
            "partition" | "cut" => {
                if f.kind == "partition" && f.source == FaultSource::Schedule {
                    open_net.retain(|&(source, i)| {
                        let replaced = source == FaultSource::Schedule && out[i].kind == "partition";
                        if replaced {
                            out[i].end_ns = Some(at_ns);
                        }
                        !replaced
                    });
                }
                out.push(window(if f.kind == "cut" { "cut" } else { "partition" }));
                open_net.push((f.source, out.len() - 1));
            }
            "heal" if f.source == FaultSource::Nemesis => {
                if let Some(pos) = open_net.iter().position(|&(s, _)| s == FaultSource::Nemesis) {
                    let (_, i) = open_net.remove(pos);
                    out[i].end_ns = Some(at_ns);
                }
            }
            "heal" => {
                for (_, i) in open_net.drain(..) {
                    out[i].end_ns = Some(at_ns);
                }
            }
            _ => {}
        }
    }
    out
}

fn window_color(kind: &str) -> RGBColor {
    match kind {
        "crash" => RGBColor(214, 39, 40),
        "pause" => RGBColor(255, 127, 14),
        _ => RGBColor(31, 119, 180),
    }
}

fn window_css_color(kind: &str) -> String {
    let RGBColor(r, g, b) = window_color(kind);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Escapes text for XML and HTML (element content and quoted attributes).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A plot with nothing to draw, or one that failed: its title and why.
fn message_svg(size: (u32, u32), title: &str, message: &str) -> String {
    let (w, h) = size.min((size.0, 80));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <text x=\"10\" y=\"28\" font-family=\"sans-serif\" font-size=\"16\">{}</text>\
         <text x=\"10\" y=\"56\" font-family=\"sans-serif\" font-size=\"13\" fill=\"#555\">{}</text></svg>\n",
        escape(title),
        escape(message)
    )
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws with plotters into an SVG string; an error becomes a plot that says so.
fn draw_svg(size: (u32, u32), title: &str, draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult) -> String {
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&root).and_then(|()| root.present().map_err(Into::into))
    };
    match result {
        Ok(()) => buf,
        Err(e) => message_svg(size, title, &format!("cannot draw this plot: {e}")),
    }
}

/// Series colours: distinct, and none red or orange, which mark crashes and pauses.
const SERIES_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn series_color(i: usize) -> RGBColor {
    SERIES_COLORS[i % SERIES_COLORS.len()]
}

/// A log axis range covering `lo..hi` (both positive) with some room.
fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = lo.max(MIN_LOG_MS);
    let hi = hi.max(lo);
    if hi <= lo * 1.5 { (lo / 2.0, hi * 2.0) } else { (lo / 1.3, hi * 1.3) }
}

/// The cumulative distribution of each series' latencies (nanoseconds),
/// on a log axis of milliseconds.
pub fn latency_cdf_svg(series: &[(&str, &[u64])]) -> String {
    let title = "Latency CDF (ok operations)";
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(label, l)| {
            let mut sorted = l.to_vec();
            sorted.sort_unstable();
            let n = sorted.len();
            let steps = (n - 1).min(CDF_POINTS);
            let points = (0..=steps)
                .map(|k| {
                    let i = (k * (n - 1)).checked_div(steps).unwrap_or(0);
                    ((sorted[i] as f64 / NANOS_PER_MS).max(MIN_LOG_MS), (i + 1) as f64 / n as f64)
                })
                .collect();
            (*label, points)
        })
        .collect();
    if curves.is_empty() {
        return message_svg(CHART_SIZE_PX, title, "no successful operations");
    }
    let xs = curves.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let (lo, hi) = log_range(xs.clone().fold(f64::INFINITY, f64::min), xs.fold(0.0, f64::max));
    draw_svg(CHART_SIZE_PX, title, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)?;
        chart.configure_mesh().x_desc("latency (ms, log scale)").y_desc("fraction of operations").draw()?;
        for (i, (label, points)) in curves.iter().enumerate() {
            let color = series_color(i);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(format!("{label} ({} ops)", series.iter().find(|s| s.0 == *label).map_or(0, |s| s.1.len())))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Shades fault windows over a chart's whole height, labelled at the top.
fn shade_faults<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    faults: &[FaultWindow],
    end_ms: f64,
    (y_lo, y_hi): (f64, f64),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for f in faults {
        let (a, b) = (f.start_ns as f64 / NANOS_PER_MS, f.end_or(ms_to_ns(end_ms)) as f64 / NANOS_PER_MS);
        let color = window_color(f.kind);
        chart.draw_series(std::iter::once(Rectangle::new([(a, y_lo), (b.max(a), y_hi)], color.mix(0.15).filled())))?;
        let style = TextStyle::from(("sans-serif", 11).into_font()).color(&color);
        chart.draw_series(std::iter::once(Text::new(f.label(), (a, y_hi), style)))?;
    }
    Ok(())
}

/// The latest instant any series or fault mentions, in milliseconds.
fn end_ms(series: &[(&str, &[OpSpan])], faults: &[FaultWindow], run_end_ns: u64) -> f64 {
    let ops = series.iter().flat_map(|(_, s)| s.iter().map(|o| o.complete_ns.unwrap_or(o.invoke_ns)));
    let faults = faults.iter().map(|f| f.end_ns.unwrap_or(f.start_ns));
    ops.chain(faults).fold(run_end_ns, u64::max).max(1) as f64 / NANOS_PER_MS
}

/// The value at quantile `q` of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latency of ok operations against their invocation time, one colour per
/// series, fault windows shaded. Each operation is a point while there are
/// few; past that, each series becomes its p50 and p99 per time window.
pub fn latency_over_time_svg(series: &[(&str, &[OpSpan])], faults: &[FaultWindow], run_end_ns: u64) -> String {
    let title = "Latency over time (ok operations)";
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, spans)| {
            let p = spans
                .iter()
                .filter_map(|s| {
                    Some((
                        s.invoke_ns as f64 / NANOS_PER_MS,
                        (s.ok_latency_ns()? as f64 / NANOS_PER_MS).max(MIN_LOG_MS),
                    ))
                })
                .collect();
            (*label, p)
        })
        .filter(|(_, p): &(&str, Vec<_>)| !p.is_empty())
        .collect();
    if points.is_empty() {
        return message_svg(CHART_SIZE_PX, title, "no successful operations");
    }
    let end = end_ms(series, faults, run_end_ns);
    let ys = points.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let (lo, hi) = log_range(ys.clone().fold(f64::INFINITY, f64::min), ys.fold(0.0, f64::max));
    let scatter = points.iter().map(|(_, p)| p.len()).sum::<usize>() <= MAX_SCATTER_POINTS;
    let title =
        if scatter { title.to_string() } else { format!("{title}: p50 and p99 per {} window", window_text(end)) };
    draw_svg(CHART_SIZE_PX, &title, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..end, (lo..hi).log_scale())?;
        chart.configure_mesh().x_desc("time (ms)").y_desc("latency (ms, log scale)").draw()?;
        shade_faults(&mut chart, faults, end, (lo, hi))?;
        for (i, (label, p)) in points.iter().enumerate() {
            let color = series_color(i);
            if scatter {
                chart
                    .draw_series(p.iter().map(|&xy| Circle::new(xy, 2, color.filled())))?
                    .label(*label)
                    .legend(move |(x, y)| Circle::new((x + 6, y), 3, color.filled()));
                continue;
            }
            let width_ms = window_ms(end);
            let mut per_window: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for &(x, y) in p {
                per_window.entry((x / width_ms) as u64).or_default().push(y);
            }
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for (w, ys) in &mut per_window {
                ys.sort_by(f64::total_cmp);
                let x = (*w as f64 + 0.5) * width_ms;
                p50.push((x, quantile(ys, 0.5)));
                p99.push((x, quantile(ys, 0.99)));
            }
            chart
                .draw_series(LineSeries::new(p50, color.stroke_width(2)))?
                .label(format!("{label} p50"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart
                .draw_series(DashedLineSeries::new(p99, 6, 4, color.stroke_width(1)))?
                .label(format!("{label} p99"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(1)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// A round window width near 1/100 of the run: 1, 2 or 5 times a power of ten, in ms.
fn window_ms(end_ms: f64) -> f64 {
    let raw = (end_ms / WINDOWS as f64).max(1e-3);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|w| *w >= raw).unwrap_or(10.0 * magnitude)
}

fn window_text(end_ms: f64) -> String {
    let w = window_ms(end_ms);
    if w >= 1.0 { format!("{w} ms") } else { format!("{} us", (w * 1000.0).round()) }
}

/// Successful operations per second in fixed windows, one line per series,
/// fault windows shaded.
pub fn throughput_svg(series: &[(&str, &[OpSpan])], faults: &[FaultWindow], run_end_ns: u64) -> String {
    let title = "Throughput (ok operations per second)";
    if series.iter().all(|(_, s)| s.iter().all(|o| o.ok_latency_ns().is_none())) {
        return message_svg(CHART_SIZE_PX, title, "no successful operations");
    }
    let end = end_ms(series, faults, run_end_ns);
    let width_ms = window_ms(end);
    let windows = (end / width_ms).ceil().max(1.0) as usize;
    let lines: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, spans)| {
            let mut counts = vec![0u64; windows];
            for s in spans.iter().filter(|s| s.status == OpStatus::Ok) {
                if let Some(c) = s.complete_ns {
                    let w = ((c as f64 / NANOS_PER_MS) / width_ms) as usize;
                    counts[w.min(windows - 1)] += 1;
                }
            }
            // The last window may cover only part of its width: its rate is
            // over the part it covers, and a sliver under half a window is
            // left out rather than drawn as a spurious dip or spike.
            let p = counts
                .iter()
                .enumerate()
                .filter_map(|(w, &c)| {
                    let start = w as f64 * width_ms;
                    let covered = (end - start).min(width_ms);
                    (covered >= width_ms / 2.0 || windows == 1)
                        .then(|| (start + width_ms / 2.0, c as f64 * 1000.0 / covered.max(1e-9)))
                })
                .collect();
            (*label, p)
        })
        .collect();
    let top = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(0.0, f64::max).max(1.0) * 1.15;
    let title = format!("{title}, {} windows", window_text(end));
    draw_svg(CHART_SIZE_PX, &title, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart.configure_mesh().x_desc("time (ms)").y_desc("ok ops/s").draw()?;
        shade_faults(&mut chart, faults, end, (0.0, top))?;
        for (i, (label, p)) in lines.iter().enumerate() {
            let color = series_color(i);
            chart
                .draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// What happened to a message in the diagram.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Delivered(u64),
    Dropped(u64, &'static str),
    /// Neither delivered nor dropped within the trace.
    InFlight,
}

#[derive(Clone, Debug)]
struct Arrow {
    from: usize,
    to: usize,
    label: &'static str,
    sent_ns: u64,
    fate: Fate,
}

/// Matches the first `max_messages` sends of a trace with their deliveries
/// and drops. The trace carries no message ids, so a delivery is matched to
/// the oldest unmatched send of the same type on the same link (first in,
/// first out: with jitter two messages may have overtaken each other, and a
/// duplicate's extra delivery is not drawn). A drop decided at the send
/// (loss, partition) directly follows its send in the trace; a later drop
/// (a crashed receiver or sender) names no type and takes the link's oldest.
fn arrows(trace: &[TraceEvent], nodes: usize, max_messages: usize) -> (Vec<Arrow>, usize) {
    let mut out: Vec<Arrow> = Vec::new();
    let mut pending: BTreeMap<(usize, usize), VecDeque<usize>> = BTreeMap::new();
    let mut total_sends = 0;
    let mut previous: Option<&TraceEvent> = None;
    for ev in trace {
        let Some(peer) = ev.peer.map(|p| p.index()) else {
            previous = Some(ev);
            continue;
        };
        let node = ev.node.index();
        if node >= nodes || peer >= nodes {
            previous = Some(ev);
            continue;
        }
        match ev.kind {
            TraceKind::Send => {
                total_sends += 1;
                if out.len() < max_messages {
                    out.push(Arrow {
                        from: node,
                        to: peer,
                        label: ev.label,
                        sent_ns: ev.at.as_nanos(),
                        fate: Fate::InFlight,
                    });
                    pending.entry((node, peer)).or_default().push_back(out.len() - 1);
                }
            }
            TraceKind::Drop => {
                let link = pending.entry((peer, node)).or_default();
                let at_send = previous.is_some_and(|p| {
                    p.kind == TraceKind::Send && p.at == ev.at && p.node.index() == peer && p.peer == Some(ev.node)
                });
                let taken = if at_send {
                    // That send is the link's newest, if the diagram took it at all.
                    match link.back() {
                        Some(&i) if out[i].sent_ns == ev.at.as_nanos() => link.pop_back(),
                        _ => None,
                    }
                } else {
                    link.pop_front()
                };
                if let Some(i) = taken {
                    out[i].fate = Fate::Dropped(ev.at.as_nanos(), ev.label);
                }
            }
            TraceKind::Deliver => {
                let link = pending.entry((peer, node)).or_default();
                if let Some(pos) = link.iter().position(|&i| out[i].label == ev.label) {
                    let i = link.remove(pos).unwrap_or(pos);
                    out[i].fate = Fate::Delivered(ev.at.as_nanos());
                }
            }
            _ => {}
        }
        previous = Some(ev);
    }
    (out, total_sends)
}

fn font(size: u32, color: &RGBColor, pos: Pos) -> TextStyle<'_> {
    TextStyle::from(("sans-serif", size).into_font()).color(color).pos(pos)
}

/// A message sequence diagram of the first `max_messages` messages: one
/// vertical line per node, time flowing down, an arrow per message labelled
/// with its type; dropped messages end in a red cross with the reason;
/// crashes and pauses mark the node's line, partitions and cuts shade the
/// diagram. Rows are the distinct instants at which something happened, in
/// order, not to scale, so that bursts stay readable.
pub fn messages_svg(trace: &[TraceEvent], names: &[String], faults: &[FaultWindow], max_messages: usize) -> String {
    let (arrows, total_sends) = arrows(trace, names.len(), max_messages);
    let title = if total_sends > arrows.len() {
        format!("Messages: the first {} (rows are event instants, not to scale)", arrows.len())
    } else {
        format!("Messages: all {} (rows are event instants, not to scale)", arrows.len())
    };
    if arrows.is_empty() {
        return message_svg((900, 80), &title, "no messages were sent");
    }
    let last_ns = arrows
        .iter()
        .map(|a| match a.fate {
            Fate::Delivered(t) | Fate::Dropped(t, _) => t,
            Fate::InFlight => a.sent_ns,
        })
        .fold(0, u64::max);
    let first_ns = arrows[0].sent_ns;
    let shown: Vec<&FaultWindow> =
        faults.iter().filter(|f| f.start_ns <= last_ns && f.end_ns.is_none_or(|e| e >= first_ns)).collect();
    let mut instants: Vec<u64> = Vec::new();
    for a in &arrows {
        instants.push(a.sent_ns);
        if let Fate::Delivered(t) | Fate::Dropped(t, _) = a.fate {
            instants.push(t);
        }
    }
    for f in &shown {
        instants.extend([f.start_ns.max(first_ns), f.end_or(last_ns).min(last_ns)]);
    }
    instants.sort_unstable();
    instants.dedup();
    const ROW_PX: i32 = 14;
    const LANE_PX: i32 = 120;
    const LEFT_PX: i32 = 100;
    const TOP_PX: i32 = 70;
    let rows = instants.len() as i32;
    let bottom = TOP_PX + (rows + 1) * ROW_PX;
    let width = (LEFT_PX + LANE_PX * names.len() as i32 + 40).max(600);
    let height = bottom + 20;
    let row_y = |t: u64| TOP_PX + ROW_PX * (instants.partition_point(|&x| x < t) as i32 + 1);
    let lane_x = |i: usize| LEFT_PX + LANE_PX * i as i32 + LANE_PX / 2;
    draw_svg((width as u32, height as u32), &title, |root| {
        root.fill(&WHITE)?;
        let center = Pos::new(HPos::Center, VPos::Center);
        let left = Pos::new(HPos::Left, VPos::Center);
        let grey = RGBColor(150, 150, 150);
        root.draw(&Text::new(title.clone(), (10, 18), font(16, &BLACK, Pos::new(HPos::Left, VPos::Center))))?;
        for f in shown.iter().filter(|f| f.kind == "partition" || f.kind == "cut") {
            let (a, b) = (row_y(f.start_ns.max(first_ns)), row_y(f.end_or(last_ns).min(last_ns)));
            let color = window_color(f.kind);
            root.draw(&Rectangle::new([(LEFT_PX, a), (width - 10, b.max(a + 2))], color.mix(0.12).filled()))?;
            root.draw(&Text::new(f.label(), (LEFT_PX + 4, a + 7), font(10, &color, left)))?;
        }
        for (i, name) in names.iter().enumerate() {
            let x = lane_x(i);
            root.draw(&Text::new(name.clone(), (x, TOP_PX - 12), font(13, &BLACK, center)))?;
            root.draw(&PathElement::new(vec![(x, TOP_PX), (x, bottom)], grey.stroke_width(1)))?;
        }
        for f in shown.iter().filter(|f| f.kind == "crash" || f.kind == "pause") {
            let (a, b) = (row_y(f.start_ns.max(first_ns)), row_y(f.end_or(last_ns).min(last_ns)));
            let color = window_color(f.kind);
            for n in &f.nodes {
                let Some(i) = names.iter().position(|x| x == n) else { continue };
                let x = lane_x(i);
                root.draw(&Rectangle::new([(x - 3, a), (x + 3, b.max(a + 2))], color.mix(0.6).filled()))?;
                let what = if f.kind == "crash" { "crashed" } else { "paused" };
                root.draw(&Text::new(what, (x + 6, a + 6), font(10, &color, left)))?;
            }
        }
        // Time labels for the rows, thinned so they do not overlap (every row is below TOP_PX).
        let mut last_label = 0;
        for &t in &instants {
            let y = row_y(t);
            if y - last_label >= ROW_PX {
                root.draw(&Text::new(format!("{:.3} ms", t as f64 / NANOS_PER_MS), (8, y), font(10, &grey, left)))?;
                last_label = y;
            }
        }
        let red = RGBColor(214, 39, 40);
        let blue = RGBColor(31, 80, 160);
        for a in &arrows {
            let (x0, y0) = (lane_x(a.from), row_y(a.sent_ns));
            let (x1, y1, color) = match a.fate {
                Fate::Delivered(t) => (lane_x(a.to), row_y(t), blue),
                // A drop is drawn halfway: it never reached the receiver.
                Fate::Dropped(t, _) => ((lane_x(a.from) + lane_x(a.to)) / 2, row_y(t).max(y0 + ROW_PX / 2), red),
                Fate::InFlight => (lane_x(a.to), bottom, grey),
            };
            root.draw(&PathElement::new(vec![(x0, y0), (x1, y1)], color.stroke_width(1)))?;
            match a.fate {
                Fate::Dropped(_, reason) => {
                    root.draw(&Cross::new((x1, y1), 4, red.stroke_width(2)))?;
                    root.draw(&Text::new(format!("{} ({reason})", a.label), (x1 + 6, y1), font(9, &red, left)))?;
                }
                _ => {
                    // The arrowhead, in pixels along the line.
                    let (dx, dy) = ((x1 - x0) as f64, (y1 - y0) as f64);
                    let len = (dx * dx + dy * dy).sqrt().max(1.0);
                    let (ux, uy) = (dx / len, dy / len);
                    let p = |along: f64, across: f64| {
                        ((x1 as f64 - ux * along - uy * across) as i32, (y1 as f64 - uy * along + ux * across) as i32)
                    };
                    root.draw(&Polygon::new(vec![(x1, y1), p(8.0, 3.5), p(8.0, -3.5)], color.filled()))?;
                    let mid = ((x0 + x1) / 2, (y0 + y1) / 2 - 5);
                    root.draw(&Text::new(a.label, mid, font(9, &color, center)))?;
                }
            }
        }
        Ok(())
    })
}

/// One bar of a lane timeline.
#[derive(Clone, Debug)]
pub struct Bar {
    pub start_ns: u64,
    /// `None`: open to the right edge (a pending op, a fault still holding).
    pub end_ns: Option<u64>,
    pub label: String,
    pub tooltip: String,
    pub fill: String,
    /// Drawn with a thick red outline and its label always shown.
    pub highlight: bool,
    /// The operation id, written as `data-op` so the bar can be found.
    pub op_id: Option<u32>,
}

/// A timeline with one lane per name (bars that overlap within a lane are
/// stacked on sub-rows), written by hand so bars carry ids and tooltips.
pub fn lanes_svg(title: &str, lanes: &[(String, Vec<Bar>)], t0_ns: u64, t1_ns: u64) -> String {
    const WIDTH_PX: f64 = 900.0;
    const LEFT_PX: f64 = 110.0;
    // Room on the right for the last tick's label.
    const RIGHT_PX: f64 = 50.0;
    const ROW_PX: usize = 22;
    if lanes.iter().all(|(_, bars)| bars.is_empty()) {
        return message_svg((WIDTH_PX as u32, 80), title, "nothing to draw");
    }
    let span = (t1_ns.saturating_sub(t0_ns)).max(1) as f64;
    let x = |t: u64| LEFT_PX + (t.saturating_sub(t0_ns) as f64 / span) * (WIDTH_PX - LEFT_PX - RIGHT_PX);
    let mut body = String::new();
    let mut y = 40usize;
    for (name, bars) in lanes {
        // Greedy sub-rows: a bar goes on the first row whose last bar ended before it starts.
        let mut row_ends: Vec<u64> = Vec::new();
        let mut placed = Vec::new();
        for b in bars {
            let end = b.end_ns.unwrap_or(t1_ns).max(b.start_ns);
            let row = match row_ends.iter().position(|&e| e < b.start_ns) {
                Some(r) => r,
                None => {
                    row_ends.push(0);
                    row_ends.len() - 1
                }
            };
            row_ends[row] = end;
            placed.push((row, b, end));
        }
        let lane_h = row_ends.len().max(1) * ROW_PX;
        let _ = write!(
            body,
            "<line x1=\"0\" x2=\"{WIDTH_PX}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <text x=\"6\" y=\"{}\" font-size=\"12\">{}</text>",
            y + ROW_PX / 2 + 4,
            escape(name)
        );
        for (row, b, end) in placed {
            let (xa, xb) = (x(b.start_ns), x(end));
            let w = (xb - xa).max(2.0);
            let top = y + row * ROW_PX + 3;
            let stroke = if b.highlight {
                "stroke=\"#d62728\" stroke-width=\"3\""
            } else {
                "stroke=\"#333\" stroke-width=\"0.5\""
            };
            let dash = if b.end_ns.is_none() { " stroke-dasharray=\"4 2\"" } else { "" };
            let data = b.op_id.map(|id| format!(" data-op=\"{id}\"")).unwrap_or_default();
            let class = if b.highlight { "bar violating" } else { "bar" };
            let _ = write!(
                body,
                "<g class=\"{class}\"{data}><title>{}</title><rect x=\"{xa:.1}\" y=\"{top}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\" {stroke}{dash}/>",
                escape(&b.tooltip),
                ROW_PX - 6,
                escape(&b.fill)
            );
            // A label that would not fit is left to the tooltip, unless the bar is highlighted.
            if b.highlight || w >= 7.0 * b.label.len() as f64 {
                let _ = write!(
                    body,
                    "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\"{}>{}</text>",
                    xa + 2.0,
                    top + ROW_PX - 10,
                    if b.highlight { " font-weight=\"bold\"" } else { "" },
                    escape(&b.label)
                );
            }
            body.push_str("</g>");
        }
        y += lane_h + 4;
    }
    // Five time ticks along the bottom.
    let mut axis = String::new();
    for k in 0..=4u64 {
        let t = t0_ns + (t1_ns.saturating_sub(t0_ns)) * k / 4;
        let _ = write!(
            axis,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"34\" y2=\"{1}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" font-size=\"11\" text-anchor=\"middle\">{3:.3} ms</text>",
            x(t),
            y,
            y + 16,
            t as f64 / NANOS_PER_MS
        );
    }
    let height = y + 26;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH_PX}\" height=\"{height}\" viewBox=\"0 0 {WIDTH_PX} {height}\" \
         font-family=\"sans-serif\"><text x=\"6\" y=\"20\" font-size=\"14\">{}</text>{axis}{body}</svg>\n",
        escape(title)
    )
}

fn status_fill(s: OpStatus) -> &'static str {
    match s {
        OpStatus::Ok => "#9ecae1",
        OpStatus::Fail => "#cccccc",
        OpStatus::Unknown => "#fdd0a2",
    }
}

/// The operations around a violation, one lane per process, each op a bar
/// from invocation to completion; `highlight`'s ops drawn in red. At most
/// `max_ops` operations are drawn: the highlighted ones and those nearest
/// in time to them among the operations on the same keys (a violation is
/// about its keys; operations on other keys would only crowd the picture).
pub fn ops_timeline_svg(title: &str, spans: &[OpSpan], highlight: &[u32], max_ops: usize) -> String {
    let marked: Vec<&OpSpan> = spans.iter().filter(|s| highlight.contains(&s.id)).collect();
    if marked.is_empty() {
        return message_svg((900, 80), title, "the operations this violation names are not in the history");
    }
    let end_of = |s: &OpSpan| s.complete_ns.unwrap_or(s.invoke_ns);
    let lo = marked.iter().map(|s| s.invoke_ns).min().unwrap_or(0);
    let hi = marked.iter().map(|s| end_of(s)).max().unwrap_or(lo);
    let distance = |s: &OpSpan| {
        if end_of(s) < lo { lo - end_of(s) } else { s.invoke_ns.saturating_sub(hi) }
    };
    let keys: Vec<&String> = marked.iter().flat_map(|s| &s.keys).collect();
    let related = |s: &&OpSpan| keys.is_empty() || s.keys.iter().any(|k| keys.contains(&k));
    let mut chosen: Vec<&OpSpan> = spans.iter().filter(|s| !highlight.contains(&s.id)).filter(related).collect();
    chosen.sort_by_key(|s| (distance(s), s.id));
    chosen.truncate(max_ops.saturating_sub(marked.len()));
    chosen.extend(marked);
    chosen.sort_by_key(|s| (s.invoke_ns, s.id));
    let t0 = chosen.iter().map(|s| s.invoke_ns).min().unwrap_or(0);
    let t1 = chosen.iter().map(|s| end_of(s)).max().unwrap_or(t0).max(t0 + 1);
    let mut lanes: BTreeMap<&str, Vec<Bar>> = BTreeMap::new();
    for s in chosen {
        let when = match s.complete_ns {
            Some(c) => format!("{:.3}-{:.3} ms", s.invoke_ns as f64 / NANOS_PER_MS, c as f64 / NANOS_PER_MS),
            None => format!("from {:.3} ms, pending at the end", s.invoke_ns as f64 / NANOS_PER_MS),
        };
        lanes.entry(&s.process).or_default().push(Bar {
            start_ns: s.invoke_ns,
            end_ns: s.complete_ns,
            label: format!("{} {}", s.id, s.kind.name()),
            tooltip: format!(
                "op {}: {} {} {} {}, {when}",
                s.id,
                s.process,
                s.kind.name(),
                s.keys.join(","),
                s.status.name()
            ),
            fill: if highlight.contains(&s.id) { "#f4a6a6".into() } else { status_fill(s.status).into() },
            highlight: highlight.contains(&s.id),
            op_id: Some(s.id),
        });
    }
    let lanes: Vec<(String, Vec<Bar>)> = lanes.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    lanes_svg(title, &lanes, t0, t1)
}

/// The fault windows on one lane per node (and one for the network).
pub fn fault_timeline_svg(faults: &[FaultWindow], run_end_ns: u64) -> String {
    let title = "Fault timeline";
    let end = faults.iter().map(|f| f.end_ns.unwrap_or(f.start_ns)).fold(run_end_ns, u64::max).max(1);
    let mut lanes: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    for f in faults {
        let lane = if f.kind == "crash" || f.kind == "pause" { f.nodes.join(",") } else { "network".to_string() };
        let until = f.end_ns.map_or("the end".to_string(), |e| format!("{:.3} ms", e as f64 / NANOS_PER_MS));
        lanes.entry(lane).or_default().push(Bar {
            start_ns: f.start_ns,
            end_ns: f.end_ns,
            label: f.label(),
            tooltip: format!("{} from {:.3} ms to {until}", f.label(), f.start_ns as f64 / NANOS_PER_MS),
            fill: window_css_color(f.kind),
            highlight: false,
            op_id: None,
        });
    }
    let lanes: Vec<(String, Vec<Bar>)> = lanes.into_iter().collect();
    lanes_svg(title, &lanes, 0, end)
}

/// One plot as the HTML page shows it and as `--out` writes it beside the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// The file name it is written to (`latency-cdf.svg`).
    pub file: &'static str,
    pub title: String,
    pub svg: String,
}

/// Messages the sequence diagram shows at most.
pub const MAX_DIAGRAM_MESSAGES: usize = 200;
/// Past this many nodes the sequence diagram is not drawn: lanes would be
/// too narrow to read (Chord's rings of hundreds of nodes).
pub const MAX_DIAGRAM_NODES: usize = 24;

/// The plots of one run: latency CDF per op kind, latency over time per op
/// kind and throughput, both with fault windows shaded, and the message
/// diagram when a trace is given and the run has few enough nodes.
pub fn run_plots(report: &RunReport, spans: &[OpSpan], trace: Option<&[TraceEvent]>, names: &[String]) -> Vec<Plot> {
    let faults = fault_windows(&report.faults);
    let end_ns = ms_to_ns(report.sim_time_ms);
    let latencies = ok_latencies_by_kind_ns(spans);
    let cdf: Vec<(&str, &[u64])> = latencies.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let by_kind = spans_by_kind(spans);
    let kinds: Vec<(&str, &[OpSpan])> = by_kind.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let mut plots = vec![
        Plot { file: "latency-cdf.svg", title: "Latency CDF per operation kind".into(), svg: latency_cdf_svg(&cdf) },
        Plot {
            file: "latency-over-time.svg",
            title: "Latency over time per operation kind, fault windows shaded".into(),
            svg: latency_over_time_svg(&kinds, &faults, end_ns),
        },
        Plot {
            file: "throughput.svg",
            title: "Throughput over time, fault windows shaded".into(),
            svg: throughput_svg(&[("all ok ops", spans)], &faults, end_ns),
        },
    ];
    if let Some(trace) = trace
        && names.len() <= MAX_DIAGRAM_NODES
    {
        plots.push(Plot {
            file: "messages.svg",
            title: format!("Message sequence diagram (at most the first {MAX_DIAGRAM_MESSAGES} messages)"),
            svg: messages_svg(trace, names, &faults, MAX_DIAGRAM_MESSAGES),
        });
    }
    plots
}

/// Plots that overlay several runs, one series per run: the latency CDF of
/// all ok operations, latency over time and throughput over time. Fault
/// windows are shaded only when every run had the same faults (a
/// comparison on one schedule); otherwise no run's windows stand for all.
pub fn compare_plots(runs: &[(&str, &RunReport, &[OpSpan])]) -> Vec<Plot> {
    let same_faults = runs.windows(2).all(|w| w[0].1.faults == w[1].1.faults);
    let faults = match runs.first() {
        Some((_, r, _)) if same_faults => fault_windows(&r.faults),
        _ => Vec::new(),
    };
    let shaded = if faults.is_empty() { "" } else { ", fault windows shaded" };
    let end_ns = runs.iter().map(|(_, r, _)| ms_to_ns(r.sim_time_ms)).max().unwrap_or(0);
    let latencies: Vec<Vec<u64>> =
        runs.iter().map(|(_, _, spans)| ok_latencies_by_kind_ns(spans).into_values().flatten().collect()).collect();
    let cdf: Vec<(&str, &[u64])> = runs.iter().zip(&latencies).map(|((l, _, _), v)| (*l, v.as_slice())).collect();
    let series: Vec<(&str, &[OpSpan])> = runs.iter().map(|(l, _, spans)| (*l, *spans)).collect();
    vec![
        Plot {
            file: "latency-cdf.svg",
            title: "Latency CDF of ok operations, per run".into(),
            svg: latency_cdf_svg(&cdf),
        },
        Plot {
            file: "latency-over-time.svg",
            title: format!("Latency over time, per run{shaded}"),
            svg: latency_over_time_svg(&series, &faults, end_ns),
        },
        Plot {
            file: "throughput.svg",
            title: format!("Throughput over time, per run{shaded}"),
            svg: throughput_svg(&series, &faults, end_ns),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::{NodeId, SimTime};

    fn span(
        id: u32,
        process: &str,
        kind: OpKind,
        invoke_ms: u64,
        complete_ms: Option<u64>,
        status: OpStatus,
    ) -> OpSpan {
        OpSpan {
            id,
            process: process.into(),
            kind,
            keys: vec!["k1".into()],
            invoke_ns: invoke_ms * 1_000_000,
            complete_ns: complete_ms.map(|c| c * 1_000_000),
            status,
        }
    }

    fn fault(at_ms: f64, source: FaultSource, kind: &'static str, nodes: &[&str]) -> FaultReport {
        FaultReport {
            at_ms,
            source,
            kind,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            detail: format!("{kind} detail"),
        }
    }

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    }

    #[test]
    fn empty_data_draws_a_message_not_a_panic() {
        for svg in [
            latency_cdf_svg(&[]),
            latency_cdf_svg(&[("get", &[])]),
            latency_over_time_svg(&[("get", &[])], &[], 0),
            throughput_svg(&[], &[], 0),
            messages_svg(&[], &[], &[], 200),
            ops_timeline_svg("t", &[], &[1], 10),
            fault_timeline_svg(&[], 0),
        ] {
            well_formed(&svg);
        }
    }

    #[test]
    fn cdf_names_every_series_and_survives_one_point() {
        let gets = [1_000_000u64, 2_000_000, 5_000_000];
        let puts = [3_000_000u64];
        let svg = latency_cdf_svg(&[("get", &gets), ("put", &puts)]);
        well_formed(&svg);
        assert!(svg.contains("get (3 ops)") && svg.contains("put (1 ops)"), "{svg}");
        let one = latency_cdf_svg(&[("one", &[0])]);
        well_formed(&one);
        assert!(!one.contains("NaN") && !one.contains("inf"), "{one}");
        let instant = [span(0, "c1", OpKind::Get, 5, Some(5), OpStatus::Ok)];
        let svg = latency_over_time_svg(&[("get", &instant)], &[], 0);
        well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn fault_windows_pair_faults_and_are_shaded() {
        let faults = [
            fault(10.0, FaultSource::Schedule, "crash", &["s1"]),
            fault(20.0, FaultSource::Schedule, "partition", &["s2"]),
            fault(25.0, FaultSource::Nemesis, "partition", &["s3"]),
            fault(30.0, FaultSource::Schedule, "restart", &["s1"]),
            fault(35.0, FaultSource::Nemesis, "heal", &[]),
            fault(40.0, FaultSource::Schedule, "set-loss", &[]),
            fault(50.0, FaultSource::FinalHeal, "heal", &[]),
            fault(60.0, FaultSource::Nemesis, "pause", &["s4"]),
        ];
        let w = fault_windows(&faults);
        let got: Vec<(&str, u64, Option<u64>)> =
            w.iter().map(|f| (f.kind, f.start_ns / 1_000_000, f.end_ns.map(|e| e / 1_000_000))).collect();
        assert_eq!(
            got,
            [("crash", 10, Some(30)), ("partition", 20, Some(50)), ("partition", 25, Some(35)), ("pause", 60, None)]
        );
        let spans: Vec<OpSpan> =
            (0..50).map(|i| span(i, "c1", OpKind::Get, i as u64 * 2, Some(i as u64 * 2 + 1), OpStatus::Ok)).collect();
        for svg in [latency_over_time_svg(&[("get", &spans)], &w, 0), throughput_svg(&[("all", &spans)], &w, 0)] {
            well_formed(&svg);
            // The crash window's colour, translucent, as a filled rectangle.
            assert!(svg.contains("<rect") && svg.contains("#D62728") && svg.contains("opacity=\"0.15"), "{svg}");
            assert!(svg.contains("crash s1"));
        }
    }

    #[test]
    fn many_points_become_percentile_lines() {
        let spans: Vec<OpSpan> = (0..5000)
            .map(|i| span(i, "c1", OpKind::Put, i as u64, Some(i as u64 + 1 + (i as u64 % 7)), OpStatus::Ok))
            .collect();
        let svg = latency_over_time_svg(&[("put", &spans)], &[], 0);
        well_formed(&svg);
        assert!(svg.contains("put p50") && svg.contains("put p99"));
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
    }

    fn ev(at_ms: u64, kind: TraceKind, node: u32, peer: Option<u32>, label: &'static str) -> TraceEvent {
        TraceEvent {
            at: SimTime::from_ms(at_ms),
            kind,
            node: NodeId(node),
            peer: peer.map(NodeId),
            label,
            size_bytes: 0,
        }
    }

    #[test]
    fn message_diagram_draws_deliveries_drops_and_crashes() {
        let trace = [
            ev(1, TraceKind::Send, 0, Some(1), "Ping"),
            ev(1, TraceKind::Send, 0, Some(2), "Ping"),
            ev(1, TraceKind::Drop, 2, Some(0), "loss"),
            ev(2, TraceKind::Deliver, 1, Some(0), "Ping"),
            ev(3, TraceKind::Send, 1, Some(0), "Pong"),
            ev(5, TraceKind::Drop, 0, Some(1), "receiver-down"),
        ];
        let (a, total) = arrows(&trace, 3, 10);
        assert_eq!(total, 3);
        assert_eq!(a[0].fate, Fate::Delivered(2_000_000));
        assert_eq!(a[1].fate, Fate::Dropped(1_000_000, "loss"));
        assert_eq!(a[2].fate, Fate::Dropped(5_000_000, "receiver-down"));
        let names: Vec<String> = ["c1", "s1", "s2"].iter().map(|s| s.to_string()).collect();
        let crash = FaultWindow {
            kind: "crash",
            nodes: vec!["c1".into()],
            start_ns: 4_000_000,
            end_ns: None,
            detail: String::new(),
        };
        let svg = messages_svg(&trace, &names, &[crash], 10);
        well_formed(&svg);
        assert!(svg.contains("all 3"), "{svg}");
        assert!(
            svg.contains("Ping (loss)") && svg.contains("Pong (receiver-down)") && svg.contains("crashed"),
            "{svg}"
        );
        assert!(messages_svg(&trace, &names, &[], 2).contains("Messages: the first 2 ("));
    }

    #[test]
    fn ops_timeline_marks_the_violating_ops_and_bounds_the_rest() {
        let mut spans: Vec<OpSpan> = (0..100)
            .map(|i| {
                span(i, &format!("c{}", i % 3), OpKind::Get, i as u64 * 10, Some(i as u64 * 10 + 15), OpStatus::Ok)
            })
            .collect();
        spans.push(span(100, "c<1>", OpKind::Put, 500, None, OpStatus::Unknown));
        let mut elsewhere = span(101, "c1", OpKind::Put, 500, Some(501), OpStatus::Ok);
        elsewhere.keys = vec!["k2".into()];
        spans.push(elsewhere);
        let svg = ops_timeline_svg("key \"k1\"", &spans, &[50, 100], 20);
        well_formed(&svg);
        assert!(svg.contains("data-op=\"50\"") && svg.contains("data-op=\"100\""));
        assert_eq!(svg.matches("data-op=").count(), 20);
        assert_eq!(svg.matches("bar violating").count(), 2);
        assert!(svg.contains("c&lt;1&gt;") && !svg.contains("c<1>"));
        assert!(!svg.contains("data-op=\"0\""), "ops far from the violation are left out");
        assert!(!svg.contains("data-op=\"101\""), "ops on other keys are left out");
    }
}
