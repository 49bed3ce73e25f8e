//! Calls, replies, callback breaks, timers and disk records.
//!
//! Every call carries a transaction id (`xid`) that the client keeps
//! across retransmissions, as NFS does; the server answers each copy it
//! receives (it keeps no duplicate-request cache). Client ids start at
//! `first_id(boot)` so that a reply meant for a previous life of the
//! client never matches a call of this one.
//!
//! Sizes follow the wire formats roughly: a 64-byte RPC header, 32-byte
//! file handles and 68-byte attributes (NFSv2's `fhandle` and `fattr`),
//! and `block_size_bytes` for every block of data moved, whatever the
//! size the workload gave the value: a block write moves a block.

use sim_core::{Key, Message, Value};

/// RPC and transport header of every message.
pub const HEADER_BYTES: u64 = 64;
/// An NFS file handle on the wire.
pub const FH_BYTES: u64 = 32;
/// File attributes on the wire.
pub const ATTR_BYTES: u64 = 68;

/// An NFS file handle: opaque to the client, enough for a stateless
/// server to find the file with no open state. A removed file's
/// generation goes up, so handles to it go stale (ESTALE) and a file
/// re-created under the same name gets handles of its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fh {
    pub volume: u32,
    pub inode: u64,
    pub generation: u32,
}

/// File attributes: the version stands for NFS's modification time (it
/// changes with every committed write) and AFS's data version.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attr {
    pub version: u64,
    pub size_blocks: u32,
}

/// What a fetched copy may be trusted for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Promise {
    /// AFS: until the server breaks the callback.
    Callback,
    /// A lease of this many milliseconds from the call.
    Lease(u64),
    /// Nothing: the copy answers this operation only (a store is pending).
    NoPromise,
}

/// A client's request to the file server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// NFS: the handle and attributes of a file, by name.
    Lookup { file: Key },
    /// NFS: a file's attributes (the attribute cache's revalidation).
    Getattr { fh: Fh },
    /// NFS: one block.
    Read { fh: Fh, block: u32 },
    /// NFS: one block, durable at the server before the reply.
    Write { fh: Fh, block: u32, value: Value, data_bytes: u64 },
    /// Create a missing file; fails if it exists (a guarded create: not
    /// idempotent).
    Create { file: Key },
    /// AFS and leases: the whole file, with a callback or a lease.
    Fetch { file: Key },
    /// AFS and leases: is version `have` still current? Renews the
    /// callback or lease; sends the file if it changed. `renew` marks a
    /// lease renewal.
    FetchStatus { file: Key, have: u64, renew: bool },
    /// AFS and leases: the whole file, on close.
    Store { file: Key, blocks: Vec<Value>, data_bytes: u64 },
    /// AFS and leases: are you there, and since when (epoch)?
    Probe,
    /// Remove a file by name (NFS's REMOVE; AFS and leases send it too,
    /// so the server can break the other copies). Not idempotent: a
    /// retransmission after a lost reply finds no file.
    Remove { file: Key },
}

/// Why a call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// No such file.
    NoEnt,
    /// The file exists (a create).
    Exist,
    /// A stale file handle: the file it named was removed.
    Stale,
}

/// The server's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Lookup or create.
    Handle {
        fh: Fh,
        attr: Attr,
    },
    Attr {
        attr: Attr,
    },
    Data {
        block: u32,
        value: Value,
        attr: Attr,
        data_bytes: u64,
    },
    /// A write, with the version before it (NFSv3's weak cache
    /// consistency data): a client whose cache held exactly `pre` knows
    /// nobody else wrote in between.
    Wrote {
        pre: u64,
        attr: Attr,
    },
    File {
        blocks: Vec<Value>,
        attr: Attr,
        promise: Promise,
        data_bytes: u64,
    },
    Unchanged {
        attr: Attr,
        promise: Promise,
    },
    Stored {
        attr: Attr,
        promise: Promise,
    },
    Probed,
    Error(Errno),
    /// A remove: the file is gone.
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Call {
        xid: u64,
        call: Call,
    },
    /// `epoch` is the server's boot number: a client that sees it change
    /// knows the server lost its callbacks. `reset` tells a client whose
    /// callback break timed out to distrust every callback it holds.
    Reply {
        xid: u64,
        epoch: u64,
        reset: bool,
        reply: Reply,
    },
    /// Server to client: your callback (or lease) on `file` is void,
    /// because of store `store`. The acknowledgement names the store, so a
    /// late acknowledgement of an earlier break never releases a later one.
    Break {
        file: Key,
        lease: bool,
        store: u64,
    },
    BreakAck {
        file: Key,
        lease: bool,
        store: u64,
    },
}

impl Msg {
    /// The name of a call's message kind, as RPC counters and tables use it.
    pub fn call_name(call: &Call) -> &'static str {
        Msg::KINDS[Msg::Call { xid: 0, call: call.clone() }.kind()]
    }
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "lookup",
        "getattr",
        "read",
        "write",
        "create",
        "fetch",
        "fetch_status",
        "lease_renew",
        "store",
        "probe",
        "handle_reply",
        "attr_reply",
        "data_reply",
        "wrote_reply",
        "file_reply",
        "unchanged_reply",
        "stored_reply",
        "probe_reply",
        "error_reply",
        "callback_break",
        "callback_ack",
        "lease_recall",
        "recall_ack",
        // Appended last: earlier kinds keep their numbers.
        "remove",
        "removed_reply",
    ];

    fn kind(&self) -> usize {
        match self {
            Msg::Call { call, .. } => match call {
                Call::Lookup { .. } => 0,
                Call::Getattr { .. } => 1,
                Call::Read { .. } => 2,
                Call::Write { .. } => 3,
                Call::Create { .. } => 4,
                Call::Fetch { .. } => 5,
                Call::FetchStatus { renew: false, .. } => 6,
                Call::FetchStatus { renew: true, .. } => 7,
                Call::Store { .. } => 8,
                Call::Probe => 9,
                Call::Remove { .. } => 23,
            },
            Msg::Reply { reply, .. } => match reply {
                Reply::Handle { .. } => 10,
                Reply::Attr { .. } => 11,
                Reply::Data { .. } => 12,
                Reply::Wrote { .. } => 13,
                Reply::File { .. } => 14,
                Reply::Unchanged { .. } => 15,
                Reply::Stored { .. } => 16,
                Reply::Probed => 17,
                Reply::Error(_) => 18,
                Reply::Removed => 24,
            },
            Msg::Break { lease: false, .. } => 19,
            Msg::BreakAck { lease: false, .. } => 20,
            Msg::Break { lease: true, .. } => 21,
            Msg::BreakAck { lease: true, .. } => 22,
        }
    }

    fn size_bytes(&self) -> u64 {
        let body = match self {
            Msg::Call { call, .. } => match call {
                Call::Lookup { .. } | Call::Create { .. } | Call::Remove { .. } => FH_BYTES + 256,
                Call::Getattr { .. } => FH_BYTES,
                Call::Read { .. } => FH_BYTES + 8,
                Call::Write { data_bytes, .. } => (FH_BYTES + 8).saturating_add(*data_bytes),
                Call::Fetch { .. } | Call::Probe => FH_BYTES,
                Call::FetchStatus { .. } => FH_BYTES + 8,
                Call::Store { data_bytes, .. } => FH_BYTES.saturating_add(*data_bytes),
            },
            Msg::Reply { reply, .. } => match reply {
                Reply::Handle { .. } => FH_BYTES + ATTR_BYTES,
                Reply::Attr { .. } | Reply::Stored { .. } | Reply::Unchanged { .. } => ATTR_BYTES,
                Reply::Wrote { .. } => ATTR_BYTES + 8,
                Reply::Data { data_bytes, .. } | Reply::File { data_bytes, .. } => {
                    ATTR_BYTES.saturating_add(*data_bytes)
                }
                Reply::Probed | Reply::Error(_) | Reply::Removed => 8,
            },
            Msg::Break { .. } | Msg::BreakAck { .. } => FH_BYTES + 8,
        };
        HEADER_BYTES.saturating_add(body)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Client: call `xid` had no answer in time.
    Retransmit { xid: u64, attempt: u32 },
    /// Client: probe the server.
    Probe,
    /// Server (AFS): stop waiting for the callback acks of store `store`.
    BreakTimeout { store: u64 },
    /// Server (leases): a lease may have expired, or the grace period
    /// ended: look at the pending stores again.
    LeaseCheck,
}

/// What nodes write to their disks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// The number of this incarnation (the server's epoch).
    Boot { n: u64 },
    /// Server: `file` was created by `client`'s call `xid`.
    Create { file: Key, client: u32, xid: u64 },
    /// Server: the blocks a write or store committed, and the version.
    Write { file: Key, version: u64, blocks: Vec<(u32, Value)> },
    /// Server: `file` was removed by `client`'s call `xid`; a file created
    /// under its name later has `generation` and starts at `version`.
    Remove { file: Key, client: u32, xid: u64, generation: u32, version: u64 },
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
