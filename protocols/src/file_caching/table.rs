//! The per-operation table: one row per operation, one column per client,
//! each cell naming the operation and the calls it made to the server
//! (or `cache` when it made none), as in the classroom tables that
//! compare NFS and AFS step by step.

use super::check::Names;
use super::client::OpLine;
use super::server::BreakFact;
use sim_core::{NodeId, OpArg, OpId, OpKind, OpRecord, Output};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Most operations a run may have for the table to be drawn.
pub const MAX_TABLE_OPS: usize = 200;
/// Most clients (columns) a drawn table may have.
pub const MAX_TABLE_CLIENTS: usize = 8;

/// One operation, as the JSON report lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TableRow {
    pub time_ms: f64,
    pub client: String,
    pub op: String,
    pub file: String,
    pub block: Option<u32>,
    pub status: &'static str,
    /// What the operation returned (value names, or stat numbers).
    pub result: String,
    /// Calls to the server in the order made; `(retry)` marks
    /// retransmissions, `callback_break->c2` the breaks a store caused.
    pub rpcs: Vec<String>,
    pub from_cache: bool,
}

/// The rows (when the run is small enough), and the text table or a
/// sentence saying why there is none.
pub fn build(
    ops: &[OpRecord],
    lines: &BTreeMap<OpId, &OpLine>,
    breaks: &[BreakFact],
    clients: &[NodeId],
    names: &Names,
) -> (Vec<TableRow>, String) {
    if ops.len() > MAX_TABLE_OPS {
        let note = format!(
            "per-operation table omitted: {} operations (it is drawn for runs of at most {MAX_TABLE_OPS})\n",
            ops.len()
        );
        return (Vec::new(), note);
    }
    let mut caused: BTreeMap<(NodeId, u64), Vec<(NodeId, bool)>> = BTreeMap::new();
    for b in breaks {
        caused.entry(b.cause).or_default().push((b.to, b.lease));
    }
    let rows: Vec<TableRow> = ops.iter().map(|r| row(r, lines.get(&r.id).copied(), &caused, names)).collect();
    if clients.len() > MAX_TABLE_CLIENTS {
        let note = format!(
            "per-operation table omitted from the text: {} clients (drawn for at most {MAX_TABLE_CLIENTS}); see \
             ops_table in the JSON report\n",
            clients.len()
        );
        return (rows, note);
    }
    let cells: Vec<(usize, String)> = ops
        .iter()
        .zip(&rows)
        .map(|(r, row)| {
            let col = clients.iter().position(|c| *c == r.process).unwrap_or(0);
            (col, cell(row))
        })
        .collect();
    let mut widths: Vec<usize> = clients.iter().map(|c| names.node(*c).len()).collect();
    for (col, text) in &cells {
        widths[*col] = widths[*col].max(text.chars().count());
    }
    let mut out = String::new();
    let _ = writeln!(out, "operations (calls each made to the server; cache = none):");
    let mut header = format!("{:>10}", "time ms");
    for (i, c) in clients.iter().enumerate() {
        let _ = write!(header, "  {:<w$}", names.node(*c), w = widths[i]);
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for ((col, text), row) in cells.iter().zip(&rows) {
        let mut line = format!("{:>10.3}", row.time_ms);
        for (i, w) in widths.iter().enumerate() {
            let _ = write!(line, "  {:<w$}", if i == *col { text.as_str() } else { "" }, w = *w);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    (rows, out)
}

fn cell(row: &TableRow) -> String {
    let target = match row.block {
        Some(b) => format!("{} {} b{b}", row.op, row.file),
        None => format!("{} {}", row.op, row.file),
    };
    let what = if row.status != "ok" && row.rpcs.is_empty() {
        row.status.to_string()
    } else if row.from_cache {
        "cache".to_string()
    } else {
        compress(&row.rpcs)
    };
    let status = if row.status == "ok" || row.rpcs.is_empty() { String::new() } else { format!(" [{}]", row.status) };
    let result = if row.result.is_empty() { String::new() } else { format!(" -> {}", row.result) };
    format!("{target}: {what}{status}{result}")
}

/// "read, read, read" becomes "read x3".
fn compress(rpcs: &[String]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for r in rpcs {
        match parts.last_mut() {
            Some((last, n)) if last == r => *n += 1,
            _ => parts.push((r.clone(), 1)),
        }
    }
    parts.into_iter().map(|(r, n)| if n > 1 { format!("{r} x{n}") } else { r }).collect::<Vec<_>>().join(", ")
}

fn row(
    r: &OpRecord,
    line: Option<&OpLine>,
    caused: &BTreeMap<(NodeId, u64), Vec<(NodeId, bool)>>,
    names: &Names,
) -> TableRow {
    let mut rpcs = Vec::new();
    for c in line.map_or(&[][..], |l| l.calls.as_slice()) {
        rpcs.push(if c.retry { format!("{} (retry)", c.kind) } else { c.kind.to_string() });
        if !c.retry
            && let Some(to) = caused.get(&(r.process, c.xid))
        {
            rpcs.extend(to.iter().map(|(t, lease)| {
                let kind = if *lease { "lease_recall" } else { "callback_break" };
                format!("{kind}->{}", names.node(*t))
            }));
        }
    }
    let result = match (&r.output, r.op.kind) {
        (Output::Value(v), _) => names.value(v.id),
        (Output::Values(vs), _) => format!("[{}]", vs.iter().map(|v| names.value(v.id)).collect::<Vec<_>>().join(", ")),
        (Output::Numbers(n), _) => format!("{n:?}"),
        (Output::Nothing, OpKind::Write) => {
            r.op.value.map(|v| format!("wrote {}", names.value(v.id))).unwrap_or_default()
        }
        (Output::Nothing, _) => String::new(),
    };
    TableRow {
        time_ms: r.invoke.as_ms_f64(),
        client: names.node(r.process),
        op: r.op.kind.name().to_string(),
        file: names.file(r.op.key),
        block: match r.op.arg {
            OpArg::Block(b) => Some(b),
            _ => None,
        },
        status: r.status.map_or("pending", |s| s.name()),
        result,
        from_cache: line.is_some_and(|l| l.calls.is_empty()),
        rpcs,
    }
}
