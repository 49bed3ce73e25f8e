//! # A key-value store with a central directory
//!
//! One **directory** node knows where every key lives; **storage** nodes hold
//! the values; **clients** run gets and puts. It is the shape of GFS (a
//! master holding metadata, chunkservers holding data) reduced to single
//! values, and the simplest setting in which to see what placement,
//! replication, ordering and failure handling each cost and buy.
//!
//! ## Placement
//!
//! The directory maps each key to a replica list and a version. The first
//! put of a key places it on the `replication_factor` live storage nodes
//! with the most free space (configured capacity minus the bytes the
//! directory has placed there; ties go to the lowest id). Storage nodes do
//! not enforce capacity: the directory's accounting is the only budget,
//! which is how a master-directed design behaves. The directory logs every
//! placement change and syncs it before anyone acts on it, and rebuilds its
//! map from that log after a crash.
//!
//! ## Two query styles
//!
//! - **Recursive** (the default): the client sends its get or put to the
//!   directory, which does the work and answers. Every value therefore
//!   crosses the directory's network interface twice, once in and once out,
//!   which is what makes the directory the bottleneck for large values.
//! - **Iterative**: the client asks the directory where the key lives
//!   (`Lookup`), gets the replica list back (`Location`), and then talks to
//!   the storage nodes itself. The directory sees only small metadata
//!   messages. This is the distinction Tanenbaum and van Steen draw between
//!   recursive and iterative name resolution.
//!
//! A get is served by one replica chosen uniformly at random by whoever
//! reads (the directory or the client). A get of a key that was never
//! written is answered "absent" by the directory without asking storage.
//!
//! ## Two replication styles
//!
//! The writer is the directory (recursive query) or the client (iterative
//! query).
//!
//! - **Iterative** replication (fan-out, the default): the writer sends the
//!   put to every replica and collects one ack from each.
//! - **Recursive** replication (a chain): the writer sends the put to the
//!   first replica, each replica stores it and forwards it to the next, and
//!   the last one acks. One ack then covers the whole chain, and the writer's
//!   outgoing traffic is one copy instead of `replication_factor` copies, at
//!   the price of latency that grows with the chain's length. If a link dies,
//!   the directory re-sends the put down a chain of the replicas not known
//!   to hold it.
//!
//! A storage node makes each put durable (write and sync) before it applies
//! or acknowledges it, and rebuilds its map from its synced log after a crash.
//!
//! ## Two ordering modes
//!
//! **Serialized** (the default). The directory keeps a FIFO queue of work
//! per key and starts the next item only when the current one is finished.
//! Every put gets the next version of its key, and a replica applies a put
//! only if its version is at least the one it holds, so a late or repeated
//! message can never roll a replica back. A put is acknowledged only when
//! *all* replicas stored it. What "finished" means depends on the query
//! style: in recursive query the directory finishes a put when every replica
//! acked and a get when the value came back; in iterative query a `Lookup`
//! acquires a lease on the key, which the client releases with `Done` when
//! its own reads or writes are over, or which expires after `lease_ms` so a
//! crashed client cannot block a key forever. Every task holds its key for
//! at most `lease_ms`: a relayed request whose replies were lost is given
//! up, and the client sees its own timeout.
//!
//! **Careless**. No queue and no versions: every request is forwarded at
//! once, replicas apply puts in arrival order, and a put is acknowledged as
//! soon as the *first* replica stored it while the others are updated in the
//! background. Latency is lower and nothing waits, but two concurrent puts
//! may reach two replicas in opposite orders (the replicas diverge for
//! good), and a get that starts after a put was acknowledged may read a
//! replica the put has not reached yet (a stale read).
//!
//! ## Failure detection and re-replication
//!
//! Storage nodes heartbeat the directory every `heartbeat_interval_ms`. The
//! directory checks every heartbeat interval and declares a node not heard
//! from for `failure_timeout_ms` dead, once. It then removes the node from
//! every replica list (in key order, so runs are deterministic), lets tasks
//! waiting on it go on without it (a put completes on the survivors, a get
//! asks another replica), and for each key it held asks a surviving replica
//! to copy the value to the live non-holder with the most free space
//! (`Copy`, then `CopyPut` to the new node, which stores, syncs and reports
//! `CopyDone`; only then does the directory add it to the list). In
//! serialized mode a repair is queued on its key like any other work, so it
//! copies the latest version and no put runs beside it. A key whose every
//! replica died is lost, and the directory counts it. As in GFS's stale
//! replica handling, a node declared dead that heartbeats again must first
//! discard its copies (`Wipe`, numbered by its death count so a late wipe
//! cannot destroy newer copies) before it is live for new placements; its
//! old copies are never used again.
//!
//! ## What it guarantees
//!
//! - Serialized ordering gives per-key linearizable gets and puts while the
//!   directory is up and no replica of the key is lost: operations on a key
//!   take effect one at a time in the directory's queue order, every
//!   replica holds the latest completed put, and reads come from a replica.
//! - Acknowledged puts survive the crash of any `replication_factor - 1`
//!   replicas of their key, given time to re-replicate between crashes.
//! - Directory state survives directory crashes: placements and versions
//!   are durable, so versions never go backwards.
//!
//! ## What it does not guarantee
//!
//! - Careless ordering gives neither per-key order nor read-your-writes:
//!   stale reads and permanently divergent replicas are expected.
//! - The directory is a single point of failure: while it is down, nothing
//!   can be read or written, in either query style, even though the data is
//!   intact. Its queues are volatile, so work in progress at a crash ends in
//!   client timeouts.
//! - A put that times out may be partly applied: some replicas hold it and
//!   others do not until the next put on the key, so reads can see the new
//!   value and then the old one. A client crash holding a lease, message
//!   loss, and a task given up after `lease_ms` all lead there.
//! - When every replica of a key dies before re-replication, the key is
//!   lost, and with `replication_factor = 1` any storage crash loses keys.
//! - Duplicated requests are dropped by remembering each client's recent
//!   request ids, but that memory is volatile and bounded: a duplicate that
//!   arrives after a directory restart, or very late, is executed again.
//! - Storage nodes may keep orphan copies that the directory no longer
//!   lists: a copy that lands after its repair was given up (timeout,
//!   directory crash), or a write sent with an outdated location after a
//!   node's wipe. They are never read, but they appear in the nodes' final
//!   contents until a later placement on the same node overwrites them.
//! - Failure detection is a timeout: a slow or partitioned node is declared
//!   dead like a crashed one and re-replicated around.
//!
//! # References
//!
//! - S. Ghemawat, H. Gobioff, S.-T. Leung. *The Google File System*. SOSP 2003.
//!   §2.4–2.6 (single master holding metadata, clients talking to
//!   chunkservers directly), §3.1 (leases and mutation order), §4.2–4.3
//!   (replica placement, re-replication by priority), §4.5 (stale replica
//!   detection).
//! - R. van Renesse, F. B. Schneider. *Chain Replication for Supporting High
//!   Throughput and Availability*. OSDI 2004. §2–3 (the chain, and repairing
//!   it when a link fails).
//! - A. S. Tanenbaum, M. van Steen. *Distributed Systems: Principles and
//!   Paradigms*, ch. 5 (naming; iterative versus recursive name resolution).
//! - M. P. Herlihy, J. M. Wing. *Linearizability: A Correctness Condition for
//!   Concurrent Objects*. TOPLAS 1990 (what serialized mode provides per key).

mod client;
mod directory;
mod msg;
mod params;
mod replication;
mod storage;

pub use client::Client;
pub use directory::{Directory, DirectoryCounters};
pub use msg::{HEADER_BYTES, Msg, Record, Refusal, Timer};
pub use params::{Ordering, PARAM_DOCS, ParamError, Params, Query, Replication};
pub use storage::{Storage, StorageReport};

use sim_core::{Actor, Key, NodeId, NodeSpec, OpKind, Value};

/// One line for `dsim list`.
pub const SUMMARY: &str = "central directory places keys on storage nodes; recursive or iterative queries, fan-out or chain \
     replication, serialized or careless ordering, re-replication on failure";

/// The operations clients can run.
pub const OPS: &[OpKind] = &[OpKind::Get, OpKind::Put];

/// The directory is always node 0.
pub const DIRECTORY: NodeId = NodeId(0);

/// The id of storage node `i` (0-based): storage nodes follow the directory.
pub fn storage_id(i: usize) -> NodeId {
    NodeId(u32::try_from(i + 1).expect("too many nodes"))
}

/// The ids of the clients of a deployment built by [`build`].
pub fn client_ids(storage_nodes: usize, clients: usize) -> Vec<NodeId> {
    (0..clients).map(|c| storage_id(storage_nodes + c)).collect()
}

/// A node of the directory store.
#[derive(Clone, Debug)]
pub enum Node {
    Directory(Directory),
    Storage(Storage),
    Client(Client),
}

/// The nodes of a deployment: the directory (node 0, "dir"), storage nodes
/// "s1".."sN" (nodes 1..=N), then clients "c1".."cM".
pub fn build(params: &Params, storage_nodes: usize, clients: usize) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(storage_nodes) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let mut nodes = Vec::with_capacity(1 + storage_nodes + clients);
    nodes.push(NodeSpec {
        name: "dir".into(),
        role: "directory".into(),
        actor: Node::Directory(Directory::new(params.clone(), storage_nodes)),
    });
    for i in 1..=storage_nodes {
        nodes.push(NodeSpec {
            name: format!("s{i}"),
            role: "storage".into(),
            actor: Node::Storage(Storage::new(params.clone())),
        });
    }
    for i in 1..=clients {
        nodes.push(NodeSpec {
            name: format!("c{i}"),
            role: "client".into(),
            actor: Node::Client(Client::new(params.clone())),
        });
    }
    nodes
}

/// The protocol's own account of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryReport {
    #[serde(flatten)]
    pub counters: DirectoryCounters,
    /// What each storage node holds at the end, in node order.
    pub storage: Vec<StorageReport>,
}

/// The store's replicas at the end of a run, as the directory lists them:
/// for every placed key, each listed replica and the value it holds (none if
/// it holds nothing). Copies the directory does not list (orphans left
/// by abandoned repairs) are not part of the store's state and are left out.
pub fn final_replicas(nodes: &[Node]) -> Vec<(NodeId, Key, Vec<Value>)> {
    let Some(Node::Directory(dir)) = nodes.first() else { panic!("node 0 of a directory store is the directory") };
    let mut held: std::collections::BTreeMap<(NodeId, Key), Value> = std::collections::BTreeMap::new();
    let mut buf = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        buf.clear();
        n.replica_values(&mut buf);
        held.extend(buf.iter().map(|(k, v)| ((NodeId(i as u32), *k), *v)));
    }
    dir.placements()
        .flat_map(|(key, replicas)| replicas.iter().map(move |&n| (n, key)))
        .map(|(n, key)| (n, key, held.get(&(n, key)).copied().into_iter().collect()))
        .collect()
}

/// Gathers the report from the final state of the nodes of a run.
pub fn report(nodes: &[Node]) -> DirectoryReport {
    let Some(Node::Directory(dir)) = nodes.first() else { panic!("node 0 of a directory store is the directory") };
    let storage = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match n {
            Node::Storage(s) => Some(s.report(i as u32)),
            _ => None,
        })
        .collect();
    DirectoryReport { counters: dir.counters(), storage }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    crate::dispatch_to_roles!(Directory, Storage, Client);

    fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        if let Node::Storage(s) = self {
            s.replica_values(out);
        }
    }
}
