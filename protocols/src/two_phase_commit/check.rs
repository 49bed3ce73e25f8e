//! The protocol's own checks: atomicity, conservation and isolation.
//!
//! They read the history and an [`Evidence`]: what every node decided and
//! applied (instrumentation that survives crashes, as a trace would), the
//! order in which values were committed to each key, and the final
//! balances. Evidence is plain data, so tests can build it by hand.

use super::msg::{Outcome, TxnId};
use super::{Node, Topology, accounts};
use crate::{Finding, ProtocolCheck};
use sim_core::{History, Key, NodeId, NodeStatus, OpKind, OpStatus, Output, Sim, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// What the checks know about a finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// Accounts `0..accounts`, each starting at `initial_balance`.
    pub accounts: u64,
    pub initial_balance: i64,
    /// Every decision any coordinator or participant reached, as
    /// (node, transaction, outcome, when).
    pub decisions: Vec<(NodeId, TxnId, Outcome, SimTime)>,
    /// The participants of each transaction.
    pub participants: BTreeMap<TxnId, Vec<NodeId>>,
    /// Transactions applied at each participant.
    pub applied: BTreeMap<NodeId, BTreeSet<TxnId>>,
    /// Transactions each participant holds prepared and in doubt at the end.
    pub in_doubt: BTreeMap<NodeId, BTreeSet<TxnId>>,
    /// The transaction behind each answered operation (history index).
    pub txn_of_op: BTreeMap<u32, TxnId>,
    /// Every account's final balance, or why it cannot be known.
    pub final_balances: Result<Vec<i64>, String>,
    /// Per key, the ids of the values committed to it, in commit order.
    pub key_versions: BTreeMap<Key, Vec<u64>>,
}

impl Evidence {
    /// The total that conservation promises.
    pub fn total(&self) -> i64 {
        (self.accounts as i64).saturating_mul(self.initial_balance)
    }
}

/// Collects the evidence of a finished run.
pub fn evidence(sim: &Sim<Node>) -> Evidence {
    let nodes = sim.actors();
    let names = sim.names();
    let mut ev = Evidence {
        accounts: accounts(sim.workload()),
        initial_balance: 0,
        decisions: Vec::new(),
        participants: BTreeMap::new(),
        applied: BTreeMap::new(),
        in_doubt: BTreeMap::new(),
        txn_of_op: BTreeMap::new(),
        final_balances: Ok(Vec::new()),
        key_versions: BTreeMap::new(),
    };
    let mut topo = Topology { coordinators: 0, participants: 0, clients: 0, accounts: ev.accounts };
    let mut balances_known: Result<(), String> = Ok(());
    for (i, n) in nodes.iter().enumerate() {
        let id = NodeId(i as u32);
        match n {
            Node::Coordinator(c) => {
                topo.coordinators += 1;
                ev.decisions.extend(c.stats.decisions.iter().map(|&(t, o, at)| (id, t, o, at)));
                ev.participants.extend(c.stats.participants.iter().map(|(t, ps)| (*t, ps.clone())));
            }
            Node::Participant(p) => {
                topo.participants += 1;
                ev.initial_balance = p.initial_balance();
                ev.decisions.extend(p.stats.decisions.iter().map(|&(t, o, at)| (id, t, o, at)));
                ev.applied.insert(id, p.stats.applied.clone());
                let doubt: BTreeSet<TxnId> = p.in_doubt().collect();
                if balances_known.is_ok() {
                    if sim.status(id) == NodeStatus::Down {
                        balances_known = Err(format!("{} is down at the end", names[i]));
                    } else if !doubt.is_empty() {
                        balances_known =
                            Err(format!("{} holds {} transactions in doubt at the end", names[i], doubt.len()));
                    }
                }
                ev.in_doubt.insert(id, doubt);
                for (k, vs) in &p.stats.key_versions {
                    ev.key_versions.entry(*k).or_default().extend(vs);
                }
            }
            Node::Client(c) => ev.txn_of_op.extend(c.stats.txn_of_op.iter().map(|(o, t)| (*o, *t))),
        }
    }
    ev.decisions.sort_by_key(|d| (d.3, d.0, d.1));
    ev.final_balances = balances_known.map(|()| {
        (0..ev.accounts)
            .map(|k| match &nodes[topo.participant_of(k).index()] {
                Node::Participant(p) => p.balance(k),
                _ => unreachable!("participant_of names a participant"),
            })
            .collect()
    });
    ev
}

/// Runs the three checks.
pub fn checks(sim: &Sim<Node>, names: &[String], max_examples: usize) -> Vec<ProtocolCheck> {
    let ev = evidence(sim);
    let h = sim.history();
    vec![
        atomicity(&ev, h, names, max_examples),
        conservation(&ev, h, names, max_examples),
        isolation(&ev, h, names, max_examples),
    ]
}

fn name(names: &[String], n: NodeId) -> String {
    names.get(n.index()).cloned().unwrap_or_else(|| format!("node{}", n.0))
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Commit => "commit",
        Outcome::Abort => "abort",
    }
}

/// Atomicity: every node that decided a transaction decided the same; a
/// committed transaction is applied at each of its participants (or still
/// in doubt there), an aborted one at none; a client's `ok` means commit
/// and its `fail` abort.
pub fn atomicity(ev: &Evidence, history: &History, names: &[String], max_examples: usize) -> ProtocolCheck {
    let mut findings = Vec::new();
    let mut by_txn: BTreeMap<TxnId, Vec<(NodeId, Outcome, SimTime)>> = BTreeMap::new();
    for &(n, t, o, at) in &ev.decisions {
        by_txn.entry(t).or_default().push((n, o, at));
    }
    let mut committed = 0u64;
    let mut aborted = 0u64;
    for (txn, ds) in &by_txn {
        let commits: Vec<&(NodeId, Outcome, SimTime)> = ds.iter().filter(|d| d.1 == Outcome::Commit).collect();
        let aborts: Vec<&(NodeId, Outcome, SimTime)> = ds.iter().filter(|d| d.1 == Outcome::Abort).collect();
        if !commits.is_empty() {
            committed += 1;
        } else {
            aborted += 1;
        }
        if let (Some(c), Some(a)) = (commits.first(), aborts.first()) {
            findings.push(Finding {
                kind: "split-decision",
                ops: Vec::new(),
                nodes: vec![c.0, a.0],
                at: c.2.max(a.2),
                message: format!(
                    "transaction {}/{}: {} decided commit but {} decided abort",
                    txn.coordinator,
                    txn.seq,
                    name(names, c.0),
                    name(names, a.0)
                ),
            });
        }
        if let Some(c) = commits.first() {
            for &p in ev.participants.get(txn).map(Vec::as_slice).unwrap_or_default() {
                let applied = ev.applied.get(&p).is_some_and(|s| s.contains(txn));
                let doubt = ev.in_doubt.get(&p).is_some_and(|s| s.contains(txn));
                if !applied && !doubt {
                    findings.push(Finding {
                        kind: "partial-commit",
                        ops: Vec::new(),
                        nodes: vec![c.0, p],
                        at: c.2,
                        message: format!(
                            "transaction {}/{} committed ({} decided so) but participant {} never applied it and \
                             is not waiting for it",
                            txn.coordinator,
                            txn.seq,
                            name(names, c.0),
                            name(names, p)
                        ),
                    });
                }
            }
        }
    }
    for r in &history.ops {
        let Some(txn) = ev.txn_of_op.get(&r.id.0) else { continue };
        let ds = by_txn.get(txn).map(Vec::as_slice).unwrap_or_default();
        let wrong = match r.status {
            Some(OpStatus::Ok) => Outcome::Abort,
            Some(OpStatus::Fail) => Outcome::Commit,
            _ => continue,
        };
        if let Some(d) = ds.iter().find(|d| d.1 == wrong) {
            let status = r.status.map_or("pending", OpStatus::name);
            findings.push(Finding {
                kind: if wrong == Outcome::Abort { "ok-but-aborted" } else { "fail-but-committed" },
                ops: vec![r.id.0],
                nodes: vec![r.process, d.0],
                at: d.2,
                message: format!(
                    "{} {} of {} ended {status}, but {} decided {}",
                    r.op.kind.name(),
                    r.id.0,
                    name(names, r.process),
                    name(names, d.0),
                    outcome_name(d.1)
                ),
            });
        }
    }
    let in_doubt: BTreeSet<&TxnId> = ev.in_doubt.values().flatten().collect();
    ProtocolCheck::from_findings(
        "atomicity",
        findings,
        max_examples,
        vec![
            ("transactions", by_txn.len() as f64),
            ("committed", committed as f64),
            ("aborted", aborted as f64),
            ("in_doubt", in_doubt.len() as f64),
        ],
    )
}

/// Audits that returned `ok` whose balances do not sum to the total.
fn bad_audits(ev: &Evidence, history: &History, names: &[String], kind: &'static str) -> Vec<Finding> {
    let total = ev.total();
    let mut out = Vec::new();
    for r in history.ops.iter().filter(|r| r.op.kind == OpKind::Audit && r.status == Some(OpStatus::Ok)) {
        let Output::Numbers(ns) = &r.output else { continue };
        let sum = ns.iter().fold(0i64, |a, b| a.saturating_add(*b));
        if sum != total {
            out.push(Finding {
                kind,
                ops: vec![r.id.0],
                nodes: vec![r.process],
                at: r.complete.unwrap_or(r.invoke),
                message: format!("audit {} of {} saw a total of {sum}, not {total}", r.id.0, name(names, r.process)),
            });
        }
    }
    out
}

/// Conservation: the final balances, when knowable, and every committed
/// audit sum to `accounts x initial_balance`.
pub fn conservation(ev: &Evidence, history: &History, names: &[String], max_examples: usize) -> ProtocolCheck {
    let mut findings = bad_audits(ev, history, names, "audit-total");
    let total = ev.total();
    let final_total = ev.final_balances.as_ref().ok().map(|bs| bs.iter().fold(0i64, |a, b| a.saturating_add(*b)));
    if let Some(sum) = final_total
        && sum != total
    {
        findings.push(Finding {
            kind: "total-changed",
            ops: Vec::new(),
            nodes: Vec::new(),
            at: history.ops.iter().filter_map(|r| r.complete).max().unwrap_or(SimTime::ZERO),
            message: format!(
                "the balances sum to {sum} at the end, not {total} ({} accounts x {})",
                ev.accounts, ev.initial_balance
            ),
        });
    }
    let mut numbers = vec![("expected_total", total as f64)];
    if let Some(sum) = final_total {
        numbers.push(("final_total", sum as f64));
    }
    match (&ev.final_balances, findings.is_empty()) {
        (Err(reason), true) => {
            let mut c = ProtocolCheck::undecided(
                "conservation",
                format!("the final total is not knowable: {reason} (committed audits all sum to {total})"),
            );
            c.numbers = numbers;
            c
        }
        _ => ProtocolCheck::from_findings("conservation", findings, max_examples, numbers),
    }
}

/// Isolation: a committed audit sees the conserved total; a committed read
/// sees only committed values, and a multi-get sees all or none of each
/// multi-put whose keys it read (a key it saw without that put's value must
/// hold a value committed after it).
pub fn isolation(ev: &Evidence, history: &History, names: &[String], max_examples: usize) -> ProtocolCheck {
    let mut findings = bad_audits(ev, history, names, "audit-inconsistent");
    // The keys each multi-put wrote, by its value's id.
    let mut puts: BTreeMap<u64, (u32, Vec<Key>)> = BTreeMap::new();
    for r in history.ops.iter().filter(|r| r.op.kind == OpKind::MultiPut) {
        if let Some(v) = r.op.value {
            puts.insert(v.id, (r.id.0, r.op.keys().collect()));
        }
    }
    // Position of a value in a key's commit order (0: never written).
    let position = |k: Key, id: u64| -> Option<usize> {
        if id == 0 {
            return Some(0);
        }
        ev.key_versions.get(&k).and_then(|vs| vs.iter().position(|&v| v == id)).map(|p| p + 1)
    };
    let mut reads = 0u64;
    for r in history.ops.iter().filter(|r| r.status == Some(OpStatus::Ok)) {
        let seen: Vec<(Key, u64)> = match (&r.output, r.op.kind) {
            (Output::Values(vs), OpKind::MultiGet) => r.op.keys().zip(vs.iter().map(|v| v.id)).collect(),
            (Output::Value(v), OpKind::Get) => vec![(r.op.key, v.id)],
            _ => continue,
        };
        reads += 1;
        let at = r.complete.unwrap_or(r.invoke);
        for &(k, id) in &seen {
            if position(k, id).is_none() {
                findings.push(Finding {
                    kind: "dirty-read",
                    ops: vec![r.id.0],
                    nodes: vec![r.process],
                    at,
                    message: format!("read {} saw value {id} of key {k}, which was never committed there", r.id.0),
                });
            }
        }
        let mut judged = BTreeSet::new();
        for &(_, id) in &seen {
            let Some((put_op, put_keys)) = puts.get(&id) else { continue };
            if !judged.insert(id) {
                continue;
            }
            for &(k, other) in seen.iter().filter(|(k, _)| put_keys.contains(k)) {
                if other == id {
                    continue;
                }
                let older = match (position(k, other), position(k, id)) {
                    (Some(o), Some(p)) => o < p,
                    // The put never reached this key: whatever was read
                    // there misses it.
                    (_, None) => true,
                    (None, Some(_)) => false,
                };
                if older {
                    findings.push(Finding {
                        kind: "fractured-read",
                        ops: vec![r.id.0, *put_op],
                        nodes: vec![r.process],
                        at,
                        message: format!(
                            "multi_get {} of {} saw multi_put {}'s value {id} but, at key {k}, the older value \
                             {other}",
                            r.id.0,
                            name(names, r.process),
                            put_op
                        ),
                    });
                }
            }
        }
    }
    ProtocolCheck::from_findings("isolation", findings, max_examples, vec![("reads_checked", reads as f64)])
}
