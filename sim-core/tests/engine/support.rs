//! A tiny protocol for exercising the engine, and helpers to build runs.
//!
//! Three node types share one enum, as a real protocol would:
//! - `Server`: a volatile key-value store that answers requests, optionally
//!   after a delay drawn from its own random stream, and optionally ticking
//!   a background timer (so a run has work left after the workload ends);
//! - `Client`: forwards each client operation to a server and completes it
//!   on the reply, optionally giving up after a timeout;
//! - `Probe`: logs everything it sees with the virtual time, and runs a
//!   per-test script (a closure) that reacts to what it sees. Its log is test
//!   instrumentation, so it survives crashes.

use sim_core::fault::FaultPlan;
use sim_core::net::NetConfig;
use sim_core::workload::{Arrivals, WorkloadConfig};
use sim_core::{
    Actor, Ctx, Key, Limits, Message, NodeId, NodeSpec, Op, OpId, OpKind, OpStatus, Output, Sim, SimConfig, SimTime,
    Value,
};
use std::collections::BTreeMap;

/// Indices into `Msg::KINDS`, for reading per-kind statistics.
pub const DATA: usize = 0;
pub const REQ: usize = 1;

#[derive(Clone, Debug, Hash, PartialEq)]
pub enum Msg {
    /// A probe's payload; `seq` identifies it in the receiver's log.
    Data {
        seq: u64,
        size_bytes: u64,
    },
    Req {
        id: OpId,
        op: Op,
    },
    Resp {
        id: OpId,
        output: Output,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &["data", "req", "resp"];

    fn kind(&self) -> usize {
        match self {
            Msg::Data { .. } => 0,
            Msg::Req { .. } => 1,
            Msg::Resp { .. } => 2,
        }
    }

    fn size_bytes(&self) -> u64 {
        match self {
            Msg::Data { size_bytes, .. } => *size_bytes,
            Msg::Req { op, .. } => 64 + op.value.map_or(0, |v| v.size_bytes),
            Msg::Resp { .. } => 64,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq)]
pub enum Timer {
    Tick(u64),
    Reply { to: NodeId, id: OpId, output: Output },
    Timeout(OpId),
}

pub enum Node {
    Server(Server),
    Client(Client),
    Probe(Probe),
}

#[derive(Default)]
pub struct Server {
    pub store: BTreeMap<Key, Value>,
    /// Replies wait a delay uniform in `[0, reply_delay_max_ns)`, drawn from `ctx.rng()`.
    pub reply_delay_max_ns: u64,
    /// Period of a background timer that keeps the run busy.
    pub tick_ns: Option<u64>,
}

impl Server {
    fn arm(&self, ctx: &mut Ctx<'_, Node>) {
        if let Some(t) = self.tick_ns {
            ctx.set_timer(t, Timer::Tick(0));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::Req { id, op } = msg else { return };
        let output = match op.kind {
            OpKind::Get | OpKind::Lookup => self.store.get(&op.key).map_or(Output::Nothing, |v| Output::Value(*v)),
            OpKind::Put => {
                self.store.insert(op.key, op.value.expect("a put carries a value"));
                Output::Nothing
            }
            // The test store keeps one register per key; other kinds echo
            // every key they name, so workload tests can see them.
            _ => Output::Numbers(op.keys().map(|k| k as i64).collect()),
        };
        if self.reply_delay_max_ns > 0 {
            let delay = ctx.rng().below(self.reply_delay_max_ns);
            ctx.set_timer(delay, Timer::Reply { to: from, id, output });
        } else {
            ctx.send(from, Msg::Resp { id, output });
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Tick(_) => self.arm(ctx),
            Timer::Reply { to, id, output } => ctx.send(to, Msg::Resp { id, output }),
            Timer::Timeout(_) => unreachable!("servers set no timeouts"),
        }
    }
}

pub struct Client {
    pub server: NodeId,
    /// Give up on an operation after this long: a put ends `unknown`, a get `fail`.
    pub timeout_ns: Option<u64>,
}

impl Client {
    fn on_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        ctx.send(self.server, Msg::Req { id, op });
        if let Some(t) = self.timeout_ns {
            ctx.set_timer(t, Timer::Timeout(id));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        // Duplicated or late replies find the operation already completed.
        if let Msg::Resp { id, output } = msg
            && ctx.is_pending(id)
        {
            ctx.complete(id, OpStatus::Ok, output);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        if let Timer::Timeout(id) = timer
            && ctx.is_pending(id)
        {
            ctx.complete(id, OpStatus::Unknown, Output::Nothing);
        }
    }
}

/// What a probe saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Start,
    Msg {
        from: NodeId,
        msg: Msg,
    },
    Timer(Timer),
    /// `on_recover`, with the records that survived on disk and what reads
    /// of the disk return.
    Recover {
        synced: Vec<u64>,
        read: Vec<u64>,
    },
}

pub type Script = Box<dyn FnMut(&mut Ctx<'_, Node>, &Seen)>;

pub struct Probe {
    pub log: Vec<(SimTime, Seen)>,
    script: Script,
}

impl Probe {
    pub fn new(script: impl FnMut(&mut Ctx<'_, Node>, &Seen) + 'static) -> Probe {
        Probe { log: Vec::new(), script: Box::new(script) }
    }

    fn see(&mut self, ctx: &mut Ctx<'_, Node>, seen: Seen) {
        self.log.push((ctx.now(), seen.clone()));
        (self.script)(ctx, &seen);
    }

    /// `(time, sender, seq)` of every data message received, in order.
    pub fn received(&self) -> Vec<(SimTime, NodeId, u64)> {
        self.log
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Msg { from, msg: Msg::Data { seq, .. } } => Some((*t, *from, *seq)),
                _ => None,
            })
            .collect()
    }

    /// The sequence numbers of received data messages, in order.
    pub fn received_seqs(&self) -> Vec<u64> {
        self.received().into_iter().map(|(_, _, s)| s).collect()
    }

    /// `(time, n)` of every `Tick(n)` that fired, in order.
    pub fn ticks(&self) -> Vec<(SimTime, u64)> {
        self.log
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Timer(Timer::Tick(n)) => Some((*t, *n)),
                _ => None,
            })
            .collect()
    }
}

/// A probe that only watches.
pub fn quiet() -> Node {
    Node::Probe(Probe::new(|_, _| {}))
}

/// One data message a sender probe sends: at `at_ns`, to `to`.
#[derive(Copy, Clone, Debug)]
pub struct Send {
    pub at_ns: u64,
    pub to: NodeId,
    pub seq: u64,
    pub size_bytes: u64,
}

pub fn send(at_ns: u64, to: NodeId, seq: u64, size_bytes: u64) -> Send {
    Send { at_ns, to, seq, size_bytes }
}

/// A probe that sends `plan`: entries at time zero straight from `on_start`
/// (in plan order), later ones from a timer each.
pub fn sender(plan: Vec<Send>) -> Node {
    Node::Probe(Probe::new(move |ctx, seen| {
        let emit = |ctx: &mut Ctx<'_, Node>, s: &Send| {
            ctx.send(s.to, Msg::Data { seq: s.seq, size_bytes: s.size_bytes });
        };
        match seen {
            Seen::Start => {
                for (i, s) in plan.iter().enumerate() {
                    if s.at_ns == 0 {
                        emit(ctx, s);
                    } else {
                        ctx.set_timer(s.at_ns, Timer::Tick(i as u64));
                    }
                }
            }
            Seen::Timer(Timer::Tick(i)) => emit(ctx, &plan[*i as usize]),
            _ => {}
        }
    }))
}

pub fn server() -> Node {
    Node::Server(Server::default())
}

pub fn client(server: NodeId) -> Node {
    Node::Client(Client { server, timeout_ns: None })
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Record = u64;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Server(s) => s.arm(ctx),
            Node::Client(_) => {}
            Node::Probe(p) => p.see(ctx, Seen::Start),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Server(s) => s.on_message(ctx, from, msg),
            Node::Client(c) => c.on_message(ctx, msg),
            Node::Probe(p) => p.see(ctx, Seen::Msg { from, msg }),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            Node::Server(s) => s.on_timer(ctx, timer),
            Node::Client(c) => c.on_timer(ctx, timer),
            Node::Probe(p) => p.see(ctx, Seen::Timer(timer)),
        }
    }

    fn on_client_op(&mut self, ctx: &mut Ctx<'_, Self>, id: OpId, op: Op) {
        match self {
            Node::Client(c) => c.on_op(ctx, id, op),
            _ => panic!("{:?} is not a client", ctx.me()),
        }
    }

    fn on_crash(&mut self) {
        if let Node::Server(s) = self {
            s.store.clear();
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Server(s) => s.arm(ctx),
            Node::Client(_) => {}
            Node::Probe(p) => {
                let synced = ctx.disk().synced().to_vec();
                let read = ctx.disk().read().copied().collect();
                p.see(ctx, Seen::Recover { synced, read });
            }
        }
    }
}

/// `nodes` nodes, constant 1 ms latency, no workload, no faults, and limits
/// that never end a run early: only an empty queue or the 100 s deadline do.
pub fn config(nodes: usize, seed: u64) -> SimConfig {
    let mut workload = WorkloadConfig::closed(Vec::new(), 1, SimTime::ZERO);
    workload.arrivals = Arrivals::ScriptOnly;
    SimConfig {
        seed,
        net: NetConfig::simple(nodes, 1.0),
        workload,
        faults: FaultPlan::default(),
        limits: Limits { quiesce_ns: u64::MAX, deadline: SimTime::from_ms(100_000), max_events: 10_000_000 },
        record_trace: false,
    }
}

pub fn build(cfg: SimConfig, nodes: Vec<Node>) -> Sim<Node> {
    let specs = nodes
        .into_iter()
        .enumerate()
        .map(|(i, actor)| {
            let role = match actor {
                Node::Server(_) => "server",
                Node::Client(_) => "client",
                Node::Probe(_) => "probe",
            };
            NodeSpec { name: format!("n{i}"), role: role.into(), actor }
        })
        .collect();
    Sim::new(cfg, specs)
}

pub fn probe(sim: &Sim<Node>, n: NodeId) -> &Probe {
    match &sim.actors()[n.index()] {
        Node::Probe(p) => p,
        _ => panic!("{n:?} is not a probe"),
    }
}

pub fn put(key: Key, id: u64) -> Op {
    Op::put(key, Value { id, size_bytes: 10 })
}

pub fn get(key: Key) -> Op {
    Op::get(key)
}

pub const A: NodeId = NodeId(0);
pub const B: NodeId = NodeId(1);
pub const C: NodeId = NodeId(2);
pub const D: NodeId = NodeId(3);

/// `ms` milliseconds as an instant.
pub fn at_ms(ms: u64) -> SimTime {
    SimTime::from_ms(ms)
}
