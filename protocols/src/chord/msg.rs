//! Messages and timers of Chord.
//!
//! Sizes: a 64-byte header, 24 bytes per identifier-and-address named,
//! and the values stored or moved, so maintenance and transfer traffic
//! show up in the byte counts.

use super::id::Id;
use sim_core::{Key, Message, NodeId, Value};

/// Bytes of addressing and framing that every message costs on the wire.
pub const HEADER_BYTES: u64 = 64;
/// Bytes of one (identifier, address) pair.
pub const PEER_BYTES: u64 = 24;

/// A node as others know it: its identifier and its address.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Peer {
    pub id: Id,
    pub node: NodeId,
}

/// A stored value and the stamp ordering it: (owner's clock, value id).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stored {
    pub stamp: (u64, u64),
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Iterative lookup step: which node is next towards `target`?
    FindNext {
        req: u64,
        target: Id,
    },
    /// Answer to `FindNext`: the owner if the asked node knows it, else the
    /// nodes to ask next, best first. `member = false`: not in the ring.
    NextReply {
        req: u64,
        owner: Option<Peer>,
        next: Vec<Peer>,
        member: bool,
    },
    /// Recursive lookup: forwarded hop by hop; the last node answers `origin`.
    Route {
        req: u64,
        origin: NodeId,
        target: Id,
        hops: u32,
    },
    /// The answer to a recursive lookup.
    RouteDone {
        req: u64,
        owner: Peer,
        hops: u32,
    },
    /// A recursive lookup reached a node outside the ring.
    NotMember {
        req: u64,
    },
    /// Stabilize: what are your predecessor and successors?
    GetNeighbours {
        nonce: u64,
    },
    Neighbours {
        nonce: u64,
        pred: Option<Peer>,
        succs: Vec<Peer>,
    },
    /// "I might be your predecessor."
    Notify {
        peer: Peer,
    },
    /// check_predecessor's probe.
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// DHash: read or write `key` at its owner.
    Get {
        req: u64,
        key: Key,
    },
    GetReply {
        req: u64,
        value: Option<Value>,
    },
    Put {
        req: u64,
        key: Key,
        value: Value,
    },
    PutOk {
        req: u64,
    },
    /// Copies of keys: replication to successors, transfer to a new
    /// predecessor, or a leaving node's hand-off.
    Store {
        entries: Vec<(Key, Stored)>,
    },
    /// A node leaving gracefully, to its predecessor: your new successors.
    LeavingToPred {
        succs: Vec<Peer>,
    },
    /// A node leaving gracefully, to its successor: your new predecessor.
    LeavingToSucc {
        pred: Option<Peer>,
    },
}

impl Msg {
    /// Whether the message is ring maintenance (stabilize, notify,
    /// check_predecessor, fix_fingers lookups are counted by their sender).
    pub fn is_maintenance(&self) -> bool {
        matches!(
            self,
            Msg::GetNeighbours { .. }
                | Msg::Neighbours { .. }
                | Msg::Notify { .. }
                | Msg::Ping { .. }
                | Msg::Pong { .. }
                | Msg::LeavingToPred { .. }
                | Msg::LeavingToSucc { .. }
        )
    }
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "find_next",
        "next_reply",
        "route",
        "route_done",
        "not_member",
        "get_neighbours",
        "neighbours",
        "notify",
        "ping",
        "pong",
        "get",
        "get_reply",
        "put",
        "put_ok",
        "store",
        "leaving_to_pred",
        "leaving_to_succ",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::FindNext { .. } => 0,
            Msg::NextReply { .. } => 1,
            Msg::Route { .. } => 2,
            Msg::RouteDone { .. } => 3,
            Msg::NotMember { .. } => 4,
            Msg::GetNeighbours { .. } => 5,
            Msg::Neighbours { .. } => 6,
            Msg::Notify { .. } => 7,
            Msg::Ping { .. } => 8,
            Msg::Pong { .. } => 9,
            Msg::Get { .. } => 10,
            Msg::GetReply { .. } => 11,
            Msg::Put { .. } => 12,
            Msg::PutOk { .. } => 13,
            Msg::Store { .. } => 14,
            Msg::LeavingToPred { .. } => 15,
            Msg::LeavingToSucc { .. } => 16,
        }
    }

    fn size_bytes(&self) -> u64 {
        let peers = |n: usize| n as u64 * PEER_BYTES;
        HEADER_BYTES
            + match self {
                Msg::FindNext { .. } | Msg::Route { .. } => PEER_BYTES,
                Msg::NextReply { owner, next, .. } => peers(next.len() + owner.is_some() as usize),
                Msg::RouteDone { .. } | Msg::Notify { .. } => PEER_BYTES,
                Msg::Neighbours { pred, succs, .. } => peers(succs.len() + pred.is_some() as usize),
                Msg::LeavingToPred { succs } => peers(succs.len()),
                Msg::LeavingToSucc { pred } => peers(pred.is_some() as usize),
                Msg::GetReply { value, .. } => value.map_or(0, |v| v.size_bytes),
                Msg::Put { value, .. } => 8 + value.size_bytes,
                Msg::Get { .. } => 8,
                Msg::Store { entries } => entries.iter().map(|(_, s)| 24 + s.value.size_bytes).sum(),
                Msg::NotMember { .. }
                | Msg::GetNeighbours { .. }
                | Msg::Ping { .. }
                | Msg::Pong { .. }
                | Msg::PutOk { .. } => 0,
            }
    }
}

/// Timers of chord nodes and clients.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Stabilize,
    FixFingers,
    CheckPredecessor,
    /// Start joining the ring (a spare's churn, a restart, or bootstrap).
    Join,
    /// Leave the ring gracefully (churn).
    Leave,
    /// Record this node's state for the report.
    Snapshot,
    /// A request `req` got no answer in time.
    Timeout {
        req: u64,
    },
}
