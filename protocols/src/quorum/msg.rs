//! Messages, timers and disk records of the quorum store.
//!
//! Request ids (`req`, chosen by clients) and operation ids (`op`, chosen
//! by coordinators) match replies to requests. Each node starts its ids at
//! `boot << 40`, where `boot` counts its incarnations on its own disk, so a
//! reply addressed to an earlier life never matches a request of this one.
//!
//! Sizes: every message costs a 64-byte header, plus the values it carries,
//! plus 16 bytes per timestamp or vector clock entry, 8 per key named, 16
//! per Merkle tree node (range, index, hash) and 8 per gossiped heartbeat,
//! so anti-entropy and gossip traffic show up in the byte counts.

use super::version::{VClock, Versions, versions_size_bytes};
use sim_core::{Key, Message, NodeId, Value};
use smallvec::SmallVec;

/// Bytes of addressing and framing that every message costs on the wire.
pub const HEADER_BYTES: u64 = 64;

/// A key with its versions, as handoff and anti-entropy move them.
pub type Entry = (Key, Versions);

/// The values a get returns: one inline (a get under last-writer-wins never
/// returns more), so answering does not allocate. It hashes like a `Vec` of
/// the same values (the length, then each value), so the trace hash does
/// not depend on the representation.
pub type Values = SmallVec<[Value; 1]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Client to coordinator: read `key`.
    ClientGet {
        req: u64,
        key: Key,
    },
    /// Client to coordinator: write `value`. Under vector clocks `clock` is
    /// the client's context for the key advanced by the client's own entry.
    ClientPut {
        req: u64,
        key: Key,
        value: Value,
        clock: Option<VClock>,
    },
    /// Coordinator to client: the versions read (none: absent; several:
    /// siblings), sorted by value id, and the context a next put supersedes.
    GetOk {
        req: u64,
        values: Values,
        context: VClock,
    },
    /// Coordinator to client: W replicas stored the put.
    PutOk {
        req: u64,
    },
    /// Coordinator to client: no quorum. `written` says whether any replica
    /// may have stored the put (then its outcome is unknown).
    Failed {
        req: u64,
        written: bool,
    },
    /// Coordinator to replica: send your versions of `key`.
    Read {
        op: u64,
        key: Key,
    },
    ReadReply {
        op: u64,
        key: Key,
        versions: Versions,
    },
    /// Coordinator to replica: store a put. `hint` names the home replica a
    /// stand-in holds it for (sloppy quorum).
    Write {
        op: u64,
        key: Key,
        versions: Versions,
        hint: Option<NodeId>,
    },
    /// Coordinator to replica (blocking read repair): store what the get
    /// is about to return, and acknowledge.
    WriteBack {
        op: u64,
        key: Key,
        versions: Versions,
        hint: Option<NodeId>,
    },
    /// Replica to coordinator: `Write` or `WriteBack` is durable here.
    WriteAck {
        op: u64,
        key: Key,
    },
    /// Coordinator to a replica that answered with old versions (async
    /// read repair); not acknowledged.
    ReadRepair {
        key: Key,
        versions: Versions,
        hint: Option<NodeId>,
    },
    /// Stand-in to home replica: hinted copies for you.
    Handoff {
        entries: Vec<Entry>,
    },
    /// Home replica to stand-in: stored; the digest of what was stored.
    HandoffAck {
        entries: Vec<(Key, u64)>,
    },
    /// Anti-entropy: my hashes of these Merkle tree nodes, as
    /// (range, node index, hash); the root is index 1.
    AeTree {
        nodes: Vec<(u32, u32, u64)>,
    },
    /// Anti-entropy: these leaves (range, leaf) differ; here is what I hold
    /// in them.
    AeSync {
        leaves: Vec<(u32, u32)>,
        entries: Vec<Entry>,
    },
    /// Anti-entropy: what I hold in those leaves that you did not send.
    AeSyncReply {
        entries: Vec<Entry>,
    },
    /// Gossip: the highest heartbeat I know of each server.
    Gossip {
        heartbeats: Vec<u64>,
    },
}

fn entries_size(entries: &[Entry]) -> u64 {
    entries.iter().fold(0u64, |acc, (_, vs)| acc.saturating_add(8).saturating_add(versions_size_bytes(vs)))
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "client_get",
        "client_put",
        "get_ok",
        "put_ok",
        "failed",
        "read",
        "read_reply",
        "write",
        "write_back",
        "write_ack",
        "read_repair",
        "handoff",
        "handoff_ack",
        "ae_tree",
        "ae_sync",
        "ae_sync_reply",
        "gossip",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::ClientGet { .. } => 0,
            Msg::ClientPut { .. } => 1,
            Msg::GetOk { .. } => 2,
            Msg::PutOk { .. } => 3,
            Msg::Failed { .. } => 4,
            Msg::Read { .. } => 5,
            Msg::ReadReply { .. } => 6,
            Msg::Write { .. } => 7,
            Msg::WriteBack { .. } => 8,
            Msg::WriteAck { .. } => 9,
            Msg::ReadRepair { .. } => 10,
            Msg::Handoff { .. } => 11,
            Msg::HandoffAck { .. } => 12,
            Msg::AeTree { .. } => 13,
            Msg::AeSync { .. } => 14,
            Msg::AeSyncReply { .. } => 15,
            Msg::Gossip { .. } => 16,
        }
    }

    /// Inlined: the engine calls it once per message sent.
    #[inline]
    fn size_bytes(&self) -> u64 {
        let clock = |c: &VClock| 16 * c.len() as u64;
        let body = match self {
            Msg::ClientGet { .. }
            | Msg::PutOk { .. }
            | Msg::Failed { .. }
            | Msg::Read { .. }
            | Msg::WriteAck { .. } => 0,
            Msg::ClientPut { value, clock: c, .. } => value.size_bytes.saturating_add(c.as_ref().map_or(0, clock)),
            Msg::GetOk { values, context, .. } => {
                values.iter().fold(clock(context), |acc, v| acc.saturating_add(v.size_bytes))
            }
            Msg::ReadReply { versions, .. }
            | Msg::Write { versions, .. }
            | Msg::WriteBack { versions, .. }
            | Msg::ReadRepair { versions, .. } => versions_size_bytes(versions),
            Msg::Handoff { entries } | Msg::AeSyncReply { entries } => entries_size(entries),
            Msg::AeSync { leaves, entries } => entries_size(entries).saturating_add(8 * leaves.len() as u64),
            Msg::HandoffAck { entries } => 16 * entries.len() as u64,
            Msg::AeTree { nodes } => 16 * nodes.len() as u64,
            Msg::Gossip { heartbeats } => 8 * heartbeats.len() as u64,
        };
        HEADER_BYTES.saturating_add(body)
    }
}

impl Msg {
    /// Whether the message is repair traffic of anti-entropy.
    pub fn is_anti_entropy(&self) -> bool {
        matches!(self, Msg::AeTree { .. } | Msg::AeSync { .. } | Msg::AeSyncReply { .. })
    }

    /// Whether the message is repair traffic of read repair.
    pub fn is_read_repair(&self) -> bool {
        matches!(self, Msg::ReadRepair { .. } | Msg::WriteBack { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Client: request `req` timed out.
    Request { req: u64 },
    /// Coordinator: the replicas of operation `op` had their time.
    Replica { op: u64 },
    /// Stand-in: try to hand hinted copies off.
    Handoff,
    /// Start an anti-entropy round with a random peer.
    AntiEntropy,
    /// Gossip heartbeats to a random peer.
    Gossip,
}

/// What nodes write to their disks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// The number of this incarnation.
    Boot { n: u64 },
    /// Server: every version now held of `key` as a home replica (the last
    /// record of a key wins on replay).
    Store { key: Key, versions: Versions },
    /// Stand-in: the hinted versions of `key` held for `intended`; empty
    /// once handed off.
    Hint { intended: NodeId, key: Key, versions: Versions },
}

impl Record {
    /// The boot number, if this is a boot record.
    pub fn boot(&self) -> Option<u64> {
        if let Record::Boot { n } = self { Some(*n) } else { None }
    }
}

/// The next boot number, from a node's synced log.
pub fn next_boot<'a>(log: impl IntoIterator<Item = &'a Record>) -> u64 {
    crate::incarnation::next_boot(log.into_iter().filter_map(Record::boot))
}

pub use crate::incarnation::first_id;

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine stores messages inline in its events: a message that
    /// grows makes every event bigger and every queue operation slower.
    /// 80 bytes: a write with one version inline.
    #[test]
    fn messages_stay_small() {
        assert!(std::mem::size_of::<Msg>() <= 80, "Msg is {} bytes", std::mem::size_of::<Msg>());
    }
}
