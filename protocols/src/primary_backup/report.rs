//! The protocol's account of a run: the views over time, failover times,
//! unavailability windows, state transfers and what servers filtered or
//! refused.

use super::check::PrimaryReply;
use super::viewserver::ViewRecord;
use super::{Node, Server};
use sim_core::fault::FaultRecord;
use sim_core::{History, NodeId, OpStatus, SimTime};
use std::fmt::Write;

/// The report's numbers, usable in `[expect]` as `<name>_min` / `_max`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PbCounters {
    /// Views the view server started (the first included).
    pub views: u64,
    /// View changes after the first view.
    pub view_changes: u64,
    pub final_view: u64,
    /// Crashes of the current primary.
    pub primary_crashes: u64,
    /// Of those, the ones after which no primary ever replied again.
    pub failovers_unrecovered: u64,
    /// The longest failover: from a primary's crash to the next reply any
    /// primary sent a client (0 if none recovered).
    pub failover_time_ms: f64,
    pub failover_time_ms_mean: f64,
    /// Stretches longer than `client_timeout_ms` in which operations were
    /// waiting and none succeeded.
    pub unavailability_windows: u64,
    pub unavailable_ms: f64,
    pub unavailability_longest_ms: f64,
    pub state_transfers: u64,
    pub state_transfer_messages: u64,
    pub state_transfer_bytes: u64,
    pub duplicates_filtered: u64,
    pub rejected_requests: u64,
    pub forwards_sent: u64,
    pub forwards_rejected: u64,
}

/// One view, for the timeline.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ViewEntry {
    pub view: u64,
    pub at_ms: f64,
    pub primary: String,
    pub backup: String,
    /// When the primary acknowledged it (none: never).
    pub acked_at_ms: Option<f64>,
}

/// A primary's crash and the service's recovery from it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Failover {
    pub primary: String,
    pub crashed_at_ms: f64,
    /// The first reply any primary sent after the crash.
    pub served_again_at_ms: Option<f64>,
    pub failover_ms: Option<f64>,
}

/// A stretch in which operations waited and none succeeded.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Window {
    pub from_ms: f64,
    pub to_ms: f64,
    pub length_ms: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PbReport {
    #[serde(flatten)]
    pub counters: PbCounters,
    pub view_timeline: Vec<ViewEntry>,
    pub failovers: Vec<Failover>,
    pub windows: Vec<Window>,
    /// The view timeline as text, for the summary.
    pub table: String,
}

fn name(names: &[String], n: Option<NodeId>) -> String {
    n.and_then(|n| names.get(n.index()).cloned()).unwrap_or_else(|| "-".to_string())
}

fn ms_between(a: SimTime, b: SimTime) -> f64 {
    b.since(a) as f64 / 1e6
}

/// Gathers the report. `threshold_ns` is the shortest stretch without
/// success that counts as unavailability; `end` is when the run ended.
pub fn report(
    nodes: &[Node],
    history: &History,
    faults: &[FaultRecord],
    names: &[String],
    threshold_ns: u64,
    end: SimTime,
) -> PbReport {
    let log: &[ViewRecord] = super::view_log(nodes);
    let servers: Vec<&Server> = super::servers_of(nodes).collect();
    let mut c = PbCounters { views: log.len() as u64, ..PbCounters::default() };
    c.view_changes = c.views.saturating_sub(1);
    c.final_view = log.last().map_or(0, |r| r.view.num);
    for s in &servers {
        let k = s.counters();
        c.state_transfers += k.state_transfers;
        c.state_transfer_messages += k.state_transfer_messages;
        c.state_transfer_bytes = c.state_transfer_bytes.saturating_add(k.state_transfer_bytes);
        c.duplicates_filtered += k.duplicates_filtered;
        c.rejected_requests += k.rejected_requests;
        c.forwards_sent += k.forwards_sent;
        c.forwards_rejected += k.forwards_rejected;
    }
    let mut replies: Vec<PrimaryReply> = servers.iter().flat_map(|s| s.replies().iter().copied()).collect();
    replies.sort_by_key(|r| r.at);

    let failovers = failovers(log, &replies, faults, names);
    c.primary_crashes = failovers.len() as u64;
    let times: Vec<f64> = failovers.iter().filter_map(|f| f.failover_ms).collect();
    c.failovers_unrecovered = (failovers.len() - times.len()) as u64;
    c.failover_time_ms = times.iter().copied().fold(0.0, f64::max);
    c.failover_time_ms_mean = if times.is_empty() { 0.0 } else { times.iter().sum::<f64>() / times.len() as f64 };

    let windows = windows(history, threshold_ns, end);
    c.unavailability_windows = windows.len() as u64;
    c.unavailable_ms = windows.iter().map(|w| w.length_ms).sum();
    c.unavailability_longest_ms = windows.iter().map(|w| w.length_ms).fold(0.0, f64::max);

    let view_timeline: Vec<ViewEntry> = log
        .iter()
        .map(|r| ViewEntry {
            view: r.view.num,
            at_ms: r.at.as_ms_f64(),
            primary: name(names, r.view.primary),
            backup: name(names, r.view.backup),
            acked_at_ms: r.acked_at.map(SimTime::as_ms_f64),
        })
        .collect();
    let mut table = String::from("view  started_ms  primary  backup  acked_ms\n");
    for v in &view_timeline {
        let acked = v.acked_at_ms.map_or("-".to_string(), |a| format!("{a:.3}"));
        let _ = writeln!(table, "{:>4}  {:>10.3}  {:<7}  {:<6}  {acked}", v.view, v.at_ms, v.primary, v.backup);
    }
    for f in &failovers {
        let after = f.failover_ms.map_or("never served again".to_string(), |m| format!("served again after {m:.3} ms"));
        let _ = writeln!(table, "primary {} crashed at {:.3} ms: {after}", f.primary, f.crashed_at_ms);
    }
    for w in &windows {
        let _ = writeln!(table, "unavailable {:.3}..{:.3} ms ({:.3} ms)", w.from_ms, w.to_ms, w.length_ms);
    }
    PbReport { counters: c, view_timeline, failovers, windows, table }
}

/// Every crash of the server that was primary of the newest view started
/// by then, with the first reply any primary sent after it.
fn failovers(log: &[ViewRecord], replies: &[PrimaryReply], faults: &[FaultRecord], names: &[String]) -> Vec<Failover> {
    let mut out = Vec::new();
    for f in faults.iter().filter(|f| f.kind == "crash") {
        let Some(current) = log.iter().rev().find(|r| r.at <= f.at) else { continue };
        let Some(primary) = current.view.primary.filter(|p| f.nodes.contains(p)) else { continue };
        let next = replies.iter().find(|r| r.at > f.at).map(|r| r.at);
        out.push(Failover {
            primary: name(names, Some(primary)),
            crashed_at_ms: f.at.as_ms_f64(),
            served_again_at_ms: next.map(SimTime::as_ms_f64),
            failover_ms: next.map(|t| ms_between(f.at, t)),
        });
    }
    out
}

/// Stretches in which at least one operation was pending and none
/// succeeded, longer than `threshold_ns`. A stretch starts when an
/// operation is invoked with none pending, or at a success with others
/// still pending; it ends at the next success, or when nothing is pending
/// any more (operations failed or were given up), or at the end of the run.
fn windows(history: &History, threshold_ns: u64, end: SimTime) -> Vec<Window> {
    // (real-time position, time, +1 invoke / 0 failed end / 2 success)
    let mut events: Vec<(u64, SimTime, u8)> = Vec::with_capacity(history.ops.len() * 2);
    for r in &history.ops {
        events.push((r.invoke_seq, r.invoke, 1));
        if let (Some(seq), Some(at)) = (r.complete_seq, r.complete) {
            events.push((seq, at, if r.status == Some(OpStatus::Ok) { 2 } else { 0 }));
        }
    }
    events.sort_by_key(|e| e.0);
    let mut out = Vec::new();
    let mut close = |from: SimTime, to: SimTime| {
        if to.since(from) > threshold_ns {
            out.push(Window { from_ms: from.as_ms_f64(), to_ms: to.as_ms_f64(), length_ms: ms_between(from, to) });
        }
    };
    let mut pending = 0u64;
    let mut start = SimTime::ZERO;
    for (_, at, kind) in events {
        match kind {
            1 => {
                if pending == 0 {
                    start = at;
                }
                pending += 1;
            }
            _ => {
                pending -= 1;
                if kind == 2 {
                    close(start, at);
                    start = at;
                } else if pending == 0 {
                    close(start, at);
                }
            }
        }
    }
    if pending > 0 {
        close(start, end);
    }
    out
}
