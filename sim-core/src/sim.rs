//! The engine: a single-threaded loop over one event queue.
//!
//! `Sim<A>` owns the actors, their random streams and their disks in three
//! parallel vectors, and everything shared (queue, network, history,
//! workload, statistics) in `Core`. A handler borrows its own actor, stream
//! and disk and the core at once through `Ctx`, so effects go straight into
//! the queue: no boxing, no effect buffers, no allocation per event once the
//! queue's slab has grown.

use crate::NodeId;
use crate::actor::{Actor, Ctx, Message, TimerId};
use crate::disk::{Disk, DiskStats};
use crate::fault::{FaultAction, FaultPlan, FaultRecord, FaultSource, Nemesis, NemesisKind};
use crate::history::{History, Key, Op, OpId, OpStatus, Output, Value};
use crate::net::{DropReason, Hop, NetConfig, Network, NodeSet, Route};
use crate::prefetch::prefetch;
use crate::queue::{EventId, EventQueue};
use crate::rng::{SimRng, Stream};
use crate::time::{SimTime, ms_f64_to_ns};
use crate::trace::{TraceEvent, TraceHasher, TraceKind};
use crate::workload::{Arrivals, Workload, WorkloadConfig};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::Hash;

/// With fewer nodes than this, every node's state stays in the cache and
/// prefetching the next event's node would only cost instructions.
const PREFETCH_MIN_NODES: usize = 1024;

/// The most history records reserved up front (see `Sim::new`).
const HISTORY_RESERVE_MAX_OPS: u64 = 1 << 22;

/// A node to put in a simulation.
pub struct NodeSpec<A> {
    pub name: String,
    /// The node's role in its protocol (`directory`, `storage`, `client`, ...).
    pub role: String,
    pub actor: A,
}

/// When a run ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Keep running this long after the workload is done and nothing is
    /// pending, so background work (repair, anti-entropy) can settle.
    pub quiesce_ns: u64,
    /// Hard end of simulated time; operations still pending end `unknown`.
    pub deadline: SimTime,
    /// Hard cap on processed events.
    pub max_events: u64,
}

/// Everything a run needs besides its nodes.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub net: NetConfig,
    pub workload: WorkloadConfig,
    pub faults: FaultPlan,
    pub limits: Limits,
    /// Keep a full event trace (for diagrams and debugging); costs memory.
    pub record_trace: bool,
}

/// Whether a node is running.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Up,
    Down,
    Paused,
}

/// How a run ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The workload finished, nothing was pending and the quiesce time passed.
    Quiesced,
    /// The simulated deadline arrived.
    Deadline,
    /// Nothing was left to do.
    QueueEmpty,
    /// The event cap was hit: the run was cut short.
    MaxEvents,
    /// More events were pending than allowed (a message storm).
    MaxPendingEvents,
    /// The history grew past its cap.
    MaxHistoryOps,
    /// The caller's wall-clock budget ran out (see `Sim::stop`).
    WallClock,
}

impl EndReason {
    /// Whether the run hit a limit rather than finishing.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            EndReason::MaxEvents | EndReason::MaxPendingEvents | EndReason::MaxHistoryOps | EndReason::WallClock
        )
    }

    /// What happened, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            EndReason::Quiesced => "the workload finished and the run quiesced",
            EndReason::Deadline => "the simulated deadline arrived",
            EndReason::QueueEmpty => "nothing was left to do",
            EndReason::MaxEvents => "limit: the maximum number of events was processed",
            EndReason::MaxPendingEvents => "limit: too many events were pending at once",
            EndReason::MaxHistoryOps => "limit: the history reached its maximum size",
            EndReason::WallClock => "limit: the wall-clock budget ran out",
        }
    }
}

/// Caps on memory a run may use; `u64::MAX` is no cap.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Most events (messages in flight, timers, ...) pending at once.
    pub max_pending_events: u64,
    /// Most operations in the history.
    pub max_history_ops: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits { max_pending_events: u64::MAX, max_history_ops: u64::MAX }
    }
}

/// The engine's own account of a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub end_reason: EndReason,
    pub events: u64,
    pub end_time: SimTime,
    pub trace_hash: u64,
}

/// Counters per message type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MsgKindStats {
    pub sent: u64,
    pub sent_bytes: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub duplicated: u64,
    pub dropped_loss: u64,
    pub dropped_partition: u64,
    pub dropped_receiver_down: u64,
    /// Lost because the sender crashed before the message left its NIC.
    pub dropped_sender_down: u64,
}

impl MsgKindStats {
    /// Messages of this type dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_partition + self.dropped_receiver_down + self.dropped_sender_down
    }
}

/// Counters per node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeStats {
    pub msgs_sent: u64,
    pub bytes_sent: u64,
    pub msgs_received: u64,
    pub bytes_received: u64,
    pub timers_fired: u64,
    pub client_ops: u64,
    pub crashes: u64,
    pub restarts: u64,
}

/// Message and node counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub by_kind: Vec<MsgKindStats>,
    pub by_node: Vec<NodeStats>,
}

/// `repr(u64)`: fields in the order written after an 8-byte tag, with the
/// message first, at offset 8. Moving an event out of its slot copies the
/// tag, then the rest in 16-byte pieces from offset 8; the message's own
/// 16-byte reads that follow then each match one piece. With a 4-byte tag
/// the pieces started at offset 4, every such read straddled two of them,
/// and store forwarding failed: `perf annotate` put a fifth of the run
/// loop's samples on one of those reads (quorum store, 1e6 operations).
/// Ingress transfer times are recomputed from the size on arrival rather
/// than carried, so the largest variant still fits 120 bytes.
#[repr(u64)]
pub(crate) enum Event<A: Actor> {
    Deliver {
        msg: A::Msg,
        /// When the message had fully left the sender's NIC, and the
        /// sender's incarnation: a crash before then means it was never sent.
        sent_by: SimTime,
        /// `msg.size_bytes()`, computed once at the send: for a message
        /// carrying a list of versions it is a walk over the list.
        size_bytes: u64,
        from: NodeId,
        to: NodeId,
        incarnation: u32,
    },
    Arrive {
        msg: A::Msg,
        sent_by: SimTime,
        not_before: SimTime,
        from: NodeId,
        to: NodeId,
        incarnation: u32,
    },
    /// A nemesis fault ends (index into `Core::undos`).
    Undo(u32),
    Timer {
        node: NodeId,
        incarnation: u32,
        /// The `TimerId::token` of this timer.
        token: u64,
        timer: A::Timer,
    },
    /// A closed-loop client's next generated operation.
    NextOp {
        client: NodeId,
        incarnation: u32,
    },
    /// The next open-loop arrival.
    Arrival,
    /// An operation held while its client was paused, or a scripted one.
    /// Boxed: these are rare, and an `Op` would double the size of every
    /// event in the queue.
    Invoke {
        client: NodeId,
        op: Box<Op>,
    },
    Fault(u32),
    Nemesis(u32),
    FinalHeal,
}

impl<A: Actor> Event<A> {
    /// The node whose pause would hold this event back.
    fn target(&self) -> Option<NodeId> {
        match self {
            Event::Deliver { to, .. } => Some(*to),
            Event::Timer { node, .. } => Some(*node),
            Event::NextOp { client, .. } | Event::Invoke { client, .. } => Some(*client),
            _ => None,
        }
    }

    fn is_workload(&self) -> bool {
        matches!(self, Event::NextOp { .. } | Event::Arrival | Event::Invoke { .. })
    }

    fn is_fault(&self) -> bool {
        matches!(self, Event::Fault(_) | Event::Nemesis(_) | Event::FinalHeal | Event::Undo(_))
    }
}

/// How a nemesis fault ends.
#[derive(Clone, Copy, Debug)]
enum Undo {
    /// Remove the network layer the fault added.
    Layer(u64),
    Restart(NodeId),
    Resume(NodeId),
}

pub(crate) struct NodeMeta {
    status: NodeStatus,
    incarnation: u32,
    /// When each past incarnation ended (index = incarnation).
    crash_times: Vec<SimTime>,
    pending_ops: Vec<OpId>,
    /// The closed-loop operation in flight, whose completion starts the next.
    loop_op: Option<OpId>,
}

/// Everything the handlers share.
pub struct Core<A: Actor> {
    pub(crate) now: SimTime,
    pub(crate) queue: EventQueue<Event<A>>,
    pub(crate) net: Network,
    pub(crate) history: History,
    pub(crate) workload: Workload,
    pub(crate) nodes: Vec<NodeMeta>,
    is_client: Vec<bool>,
    /// Events held for paused nodes, replayed in order on resume.
    backlog: BTreeMap<NodeId, Vec<Event<A>>>,
    stats: Stats,
    hasher: TraceHasher,
    trace: Option<Vec<TraceEvent>>,
    pending_ops: usize,
    workload_events: usize,
    fault_events: usize,
    fault_actions: Vec<(FaultAction, FaultSource)>,
    undos: Vec<Undo>,
    /// Undo events not yet run, so the final heal can cancel them.
    pending_undos: BTreeMap<u32, crate::queue::EventId>,
    fault_log: Vec<FaultRecord>,
    nemeses: Vec<Nemesis>,
    fault_rng: SimRng,
    names: Vec<String>,
    next_timer_token: u64,
    /// Whether any node has crashed yet in this run.
    crashed_any: bool,
    /// Nodes not `Up` now (down or paused): while zero, the hot path skips
    /// reading each receiver's status (a cache miss per event in a large
    /// simulation).
    not_up: usize,
    /// Timers held by a pause and queued again on resume, by token: their
    /// current event id, so `cancel_timer` still finds them.
    requeued_timers: BTreeMap<u64, EventId>,
}

impl<A: Actor> Core<A> {
    #[inline]
    fn push(&mut self, at: SimTime, ev: Event<A>) {
        if ev.is_workload() {
            self.workload_events += 1;
        }
        if ev.is_fault() {
            self.fault_events += 1;
        }
        self.queue.push(at, ev);
    }

    /// Appends to the full trace when one is kept. Inlined down to one
    /// test: most runs keep no trace, and this is called twice per message.
    #[inline(always)]
    fn record(&mut self, kind: TraceKind, node: NodeId, peer: Option<NodeId>, label: &'static str, size_bytes: u64) {
        if self.trace.is_some() {
            self.record_slow(TraceEvent { at: self.now, kind, node, peer, label, size_bytes });
        }
    }

    #[cold]
    #[inline(never)]
    fn record_slow(&mut self, event: TraceEvent) {
        if let Some(t) = &mut self.trace {
            t.push(event);
        }
    }

    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, msg: A::Msg) {
        assert!(to.index() < self.nodes.len(), "{from:?} sent to unknown node {to:?}");
        let kind = msg.kind();
        let size = msg.size_bytes();
        let label = A::Msg::KINDS[kind];
        {
            let k = &mut self.stats.by_kind[kind];
            k.sent += 1;
            k.sent_bytes = k.sent_bytes.saturating_add(size);
            let n = &mut self.stats.by_node[from.index()];
            n.msgs_sent += 1;
            n.bytes_sent = n.bytes_sent.saturating_add(size);
        }
        self.record(TraceKind::Send, from, Some(to), label, size);
        if let Some(latency_ns) = self.net.plain_latency_ns(from, to) {
            // What `route` would say: sent at once, delivered one latency later.
            let hop = Hop::Deliver { at: self.now.after(latency_ns), sent_by: self.now };
            self.schedule_hop(hop, from, to, msg, size);
            return;
        }
        self.send_routed(from, to, msg, kind, size);
    }

    /// The rest of `send` when the network has more to decide than a
    /// latency (loss, duplication, partitions, bandwidth): kept out of line
    /// so the common path stays short.
    #[inline(never)]
    fn send_routed(&mut self, from: NodeId, to: NodeId, msg: A::Msg, kind: usize, size: u64) {
        match self.net.route(self.now, from, to, size) {
            Route::Dropped(reason) => self.dropped(kind, from, to, reason),
            Route::Sent { first, duplicate } => {
                if let Some(hop) = duplicate {
                    self.stats.by_kind[kind].duplicated += 1;
                    self.schedule_hop(hop, from, to, msg.clone(), size);
                }
                self.schedule_hop(first, from, to, msg, size);
            }
        }
    }

    #[inline(always)]
    fn schedule_hop(&mut self, hop: Hop, from: NodeId, to: NodeId, msg: A::Msg, size_bytes: u64) {
        // Every incarnation is 0 until some node crashes: skip reading the
        // sender's record until then.
        let incarnation = if self.crashed_any { self.nodes[from.index()].incarnation } else { 0 };
        match hop {
            Hop::Deliver { at, sent_by } => {
                // Straight into the queue: a delivery is neither workload
                // nor fault, so `push`'s counters have nothing to count.
                self.queue.push(at, Event::Deliver { from, to, incarnation, msg, sent_by, size_bytes });
            }
            Hop::Arrive { at, not_before, sent_by } => {
                self.push(at, Event::Arrive { from, to, incarnation, msg, sent_by, not_before })
            }
        }
    }

    fn dropped(&mut self, kind: usize, from: NodeId, to: NodeId, reason: DropReason) {
        let k = &mut self.stats.by_kind[kind];
        let label = match reason {
            DropReason::Loss => {
                k.dropped_loss += 1;
                "loss"
            }
            DropReason::Partition => {
                k.dropped_partition += 1;
                "partition"
            }
            DropReason::ReceiverDown => {
                k.dropped_receiver_down += 1;
                "receiver-down"
            }
            DropReason::SenderDown => {
                k.dropped_sender_down += 1;
                "sender-down"
            }
        };
        self.record(TraceKind::Drop, to, Some(from), label, 0);
    }

    /// Whether the sender of a message (its incarnation when sending, and
    /// when the message would have fully left its NIC) crashed first.
    fn sender_crashed(&self, from: NodeId, incarnation: u32, sent_by: SimTime) -> bool {
        // Until some node crashes, no sender did: skip reading the sender's
        // record, a cache miss per message in a large simulation.
        self.crashed_any
            && self.nodes[from.index()].crash_times.get(incarnation as usize).is_some_and(|&crashed| crashed < sent_by)
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, after_ns: u64, timer: A::Timer) -> TimerId {
        let incarnation = self.nodes[node.index()].incarnation;
        let at = self.now.after(after_ns);
        let token = self.next_timer_token;
        self.next_timer_token += 1;
        let event = self.queue.push(at, Event::Timer { node, incarnation, token, timer });
        TimerId { event, token }
    }

    pub(crate) fn cancel_timer(&mut self, id: TimerId) -> bool {
        if self.queue.cancel(id.event) {
            return true;
        }
        match self.requeued_timers.remove(&id.token) {
            Some(event) => self.queue.cancel(event),
            None => false,
        }
    }

    pub(crate) fn complete(&mut self, client: NodeId, id: OpId, status: OpStatus, output: Output) {
        let rec = self.history.get(id);
        assert_eq!(rec.process, client, "{client:?} completed {id:?}, which belongs to {:?}", rec.process);
        (self.now, 0xC0u8, id, status, &output).hash(&mut self.hasher);
        let kind = rec.op.kind.name();
        self.history.complete(id, status, output, self.now);
        self.record(TraceKind::Complete, client, None, kind, 0);
        let meta = &mut self.nodes[client.index()];
        meta.pending_ops.retain(|p| *p != id);
        self.pending_ops -= 1;
        if meta.loop_op == Some(id) {
            meta.loop_op = None;
            let incarnation = meta.incarnation;
            self.schedule_next_op(client, incarnation);
        }
    }

    fn schedule_next_op(&mut self, client: NodeId, incarnation: u32) {
        if !matches!(self.workload.cfg.arrivals, Arrivals::Closed { .. }) {
            return;
        }
        let think = self.workload.think_time_ns();
        let at = self.now.after(think).max(self.workload.cfg.start);
        if self.workload.may_issue(client, at) {
            self.push(at, Event::NextOp { client, incarnation });
        }
    }

    fn log_fault(&mut self, source: FaultSource, kind: &'static str, nodes: Vec<NodeId>, detail: String) {
        (self.now, 0xFAu8, kind, &nodes).hash(&mut self.hasher);
        if let Some(&n) = nodes.first() {
            self.record(TraceKind::Fault, n, None, kind, 0);
        }
        self.fault_log.push(FaultRecord { at: self.now, source, kind, nodes, detail });
    }

    fn name_list(&self, nodes: &[NodeId]) -> String {
        nodes.iter().map(|n| self.names[n.index()].as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A simulation of one protocol.
pub struct Sim<A: Actor> {
    actors: Vec<A>,
    rngs: Vec<SimRng>,
    disks: Vec<Disk<A::Record>>,
    roles: Vec<String>,
    core: Core<A>,
    limits: Limits,
    resources: ResourceLimits,
    events: u64,
    started: bool,
    idle_since: Option<SimTime>,
    end: Option<RunSummary>,
}

impl<A: Actor> Sim<A> {
    pub fn new(cfg: SimConfig, nodes: Vec<NodeSpec<A>>) -> Sim<A> {
        let n = nodes.len();
        assert_eq!(cfg.net.nics.len(), n, "network config must describe every node");
        let mut names = Vec::with_capacity(n);
        let mut roles = Vec::with_capacity(n);
        let mut actors = Vec::with_capacity(n);
        for spec in nodes {
            names.push(spec.name);
            roles.push(spec.role);
            actors.push(spec.actor);
        }
        let mut is_client = vec![false; n];
        for c in &cfg.workload.clients {
            is_client[c.index()] = true;
        }
        for s in &cfg.workload.script {
            assert!(is_client[s.client.index()], "scripted op on {:?}, which is not a client", s.client);
        }
        let fault_actions = cfg.faults.schedule.iter().map(|f| (f.action.clone(), FaultSource::Schedule)).collect();
        let core = Core {
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            net: Network::new(cfg.net, SimRng::new(cfg.seed, Stream::Network)),
            history: History::with_capacity(
                // A run with a known number of operations reserves its
                // history once instead of copying it at every doubling (a
                // million operations are 170 MB); capped so a huge
                // `total_ops` that the run never reaches costs only
                // untouched address space.
                cfg.workload.total_ops.map_or(0, |t| t.min(HISTORY_RESERVE_MAX_OPS) as usize),
            ),
            workload: Workload::new(cfg.workload, SimRng::new(cfg.seed, Stream::Workload), n),
            nodes: (0..n)
                .map(|_| NodeMeta {
                    status: NodeStatus::Up,
                    incarnation: 0,
                    crash_times: Vec::new(),
                    pending_ops: Vec::new(),
                    loop_op: None,
                })
                .collect(),
            is_client,
            backlog: BTreeMap::new(),
            stats: Stats {
                by_kind: vec![MsgKindStats::default(); A::Msg::KINDS.len()],
                by_node: vec![NodeStats::default(); n],
            },
            hasher: TraceHasher::default(),
            trace: cfg.record_trace.then(Vec::new),
            pending_ops: 0,
            workload_events: 0,
            fault_events: 0,
            fault_actions,
            undos: Vec::new(),
            pending_undos: BTreeMap::new(),
            fault_log: Vec::new(),
            nemeses: cfg.faults.nemeses.clone(),
            fault_rng: SimRng::new(cfg.seed, Stream::Faults),
            names,
            next_timer_token: 0,
            crashed_any: false,
            not_up: 0,
            requeued_timers: BTreeMap::new(),
        };
        let mut sim = Sim {
            actors,
            rngs: (0..n).map(|i| SimRng::new(cfg.seed, Stream::Node(i as u32))).collect(),
            disks: (0..n).map(|_| Disk::default()).collect(),
            roles,
            core,
            limits: cfg.limits,
            resources: ResourceLimits::default(),
            events: 0,
            started: false,
            idle_since: None,
            end: None,
        };
        sim.schedule_plan(&cfg.faults);
        sim
    }

    fn schedule_plan(&mut self, plan: &FaultPlan) {
        for (i, f) in plan.schedule.iter().enumerate() {
            self.core.push(f.at, Event::Fault(i as u32));
        }
        for (i, nem) in plan.nemeses.iter().enumerate() {
            let first = nem.start.after(ms_f64_to_ns(nem.interval_ms.sample(&mut self.core.fault_rng)));
            if first < nem.stop {
                self.core.push(first, Event::Nemesis(i as u32));
            }
        }
        if plan.final_heal {
            let stop = self.core.workload.cfg.stop;
            self.core.push(stop, Event::FinalHeal);
        }
        let w = &self.core.workload.cfg;
        let start = w.start;
        let script: Vec<(SimTime, NodeId, Op)> = w.script.iter().map(|s| (s.at, s.client, s.op)).collect();
        let arrivals = w.arrivals.clone();
        let clients = w.clients.clone();
        for (at, client, op) in script {
            self.core.push(at, Event::Invoke { client, op: Box::new(op) });
        }
        match arrivals {
            Arrivals::Closed { .. } => {
                for c in clients {
                    if self.core.workload.may_issue(c, start) {
                        self.core.push(start, Event::NextOp { client: c, incarnation: 0 });
                    }
                }
            }
            Arrivals::Open { .. } => {
                let at = start.after(self.core.workload.arrival_gap_ns());
                if at < self.core.workload.cfg.stop {
                    self.core.push(at, Event::Arrival);
                }
            }
            Arrivals::ScriptOnly => {}
        }
    }

    fn with_ctx<R>(&mut self, node: NodeId, f: impl FnOnce(&mut A, &mut Ctx<'_, A>) -> R) -> R {
        let i = node.index();
        let mut ctx = Ctx { me: node, rng: &mut self.rngs[i], disk: &mut self.disks[i], core: &mut self.core };
        f(&mut self.actors[i], &mut ctx)
    }

    fn start(&mut self) {
        self.started = true;
        for i in 0..self.actors.len() {
            self.with_ctx(NodeId(i as u32), |a, ctx| a.on_start(ctx));
        }
    }

    /// Runs to the end and returns the engine's summary. Operations still
    /// pending at the end are marked `unknown`.
    pub fn run(&mut self) -> RunSummary {
        loop {
            if let Some(summary) = self.run_for(u64::MAX) {
                return summary;
            }
        }
    }

    /// Caps the run's memory: pending events and history size.
    pub fn set_resource_limits(&mut self, resources: ResourceLimits) {
        self.resources = resources;
    }

    /// Processes at most `steps` events; returns the summary once the run
    /// has ended, `None` if it has more to do. Lets a caller watch progress
    /// or enforce a wall-clock budget between slices (see `stop`).
    pub fn run_for(&mut self, steps: u64) -> Option<RunSummary> {
        if let Some(end) = self.end {
            return Some(end);
        }
        if !self.started {
            self.start();
        }
        let mut budget = steps;
        let reason = loop {
            if budget == 0 {
                return None;
            }
            budget -= 1;
            if self.events >= self.limits.max_events {
                break EndReason::MaxEvents;
            }
            if self.core.queue.len() as u64 > self.resources.max_pending_events {
                break EndReason::MaxPendingEvents;
            }
            if self.core.history.ops.len() as u64 >= self.resources.max_history_ops {
                break EndReason::MaxHistoryOps;
            }
            self.note_idle();
            let Some(next) = self.core.queue.peek_time() else {
                break EndReason::QueueEmpty;
            };
            if let Some(idle) = self.idle_since {
                let end = idle.after(self.limits.quiesce_ns);
                if next > end {
                    self.core.now = self.core.now.max(end.min(self.limits.deadline));
                    break EndReason::Quiesced;
                }
            }
            if next > self.limits.deadline {
                self.core.now = self.limits.deadline;
                break EndReason::Deadline;
            }
            let Some(at) = self.core.queue.pop_time() else {
                break EndReason::QueueEmpty;
            };
            self.core.now = at;
            self.prefetch_next();
            let ev = self.core.queue.take_popped();
            self.dispatch(ev);
        };
        Some(self.finish(reason))
    }

    /// Ends the run now, for a reason the caller decided (a wall-clock
    /// budget): pending operations end `unknown`, and the summary is final.
    pub fn stop(&mut self, reason: EndReason) -> RunSummary {
        match self.end {
            Some(end) => end,
            None => self.finish(reason),
        }
    }

    fn finish(&mut self, reason: EndReason) -> RunSummary {
        self.core.history.close_pending();
        let summary = RunSummary {
            end_reason: reason,
            events: self.events,
            end_time: self.core.now,
            trace_hash: self.trace_hash(),
        };
        self.end = Some(summary);
        summary
    }

    fn note_idle(&mut self) {
        let idle = self.core.pending_ops == 0 && self.core.workload_events == 0 && self.core.fault_events == 0;
        if !idle {
            self.idle_since = None;
        } else if self.idle_since.is_none() {
            self.idle_since = Some(self.core.now);
        }
    }

    /// Starts loading what the next event will touch (its node's actor,
    /// random stream and counters) while this one runs: in a large
    /// simulation each is a cache miss. Changes nothing but timing.
    #[inline]
    fn prefetch_next(&self) {
        if self.actors.len() < PREFETCH_MIN_NODES {
            return;
        }
        if let Some(node) = self.core.queue.next_event().and_then(Event::target) {
            let i = node.index();
            if i < self.actors.len() {
                prefetch(&self.actors[i]);
                prefetch(&self.rngs[i]);
                prefetch(&self.core.stats.by_node[i]);
            }
        }
    }

    fn dispatch(&mut self, ev: Event<A>) {
        if self.core.not_up != 0
            && let Some(node) = ev.target()
            && self.core.nodes[node.index()].status == NodeStatus::Paused
        {
            // Not counted: it runs when the node resumes.
            self.core.backlog.entry(node).or_default().push(ev);
            return;
        }
        self.events += 1;
        // Deliveries, the bulk of all events, are neither workload nor
        // fault: skip both tests for them.
        if !matches!(ev, Event::Deliver { .. }) {
            if ev.is_workload() {
                self.core.workload_events -= 1;
            }
            if ev.is_fault() {
                self.core.fault_events -= 1;
            }
        }
        let now = self.core.now;
        match ev {
            Event::Deliver { from, to, incarnation, msg, sent_by, size_bytes: size } => {
                let kind = msg.kind();
                if self.core.sender_crashed(from, incarnation, sent_by) {
                    self.core.dropped(kind, from, to, DropReason::SenderDown);
                    return;
                }
                if self.core.not_up != 0 && self.core.nodes[to.index()].status == NodeStatus::Down {
                    self.core.dropped(kind, from, to, DropReason::ReceiverDown);
                    return;
                }
                if !self.core.net.can_reach(from, to) {
                    self.core.dropped(kind, from, to, DropReason::Partition);
                    return;
                }
                (now, 0xD1u8, from, to, &msg).hash(&mut self.core.hasher);
                let k = &mut self.core.stats.by_kind[kind];
                k.delivered += 1;
                k.delivered_bytes = k.delivered_bytes.saturating_add(size);
                let n = &mut self.core.stats.by_node[to.index()];
                n.msgs_received += 1;
                n.bytes_received = n.bytes_received.saturating_add(size);
                self.core.record(TraceKind::Deliver, to, Some(from), A::Msg::KINDS[kind], size);
                self.with_ctx(to, |a, ctx| a.on_message(ctx, from, msg));
            }
            Event::Arrive { from, to, incarnation, msg, sent_by, not_before } => {
                // A message whose sender died mid-send, or that reaches a
                // down node, never takes the receiver's ingress queue.
                if self.core.sender_crashed(from, incarnation, sent_by) {
                    self.core.dropped(msg.kind(), from, to, DropReason::SenderDown);
                    return;
                }
                if self.core.nodes[to.index()].status == NodeStatus::Down {
                    self.core.dropped(msg.kind(), from, to, DropReason::ReceiverDown);
                    return;
                }
                (now, 0xA7u8, from, to).hash(&mut self.core.hasher);
                let size_bytes = msg.size_bytes();
                let at = self.core.net.ingress(now, from, to, size_bytes, not_before);
                self.core.push(at, Event::Deliver { from, to, incarnation, msg, sent_by, size_bytes });
            }
            Event::Undo(i) => {
                self.core.pending_undos.remove(&i);
                let undo = self.core.undos[i as usize];
                match undo {
                    Undo::Layer(id) => {
                        self.core.net.remove_layer(id);
                        self.core.log_fault(
                            FaultSource::Nemesis,
                            "heal",
                            Vec::new(),
                            format!("nemesis partition {id} ends"),
                        );
                    }
                    Undo::Restart(n) => self.restart(n, FaultSource::Nemesis),
                    Undo::Resume(n) => self.resume(n, FaultSource::Nemesis),
                }
            }
            Event::Timer { node, incarnation, token, timer } => {
                if !self.core.requeued_timers.is_empty() {
                    self.core.requeued_timers.remove(&token);
                }
                let meta = &self.core.nodes[node.index()];
                if meta.incarnation != incarnation || meta.status == NodeStatus::Down {
                    return;
                }
                (now, 0x71u8, node, &timer).hash(&mut self.core.hasher);
                self.core.stats.by_node[node.index()].timers_fired += 1;
                self.core.record(TraceKind::Timer, node, None, "timer", 0);
                self.with_ctx(node, |a, ctx| a.on_timer(ctx, timer));
            }
            Event::NextOp { client, incarnation } => {
                let meta = &self.core.nodes[client.index()];
                if meta.incarnation != incarnation || meta.status == NodeStatus::Down {
                    return;
                }
                if self.core.workload.may_issue(client, now) {
                    let op = self.core.workload.next_op(client);
                    let id = self.invoke(client, op);
                    // The op may have completed synchronously, starting the next one already.
                    if self.core.history.is_pending(id) {
                        self.core.nodes[client.index()].loop_op = Some(id);
                    } else if self.core.nodes[client.index()].loop_op.is_none() {
                        self.core.schedule_next_op(client, incarnation);
                    }
                }
            }
            Event::Arrival => {
                // An arrival at a down client is not issued and not counted:
                // nobody was there to ask.
                if let Some(client) = self.core.workload.pick_client()
                    && self.core.nodes[client.index()].status != NodeStatus::Down
                    && self.core.workload.may_issue(client, now)
                {
                    let op = self.core.workload.next_op(client);
                    self.invoke_or_hold(client, op);
                }
                let next = now.after(self.core.workload.arrival_gap_ns());
                if next < self.core.workload.cfg.stop {
                    self.core.push(next, Event::Arrival);
                }
            }
            Event::Invoke { client, op } => {
                if self.core.nodes[client.index()].status == NodeStatus::Up {
                    self.invoke(client, *op);
                } else {
                    self.refuse(client, *op);
                }
            }
            Event::Fault(i) => {
                let (action, source) = self.core.fault_actions[i as usize].clone();
                self.apply(action, source);
            }
            Event::Nemesis(i) => self.strike(i as usize),
            Event::FinalHeal => self.final_heal(),
        }
    }

    /// An open-loop arrival at a paused client waits in its backlog like any
    /// other event; at a live one it runs now.
    fn invoke_or_hold(&mut self, client: NodeId, op: Op) {
        if self.core.nodes[client.index()].status == NodeStatus::Paused {
            self.core.workload_events += 1;
            self.core.backlog.entry(client).or_default().push(Event::Invoke { client, op: Box::new(op) });
        } else {
            self.invoke(client, op);
        }
    }

    fn invoke(&mut self, client: NodeId, op: Op) -> OpId {
        assert!(self.core.is_client[client.index()], "operation sent to non-client {client:?}");
        let now = self.core.now;
        let id = self.core.history.invoke(client, op, now);
        (now, 0x1Du8, client, id, op).hash(&mut self.core.hasher);
        self.core.nodes[client.index()].pending_ops.push(id);
        self.core.pending_ops += 1;
        self.core.stats.by_node[client.index()].client_ops += 1;
        self.core.record(TraceKind::Invoke, client, None, op.kind.name(), 0);
        self.with_ctx(client, |a, ctx| a.on_client_op(ctx, id, op));
        id
    }

    fn apply(&mut self, action: FaultAction, source: FaultSource) {
        let core = &mut self.core;
        match action {
            FaultAction::Partition(groups) => {
                core.net.partition(&groups);
                let detail = groups.iter().map(|g| format!("[{}]", core.name_list(g))).collect::<Vec<_>>().join(" | ");
                let nodes = groups.concat();
                core.log_fault(source, "partition", nodes, detail);
            }
            FaultAction::Cut { from, to } => {
                let f: Vec<NodeId> = from.iter().collect();
                let t: Vec<NodeId> = to.iter().collect();
                let detail = format!("[{}] -/-> [{}]", core.name_list(&f), core.name_list(&t));
                core.net.cut(from, to);
                core.log_fault(source, "cut", [f, t].concat(), detail);
            }
            FaultAction::Heal => {
                core.net.heal();
                core.log_fault(source, "heal", Vec::new(), "all partitions and cuts removed".into());
            }
            FaultAction::Crash(n) => self.crash(n, source),
            FaultAction::Restart(n) => self.restart(n, source),
            FaultAction::Pause(n) => {
                let meta = &mut core.nodes[n.index()];
                if meta.status == NodeStatus::Up {
                    meta.status = NodeStatus::Paused;
                    core.not_up += 1;
                    let name = core.names[n.index()].clone();
                    core.log_fault(source, "pause", vec![n], name);
                }
            }
            FaultAction::Resume(n) => self.resume(n, source),
            FaultAction::SetLoss(p) => {
                core.net.set_loss(p);
                core.log_fault(source, "set-loss", Vec::new(), format!("loss = {p}"));
            }
            FaultAction::SetDuplicate(p) => {
                core.net.set_duplicate(p);
                core.log_fault(source, "set-duplicate", Vec::new(), format!("duplicate = {p}"));
            }
            FaultAction::SetLatency(d) => {
                let detail = format!("latency_ms = {d:?}");
                core.net.set_latency(d);
                core.log_fault(source, "set-latency", Vec::new(), detail);
            }
        }
    }

    fn crash(&mut self, n: NodeId, source: FaultSource) {
        let i = n.index();
        if self.core.nodes[i].status == NodeStatus::Down {
            return;
        }
        let name = self.core.names[i].clone();
        self.core.log_fault(source, "crash", vec![n], name);
        let now = self.core.now;
        if self.core.nodes[i].status == NodeStatus::Up {
            self.core.not_up += 1;
        }
        let meta = &mut self.core.nodes[i];
        meta.status = NodeStatus::Down;
        meta.crash_times.push(now);
        self.core.crashed_any = true;
        meta.incarnation += 1;
        meta.loop_op = None;
        let pending = meta.pending_ops.clone();
        self.core.net.reset_nic(n, now);
        let mut refused = Vec::new();
        if let Some(held) = self.core.backlog.remove(&n) {
            self.core.workload_events -= held.iter().filter(|e| e.is_workload()).count();
            for e in held {
                match e {
                    Event::Timer { token, .. } => {
                        self.core.requeued_timers.remove(&token);
                    }
                    // Messages held for a paused node die with it.
                    Event::Deliver { from, msg, .. } => {
                        self.core.dropped(msg.kind(), from, n, DropReason::ReceiverDown)
                    }
                    // Operations held for a paused client were never started.
                    Event::Invoke { op, .. } => refused.push(*op),
                    _ => {}
                }
            }
        }
        self.core.stats.by_node[i].crashes += 1;
        self.disks[i].crash();
        self.actors[i].on_crash();
        // A crashed client cannot know whether its operations took effect.
        for id in pending {
            self.core.complete(n, id, OpStatus::Unknown, Output::Nothing);
        }
        for op in refused {
            self.refuse(n, op);
        }
    }

    /// Records an operation that could not start because its client was
    /// down: invoked and failed at once, so the history still has it.
    fn refuse(&mut self, client: NodeId, op: Op) {
        let now = self.core.now;
        let id = self.core.history.invoke(client, op, now);
        (now, 0x1Du8, client, id, op).hash(&mut self.core.hasher);
        self.core.record(TraceKind::Invoke, client, None, op.kind.name(), 0);
        self.core.nodes[client.index()].pending_ops.push(id);
        self.core.pending_ops += 1;
        self.core.complete(client, id, OpStatus::Fail, Output::Nothing);
    }

    fn restart(&mut self, n: NodeId, source: FaultSource) {
        let i = n.index();
        if self.core.nodes[i].status != NodeStatus::Down {
            return;
        }
        let name = self.core.names[i].clone();
        self.core.log_fault(source, "restart", vec![n], name);
        self.core.nodes[i].status = NodeStatus::Up;
        self.core.not_up -= 1;
        self.core.stats.by_node[i].restarts += 1;
        self.with_ctx(n, |a, ctx| a.on_recover(ctx));
        if self.core.is_client[i] && self.core.nodes[i].loop_op.is_none() {
            let inc = self.core.nodes[i].incarnation;
            self.core.schedule_next_op(n, inc);
        }
    }

    fn resume(&mut self, n: NodeId, source: FaultSource) {
        if self.core.nodes[n.index()].status != NodeStatus::Paused {
            return;
        }
        self.core.nodes[n.index()].status = NodeStatus::Up;
        self.core.not_up -= 1;
        let name = self.core.names[n.index()].clone();
        self.core.log_fault(source, "resume", vec![n], name);
        let now = self.core.now;
        for ev in self.core.backlog.remove(&n).unwrap_or_default() {
            let token = match ev {
                Event::Timer { token, .. } => Some(token),
                _ => None,
            };
            // Already counted as pending when first pushed.
            let event = self.core.queue.push(now, ev);
            if let Some(token) = token {
                self.core.requeued_timers.insert(token, event);
            }
        }
    }

    fn strike(&mut self, i: usize) {
        let now = self.core.now;
        let nem = self.core.nemeses[i].clone();
        if now >= nem.stop {
            return;
        }
        let rng = &mut self.core.fault_rng;
        let duration_ns = ms_f64_to_ns(nem.duration_ms.sample(rng));
        let heal_at = now.after(duration_ns);
        let mut undo: Option<Undo> = None;
        match nem.kind {
            NemesisKind::Partition | NemesisKind::Isolate => {
                let mut targets = nem.targets.clone();
                rng.shuffle(&mut targets);
                let cut = if nem.kind == NemesisKind::Isolate { 1 } else { targets.len() / 2 };
                if cut > 0 && cut <= targets.len() {
                    let minority: Vec<NodeId> = targets[..cut].to_vec();
                    // Nodes outside the minority (including non-targets such as
                    // clients) stay together on the majority side.
                    let minority_set = NodeSet::from_nodes(minority.iter().copied());
                    let majority: Vec<NodeId> =
                        (0..self.core.nodes.len() as u32).map(NodeId).filter(|n| !minority_set.contains(*n)).collect();
                    let detail = format!("[{}] | [{}]", self.core.name_list(&minority), self.core.name_list(&majority));
                    let groups = vec![minority, majority];
                    let layer = self.core.net.add_layer(&groups);
                    self.core.log_fault(FaultSource::Nemesis, "partition", groups.concat(), detail);
                    undo = Some(Undo::Layer(layer));
                }
            }
            NemesisKind::Crash | NemesisKind::Pause => {
                let candidates: Vec<NodeId> = nem
                    .targets
                    .iter()
                    .copied()
                    .filter(|t| self.core.nodes[t.index()].status == NodeStatus::Up)
                    .collect();
                if let Some(&t) = self.core.fault_rng.pick(&candidates) {
                    if nem.kind == NemesisKind::Crash {
                        self.apply(FaultAction::Crash(t), FaultSource::Nemesis);
                        undo = Some(Undo::Restart(t));
                    } else {
                        self.apply(FaultAction::Pause(t), FaultSource::Nemesis);
                        undo = Some(Undo::Resume(t));
                    }
                }
            }
        }
        if let Some(undo) = undo {
            let idx = self.core.undos.len() as u32;
            self.core.undos.push(undo);
            self.core.fault_events += 1;
            let event = self.core.queue.push(heal_at, Event::Undo(idx));
            self.core.pending_undos.insert(idx, event);
        }
        let gap = ms_f64_to_ns(nem.interval_ms.sample(&mut self.core.fault_rng)).max(1);
        let next = now.after(gap);
        if next < nem.stop {
            self.core.push(next, Event::Nemesis(i as u32));
        }
    }

    fn final_heal(&mut self) {
        // The final heal ends every nemesis fault too, so their pending
        // undos have nothing left to do (and would keep the run from idling).
        for (_, event) in std::mem::take(&mut self.core.pending_undos) {
            if self.core.queue.cancel(event) {
                self.core.fault_events -= 1;
            }
        }
        if !self.core.net.is_whole() {
            self.core.net.heal();
            self.core.log_fault(FaultSource::FinalHeal, "heal", Vec::new(), "final heal".into());
        }
        for i in 0..self.core.nodes.len() {
            let n = NodeId(i as u32);
            match self.core.nodes[i].status {
                NodeStatus::Down => self.restart(n, FaultSource::FinalHeal),
                NodeStatus::Paused => self.resume(n, FaultSource::FinalHeal),
                NodeStatus::Up => {}
            }
        }
    }

    // ---- read access for reports and tests ----

    /// Bytes one pending event of this protocol takes in the event queue
    /// (ordering key and slab slot, message included), for benchmarks.
    pub fn queue_bytes_per_event() -> usize {
        EventQueue::<Event<A>>::bytes_per_event()
    }

    pub fn now(&self) -> SimTime {
        self.core.now
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn trace_hash(&self) -> u64 {
        self.core.hasher.digest()
    }

    pub fn history(&self) -> &History {
        &self.core.history
    }

    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    pub fn fault_log(&self) -> &[FaultRecord] {
        &self.core.fault_log
    }

    pub fn trace(&self) -> Option<&[TraceEvent]> {
        self.core.trace.as_deref()
    }

    pub fn names(&self) -> &[String] {
        &self.core.names
    }

    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    pub fn actors(&self) -> &[A] {
        &self.actors
    }

    pub fn status(&self, n: NodeId) -> NodeStatus {
        self.core.nodes[n.index()].status
    }

    pub fn disk(&self, n: NodeId) -> &Disk<A::Record> {
        &self.disks[n.index()]
    }

    pub fn disk_stats(&self, n: NodeId) -> DiskStats {
        self.disks[n.index()].stats()
    }

    /// Every (node, key, value) that a replica holds now.
    pub fn replica_values(&self) -> Vec<(NodeId, Key, Value)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (i, a) in self.actors.iter().enumerate() {
            buf.clear();
            a.replica_values(&mut buf);
            out.extend(buf.iter().map(|(k, v)| (NodeId(i as u32), *k, *v)));
        }
        out
    }

    pub fn workload(&self) -> &WorkloadConfig {
        self.core.workload.config()
    }

    pub fn net_config(&self) -> &NetConfig {
        self.core.net.config()
    }
}
