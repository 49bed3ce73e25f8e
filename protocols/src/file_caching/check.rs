//! The protocol's own checks, read from the client history and the
//! server's commits: close-to-open, stale reads with their age,
//! mixed-version reads, lost updates.
//!
//! Every check counts every anomaly it sees (`violation_count`, with
//! examples) and **fails only when the mode broke its own promise**:
//!
//! | check | nfs | afs | leases |
//! |---|---|---|---|
//! | `close_to_open` | promised | promised | promised |
//! | `stale_file_reads` | staleness up to `acregmax_ms` allowed | allowed while the reader's session opened before the newer version's close completed | none allowed |
//! | `mixed_version_reads` | not promised (counted only) | promised (whole files) | promised |
//! | `lost_updates` | last closer wins (counted only) | same | same |
//!
//! A "version" of a file is the server's state after one commit: one
//! NFS write or one AFS store. Values a client wrote itself and had not
//! yet committed when its read completed are its own and never count.
//! A remove counts as a commit of the initial contents to every block
//! (marked `removed`): what a re-created file holds, and never a lost
//! update of the writes it ended.

use super::params::Mode;
use super::server::Commit;
use crate::{Finding, ProtocolCheck};
use sim_core::{Key, NodeId, OpArg, OpKind, OpRecord, OpStatus, Output, SimTime, Value};
use std::collections::BTreeMap;

/// How checks and tables name nodes, files and values.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    pub nodes: &'a [String],
    pub keys: &'a BTreeMap<Key, String>,
    pub values: &'a BTreeMap<u64, String>,
}

impl Names<'_> {
    pub fn node(&self, n: NodeId) -> String {
        self.nodes.get(n.index()).cloned().unwrap_or_else(|| format!("node{}", n.0))
    }

    pub fn file(&self, k: Key) -> String {
        self.keys.get(&k).cloned().unwrap_or_else(|| format!("k{k}"))
    }

    pub fn value(&self, id: u64) -> String {
        match self.values.get(&id) {
            Some(n) => n.clone(),
            None if id == 0 => "initial".into(),
            None => id.to_string(),
        }
    }
}

/// What each check promises, per mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Promises {
    pub mode: Mode,
    pub acregmax_ms: u64,
}

/// The checks' numbers, which the report also carries for `[expect]`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CheckNumbers {
    pub sessions: u64,
    pub close_to_open_violations: u64,
    pub stale_file_reads: u64,
    pub stale_reads_beyond_promise: u64,
    pub stale_age_ms_max: f64,
    pub stale_age_ms_mean: f64,
    pub mixed_version_reads: u64,
    pub lost_updates: u64,
}

/// The four checks and their numbers.
pub struct Checked {
    pub checks: Vec<ProtocolCheck>,
    pub numbers: CheckNumbers,
}

/// One client's open..close of one file, as the history shows it.
#[derive(Clone, Debug)]
struct Session {
    client: NodeId,
    file: Key,
    open_ok: bool,
    open_at: SimTime,
    open_seq: u64,
    /// The close, if it completed ok: when, and its real-time position.
    closed: Option<(SimTime, u64)>,
    /// When the session ended for any reason (`None`: never).
    end: Option<SimTime>,
    reads: Vec<usize>,
    /// The last value written to each block.
    writes: BTreeMap<u32, Value>,
}

/// Where a value sits in a block's commit order: `-1` is the initial
/// contents (value id 0 at time zero).
type Pos = i64;

struct Commits<'a> {
    commits: &'a [Commit],
    /// (file, block) -> indices into `commits`, in commit order.
    per_block: BTreeMap<(Key, u32), Vec<usize>>,
}

impl<'a> Commits<'a> {
    fn new(commits: &'a [Commit]) -> Commits<'a> {
        let mut per_block: BTreeMap<(Key, u32), Vec<usize>> = BTreeMap::new();
        for (i, c) in commits.iter().enumerate() {
            per_block.entry((c.file, c.block)).or_default().push(i);
        }
        Commits { commits, per_block }
    }

    fn list(&self, f: Key, b: u32) -> &[usize] {
        self.per_block.get(&(f, b)).map_or(&[], Vec::as_slice)
    }

    fn at(&self, f: Key, b: u32, pos: Pos) -> SimTime {
        if pos < 0 { SimTime::ZERO } else { self.commits[self.list(f, b)[pos as usize]].at }
    }

    /// Every position of value `v` in block `b`'s order committed by `t`.
    fn positions(&self, f: Key, b: u32, v: u64, t: SimTime) -> Vec<Pos> {
        let mut out: Vec<Pos> = if v == 0 { vec![-1] } else { Vec::new() };
        for (i, &c) in self.list(f, b).iter().enumerate() {
            let c = &self.commits[c];
            if c.value.id == v && c.at <= t {
                out.push(i as Pos);
            }
        }
        out
    }

    /// The first commit after `pos` whose value differs from `v`.
    fn overwritten(&self, f: Key, b: u32, pos: Pos, v: u64) -> Option<&'a Commit> {
        let list = self.list(f, b);
        list[(pos + 1) as usize..].iter().map(|&i| &self.commits[i]).find(|c| c.value.id != v)
    }

    /// When the contents at `pos` stopped being current (`None`: never).
    fn end_of(&self, f: Key, b: u32, pos: Pos) -> Option<SimTime> {
        self.list(f, b).get((pos + 1) as usize).map(|&i| self.commits[i].at)
    }
}

/// The (block, value) pairs a read returned.
fn returned(r: &OpRecord) -> Vec<(u32, Value)> {
    match (&r.output, r.op.arg) {
        (Output::Value(v), OpArg::Block(b)) => vec![(b, *v)],
        (Output::Values(vs), _) => vs.iter().enumerate().map(|(i, v)| (i as u32, *v)).collect(),
        _ => Vec::new(),
    }
}

fn sessions_of(ops: &[OpRecord]) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut current: BTreeMap<(NodeId, Key), usize> = BTreeMap::new();
    for (i, r) in ops.iter().enumerate() {
        let k = (r.process, r.op.key);
        let start = |sessions: &mut Vec<Session>, ok: bool| {
            sessions.push(Session {
                client: r.process,
                file: r.op.key,
                open_ok: ok,
                open_at: r.invoke,
                open_seq: r.invoke_seq,
                closed: None,
                end: None,
                reads: Vec::new(),
                writes: BTreeMap::new(),
            });
            sessions.len() - 1
        };
        match r.op.kind {
            OpKind::Open => {
                let s = start(&mut sessions, r.status == Some(OpStatus::Ok));
                current.insert(k, s);
            }
            OpKind::Read | OpKind::ReadFile | OpKind::Write | OpKind::Close => {
                let s = match current.get(&k) {
                    Some(&s) => s,
                    None => {
                        let s = start(&mut sessions, false);
                        current.insert(k, s);
                        s
                    }
                };
                let sess = &mut sessions[s];
                match r.op.kind {
                    OpKind::Read | OpKind::ReadFile if r.status == Some(OpStatus::Ok) => sess.reads.push(i),
                    OpKind::Write if r.status != Some(OpStatus::Fail) => {
                        if let (OpArg::Block(b), Some(v)) = (r.op.arg, r.op.value) {
                            sess.writes.insert(b, v);
                        }
                    }
                    OpKind::Close => {
                        sess.end = Some(r.complete.unwrap_or(SimTime::MAX));
                        if r.status == Some(OpStatus::Ok) {
                            sess.closed = r.complete.zip(r.complete_seq);
                        }
                        current.remove(&k);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    sessions
}

/// The session of `client` on `file` that was open at `t`.
fn session_at(
    sessions: &[Session],
    by_owner: &BTreeMap<(NodeId, Key), Vec<usize>>,
    client: NodeId,
    file: Key,
    t: SimTime,
) -> Option<usize> {
    by_owner.get(&(client, file))?.iter().rev().copied().find(|&s| {
        let s = &sessions[s];
        s.open_at <= t && s.end.is_none_or(|e| t <= e)
    })
}

fn ms_of(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Runs the four checks over a history and the server's commits.
pub fn check(ops: &[OpRecord], commits: &[Commit], promises: Promises, names: &Names, max_examples: usize) -> Checked {
    let sessions = sessions_of(ops);
    let cm = Commits::new(commits);
    let mut by_owner: BTreeMap<(NodeId, Key), Vec<usize>> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        by_owner.entry((s.client, s.file)).or_default().push(i);
    }
    let mut numbers = CheckNumbers { sessions: sessions.len() as u64, ..CheckNumbers::default() };
    let c2o = close_to_open(ops, &sessions, &cm, names);
    numbers.close_to_open_violations = c2o.len() as u64;
    let (stale, beyond, ages) = stale_reads(ops, &sessions, &by_owner, &cm, promises, names);
    numbers.stale_file_reads = stale.len() as u64;
    numbers.stale_reads_beyond_promise = beyond;
    numbers.stale_age_ms_max = ages.iter().copied().fold(0.0, f64::max);
    numbers.stale_age_ms_mean = if ages.is_empty() { 0.0 } else { ages.iter().sum::<f64>() / ages.len() as f64 };
    let mixed = mixed_reads(ops, &cm, names);
    numbers.mixed_version_reads = mixed.len() as u64;
    let lost = lost_updates(&sessions, &by_owner, &cm, names);
    numbers.lost_updates = lost.len() as u64;
    let whole_files = promises.mode != Mode::Nfs;
    let checks = vec![
        judged("close_to_open", c2o, true, max_examples, vec![("sessions", sessions.len() as f64)]),
        judged_with(
            "stale_file_reads",
            stale,
            beyond == 0,
            max_examples,
            vec![
                ("stale_reads", numbers.stale_file_reads as f64),
                ("beyond_promise", beyond as f64),
                ("age_ms_max", numbers.stale_age_ms_max),
                ("age_ms_mean", numbers.stale_age_ms_mean),
            ],
        ),
        judged("mixed_version_reads", mixed, whole_files, max_examples, Vec::new()),
        judged("lost_updates", lost, false, max_examples, Vec::new()),
    ];
    Checked { checks, numbers }
}

/// A check that fails on any finding when `promised`, and otherwise only counts.
fn judged(
    name: &'static str,
    findings: Vec<Finding>,
    promised: bool,
    max_examples: usize,
    numbers: Vec<(&'static str, f64)>,
) -> ProtocolCheck {
    let ok = findings.is_empty() || !promised;
    judged_with(name, findings, ok, max_examples, numbers)
}

fn judged_with(
    name: &'static str,
    mut findings: Vec<Finding>,
    passed: bool,
    max_examples: usize,
    numbers: Vec<(&'static str, f64)>,
) -> ProtocolCheck {
    let violation_count = findings.len() as u64;
    // Findings that broke the promise first, so examples show them.
    findings.sort_by_key(|f| !f.kind.ends_with("beyond-promise"));
    findings.truncate(max_examples);
    ProtocolCheck { name, passed: Some(passed), reason: None, violation_count, examples: findings, numbers }
}

/// A client that opens a file after another client's close of it
/// completed reads, until its own close, at least what that close wrote.
fn close_to_open(ops: &[OpRecord], sessions: &[Session], cm: &Commits, names: &Names) -> Vec<Finding> {
    // Per file: closes and opens in real-time order.
    let mut events: BTreeMap<Key, Vec<(u64, bool, usize)>> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        if let Some((_, seq)) = s.closed {
            events.entry(s.file).or_default().push((seq, true, i));
        }
        if s.open_ok {
            events.entry(s.file).or_default().push((s.open_seq, false, i));
        }
    }
    let mut findings = Vec::new();
    for (file, mut evs) in events {
        evs.sort();
        // Per block: the newest position some completed close requires,
        // and that close's session.
        let mut required: BTreeMap<u32, (Pos, usize)> = BTreeMap::new();
        for (_, is_close, s) in evs {
            let sess = &sessions[s];
            if is_close {
                let (t, _) = sess.closed.expect("a close event has a close");
                for (&b, v) in &sess.writes {
                    if let Some(&pos) = cm.positions(file, b, v.id, t).last() {
                        let e = required.entry(b).or_insert((pos, s));
                        if pos > e.0 {
                            *e = (pos, s);
                        }
                    }
                }
                continue;
            }
            for &r in &sess.reads {
                let rec = &ops[r];
                let done = rec.complete.unwrap_or(SimTime::MAX);
                let bad = returned(rec).into_iter().find_map(|(b, v)| {
                    let &(need, closer) = required.get(&b)?;
                    let positions = cm.positions(file, b, v.id, done);
                    // Uncommitted: the reader's own write.
                    let got = *positions.last()?;
                    (got < need).then_some((b, v, need, closer))
                });
                if let Some((b, v, need, closer)) = bad {
                    let c = &sessions[closer];
                    let want = cm.commits[cm.list(file, b)[need as usize]].value;
                    findings.push(Finding {
                        kind: "close-to-open",
                        ops: vec![rec.id.0],
                        nodes: vec![sess.client, c.client],
                        at: rec.invoke,
                        message: format!(
                            "{} opened {} at {:.3} ms, after {}'s close completed at {:.3} ms, but its read at {:.3} ms \
                             returned block {b} = {} instead of {} or newer",
                            names.node(sess.client),
                            names.file(file),
                            sess.open_at.as_ms_f64(),
                            names.node(c.client),
                            c.closed.map_or(0.0, |(t, _)| t.as_ms_f64()),
                            rec.invoke.as_ms_f64(),
                            names.value(v.id),
                            names.value(want.id),
                        ),
                    });
                }
            }
        }
    }
    findings
}

/// Reads that returned a block value already replaced at the server
/// when the read began, with how long before.
fn stale_reads(
    ops: &[OpRecord],
    sessions: &[Session],
    by_owner: &BTreeMap<(NodeId, Key), Vec<usize>>,
    cm: &Commits,
    promises: Promises,
    names: &Names,
) -> (Vec<Finding>, u64, Vec<f64>) {
    let mut findings = Vec::new();
    let mut beyond = 0;
    let mut ages = Vec::new();
    for (si, sess) in sessions.iter().enumerate() {
        for &r in &sess.reads {
            let rec = &ops[r];
            let f = rec.op.key;
            let done = rec.complete.unwrap_or(SimTime::MAX);
            // The oldest block of the read decides its age.
            let mut worst: Option<(u64, u32, Value, &Commit)> = None;
            for (b, v) in returned(rec) {
                let Some(&pos) = cm.positions(f, b, v.id, done).last() else { continue };
                let Some(next) = cm.overwritten(f, b, pos, v.id) else { continue };
                if next.at < rec.invoke {
                    let age = rec.invoke.since(next.at);
                    if worst.is_none_or(|w| age > w.0) {
                        worst = Some((age, b, v, next));
                    }
                }
            }
            let Some((age, b, v, next)) = worst else { continue };
            let breaks = match promises.mode {
                Mode::Nfs => age > sim_core::ms(promises.acregmax_ms),
                Mode::Leases => true,
                // Session semantics: only a version whose close completed
                // before this session opened had to be seen.
                Mode::Afs => session_at(sessions, by_owner, next.client, f, next.at)
                    .and_then(|w| sessions[w].closed)
                    .is_some_and(|(_, seq)| seq < sessions[si].open_seq),
            };
            if breaks {
                beyond += 1;
            }
            ages.push(ms_of(age));
            findings.push(Finding {
                kind: if breaks { "stale-beyond-promise" } else { "stale-within-promise" },
                ops: vec![rec.id.0],
                nodes: vec![rec.process, next.client],
                at: rec.invoke,
                message: format!(
                    "{}'s read of {} at {:.3} ms returned block {b} = {}, replaced by {}'s {} {:.3} ms earlier{}",
                    names.node(rec.process),
                    names.file(f),
                    rec.invoke.as_ms_f64(),
                    names.value(v.id),
                    names.node(next.client),
                    names.value(next.value.id),
                    ms_of(age),
                    match (breaks, promises.mode) {
                        (false, Mode::Nfs) => " (allowed: within acregmax)",
                        (false, _) => " (allowed: session semantics)",
                        (true, _) => " (beyond what the mode promises)",
                    },
                ),
            });
        }
    }
    (findings, beyond, ages)
}

/// Intersects two sorted lists of half-open intervals.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(s1, e1) in a {
        for &(s2, e2) in b {
            let (s, e) = (s1.max(s2), e1.min(e2));
            if s < e {
                out.push((s, e));
            }
        }
    }
    out
}

/// Whole-file reads whose blocks were never all current together.
fn mixed_reads(ops: &[OpRecord], cm: &Commits, names: &Names) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rec in ops.iter().filter(|r| r.op.kind == OpKind::ReadFile && r.status == Some(OpStatus::Ok)) {
        let f = rec.op.key;
        let done = rec.complete.unwrap_or(SimTime::MAX);
        let mut common: Option<Vec<(u64, u64)>> = None;
        for (b, v) in returned(rec) {
            let spans: Vec<(u64, u64)> = cm
                .positions(f, b, v.id, done)
                .into_iter()
                .map(|p| (cm.at(f, b, p).as_nanos(), cm.end_of(f, b, p).map_or(u64::MAX, SimTime::as_nanos)))
                .collect();
            if spans.is_empty() {
                continue;
            }
            common = Some(match common {
                None => spans,
                Some(c) => intersect(&c, &spans),
            });
        }
        if common.is_some_and(|c| c.is_empty()) {
            let blocks: Vec<String> = returned(rec).iter().map(|(b, v)| format!("{b}={}", names.value(v.id))).collect();
            findings.push(Finding {
                kind: "mixed-version",
                ops: vec![rec.id.0],
                nodes: vec![rec.process],
                at: rec.invoke,
                message: format!(
                    "{}'s read of all of {} at {:.3} ms returned [{}]: no version of the file ever held them all",
                    names.node(rec.process),
                    names.file(f),
                    rec.invoke.as_ms_f64(),
                    blocks.join(", ")
                ),
            });
        }
    }
    findings
}

/// Writes of a closed session that another client's concurrent session
/// replaced: the last closer wins, and the other session's work is gone.
fn lost_updates(
    sessions: &[Session],
    by_owner: &BTreeMap<(NodeId, Key), Vec<usize>>,
    cm: &Commits,
    names: &Names,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for s in sessions {
        let Some((closed_at, _)) = s.closed else { continue };
        // Overwriting session (or none: a write outside any session) -> blocks.
        let mut lost: BTreeMap<Option<usize>, (NodeId, Vec<u32>)> = BTreeMap::new();
        for (&b, v) in &s.writes {
            let Some(&pos) = cm.positions(s.file, b, v.id, closed_at).last() else { continue };
            let Some(next) = cm.overwritten(s.file, b, pos, v.id) else { continue };
            // A removal ends the file rather than overwriting its
            // writes: nothing was lost to a concurrent writer.
            if next.client == s.client || next.removed {
                continue;
            }
            let other = session_at(sessions, by_owner, next.client, s.file, next.at);
            if other.is_none_or(|o| sessions[o].open_at < closed_at) {
                lost.entry(other).or_insert((next.client, Vec::new())).1.push(b);
            }
        }
        for (other, (by, blocks)) in lost {
            let by_what = match other {
                Some(o) => format!(
                    "{}'s concurrent session (opened at {:.3} ms{})",
                    names.node(by),
                    sessions[o].open_at.as_ms_f64(),
                    sessions[o].closed.map_or(String::new(), |(t, _)| format!(", closed at {:.3} ms", t.as_ms_f64()))
                ),
                None => format!("a write of {} outside any session", names.node(by)),
            };
            findings.push(Finding {
                kind: "lost-update",
                ops: Vec::new(),
                nodes: vec![s.client, by],
                at: closed_at,
                message: format!(
                    "{}'s writes to {} block(s) {:?} (session opened at {:.3} ms, closed at {:.3} ms) were overwritten \
                     by {by_what}: the last closer wins",
                    names.node(s.client),
                    names.file(s.file),
                    blocks,
                    s.open_at.as_ms_f64(),
                    closed_at.as_ms_f64(),
                ),
            });
        }
    }
    findings
}
