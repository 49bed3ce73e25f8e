//! A storage node: a durable map from key to (value, version), a heartbeat,
//! and the storage side of puts, gets, chain forwarding and repair copies.

use super::msg::{Msg, Record, Timer};
use super::params::Params;
use super::{DIRECTORY, Node};
use sim_core::{Ctx, Key, NodeId, Value, ms};
use std::collections::BTreeMap;

/// Compact the log once it holds more than twice the records the live
/// state needs, plus this slack, so long runs do not grow the disk without
/// bound and rewriting stays amortized O(1) per put.
const COMPACT_SLACK_RECORDS: usize = 256;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Stored {
    value: Value,
    /// `None` in careless mode, where puts carry no version.
    version: Option<u64>,
}

/// A storage node.
#[derive(Clone, Debug)]
pub struct Storage {
    params: Params,
    data: BTreeMap<Key, Stored>,
    /// The newest wipe this node carried out (0: none).
    wiped_epoch: u64,
    /// Records in the disk log, to decide when to compact.
    log_records: usize,
}

/// What a storage node holds, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StorageReport {
    /// Index of the node in the simulation.
    pub node: u32,
    pub keys_stored: u64,
    pub bytes_stored: u64,
}

impl Storage {
    pub fn new(params: Params) -> Storage {
        Storage { params, data: BTreeMap::new(), wiped_epoch: 0, log_records: 0 }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.heartbeat(ctx);
    }

    pub fn on_crash(&mut self) {
        self.data.clear();
        self.wiped_epoch = 0;
        self.log_records = 0;
    }

    /// Replays the synced log: puts apply under the same version rule as
    /// when they arrived, and a wipe discards everything before it.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.data.is_empty(), "storage recovered without crashing");
        let log = ctx.disk().synced();
        self.log_records = log.len();
        for rec in log {
            match rec {
                Record::Put { key, value, version } => {
                    let s = Stored { value: *value, version: *version };
                    if self.data.get(key).is_none_or(|old| s.version >= old.version) {
                        self.data.insert(*key, s);
                    }
                }
                Record::Wipe { epoch } => {
                    self.data.clear();
                    self.wiped_epoch = *epoch;
                }
                other => panic!("storage log holds a foreign record {other:?}"),
            }
        }
        self.heartbeat(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        assert_eq!(timer, Timer::Heartbeat, "storage node got a timer it never sets");
        self.heartbeat(ctx);
    }

    fn heartbeat(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.send(DIRECTORY, Msg::Heartbeat);
        ctx.set_timer(ms(self.params.heartbeat_interval_ms), Timer::Heartbeat);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::StorePut { op, key, value, version, rest, writer, ack_head } => {
                self.store(ctx, key, Stored { value, version });
                if let Some((&next, tail)) = rest.split_first() {
                    let rest = tail.to_vec();
                    ctx.send(next, Msg::StorePut { op, key, value, version, rest, writer, ack_head: false });
                }
                // Acking a put older than what we hold is still right: the
                // writer learns that this replica is at least that new.
                if rest.is_empty() || ack_head {
                    ctx.send(writer, Msg::StoreAck { op, key });
                }
            }
            Msg::StoreGet { op, key } => {
                let value = self.data.get(&key).map(|s| s.value);
                ctx.send(from, Msg::StoreValue { op, key, value });
            }
            Msg::Copy { op, key, to } => {
                assert_eq!(from, DIRECTORY, "only the directory orders copies");
                assert_ne!(to, ctx.me(), "copy of key {key} to its own holder");
                let held = self.data.get(&key);
                let (value, version) = (held.map(|s| s.value), held.and_then(|s| s.version));
                ctx.send(to, Msg::CopyPut { op, key, value, version });
            }
            Msg::CopyPut { op, key, value, version } => {
                // A source that never received a value (a key placed by a
                // lookup whose put never came) copies nothing, faithfully.
                if let Some(value) = value {
                    self.store(ctx, key, Stored { value, version });
                }
                ctx.send(DIRECTORY, Msg::CopyDone { op, key });
            }
            Msg::Wipe { epoch } => {
                assert_eq!(from, DIRECTORY, "only the directory orders wipes");
                // A repeated or late wipe must not destroy copies placed
                // after the node rejoined, hence the epoch.
                if epoch > self.wiped_epoch {
                    ctx.disk().write(Record::Wipe { epoch });
                    ctx.disk().sync();
                    self.log_records += 1;
                    self.data.clear();
                    self.wiped_epoch = epoch;
                }
                ctx.send(DIRECTORY, Msg::Wiped { epoch });
            }
            other => panic!("storage node {:?} got {other:?} from {from:?}: not a storage message", ctx.me()),
        }
    }

    /// Makes a put durable, then applies it, if it is not older than what
    /// the node holds. Careless puts have no version (`None >= None`), so
    /// they apply in arrival order.
    fn store(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, s: Stored) {
        if self.data.get(&key).is_some_and(|old| s.version < old.version) {
            return;
        }
        ctx.disk().write(Record::Put { key, value: s.value, version: s.version });
        ctx.disk().sync();
        self.log_records += 1;
        self.data.insert(key, s);
        if self.log_records > 2 * self.data.len() + COMPACT_SLACK_RECORDS {
            self.compact(ctx);
        }
    }

    /// Rewrites the log as one record per key (plus the latest wipe, whose
    /// epoch must survive to reject stale wipes).
    fn compact(&mut self, ctx: &mut Ctx<'_, Node>) {
        let mut snapshot = Vec::with_capacity(self.data.len() + 1);
        if self.wiped_epoch > 0 {
            snapshot.push(Record::Wipe { epoch: self.wiped_epoch });
        }
        snapshot.extend(self.data.iter().map(|(&key, s)| Record::Put { key, value: s.value, version: s.version }));
        self.log_records = snapshot.len();
        ctx.disk().replace(snapshot);
        ctx.disk().sync();
    }

    pub fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        out.extend(self.data.iter().map(|(k, s)| (*k, s.value)));
    }

    pub fn report(&self, node: u32) -> StorageReport {
        StorageReport {
            node,
            keys_stored: self.data.len() as u64,
            bytes_stored: self.data.values().map(|s| s.value.size_bytes).sum(),
        }
    }
}
