//! The protocol side of the engine: the `Actor` trait that every node type
//! implements, the `Message` trait for its messages, and the `Ctx` handlers
//! use to act on the world.
//!
//! A protocol is one node enum (directory, storage node, client, ...) so the
//! simulation is generic over it and dispatch is static. Handlers never do
//! I/O: they read `ctx.now()` and `ctx.rng()` and emit effects through `ctx`.

use crate::NodeId;
use crate::disk::Disk;
use crate::history::{Key, Op, OpId, OpStatus, Output, Value};
use crate::queue::EventId;
use crate::rng::SimRng;
use crate::sim::Core;
use crate::time::SimTime;
use std::fmt::Debug;
use std::hash::Hash;

/// A protocol message.
pub trait Message: Clone + Debug + Hash {
    /// Names of the message types, indexed by `kind()`, for statistics.
    const KINDS: &'static [&'static str];
    /// Index of this message's type in `KINDS`.
    fn kind(&self) -> usize;
    /// Bytes on the wire (headers plus payload), charged against NIC bandwidth.
    fn size_bytes(&self) -> u64;
}

/// A node of a protocol.
pub trait Actor: Sized {
    type Msg: Message;
    type Timer: Clone + Debug + Hash;
    /// What the node writes to its durable disk.
    type Record: Clone + Debug;

    /// Called once for every node at time zero, in node order.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A client node is asked to run `op`; it must eventually call
    /// `ctx.complete(id, ..)` (or the op ends `unknown` when the run ends).
    fn on_client_op(&mut self, ctx: &mut Ctx<'_, Self>, id: OpId, op: Op) {
        let _ = (ctx, op);
        panic!("node received client operation {id:?} but is not a client");
    }

    /// The node crashed: drop all volatile state. Timers are cancelled and
    /// unsynced disk writes discarded by the engine.
    fn on_crash(&mut self);

    /// The node restarts; rebuild from `ctx.disk().synced()` and re-arm timers.
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>);

    /// The values this node holds as a replica at the end of a run, for
    /// convergence and lost-write checks. Non-storage nodes add nothing.
    fn replica_values(&self, out: &mut Vec<(Key, Value)>) {
        let _ = out;
    }
}

/// Names a pending timer. `token` outlives the queue entry: a timer held by
/// a pause is queued again under a new event id when the node resumes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) event: EventId,
    pub(crate) token: u64,
}

/// A handler's view of the world.
pub struct Ctx<'a, A: Actor> {
    pub(crate) me: NodeId,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) disk: &'a mut Disk<A::Record>,
    pub(crate) core: &'a mut Core<A>,
}

impl<'a, A: Actor> Ctx<'a, A> {
    pub fn now(&self) -> SimTime {
        self.core.now
    }

    /// This node's id.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// This node's own random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// This node's durable disk.
    pub fn disk(&mut self) -> &mut Disk<A::Record> {
        self.disk
    }

    /// Number of nodes in the simulation.
    pub fn node_count(&self) -> usize {
        self.core.nodes.len()
    }

    /// Sends `msg` to `to` through the network model.
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: A::Msg) {
        self.core.send(self.me, to, msg);
    }

    /// Fires `timer` on this node after `after_ns` nanoseconds.
    pub fn set_timer(&mut self, after_ns: u64, timer: A::Timer) -> TimerId {
        self.core.set_timer(self.me, after_ns, timer)
    }

    /// Cancels a pending timer; returns false if it already fired.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }

    /// Completes a client operation this node was asked to run.
    pub fn complete(&mut self, id: OpId, status: OpStatus, output: Output) {
        self.core.complete(self.me, id, status, output);
    }

    /// Whether a client operation is still waiting for its completion.
    pub fn is_pending(&self, id: OpId) -> bool {
        self.core.history.is_pending(id)
    }
}
