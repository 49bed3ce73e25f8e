//! Views, replicated state, messages, timers and disk records of
//! primary-backup replication.
//!
//! Sizes: every message costs a 64-byte header, plus the value a put or a
//! get's reply carries, plus 24 bytes per view; a state transfer costs the
//! whole state: 16 bytes per key plus its value, and 16 bytes per request
//! id of the at-most-once filter, so a large store makes failover slow on a
//! thin link.

use sim_core::{Key, Message, NodeId, Op, Value};
use std::collections::BTreeMap;

/// Bytes of addressing and framing that every message costs on the wire.
pub const HEADER_BYTES: u64 = 64;
/// Bytes a view takes on the wire (number, primary, backup).
const VIEW_BYTES: u64 = 24;

/// A numbered view: who is primary and who is backup. View 0 is the empty
/// view nobody serves in; the view server numbers every later one.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct View {
    pub num: u64,
    pub primary: Option<NodeId>,
    pub backup: Option<NodeId>,
}

/// A client request's identity: the client and its request number (unique
/// across the client's restarts). Retries reuse it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ReqId {
    pub client: NodeId,
    pub req: u64,
}

/// What the primary replicates: the data, the at-most-once filter, and how
/// many times each request was applied to this copy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct State {
    pub data: BTreeMap<Key, Value>,
    /// Every put request applied to this state, with how many times it was.
    /// The filter consults it before applying, so a count above one means
    /// the filter failed; the count travels with the state, so a request
    /// applied before a transfer and again after it is counted twice.
    pub applied: BTreeMap<ReqId, u32>,
}

impl State {
    /// Bytes this state costs to transfer.
    pub fn size_bytes(&self) -> u64 {
        let data = self.data.values().fold(0u64, |acc, v| acc.saturating_add(16).saturating_add(v.size_bytes));
        data.saturating_add(16u64.saturating_mul(self.applied.len() as u64))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Server to view server: I am alive and know view `view` (0 after a
    /// restart: I hold nothing). A primary sends the current view's number
    /// only once its backup holds the state: that is its acknowledgement.
    Ping {
        view: u64,
    },
    /// View server to a server or client: the current view.
    ViewReply {
        view: View,
    },
    /// Client to view server: which view is current?
    GetView,
    /// Client to server: run `op`.
    Request {
        req: u64,
        op: Op,
    },
    /// Primary to client: done; a get's value (none: absent).
    Reply {
        req: u64,
        value: Option<Value>,
    },
    /// Server to client: not done. `view` is the newest view the server
    /// knows; `maybe_applied` says the backup may hold the put.
    Reject {
        req: u64,
        view: View,
        maybe_applied: bool,
    },
    /// Primary to backup: apply `op` (a put) or confirm the view (a get).
    Forward {
        view: u64,
        id: ReqId,
        op: Op,
    },
    /// Backup to primary: applied (or filtered); `view` is the backup's own.
    ForwardAck {
        view: u64,
        id: ReqId,
    },
    /// Backup to primary: refused, because my view is `view`.
    ForwardReject {
        id: ReqId,
        view: View,
    },
    /// Primary to the backup of view `view`: the whole state.
    Transfer {
        view: u64,
        state: State,
    },
    TransferAck {
        view: u64,
    },
    /// Refused: my view is `view`.
    TransferReject {
        view: View,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "ping",
        "view_reply",
        "get_view",
        "request",
        "reply",
        "reject",
        "forward",
        "forward_ack",
        "forward_reject",
        "transfer",
        "transfer_ack",
        "transfer_reject",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::Ping { .. } => 0,
            Msg::ViewReply { .. } => 1,
            Msg::GetView => 2,
            Msg::Request { .. } => 3,
            Msg::Reply { .. } => 4,
            Msg::Reject { .. } => 5,
            Msg::Forward { .. } => 6,
            Msg::ForwardAck { .. } => 7,
            Msg::ForwardReject { .. } => 8,
            Msg::Transfer { .. } => 9,
            Msg::TransferAck { .. } => 10,
            Msg::TransferReject { .. } => 11,
        }
    }

    fn size_bytes(&self) -> u64 {
        let value = |v: &Option<Value>| v.map_or(0, |v| v.size_bytes);
        let body = match self {
            Msg::Ping { .. } | Msg::GetView | Msg::ForwardAck { .. } | Msg::TransferAck { .. } => 0,
            Msg::ViewReply { .. } | Msg::Reject { .. } | Msg::ForwardReject { .. } | Msg::TransferReject { .. } => {
                VIEW_BYTES
            }
            Msg::Request { op, .. } | Msg::Forward { op, .. } => value(&op.value),
            Msg::Reply { value: v, .. } => value(v),
            Msg::Transfer { state, .. } => state.size_bytes(),
        };
        HEADER_BYTES.saturating_add(body)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Server: ping the view server.
    Ping,
    /// View server: look for dead servers.
    Tick,
    /// Primary: the backup did not acknowledge the forward of `id` in time.
    Forward { id: ReqId },
    /// Primary: the backup did not acknowledge the transfer of view `view`.
    Transfer { view: u64 },
    /// Client: attempt `attempt` of request `req` timed out.
    Attempt { req: u64, attempt: u32 },
    /// Client: the pause after a rejection is over; try again.
    Backoff { req: u64, attempt: u32 },
}

/// What nodes write to their disks. Servers write nothing: their state is
/// in memory only, and a restarted server comes back empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// Client: the number of this incarnation.
    Boot { n: u64 },
    /// View server: the current view (the last record wins on replay), so
    /// a restarted view server never numbers two views alike.
    View { view: View },
}
