//! # A quorum-replicated key-value store (Dynamo)
//!
//! **Servers** hold the data and coordinate requests; **clients** run gets
//! and puts. There is no master: every server knows the ring, any server
//! can coordinate any request, and each operation succeeds when enough of
//! the key's replicas answer. It is the store of Amazon's Dynamo paper
//! (and of Riak, Cassandra and Voldemort after it), and the setting of the
//! classic N/R/W table: how many copies, how many to read, how many to
//! write, and what each choice buys.
//!
//! ## Placement: consistent hashing with virtual nodes
//!
//! Each server owns `tokens_per_node` positions (tokens) on a ring of 2^64
//! positions; a key sits at the hash of its id. Walking clockwise from the
//! key, the first `n` distinct servers met are the key's **home replicas**;
//! walking on gives every other server once, and the whole walk is the
//! key's **preference list**. Several tokens per server (virtual nodes)
//! split the ring into many short arcs, so each server's share of the keys
//! is close to 1/servers; with one token per server the arcs, and the
//! loads, differ widely. The report gives keys per node to compare. The
//! hash is FNV-1a followed by MurmurHash3's finaliser, written in
//! `ring.rs` (std's hasher may change between releases and move every key).
//!
//! ## Coordinators and quorums
//!
//! A client sends each request to a random server (`coordinator = random`,
//! a load balancer) or to the key's first home replica (`owner`, a
//! partition-aware client). The coordinator:
//!
//! - **put**: stamps the value with a version (below), sends it to the
//!   key's replicas, and answers `ok` once `w` of them have made it durable
//!   (each replica writes and syncs before acknowledging). If fewer than
//!   `w` replicas are believed alive it refuses at once (`fail`: nothing
//!   was written); if `w` acknowledgements do not come within
//!   `replica_timeout_ms` it answers that the put failed, which the client
//!   records as `unknown`, because some replicas may hold it.
//! - **get**: asks the replicas for their versions, merges the first `r`
//!   replies (newest timestamp, or every version no other supersedes) and
//!   answers with the result; too few replies in time and the get fails.
//!
//! A coordinator that is itself a replica reads and writes its own copy
//! without the network. A get with blocking read repair (below) also needs
//! `w` replicas believed alive, or it is refused at once. The client has
//! its own `request_timeout_ms`: a put still pending then ends `unknown`, a
//! get `fail`; the client then avoids that coordinator for `suspect_ms`
//! (choosing among the other servers, or the next server of the preference
//! list in `owner` mode), as a load balancer's health check would. It never
//! retries an operation itself.
//!
//! ## Strict and sloppy quorums, hinted handoff
//!
//! With a **strict** quorum only the `n` home replicas count. With a
//! **sloppy** quorum the coordinator uses the first `n` servers of the
//! preference list it does not suspect: when home replicas are down, the
//! next servers clockwise stand in. Each stand-in stores the write as a
//! **hint** naming the home replica it replaces, durably, apart from its
//! own data, and every `hinted_handoff_interval_ms` offers its hints to
//! their home replicas; a hint is dropped once the home replica
//! acknowledged exactly what it holds. A put whose replicas stay silent for
//! `replica_timeout_ms` is sent on to the next live servers of the
//! preference list. Stand-ins answer reads with their hints too. Sloppy
//! quorums keep puts available when home replicas are down, but a read
//! quorum of home replicas that came back before their hints did can miss
//! acknowledged writes: `sloppy-stale.toml` shows it.
//!
//! ## Versions: last writer wins, or vector clocks with siblings
//!
//! - **Last writer wins** (`lww`): the coordinator stamps a put with its
//!   clock reading and its id (a reading it already used is bumped by a
//!   nanosecond); of two versions the larger stamp survives.
//!   With `clock_skew_ms = 0` every server reads the engine's one virtual
//!   clock, so a put invoked after another completed always gets a larger
//!   stamp. With skew, each server's clock is off by a fixed amount drawn
//!   once from `[-skew, +skew]`, and a put coordinated by a server whose
//!   clock runs behind loses to an older put: the newer value silently
//!   disappears. That is why LWW needs synchronised clocks.
//! - **Vector clocks** (`vector_clocks`): a version carries one counter
//!   per writer. A get returns every version no other descends from (more
//!   than one: **siblings**) and a **context**, the merge of their clocks.
//!   The client keeps, per key, what it has seen: the contexts of its gets
//!   merged with the clocks of its own puts. It sends its next put of the
//!   key with that context advanced by its own entry, so the put
//!   supersedes exactly what the client saw; a put of a key the client
//!   never read (a blind put) has only the client's own entry and becomes
//!   a sibling of whatever it did not see. The context is volatile: after
//!   a client crash its puts are blind. Reconciling siblings is the client's job: here its
//!   next put simply replaces them. The counters belong to clients rather
//!   than to coordinators as in the paper: with coordinator counters, two
//!   blind puts through one coordinator would look ordered and one would
//!   vanish without a sibling (the problem dotted version vectors later
//!   solved). Clocks keep at most `vector_clock_max_entries` entries; the
//!   entry updated longest ago is dropped (Dynamo §4.4), which can turn a
//!   descendant into a spurious sibling but never loses a version.
//!
//! ## Read repair
//!
//! - `none`: replicas are repaired only by hinted handoff and anti-entropy.
//! - `async` (Dynamo's): after answering, the coordinator waits for the
//!   remaining replies and sends the merged versions to every replica that
//!   answered with less.
//! - `blocking`: before answering, the coordinator writes the merged
//!   versions back until `w` replicas hold them (replicas that replied with
//!   them count), as the second phase of ABD's read. Nothing is written
//!   back when nothing was read.
//!
//! ## Anti-entropy with Merkle trees
//!
//! Every `anti_entropy_interval_ms` each server compares, with one random
//! peer, the Merkle trees of every key range both replicate, walking down
//! only where hashes differ, and exchanges the keys of the differing
//! leaves (`anti_entropy.rs`). It repairs replicas nobody reads, which read
//! repair cannot. Its messages and bytes are reported.
//!
//! ## Failure detection and gossip
//!
//! A server that does not answer a coordinator within `replica_timeout_ms`
//! is suspected by that coordinator for `suspect_ms`; any message from it
//! clears the suspicion. With `gossip_interval_ms > 0` servers also push
//! their table of heartbeats (incarnation, counter) to a random peer each
//! interval, and a server whose heartbeat has not risen for `suspect_ms` is
//! suspected everywhere, so coordinators route around a dead server before
//! timing out on it. Membership itself is fixed: the ring never changes.
//!
//! ## What it guarantees
//!
//! Per key, with a strict quorum:
//!
//! | N, R, W | promise |
//! |---|---|
//! | R + W > N | a get that begins after a put was acknowledged returns it or a newer version: no stale reads |
//! | R + W > N, LWW, `read_repair = blocking`, no skew | gets and puts are linearizable (ABD) |
//! | R + W <= N | none: a get may read only replicas the latest put has not reached |
//! | W = N | puts fail while any replica is unreachable |
//! | R = N | gets fail while any replica is unreachable; with LWW they are linearizable even without write-back, since every get reads every replica |
//! | W = 1 | puts complete at the first replica; it alone holds the value until others catch up |
//!
//! Gets tolerate `n - r` unreachable replicas (`n - max(r, w)` with
//! blocking read repair), puts `n - w`. An acknowledged put is durable on
//! `w` replicas (each syncs before acknowledging, so crashes and restarts
//! lose nothing) and survives the permanent loss of `w - 1` of them. With
//! anti-entropy on, replicas that stop receiving writes converge.
//!
//! Why blocking read repair is linearizable with LWW and R + W > N: stamps
//! order puts consistently with real time (one virtual clock); a put
//! acknowledged before a get began is on W replicas and the get's R
//! replies include one of them; and a get's answer is on W replicas before
//! the get returns, so every later get sees it or something newer.
//!
//! ## What it does not guarantee
//!
//! - Linearizability is claimed only for LWW, strict quorums, blocking read
//!   repair and R + W > N without clock skew. Async read repair allows a
//!   get to return a value that a later get does not (a put in progress
//!   reached one replica), though never one older than an acknowledged put.
//! - Sloppy quorums give up R + W > N: a read of the home replicas can miss
//!   a write acknowledged by stand-ins, until its hints are handed off.
//! - Vector clocks return siblings, not a single value; the history then
//!   records a read of several values. Blocking read repair writes back the
//!   merged siblings, which makes no linearizability claim.
//! - LWW with clock skew loses acknowledged writes to older ones.
//! - A put that fails or times out may be partly applied: some replicas
//!   hold it, so later reads may see it (its outcome is `unknown`).
//! - Failure detection is a timeout: a slow or partitioned server is
//!   suspected like a crashed one, and a server that looks alive may not be.
//! - The ring is static: no joins, departures or rebalancing. A key whose
//!   every replica is lost is gone. Hinted copies live only on their
//!   stand-ins until handed off.
//!
//! # References
//!
//! - G. DeCandia et al. *Dynamo: Amazon's Highly Available Key-value
//!   Store*. SOSP 2007. §4.1 (interface, context), §4.2 (consistent
//!   hashing, virtual nodes), §4.3 (replication, preference lists), §4.4
//!   (vector clocks, reconciliation, truncation), §4.5 (get and put,
//!   coordinators, R and W), §4.6 (sloppy quorum, hinted handoff), §4.7
//!   (anti-entropy with Merkle trees), §4.8 (gossip-based membership and
//!   failure detection), §4.9 (adding and removing nodes, not modelled).
//! - H. Attiya, A. Bar-Noy, D. Dolev. *Sharing Memory Robustly in
//!   Message-Passing Systems*. JACM 42(1), 1995 (ABD: the read's write-back
//!   phase that makes quorum registers atomic).
//! - L. Lamport. *Time, Clocks, and the Ordering of Events in a Distributed
//!   System*. CACM 1978; C. Fidge, 1988, and F. Mattern, 1989 (vector
//!   clocks).
//! - R. C. Merkle. *A Digital Signature Based on a Conventional Encryption
//!   Function*. CRYPTO 1987 (hash trees).
//! - D. Karger et al. *Consistent Hashing and Random Trees*. STOC 1997.
//! - M. Kleppmann. *Designing Data-Intensive Applications*, ch. 5
//!   (leaderless replication, quorums for reading and writing, the N/R/W
//!   trade-offs, sloppy quorums, detecting concurrent writes).

mod anti_entropy;
mod client;
mod coordinator;
mod handoff;
mod msg;
mod params;
mod ring;
mod server;
mod small;
mod version;

pub use client::Client;
pub use msg::{HEADER_BYTES, Msg, Record, Timer};
pub use params::{Coordinator, PARAM_DOCS, ParamError, Params, Quorum, ReadRepair, Versioning};
pub use ring::{Ring, hash_bytes, key_position, server_name, token_position};
pub use server::{Server, ServerCounters, ServerReport};
pub use version::{ClockEntry, Stamp, Timestamp, VClock, Version, Versions};

use sim_core::{Actor, Key, NodeId, NodeSpec, OpKind, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One line for `dsim list`.
pub const SUMMARY: &str = "Dynamo-style quorum replication: consistent hashing with virtual nodes, N/R/W quorums, strict or \
     sloppy quorums with hinted handoff, LWW or vector clocks with siblings, read repair, Merkle anti-entropy, gossip";

/// The operations clients can run.
pub const OPS: &[OpKind] = &[OpKind::Get, OpKind::Put];

/// The id of server `i` (0-based): servers come first.
pub fn server_id(i: usize) -> NodeId {
    NodeId(u32::try_from(i).expect("too many nodes"))
}

/// The ids of the clients of a deployment built by [`build`].
pub fn client_ids(servers: usize, clients: usize) -> Vec<NodeId> {
    (0..clients).map(|c| server_id(servers + c)).collect()
}

/// A node of the quorum store.
#[derive(Clone, Debug)]
pub enum Node {
    /// Boxed: a server's state is several times a client's.
    Server(Box<Server>),
    Client(Client),
}

/// The nodes of a deployment: servers "n1".."nN" (nodes 0..N, role
/// `storage`), then clients "c1".."cM" (role `client`).
pub fn build(params: &Params, servers: usize, clients: usize) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(servers) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let ring = Arc::new(Ring::new(servers, params.tokens_per_node, params.n as usize));
    let mut nodes = Vec::with_capacity(servers + clients);
    for i in 0..servers {
        nodes.push(NodeSpec {
            name: server_name(i),
            role: "storage".into(),
            actor: Node::Server(Box::new(Server::new(params.clone(), ring.clone(), server_id(i)))),
        });
    }
    for i in 1..=clients {
        nodes.push(NodeSpec {
            name: format!("c{i}"),
            role: "client".into(),
            actor: Node::Client(Client::new(params.clone(), ring.clone())),
        });
    }
    nodes
}

fn servers_of(nodes: &[Node]) -> impl Iterator<Item = &Server> {
    nodes.iter().filter_map(|n| match n {
        Node::Server(s) => Some(&**s),
        Node::Client(_) => None,
    })
}

/// The store's replicas at the end of a run: for every key any server
/// holds (as a replica or a hint), each of its N home replicas in ring
/// order, whether up or down, with the versions it holds (none if it holds
/// nothing). Hinted copies on stand-ins are not replicas and are left out.
pub fn final_replicas(nodes: &[Node], servers: usize, params: &Params) -> Vec<(NodeId, Key, Vec<Value>)> {
    let ring = Ring::new(servers, params.tokens_per_node, params.n as usize);
    let held: Vec<&Server> = servers_of(nodes).collect();
    assert_eq!(held.len(), servers, "final_replicas of {servers} servers given {} servers", held.len());
    let keys: BTreeSet<Key> = held.iter().flat_map(|s| s.keys()).collect();
    keys.into_iter()
        .flat_map(|key| ring.homes(key).iter().map(move |&h| (h, key)).collect::<Vec<_>>())
        .map(|(h, key)| {
            let values =
                held[h.index()].versions(key).map(|vs| vs.iter().map(|v| v.value).collect()).unwrap_or_default();
            (h, key, values)
        })
        .collect()
}

/// The protocol's counters, summed over servers, with the load balance of
/// the final state. Every field is a number, so `[expect]` can name it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct QuorumCounters {
    pub puts_coordinated: u64,
    pub puts_ok: u64,
    pub puts_failed: u64,
    pub gets_coordinated: u64,
    pub gets_ok: u64,
    pub gets_failed: u64,
    /// Gets that returned more than one version (siblings).
    pub gets_with_siblings: u64,
    pub max_versions_per_get: u64,
    /// Versions per successful get.
    pub versions_per_get_mean: f64,
    /// Hint entries (key, home replica) created on stand-ins.
    pub hints_created: u64,
    /// Hint entries handed off and acknowledged by their home replica.
    pub hints_delivered: u64,
    /// Hint entries still on stand-ins at the end.
    pub hints_pending: u64,
    /// Replicas sent newer versions by gets (async repairs, write-backs).
    pub read_repairs: u64,
    pub read_repair_messages: u64,
    pub read_repair_bytes: u64,
    pub anti_entropy_rounds: u64,
    /// Keys whose versions changed on some replica through anti-entropy.
    pub anti_entropy_keys_repaired: u64,
    pub anti_entropy_messages: u64,
    pub anti_entropy_bytes: u64,
    /// Times a coordinator or stand-in suspected a server that did not answer.
    pub suspicions: u64,
    /// Keys with unresolved siblings on some home replica at the end.
    pub keys_with_siblings: u64,
    /// Keys each server holds as a home replica at the end.
    pub keys_per_node_min: u64,
    pub keys_per_node_max: u64,
    pub keys_per_node_mean: f64,
    pub keys_per_node_stddev: f64,
}

/// The protocol's own account of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QuorumReport {
    #[serde(flatten)]
    pub counters: QuorumCounters,
    /// What each server holds at the end, in node order.
    pub nodes: Vec<ServerReport>,
}

/// Gathers the report from the final state of the nodes of a run.
pub fn report(nodes: &[Node]) -> QuorumReport {
    let servers: Vec<&Server> = servers_of(nodes).collect();
    let mut c = QuorumCounters::default();
    for s in &servers {
        let k = s.counters();
        c.puts_coordinated += k.puts_coordinated;
        c.puts_ok += k.puts_ok;
        c.puts_failed += k.puts_failed;
        c.gets_coordinated += k.gets_coordinated;
        c.gets_ok += k.gets_ok;
        c.gets_failed += k.gets_failed;
        c.gets_with_siblings += k.gets_with_siblings;
        c.max_versions_per_get = c.max_versions_per_get.max(k.max_versions_per_get);
        c.hints_created += k.hints_created;
        c.hints_delivered += k.hints_delivered;
        c.hints_pending += s.hints_held() as u64;
        c.read_repairs += k.read_repairs;
        c.read_repair_messages += k.read_repair_messages;
        c.read_repair_bytes = c.read_repair_bytes.saturating_add(k.read_repair_bytes);
        c.anti_entropy_rounds += k.anti_entropy_rounds;
        c.anti_entropy_keys_repaired += k.anti_entropy_keys_repaired;
        c.anti_entropy_messages += k.anti_entropy_messages;
        c.anti_entropy_bytes = c.anti_entropy_bytes.saturating_add(k.anti_entropy_bytes);
        c.suspicions += k.suspicions;
    }
    let versions: u64 = servers.iter().map(|s| s.counters().versions_returned).sum();
    c.versions_per_get_mean = if c.gets_ok == 0 { 0.0 } else { versions as f64 / c.gets_ok as f64 };
    let reports: Vec<ServerReport> = servers.iter().enumerate().map(|(i, s)| s.report(server_name(i))).collect();
    let mut sibling_keys: BTreeMap<Key, bool> = BTreeMap::new();
    for s in &servers {
        for key in s.keys() {
            let siblings = s.versions(key).is_some_and(|vs| vs.len() > 1);
            *sibling_keys.entry(key).or_default() |= siblings;
        }
    }
    c.keys_with_siblings = sibling_keys.values().filter(|s| **s).count() as u64;
    let loads: Vec<u64> = reports.iter().map(|r| r.keys).collect();
    if !loads.is_empty() {
        let mean = loads.iter().sum::<u64>() as f64 / loads.len() as f64;
        let var = loads.iter().map(|&l| (l as f64 - mean) * (l as f64 - mean)).sum::<f64>() / loads.len() as f64;
        c.keys_per_node_min = loads.iter().copied().min().unwrap_or(0);
        c.keys_per_node_max = loads.iter().copied().max().unwrap_or(0);
        c.keys_per_node_mean = mean;
        c.keys_per_node_stddev = var.sqrt();
    }
    QuorumReport { counters: c, nodes: reports }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    crate::dispatch_to_roles!(Server, Client);

    fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        if let Node::Server(s) = self {
            s.replica_values(out);
        }
    }
}
