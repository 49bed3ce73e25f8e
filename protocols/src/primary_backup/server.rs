//! A replica server: primary, backup or idle, as the view server says.
//!
//! The primary runs client operations one at a time, in arrival order:
//! it forwards each to the backup, waits for the acknowledgement, then
//! applies it and replies. One operation at a time keeps the backup's copy
//! a prefix of the primary's order without sequence numbers, and lets a
//! state transfer fall cleanly between two operations. A backup applies a
//! forward only if it carries the backup's own view number.

use super::check::{Ack, Applied, PrimaryReply};
use super::msg::{Msg, ReqId, State, Timer, View};
use super::params::{Bug, Params};
use super::{Node, VIEW_SERVER};
use sim_core::{Ctx, Message, NodeId, Op, OpKind, TimerId, ms};
use std::collections::VecDeque;

/// The most client requests a primary queues; beyond it it rejects them
/// (the clients retry), so a flood cannot grow its memory without bound.
pub const MAX_QUEUE: usize = 4096;

/// A server's own account of a run. Counters are instrumentation, not
/// state: they survive crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerCounters {
    /// Client requests refused because this server was not a serving primary.
    pub rejected_requests: u64,
    /// Retried puts answered from the at-most-once filter (at the primary)
    /// or ignored as already applied (at the backup), and retries of a
    /// request already queued.
    pub duplicates_filtered: u64,
    pub forwards_sent: u64,
    /// Forwards refused by the backup (view mismatch).
    pub forwards_rejected: u64,
    /// State transfers completed (acknowledged by the backup).
    pub state_transfers: u64,
    /// Transfer messages sent, including resends, and their bytes.
    pub state_transfer_messages: u64,
    pub state_transfer_bytes: u64,
}

#[derive(Clone, Debug)]
struct Pending {
    id: ReqId,
    op: Op,
    /// Whether a backup has been sent it (and so may hold it).
    forwarded: bool,
}

#[derive(Clone, Debug)]
struct Inflight {
    p: Pending,
    timer: TimerId,
}

#[derive(Clone, Debug)]
struct Transfer {
    to: NodeId,
    view: u64,
    timer: TimerId,
}

/// A replica server node.
#[derive(Clone, Debug)]
pub struct Server {
    params: Params,
    me: NodeId,
    // Volatile: everything below is lost in a crash.
    view: View,
    /// What this server's pings acknowledge: the current view, except that
    /// a primary acknowledges only once its backup holds the state.
    ack_view: u64,
    state: State,
    /// The view whose state transfer this server (as backup) installed:
    /// a repeated transfer of it must not overwrite later forwards.
    installed_view: u64,
    queue: VecDeque<Pending>,
    inflight: Option<Inflight>,
    transfer: Option<Transfer>,
    /// The backup refused us for a newer view: stop serving until the view
    /// server tells us the new view.
    deposed: bool,
    // Instrumentation: survives crashes.
    replies: Vec<PrimaryReply>,
    applies: Vec<Applied>,
    counters: ServerCounters,
}

impl Server {
    pub fn new(params: Params, me: NodeId) -> Server {
        Server {
            params,
            me,
            view: View::default(),
            ack_view: 0,
            state: State::default(),
            installed_view: 0,
            queue: VecDeque::new(),
            inflight: None,
            transfer: None,
            deposed: false,
            replies: Vec::new(),
            applies: Vec::new(),
            counters: ServerCounters::default(),
        }
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether this server currently serves clients as primary of its view,
    /// with its backup (if any) holding the state.
    pub fn is_serving_primary(&self) -> bool {
        self.view.primary == Some(self.me) && !self.deposed && self.transfer.is_none()
    }

    pub fn replies(&self) -> &[PrimaryReply] {
        &self.replies
    }

    pub fn applies(&self) -> &[Applied] {
        &self.applies
    }

    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.ping(ctx);
    }

    pub fn on_crash(&mut self) {
        self.view = View::default();
        self.ack_view = 0;
        self.state = State::default();
        self.installed_view = 0;
        self.queue.clear();
        self.inflight = None;
        self.transfer = None;
        self.deposed = false;
    }

    /// Back empty: the first ping, of view 0, tells the view server so.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.ping(ctx);
    }

    fn ping(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.send(VIEW_SERVER, Msg::Ping { view: self.ack_view });
        ctx.set_timer(ms(self.params.ping_interval_ms), Timer::Ping);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Ping => self.ping(ctx),
            Timer::Forward { id } => {
                let Some(f) = self.inflight.as_mut().filter(|f| f.p.id == id) else { return };
                let (backup, view) = (self.view.backup.expect("a forward in flight has a backup"), self.view.num);
                let op = f.p.op;
                f.timer = ctx.set_timer(ms(self.params.forward_timeout_ms), Timer::Forward { id });
                self.send_forward(ctx, backup, view, id, op);
            }
            Timer::Transfer { view } => {
                let Some(t) = self.transfer.as_mut().filter(|t| t.view == view) else { return };
                t.timer = ctx.set_timer(ms(self.params.forward_timeout_ms), Timer::Transfer { view });
                let to = t.to;
                self.send_transfer(ctx, to, view);
            }
            other => panic!("server {:?} got a timer it never sets: {other:?}", self.me),
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::ViewReply { view } => self.on_view(ctx, view),
            Msg::Request { req, op } => self.on_request(ctx, ReqId { client: from, req }, op),
            Msg::Forward { view, id, op } => self.on_forward(ctx, from, view, id, op),
            Msg::ForwardAck { view, id } => self.on_forward_ack(ctx, from, view, id),
            Msg::ForwardReject { id, view } => {
                if self.inflight.as_ref().is_some_and(|f| f.p.id == id) && Some(from) == self.view.backup {
                    self.counters.forwards_rejected += 1;
                    self.refused(ctx, view);
                }
            }
            Msg::Transfer { view, state } => self.on_transfer(ctx, from, view, state),
            Msg::TransferAck { view } => {
                if self.transfer.as_ref().is_some_and(|t| t.view == view && t.to == from) {
                    let t = self.transfer.take().expect("checked");
                    ctx.cancel_timer(t.timer);
                    self.counters.state_transfers += 1;
                    self.ack_view = view;
                    self.pump(ctx);
                }
            }
            Msg::TransferReject { view } => {
                if self.transfer.as_ref().is_some_and(|t| t.to == from) {
                    self.refused(ctx, view);
                }
            }
            other => panic!("server {:?} got {other:?} from {from:?}", self.me),
        }
    }

    /// The backup refused a forward or transfer. If it knows a newer view,
    /// this server may no longer be primary: it stops serving and tells its
    /// clients, until the view server says more. If it knows an older view
    /// it will catch up; the resend timer tries again.
    fn refused(&mut self, ctx: &mut Ctx<'_, Node>, backup_view: View) {
        if backup_view.num <= self.view.num {
            return;
        }
        self.deposed = true;
        if let Some(t) = self.transfer.take() {
            ctx.cancel_timer(t.timer);
        }
        self.reject_all(ctx, backup_view);
    }

    /// Rejects every queued and in-flight request, naming `hint` as the view
    /// to try.
    fn reject_all(&mut self, ctx: &mut Ctx<'_, Node>, hint: View) {
        if let Some(f) = self.inflight.take() {
            ctx.cancel_timer(f.timer);
            self.reject(ctx, &f.p, hint);
        }
        for p in std::mem::take(&mut self.queue) {
            self.reject(ctx, &p, hint);
        }
    }

    fn reject(&mut self, ctx: &mut Ctx<'_, Node>, p: &Pending, hint: View) {
        self.counters.rejected_requests += 1;
        let maybe_applied = p.forwarded && p.op.kind.is_write();
        ctx.send(p.id.client, Msg::Reject { req: p.id.req, view: hint, maybe_applied });
    }

    fn on_view(&mut self, ctx: &mut Ctx<'_, Node>, view: View) {
        if view.num <= self.view.num {
            return;
        }
        // A server that restarted (it knows no view yet) and hears it is
        // primary of a later view than the first is a primary whose restart
        // the view server has not acted on: it holds nothing, so it must
        // neither serve nor hand its empty state to the backup. It keeps
        // pinging with view 0 so the view server replaces it.
        let restarted_primary = view.primary == Some(self.me) && self.view.num == 0 && view.num > 1;
        self.view = view;
        self.deposed = restarted_primary;
        if let Some(t) = self.transfer.take() {
            ctx.cancel_timer(t.timer);
        }
        if view.primary == Some(self.me) && !restarted_primary {
            // The backup may have changed: the operation in flight goes
            // back to the head of the queue and reaches the new backup after
            // the state does (it is not yet applied here).
            if let Some(f) = self.inflight.take() {
                ctx.cancel_timer(f.timer);
                self.queue.push_front(f.p);
            }
            match view.backup {
                Some(b) => {
                    let timer = ctx.set_timer(ms(self.params.forward_timeout_ms), Timer::Transfer { view: view.num });
                    self.transfer = Some(Transfer { to: b, view: view.num, timer });
                    self.send_transfer(ctx, b, view.num);
                }
                None => self.ack_view = view.num,
            }
            self.pump(ctx);
        } else {
            self.ack_view = if restarted_primary { 0 } else { view.num };
            self.reject_all(ctx, view);
        }
    }

    fn send_transfer(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, view: u64) {
        let msg = Msg::Transfer { view, state: self.state.clone() };
        self.counters.state_transfer_messages += 1;
        self.counters.state_transfer_bytes = self.counters.state_transfer_bytes.saturating_add(msg.size_bytes());
        ctx.send(to, msg);
    }

    fn send_forward(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, view: u64, id: ReqId, op: Op) {
        self.counters.forwards_sent += 1;
        ctx.send(to, Msg::Forward { view, id, op });
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Node>, id: ReqId, op: Op) {
        let p = Pending { id, op, forwarded: false };
        if self.view.primary != Some(self.me) || self.deposed {
            let view = self.view;
            self.reject(ctx, &p, view);
            return;
        }
        if op.kind == OpKind::Put && self.state.applied.contains_key(&id) {
            self.counters.duplicates_filtered += 1;
            self.reply(ctx, &p, None, None);
            return;
        }
        let known = self.inflight.as_ref().is_some_and(|f| f.p.id == id) || self.queue.iter().any(|q| q.id == id);
        if known {
            // The original is on its way; its reply answers the retry too.
            self.counters.duplicates_filtered += 1;
            return;
        }
        if self.queue.len() >= MAX_QUEUE {
            let view = self.view;
            self.reject(ctx, &p, view);
            return;
        }
        self.queue.push_back(p);
        self.pump(ctx);
    }

    /// Starts queued operations while nothing is in flight.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>) {
        while self.is_serving_primary() && self.inflight.is_none() {
            let Some(mut p) = self.queue.pop_front() else { return };
            if p.op.kind == OpKind::Put && self.state.applied.contains_key(&p.id) {
                self.counters.duplicates_filtered += 1;
                self.reply(ctx, &p, None, None);
                continue;
            }
            let Some(backup) = self.view.backup else {
                self.execute(ctx, &p, None);
                continue;
            };
            let view = self.view.num;
            p.forwarded = true;
            if self.params.bug == Bug::ReplyBeforeAck {
                // The bug: the client hears "done" while the only other
                // copy may never get the operation.
                self.execute(ctx, &p, None);
                self.send_forward(ctx, backup, view, p.id, p.op);
                continue;
            }
            let timer = ctx.set_timer(ms(self.params.forward_timeout_ms), Timer::Forward { id: p.id });
            self.send_forward(ctx, backup, view, p.id, p.op);
            self.inflight = Some(Inflight { p, timer });
        }
    }

    fn on_forward_ack(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, backup_view: u64, id: ReqId) {
        if self.inflight.as_ref().is_none_or(|f| f.p.id != id) || Some(from) != self.view.backup {
            return;
        }
        let f = self.inflight.take().expect("checked");
        ctx.cancel_timer(f.timer);
        self.execute(ctx, &f.p, Some(Ack { by: from, view: backup_view }));
        self.pump(ctx);
    }

    /// Applies an operation here as primary and replies to its client.
    fn execute(&mut self, ctx: &mut Ctx<'_, Node>, p: &Pending, ack: Option<Ack>) {
        let value = match p.op.kind {
            OpKind::Put => {
                self.apply(ctx, p.id, p.op);
                None
            }
            OpKind::Get => self.state.data.get(&p.op.key).copied(),
            other => panic!("primary-backup clients send gets and puts, not {other:?}"),
        };
        self.reply(ctx, p, value, ack);
    }

    /// Tells the client its operation is done, and records that this server
    /// acted as primary of its view (what `one_primary_per_view` checks).
    fn reply(&mut self, ctx: &mut Ctx<'_, Node>, p: &Pending, value: Option<sim_core::Value>, ack: Option<Ack>) {
        self.replies.push(PrimaryReply { at: ctx.now(), server: self.me, view: self.view.num, id: p.id, ack });
        ctx.send(p.id.client, Msg::Reply { req: p.id.req, value });
    }

    /// Applies a put to this server's state, counting it.
    fn apply(&mut self, ctx: &mut Ctx<'_, Node>, id: ReqId, op: Op) {
        let value = op.value.expect("a put carries a value");
        self.state.data.insert(op.key, value);
        let count = self.state.applied.entry(id).or_insert(0);
        *count += 1;
        let count = *count;
        self.applies.push(Applied { at: ctx.now(), server: self.me, view: self.view.num, id, count });
    }

    fn on_forward(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, view: u64, id: ReqId, op: Op) {
        // Only the backup of the forward's view, holding that view's state
        // transfer (a backup that restarted since holds nothing), may apply it.
        let mine = view == self.view.num
            && self.view.backup == Some(self.me)
            && self.view.primary == Some(from)
            && self.installed_view == view;
        if !mine && self.params.bug != Bug::NoViewCheck {
            ctx.send(from, Msg::ForwardReject { id, view: self.view });
            return;
        }
        if op.kind == OpKind::Put {
            if self.state.applied.contains_key(&id) {
                self.counters.duplicates_filtered += 1;
            } else {
                self.apply(ctx, id, op);
            }
        }
        ctx.send(from, Msg::ForwardAck { view: self.view.num, id });
    }

    fn on_transfer(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, view: u64, state: State) {
        let mine = view == self.view.num && self.view.backup == Some(self.me) && self.view.primary == Some(from);
        if !mine {
            ctx.send(from, Msg::TransferReject { view: self.view });
            return;
        }
        if self.installed_view != view {
            self.state = state;
            self.installed_view = view;
        }
        ctx.send(from, Msg::TransferAck { view });
    }
}
