//! A client: runs each operation as a lookup of the key's owner (hop by
//! hop, iterative or recursive), then, for get and put, one request to
//! that owner.

use super::id::Id;
use super::msg::{Msg, Peer, Timer};
use super::params::{LookupStyle, Params};
use super::{Node, key_id};
use sim_core::time::ms;
use sim_core::{Ctx, Key, NodeId, Op, OpId, OpKind, OpStatus, Output, SimTime, TimerId, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A lookup that got past its first node and then failed is restarted
/// from a fresh node at most this many times.
const MAX_ATTEMPTS: u32 = 4;
/// Start nodes that were outside the ring or silent, tolerated per lookup
/// (the client does not know who is in the ring).
const MAX_MISSES: u32 = 16;

/// One lookup as the client saw it, for the report's judgement.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LookupRecord {
    pub target: Id,
    pub completed: SimTime,
    /// The owner it returned; `None`: the lookup failed.
    pub owner: Option<NodeId>,
    pub hops: u32,
}

#[derive(Clone, Debug)]
enum Phase {
    /// Iterative: waiting for `asked`; `backup` are the other referrals.
    Lookup { backup: Vec<Peer> },
    /// Waiting for the owner's answer to a get or put.
    Data,
}

#[derive(Clone, Debug)]
struct Request {
    op: OpId,
    kind: OpKind,
    key: Key,
    value: Option<Value>,
    target: Id,
    phase: Phase,
    hops: u32,
    attempts: u32,
    misses: u32,
    /// Whether the current attempt heard from any node.
    heard: bool,
    timer: Option<TimerId>,
}

/// A client of the ring.
#[derive(Clone, Debug)]
pub struct Client {
    params: Arc<Params>,
    /// Every chord node: a lookup starts at a random one.
    all: Arc<Vec<Peer>>,
    pending: BTreeMap<u64, Request>,
    next_req: u64,
    boots: u64,
    /// Kept across crashes: it describes the run.
    pub(super) lookups: Vec<LookupRecord>,
}

impl Client {
    pub(super) fn new(params: Arc<Params>, all: Arc<Vec<Peer>>) -> Client {
        Client { params, all, pending: BTreeMap::new(), next_req: 0, boots: 0, lookups: Vec::new() }
    }

    pub fn lookups(&self) -> &[LookupRecord] {
        &self.lookups
    }

    pub(super) fn on_crash(&mut self) {
        self.pending.clear();
        self.boots += 1;
        self.next_req = 0;
    }

    pub(super) fn on_client_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        self.next_req += 1;
        let req = (self.boots << 40) | self.next_req;
        let target = key_id(op.key, self.params.m);
        let r = Request {
            op: id,
            kind: op.kind,
            key: op.key,
            value: op.value,
            target,
            phase: Phase::Lookup { backup: Vec::new() },
            hops: 0,
            attempts: 0,
            misses: 0,
            heard: false,
            timer: None,
        };
        self.pending.insert(req, r);
        self.start_lookup(ctx, req);
    }

    fn arm(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let t = ctx.set_timer(ms(self.params.request_timeout_ms), Timer::Timeout { req });
        if let Some(r) = self.pending.get_mut(&req)
            && let Some(old) = r.timer.replace(t)
        {
            ctx.cancel_timer(old);
        }
    }

    /// Starts (or restarts) a lookup at a random chord node.
    fn start_lookup(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let Some(r) = self.pending.get_mut(&req) else { return };
        if r.attempts > 0 && !r.heard {
            r.misses += 1;
        } else {
            r.attempts += 1;
        }
        if r.attempts > MAX_ATTEMPTS || r.misses > MAX_MISSES {
            self.lookup_failed(ctx, req);
            return;
        }
        r.heard = false;
        r.hops = 0;
        r.phase = Phase::Lookup { backup: Vec::new() };
        let target = r.target;
        let start = self.all[ctx.rng().below(self.all.len() as u64) as usize];
        let msg = match self.params.lookup_style {
            LookupStyle::Iterative => Msg::FindNext { req, target },
            LookupStyle::Recursive => Msg::Route { req, origin: ctx.me(), target, hops: 0 },
        };
        ctx.send(start.node, msg);
        self.arm(ctx, req);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, status: OpStatus, output: Output) {
        if let Some(r) = self.pending.remove(&req) {
            if let Some(t) = r.timer {
                ctx.cancel_timer(t);
            }
            ctx.complete(r.op, status, output);
        }
    }

    fn lookup_failed(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let Some(r) = self.pending.get(&req) else { return };
        self.lookups.push(LookupRecord { target: r.target, completed: ctx.now(), owner: None, hops: r.hops });
        // Nothing was sent to an owner, so nothing was written.
        self.finish(ctx, req, OpStatus::Fail, Output::Nothing);
    }

    fn lookup_done(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, owner: Peer, hops: u32) {
        let Some(r) = self.pending.get_mut(&req) else { return };
        if !matches!(r.phase, Phase::Lookup { .. }) {
            return;
        }
        self.lookups.push(LookupRecord { target: r.target, completed: ctx.now(), owner: Some(owner.node), hops });
        r.phase = Phase::Data;
        let (kind, key, value) = (r.kind, r.key, r.value);
        match kind {
            OpKind::Lookup => {
                let out = Output::Value(Value { id: owner.node.0 as u64, size_bytes: 0 });
                self.finish(ctx, req, OpStatus::Ok, out);
            }
            OpKind::Get => {
                ctx.send(owner.node, Msg::Get { req, key });
                self.arm(ctx, req);
            }
            OpKind::Put => {
                let value = value.expect("a put carries a value");
                ctx.send(owner.node, Msg::Put { req, key, value });
                self.arm(ctx, req);
            }
            other => panic!("chord serves get, put and lookup, not {}", other.name()),
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Timeout { req } = timer else {
            panic!("client got a node's timer {timer:?}");
        };
        let Some(r) = self.pending.get_mut(&req) else { return };
        r.timer = None;
        match &mut r.phase {
            Phase::Lookup { backup } if !backup.is_empty() => {
                // Route around the silent node: ask the next referral.
                let next = backup.remove(0);
                let target = r.target;
                ctx.send(next.node, Msg::FindNext { req, target });
                self.arm(ctx, req);
            }
            Phase::Lookup { .. } => self.start_lookup(ctx, req),
            Phase::Data => {
                // A put may have reached the owner: its outcome is unknown.
                let status = if r.kind == OpKind::Put { OpStatus::Unknown } else { OpStatus::Fail };
                self.finish(ctx, req, status, Output::Nothing);
            }
        }
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, msg: Msg) {
        match msg {
            Msg::NextReply { req, owner, next, member } => {
                let Some(r) = self.pending.get_mut(&req) else { return };
                let Phase::Lookup { backup } = &mut r.phase else { return };
                r.heard |= member;
                if let Some(owner) = owner {
                    let hops = r.hops;
                    self.lookup_done(ctx, req, owner, hops);
                } else if !member && !backup.is_empty() {
                    // A referral to a node that has left: try the next one.
                    let next = backup.remove(0);
                    let target = r.target;
                    ctx.send(next.node, Msg::FindNext { req, target });
                    self.arm(ctx, req);
                } else if !member || next.is_empty() {
                    self.start_lookup(ctx, req);
                } else {
                    r.hops += 1;
                    if r.hops > 2 * self.params.m + 8 {
                        // A routing loop (tables mid-repair): start afresh.
                        self.start_lookup(ctx, req);
                        return;
                    }
                    *backup = next[1..].to_vec();
                    let target = r.target;
                    ctx.send(next[0].node, Msg::FindNext { req, target });
                    self.arm(ctx, req);
                }
            }
            Msg::RouteDone { req, owner, hops } => self.lookup_done(ctx, req, owner, hops),
            Msg::NotMember { req } => {
                if self.pending.get(&req).is_some_and(|r| matches!(r.phase, Phase::Lookup { .. })) {
                    self.start_lookup(ctx, req);
                }
            }
            Msg::GetReply { req, value } => {
                if self.pending.get(&req).is_some_and(|r| matches!(r.phase, Phase::Data)) {
                    self.finish(ctx, req, OpStatus::Ok, value.map_or(Output::Nothing, Output::Value));
                }
            }
            Msg::PutOk { req } => {
                if self.pending.get(&req).is_some_and(|r| matches!(r.phase, Phase::Data)) {
                    self.finish(ctx, req, OpStatus::Ok, Output::Nothing);
                }
            }
            other => panic!("client got a node's message {other:?}"),
        }
    }
}
