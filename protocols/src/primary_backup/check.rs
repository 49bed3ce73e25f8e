//! The protocol's own checks, and the facts servers record for them.
//!
//! Servers record what they did, as instrumentation that survives their
//! crashes: every client reply they sent as primary (with the view and the
//! backup's acknowledgement) and every put they applied to their state
//! (with how many times that state has now applied the request). The
//! checks read those facts and the view server's log after the run; they
//! are plain functions of them, so tests can feed them hand-built facts.

use super::msg::ReqId;
use super::viewserver::ViewRecord;
use crate::Finding;
use sim_core::{NodeId, SimTime};
use std::collections::{BTreeMap, BTreeSet};

pub const ONE_PRIMARY_PER_VIEW: &str = "one_primary_per_view";
pub const AT_MOST_ONCE: &str = "at_most_once";

/// The backup's acknowledgement a primary replied on: who gave it, and the
/// view the backup was in when it did.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ack {
    pub by: NodeId,
    pub view: u64,
}

/// A successful reply a server sent to a client as primary of `view`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrimaryReply {
    pub at: SimTime,
    pub server: NodeId,
    pub view: u64,
    pub id: ReqId,
    /// `None`: replied without a backup's acknowledgement (no backup in the
    /// view, a duplicate answered from the filter, or the reply-before-ack
    /// bug).
    pub ack: Option<Ack>,
}

/// A put applied to a server's state; `count` is how many times that
/// state has now applied the request (its first application gives 1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub at: SimTime,
    pub server: NodeId,
    pub view: u64,
    pub id: ReqId,
    pub count: u32,
}

fn name(names: &[String], n: NodeId) -> String {
    names.get(n.index()).cloned().unwrap_or_else(|| format!("node{}", n.0))
}

/// A request id as people read it: client, incarnation, request number.
pub fn request_name(names: &[String], id: ReqId) -> String {
    let boot = id.req >> 40;
    let seq = id.req & ((1 << 40) - 1);
    format!("{}#{boot}.{seq}", name(names, id.client))
}

/// At most one server acts as primary per view, and no two act at once.
///
/// Acting means replying successfully to a client. Three findings:
/// - `two-primaries`: two servers replied as primary of the same view;
/// - `unnamed-primary`: a server replied as primary of a view whose
///   primary, in the view server's log, is another server;
/// - `stale-primary`: a server replied as primary of view v on an
///   acknowledgement its backup gave while already in a later view w whose
///   primary is another server. Then the two were acting as primary at the
///   same moment: the later view's primary could already serve, and the
///   stale one still did. (A correct backup acknowledges only in its own
///   view, so this is the precise form of "overlapping primaries".)
pub fn one_primary_per_view(replies: &[PrimaryReply], views: &[ViewRecord], names: &[String]) -> Vec<Finding> {
    let primary_of: BTreeMap<u64, Option<NodeId>> = views.iter().map(|r| (r.view.num, r.view.primary)).collect();
    let mut findings = Vec::new();
    let mut first_by: BTreeMap<u64, BTreeMap<NodeId, SimTime>> = BTreeMap::new();
    for r in replies {
        first_by.entry(r.view).or_default().entry(r.server).or_insert(r.at);
    }
    for (view, servers) in &first_by {
        if servers.len() > 1 {
            let at = servers.values().copied().max().unwrap_or(SimTime::ZERO);
            let list: Vec<String> = servers.keys().map(|&n| name(names, n)).collect();
            findings.push(Finding {
                kind: "two-primaries",
                ops: Vec::new(),
                nodes: servers.keys().copied().collect(),
                at,
                message: format!("{} all replied to clients as primary of view {view}", list.join(", ")),
            });
        }
        for (&server, &at) in servers {
            if let Some(Some(named)) = primary_of.get(view).filter(|p| **p != Some(server)) {
                findings.push(Finding {
                    kind: "unnamed-primary",
                    ops: Vec::new(),
                    nodes: vec![server, *named],
                    at,
                    message: format!(
                        "{} replied as primary of view {view}, whose primary is {}",
                        name(names, server),
                        name(names, *named)
                    ),
                });
            }
        }
    }
    for r in replies {
        let Some(ack) = r.ack.filter(|a| a.view > r.view) else { continue };
        let Some(Some(later)) = primary_of.get(&ack.view).filter(|p| **p != Some(r.server)) else { continue };
        findings.push(Finding {
            kind: "stale-primary",
            ops: Vec::new(),
            nodes: vec![r.server, *later],
            at: r.at,
            message: format!(
                "{} replied to {} as primary of view {} on an acknowledgement from {}, already in view {} whose \
                 primary is {}: two primaries acting at once",
                name(names, r.server),
                request_name(names, r.id),
                r.view,
                name(names, ack.by),
                ack.view,
                name(names, *later)
            ),
        });
    }
    findings.sort_by_key(|f| f.at);
    findings
}

/// No request is applied twice to the same state: every application's
/// count is 1.
pub fn at_most_once(applies: &[Applied], names: &[String]) -> Vec<Finding> {
    applies
        .iter()
        .filter(|a| a.count > 1)
        .map(|a| Finding {
            kind: "applied-twice",
            ops: Vec::new(),
            nodes: vec![a.server, a.id.client],
            at: a.at,
            message: format!(
                "{} applied request {} for the {}th time to its state (view {})",
                name(names, a.server),
                request_name(names, a.id),
                a.count,
                a.view
            ),
        })
        .collect()
}

/// Numbers the checks report alongside their verdicts.
pub fn numbers(replies: &[PrimaryReply], applies: &[Applied], views: &[ViewRecord]) -> [Vec<(&'static str, f64)>; 2] {
    let requests: BTreeSet<ReqId> = applies.iter().map(|a| a.id).collect();
    [
        vec![("primary_replies", replies.len() as f64), ("views", views.len() as f64)],
        vec![("applications", applies.len() as f64), ("requests_applied", requests.len() as f64)],
    ]
}
