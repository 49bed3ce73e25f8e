//! # Primary-backup replication with a view server
//!
//! A **view server** (`vs`) decides who serves; **servers** `s1`..`sN`
//! hold copies of a key-value store; **clients** run gets and puts. At any
//! moment one server is the **primary**, which orders every operation, one
//! other is the **backup**, which holds a copy, and the rest are **idle**.
//! It is the design of MIT 6.824's lab 2 (a view service and a
//! primary/backup key-value service), the scheme of Alsberg and Day's
//! resilient services (1976) and of the primary-backup protocols Budhiraja
//! et al. analyse (1993); VMware FT (2010) is a modern descendant.
//!
//! ## Views
//!
//! A view is a number, a primary and a backup. Every server pings the view
//! server every `ping_interval_ms` with the number of the newest view it
//! has learned (0 after a restart: it holds nothing), and learns the
//! current view from the reply. The view server declares a server dead
//! after `dead_pings` intervals without a ping, or at once when its primary
//! or backup pings with 0. It decides at its ticks, once per ping
//! interval. At the first tick it starts view 1 with the lowest-numbered
//! server it has heard from as primary and no backup; after that, a new
//! view:
//!
//! - replaces a dead primary by the **backup, and only the backup**: no
//!   one else holds the state. With no live backup the service waits for
//!   the primary (it may only be slow or cut off);
//! - replaces a dead backup, or fills a missing one, with an **idle**
//!   server (the lowest-numbered one that is live, not in the view, and
//!   has learned a view, so that its later pings of 0 mean a restart), or
//!   none;
//! - is started only once the **primary has acknowledged** the current
//!   view, by pinging with its number. A primary acknowledges a view only
//!   when its backup holds the state (below), so the view server never
//!   promotes a backup that is not yet a copy.
//!
//! The view server keeps its current view on disk: after a restart it
//! never numbers two views alike. Which servers are alive it relearns.
//!
//! A primary that restarts before acknowledging its view is the protocol's
//! known hole: the view server may not move on, and replies to the
//! restarted server's pings with the view that names it primary. A server
//! that knows no view yet and hears it is primary of a view after the
//! first therefore refuses the role (it holds nothing) and keeps pinging
//! with 0; the service waits, rather than serve from an empty copy.
//!
//! ## Operations
//!
//! Clients ask the view server for the view and send each operation to its
//! primary, under `client_timeout_ms`. The primary queues operations and
//! runs them one at a time: it forwards the operation, with its view
//! number, to the backup; the backup applies it only if the view number is
//! its own, it is that view's backup and it holds that view's state
//! transfer, and acknowledges; the primary
//! then applies it and replies. Gets are forwarded too: the backup's
//! acknowledgement in the same view proves no later view can have served
//! a newer write yet (a later view's primary would be this very backup,
//! which has not moved on). A forward unanswered for `forward_timeout_ms`
//! is sent again. A server that is not primary rejects client requests and
//! names the view it knows; a primary whose backup refuses it for a newer
//! view stops serving and rejects what it holds.
//!
//! ## State transfer
//!
//! A primary entering a view with a backup first sends the backup its
//! whole state (data and at-most-once filter) in one message whose size is
//! the state's bytes, resent until acknowledged, and only then forwards
//! operations and acknowledges the view. Since the primary runs one
//! operation at a time, every operation falls before the transfer (it is
//! in the state) or after it (it is forwarded). The backup installs one
//! transfer per view, so a late duplicate cannot erase later forwards.
//!
//! ## At most once
//!
//! Each client request has an id (client, request number; numbers start at
//! the client's incarnation, counted on its disk). Clients retry with the
//! same id on a timeout, or after `client_backoff_ms` on a rejection, up to
//! `client_retries` times, asking the view server again. The state holds
//! every applied put's id: the primary answers a retried put from it, the
//! backup acknowledges a repeated forward without applying it, and the
//! filter travels with state transfers, so a retry that reaches a new
//! primary is not applied again. To make this checkable, the state also
//! counts how many times it applied each request (`at_most_once` reads
//! those counts). A put whose attempts all timed out ends `unknown`; one
//! refused by every server it reached, without being forwarded, `fail`.
//!
//! ## What it guarantees
//!
//! With the view server up and at most one of primary and backup failing
//! per view change: gets and puts are linearizable; an acknowledged put
//! survives the primary's crash (the backup held it before the client
//! heard "done"); at most one server acts as primary per view, and a
//! deposed primary cannot complete an operation once its backup moved on;
//! a retried put is applied once.
//!
//! ## What it does not guarantee
//!
//! - The view server is a single point of failure: while it is down or
//!   unreachable nothing changes view, and clients that cannot reach it
//!   cannot find a new primary (they keep using the last one they knew).
//! - Availability waits on acknowledgements: if the primary cannot reach
//!   the backup but the view server still hears both, nothing completes
//!   until one of them is declared dead; every failover costs about
//!   `dead_pings` ping intervals plus a state transfer.
//! - If the primary and backup both fail, or the primary fails before its
//!   first backup holds the state, the data is gone or the service stops:
//!   only the backup may be promoted.
//! - Servers keep state in memory only: a restarted server is empty, and
//!   becomes useful again only as a backup that receives a transfer.
//! - One operation at a time at the primary: throughput is one round trip
//!   to the backup per operation.
//!
//! ## Bugs for labs (`bug`)
//!
//! - `no_view_check`: the backup applies forwards of any view. A primary
//!   cut off from the view server keeps serving through its old backup,
//!   now the new primary: reads miss newer writes, and two primaries act
//!   at once (`split-brain-attempt.toml` with the bug: `no-view-check.toml`).
//! - `promote_idle`: the view server promotes an idle server, which holds
//!   nothing, instead of the backup, and the old backup becomes its backup:
//!   the state transfer then erases the only copy (`promote-idle.toml`).
//! - `reply_before_ack`: the primary applies and replies at once and
//!   forwards in the background; a crash loses acknowledged writes the
//!   backup never got (`reply-before-ack.toml`).
//!
//! # References
//!
//! - P. A. Alsberg, J. D. Day. *A Principle for Resilient Sharing of
//!   Distributed Resources*. ICSE 1976 (the primary and backup hosts).
//! - N. Budhiraja, K. Marzullo, F. B. Schneider, S. Toueg. *The
//!   Primary-Backup Approach*. In *Distributed Systems* (2nd ed.), ch. 8,
//!   1993 (the specification: one primary at a time, clients' requests to
//!   it; lower bounds on failover time and replication degree).
//! - MIT 6.824, Lab 2: *Primary/Backup Key/Value Service* (2012-2014):
//!   the view service's rules (promote only the backup, wait for the
//!   primary's acknowledgement, pings of view 0 after a restart), state
//!   transfer, at-most-once with client request ids.
//! - D. J. Scales, M. Nelson, G. Venkitachalam. *The Design of a Practical
//!   System for Fault-Tolerant Virtual Machines* (VMware FT). SIGOPS OSR
//!   44(4), 2010 (output rule: no reply before the backup has the input).
//! - M. P. Herlihy, J. M. Wing. *Linearizability*. TOPLAS 12(3), 1990.

mod check;
mod client;
mod msg;
mod params;
mod report;
mod server;
mod viewserver;

pub use check::{
    AT_MOST_ONCE, Ack, Applied, ONE_PRIMARY_PER_VIEW, PrimaryReply, at_most_once, one_primary_per_view, request_name,
};
pub use client::Client;
pub use msg::{HEADER_BYTES, Msg, Record, ReqId, State, Timer, View};
pub use params::{Bug, PARAM_DOCS, ParamError, Params};
pub use report::{Failover, PbCounters, PbReport, ViewEntry, Window, report};
pub use server::{MAX_QUEUE, Server, ServerCounters};
pub use viewserver::{ViewRecord, ViewServer};

use crate::ProtocolCheck;
use sim_core::{Actor, Key, NodeId, NodeSpec, NodeStatus, OpKind, Sim, Value};

/// One line for `dsim list`.
pub const SUMMARY: &str = "Primary-backup replication with a view server (6.824 lab 2): numbered views, pings, promotion \
     of the backup only, forwarding with view checks, state transfer, at-most-once retries; three lab bugs";

/// The operations clients can run.
pub const OPS: &[OpKind] = &[OpKind::Get, OpKind::Put];

/// The protocol's own checks, which always run.
pub const CHECKS: &[&str] = &[ONE_PRIMARY_PER_VIEW, AT_MOST_ONCE];

/// The view server is node 0.
pub const VIEW_SERVER: NodeId = NodeId(0);

/// The id of server `i` (0-based, named `s{i+1}`): servers follow the view server.
pub fn server_id(i: usize) -> NodeId {
    NodeId(u32::try_from(i + 1).expect("too many nodes"))
}

/// The 0-based index of a server's id.
pub fn server_index(n: NodeId) -> usize {
    assert!(n.0 >= 1, "{n:?} is the view server, not a server");
    n.index() - 1
}

/// The ids of the clients of a deployment built by [`build`].
pub fn client_ids(servers: usize, clients: usize) -> Vec<NodeId> {
    (0..clients).map(|c| server_id(servers + c)).collect()
}

/// A node of the primary-backup service.
#[derive(Clone, Debug)]
pub enum Node {
    /// Boxed: the view server and servers are several times a client.
    ViewServer(Box<ViewServer>),
    Server(Box<Server>),
    Client(Client),
}

/// The nodes of a deployment: the view server "vs" (node 0, role
/// `viewserver`), servers "s1".."sN" (role `server`), then clients
/// "c1".."cM" (role `client`).
pub fn build(params: &Params, servers: usize, clients: usize) -> Vec<NodeSpec<Node>> {
    if let Err(e) = params.validate(servers) {
        panic!("build called with invalid parameters ({e}); validate them first");
    }
    let mut nodes = Vec::with_capacity(1 + servers + clients);
    nodes.push(NodeSpec {
        name: "vs".into(),
        role: "viewserver".into(),
        actor: Node::ViewServer(Box::new(ViewServer::new(params.clone(), servers))),
    });
    for i in 0..servers {
        nodes.push(NodeSpec {
            name: format!("s{}", i + 1),
            role: "server".into(),
            actor: Node::Server(Box::new(Server::new(params.clone(), server_id(i)))),
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

fn servers_of(nodes: &[Node]) -> impl Iterator<Item = &Server> {
    nodes.iter().filter_map(|n| match n {
        Node::Server(s) => Some(&**s),
        _ => None,
    })
}

/// The view server's log of views.
pub fn view_log(nodes: &[Node]) -> &[ViewRecord] {
    match nodes.first() {
        Some(Node::ViewServer(vs)) => vs.log(),
        _ => panic!("node 0 of a primary-backup deployment is the view server"),
    }
}

/// The server with id `n`.
pub fn server(nodes: &[Node], n: NodeId) -> &Server {
    match nodes.get(n.index()) {
        Some(Node::Server(s)) => s,
        _ => panic!("{n:?} is not a server"),
    }
}

/// The store at the end of a run: what the final view's primary holds, if
/// the view server and that primary are up and the primary serves in that
/// view (a restarted primary the view server has not replaced holds
/// nothing that counts). `None` when that cannot be told.
pub fn final_replicas(sim: &Sim<Node>) -> Option<Vec<(NodeId, Key, Vec<Value>)>> {
    if sim.status(VIEW_SERVER) == NodeStatus::Down {
        return None;
    }
    let view = match &sim.actors()[VIEW_SERVER.index()] {
        Node::ViewServer(vs) => vs.view(),
        _ => return None,
    };
    let p = view.primary?;
    let s = server(sim.actors(), p);
    if sim.status(p) == NodeStatus::Down || s.view() != view || !s.is_serving_primary() {
        return None;
    }
    Some(s.state().data.iter().map(|(&k, &v)| (p, k, vec![v])).collect())
}

/// The protocol's own checks over a finished run.
pub fn checks(sim: &Sim<Node>, max_examples: usize) -> Vec<ProtocolCheck> {
    let nodes = sim.actors();
    let names = sim.names();
    let log = view_log(nodes);
    let replies: Vec<PrimaryReply> = servers_of(nodes).flat_map(|s| s.replies().iter().copied()).collect();
    let applies: Vec<Applied> = servers_of(nodes).flat_map(|s| s.applies().iter().copied()).collect();
    let [primary_numbers, apply_numbers] = check::numbers(&replies, &applies, log);
    vec![
        ProtocolCheck::from_findings(
            ONE_PRIMARY_PER_VIEW,
            one_primary_per_view(&replies, log, names),
            max_examples,
            primary_numbers,
        ),
        ProtocolCheck::from_findings(AT_MOST_ONCE, at_most_once(&applies, names), max_examples, apply_numbers),
    ]
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;

    crate::dispatch_to_roles!(ViewServer, Server, Client);

    fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        if let Node::Server(s) = self {
            out.extend(s.state().data.iter().map(|(&k, &v)| (k, v)));
        }
    }
}
