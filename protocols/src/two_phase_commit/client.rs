//! A client: sends each operation to a coordinator as a transaction under
//! a timeout and completes it in the history: `ok` on commit, `fail` on a
//! certain abort, and on a timeout `unknown` for a write (it may still
//! commit) but `fail` for a read (a read changes nothing).

use super::msg::{Msg, Record, Timer, TxnId, first_id, next_boot};
use super::params::{CoordinatorChoice, Params};
use super::{Node, Topology};
use sim_core::{Ctx, NodeId, Op, OpId, OpStatus, Output, TimerId, ms};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug)]
struct Request {
    id: OpId,
    op: Op,
    coordinator: NodeId,
    timer: TimerId,
}

/// What a client learnt, for the checks. Instrumentation: it survives
/// crashes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ClientStats {
    /// The transaction behind each operation that got an answer (history
    /// index), so checks can hold `ok` and `fail` against the participants.
    pub txn_of_op: BTreeMap<u32, TxnId>,
    pub messages_sent: u64,
}

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    params: Params,
    topo: Arc<Topology>,
    /// Which client this is (0-based), for the fixed coordinator choice.
    index: usize,
    next_req: u64,
    requests: BTreeMap<u64, Request>,
    pub(super) stats: ClientStats,
}

impl Client {
    pub fn new(params: Params, topo: Arc<Topology>, index: usize) -> Client {
        Client { params, topo, index, next_req: 0, requests: BTreeMap::new(), stats: ClientStats::default() }
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

    fn boot(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_req = first_id(n);
    }

    pub fn on_client_op(&mut self, ctx: &mut Ctx<'_, Node>, id: OpId, op: Op) {
        assert!(self.next_req > 0, "client ran an operation before booting");
        let req = self.next_req;
        self.next_req += 1;
        let k = self.topo.coordinators;
        let i = match self.params.coordinator_choice {
            CoordinatorChoice::Fixed => self.index % k,
            CoordinatorChoice::PerTransaction => ctx.rng().below(k as u64) as usize,
        };
        let coordinator = self.topo.coordinator_id(i);
        self.stats.messages_sent += 1;
        ctx.send(coordinator, Msg::Begin { req, op });
        let timer = ctx.set_timer(ms(self.params.client_timeout_ms), Timer::Request { req });
        self.requests.insert(req, Request { id, op, coordinator, timer });
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let Timer::Request { req } = timer else { panic!("client got a timer it never sets: {timer:?}") };
        let Some(r) = self.requests.remove(&req) else { return };
        let status = if r.op.kind.is_write() { OpStatus::Unknown } else { OpStatus::Fail };
        complete(ctx, &r, status, Output::Nothing);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let (req, txn, status, output) = match msg {
            Msg::Committed { req, txn, output } => (req, txn, OpStatus::Ok, output),
            Msg::Aborted { req, txn } => (req, txn, OpStatus::Fail, Output::Nothing),
            other => panic!("client {:?} got {other:?} from {from:?}: not a client message", ctx.me()),
        };
        // A reply after the timeout (or a duplicate) finds nothing to do.
        let Some(r) = self.requests.remove(&req) else { return };
        assert_eq!(r.coordinator, from, "reply to request {req} from {from:?}, not its coordinator");
        ctx.cancel_timer(r.timer);
        self.stats.txn_of_op.insert(r.id.0, txn);
        complete(ctx, &r, status, output);
    }
}

fn complete(ctx: &mut Ctx<'_, Node>, r: &Request, status: OpStatus, output: Output) {
    assert!(ctx.is_pending(r.id), "client completes {:?}, which is not pending", r.id);
    ctx.complete(r.id, status, output);
}
