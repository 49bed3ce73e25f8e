//! # Chord: a distributed hash table on an identifier ring
//!
//! Nodes and keys share one identifier space, the integers modulo 2^m
//! (m = 160 by default, with SHA-1; small m such as 3 or 6 for classroom
//! rings). A node's identifier is SHA-1 of its name (`n1`, ...) modulo
//! 2^m, or is given in the scenario (`node_ids`) so a textbook figure can
//! be rebuilt exactly; a key's identifier is SHA-1 of its name (`k17`).
//! Key k belongs to its **successor**: the first node whose identifier is
//! equal to or follows k clockwise.
//!
//! ## Lookups
//!
//! Each node n keeps a **finger table**: finger i (0 <= i < m) is
//! successor(n + 2^i), so the fingers halve the distance to any target.
//! To find successor(k), a node whose successor follows k answers with
//! that successor; otherwise the query moves to the **closest preceding
//! finger**, the known node closest to k without passing it. Each step at
//! least halves the remaining distance, so a lookup takes O(log N) hops,
//! about ½·log2 N on average. Every step is a message through the
//! simulated network:
//!
//! - **iterative** (`lookup_style = "iterative"`): the client asks each
//!   node in turn; a node answers with the owner or with up to three
//!   referrals, best first, and the client routes around a silent one by
//!   asking the next referral, or restarts at another node;
//! - **recursive**: each node forwards the query; the last one answers the
//!   client. A lost query is retried from another start node after
//!   `request_timeout_ms`.
//!
//! A client starts each lookup at a random chord node (one outside the
//! ring says so, and the client tries another; so it does after a silent
//! one). It gives up after four attempts that reached the ring, or
//! sixteen start nodes that were outside it or silent. The **hop count** of a lookup is the number of times it moved
//! from one node to the next (0 when the first node asked knew the
//! owner). A `lookup` operation's history output is
//! `Value { id: <the owner's node index: 0 for n1>, size_bytes: 0 }`.
//!
//! ## Ring maintenance
//!
//! - **join**: a node asks any known node (an initial one) to look up its
//!   own identifier, and takes the answer as its successor. Nobody else
//!   knows it yet.
//! - **stabilize** (every `stabilize_interval_ms`): a node asks its
//!   successor for its predecessor and successor list; a predecessor that
//!   lies between them becomes the new successor; the node adopts its
//!   successor's list (after the successor itself, r entries) and
//!   **notifies** its successor, which takes it as predecessor if it is
//!   closer than the one it has. A successor that does not answer within
//!   `request_timeout_ms` is dropped and the next entry of the **successor
//!   list** (length r, `successor_list_len`) takes over; with r = 1 the
//!   node falls back on its nearest finger and the ring is broken until
//!   stabilisation walks back.
//! - **fix_fingers** (every `fix_fingers_interval_ms`): a node refreshes
//!   its next finger with a lookup, and every following finger whose start
//!   precedes the answer too (fingers that fall before the successor need
//!   no message). Nodes look up recursively for themselves.
//! - **check_predecessor** (every `check_predecessor_interval_ms`): a
//!   predecessor that does not answer a ping is forgotten.
//! - **graceful leave**: the node gives its keys to its successor and
//!   tells its predecessor and successor about each other.
//!
//! `bootstrap = "stable"` starts every initial node with the true ring
//! (successors, predecessor, fingers): cheap for thousands of nodes.
//! `bootstrap = "join"` starts n1 alone and has n2..nN join through it,
//! one a millisecond.
//!
//! ## Storage (DHash style)
//!
//! A put goes to the key's owner as found by the lookup, which stores it
//! with a stamp (its clock, the value id) and copies it to its first
//! `replicas` (k) successors; the newer stamp wins wherever copies meet. A
//! get reads the owner's copy. When a node takes a new predecessor it
//! sends it the keys it now owns (the **key transfer** of a join) and
//! keeps its copies as replicas. Whenever a node's predecessor or first k
//! successors change (a join, a leave, a failure detected), it pushes the
//! keys it owns to its k successors: **re-replication**, which restores
//! k + 1 copies after a crash.
//!
//! ## Churn and failures
//!
//! `spare_nodes` chord nodes start outside the ring and join at
//! `join_rate_per_s` in total (each waits an exponential time at rate
//! join_rate_per_s / spare_nodes); ring members leave gracefully at
//! `leave_rate_per_s` in total (rate per node: leave_rate_per_s / nodes),
//! and a node that left joins again like a spare. Failures at a rate are
//! the engine's nemesis: `[[faults.nemesis]] kind = "crash"` with
//! `interval_ms = { dist = "exponential", mean = ... }` crashes a random
//! node at exponential intervals; a crashed node loses its tables and
//! stored values, and on restart joins again from scratch.
//!
//! ## What the report says
//!
//! Each lookup is judged against the **true ring at its completion time**,
//! reconstructed from the nodes' own join and leave records and the
//! engine's fault log (a node is in the ring from the moment its join
//! returned a successor until it leaves or crashes): a lookup that returns
//! another node is a **wrong owner**; one that gives up is a **failure**.
//! Right after a join or a failure the true ring and the nodes' pointers
//! disagree for a few stabilisation rounds, so some wrong answers are
//! inherent in Chord, not bugs. The report gives the hop histogram and
//! mean, keys per node over the workload's key space in the final ring
//! (mean, 99th percentile, max), maintenance traffic, and each node's
//! successor, predecessor, successor list and finger table (as runs of
//! equal fingers) at the end and at each `snapshot_at_ms`, as JSON and as
//! a readable `table`.
//!
//! ## What it does not do
//!
//! - Values live in memory only: a crashed node's copies are gone, and
//!   only the replicas keep a key alive. k + 1 simultaneous failures of a
//!   key's consecutive nodes lose it.
//! - No consistency promise: a get reads one copy, and a get right after a
//!   join may reach a new owner before its key transfer arrives. Puts race
//!   by owner clock (last writer wins).
//! - Recursive lookups do not learn which hop failed: a query lost at a
//!   dead node is retried from the start. Nodes drop a finger only when
//!   their own finger lookup through it times out.
//! - No virtual nodes, no proximity routing, no security against
//!   malicious nodes.
//!
//! # References
//!
//! - I. Stoica, R. Morris, D. Karger, M. F. Kaashoek, H. Balakrishnan.
//!   *Chord: A Scalable Peer-to-peer Lookup Service for Internet
//!   Applications*. SIGCOMM 2001. §4.2 (consistent hashing), §4.3
//!   (finger tables, Figure 3's m = 3 ring, `find_successor`,
//!   `closest_preceding_finger`), §4.4 and Figure 7 (join, stabilize,
//!   notify, fix_fingers, check_predecessor), §4.4 (successor lists,
//!   failures, voluntary departures), §6 (path length ½·log2 N).
//! - F. Dabek et al. *Wide-area cooperative storage with CFS*. SOSP 2001
//!   (DHash: storing at the successor, replicas on the next k).
//! - FIPS 180-4, *Secure Hash Standard* (SHA-1).

mod client;
mod id;
mod msg;
mod node;
mod params;

pub use client::{Client, LookupRecord};
pub use id::{Id, MAX_BITS, sha1};
pub use msg::{HEADER_BYTES, Msg, Peer, Stored, Timer};
pub use node::{ChordNode, FingerRun, NodeCounters, NodeState};
pub use params::{Bootstrap, IdSpec, LookupStyle, PARAM_DOCS, ParamError, Params};

use serde::Serialize;
use sim_core::fault::FaultRecord;
use sim_core::{Actor, Ctx, Key, NodeId, NodeSpec, Op, OpId, OpKind, SimTime, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// One line for `dsim list`.
pub const SUMMARY: &str = "Chord DHT: finger tables, iterative or recursive lookups hop by hop, join/stabilize/notify/\
     fix_fingers, successor lists, churn, DHash storage with k replicas";

/// The operations clients can run.
pub const OPS: &[OpKind] = &[OpKind::Lookup, OpKind::Get, OpKind::Put];

/// Rows of the readable table before it stops listing nodes.
const TABLE_ROWS: usize = 64;

/// The name of chord node `i` (0-based): `n1`, `n2`, ...
pub fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The id of chord node `i`: chord nodes come first.
pub fn node_id(i: usize) -> NodeId {
    NodeId(u32::try_from(i).expect("too many nodes"))
}

/// The ids of the clients of a deployment built by [`build`].
pub fn client_ids(params: &Params, nodes: usize, clients: usize) -> Vec<NodeId> {
    let chord = nodes + params.spare_nodes as usize;
    (0..clients).map(|c| node_id(chord + c)).collect()
}

/// The identifier of key `key` on a ring of 2^m: SHA-1 of its name.
pub fn key_id(key: Key, m: u32) -> Id {
    Id::hash(format!("k{key}").as_bytes(), m)
}

/// A node of a Chord deployment.
#[derive(Clone, Debug)]
pub enum Node {
    /// Boxed: a node's tables are several times a client's state.
    Chord(Box<ChordNode>),
    Client(Client),
}

/// The nodes of a deployment: chord nodes "n1".."nN" then the spares
/// (all role `chord`), then clients "c1".."cM" (role `client`).
pub fn build(params: &Params, nodes: usize, clients: usize) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(nodes) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let ids = params.ids(nodes).expect("validated");
    let all: Arc<Vec<Peer>> =
        Arc::new(ids.iter().enumerate().map(|(i, id)| Peer { id: *id, node: node_id(i) }).collect());
    let shared = Arc::new(params.clone());
    let mut ring: Vec<Peer> = all[..nodes].to_vec();
    ring.sort();
    let mut out = Vec::with_capacity(all.len() + clients);
    for i in 0..all.len() {
        let mut n = ChordNode::new(shared.clone(), i, all.clone(), nodes);
        if params.bootstrap == Bootstrap::Stable && i < nodes {
            n.preset(&ring);
        }
        out.push(NodeSpec { name: node_name(i), role: "chord".into(), actor: Node::Chord(Box::new(n)) });
    }
    for i in 1..=clients {
        out.push(NodeSpec {
            name: format!("c{i}"),
            role: "client".into(),
            actor: Node::Client(Client::new(shared.clone(), all.clone())),
        });
    }
    out
}

fn chord_nodes(nodes: &[Node]) -> impl Iterator<Item = &ChordNode> {
    nodes.iter().filter_map(|n| match n {
        Node::Chord(c) => Some(&**c),
        Node::Client(_) => None,
    })
}

/// The members of the ring as the nodes end the run, sorted by identifier.
pub fn final_ring(nodes: &[Node]) -> Vec<Peer> {
    let mut ring: Vec<Peer> = chord_nodes(nodes)
        .enumerate()
        .filter(|(_, c)| c.is_member())
        .map(|(i, c)| Peer { id: c.id(), node: node_id(i) })
        .collect();
    ring.sort();
    ring
}

/// The true successor of `x` among `ring` (sorted by identifier).
pub fn successor_of(ring: &[Peer], x: Id) -> Option<Peer> {
    (!ring.is_empty()).then(|| node::successor_in(ring, x))
}

/// The store's replicas at the end of a run: for every key any node
/// holds, its owner in the final ring and the owner's next k members, with
/// the value each holds (none if it holds nothing).
pub fn final_replicas(nodes: &[Node], params: &Params) -> Vec<(NodeId, Key, Vec<Value>)> {
    let ring = final_ring(nodes);
    let chord: Vec<&ChordNode> = chord_nodes(nodes).collect();
    let held: Vec<BTreeMap<Key, Value>> = chord.iter().map(|c| c.stored().collect()).collect();
    let keys: std::collections::BTreeSet<Key> = held.iter().flat_map(|h| h.keys().copied()).collect();
    let copies = (params.replicas as usize + 1).min(ring.len());
    let mut out = Vec::new();
    for key in keys {
        let target = key_id(key, params.m);
        let first = ring.partition_point(|p| p.id < target);
        for k in 0..copies {
            let p = ring[(first + k) % ring.len()];
            let values = held[p.node.index()].get(&key).map(|v| vec![*v]).unwrap_or_default();
            out.push((p.node, key, values));
        }
    }
    out
}

/// Flat numbers of the report, usable in `[expect]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChordCounters {
    pub lookups: u64,
    pub lookups_correct: u64,
    pub lookup_failures: u64,
    pub lookup_wrong_owner: u64,
    pub hops_mean: f64,
    pub hops_max: u64,
    pub hops_p99: u64,
    pub ring_size_end: u64,
    pub keys_per_node_mean: f64,
    pub keys_per_node_p99: u64,
    pub keys_per_node_max: u64,
    pub stabilize_messages: u64,
    pub check_predecessor_messages: u64,
    pub fix_finger_lookups: u64,
    pub maintenance_messages: u64,
    pub joins: u64,
    pub leaves: u64,
    pub keys_transferred: u64,
    pub replication_messages: u64,
    pub successor_failovers: u64,
    pub nodes_with_wrong_successor_end: u64,
    pub nodes_with_wrong_fingers_end: u64,
}

/// The state of every node at one time.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub at_ms: f64,
    pub nodes: Vec<NodeState>,
}

/// What the protocol adds to a run's report.
#[derive(Clone, Debug, Serialize)]
pub struct ChordReport {
    #[serde(flatten)]
    pub counters: ChordCounters,
    /// Lookups by hop count.
    pub hop_histogram: BTreeMap<u32, u64>,
    /// Every chord node at the end of the run, in node order.
    pub nodes: Vec<NodeState>,
    pub snapshots: Vec<Snapshot>,
    /// The final state (and snapshots) as a readable table.
    pub table: String,
}

/// When each chord node was in the ring: its join/leave records, with
/// each interval cut short by the first crash the fault log shows in it.
fn membership(chord: &[&ChordNode], faults: &[FaultRecord]) -> Vec<Vec<(SimTime, SimTime)>> {
    let mut crashes: Vec<Vec<SimTime>> = vec![Vec::new(); chord.len()];
    for f in faults.iter().filter(|f| f.kind == "crash") {
        for n in &f.nodes {
            if let Some(c) = crashes.get_mut(n.index()) {
                c.push(f.at);
            }
        }
    }
    chord
        .iter()
        .zip(&crashes)
        .map(|(c, crashed)| {
            c.memberships
                .iter()
                .map(|&(from, to)| {
                    let crash = crashed.iter().copied().find(|t| *t >= from).unwrap_or(SimTime::MAX);
                    (from, to.unwrap_or(SimTime::MAX).min(crash))
                })
                .collect()
        })
        .collect()
}

/// The protocol's report: lookups judged against the true ring at their
/// completion, hops, load, maintenance traffic and every node's tables.
/// `faults` is the run's fault log; `key_space` the workload's keys.
pub fn report(nodes: &[Node], faults: &[FaultRecord], key_space: u64, params: &Params) -> ChordReport {
    let chord: Vec<&ChordNode> = chord_nodes(nodes).collect();
    let member = membership(&chord, faults);
    let mut by_id: Vec<(Id, usize)> = chord.iter().enumerate().map(|(i, c)| (c.id(), i)).collect();
    by_id.sort();
    let mut c = ChordCounters::default();
    let mut hist: BTreeMap<u32, u64> = BTreeMap::new();
    let mut hops_total = 0u64;
    for n in nodes {
        let Node::Client(cl) = n else { continue };
        for l in cl.lookups() {
            c.lookups += 1;
            let Some(owner) = l.owner else {
                c.lookup_failures += 1;
                continue;
            };
            *hist.entry(l.hops).or_default() += 1;
            hops_total += l.hops as u64;
            c.hops_max = c.hops_max.max(l.hops as u64);
            let live = |i: usize| member[i].iter().any(|&(a, b)| a <= l.completed && l.completed < b);
            let start = by_id.partition_point(|(id, _)| *id < l.target);
            let truth = (0..by_id.len()).map(|k| by_id[(start + k) % by_id.len()].1).find(|&i| live(i));
            if truth == Some(owner.index()) {
                c.lookups_correct += 1;
            } else {
                c.lookup_wrong_owner += 1;
            }
        }
    }
    let answered: u64 = hist.values().sum();
    if answered > 0 {
        c.hops_mean = hops_total as f64 / answered as f64;
        let rank = (answered * 99).div_ceil(100);
        let mut seen = 0;
        for (h, n) in &hist {
            seen += n;
            if seen >= rank {
                c.hops_p99 = *h as u64;
                break;
            }
        }
    }
    let ring = final_ring(nodes);
    c.ring_size_end = ring.len() as u64;
    if !ring.is_empty() {
        let mut load: BTreeMap<NodeId, u64> = ring.iter().map(|p| (p.node, 0)).collect();
        for key in 0..key_space {
            let owner = node::successor_in(&ring, key_id(key, params.m));
            *load.entry(owner.node).or_default() += 1;
        }
        let mut loads: Vec<u64> = load.into_values().collect();
        loads.sort_unstable();
        c.keys_per_node_mean = key_space as f64 / ring.len() as f64;
        c.keys_per_node_max = loads.last().copied().unwrap_or(0);
        let idx = (loads.len() * 99).div_ceil(100).saturating_sub(1);
        c.keys_per_node_p99 = loads[idx.min(loads.len() - 1)];
    }
    for n in &chord {
        let k = n.counters();
        c.stabilize_messages += k.stabilize_messages;
        c.check_predecessor_messages += k.check_predecessor_messages;
        c.fix_finger_lookups += k.fix_finger_lookups;
        c.maintenance_messages += k.maintenance_messages + k.fix_finger_lookups;
        c.joins += k.joins;
        c.leaves += k.leaves;
        c.keys_transferred += k.keys_transferred;
        c.replication_messages += k.replication_messages;
        c.successor_failovers += k.successor_failovers;
    }
    for n in chord.iter().filter(|n| n.is_member()) {
        let (wrong_succ, wrong_fingers) = tables_vs_truth(n, &ring, params.m);
        c.nodes_with_wrong_successor_end += wrong_succ as u64;
        c.nodes_with_wrong_fingers_end += wrong_fingers as u64;
    }
    let states: Vec<NodeState> = chord.iter().map(|n| n.state()).collect();
    let mut times: Vec<SimTime> = chord.iter().flat_map(|n| n.snapshots.iter().map(|(t, _)| *t)).collect();
    times.sort();
    times.dedup();
    let snapshots: Vec<Snapshot> = times
        .into_iter()
        .map(|t| Snapshot {
            at_ms: t.as_ms_f64(),
            nodes: chord
                .iter()
                .filter_map(|n| n.snapshots.iter().find(|(at, _)| *at == t).map(|(_, s)| s.clone()))
                .collect(),
        })
        .collect();
    let mut table = String::new();
    for s in &snapshots {
        render_table(&mut table, &format!("at {} ms", s.at_ms), &s.nodes);
    }
    render_table(&mut table, "at the end", &states);
    ChordReport { counters: c, hop_histogram: hist, nodes: states, snapshots, table }
}

/// Whether `n`'s successor, and any of its fingers, differ from a direct
/// computation over `ring` (the live members, sorted by identifier).
pub fn tables_vs_truth(n: &ChordNode, ring: &[Peer], m: u32) -> (bool, bool) {
    let Some(succ) = successor_of(ring, n.id().add(Id::from_u128(1), m)) else { return (false, false) };
    let wrong_succ = n.successors().first().map(|p| p.node) != Some(succ.node);
    let wrong_fingers = n.fingers().iter().enumerate().any(|(i, f)| {
        let want = successor_of(ring, n.id().add(Id::pow2(i as u32), m)).map(|p| p.node);
        f.map(|p| p.node) != want
    });
    (wrong_succ, wrong_fingers)
}

fn render_table(out: &mut String, title: &str, states: &[NodeState]) {
    let _ = writeln!(out, "ring {title}:");
    let _ = writeln!(out, "  {:<6} {:>12} {:<6} {:<6} {:<24} fingers", "node", "id", "pred", "succ", "successors");
    let mut rows: Vec<&NodeState> = states.iter().filter(|s| s.member).collect();
    rows.sort_by_key(|s| s.id);
    for s in rows.iter().take(TABLE_ROWS) {
        let fingers: Vec<String> = s
            .fingers
            .iter()
            .map(|f| {
                let node = f.node.as_deref().unwrap_or("?");
                if f.first == f.last { format!("{}:{node}", f.first) } else { format!("{}-{}:{node}", f.first, f.last) }
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:<6} {:>12} {:<6} {:<6} {:<24} {}",
            s.node,
            s.id.to_string(),
            s.predecessor.as_deref().unwrap_or("-"),
            s.successors.first().map_or("-", String::as_str),
            s.successors.join(","),
            fingers.join(" ")
        );
    }
    if rows.len() > TABLE_ROWS {
        let _ = writeln!(out, "  ... {} more members (see `nodes` in the JSON report)", rows.len() - TABLE_ROWS);
    }
    let outside = states.len() - rows.len();
    if outside > 0 {
        let _ = writeln!(out, "  ({outside} chord nodes outside the ring)");
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Chord(c) = self {
            c.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Chord(c) => c.on_message(ctx, from, msg),
            Node::Client(c) => c.on_message(ctx, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Chord(c) => c.on_timer(ctx, timer),
            Node::Client(c) => c.on_timer(ctx, timer),
        }
    }

    fn on_client_op(&mut self, ctx: &mut Ctx<'_, Self>, id: OpId, op: Op) {
        match self {
            Node::Client(c) => c.on_client_op(ctx, id, op),
            Node::Chord(_) => panic!("client operation {id:?} sent to chord node {:?}", ctx.me()),
        }
    }

    fn on_crash(&mut self) {
        match self {
            Node::Chord(c) => c.on_crash(),
            Node::Client(c) => c.on_crash(),
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Node::Chord(c) = self {
            c.on_recover(ctx);
        }
    }

    fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        if let Node::Chord(c) = self {
            out.extend(c.stored());
        }
    }
}
