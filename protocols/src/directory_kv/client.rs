//! A client: runs each operation in the configured query style under a
//! timeout, and completes it in the history.

use super::msg::{Msg, Record, Timer, first_id, next_boot};
use super::params::{Ordering, Params, Query};
use super::replication::{WriteProgress, send_put};
use super::{DIRECTORY, Node};
use sim_core::{Ctx, Key, NodeId, Op, OpId, OpKind, OpStatus, Output, TimerId, Value, ms};
use std::collections::BTreeMap;

/// Where an operation stands.
#[derive(Clone, Debug)]
enum Phase {
    /// Waiting for the directory: the answer (recursive) or the replica
    /// list (iterative).
    AtDirectory,
    /// Iterative put: writing to the replicas.
    Writing { ticket: Option<u64>, write: WriteProgress },
    /// Iterative get: waiting for the chosen replica.
    Reading { ticket: Option<u64> },
}

#[derive(Clone, Debug)]
struct Request {
    id: OpId,
    op: Op,
    timer: TimerId,
    phase: Phase,
}

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    params: Params,
    next_req: u64,
    requests: BTreeMap<u64, Request>,
}

impl Client {
    pub fn new(params: Params) -> Client {
        Client { params, next_req: 0, requests: BTreeMap::new() }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.boot(ctx);
    }

    /// Pending operations are gone: the engine already ended them `unknown`.
    pub fn on_crash(&mut self) {
        self.requests.clear();
        self.next_req = 0;
    }

    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.requests.is_empty(), "client recovered without crashing");
        self.boot(ctx);
    }

    /// Starts a new incarnation, so replies meant for the previous one are
    /// never taken for answers to new requests.
    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_req = first_id(n);
    }

    pub fn on_client_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        assert_eq!(op.value.is_some(), op.kind == OpKind::Put, "a put carries a value, a get does not: {op:?}");
        assert!(self.next_req > 0, "client ran an operation before booting");
        let req = self.next_req;
        self.next_req += 1;
        let timer = ctx.set_timer(ms(self.params.request_timeout_ms), Timer::Request { req });
        let key = op.key;
        let msg = match (self.params.query, op.value) {
            (Query::Recursive, Some(value)) => Msg::ClientPut { req, key, value },
            (Query::Recursive, None) => Msg::ClientGet { req, key },
            (Query::Iterative, value) => Msg::Lookup { req, key, put_size_bytes: value.map(|v| v.size_bytes) },
        };
        ctx.send(DIRECTORY, msg);
        self.requests.insert(req, Request { id, op, timer, phase: Phase::AtDirectory });
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Request { req } = timer else { panic!("client got a timer it never sets: {timer:?}") };
        let Some(r) = self.requests.remove(&req) else { return };
        // A put that timed out may still take effect; a get that timed out
        // changed nothing, so it can safely fail.
        let status = if r.op.kind.is_write() { OpStatus::Unknown } else { OpStatus::Fail };
        self.release(ctx, &r);
        Self::complete(ctx, &r, status, Output::Nothing);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let from_directory = from == DIRECTORY;
        match msg {
            Msg::ClientPutOk { req } => {
                assert!(from_directory && self.params.query == Query::Recursive, "unexpected put ack from {from:?}");
                self.finish(ctx, req, OpKind::Put, OpStatus::Ok, Output::Nothing);
            }
            Msg::ClientGetOk { req, value } => {
                assert!(from_directory && self.params.query == Query::Recursive, "unexpected get reply from {from:?}");
                self.finish(ctx, req, OpKind::Get, OpStatus::Ok, output(value));
            }
            Msg::Refused { req, .. } => {
                assert!(from_directory, "refusal from {from:?}, which is not the directory");
                if let Some(r) = self.requests.get(&req)
                    && matches!(r.phase, Phase::AtDirectory)
                {
                    let kind = r.op.kind;
                    self.finish(ctx, req, kind, OpStatus::Fail, Output::Nothing);
                }
            }
            Msg::Location { req, key, replicas, version, ticket } => {
                assert!(from_directory && self.params.query == Query::Iterative, "unexpected location from {from:?}");
                self.on_location(ctx, req, key, replicas, version, ticket);
            }
            Msg::StoreAck { op: req, key } => {
                let Some(r) = self.requests.get_mut(&req) else { return };
                assert_eq!(r.op.key, key, "ack for request {req} names the wrong key");
                let Phase::Writing { write, .. } = &mut r.phase else { return };
                write.ack(from, self.params.replication);
                let done = match self.params.ordering {
                    Ordering::Serialized => write.complete(),
                    Ordering::Careless => write.any_stored(),
                };
                if done {
                    self.finish(ctx, req, OpKind::Put, OpStatus::Ok, Output::Nothing);
                }
            }
            Msg::StoreValue { op: req, key, value } => {
                let Some(r) = self.requests.get(&req) else { return };
                assert_eq!(r.op.key, key, "value for request {req} names the wrong key");
                if matches!(r.phase, Phase::Reading { .. }) {
                    self.finish(ctx, req, OpKind::Get, OpStatus::Ok, output(value));
                }
            }
            other => panic!("client {:?} got {other:?} from {from:?}: not a client message", ctx.me()),
        }
    }

    /// Iterative query: the directory said where the key lives; now talk
    /// to the storage nodes directly.
    fn on_location(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        req: u64,
        key: Key,
        replicas: Vec<NodeId>,
        version: Option<u64>,
        ticket: Option<u64>,
    ) {
        let Some(r) = self.requests.get_mut(&req) else {
            // We gave up before the answer came: hand back the lease it
            // carries instead of blocking the key until it expires.
            if let Some(ticket) = ticket {
                ctx.send(DIRECTORY, Msg::Done { key, ticket });
            }
            return;
        };
        assert_eq!(r.op.key, key, "location for request {req} names the wrong key");
        // A duplicated location arrives after the first moved us on.
        if !matches!(r.phase, Phase::AtDirectory) {
            return;
        }
        match r.op.value {
            Some(value) => {
                assert!(!replicas.is_empty(), "location for a put lists no replica");
                let careless = self.params.ordering == Ordering::Careless;
                send_put(ctx, self.params.replication, req, key, value, version, &replicas, careless);
                r.phase = Phase::Writing { ticket, write: WriteProgress::new(replicas) };
            }
            None => match ctx.rng().pick(&replicas).copied() {
                Some(replica) => {
                    ctx.send(replica, Msg::StoreGet { op: req, key });
                    r.phase = Phase::Reading { ticket };
                }
                None => {
                    assert!(ticket.is_none(), "the directory leased an absent key");
                    self.finish(ctx, req, OpKind::Get, OpStatus::Ok, Output::Nothing);
                }
            },
        }
    }

    /// Ends request `req` if it is still pending.
    fn finish(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, kind: OpKind, status: OpStatus, output: Output) {
        let Some(r) = self.requests.remove(&req) else { return };
        assert_eq!(r.op.kind, kind, "reply of the wrong kind for request {req}");
        ctx.cancel_timer(r.timer);
        self.release(ctx, &r);
        Self::complete(ctx, &r, status, output);
    }

    /// Hands a lease back as soon as we are done with it, rather than
    /// making everyone behind us wait for its expiry.
    fn release(&self, ctx: &mut Ctx<'_, Node>, r: &Request) {
        if let Phase::Writing { ticket: Some(ticket), .. } | Phase::Reading { ticket: Some(ticket) } = r.phase {
            ctx.send(DIRECTORY, Msg::Done { key: r.op.key, ticket });
        }
    }

    fn complete(ctx: &mut Ctx<'_, Node>, r: &Request, status: OpStatus, output: Output) {
        assert!(ctx.is_pending(r.id), "client completes {:?}, which is not pending", r.id);
        ctx.complete(r.id, status, output);
    }
}

fn output(value: Option<Value>) -> Output {
    value.map_or(Output::Nothing, Output::Value)
}
