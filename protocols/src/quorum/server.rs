//! A server: a home replica for the keys the ring gives it, a stand-in
//! for keys whose home replicas are unreachable, a coordinator for any
//! client request, and a participant in hinted handoff, anti-entropy and
//! gossip. This file holds its state, storage, failure detection and
//! gossip; `coordinator.rs`, `handoff.rs` and `anti_entropy.rs` hold the
//! rest of its behaviour.

use super::Node;
use super::coordinator::{GetTask, PutTask};
use super::msg::{Msg, Record, Timer, first_id, next_boot};
use super::params::{Params, Versioning};
use super::ring::{RangeCache, Ring};
use super::small::OpMap;
use super::version::{Versions, copy_versions, merge_into};
use sim_core::{Ctx, Key, Message, NodeId, SimTime, Value, ms};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Compact the log once it holds more than twice the records the live
/// state needs, plus this slack, so long runs do not grow the disk without
/// bound and rewriting stays amortized O(1) per write.
const COMPACT_SLACK_RECORDS: usize = 256;

/// A server's own account of a run. Counters are instrumentation, not
/// state: they survive crashes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ServerCounters {
    pub puts_coordinated: u64,
    pub puts_ok: u64,
    pub puts_failed: u64,
    pub gets_coordinated: u64,
    pub gets_ok: u64,
    pub gets_failed: u64,
    /// Versions returned by all successful gets (for the mean).
    pub versions_returned: u64,
    pub gets_with_siblings: u64,
    pub max_versions_per_get: u64,
    /// Hint entries (one per key and intended replica) created here.
    pub hints_created: u64,
    /// Hint entries handed off and acknowledged.
    pub hints_delivered: u64,
    /// Replicas sent newer versions by a get (async repairs and write-backs
    /// to replicas known or suspected to be behind).
    pub read_repairs: u64,
    pub read_repair_messages: u64,
    pub read_repair_bytes: u64,
    pub anti_entropy_rounds: u64,
    /// Keys whose versions changed here through anti-entropy.
    pub anti_entropy_keys_repaired: u64,
    pub anti_entropy_messages: u64,
    pub anti_entropy_bytes: u64,
    /// Times a server that did not answer in time was suspected.
    pub suspicions: u64,
}

/// A server node.
#[derive(Clone, Debug)]
pub struct Server {
    pub(super) params: Params,
    pub(super) ring: Arc<Ring>,
    /// Where the keys this server coordinates sit on the ring. Derived from
    /// the static ring alone, so it stays valid across crashes.
    pub(super) range_cache: RangeCache,
    pub(super) me: NodeId,
    /// This server's clock offset, drawn once: a property of the machine,
    /// so it survives crashes.
    skew_ns: i64,
    skew_drawn: bool,
    /// The last timestamp this server issued: a clock that never repeats
    /// itself (see `timestamp_ns`). Volatile, like a process's clock state.
    last_stamp_ns: u64,
    // Durable state, mirrored in memory and rebuilt from the disk.
    /// Keys this server is a home replica of.
    pub(super) data: BTreeMap<Key, Versions>,
    /// Hinted copies held for unreachable home replicas, by (intended, key).
    pub(super) hints: BTreeMap<(NodeId, Key), Versions>,
    log_records: usize,
    boot: u64,
    // Volatile state.
    next_op: u64,
    pub(super) gets: OpMap<GetTask>,
    pub(super) puts: OpMap<PutTask>,
    /// Until when each server is avoided after failing to answer in time.
    suspected_until: Vec<SimTime>,
    /// The highest heartbeat known of each server, `boot << 32 | count`.
    heartbeats: Vec<u64>,
    /// When each server's heartbeat last went up here.
    heard_at: Vec<SimTime>,
    /// Handoffs in flight, by intended replica: until when to wait for the ack.
    pub(super) handoff_inflight: BTreeMap<NodeId, SimTime>,
    /// Messages to itself, delivered after the current handler instead of
    /// through the network: a coordinator that is also a replica reads and
    /// writes its own copy at once, as Dynamo's does.
    local: VecDeque<Msg>,
    pub(super) counters: ServerCounters,
}

/// What a server holds, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerReport {
    pub node: String,
    /// Keys held as a home replica.
    pub keys: u64,
    pub bytes: u64,
    /// Keys with more than one version (unresolved siblings).
    pub keys_with_siblings: u64,
    /// Hint entries still waiting for their home replica.
    pub hints_held: u64,
}

impl Server {
    pub fn new(params: Params, ring: Arc<Ring>, me: NodeId) -> Server {
        let servers = ring.servers();
        assert!(me.index() < servers, "server {me:?} is outside the ring of {servers} servers");
        Server {
            params,
            ring,
            range_cache: RangeCache::default(),
            me,
            skew_ns: 0,
            skew_drawn: false,
            last_stamp_ns: 0,
            data: BTreeMap::new(),
            hints: BTreeMap::new(),
            log_records: 0,
            boot: 0,
            next_op: 0,
            gets: OpMap::default(),
            puts: OpMap::default(),
            suspected_until: vec![SimTime::ZERO; servers],
            heartbeats: vec![0; servers],
            heard_at: vec![SimTime::ZERO; servers],
            handoff_inflight: BTreeMap::new(),
            local: VecDeque::new(),
            counters: ServerCounters::default(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert_eq!(ctx.me(), self.me, "server built for another node id");
        if !self.skew_drawn {
            let skew = ms(self.params.clock_skew_ms);
            let draw = ctx.rng().range(0, skew.saturating_mul(2).saturating_add(1));
            self.skew_ns = i64::try_from(draw).expect("skew fits") - i64::try_from(skew).expect("skew fits");
            self.skew_drawn = true;
        }
        self.boot(ctx);
    }

    /// Volatile state is gone; the disk, the clock offset and the counters
    /// remain.
    pub fn on_crash(&mut self) {
        let servers = self.ring.servers();
        self.data.clear();
        self.hints.clear();
        self.log_records = 0;
        self.boot = 0;
        self.next_op = 0;
        self.last_stamp_ns = 0;
        self.gets.clear();
        self.puts.clear();
        self.suspected_until = vec![SimTime::ZERO; servers];
        self.heartbeats = vec![0; servers];
        self.heard_at = vec![SimTime::ZERO; servers];
        self.handoff_inflight.clear();
        self.local.clear();
    }

    /// Replays the synced log: the last `Store` of a key and the last
    /// `Hint` of a (replica, key) win, an empty hint was handed off.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.data.is_empty() && self.hints.is_empty() && self.boot == 0, "server recovered without crashing");
        let log = ctx.disk().synced();
        self.log_records = log.len();
        for rec in log {
            match rec {
                Record::Boot { .. } => {}
                Record::Store { key, versions } => {
                    assert!(!versions.is_empty(), "a store record holds at least one version");
                    self.data.insert(*key, versions.clone());
                }
                Record::Hint { intended, key, versions } => {
                    if versions.is_empty() {
                        self.hints.remove(&(*intended, *key));
                    } else {
                        self.hints.insert((*intended, *key), versions.clone());
                    }
                }
            }
        }
        self.boot(ctx);
    }

    /// Starts an incarnation: a new boot number (so ids never repeat),
    /// everyone presumed alive, and the periodic timers armed (the first
    /// firing at a random offset, so servers do not act in lockstep).
    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.log_records += 1;
        self.boot = n;
        self.next_op = first_id(n);
        let now = ctx.now();
        self.heard_at = vec![now; self.ring.servers()];
        self.heartbeats[self.me.index()] = n << 32;
        let p = &self.params;
        let periodic = [
            (p.hinted_handoff_interval_ms, Timer::Handoff),
            (p.anti_entropy_interval_ms, Timer::AntiEntropy),
            (p.gossip_interval_ms, Timer::Gossip),
        ];
        for (interval_ms, timer) in periodic {
            if interval_ms > 0 {
                let first = ctx.rng().range(1, ms(interval_ms).saturating_add(1));
                ctx.set_timer(first, timer);
            }
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        // Anything from a server shows it is alive and reachable. (The
        // table has one entry per server: looking `from` up in it tells
        // servers from clients without a trip through the ring.)
        if let Some(until) = self.suspected_until.get_mut(from.index()) {
            *until = SimTime::ZERO;
        }
        self.handle(ctx, from, msg);
        self.deliver_local(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Replica { op } => self.on_replica_timeout(ctx, op),
            Timer::Handoff => {
                self.hand_off(ctx);
                ctx.set_timer(ms(self.params.hinted_handoff_interval_ms), Timer::Handoff);
            }
            Timer::AntiEntropy => {
                self.start_anti_entropy(ctx);
                ctx.set_timer(ms(self.params.anti_entropy_interval_ms), Timer::AntiEntropy);
            }
            Timer::Gossip => {
                self.gossip(ctx);
                ctx.set_timer(ms(self.params.gossip_interval_ms), Timer::Gossip);
            }
            Timer::Request { .. } => panic!("server {:?} got a client timer {timer:?}", self.me),
        }
        self.deliver_local(ctx);
    }

    fn deliver_local(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(msg) = self.local.pop_front() {
            let me = self.me;
            self.handle(ctx, me, msg);
        }
    }

    fn handle(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::ClientGet { req, key } => self.coordinate_get(ctx, from, req, key),
            Msg::ClientPut { req, key, value, clock } => self.coordinate_put(ctx, from, req, key, value, clock),
            Msg::Read { op, key } => {
                let versions = self.local_versions(key);
                if self.answers_itself_next(from) {
                    self.on_read_reply(ctx, from, op, key, versions);
                } else {
                    self.send(ctx, from, Msg::ReadReply { op, key, versions });
                }
            }
            Msg::ReadReply { op, key, versions } => self.on_read_reply(ctx, from, op, key, versions),
            // The versions are read where the message lies: `store` copies
            // what it keeps.
            Msg::Write { op, key, ref versions, hint } | Msg::WriteBack { op, key, ref versions, hint } => {
                self.store(ctx, key, versions, hint);
                if self.answers_itself_next(from) {
                    self.on_write_ack(ctx, from, op, key);
                } else {
                    self.send(ctx, from, Msg::WriteAck { op, key });
                }
            }
            Msg::WriteAck { op, key } => self.on_write_ack(ctx, from, op, key),
            Msg::ReadRepair { key, ref versions, hint } => {
                self.store(ctx, key, versions, hint);
            }
            Msg::Handoff { entries } => self.on_handoff(ctx, from, entries),
            Msg::HandoffAck { entries } => self.on_handoff_ack(ctx, from, entries),
            Msg::AeTree { nodes } => self.on_ae_tree(ctx, from, nodes),
            Msg::AeSync { leaves, entries } => self.on_ae_sync(ctx, from, leaves, entries),
            Msg::AeSyncReply { entries } => self.on_ae_sync_reply(ctx, from, entries),
            Msg::Gossip { heartbeats } => self.on_gossip(ctx, heartbeats),
            Msg::GetOk { .. } | Msg::PutOk { .. } | Msg::Failed { .. } => {
                panic!("server {:?} got a client reply {msg:?} from {from:?}", self.me)
            }
        }
    }

    /// Whether a reply to `from`, sent as the last step of the current
    /// handler, would be the next message `deliver_local` handles: `from`
    /// is this server and no other message to itself waits. The caller then
    /// handles the reply at once instead of queueing it, which does exactly
    /// what the queue would do next, without building, queueing and
    /// matching the message.
    #[inline]
    fn answers_itself_next(&self, from: NodeId) -> bool {
        from == self.me && self.local.is_empty()
    }

    /// Sends through the network, or to itself without it; counts repair
    /// traffic. Always inlined, so that callers build the message where it
    /// is passed on, rather than copying it once more through this call:
    /// left to the compiler it was not inlined, and the copy's wide loads of
    /// a message just stored field by field stalled (store forwarding).
    #[inline(always)]
    pub(super) fn send(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg) {
        if to == self.me {
            self.local.push_back(msg);
            return;
        }
        let c = &mut self.counters;
        if msg.is_anti_entropy() {
            c.anti_entropy_messages += 1;
            c.anti_entropy_bytes = c.anti_entropy_bytes.saturating_add(msg.size_bytes());
        } else if msg.is_read_repair() {
            c.read_repair_messages += 1;
            c.read_repair_bytes = c.read_repair_bytes.saturating_add(msg.size_bytes());
        }
        ctx.send(to, msg);
    }

    pub(super) fn next_op(&mut self) -> u64 {
        assert!(self.next_op > 0, "server coordinated before booting");
        let op = self.next_op;
        self.next_op += 1;
        op
    }

    /// A last-writer-wins timestamp: this server's clock reading (virtual
    /// time plus its skew, never below zero), bumped by a nanosecond when
    /// two puts arrive in the same nanosecond, so no two versions of this
    /// coordinator ever share a timestamp.
    pub(super) fn timestamp_ns(&mut self, now: SimTime) -> u64 {
        let t = i128::from(now.as_nanos()) + i128::from(self.skew_ns);
        let clock = u64::try_from(t.max(0)).unwrap_or(u64::MAX);
        self.last_stamp_ns = clock.max(self.last_stamp_ns.saturating_add(1));
        self.last_stamp_ns
    }

    // ---- storage ----

    /// What this server answers a read of `key` with: its own copy merged
    /// with any hinted copies it holds for the key's home replicas.
    /// Inlined, so that the copy is built in the reply that carries it.
    #[inline]
    pub(super) fn local_versions(&self, key: Key) -> Versions {
        let own = self.data.get(&key);
        if self.hints.is_empty() {
            // The usual case, its own copy alone: built in place, where
            // merging hints in would first need it in memory.
            return own.map_or_else(Versions::new, |vs| copy_versions(vs));
        }
        let mut out = own.map_or_else(Versions::new, |vs| copy_versions(vs));
        for ((_, k), versions) in &self.hints {
            if *k == key {
                merge_into(&mut out, versions);
            }
        }
        out
    }

    /// Makes `versions` durable, merged into what is held: as a home
    /// replica (`hint` none) or as a stand-in for `hint`. Returns whether
    /// anything changed. Written and synced before any acknowledgement.
    pub(super) fn store(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        key: Key,
        versions: &Versions,
        hint: Option<NodeId>,
    ) -> bool {
        assert!(!versions.is_empty(), "store of no version for key {key}");
        let changed = match hint {
            Some(intended) => {
                assert_ne!(intended, self.me, "a hint for key {key} names its own holder");
                assert!(self.ring.is_home(intended, key), "hint for key {key} names {intended:?}, not a home replica");
                let entry = self.hints.entry((intended, key)).or_default();
                let created = entry.is_empty();
                let changed = merge_into(entry, versions);
                if changed {
                    let record = Record::Hint { intended, key, versions: copy_versions(entry) };
                    if created {
                        self.counters.hints_created += 1;
                    }
                    self.persist(ctx, record);
                }
                changed
            }
            None => {
                // The ring never changes, so a key already held passed this
                // check when it was first stored (keys replayed from the log
                // were stored here before): look its replicas up only then.
                let held = match self.data.entry(key) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        assert!(self.ring.is_home(self.me, key), "{:?} is not a home replica of key {key}", self.me);
                        e.insert(Versions::new())
                    }
                };
                let changed = merge_into(held, versions);
                assert!(
                    self.params.versioning == Versioning::VectorClocks || held.len() == 1,
                    "last-writer-wins holds one version of key {key}, not {held:?}"
                );
                if changed {
                    let record = Record::Store { key, versions: copy_versions(held) };
                    self.persist(ctx, record);
                }
                changed
            }
        };
        if self.log_records > 2 * (self.data.len() + self.hints.len()) + COMPACT_SLACK_RECORDS {
            self.compact(ctx);
        }
        changed
    }

    /// Drops a delivered hint, durably.
    pub(super) fn remove_hint(&mut self, ctx: &mut Ctx<'_, Node>, intended: NodeId, key: Key) {
        self.hints.remove(&(intended, key)).expect("only held hints are removed");
        self.counters.hints_delivered += 1;
        self.persist(ctx, Record::Hint { intended, key, versions: Versions::new() });
    }

    /// Always inlined: a record passed to a call was copied once more on
    /// the way, just after being stored field by field (see `send`).
    #[inline(always)]
    fn persist(&mut self, ctx: &mut Ctx<'_, Node>, record: Record) {
        ctx.disk().write_and_sync(record);
        self.log_records += 1;
    }

    /// Rewrites the log as one record per key and hint, plus the boot number.
    fn compact(&mut self, ctx: &mut Ctx<'_, Node>) {
        let mut snapshot = Vec::with_capacity(1 + self.data.len() + self.hints.len());
        snapshot.push(Record::Boot { n: self.boot });
        snapshot
            .extend(self.data.iter().map(|(&key, versions)| Record::Store { key, versions: copy_versions(versions) }));
        snapshot.extend(self.hints.iter().map(|(&(intended, key), versions)| Record::Hint {
            intended,
            key,
            versions: copy_versions(versions),
        }));
        self.log_records = snapshot.len();
        ctx.disk().replace(snapshot);
        ctx.disk().sync();
    }

    // ---- failure detection and gossip ----

    /// Whether this server believes `node` is down: it failed to answer in
    /// time recently, or (with gossip) its heartbeat has not gone up for
    /// `suspect_ms`.
    pub(super) fn suspects(&self, node: NodeId, now: SimTime) -> bool {
        if node == self.me {
            return false;
        }
        let i = node.index();
        let silent = self.params.gossip_interval_ms > 0 && now.since(self.heard_at[i]) > ms(self.params.suspect_ms);
        self.suspected_until[i] > now || silent
    }

    /// `node` did not answer in time: avoid it for `suspect_ms`.
    pub(super) fn suspect(&mut self, node: NodeId, now: SimTime) {
        assert_ne!(node, self.me, "a server never suspects itself");
        self.suspected_until[node.index()] = now.after(ms(self.params.suspect_ms));
        self.counters.suspicions += 1;
    }

    /// Raises its own heartbeat and sends every known heartbeat to a random
    /// peer (push gossip): news of a live server reaches everyone in
    /// O(log servers) rounds, and a server whose heartbeat stops rising is
    /// suspected everywhere without anyone timing out on it.
    fn gossip(&mut self, ctx: &mut Ctx<'_, Node>) {
        let me = self.me.index();
        self.heartbeats[me] += 1;
        self.heard_at[me] = ctx.now();
        let servers = self.ring.servers() as u64;
        if servers < 2 {
            return;
        }
        let pick = ctx.rng().below(servers - 1);
        let peer = NodeId(u32::try_from(if pick >= me as u64 { pick + 1 } else { pick }).expect("server id fits"));
        self.send(ctx, peer, Msg::Gossip { heartbeats: self.heartbeats.clone() });
    }

    fn on_gossip(&mut self, ctx: &mut Ctx<'_, Node>, heartbeats: Vec<u64>) {
        assert_eq!(heartbeats.len(), self.heartbeats.len(), "gossip about a different cluster");
        let now = ctx.now();
        for (i, hb) in heartbeats.into_iter().enumerate() {
            if hb > self.heartbeats[i] {
                self.heartbeats[i] = hb;
                self.heard_at[i] = now;
                self.suspected_until[i] = SimTime::ZERO;
            }
        }
    }

    // ---- reports ----

    pub fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        out.extend(self.data.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (*k, v.value))));
    }

    /// The versions this server holds of `key` as a home replica.
    pub fn versions(&self, key: Key) -> Option<&Versions> {
        self.data.get(&key)
    }

    /// Every key this server holds, as a home replica or in hints.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.data.keys().copied().chain(self.hints.keys().map(|(_, k)| *k))
    }

    pub fn hints_held(&self) -> usize {
        self.hints.len()
    }

    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    pub fn report(&self, name: String) -> ServerReport {
        ServerReport {
            node: name,
            keys: self.data.len() as u64,
            bytes: self
                .data
                .values()
                .flat_map(|vs| vs.iter())
                .fold(0u64, |acc, v| acc.saturating_add(v.value.size_bytes)),
            keys_with_siblings: self.data.values().filter(|vs| vs.len() > 1).count() as u64,
            hints_held: self.hints.len() as u64,
        }
    }
}
