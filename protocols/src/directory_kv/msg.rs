//! Messages, timers and disk records of the directory store.
//!
//! Request ids (`req`, chosen by clients) and operation ids (`op`, chosen by
//! whoever writes to storage: the directory or a client) match replies to
//! requests. Each node starts its ids at `boot << 40`, where `boot` counts its
//! incarnations on its own disk, so a reply addressed to an earlier life can
//! never match a request of the current one.

use sim_core::{Key, Message, NodeId, Value};

/// Bytes of addressing and framing that every message costs on the wire.
pub const HEADER_BYTES: u64 = 64;

/// Why the directory refused a request without doing anything.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No live storage node has room for a new key.
    NoStorage,
    /// Every replica of the key died: its value is gone.
    KeyLost,
    /// Too much work is already queued on the key.
    Busy,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Client to directory (recursive query): store `value` under `key`.
    ClientPut { req: u64, key: Key, value: Value },
    /// Client to directory (recursive query): read `key`.
    ClientGet { req: u64, key: Key },
    /// Directory to client: the put is stored (on every replica when
    /// serialized, on at least one when careless).
    ClientPutOk { req: u64 },
    /// Directory to client: the value read, `None` if the key is absent.
    ClientGetOk { req: u64, value: Option<Value> },
    /// Directory to client: the request was not carried out.
    Refused { req: u64, reason: Refusal },
    /// Client to directory (iterative query): where does `key` live? A put
    /// announces the size it will write, so a new key can be placed.
    Lookup { req: u64, key: Key, put_size_bytes: Option<u64> },
    /// Directory to client: the replicas of `key` (empty: absent), the
    /// version to write (serialized puts) and the lease ticket (serialized).
    Location { req: u64, key: Key, replicas: Vec<NodeId>, version: Option<u64>, ticket: Option<u64> },
    /// Client to directory: the operation holding the lease `ticket` is over.
    Done { key: Key, ticket: u64 },
    /// Writer (or previous chain link) to storage: store the put, forward it
    /// to `rest[0]` with `rest[1..]` if any, and ack to `writer` if this is
    /// the last link or `ack_head` asks the first link to ack too.
    StorePut {
        op: u64,
        key: Key,
        value: Value,
        version: Option<u64>,
        rest: Vec<NodeId>,
        writer: NodeId,
        ack_head: bool,
    },
    /// Storage to writer: the put (or a newer one) is durable here, and in
    /// chain replication on every link before this one.
    StoreAck { op: u64, key: Key },
    /// Reader to storage: send back the value of `key`.
    StoreGet { op: u64, key: Key },
    /// Storage to reader.
    StoreValue { op: u64, key: Key, value: Option<Value> },
    /// Directory to a surviving replica: copy `key` to `to`.
    Copy { op: u64, key: Key, to: NodeId },
    /// Surviving replica to the new one.
    CopyPut { op: u64, key: Key, value: Option<Value>, version: Option<u64> },
    /// New replica to directory: the copy is durable.
    CopyDone { op: u64, key: Key },
    /// Storage to directory: still alive.
    Heartbeat,
    /// Directory to a storage node it had declared dead: your copies were
    /// replaced elsewhere; discard them before rejoining.
    Wipe { epoch: u64 },
    /// Storage to directory: wiped for `epoch`, ready for new keys.
    Wiped { epoch: u64 },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "client_put",
        "client_get",
        "client_put_ok",
        "client_get_ok",
        "refused",
        "lookup",
        "location",
        "done",
        "store_put",
        "store_ack",
        "store_get",
        "store_value",
        "copy",
        "copy_put",
        "copy_done",
        "heartbeat",
        "wipe",
        "wiped",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::ClientPut { .. } => 0,
            Msg::ClientGet { .. } => 1,
            Msg::ClientPutOk { .. } => 2,
            Msg::ClientGetOk { .. } => 3,
            Msg::Refused { .. } => 4,
            Msg::Lookup { .. } => 5,
            Msg::Location { .. } => 6,
            Msg::Done { .. } => 7,
            Msg::StorePut { .. } => 8,
            Msg::StoreAck { .. } => 9,
            Msg::StoreGet { .. } => 10,
            Msg::StoreValue { .. } => 11,
            Msg::Copy { .. } => 12,
            Msg::CopyPut { .. } => 13,
            Msg::CopyDone { .. } => 14,
            Msg::Heartbeat => 15,
            Msg::Wipe { .. } => 16,
            Msg::Wiped { .. } => 17,
        }
    }

    /// A fixed header plus the value for messages that carry one, so large
    /// values cost bandwidth on every hop they take.
    fn size_bytes(&self) -> u64 {
        let value = match self {
            Msg::ClientPut { value, .. } | Msg::StorePut { value, .. } => Some(*value),
            Msg::ClientGetOk { value, .. } | Msg::StoreValue { value, .. } | Msg::CopyPut { value, .. } => *value,
            _ => None,
        };
        HEADER_BYTES.saturating_add(value.map_or(0, |v| v.size_bytes))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Directory: declare silent storage nodes dead.
    CheckLiveness,
    /// Directory: operation `op` has held its key too long.
    Expire { op: u64 },
    /// Storage: tell the directory we are alive.
    Heartbeat,
    /// Client: request `req` timed out.
    Request { req: u64 },
}

/// What nodes write to their disks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// Directory and clients: the number of this incarnation.
    Boot { n: u64 },
    /// Directory: where `key` lives, its latest version and value size.
    Placement { key: Key, replicas: Vec<NodeId>, version: u64, size_bytes: u64 },
    /// Directory: `node` was declared dead for the `epoch`-th time.
    Dead { node: NodeId, epoch: u64 },
    /// Directory: `node` wiped its copies after its `epoch`-th death and is live.
    Live { node: NodeId, epoch: u64 },
    /// Storage: a stored put.
    Put { key: Key, value: Value, version: Option<u64> },
    /// Storage: every copy was discarded at the directory's request.
    Wipe { epoch: u64 },
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
