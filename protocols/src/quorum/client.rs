//! A client: sends each operation to a coordinator under a timeout,
//! completes it in the history, and (vector clocks) keeps the context of
//! its last read of each key for its next write of that key.

use super::msg::{Msg, Record, Timer, Values, first_id, next_boot};
use super::params::{Coordinator, Params, Versioning};
use super::ring::Ring;
use super::version::VClock;
use super::{Node, server_id};
use sim_core::{Ctx, Key, NodeId, Op, OpId, OpKind, OpStatus, Output, SimTime, TimerId, ms};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A pending request: what its reply needs, not the whole operation, so
/// that recording and taking one moves a few words.
#[derive(Clone, Debug)]
struct Request {
    req: u64,
    id: OpId,
    kind: OpKind,
    key: Key,
    coordinator: NodeId,
    timer: TimerId,
}

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    params: Params,
    ring: Arc<Ring>,
    next_req: u64,
    /// Pending requests, in no particular order (request ids are unique).
    /// A closed-loop client has one or two at a time, so a vector beats a
    /// map (no tree node to allocate and free per operation).
    requests: Vec<Request>,
    /// Vector clocks: per key, the clock that supersedes everything this
    /// client has read or written of it. Volatile: after a crash the
    /// client's puts are blind until it reads again.
    contexts: BTreeMap<Key, VClock>,
    /// The client's own vector clock counter, above every value it used in
    /// earlier lives (it starts at the boot's first id).
    counter: u64,
    /// Until when each server is avoided as a coordinator, after a request
    /// to it timed out (a load balancer's health check, in effect).
    avoid_until: Vec<SimTime>,
}

impl Client {
    pub fn new(params: Params, ring: Arc<Ring>) -> Client {
        let servers = ring.servers();
        Client {
            params,
            ring,
            next_req: 0,
            requests: Vec::new(),
            contexts: BTreeMap::new(),
            counter: 0,
            avoid_until: vec![SimTime::ZERO; servers],
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.boot(ctx);
    }

    /// Pending operations are gone: the engine already ended them `unknown`.
    pub fn on_crash(&mut self) {
        self.requests.clear();
        self.contexts.clear();
        self.next_req = 0;
        self.counter = 0;
        self.avoid_until.fill(SimTime::ZERO);
    }

    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        assert!(self.requests.is_empty(), "client recovered without crashing");
        self.boot(ctx);
    }

    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_req = first_id(n);
        self.counter = first_id(n);
    }

    pub fn on_client_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        assert_eq!(op.value.is_some(), op.kind == OpKind::Put, "a put carries a value, a get does not: {op:?}");
        assert!(self.next_req > 0, "client ran an operation before booting");
        let req = self.next_req;
        self.next_req += 1;
        let key = op.key;
        let coordinator = self.coordinator(ctx, key);
        let msg = match op.value {
            Some(value) => {
                let clock = self.next_clock(ctx, key);
                Msg::ClientPut { req, key, value, clock }
            }
            None => Msg::ClientGet { req, key },
        };
        ctx.send(coordinator, msg);
        let timer = ctx.set_timer(ms(self.params.request_timeout_ms), Timer::Request { req });
        self.requests.push(Request { req, id, kind: op.kind, key, coordinator, timer });
    }

    /// Random: any server not avoided, uniformly. Owner: the first server
    /// of the key's preference list not avoided. When every server is
    /// avoided, the choice ignores avoidance.
    fn coordinator(&mut self, ctx: &mut Ctx<'_, Node>, key: Key) -> NodeId {
        let now = ctx.now();
        let usable = |n: &NodeId| self.avoid_until[n.index()] <= now;
        match self.params.coordinator {
            Coordinator::Random => {
                // One uniform draw over the usable servers (or over all of
                // them when none is usable), taken as the index into that
                // list in server order: the draw `rng().pick` makes over the
                // list, without building it.
                let servers = self.ring.servers();
                let all = (0..servers).map(server_id);
                let live = all.clone().filter(usable).count();
                if live == 0 {
                    server_id(ctx.rng().below(servers as u64) as usize)
                } else {
                    let i = ctx.rng().below(live as u64) as usize;
                    all.filter(usable).nth(i).expect("the index is below the usable count")
                }
            }
            Coordinator::Owner => {
                let pref = self.ring.preference_list(key);
                pref.iter().copied().find(usable).unwrap_or(pref[0])
            }
        }
    }

    /// Vector clocks: the context of the key advanced by this client's own
    /// entry, truncated; the client has then seen its own write.
    fn next_clock(&mut self, ctx: &mut Ctx<'_, Node>, key: Key) -> Option<VClock> {
        if self.params.versioning != Versioning::VectorClocks {
            return None;
        }
        let me = ctx.me();
        let mut clock = self.contexts.get(&key).cloned().unwrap_or_default();
        self.counter = self.counter.max(clock.counter(me)) + 1;
        clock.advance(me, self.counter, ctx.now().as_nanos());
        clock.truncate(self.params.vector_clock_max_entries as usize);
        self.contexts.insert(key, clock.clone());
        Some(clock)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Request { req } = timer else { panic!("client got a timer it never sets: {timer:?}") };
        let Some(r) = self.take_request(req) else { return };
        self.avoid_until[r.coordinator.index()] = ctx.now().after(ms(self.params.suspect_ms));
        // A put that timed out may still take effect; a get that timed out
        // changed nothing, so it can safely fail.
        let status = if r.kind.is_write() { OpStatus::Unknown } else { OpStatus::Fail };
        Self::complete(ctx, &r, status, Output::Nothing);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let req = match &msg {
            Msg::GetOk { req, .. } | Msg::PutOk { req } | Msg::Failed { req, .. } => *req,
            other => panic!("client {:?} got {other:?} from {from:?}: not a client message", ctx.me()),
        };
        // A reply after the timeout (or a duplicate) finds nothing to do.
        assert!(from.index() < self.ring.servers(), "client reply from {from:?}, which is not a server");
        // It answered: it is alive, whatever an earlier timeout suggested.
        self.avoid_until[from.index()] = SimTime::ZERO;
        let Some(r) = self.take_request(req) else { return };
        assert_eq!(r.coordinator, from, "reply to request {req} from {from:?}, not its coordinator");
        ctx.cancel_timer(r.timer);
        // Matched where the message lies: moved into the tuple, it was
        // copied just after being stored, a stall on store forwarding.
        let (status, output) = match (&msg, r.kind) {
            (Msg::GetOk { values, context, .. }, OpKind::Get) => {
                if self.params.versioning == Versioning::VectorClocks {
                    // What it read and what it wrote itself are both seen.
                    self.contexts.entry(r.key).or_default().merge(context);
                }
                (OpStatus::Ok, output(values))
            }
            (Msg::PutOk { .. }, OpKind::Put) => (OpStatus::Ok, Output::Nothing),
            // A refused put was written nowhere: it certainly did not happen.
            (Msg::Failed { written: false, .. }, _) => (OpStatus::Fail, Output::Nothing),
            (Msg::Failed { written: true, .. }, OpKind::Put) => (OpStatus::Unknown, Output::Nothing),
            (msg, kind) => panic!("reply {msg:?} to a {kind:?} request"),
        };
        Self::complete(ctx, &r, status, output);
    }

    /// Removes and returns pending request `req`, if it is still pending.
    fn take_request(&mut self, req: u64) -> Option<Request> {
        let i = self.requests.iter().rposition(|r| r.req == req)?;
        // The last request moves into its place: no shift (a call to
        // `memmove`, even of nothing, when it was the last).
        Some(self.requests.swap_remove(i))
    }

    fn complete(ctx: &mut Ctx<'_, Node>, r: &Request, status: OpStatus, output: Output) {
        assert!(ctx.is_pending(r.id), "client completes {:?}, which is not pending", r.id);
        ctx.complete(r.id, status, output);
    }
}

fn output(values: &Values) -> Output {
    match values.as_slice() {
        [] => Output::Nothing,
        [one] => Output::Value(*one),
        many => Output::Values(many.to_vec()),
    }
}
