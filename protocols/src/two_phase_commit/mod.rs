//! # Two-phase commit with write-ahead logging, timeouts, termination and recovery
//!
//! **Coordinators** `tc1..tcK` run transactions; **participants** `p1..pN`
//! hold the data, each with a write-ahead log on its simulated disk;
//! **clients** `c1..cM` submit operations. Every operation is one
//! transaction, atomic across the participants it touches: all of them
//! apply it, or none does.
//!
//! ## Data and partitioning
//!
//! Keys are accounts: key `k` lives at participant `p((k mod N) + 1)`. An
//! account holds a balance (`params.initial_balance` until a transfer
//! changes it) and a value (none until a put writes one). The accounts are
//! `0..A`, where `A` is the workload's `keys` (or one more than the largest
//! scripted key id, if larger); an audit reads all of them.
//!
//! | operation | actions |
//! |---|---|
//! | `transfer` | debit `key` at its participant, credit `to` at its participant |
//! | `put`, `multi_put` | write the value to every key |
//! | `get`, `multi_get` | read every key |
//! | `audit` | read every account at every participant |
//!
//! An audit locks and ships every account, so a key space larger than
//! `MAX_AUDIT_ACCOUNTS` (100,000) makes audits fail at once (counted in
//! `audits_refused`) instead of moving millions of balances per message.
//! A transfer that would overdraw is refused: the debited participant votes
//! no and the transaction aborts (the client sees `fail`). Balances never go
//! negative.
//!
//! ## The protocol
//!
//! **Phase one.** The coordinator writes and syncs a *begin* record naming
//! the participants and sends each a *prepare* with its actions, then waits
//! `vote_timeout_ms` for votes. A participant tries to take a lock per key
//! (shared for reads, exclusive for writes); it never waits for a lock: if
//! one is held by another transaction it votes **no** at once (no-wait
//! locking cannot deadlock; two coordinators racing on a key both may abort,
//! and never both commit). Otherwise it checks funds, writes a *prepared*
//! record (its actions, coordinator and peers), forces it to disk
//! (`log_sync_ms`, an fsync) and only then votes **yes**, with what it read.
//! From then on it is *in doubt*: it may neither commit nor abort alone.
//!
//! **Phase two.** On a no vote, or when the votes time out, the coordinator
//! decides abort: it writes an abort record (not forced; see below), tells
//! the participants and answers the client `fail`. When every vote is yes it
//! writes a *commit* record and forces it: that force is the **commit
//! point**. Only then does it send commit to the participants and answer
//! the client `ok` with what the reads returned. A participant applies a
//! commit (writing its after-images to the log, synced), releases its locks
//! and acknowledges; it releases its locks on an abort. Only the two forces
//! on the critical path, the yes record and the commit record, are charged
//! `log_sync_ms`; other syncs are taken as overlapping the network.
//!
//! Reads take part in full: their locks are held until the decision, so an
//! audit or multi-get sees a consistent snapshot (strict two-phase locking
//! makes committed transactions serializable). Their prepared records are
//! forced too, so a participant restarting in doubt restores read locks as
//! well as write locks.
//!
//! ## Timeouts, termination and recovery
//!
//! - A coordinator that does not get every vote within `vote_timeout_ms`
//!   aborts.
//! - A participant that voted yes and hears nothing for
//!   `decision_timeout_ms` runs the **cooperative termination protocol**: it
//!   asks the coordinator and every other participant, and again every
//!   `decision_timeout_ms`. A peer that knows the outcome says so; a peer
//!   that never voted yes may abort on its own (it forces an abort record
//!   first, so it votes no should the prepare still arrive) and says abort;
//!   a peer in doubt too says it does not know. A coordinator still
//!   collecting votes aborts and says so; one with no record of the
//!   transaction says abort (*presumed abort*: a commit is always logged
//!   before it is sent). When every participant voted yes and the
//!   coordinator is down or cut off, nobody knows, and the participants
//!   **stay blocked**, holding their locks, until it comes back.
//! - A restarted coordinator replays its log: decisions are remembered; a
//!   transaction with a begin record but no decision never committed, so it
//!   is aborted and its participants told.
//! - A restarted participant replays its log: committed after-images
//!   rebuild the data; a transaction with no yes record is aborted (it may
//!   have been asked to prepare, but never voted yes); a transaction with a
//!   yes record and no outcome is in doubt: its locks are taken again and it
//!   asks at once.
//!
//! ## What it guarantees
//!
//! - **Atomicity**: every node that decides a transaction decides the same
//!   outcome; a committed transaction is applied at every participant (once
//!   it learns the outcome), an aborted one at none. Crashes, restarts,
//!   partitions, loss and duplication do not change this.
//! - **Conservation**: transfers move money without creating or destroying
//!   it, so the total of all balances stays `accounts x initial_balance`.
//! - **Isolation**: committed transactions are serializable; a committed
//!   audit sees the conserved total, a committed multi-get sees all or none
//!   of each multi-put.
//!
//! ## What it does not guarantee
//!
//! - **Liveness under coordinator failure.** Two-phase commit blocks: a
//!   participant that voted yes must wait for the outcome, holding its
//!   locks, as long as the coordinator is down and no peer knows. The report
//!   gives the time participants sat prepared and in doubt
//!   (`blocking_time_ms_*`) and the transactions still in doubt at the end.
//!   Three-phase commit or consensus-based commit (Paxos Commit) avoid this.
//! - Progress under contention: no-wait locking aborts instead of waiting,
//!   so hot keys see many aborts (`lock_conflicts`).
//! - A client whose coordinator fails does not learn the outcome: its write
//!   ends `unknown`.
//! - The coordinator is a bottleneck: every message of its transactions
//!   passes through it (`coordinator_load_*`).
//!
//! ## The bugs (`params.bug`)
//!
//! - `no_wal`: nothing is logged before voting or deciding (committed data
//!   still reaches the participant's store). A participant that crashes
//!   after voting yes restarts with no trace of its vote and aborts, while
//!   the others commit: `no-wal.toml`.
//! - `commit_before_log`: the coordinator sends commit and then forces its
//!   commit record. Crashing in between, it restarts with a begin record and
//!   no decision and aborts a transaction some participants committed:
//!   `commit-before-log.toml`.
//! - `forget_vote`: a restarted participant ignores its yes records and
//!   aborts those transactions: `forget-vote.toml`.
//!
//! ## Checks
//!
//! `atomicity`, `conservation` and `isolation` (in `check.rs`) read the
//! history and what each node did (instrumentation that survives crashes,
//! as a trace would): the decisions, the transactions applied, the order of
//! values committed per key, and the final balances.
//!
//! # References
//!
//! - J. Gray. *Notes on Data Base Operating Systems.* In Operating Systems:
//!   An Advanced Course, LNCS 60, 1978. Section 5.8.3: the two-phase commit
//!   protocol, the commit point, logging before sending.
//! - P. A. Bernstein, V. Hadzilacos, N. Goodman. *Concurrency Control and
//!   Recovery in Database Systems.* Addison-Wesley, 1987. Chapter 7:
//!   atomic commitment, 2PC with timeouts, the cooperative termination
//!   protocol, recovery from the DT log, blocking.
//! - D. Skeen. *Nonblocking Commit Protocols.* SIGMOD 1981: blocking of
//!   2PC, cooperative termination, three-phase commit.
//! - J. Gray, L. Lamport. *Consensus on Transaction Commit.* ACM TODS 31(1),
//!   2006: 2PC as the degenerate case of Paxos Commit.

mod check;
mod client;
mod coordinator;
mod msg;
mod params;
mod participant;

pub use check::{Evidence, atomicity, checks, conservation, evidence, isolation};
pub use client::{Client, ClientStats};
pub use coordinator::{Coordinator, CoordinatorStats, MAX_AUDIT_ACCOUNTS};
pub use msg::{Action, HEADER_BYTES, Msg, Outcome, Record, Timer, TxnId};
pub use params::{Bug, CoordinatorChoice, MAX_COORDINATORS, PARAM_DOCS, ParamError, Params};
pub use participant::{Participant, ParticipantStats};

use sim_core::workload::WorkloadConfig;
use sim_core::{Actor, Key, NodeId, NodeSpec, OpKind, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One line for `dsim list`.
pub const SUMMARY: &str = "Two-phase commit: coordinators and participants with write-ahead logs, no-wait locks, \
     vote and decision timeouts, cooperative termination, recovery; bank transfers and multi-key puts";

/// The operations clients can run.
pub const OPS: &[OpKind] =
    &[OpKind::Transfer, OpKind::MultiPut, OpKind::MultiGet, OpKind::Audit, OpKind::Get, OpKind::Put];

/// The protocol's own checks.
pub const CHECKS: &[&str] = &["atomicity", "conservation", "isolation"];

/// Where nodes are: coordinators first, then participants, then clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub coordinators: usize,
    pub participants: usize,
    pub clients: usize,
    /// Accounts `0..accounts` (see the module essay).
    pub accounts: u64,
}

impl Topology {
    pub fn coordinator_id(&self, i: usize) -> NodeId {
        assert!(i < self.coordinators, "coordinator {i} of {}", self.coordinators);
        NodeId(i as u32)
    }

    pub fn participant_id(&self, i: usize) -> NodeId {
        assert!(i < self.participants, "participant {i} of {}", self.participants);
        NodeId((self.coordinators + i) as u32)
    }

    pub fn client_id(&self, i: usize) -> NodeId {
        NodeId((self.coordinators + self.participants + i) as u32)
    }

    /// The participant index of a node, if it is one.
    pub fn participant_index(&self, n: NodeId) -> Option<usize> {
        n.index().checked_sub(self.coordinators).filter(|&i| i < self.participants)
    }

    /// The participant that holds `key`.
    pub fn participant_of(&self, key: Key) -> NodeId {
        self.participant_id((key % self.participants as u64) as usize)
    }

    /// The accounts participant `p` holds.
    pub fn accounts_of(&self, p: NodeId) -> impl Iterator<Item = Key> + '_ {
        let i = self.participant_index(p).expect("a participant") as u64;
        (i..self.accounts).step_by(self.participants)
    }
}

/// The accounts of a workload: its key space, and any scripted key beyond
/// it (scripted names get ids from `keys` up).
pub fn accounts(workload: &WorkloadConfig) -> u64 {
    let scripted = workload.script.iter().flat_map(|s| s.op.keys()).map(|k| k.saturating_add(1)).max();
    workload.keys.max(scripted.unwrap_or(0))
}

/// A node of the protocol.
#[derive(Clone, Debug)]
pub enum Node {
    Coordinator(Box<Coordinator>),
    Participant(Box<Participant>),
    Client(Client),
}

/// The nodes of a deployment: coordinators `tc1..tcK` (role
/// `coordinator`), participants `p1..pN` (role `participant`), clients
/// `c1..cM` (role `client`), in that order of ids. `accounts` sizes audits;
/// names do not depend on it.
pub fn build(params: &Params, participants: usize, clients: usize, accounts: u64) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(participants) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let topo = Arc::new(Topology { coordinators: params.coordinators as usize, participants, clients, accounts });
    let mut nodes = Vec::with_capacity(topo.coordinators + participants + clients);
    for i in 0..topo.coordinators {
        nodes.push(NodeSpec {
            name: format!("tc{}", i + 1),
            role: "coordinator".into(),
            actor: Node::Coordinator(Box::new(Coordinator::new(params.clone(), topo.clone(), i))),
        });
    }
    for i in 0..participants {
        let id = topo.participant_id(i);
        nodes.push(NodeSpec {
            name: format!("p{}", i + 1),
            role: "participant".into(),
            actor: Node::Participant(Box::new(Participant::new(params.clone(), topo.clone(), id))),
        });
    }
    for i in 0..clients {
        nodes.push(NodeSpec {
            name: format!("c{}", i + 1),
            role: "client".into(),
            actor: Node::Client(Client::new(params.clone(), topo.clone(), i)),
        });
    }
    nodes
}

fn coordinators_of(nodes: &[Node]) -> impl Iterator<Item = &Coordinator> {
    nodes.iter().filter_map(|n| if let Node::Coordinator(c) = n { Some(&**c) } else { None })
}

fn participants_of(nodes: &[Node]) -> impl Iterator<Item = (usize, &Participant)> {
    nodes.iter().enumerate().filter_map(|(i, n)| if let Node::Participant(p) = n { Some((i, &**p)) } else { None })
}

/// The protocol's counters, usable in `[expect]`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TpcCounters {
    pub txns_begun: u64,
    /// Distinct transactions a coordinator decided to commit / abort.
    pub txns_committed: u64,
    pub txns_aborted: u64,
    /// Transactions some participant still holds prepared, in doubt, at the end.
    pub txns_in_doubt: u64,
    pub aborts_vote_no: u64,
    pub aborts_vote_timeout: u64,
    pub aborts_on_recovery: u64,
    pub aborts_on_request: u64,
    pub audits_refused: u64,
    /// Prepared-and-in-doubt spans (one per participant and transaction
    /// voted yes on; those still open at the end count up to the end).
    pub blocked_spans: u64,
    pub blocking_time_ms_sum: f64,
    pub blocking_time_ms_max: f64,
    pub blocking_time_ms_p99: f64,
    pub termination_rounds: u64,
    pub resolved_by_termination: u64,
    pub lock_conflicts: u64,
    pub insufficient_funds: u64,
    pub votes_yes: u64,
    pub votes_no: u64,
    /// Commits a participant could not apply (it had aborted or forgotten
    /// the transaction): only the buggy variants cause them.
    pub commits_refused: u64,
    pub messages: u64,
    pub messages_per_txn: f64,
    /// Transactions begun by the busiest and the idlest coordinator.
    pub coordinator_load_max: u64,
    pub coordinator_load_min: u64,
}

/// The protocol's own account of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TpcReport {
    #[serde(flatten)]
    pub counters: TpcCounters,
    /// Transactions begun per coordinator.
    pub coordinator_load: BTreeMap<String, u64>,
    /// A short table per node, printed by the text summary.
    pub table: String,
}

/// Gathers the report from the nodes at the end of a run (`end`: the
/// simulated time then).
pub fn report(nodes: &[Node], names: &[String], end: SimTime) -> TpcReport {
    let mut c = TpcCounters::default();
    let mut committed = BTreeSet::new();
    let mut aborted = BTreeSet::new();
    let mut load = BTreeMap::new();
    let mut table = String::from("node   begun/yes  committed/no  aborted/conflicts  in-doubt  blocked-max-ms\n");
    for (i, k) in coordinators_of(nodes).enumerate() {
        let s = &k.stats;
        c.txns_begun += s.begun;
        c.aborts_vote_no += s.aborts_vote_no;
        c.aborts_vote_timeout += s.aborts_vote_timeout;
        c.aborts_on_recovery += s.aborts_on_recovery;
        c.aborts_on_request += s.aborts_on_request;
        c.audits_refused += s.audits_refused;
        c.messages += s.messages_sent;
        let (mut mine_c, mut mine_a) = (BTreeSet::new(), BTreeSet::new());
        for (txn, o, _) in &s.decisions {
            match o {
                Outcome::Commit => mine_c.insert(*txn),
                Outcome::Abort => mine_a.insert(*txn),
            };
        }
        let name = names.get(i).cloned().unwrap_or_default();
        table.push_str(&format!("{name:<6} {:>9}  {:>12}  {:>17}\n", s.begun, mine_c.len(), mine_a.len()));
        load.insert(name, s.begun);
        committed.extend(mine_c);
        aborted.extend(mine_a);
    }
    c.txns_committed = committed.len() as u64;
    c.txns_aborted = aborted.len() as u64;
    c.coordinator_load_max = load.values().copied().max().unwrap_or(0);
    c.coordinator_load_min = load.values().copied().min().unwrap_or(0);
    let mut spans: Vec<u64> = Vec::new();
    let mut in_doubt = BTreeSet::new();
    for (i, p) in participants_of(nodes) {
        let s = &p.stats;
        let open: Vec<u64> = s.in_doubt_since.values().map(|since| end.since(*since)).collect();
        let max_ns = s.blocked_ns.iter().chain(&open).copied().max().unwrap_or(0);
        spans.extend(s.blocked_ns.iter().chain(&open));
        in_doubt.extend(s.in_doubt_since.keys().copied());
        c.termination_rounds += s.termination_rounds;
        c.resolved_by_termination += s.resolved_by_termination;
        c.lock_conflicts += s.lock_conflicts;
        c.insufficient_funds += s.insufficient_funds;
        c.votes_yes += s.votes_yes;
        c.votes_no += s.votes_no;
        c.commits_refused += s.commits_refused;
        c.messages += s.messages_sent;
        let name = names.get(i).cloned().unwrap_or_default();
        table.push_str(&format!(
            "{name:<6} {:>9}  {:>12}  {:>17}  {:>8}  {:>14.1}\n",
            s.votes_yes,
            s.votes_no,
            s.lock_conflicts,
            s.in_doubt_since.len(),
            max_ns as f64 / 1e6
        ));
    }
    for n in nodes {
        if let Node::Client(cl) = n {
            c.messages += cl.stats.messages_sent;
        }
    }
    c.txns_in_doubt = in_doubt.len() as u64;
    spans.sort_unstable();
    c.blocked_spans = spans.len() as u64;
    c.blocking_time_ms_sum = spans.iter().sum::<u64>() as f64 / 1e6;
    c.blocking_time_ms_max = spans.last().copied().unwrap_or(0) as f64 / 1e6;
    c.blocking_time_ms_p99 = percentile(&spans, 0.99) as f64 / 1e6;
    c.messages_per_txn = if c.txns_begun == 0 { 0.0 } else { c.messages as f64 / c.txns_begun as f64 };
    TpcReport { counters: c, coordinator_load: load, table }
}

/// The nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    crate::dispatch_to_roles!(Coordinator, Participant, Client);
}
