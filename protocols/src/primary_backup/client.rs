//! A client: finds the primary through the view server, sends it each
//! operation, and retries with the same request id on a timeout or a
//! rejection until its budget of retries is spent.
//!
//! Outcomes are honest: a get that never succeeded failed (it changed
//! nothing); a put that never succeeded failed only if every server it was
//! sent to refused it without forwarding it, and is `unknown` otherwise.

use super::msg::{Msg, Record, Timer, View};
use super::params::Params;
use super::{Node, VIEW_SERVER};
use crate::incarnation::{first_id, next_boot};
use sim_core::{Ctx, NodeId, Op, OpId, OpKind, OpStatus, Output, TimerId, ms};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
struct Request {
    id: OpId,
    op: Op,
    /// Attempts made so far after the first.
    attempt: u32,
    /// The server the current attempt went to, if it knew a primary.
    target: Option<NodeId>,
    /// Servers sent a copy that have not refused it outright: any of them
    /// may have run it.
    sent: Vec<NodeId>,
    /// A server refused it after forwarding it: the backup may hold it.
    maybe_applied: bool,
    /// Pausing after a rejection: view news does not redirect it.
    backing_off: bool,
    /// The attempt's timeout or the backoff's end.
    timer: Option<TimerId>,
}

impl Request {
    fn send(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, to: NodeId) {
        self.target = Some(to);
        if !self.sent.contains(&to) {
            self.sent.push(to);
        }
        ctx.send(to, Msg::Request { req, op: self.op });
    }
}

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    params: Params,
    /// The newest view heard of, from the view server or a server's rejection.
    view: View,
    next_req: u64,
    requests: BTreeMap<u64, Request>,
}

impl Client {
    pub fn new(params: Params) -> Client {
        Client { params, view: View::default(), next_req: 0, requests: BTreeMap::new() }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.boot(ctx);
    }

    /// Pending operations are gone: the engine already ended them `unknown`.
    pub fn on_crash(&mut self) {
        self.requests.clear();
        self.view = View::default();
        self.next_req = 0;
    }

    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.requests.is_empty(), "client recovered without crashing");
        self.boot(ctx);
    }

    /// Request ids start at this life's first id, so a retry of a request
    /// from before a crash is never confused with a new one.
    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced().iter().filter_map(|r| match r {
            Record::Boot { n } => Some(*n),
            Record::View { .. } => None,
        }));
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_req = first_id(n);
    }

    pub fn on_client_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        assert!(matches!(op.kind, OpKind::Get | OpKind::Put), "primary-backup serves gets and puts, not {op:?}");
        assert_eq!(op.value.is_some(), op.kind == OpKind::Put, "a put carries a value, a get does not: {op:?}");
        assert!(self.next_req > 0, "client ran an operation before booting");
        let req = self.next_req;
        self.next_req += 1;
        let r = Request {
            id,
            op,
            attempt: 0,
            target: None,
            sent: Vec::new(),
            maybe_applied: false,
            backing_off: false,
            timer: None,
        };
        self.requests.insert(req, r);
        self.attempt(ctx, req);
    }

    /// Starts the request's current attempt: to the primary it knows, and,
    /// on a retry or when it knows none, a question to the view server.
    fn attempt(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let primary = self.view.primary;
        let r = self.requests.get_mut(&req).expect("attempt of a known request");
        r.target = None;
        r.backing_off = false;
        if let Some(p) = primary {
            r.send(ctx, req, p);
        }
        if primary.is_none() || r.attempt > 0 {
            ctx.send(VIEW_SERVER, Msg::GetView);
        }
        r.timer = Some(ctx.set_timer(ms(self.params.client_timeout_ms), Timer::Attempt { req, attempt: r.attempt }));
    }

    /// The next attempt, or the end of the operation when the budget is spent.
    fn retry(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let r = self.requests.get_mut(&req).expect("retry of a known request");
        if r.attempt >= self.params.client_retries {
            let r = self.requests.remove(&req).expect("checked");
            let maybe = r.maybe_applied || !r.sent.is_empty();
            let status = if r.op.kind == OpKind::Put && maybe { OpStatus::Unknown } else { OpStatus::Fail };
            complete(ctx, &r, status, Output::Nothing);
            return;
        }
        r.attempt += 1;
        self.attempt(ctx, req);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Attempt { req, attempt } => {
                if self.requests.get(&req).is_some_and(|r| r.attempt == attempt && !r.backing_off) {
                    self.retry(ctx, req);
                }
            }
            Timer::Backoff { req, attempt } => {
                if self.requests.get(&req).is_some_and(|r| r.attempt == attempt && r.backing_off) {
                    self.retry(ctx, req);
                }
            }
            other => panic!("client {:?} got a timer it never sets: {other:?}", ctx.me()),
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::ViewReply { view } => self.learn(ctx, view),
            Msg::Reply { req, value } => {
                // A reply after the operation ended (or a duplicate) finds nothing.
                let Some(r) = self.requests.remove(&req) else { return };
                if let Some(t) = r.timer {
                    ctx.cancel_timer(t);
                }
                let output = value.map_or(Output::Nothing, Output::Value);
                let output = if r.op.kind == OpKind::Put { Output::Nothing } else { output };
                complete(ctx, &r, OpStatus::Ok, output);
            }
            Msg::Reject { req, view, maybe_applied } => {
                if let Some(r) = self.requests.get_mut(&req) {
                    r.maybe_applied |= maybe_applied;
                    if !maybe_applied {
                        r.sent.retain(|&s| s != from);
                    }
                    // Only the current attempt's server can end the attempt.
                    if r.target == Some(from) && !r.backing_off {
                        if let Some(t) = r.timer {
                            ctx.cancel_timer(t);
                        }
                        r.backing_off = true;
                        r.target = None;
                        let backoff = Timer::Backoff { req, attempt: r.attempt };
                        r.timer = Some(ctx.set_timer(ms(self.params.client_backoff_ms), backoff));
                    }
                }
                self.learn(ctx, view);
            }
            other => panic!("client {:?} got {other:?} from {from:?}", ctx.me()),
        }
    }

    /// Adopts a newer view and sends every attempt in progress to its
    /// primary, if that is not where it went (same request id: the
    /// at-most-once filter makes the extra copy harmless).
    fn learn(&mut self, ctx: &mut Ctx<'_, Node>, view: View) {
        if view.num > self.view.num {
            self.view = view;
        }
        let Some(p) = self.view.primary else { return };
        for (&req, r) in self.requests.iter_mut() {
            if !r.backing_off && r.target != Some(p) {
                r.send(ctx, req, p);
            }
        }
    }
}

fn complete(ctx: &mut Ctx<'_, Node>, r: &Request, status: OpStatus, output: Output) {
    assert!(ctx.is_pending(r.id), "client completes {:?}, which is not pending", r.id);
    ctx.complete(r.id, status, output);
}
