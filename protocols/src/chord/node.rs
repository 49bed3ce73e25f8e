//! A Chord node: ring maintenance (join, stabilize, notify, fix_fingers,
//! check_predecessor, leave), lookups through the closest preceding
//! finger, and DHash storage at a key's successor and the next k nodes.

use super::id::Id;
use super::msg::{Msg, Peer, Stored, Timer};
use super::params::{Bootstrap, Params};
use super::{Node, key_id, node_name};
use serde::Serialize;
use sim_core::time::{ms, ms_f64_to_ns};
use sim_core::{Ctx, Dist, Key, NodeId, SimTime, TimerId, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many candidates a referral names, so a client can route around a
/// failed one.
const REFERRAL_WIDTH: usize = 3;

/// What a node's own outstanding request is for.
#[derive(Clone, Debug)]
enum Pending {
    /// Looking up our own successor to join, through `via`.
    Join,
    /// Refreshing finger `i`, first hop `via`.
    Finger { i: u32, via: Peer },
    /// Stabilize asked our successor.
    Stabilize { succ: Peer },
    /// check_predecessor pinged our predecessor.
    Ping { pred: Peer },
}

/// Counters of one node, kept across crashes (they describe the run).
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeCounters {
    pub stabilize_messages: u64,
    pub check_predecessor_messages: u64,
    pub fix_finger_lookups: u64,
    pub maintenance_messages: u64,
    pub joins: u64,
    pub leaves: u64,
    pub keys_transferred: u64,
    pub replication_messages: u64,
    pub successor_failovers: u64,
}

/// One node's view of the ring, for snapshots and the final table.
#[derive(Clone, Debug, Serialize)]
pub struct NodeState {
    pub node: String,
    pub id: Id,
    pub member: bool,
    pub predecessor: Option<String>,
    pub successors: Vec<String>,
    /// Fingers as runs of consecutive entries with the same node:
    /// fingers `first..=last` are `node`.
    pub fingers: Vec<FingerRun>,
    pub keys: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FingerRun {
    pub first: u32,
    pub last: u32,
    /// The start of finger `first`: id + 2^first.
    pub start: Id,
    pub node: Option<String>,
}

/// A Chord node.
#[derive(Clone, Debug)]
pub struct ChordNode {
    params: Arc<Params>,
    me: Peer,
    /// Every chord node (initial ones first), for joining through a known node.
    all: Arc<Vec<Peer>>,
    initial: usize,
    member: bool,
    /// Successor list, nearest first; `[me]` when alone.
    succs: Vec<Peer>,
    pred: Option<Peer>,
    /// finger[i] = successor(me + 2^i) as last learnt; `None`: unknown.
    fingers: Vec<Option<Peer>>,
    next_finger: u32,
    store: BTreeMap<Key, Stored>,
    /// (predecessor, replica targets) of the last re-replication push.
    last_push: Option<(Option<Peer>, Vec<NodeId>)>,
    pending: BTreeMap<u64, (Pending, TimerId)>,
    next_req: u64,
    // Instrumentation, kept across crashes: it describes the run.
    boots: u64,
    /// (joined, left gracefully) intervals of ring membership.
    pub(super) memberships: Vec<(SimTime, Option<SimTime>)>,
    pub(super) snapshots: Vec<(SimTime, NodeState)>,
    pub(super) counters: NodeCounters,
}

impl ChordNode {
    pub(super) fn new(params: Arc<Params>, index: usize, all: Arc<Vec<Peer>>, initial: usize) -> ChordNode {
        let m = params.m as usize;
        ChordNode {
            me: all[index],
            all,
            initial,
            member: false,
            succs: Vec::new(),
            pred: None,
            fingers: vec![None; m],
            next_finger: 0,
            store: BTreeMap::new(),
            last_push: None,
            pending: BTreeMap::new(),
            next_req: 0,
            boots: 0,
            memberships: Vec::new(),
            snapshots: Vec::new(),
            counters: NodeCounters::default(),
            params,
        }
    }

    /// Starts as a member with the true ring already known (`stable`
    /// bootstrap): `ring` is every initial node sorted by identifier.
    pub(super) fn preset(&mut self, ring: &[Peer]) {
        let pos = ring.iter().position(|p| *p == self.me).expect("preset node is on the ring");
        let r = self.params.successor_list_len as usize;
        let n = ring.len();
        self.member = true;
        self.succs = (1..=r.min(n.saturating_sub(1)).max(1)).map(|k| ring[(pos + k) % n]).collect();
        self.pred = (n > 1).then(|| ring[(pos + n - 1) % n]);
        let m = self.params.m;
        for (i, f) in self.fingers.iter_mut().enumerate() {
            *f = Some(successor_in(ring, self.me.id.add(Id::pow2(i as u32), m)));
        }
        self.memberships.push((SimTime::ZERO, None));
    }

    pub fn id(&self) -> Id {
        self.me.id
    }

    pub fn is_member(&self) -> bool {
        self.member
    }

    pub fn successors(&self) -> &[Peer] {
        &self.succs
    }

    pub fn predecessor(&self) -> Option<Peer> {
        self.pred
    }

    /// finger[i] as this node knows it (`None`: unknown).
    pub fn fingers(&self) -> &[Option<Peer>] {
        &self.fingers
    }

    /// The values this node stores (as owner or replica).
    pub fn stored(&self) -> impl Iterator<Item = (Key, Value)> + '_ {
        self.store.iter().map(|(k, s)| (*k, s.value))
    }

    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }

    pub fn state(&self) -> NodeState {
        let name = |p: &Peer| node_name(p.node.index());
        let m = self.params.m;
        let mut fingers: Vec<FingerRun> = Vec::new();
        if self.member {
            for (i, f) in self.fingers.iter().enumerate() {
                let node = f.as_ref().map(name);
                match fingers.last_mut() {
                    Some(run) if run.node == node => run.last = i as u32,
                    _ => fingers.push(FingerRun {
                        first: i as u32,
                        last: i as u32,
                        start: self.me.id.add(Id::pow2(i as u32), m),
                        node,
                    }),
                }
            }
        }
        NodeState {
            node: name(&self.me),
            id: self.me.id,
            member: self.member,
            predecessor: self.pred.as_ref().map(name),
            successors: self.succs.iter().map(name).collect(),
            fingers,
            keys: self.store.len() as u64,
        }
    }

    fn succ(&self) -> Peer {
        self.succs.first().copied().unwrap_or(self.me)
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        (self.boots << 40) | self.next_req
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Node>, to: NodeId, msg: Msg) {
        if msg.is_maintenance() {
            self.counters.maintenance_messages += 1;
            match msg {
                Msg::GetNeighbours { .. } | Msg::Neighbours { .. } | Msg::Notify { .. } => {
                    self.counters.stabilize_messages += 1
                }
                Msg::Ping { .. } | Msg::Pong { .. } => self.counters.check_predecessor_messages += 1,
                _ => {}
            }
        }
        ctx.send(to, msg);
    }

    fn wait(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, what: Pending) {
        let timer = ctx.set_timer(ms(self.params.request_timeout_ms), Timer::Timeout { req });
        self.pending.insert(req, (what, timer));
    }

    fn take(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) -> Option<Pending> {
        let (what, timer) = self.pending.remove(&req)?;
        ctx.cancel_timer(timer);
        Some(what)
    }

    // ---- life cycle ----

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let index = self.me.node.index();
        if !self.member && index < self.initial {
            if index == 0 {
                self.become_member(ctx, vec![self.me]);
            } else {
                // `join` bootstrap: one node a millisecond, through n1.
                assert_eq!(self.params.bootstrap, Bootstrap::Join);
                ctx.set_timer(ms(index as u64), Timer::Join);
            }
        }
        for t in self.params.snapshot_at_ms.clone() {
            ctx.set_timer(ms(t), Timer::Snapshot);
        }
        self.arm_periodic(ctx);
        if self.member {
            self.arm_leave(ctx);
        } else if index >= self.initial {
            if let Some(&at) = self.params.spare_join_at_ms.get(index - self.initial) {
                ctx.set_timer(ms(at).max(1), Timer::Join);
            }
            self.arm_join(ctx);
        }
    }

    pub(super) fn on_crash(&mut self) {
        if self.member
            && let Some(last) = self.memberships.last_mut()
            && last.1.is_none()
        {
            // The report ends the interval at the crash from the fault log.
            last.1 = Some(SimTime::MAX);
        }
        self.member = false;
        self.succs.clear();
        self.pred = None;
        self.fingers.iter_mut().for_each(|f| *f = None);
        self.store.clear();
        self.last_push = None;
        self.pending.clear();
        self.boots += 1;
        self.next_req = 0;
    }

    /// A restarted node lost its ring state: it joins again.
    pub(super) fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.arm_periodic(ctx);
        ctx.set_timer(1, Timer::Join);
    }

    fn arm_periodic(&mut self, ctx: &mut Ctx<'_, Node>) {
        // Random phases, so a thousand nodes do not stabilise in lockstep.
        for (interval, timer) in [
            (self.params.stabilize_interval_ms, Timer::Stabilize),
            (self.params.fix_fingers_interval_ms, Timer::FixFingers),
            (self.params.check_predecessor_interval_ms, Timer::CheckPredecessor),
        ] {
            let at = 1 + ctx.rng().below(ms(interval));
            ctx.set_timer(at, timer);
        }
    }

    fn churn_open(&self, ctx: &Ctx<'_, Node>) -> bool {
        self.params.churn_stop_ms == 0 || ctx.now() < SimTime::from_ms(self.params.churn_stop_ms)
    }

    /// An exponential delay for a per-node rate `rate_per_s`.
    fn exp_delay(ctx: &mut Ctx<'_, Node>, rate_per_s: f64) -> u64 {
        let mean_ms = 1000.0 / rate_per_s;
        ms_f64_to_ns(Dist::Exponential { mean: mean_ms, offset: 0.0 }.sample(ctx.rng())).max(1)
    }

    fn arm_join(&mut self, ctx: &mut Ctx<'_, Node>) {
        let spares = (self.all.len() - self.initial).max(1) as f64;
        let rate = self.params.join_rate_per_s / spares;
        if rate > 0.0 && self.churn_open(ctx) {
            let d = Self::exp_delay(ctx, rate);
            ctx.set_timer(d, Timer::Join);
        }
    }

    fn arm_leave(&mut self, ctx: &mut Ctx<'_, Node>) {
        let rate = self.params.leave_rate_per_s / self.initial as f64;
        if rate > 0.0 && self.churn_open(ctx) {
            let d = Self::exp_delay(ctx, rate);
            ctx.set_timer(d, Timer::Leave);
        }
    }

    fn become_member(&mut self, ctx: &mut Ctx<'_, Node>, succs: Vec<Peer>) {
        self.member = true;
        self.succs = succs;
        self.pred = None;
        let (m, succ) = (self.params.m, self.succ());
        for (i, f) in self.fingers.iter_mut().enumerate() {
            let start = self.me.id.add(Id::pow2(i as u32), m);
            *f = (succ != self.me && start.in_half_open(self.me.id, succ.id)).then_some(succ);
        }
        self.memberships.push((ctx.now(), None));
        self.counters.joins += 1;
        self.arm_leave(ctx);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        match timer {
            Timer::Stabilize => {
                self.stabilize(ctx);
                ctx.set_timer(ms(self.params.stabilize_interval_ms), Timer::Stabilize);
            }
            Timer::FixFingers => {
                self.fix_fingers(ctx);
                ctx.set_timer(ms(self.params.fix_fingers_interval_ms), Timer::FixFingers);
            }
            Timer::CheckPredecessor => {
                if self.member
                    && let Some(pred) = self.pred
                {
                    let req = self.req();
                    self.send(ctx, pred.node, Msg::Ping { nonce: req });
                    self.wait(ctx, req, Pending::Ping { pred });
                }
                ctx.set_timer(ms(self.params.check_predecessor_interval_ms), Timer::CheckPredecessor);
            }
            Timer::Join => self.start_join(ctx),
            Timer::Leave => {
                if self.member && self.churn_open(ctx) {
                    self.leave(ctx);
                }
            }
            Timer::Snapshot => {
                let state = self.state();
                self.snapshots.push((ctx.now(), state));
            }
            Timer::Timeout { req } => self.timed_out(ctx, req),
        }
    }

    fn start_join(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.member || self.pending.values().any(|(p, _)| matches!(p, Pending::Join)) {
            return;
        }
        // Any known node will do; the initial nodes are the ones we know.
        let mut via = self.all[ctx.rng().below(self.initial as u64) as usize];
        if via == self.me {
            via = self.all[(via.node.index() + 1) % self.initial.max(1)];
        }
        if via == self.me {
            // The only initial node, restarted: it starts a ring of its own.
            self.become_member(ctx, vec![self.me]);
            return;
        }
        let req = self.req();
        ctx.send(via.node, Msg::Route { req, origin: self.me.node, target: self.me.id, hops: 0 });
        self.wait(ctx, req, Pending::Join);
    }

    fn timed_out(&mut self, ctx: &mut Ctx<'_, Node>, req: u64) {
        let Some((what, _)) = self.pending.remove(&req) else { return };
        match what {
            Pending::Join => {
                ctx.set_timer(1, Timer::Join);
            }
            Pending::Finger { via, .. } => self.forget(via),
            Pending::Stabilize { succ } => {
                self.counters.successor_failovers += 1;
                self.forget(succ);
            }
            Pending::Ping { pred } => {
                if self.pred == Some(pred) {
                    self.pred = None;
                }
            }
        }
    }

    /// Drops a node believed dead from every table.
    fn forget(&mut self, dead: Peer) {
        if dead == self.me {
            return;
        }
        self.succs.retain(|p| *p != dead);
        for f in self.fingers.iter_mut().filter(|f| **f == Some(dead)) {
            *f = None;
        }
        if self.pred == Some(dead) {
            self.pred = None;
        }
        if self.member && self.succs.is_empty() {
            // No successor left: fall back on the nearest finger, else
            // on being alone. Stabilisation walks back from there.
            let fallback = self.fingers.iter().flatten().copied().find(|p| *p != self.me);
            self.succs = vec![fallback.unwrap_or(self.me)];
        }
    }

    fn stabilize(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !self.member {
            return;
        }
        let succ = self.succ();
        if succ == self.me {
            // Alone: our predecessor, if any, is our successor too.
            if let Some(p) = self.pred {
                self.succs = vec![p];
            }
            return;
        }
        let req = self.req();
        self.send(ctx, succ.node, Msg::GetNeighbours { nonce: req });
        self.wait(ctx, req, Pending::Stabilize { succ });
    }

    fn on_neighbours(&mut self, ctx: &mut Ctx<'_, Node>, succ: Peer, pred: Option<Peer>, theirs: Vec<Peer>) {
        if !self.member {
            return;
        }
        let r = self.params.successor_list_len as usize;
        let mut list = vec![succ];
        list.extend(theirs);
        if let Some(x) = pred
            && x != self.me
            && x.id.in_open(self.me.id, succ.id)
        {
            list.insert(0, x);
        }
        let mut succs: Vec<Peer> = Vec::with_capacity(r);
        for p in list {
            if p == self.me {
                break;
            }
            if !succs.contains(&p) && succs.len() < r {
                succs.push(p);
            }
        }
        if succs.is_empty() {
            succs.push(succ);
        }
        self.succs = succs;
        let head = self.succ();
        self.send(ctx, head.node, Msg::Notify { peer: self.me });
        self.maybe_replicate(ctx);
    }

    fn on_notify(&mut self, ctx: &mut Ctx<'_, Node>, peer: Peer) {
        if !self.member || peer == self.me {
            return;
        }
        let accept = match self.pred {
            None => true,
            Some(p) => peer.id.in_open(p.id, self.me.id),
        };
        if !accept {
            return;
        }
        self.pred = Some(peer);
        if self.succ() == self.me {
            self.succs = vec![peer];
        }
        // Key transfer: what the new predecessor now owns. We keep our
        // copies: they are replicas now.
        let entries: Vec<(Key, Stored)> = self
            .store
            .iter()
            .filter(|(k, _)| !key_id(**k, self.params.m).in_half_open(peer.id, self.me.id))
            .map(|(k, s)| (*k, *s))
            .collect();
        if !entries.is_empty() {
            self.counters.keys_transferred += entries.len() as u64;
            ctx.send(peer.node, Msg::Store { entries });
        }
        self.maybe_replicate(ctx);
    }

    /// Re-replication: whenever our predecessor or our first k successors
    /// change, push the keys we own to the k successors.
    fn maybe_replicate(&mut self, ctx: &mut Ctx<'_, Node>) {
        let k = self.params.replicas as usize;
        let Some(pred) = self.pred else { return };
        if k == 0 {
            return;
        }
        let targets: Vec<NodeId> = self.succs.iter().filter(|p| **p != self.me).take(k).map(|p| p.node).collect();
        let now = (Some(pred), targets.clone());
        if self.last_push.as_ref() == Some(&now) {
            return;
        }
        self.last_push = Some(now);
        let m = self.params.m;
        let entries: Vec<(Key, Stored)> = self
            .store
            .iter()
            .filter(|(key, _)| key_id(**key, m).in_half_open(pred.id, self.me.id))
            .map(|(k, s)| (*k, *s))
            .collect();
        if entries.is_empty() {
            return;
        }
        for t in targets {
            self.counters.replication_messages += 1;
            ctx.send(t, Msg::Store { entries: entries.clone() });
        }
    }

    fn fix_fingers(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !self.member {
            return;
        }
        let m = self.params.m;
        let succ = self.succ();
        // Fingers that fall before our successor need no message.
        for _ in 0..m {
            let i = self.next_finger;
            let start = self.me.id.add(Id::pow2(i), m);
            if succ != self.me && start.in_half_open(self.me.id, succ.id) {
                self.fingers[i as usize] = Some(succ);
                self.next_finger = (i + 1) % m;
                continue;
            }
            if succ == self.me {
                self.fingers[i as usize] = None;
                self.next_finger = (i + 1) % m;
                return;
            }
            let Some(&via) = self.closest_preceding(start).first() else {
                // Nobody we know lies between us and the start: our successor it is.
                self.finger_found(i, succ);
                return;
            };
            let req = self.req();
            self.counters.fix_finger_lookups += 1;
            ctx.send(via.node, Msg::Route { req, origin: self.me.node, target: start, hops: 1 });
            self.wait(ctx, req, Pending::Finger { i, via });
            return;
        }
    }

    /// Finger `i`'s lookup answered `owner`: it and the next fingers whose
    /// starts precede `owner` point to it.
    fn finger_found(&mut self, i: u32, owner: Peer) {
        let m = self.params.m;
        let mut j = i;
        loop {
            self.fingers[j as usize] = Some(owner);
            j += 1;
            if j >= m || !self.me.id.add(Id::pow2(j), m).in_half_open(self.me.id, owner.id) {
                break;
            }
        }
        self.next_finger = j % m;
    }

    /// The best nodes to ask about `target`: the known nodes strictly
    /// between us and the target, closest to it first.
    fn closest_preceding(&self, target: Id) -> Vec<Peer> {
        let mut cands: Vec<Peer> = self
            .fingers
            .iter()
            .rev()
            .flatten()
            .chain(self.succs.iter())
            .copied()
            .filter(|p| *p != self.me && p.id.in_open(self.me.id, target))
            .collect();
        // Closest to the target = farthest from us, clockwise.
        let me = self.me.id;
        cands.sort_by_key(|p| std::cmp::Reverse(distance(me, p.id, self.params.m)));
        cands.dedup();
        cands.truncate(REFERRAL_WIDTH);
        cands
    }

    /// The owner of `target` if it is our successor.
    fn owner_if_next(&self, target: Id) -> Option<Peer> {
        let succ = self.succ();
        (succ == self.me || target.in_half_open(self.me.id, succ.id)).then_some(succ)
    }

    /// One recursive step: answer `origin` or forward. Returns the node
    /// forwarded to (for our own lookups), `None` if answered here.
    fn route(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, origin: NodeId, target: Id, hops: u32) -> Option<Peer> {
        if !self.member {
            ctx.send(origin, Msg::NotMember { req });
            return None;
        }
        if hops > 2 * self.params.m + 8 {
            // A routing loop while tables are mid-repair: drop the query;
            // its origin times out and retries.
            return None;
        }
        let next = match self.owner_if_next(target) {
            Some(_) => None,
            None => self.closest_preceding(target).first().copied(),
        };
        match next {
            Some(next) => {
                ctx.send(next.node, Msg::Route { req, origin, target, hops: hops + 1 });
                Some(next)
            }
            None => {
                let owner = self.owner_if_next(target).unwrap_or(self.succ());
                if origin == self.me.node {
                    self.on_route_done(ctx, req, owner);
                } else {
                    ctx.send(origin, Msg::RouteDone { req, owner, hops });
                }
                None
            }
        }
    }

    fn on_route_done(&mut self, ctx: &mut Ctx<'_, Node>, req: u64, owner: Peer) {
        match self.take(ctx, req) {
            Some(Pending::Join) => {
                if !self.member && owner != self.me {
                    self.become_member(ctx, vec![owner]);
                    self.stabilize(ctx);
                }
            }
            Some(Pending::Finger { i, .. }) => {
                if self.member {
                    self.finger_found(i, owner);
                }
            }
            // A late answer, or a reply for stabilize or a ping: ignore.
            Some(_) | None => {}
        }
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Node>) {
        let succ = self.succ();
        if succ != self.me {
            let entries: Vec<(Key, Stored)> = self.store.iter().map(|(k, s)| (*k, *s)).collect();
            if !entries.is_empty() {
                self.counters.keys_transferred += entries.len() as u64;
                ctx.send(succ.node, Msg::Store { entries });
            }
            self.send(ctx, succ.node, Msg::LeavingToSucc { pred: self.pred });
            if let Some(pred) = self.pred {
                let succs = self.succs.clone();
                self.send(ctx, pred.node, Msg::LeavingToPred { succs });
            }
        }
        self.member = false;
        self.succs.clear();
        self.pred = None;
        self.fingers.iter_mut().for_each(|f| *f = None);
        self.store.clear();
        self.last_push = None;
        if let Some(last) = self.memberships.last_mut() {
            last.1 = Some(ctx.now());
        }
        self.counters.leaves += 1;
        self.arm_join(ctx);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::FindNext { req, target } => {
                let reply = if !self.member {
                    Msg::NextReply { req, owner: None, next: Vec::new(), member: false }
                } else if let Some(owner) = self.owner_if_next(target) {
                    Msg::NextReply { req, owner: Some(owner), next: Vec::new(), member: true }
                } else {
                    let mut next = self.closest_preceding(target);
                    if next.is_empty() {
                        next.push(self.succ());
                    }
                    Msg::NextReply { req, owner: None, next, member: true }
                };
                ctx.send(from, reply);
            }
            Msg::Route { req, origin, target, hops } => {
                self.route(ctx, req, origin, target, hops);
            }
            Msg::RouteDone { req, owner, .. } => self.on_route_done(ctx, req, owner),
            Msg::NotMember { req } => {
                // A node outside the ring (it left, or restarted): forget
                // it; if our join went through it, try another.
                self.forget_node(from);
                if let Some(Pending::Join) = self.take(ctx, req) {
                    ctx.set_timer(1, Timer::Join);
                }
            }
            Msg::GetNeighbours { nonce } => {
                if self.member {
                    let reply = Msg::Neighbours { nonce, pred: self.pred, succs: self.succs.clone() };
                    self.send(ctx, from, reply);
                }
            }
            Msg::Neighbours { nonce, pred, succs } => {
                if let Some(Pending::Stabilize { succ }) = self.take(ctx, nonce) {
                    self.on_neighbours(ctx, succ, pred, succs);
                }
            }
            Msg::Notify { peer } => self.on_notify(ctx, peer),
            Msg::Ping { nonce } => self.send(ctx, from, Msg::Pong { nonce }),
            Msg::Pong { nonce } => {
                self.take(ctx, nonce);
            }
            Msg::Get { req, key } => {
                let value = self.store.get(&key).map(|s| s.value);
                ctx.send(from, Msg::GetReply { req, value });
            }
            Msg::Put { req, key, value } => {
                let stored = Stored { stamp: (ctx.now().as_nanos(), value.id), value };
                self.merge(key, stored);
                let k = self.params.replicas as usize;
                let targets: Vec<NodeId> =
                    self.succs.iter().filter(|p| **p != self.me).take(k).map(|p| p.node).collect();
                for t in targets {
                    self.counters.replication_messages += 1;
                    ctx.send(t, Msg::Store { entries: vec![(key, stored)] });
                }
                // A client whose lookup predates our new predecessor wrote
                // here after the key transfer: pass the write on to it.
                if let Some(p) = self.pred
                    && !key_id(key, self.params.m).in_half_open(p.id, self.me.id)
                {
                    ctx.send(p.node, Msg::Store { entries: vec![(key, stored)] });
                }
                ctx.send(from, Msg::PutOk { req });
            }
            Msg::Store { entries } => {
                for (key, stored) in entries {
                    self.merge(key, stored);
                }
            }
            Msg::LeavingToPred { succs } => {
                if self.member && self.succ().node == from {
                    let mut list: Vec<Peer> = succs.into_iter().filter(|p| p.node != from && *p != self.me).collect();
                    if list.is_empty() {
                        list.push(self.me);
                    }
                    self.succs = list;
                    self.last_push = None;
                    self.maybe_replicate(ctx);
                }
                self.forget_node(from);
            }
            Msg::LeavingToSucc { pred } => {
                if self.member && self.pred.is_some_and(|p| p.node == from) {
                    self.pred = pred.filter(|p| *p != self.me);
                    self.maybe_replicate(ctx);
                }
                self.forget_node(from);
            }
            Msg::NextReply { .. } | Msg::GetReply { .. } | Msg::PutOk { .. } => {
                panic!("chord node {:?} got a client's reply {msg:?}", self.me.node)
            }
        }
    }

    fn forget_node(&mut self, node: NodeId) {
        if let Some(p) = self.all.get(node.index()).copied() {
            self.forget(p);
        }
    }

    /// Keeps the newer of two copies of a key.
    fn merge(&mut self, key: Key, stored: Stored) {
        let e = self.store.entry(key).or_insert(stored);
        if stored.stamp > e.stamp {
            *e = stored;
        }
    }
}

/// Clockwise distance from `a` to `b` on a ring of 2^m, as an identifier.
fn distance(a: Id, b: Id, m: u32) -> Id {
    // b - a = b + (2^m - a) = b + (!a + 1) masked.
    let neg = Id([!a.0[0], !a.0[1], !a.0[2]]).add(Id::from_u128(1), m);
    b.add(neg, m)
}

/// successor(x) among `ring`, sorted by identifier.
pub(super) fn successor_in(ring: &[Peer], x: Id) -> Peer {
    let i = ring.partition_point(|p| p.id < x);
    ring[i % ring.len()]
}
