//! The directory: placement, per-key ordering, failure detection and
//! re-replication. See the module essay for the algorithm.

use super::msg::{Msg, Record, Refusal, Timer, first_id, next_boot};
use super::params::{Ordering, Params, Query, Replication};
use super::replication::{WriteProgress, send_put};
use super::{Node, storage_id};
use sim_core::{Ctx, Key, NodeId, SimTime, TimerId, Value, ms};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Operations waiting on one key (serialized mode) beyond which client
/// requests are refused, so an overloaded key cannot grow memory unboundedly.
const MAX_WAITING_PER_KEY: usize = 1024;

/// Request ids remembered per client, to drop duplicated requests. A
/// duplicate arrives within a few message delays of the original, while a
/// client issues far fewer requests than this in that time.
const DEDUP_WINDOW: usize = 1024;

/// Compact the log once it holds more than twice the records the live
/// state needs, plus this slack: rewriting is then amortized O(1) per record.
const COMPACT_SLACK_RECORDS: usize = 256;

/// Where a key lives, as the directory persists it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placement {
    /// Live replicas in chain order; empty once every replica died.
    replicas: Vec<NodeId>,
    /// The latest version handed out (serialized mode; stays 0 when careless).
    version: u64,
    /// Size of the latest value, for free-space accounting.
    size_bytes: u64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Health {
    Live {
        last_heard: SimTime,
    },
    /// Declared dead; its copies no longer count.
    Dead,
    /// Heard from again after being declared dead; told to wipe its copies
    /// and not given new keys until it confirms.
    Rejoining,
}

#[derive(Clone, Debug)]
struct StorageNode {
    health: Health,
    /// How many times the node was declared dead, to tell wipes apart.
    epoch: u64,
    /// Bytes the directory placed (or is copying) there.
    placed_bytes: u64,
}

/// A request for work on one key.
#[derive(Clone, Debug)]
enum Work {
    Put {
        client: NodeId,
        req: u64,
        value: Value,
    },
    Get {
        client: NodeId,
        req: u64,
    },
    Lookup {
        client: NodeId,
        req: u64,
        put_size_bytes: Option<u64>,
    },
    /// Bring the key back to `replication_factor` replicas.
    Repair,
}

/// Work in progress, waiting for replies.
#[derive(Clone, Debug)]
enum Task {
    Put {
        client: NodeId,
        req: u64,
        value: Value,
        version: Option<u64>,
        write: WriteProgress,
        answered: bool,
    },
    Get {
        client: NodeId,
        req: u64,
        replica: NodeId,
    },
    /// An iterative client holds the key until it says `Done` or the
    /// lease expires.
    Lease {
        client: NodeId,
    },
    Repair {
        source: NodeId,
        target: NodeId,
        reserved_bytes: u64,
    },
}

#[derive(Clone, Debug)]
struct Active {
    key: Key,
    task: Task,
    /// Gives up on the task after `lease_ms`.
    expiry: TimerId,
}

/// Serialized mode: the task holding a key and the work queued behind it.
#[derive(Clone, Debug, Default)]
struct KeyQueue {
    busy: Option<u64>,
    waiting: VecDeque<Work>,
}

/// What the directory did over the whole run. These counters describe the
/// run rather than the node's memory, so they survive its crashes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryCounters {
    /// New placements, including keys placed again after being lost.
    pub keys_placed: u64,
    pub rereplications_started: u64,
    pub rereplications_completed: u64,
    /// Keys whose every replica died.
    pub keys_lost: u64,
    /// Recursive gets answered (absent or with a value).
    pub gets_answered: u64,
    /// Iterative lookups answered with a location.
    pub lookups_answered: u64,
    /// Recursive puts stored on every replica.
    pub puts_applied: u64,
    pub requests_refused: u64,
    pub nodes_declared_dead: u64,
    /// Tasks abandoned after holding their key for `lease_ms`.
    pub tasks_expired: u64,
}

/// The directory node.
#[derive(Clone, Debug)]
pub struct Directory {
    params: Params,
    /// Indexed by storage slot: node `storage_id(i)` is `storage[i]`.
    storage: Vec<StorageNode>,
    placements: BTreeMap<Key, Placement>,
    queues: BTreeMap<Key, KeyQueue>,
    active: BTreeMap<u64, Active>,
    /// Recent request ids per client (volatile).
    seen: BTreeMap<NodeId, BTreeSet<u64>>,
    boot: u64,
    next_op: u64,
    log_records: usize,
    /// After a restart, when to look for keys left under-replicated by
    /// repairs the crash interrupted.
    repair_scan_at: Option<SimTime>,
    counters: DirectoryCounters,
}

impl Directory {
    pub fn new(params: Params, storage_nodes: usize) -> Directory {
        assert!(storage_nodes > 0, "a directory needs storage nodes");
        Directory {
            params,
            storage: vec![
                StorageNode { health: Health::Live { last_heard: SimTime::ZERO }, epoch: 0, placed_bytes: 0 };
                storage_nodes
            ],
            placements: BTreeMap::new(),
            queues: BTreeMap::new(),
            active: BTreeMap::new(),
            seen: BTreeMap::new(),
            boot: 0,
            next_op: 0,
            log_records: 0,
            repair_scan_at: None,
            counters: DirectoryCounters::default(),
        }
    }

    pub fn counters(&self) -> DirectoryCounters {
        self.counters
    }

    /// Every placed key with its live replicas (empty for lost keys).
    pub fn placements(&self) -> impl Iterator<Item = (Key, &[NodeId])> + '_ {
        self.placements.iter().map(|(k, p)| (*k, p.replicas.as_slice()))
    }

    // ---- life cycle ----

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.boot(ctx);
    }

    /// Queues, tasks, liveness and the request memory are volatile;
    /// placements come back from the disk.
    pub fn on_crash(&mut self) {
        let n = self.storage.len();
        let counters = self.counters;
        *self = Directory::new(self.params.clone(), n);
        self.counters = counters;
    }

    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.placements.is_empty() && self.active.is_empty(), "directory recovered without crashing");
        self.boot(ctx);
        self.repair_scan_at = Some(ctx.now().after(ms(self.params.failure_timeout_ms)));
    }

    /// Rebuilds placements and death epochs from the synced log, gives
    /// every node not known dead a full failure timeout to be heard from,
    /// and starts a new incarnation.
    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        for s in &mut self.storage {
            s.health = Health::Live { last_heard: now };
        }
        let log = ctx.disk().synced();
        let boot = next_boot(log);
        self.log_records = log.len();
        for rec in log {
            match rec {
                Record::Boot { .. } => {}
                Record::Placement { key, replicas, version, size_bytes } => {
                    let p = Placement { replicas: replicas.clone(), version: *version, size_bytes: *size_bytes };
                    self.placements.insert(*key, p);
                }
                Record::Dead { node, epoch } => {
                    let s = self.node_mut(*node);
                    s.health = Health::Dead;
                    s.epoch = *epoch;
                }
                Record::Live { node, epoch } => {
                    let s = self.node_mut(*node);
                    s.health = Health::Live { last_heard: now };
                    s.epoch = *epoch;
                }
                other => panic!("directory log holds a foreign record {other:?}"),
            }
        }
        let n = self.storage.len();
        for p in self.placements.values() {
            for r in &p.replicas {
                self.storage[slot(*r, n)].placed_bytes += p.size_bytes;
            }
        }
        self.boot = boot;
        self.next_op = first_id(boot);
        self.record(ctx, Record::Boot { n: boot });
        self.flush(ctx);
        ctx.set_timer(ms(self.params.heartbeat_interval_ms), Timer::CheckLiveness);
    }

    // ---- dispatch ----

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let iterative = self.params.query == Query::Iterative;
        match msg {
            Msg::ClientPut { req, key, value } => {
                assert!(self.is_client(from) && !iterative, "client_put from {from:?} in the wrong query mode");
                if self.first_delivery(from, req) {
                    self.submit(ctx, key, Work::Put { client: from, req, value });
                }
            }
            Msg::ClientGet { req, key } => {
                assert!(self.is_client(from) && !iterative, "client_get from {from:?} in the wrong query mode");
                if self.first_delivery(from, req) {
                    self.submit(ctx, key, Work::Get { client: from, req });
                }
            }
            Msg::Lookup { req, key, put_size_bytes } => {
                assert!(self.is_client(from) && iterative, "lookup from {from:?} in the wrong query mode");
                if self.first_delivery(from, req) {
                    self.submit(ctx, key, Work::Lookup { client: from, req, put_size_bytes });
                }
            }
            Msg::Done { key, ticket } => {
                assert!(
                    self.is_client(from) && iterative && self.params.ordering == Ordering::Serialized,
                    "done from {from:?}, but only iterative serialized clients hold leases"
                );
                self.on_done(ctx, from, key, ticket);
            }
            Msg::StoreAck { op, key } => {
                assert!(self.is_storage(from), "store_ack from {from:?}, which is not a storage node");
                self.on_store_ack(ctx, from, op, key);
            }
            Msg::StoreValue { op, key, value } => {
                assert!(self.is_storage(from), "store_value from {from:?}, which is not a storage node");
                self.on_store_value(ctx, op, key, value);
            }
            Msg::CopyDone { op, key } => {
                assert!(self.is_storage(from), "copy_done from {from:?}, which is not a storage node");
                self.on_copy_done(ctx, from, op, key);
            }
            Msg::Heartbeat => self.on_heartbeat(ctx, from),
            Msg::Wiped { epoch } => self.on_wiped(ctx, from, epoch),
            other => panic!("directory got {other:?} from {from:?}: not a directory message"),
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::CheckLiveness => {
                self.check_liveness(ctx);
                ctx.set_timer(ms(self.params.heartbeat_interval_ms), Timer::CheckLiveness);
            }
            Timer::Expire { op } => self.on_expire(ctx, op),
            other => panic!("directory got a timer it never sets: {other:?}"),
        }
    }

    fn node_mut(&mut self, n: NodeId) -> &mut StorageNode {
        let i = slot(n, self.storage.len());
        &mut self.storage[i]
    }

    fn is_storage(&self, n: NodeId) -> bool {
        (1..=self.storage.len()).contains(&n.index())
    }

    fn is_client(&self, n: NodeId) -> bool {
        n.index() > self.storage.len()
    }

    /// Whether this is the first copy of request `req` to arrive. Executing
    /// a duplicated put again would write its value a second time, possibly
    /// after newer puts, and a duplicated lookup would take a second lease.
    fn first_delivery(&mut self, client: NodeId, req: u64) -> bool {
        let seen = self.seen.entry(client).or_default();
        if !seen.insert(req) {
            return false;
        }
        if seen.len() > DEDUP_WINDOW {
            seen.pop_first();
        }
        true
    }

    // ---- per-key ordering ----

    /// Careless: start at once. Serialized: queue behind the key's current
    /// task, and start if there is none.
    fn submit(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, work: Work) {
        match self.params.ordering {
            Ordering::Careless => {
                self.start(ctx, key, work);
            }
            Ordering::Serialized => {
                let q = self.queues.entry(key).or_default();
                // Repairs bypass the bound: refusing one would leave the key
                // under-replicated with nobody to retry.
                if q.waiting.len() >= MAX_WAITING_PER_KEY && !matches!(work, Work::Repair) {
                    match work {
                        Work::Put { client, req, .. }
                        | Work::Get { client, req }
                        | Work::Lookup { client, req, .. } => self.refuse(ctx, client, req, Refusal::Busy),
                        Work::Repair => unreachable!("repairs are never refused"),
                    }
                    return;
                }
                q.waiting.push_back(work);
                if q.busy.is_none() {
                    self.pump(ctx, key);
                }
            }
        }
    }

    /// Starts queued work on an idle key until one task stays in flight.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>, key: Key) {
        loop {
            let q = self.queues.get_mut(&key).expect("pumping a key without a queue");
            assert!(q.busy.is_none(), "pumping key {key} while task {:?} holds it", q.busy);
            let Some(work) = q.waiting.pop_front() else {
                self.queues.remove(&key);
                return;
            };
            if let Some(op) = self.start(ctx, key, work) {
                self.queues.get_mut(&key).expect("queue vanished while starting work").busy = Some(op);
                return;
            }
        }
    }

    /// Ends a task and, in serialized mode, starts the next work on its key.
    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let a = self.active.remove(&op).expect("finishing a task that is not active");
        ctx.cancel_timer(a.expiry);
        if self.params.ordering == Ordering::Serialized {
            let q = self.queues.get_mut(&a.key).expect("a serialized task's key has a queue");
            assert_eq!(q.busy, Some(op), "task {op} finished but key {} is held by another", a.key);
            q.busy = None;
            self.pump(ctx, a.key);
        }
    }

    fn activate(&mut self, ctx: &mut Ctx<'_, Node>, op: u64, key: Key, task: Task) {
        let expiry = ctx.set_timer(ms(self.params.lease_ms), Timer::Expire { op });
        let old = self.active.insert(op, Active { key, task, expiry });
        assert!(old.is_none(), "operation id {op} reused");
    }

    fn new_op(&mut self) -> u64 {
        assert!(self.boot > 0, "directory used before booting");
        let op = self.next_op;
        self.next_op += 1;
        assert!(self.next_op < first_id(self.boot + 1), "operation ids of boot {} exhausted", self.boot);
        op
    }

    /// Starts one piece of work. Returns the task id if it waits for
    /// replies, `None` if it was answered (or dropped) at once.
    fn start(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, work: Work) -> Option<u64> {
        match work {
            Work::Put { client, req, value } => self.start_put(ctx, key, client, req, value),
            Work::Get { client, req } => self.start_get(ctx, key, client, req),
            Work::Lookup { client, req, put_size_bytes } => self.start_lookup(ctx, key, client, req, put_size_bytes),
            Work::Repair => self.start_repair(ctx, key),
        }
    }

    fn refuse(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, req: u64, reason: Refusal) {
        self.counters.requests_refused += 1;
        ctx.send(client, Msg::Refused { req, reason });
    }

    // ---- client work ----

    /// The replicas and version a put on `key` writes, placing the key if
    /// it is new (or was lost). Durable before anyone hears of it, so a
    /// restarted directory never hands out a version twice.
    fn place_for_write(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        key: Key,
        size_bytes: u64,
    ) -> Result<(Vec<NodeId>, Option<u64>), Refusal> {
        let (replicas, version) = match self.placements.get(&key) {
            Some(p) if !p.replicas.is_empty() => (p.replicas.clone(), p.version),
            old => {
                let version = old.map_or(0, |p| p.version);
                let chosen = self.choose_targets(self.params.replication_factor as usize, size_bytes, &[]);
                if chosen.is_empty() {
                    return Err(Refusal::NoStorage);
                }
                self.counters.keys_placed += 1;
                (chosen, version)
            }
        };
        let (version, tag) = match self.params.ordering {
            Ordering::Serialized => (version + 1, Some(version + 1)),
            Ordering::Careless => (version, None),
        };
        self.set_placement(ctx, key, Placement { replicas: replicas.clone(), version, size_bytes });
        self.flush(ctx);
        Ok((replicas, tag))
    }

    fn start_put(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, client: NodeId, req: u64, value: Value) -> Option<u64> {
        let (replicas, version) = match self.place_for_write(ctx, key, value.size_bytes) {
            Ok(placed) => placed,
            Err(reason) => {
                self.refuse(ctx, client, req, reason);
                return None;
            }
        };
        let op = self.new_op();
        let careless = self.params.ordering == Ordering::Careless;
        send_put(ctx, self.params.replication, op, key, value, version, &replicas, careless);
        let write = WriteProgress::new(replicas);
        self.activate(ctx, op, key, Task::Put { client, req, value, version, write, answered: false });
        Some(op)
    }

    fn start_get(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, client: NodeId, req: u64) -> Option<u64> {
        let replica = match self.placements.get(&key) {
            None => {
                // Never written: nothing to ask storage about.
                self.counters.gets_answered += 1;
                ctx.send(client, Msg::ClientGetOk { req, value: None });
                return None;
            }
            Some(p) => ctx.rng().pick(&p.replicas).copied(),
        };
        let Some(replica) = replica else {
            self.refuse(ctx, client, req, Refusal::KeyLost);
            return None;
        };
        let op = self.new_op();
        ctx.send(replica, Msg::StoreGet { op, key });
        self.activate(ctx, op, key, Task::Get { client, req, replica });
        Some(op)
    }

    fn start_lookup(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        key: Key,
        client: NodeId,
        req: u64,
        put_size_bytes: Option<u64>,
    ) -> Option<u64> {
        let (replicas, version) = match put_size_bytes {
            Some(size) => match self.place_for_write(ctx, key, size) {
                Ok(placed) => placed,
                Err(reason) => {
                    self.refuse(ctx, client, req, reason);
                    return None;
                }
            },
            None => match self.placements.get(&key) {
                Some(p) if p.replicas.is_empty() => {
                    self.refuse(ctx, client, req, Refusal::KeyLost);
                    return None;
                }
                Some(p) => (p.replicas.clone(), None),
                None => (Vec::new(), None),
            },
        };
        self.counters.lookups_answered += 1;
        // A lease protects work the client is about to do on replicas; a
        // get of an absent key does none.
        let leased = self.params.ordering == Ordering::Serialized && !replicas.is_empty();
        let ticket = leased.then(|| self.new_op());
        ctx.send(client, Msg::Location { req, key, replicas, version, ticket });
        let op = ticket?;
        self.activate(ctx, op, key, Task::Lease { client });
        Some(op)
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, key: Key, ticket: u64) {
        // A lease that already expired: the key has moved on.
        let Some(a) = self.active.get(&ticket) else { return };
        let Task::Lease { client } = a.task else { panic!("done for task {ticket}, which is not a lease: {a:?}") };
        assert!(a.key == key && client == from, "done from {from:?} for key {key} does not match lease {a:?}");
        self.finish(ctx, ticket);
    }

    fn on_store_ack(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, op: u64, key: Key) {
        let replication = self.params.replication;
        // Late acks for finished or expired puts are normal.
        let Some(a) = self.active.get_mut(&op) else { return };
        assert_eq!(a.key, key, "store_ack for task {op} names the wrong key");
        let Task::Put { write, .. } = &mut a.task else { panic!("store_ack for task {op}, which is not a put") };
        write.ack(from, replication);
        self.progress_put(ctx, op);
    }

    /// Answers the client once the put is stored enough for the ordering
    /// mode, and ends the task once every replica has it (or none is left).
    fn progress_put(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let serialized = self.params.ordering == Ordering::Serialized;
        let a = self.active.get_mut(&op).expect("progress of a put that is not active");
        let Task::Put { client, req, write, answered, .. } = &mut a.task else { panic!("task {op} is not a put") };
        let stored_enough = if serialized { write.complete() } else { write.any_stored() };
        if stored_enough && !*answered {
            *answered = true;
            ctx.send(*client, Msg::ClientPutOk { req: *req });
        }
        // An orphaned put ends without an answer: it may have reached the
        // dead replicas, so the client must see its timeout (unknown), not
        // a failure.
        let (complete, orphaned) = (write.complete(), write.orphaned());
        if complete {
            self.counters.puts_applied += 1;
        }
        if complete || orphaned {
            self.finish(ctx, op);
        }
    }

    fn on_store_value(&mut self, ctx: &mut Ctx<'_, Node>, op: u64, key: Key, value: Option<Value>) {
        let Some(a) = self.active.get(&op) else { return };
        assert_eq!(a.key, key, "store_value for task {op} names the wrong key");
        let Task::Get { client, req, .. } = a.task else { panic!("store_value for task {op}, which is not a get") };
        self.counters.gets_answered += 1;
        ctx.send(client, Msg::ClientGetOk { req, value });
        self.finish(ctx, op);
    }

    fn on_expire(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let Some(a) = self.active.get(&op) else { return };
        self.counters.tasks_expired += 1;
        match a.task {
            Task::Repair { target, reserved_bytes, .. } => self.abort_repair(ctx, op, target, reserved_bytes),
            // The client times out on its own; a put may be partly applied,
            // which its `unknown` outcome allows.
            Task::Put { .. } | Task::Get { .. } | Task::Lease { .. } => self.finish(ctx, op),
        }
    }

    // ---- placement and repair ----

    /// Up to `count` live nodes outside `exclude` with room for `size_bytes`,
    /// most free space first, ties to the lowest id.
    fn choose_targets(&self, count: usize, size_bytes: u64, exclude: &[NodeId]) -> Vec<NodeId> {
        let capacity = self.params.storage_capacity_bytes;
        let mut candidates: Vec<(u64, NodeId)> = self
            .storage
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.health, Health::Live { .. }))
            .map(|(i, s)| (capacity.saturating_sub(s.placed_bytes), storage_id(i)))
            .filter(|(free, id)| *free >= size_bytes && !exclude.contains(id))
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.into_iter().take(count).map(|(_, id)| id).collect()
    }

    /// Replaces a key's placement, keeping the per-node byte accounting in
    /// step, and logs it (durable at the next `flush`).
    fn set_placement(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, p: Placement) {
        let n = self.storage.len();
        if let Some(old) = self.placements.get(&key) {
            for r in &old.replicas {
                let s = &mut self.storage[slot(*r, n)];
                s.placed_bytes = s.placed_bytes.checked_sub(old.size_bytes).expect("placed bytes underflow");
            }
        }
        for r in &p.replicas {
            self.storage[slot(*r, n)].placed_bytes += p.size_bytes;
        }
        let (replicas, version, size_bytes) = (p.replicas.clone(), p.version, p.size_bytes);
        self.record(ctx, Record::Placement { key, replicas, version, size_bytes });
        self.placements.insert(key, p);
    }

    fn start_repair(&mut self, ctx: &mut Ctx<'_, Node>, key: Key) -> Option<u64> {
        let p = self.placements.get(&key)?;
        let (replicas, size) = (p.replicas.clone(), p.size_bytes);
        let mut holders = replicas.clone();
        // Careless mode runs repairs concurrently: count copies in flight.
        holders.extend(self.active.values().filter(|a| a.key == key).filter_map(|a| match a.task {
            Task::Repair { target, .. } => Some(target),
            _ => None,
        }));
        if replicas.is_empty() || holders.len() >= self.params.replication_factor as usize {
            return None;
        }
        let target = *self.choose_targets(1, size, &holders).first()?;
        let source = *ctx.rng().pick(&replicas).expect("replicas checked non-empty");
        let op = self.new_op();
        // Reserve the space now, so repairs started together spread out
        // instead of all choosing the same emptiest node.
        self.node_mut(target).placed_bytes += size;
        self.counters.rereplications_started += 1;
        ctx.send(source, Msg::Copy { op, key, to: target });
        self.activate(ctx, op, key, Task::Repair { source, target, reserved_bytes: size });
        Some(op)
    }

    fn on_copy_done(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, op: u64, key: Key) {
        let Some(a) = self.active.get(&op) else { return };
        assert_eq!(a.key, key, "copy_done for task {op} names the wrong key");
        let Task::Repair { target, reserved_bytes, .. } = a.task else { panic!("copy_done for {op}, not a repair") };
        assert_eq!(from, target, "copy_done for task {op} from {from:?}, but the copy went to {target:?}");
        self.unreserve(target, reserved_bytes);
        let live = matches!(self.storage[slot(target, self.storage.len())].health, Health::Live { .. });
        if let Some(p) = self.placements.get(&key)
            && live
            && !p.replicas.is_empty()
            && !p.replicas.contains(&target)
        {
            let mut p = p.clone();
            p.replicas.push(target);
            self.set_placement(ctx, key, p);
            self.flush(ctx);
            self.counters.rereplications_completed += 1;
        }
        self.finish(ctx, op);
    }

    /// Gives up on a repair and queues a fresh one, which chooses its
    /// source and target again.
    fn abort_repair(&mut self, ctx: &mut Ctx<'_, Node>, op: u64, target: NodeId, reserved_bytes: u64) {
        self.unreserve(target, reserved_bytes);
        let key = self.active[&op].key;
        self.finish(ctx, op);
        self.submit(ctx, key, Work::Repair);
    }

    fn unreserve(&mut self, target: NodeId, bytes: u64) {
        let s = self.node_mut(target);
        s.placed_bytes = s.placed_bytes.checked_sub(bytes).expect("reservation larger than placed bytes");
    }

    // ---- failure detection ----

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId) {
        assert!(self.is_storage(from), "heartbeat from {from:?}, which is not a storage node");
        let now = ctx.now();
        let s = self.node_mut(from);
        match s.health {
            Health::Live { .. } => s.health = Health::Live { last_heard: now },
            // Its copies were replaced while it was away and are not used
            // again: it must discard them before it can hold new keys. The
            // wipe is repeated on every heartbeat until confirmed, since
            // messages can be lost.
            Health::Dead | Health::Rejoining => {
                s.health = Health::Rejoining;
                ctx.send(from, Msg::Wipe { epoch: s.epoch });
            }
        }
    }

    fn on_wiped(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, epoch: u64) {
        assert!(self.is_storage(from), "wiped from {from:?}, which is not a storage node");
        let now = ctx.now();
        let s = self.node_mut(from);
        if s.health != Health::Rejoining || s.epoch != epoch {
            return;
        }
        s.health = Health::Live { last_heard: now };
        self.record(ctx, Record::Live { node: from, epoch });
        self.flush(ctx);
        // A new node to copy to may finish repairs that found no target.
        self.repair_under_replicated(ctx);
    }

    fn check_liveness(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let timeout = ms(self.params.failure_timeout_ms);
        let silent: Vec<NodeId> = self
            .storage
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.health, Health::Live { last_heard } if now.since(last_heard) >= timeout))
            .map(|(i, _)| storage_id(i))
            .collect();
        for node in silent {
            self.declare_dead(ctx, node);
        }
        if self.repair_scan_at.is_some_and(|at| now >= at) {
            self.repair_scan_at = None;
            self.repair_under_replicated(ctx);
        }
    }

    /// Removes a dead node from every placement (losing keys it held
    /// alone), redirects the tasks waiting on it, and queues a repair for
    /// each key it held.
    fn declare_dead(&mut self, ctx: &mut Ctx<'_, Node>, dead: NodeId) {
        self.counters.nodes_declared_dead += 1;
        let s = self.node_mut(dead);
        s.health = Health::Dead;
        s.epoch += 1;
        let epoch = s.epoch;
        self.record(ctx, Record::Dead { node: dead, epoch });
        let held: Vec<Key> =
            self.placements.iter().filter(|(_, p)| p.replicas.contains(&dead)).map(|(k, _)| *k).collect();
        let mut to_repair = Vec::with_capacity(held.len());
        for key in held {
            let mut p = self.placements[&key].clone();
            p.replicas.retain(|r| *r != dead);
            if p.replicas.is_empty() {
                self.counters.keys_lost += 1;
            } else {
                to_repair.push(key);
            }
            self.set_placement(ctx, key, p);
        }
        self.flush(ctx);
        let ops: Vec<u64> = self.active.keys().copied().collect();
        for op in ops {
            self.redirect(ctx, op, dead);
        }
        for key in to_repair {
            self.submit(ctx, key, Work::Repair);
        }
    }

    /// Adjusts task `op` (if still active) to the death of `dead`.
    fn redirect(&mut self, ctx: &mut Ctx<'_, Node>, op: u64, dead: NodeId) {
        let replication = self.params.replication;
        let careless = self.params.ordering == Ordering::Careless;
        let Some(a) = self.active.get_mut(&op) else { return };
        let key = a.key;
        match &mut a.task {
            Task::Put { value, version, write, answered, .. } => {
                if !write.remove(dead) {
                    return;
                }
                // In a chain the dead link may have died before forwarding:
                // send the put down a new chain of the replicas not known to
                // hold it. Versions make the repetition harmless.
                let unstored = write.unstored();
                if replication == Replication::Recursive && !unstored.is_empty() {
                    send_put(ctx, replication, op, key, *value, *version, &unstored, careless && !*answered);
                }
                self.progress_put(ctx, op);
            }
            Task::Get { client, req, replica } if *replica == dead => {
                let (client, req) = (*client, *req);
                let others = self.placements.get(&key).map(|p| p.replicas.as_slice()).unwrap_or_default();
                match ctx.rng().pick(others).copied() {
                    Some(next) => {
                        ctx.send(next, Msg::StoreGet { op, key });
                        if let Some(Active { task: Task::Get { replica, .. }, .. }) = self.active.get_mut(&op) {
                            *replica = next;
                        }
                    }
                    None => {
                        self.refuse(ctx, client, req, Refusal::KeyLost);
                        self.finish(ctx, op);
                    }
                }
            }
            Task::Repair { source, target, reserved_bytes } if *source == dead || *target == dead => {
                let (target, reserved_bytes) = (*target, *reserved_bytes);
                self.abort_repair(ctx, op, target, reserved_bytes);
            }
            Task::Get { .. } | Task::Lease { .. } | Task::Repair { .. } => {}
        }
    }

    /// Queues a repair for every key below the replication factor.
    fn repair_under_replicated(&mut self, ctx: &mut Ctx<'_, Node>) {
        let rf = self.params.replication_factor as usize;
        let keys: Vec<Key> = self
            .placements
            .iter()
            .filter(|(_, p)| !p.replicas.is_empty() && p.replicas.len() < rf)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.submit(ctx, key, Work::Repair);
        }
    }

    // ---- persistence ----

    fn record(&mut self, ctx: &mut Ctx<'_, Node>, rec: Record) {
        ctx.disk().write(rec);
        self.log_records += 1;
    }

    /// Makes logged changes durable, compacting the log when it has grown
    /// well past the state it describes.
    fn flush(&mut self, ctx: &mut Ctx<'_, Node>) {
        let state_records = self.placements.len() + self.storage.len() + 1;
        if self.log_records <= 2 * state_records + COMPACT_SLACK_RECORDS {
            ctx.disk().sync();
            return;
        }
        let mut snapshot = Vec::with_capacity(state_records);
        snapshot.push(Record::Boot { n: self.boot });
        for (i, s) in self.storage.iter().enumerate() {
            let (node, epoch) = (storage_id(i), s.epoch);
            match s.health {
                _ if epoch == 0 => {}
                Health::Live { .. } => snapshot.push(Record::Live { node, epoch }),
                // A rejoining node has not confirmed its wipe: still dead.
                Health::Dead | Health::Rejoining => snapshot.push(Record::Dead { node, epoch }),
            }
        }
        snapshot.extend(self.placements.iter().map(|(&key, p)| Record::Placement {
            key,
            replicas: p.replicas.clone(),
            version: p.version,
            size_bytes: p.size_bytes,
        }));
        self.log_records = snapshot.len();
        ctx.disk().replace(snapshot);
        ctx.disk().sync();
    }
}

/// The storage slot of node `n`, checking that it is a storage node.
fn slot(n: NodeId, storage_nodes: usize) -> usize {
    let i = n.index().wrapping_sub(1);
    assert!(i < storage_nodes, "{n:?} is not one of the {storage_nodes} storage nodes");
    i
}
