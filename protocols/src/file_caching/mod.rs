//! # Client caching in distributed file systems: NFS, AFS and leases
//!
//! One **file server** (`fs`) holds the files on its disk; **client
//! machines** (`c1`..`cN`) run file operations (open, read a block, read
//! the whole file, write a block, stat, close, and in scripts remove) and
//! keep caches so that
//! most of them never reach the server. The three modes differ in what a
//! cache may assume and in what the server must remember, which is the
//! classic comparison of stateless and stateful file servers.
//!
//! ## Files
//!
//! Every key of the workload is a file, and so is every scripted name
//! (`notes.txt`); each has `workload.blocks_per_file` blocks whose initial
//! value is id 0 ("initial"). Files exist from the start, unless
//! `create_files` is set: then an open of a missing file creates it
//! (below). A scripted `remove` deletes a file in every mode; an open of
//! a removed file fails unless `create_files` re-creates it, with a new
//! handle generation and versions going on from the removed file's.
//! Removes are not drawn in sessions (`workload.mix.remove` is an error):
//! a session would remove the file it has open. A file's **version** goes up by one with every committed NFS
//! write or AFS store; it plays the part of NFS's modification time and
//! AFS's data version. Every message is charged a 64-byte header, 32-byte
//! handles, 68-byte attributes and `block_size_bytes` per block moved.
//!
//! ## NFS (v2/v3): a stateless server
//!
//! The server keeps no state about clients: each call names a file
//! handle (volume, inode, generation) and carries everything needed to
//! serve it, and every write is written **and synced** to disk before the
//! reply, so a server crash loses nothing acknowledged and a restarted
//! server simply answers again. Clients retransmit a call with the same
//! xid after `rpc_timeout_ms`, doubling the wait each time, up to
//! `rpc_retries` times; then a read fails and a write ends unknown.
//! Lookup, getattr, read and write are **idempotent**, so repeating them
//! after a lost reply is harmless. Create and remove are not: a guarded create whose
//! reply was lost and which is retransmitted finds the file it just
//! created and answers "exists". The server counts this
//! (`create_exists_on_retry`); here the client then looks the file up and
//! carries on, but an exclusive open (a lock file) would fail. Real
//! servers hide most of these with a duplicate-request cache, which is
//! lost in a crash; this server has none, like early implementations.
//! A **remove** deletes the file, durably, and bumps its name's
//! generation; retransmitted after a lost reply (`nfs-remove-retry.toml`),
//! it finds no file and answers "no such file": the server counts it
//! (`remove_missing_on_retry`) and the client reports the remove `fail`
//! although its first attempt removed the file. Handles of a removed file
//! are **stale**: a getattr, read or write through one answers ESTALE
//! (`stale_handles`), the operation fails and the client drops what it
//! cached of the file; a later lookup of the name fails too.
//!
//! Clients cache:
//! - **handles** from lookups, for good;
//! - **attributes**, trusted for a timeout that starts at `acregmin_ms`,
//!   doubles while revalidation finds them unchanged and stops at
//!   `acregmax_ms` (nfs(5): 3 s and 60 s); a read or stat after the
//!   timeout sends a getattr. `acregmin_ms = 0` turns the cache off;
//! - **blocks**, valid for the version the attributes had when they were
//!   read. New attributes with another version drop the file's cached
//!   blocks, unless the change is the client's own write (the reply's
//!   pre-write version matches: NFSv3's weak cache consistency data).
//!
//! Writes are buffered and **flushed on close** (one write call per dirty
//! block; the close completes when all are acknowledged), or sent at once
//! with `write_through`. Every open sends a getattr whatever the cache
//! (**close-to-open**): together with flush-on-close, a client that opens
//! a file after another's close completed sees its writes.
//!
//! What NFS does not promise: between open and close, and for reads of
//! a file that stays open, data can be as stale as the attribute timeout
//! (at most `acregmax_ms`: a getattr sent at time t proves the version
//! current at t). A whole-file read assembled from cached and fetched
//! blocks, or fetched while another client flushes, can mix versions.
//! Concurrent writers interleave at block granularity.
//!
//! ## AFS: whole files under callbacks
//!
//! An open fetches the **whole file** and the server registers a
//! **callback**: a promise to tell this client if the file changes. Reads
//! and writes are local; a close of a written file **stores the whole
//! file**. The server then **breaks the callbacks** of every other client
//! holding one, and answers the store only when all have acknowledged
//! (or `rpc_timeout_ms` has passed: those clients are told, on their next
//! call, to distrust every callback they hold), and the breaks of earlier
//! stores of the file too. A break that overtakes the reply to a fetch
//! voids the callback that reply brings. A **remove** goes to the server,
//! which deletes the file and breaks the other callbacks the same way
//! before answering; a client whose callback was broken asks at its next
//! open, hears "no such file", drops its copy and the open fails
//! (`afs-remove.toml`). An open with a valid
//! callback makes no call at all; with a broken one it asks whether its
//! copy is current (`fetch_status`, cheap when it is). So server load
//! grows with writes and sharing, not with reads, where NFS pays a
//! getattr per open and per expired timeout.
//!
//! Callbacks live in the server's memory: **a server crash loses them**.
//! Replies carry the server's epoch (its boot number); a client that sees
//! a new one, on a call or on a probe every `probe_interval_ms`, distrusts
//! all its callbacks and revalidates on its next opens. Until it notices,
//! it may open a stale copy (`server-crash-callbacks.toml` shows probing
//! clients revalidating; a test shows a quiet client without probes
//! reading the stale copy).
//! A **client** that restarts keeps its cached copies (AFS caches on the
//! local disk) but rechecks each one before use; copies with writes not
//! yet stored are discarded.
//!
//! What AFS promises: session semantics. A client sees another's writes
//! at its first open after that close completed, never in the middle of
//! its own session, and whole-file reads never mix versions. Concurrent
//! writers lose whole files: the last close wins.
//!
//! ## Leases: the stateful middle ground
//!
//! `mode = "leases"` keeps AFS's whole files but replaces callbacks with
//! **leases** of `lease_ms` (Gray and Cheriton): a client uses its copy,
//! for opens and every read, only while its lease lasts (counted from
//! when it asked, so it stops before the server does), and renews it
//! (`lease_renew`) after. A store first **recalls** the other leases and
//! commits only when each was given back or has expired; meanwhile no
//! new lease is granted on the file. A remove recalls the leases the same
//! way before it deletes the file. A restarted server waits one lease
//! term before committing stores, so every lease it forgot has expired.
//! An unreachable client delays writers by at most one lease term, never
//! forever, and reads are never stale, at the price of renewal traffic
//! that grows with the number of clients and shrinks with `lease_ms`.
//!
//! ## Checks
//!
//! `close_to_open`, `stale_file_reads` (with ages), `mixed_version_reads`
//! and `lost_updates` read the client history and the server's commits
//! (see `check.rs` for what each mode promises: a check fails only when
//! a mode breaks its own promise, and counts every anomaly either way).
//! To the checks a remove is a commit of the initial contents (what a
//! re-created file holds), so reads of a re-created file are current,
//! and writes ended by a remove are not lost updates.
//! The report gives server calls by type, cache hit rates, bytes moved,
//! server calls per operation and per client, and the per-operation
//! table (`table.rs`).
//!
//! # References
//!
//! - R. Sandberg, D. Goldberg, S. Kleiman, D. Walsh, B. Lyon. *Design and
//!   Implementation of the Sun Network Filesystem*. USENIX Summer 1985
//!   (stateless server, idempotent calls, file handles, client caching).
//! - RFC 1094, *NFS: Network File System Protocol Specification* (v2,
//!   1989); RFC 1813, *NFS Version 3 Protocol Specification* (1995): §2.6
//!   weak cache consistency data, §3.3.21 COMMIT, §4.8 duplicate request
//!   caches and non-idempotent procedures.
//! - nfs(5), Linux man-pages: `acregmin`, `acregmax`, close-to-open cache
//!   consistency.
//! - J. Howard, M. Kazar, S. Menees, D. Nichols, M. Satyanarayanan, R.
//!   Sidebotham, M. West. *Scale and Performance in a Distributed File
//!   System*. ACM TOCS 6(1), 1988 (whole-file caching, callbacks, the
//!   server-load comparison).
//! - C. Gray, D. Cheriton. *Leases: An Efficient Fault-Tolerant Mechanism
//!   for Distributed File Cache Consistency*. SOSP 1989.

mod check;
mod client;
mod msg;
mod params;
mod server;
mod table;

pub use check::{CheckNumbers, Checked, Names, Promises, check};
pub use client::{CallNote, Client, ClientCounters, OpLine};
pub use msg::{ATTR_BYTES, Attr, Call, Errno, FH_BYTES, Fh, HEADER_BYTES, Msg, Promise, Record, Reply, Timer};
pub use params::{MAX_BLOCK_SIZE_BYTES, Mode, NODES_KEY, PARAM_DOCS, ParamError, Params};
pub use server::{BreakFact, Commit, Facts, FileState, Server, ServerCounters, handle};
pub use table::{MAX_TABLE_CLIENTS, MAX_TABLE_OPS, TableRow};

use crate::ProtocolCheck;
use sim_core::{Actor, NodeId, NodeSpec, OpId, OpKind, Sim};
use std::collections::BTreeMap;

/// One line for `dsim list`.
pub const SUMMARY: &str = "Distributed file system client caching: NFS (stateless server, attribute-cache timeouts, \
     close-to-open), AFS (whole files, callbacks) or leases; per-operation RPC tables";

/// The operations clients can run.
pub const OPS: &[OpKind] =
    &[OpKind::Open, OpKind::Read, OpKind::ReadFile, OpKind::Write, OpKind::Close, OpKind::Stat, OpKind::Remove];

/// The protocol's own checks.
pub const CHECKS: &[&str] = &["close_to_open", "stale_file_reads", "mixed_version_reads", "lost_updates"];

/// The file server's node id: it comes first.
pub const FS: NodeId = NodeId(0);

/// The ids of `clients` clients.
pub fn client_ids(clients: usize) -> Vec<NodeId> {
    (1..=clients).map(|i| NodeId(u32::try_from(i).expect("too many nodes"))).collect()
}

/// A node: the file server or a client machine.
#[derive(Clone, Debug)]
pub enum Node {
    Server(Box<Server>),
    Client(Box<Client>),
}

/// The nodes: the file server `fs` (node 0, role `fileserver`), then
/// clients `c1`..`cN` (role `client`). Files have `blocks_per_file` blocks.
pub fn build(params: &Params, servers: usize, clients: usize, blocks_per_file: u32) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(servers) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let mut nodes = Vec::with_capacity(1 + clients);
    nodes.push(NodeSpec {
        name: "fs".into(),
        role: "fileserver".into(),
        actor: Node::Server(Box::new(Server::new(params.clone(), blocks_per_file))),
    });
    for i in 1..=clients {
        nodes.push(NodeSpec {
            name: format!("c{i}"),
            role: "client".into(),
            actor: Node::Client(Box::new(Client::new(params.clone(), blocks_per_file, FS))),
        });
    }
    nodes
}

/// The protocol's numbers: every field is a number, so `[expect]` can
/// name it (`getattr_min`, `cache_hit_rate_min`, `close_to_open_violations_max`...).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct FileCachingCounters {
    pub clients: u64,
    /// Calls the server received, by type (retransmissions included).
    #[serde(flatten)]
    pub server: ServerCounters,
    pub server_rpcs: u64,
    /// Server calls per client operation.
    pub server_rpcs_per_op: f64,
    /// Server calls per client over the run.
    pub server_rpcs_per_client: f64,
    /// Reads (read and read_file) served without moving data from the
    /// server, over all reads.
    pub cache_hit_rate: f64,
    /// Blocks read from a cache over all blocks read.
    pub block_hit_rate: f64,
    #[serde(flatten)]
    pub client: ClientCounters,
    /// Bytes of every message sent (calls, replies, breaks).
    pub bytes_moved: u64,
    #[serde(flatten)]
    pub checks: CheckNumbers,
}

/// The protocol's account of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileCachingReport {
    pub mode: &'static str,
    #[serde(flatten)]
    pub counters: FileCachingCounters,
    /// The per-operation table and a summary, as text.
    pub table: String,
    /// The per-operation table as rows (empty for big runs).
    pub ops_table: Vec<TableRow>,
}

/// The report and the checks of a finished run.
pub struct Analysis {
    pub report: FileCachingReport,
    pub checks: Vec<ProtocolCheck>,
}

fn server_of(nodes: &[Node]) -> &Server {
    match &nodes[FS.index()] {
        Node::Server(s) => s,
        Node::Client(_) => panic!("node 0 is not the file server"),
    }
}

/// Reads a finished run: counters, checks and the table.
pub fn analyse(sim: &Sim<Node>, params: &Params, names: &Names, max_examples: usize) -> Analysis {
    let nodes = sim.actors();
    let server = server_of(nodes);
    let ops = &sim.history().ops;
    let promises = Promises { mode: params.mode, acregmax_ms: params.acregmax_ms };
    let checked = check(ops, &server.facts().commits, promises, names, max_examples);
    let mut c =
        FileCachingCounters { server: server.counters().clone(), checks: checked.numbers, ..Default::default() };
    let mut lines: BTreeMap<OpId, &OpLine> = BTreeMap::new();
    let mut clients = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Node::Client(cl) = n {
            clients.push(NodeId(i as u32));
            let k = cl.counters();
            let t = &mut c.client;
            t.reads += k.reads;
            t.reads_from_cache += k.reads_from_cache;
            t.blocks_read += k.blocks_read;
            t.blocks_from_cache += k.blocks_from_cache;
            t.opens += k.opens;
            t.opens_from_cache += k.opens_from_cache;
            t.calls += k.calls;
            t.retransmissions += k.retransmissions;
            t.calls_given_up += k.calls_given_up;
            t.invalidations += k.invalidations;
            t.server_restarts_seen += k.server_restarts_seen;
            t.breaks_received += k.breaks_received;
            lines.extend(cl.log().iter().map(|l| (l.op, l)));
        }
    }
    let s = &c.server;
    c.clients = clients.len() as u64;
    c.server_rpcs = s.lookup
        + s.getattr
        + s.read
        + s.write
        + s.create
        + s.fetch
        + s.fetch_status
        + s.lease_renew
        + s.store
        + s.probe
        + s.remove;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    c.server_rpcs_per_op = ratio(c.server_rpcs, ops.len() as u64);
    c.server_rpcs_per_client = ratio(c.server_rpcs, c.clients);
    c.cache_hit_rate = ratio(c.client.reads_from_cache, c.client.reads);
    c.block_hit_rate = ratio(c.client.blocks_from_cache, c.client.blocks_read);
    c.bytes_moved = sim.stats().by_kind.iter().fold(0u64, |acc, k| acc.saturating_add(k.sent_bytes));
    let (rows, ops_text) = table::build(ops, &lines, &server.facts().breaks, &clients, names);
    let text = summary(params.mode, &c) + &ops_text;
    Analysis {
        report: FileCachingReport { mode: params.mode.name(), counters: c, table: text, ops_table: rows },
        checks: checked.checks,
    }
}

/// The report's headline numbers, as text above the table.
fn summary(mode: params::Mode, c: &FileCachingCounters) -> String {
    let s = &c.server;
    let by_type: Vec<String> = [
        ("lookup", s.lookup),
        ("getattr", s.getattr),
        ("read", s.read),
        ("write", s.write),
        ("create", s.create),
        ("fetch", s.fetch),
        ("fetch_status", s.fetch_status),
        ("lease_renew", s.lease_renew),
        ("store", s.store),
        ("probe", s.probe),
        ("remove", s.remove),
        ("callback_break", s.callback_breaks),
        ("lease_recall", s.lease_recalls),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    format!(
        "mode {}, {} clients: {} server calls ({:.3} per operation, {:.1} per client): {}\ncache hit rate {:.3} \
         (blocks {:.3}), {} bytes moved, {} retransmissions\n",
        mode.name(),
        c.clients,
        c.server_rpcs,
        c.server_rpcs_per_op,
        c.server_rpcs_per_client,
        if by_type.is_empty() { "none".to_string() } else { by_type.join(", ") },
        c.cache_hit_rate,
        c.block_hit_rate,
        c.bytes_moved,
        c.client.retransmissions,
    )
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    crate::dispatch_to_roles!(Server, Client);
}
