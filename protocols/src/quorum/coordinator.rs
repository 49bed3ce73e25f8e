//! The coordinator's side of gets and puts: choosing the replicas,
//! counting R and W, read repair, and giving up on replicas that do not
//! answer in time.

use super::Node;
use super::msg::{Msg, Timer, Values};
use super::params::{Quorum, ReadRepair, Versioning};
use super::server::Server;
use super::small::{NodeMap, NodeSet};
use super::version::{Stamp, Timestamp, VClock, Version, Versions, context_of, copy_versions, merge_all};
use sim_core::{Ctx, Key, NodeId, SimTime, TimerId, Value, ms};
use smallvec::SmallVec;
use std::collections::BTreeSet;

/// A replica an operation talks to, and the home replica it stands in for
/// when it is not one itself (sloppy quorum).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub node: NodeId,
    pub hint: Option<NodeId>,
}

/// The replicas of one operation: N, plus any a sloppy put moved on to.
/// Inline for N up to four, so planning an operation does not allocate.
pub type Targets = SmallVec<[Target; 4]>;

/// Where a get stands.
#[derive(Clone, Debug, PartialEq)]
enum GetPhase {
    /// Waiting for R replies.
    Reading,
    /// Blocking read repair: writing `answer` back to W replicas first.
    WritingBack { answer: Versions },
    /// The client has its answer; waiting for the remaining replies (async
    /// read repair) or acknowledgements (blocking), or the timeout.
    Answered,
}

#[derive(Clone, Debug)]
pub struct GetTask {
    client: NodeId,
    req: u64,
    key: Key,
    targets: Targets,
    replies: NodeMap<Versions>,
    /// Replicas known to hold the answer (blocking): they replied with it
    /// or acknowledged its write-back.
    holders: NodeSet,
    phase: GetPhase,
    timer: TimerId,
}

#[derive(Clone, Debug)]
pub struct PutTask {
    client: NodeId,
    req: u64,
    key: Key,
    version: Version,
    /// Every replica the put was sent to, in order.
    targets: Targets,
    acked: NodeSet,
    answered: bool,
    timer: TimerId,
}

impl Server {
    /// The replicas for `key`. Strict quorum: the N home replicas. Sloppy:
    /// the first N servers of the preference list not suspected, each
    /// stand-in holding a hint for the home replica it replaces (the first
    /// skipped home replica for the first stand-in, and so on). Written
    /// into `out` (empty), where the caller keeps them: returned, they were
    /// copied out of a value just built, a stall on store forwarding.
    fn plan(&mut self, key: Key, now: SimTime, out: &mut Targets) {
        let range = self.range_cache.range_of(&self.ring, key);
        let homes = self.ring.range_homes(range);
        match self.params.quorum {
            Quorum::Strict => out.extend(homes.iter().map(|&node| Target { node, hint: None })),
            Quorum::Sloppy => {
                let live: Vec<NodeId> = self
                    .ring
                    .range_preference(range)
                    .iter()
                    .copied()
                    .filter(|&n| !self.suspects(n, now))
                    .take(self.ring.n())
                    .collect();
                let mut skipped = homes.iter().copied().filter(|h| !live.contains(h));
                out.extend(live.iter().map(|&node| {
                    let hint = if homes.contains(&node) {
                        None
                    } else {
                        Some(skipped.next().expect("a stand-in replaces a skipped home replica"))
                    };
                    Target { node, hint }
                }));
            }
        }
    }

    fn live_targets(&self, targets: &[Target], now: SimTime) -> usize {
        targets.iter().filter(|t| !self.suspects(t.node, now)).count()
    }

    pub(super) fn coordinate_put(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        client: NodeId,
        req: u64,
        key: Key,
        value: Value,
        clock: Option<VClock>,
    ) {
        self.counters.puts_coordinated += 1;
        let now = ctx.now();
        let stamp = match (self.params.versioning, clock) {
            (Versioning::Lww, None) => Stamp::Lww(Timestamp { time_ns: self.timestamp_ns(now), node: self.me }),
            (Versioning::VectorClocks, Some(clock)) => {
                assert!(
                    clock.len() <= self.params.vector_clock_max_entries as usize,
                    "client sent an untruncated clock"
                );
                Stamp::Clock(Box::new(clock))
            }
            (v, c) => panic!("put of key {key} under {v:?} with clock {c:?}"),
        };
        let mut targets = Targets::new();
        self.plan(key, now, &mut targets);
        let w = self.params.w as usize;
        if self.live_targets(&targets, now) < w {
            // Fewer than W replicas believed up: refuse before writing
            // anything, so the client knows the put did not happen.
            self.counters.puts_failed += 1;
            self.send(ctx, client, Msg::Failed { req, written: false });
            return;
        }
        let op = self.next_op();
        let version = Version { value, stamp };
        for t in &targets {
            let msg = Msg::Write { op, key, versions: Versions::from_buf([version.clone()]), hint: t.hint };
            self.send(ctx, t.node, msg);
        }
        let timer = ctx.set_timer(ms(self.params.replica_timeout_ms), Timer::Replica { op });
        if let Some(task) = self.puts.reuse(op) {
            // A finished put's slot, overwritten in place. Every field is
            // named, so that none keeps the finished put's value.
            let PutTask { client: c, req: r, key: k, version: v, targets: t, acked: a, answered: ans, timer: tm } =
                task;
            (*c, *r, *k, *v, *t, *a, *ans, *tm) =
                (client, req, key, version, targets, NodeSet::default(), false, timer);
        } else {
            let task =
                PutTask { client, req, key, version, targets, acked: NodeSet::default(), answered: false, timer };
            self.puts.insert(op, task);
        }
    }

    pub(super) fn coordinate_get(&mut self, ctx: &mut Ctx<'_, Node>, client: NodeId, req: u64, key: Key) {
        self.counters.gets_coordinated += 1;
        let now = ctx.now();
        let mut targets = Targets::new();
        self.plan(key, now, &mut targets);
        // A blocking get also writes back to W replicas: with fewer than
        // that believed alive it cannot finish, so it fails at once.
        let needed = match self.params.read_repair {
            ReadRepair::Blocking => self.params.r.max(self.params.w),
            ReadRepair::None | ReadRepair::Async => self.params.r,
        };
        if self.live_targets(&targets, now) < needed as usize {
            self.counters.gets_failed += 1;
            self.send(ctx, client, Msg::Failed { req, written: false });
            return;
        }
        let op = self.next_op();
        for t in &targets {
            self.send(ctx, t.node, Msg::Read { op, key });
        }
        let timer = ctx.set_timer(ms(self.params.replica_timeout_ms), Timer::Replica { op });
        if let Some(task) = self.gets.reuse(op) {
            // As for puts: a finished get's slot, every field overwritten.
            let GetTask { client: c, req: r, key: k, targets: t, replies, holders, phase, timer: tm } = task;
            (*c, *r, *k, *t, *holders, *phase, *tm) =
                (client, req, key, targets, NodeSet::default(), GetPhase::Reading, timer);
            replies.clear();
        } else {
            let task = GetTask {
                client,
                req,
                key,
                targets,
                replies: NodeMap::default(),
                holders: NodeSet::default(),
                phase: GetPhase::Reading,
                timer,
            };
            self.gets.insert(op, task);
        }
    }

    pub(super) fn on_write_ack(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, op: u64, key: Key) {
        let w = self.params.w as usize;
        if let Some(put) = self.puts.get_mut(op) {
            assert_eq!(put.key, key, "ack for op {op} names the wrong key");
            if !put.targets.iter().any(|t| t.node == from) {
                return;
            }
            put.acked.insert(from);
            let reply = (!put.answered && put.acked.len() >= w).then_some((put.client, put.req));
            let all_acked = put.acked.len() == put.targets.len();
            let timer = put.timer;
            if let Some((client, req)) = reply {
                put.answered = true;
                self.counters.puts_ok += 1;
                self.send(ctx, client, Msg::PutOk { req });
            }
            if all_acked {
                self.puts.discard(op);
                ctx.cancel_timer(timer);
            }
        } else if let Some(get) = self.gets.get_mut(op) {
            assert_eq!(get.key, key, "write-back ack for op {op} names the wrong key");
            if get.targets.iter().any(|t| t.node == from) {
                get.holders.insert(from);
                self.progress_get(ctx, op);
            }
        }
    }

    pub(super) fn on_read_reply(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        op: u64,
        key: Key,
        versions: Versions,
    ) {
        let Some(get) = self.gets.get_mut(op) else { return };
        assert_eq!(get.key, key, "read reply for op {op} names the wrong key");
        if !get.targets.iter().any(|t| t.node == from) {
            return;
        }
        if let GetPhase::WritingBack { answer } = &get.phase
            && *answer == versions
        {
            get.holders.insert(from);
        }
        get.replies.insert(from, versions);
        self.progress_get(ctx, op);
    }

    /// Moves a get on after a reply or an acknowledgement.
    fn progress_get(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let r = self.params.r as usize;
        let w = self.params.w as usize;
        let get = self.gets.get_mut(op).expect("progress of a live get");
        match &mut get.phase {
            GetPhase::Reading if get.replies.len() >= r => {
                let answer = merge_all(get.replies.values());
                if self.params.read_repair != ReadRepair::Blocking {
                    self.answer_get(ctx, op, &answer);
                    self.maybe_finish_get(ctx, op);
                    return;
                }
                // ABD's second phase: the answer must be on W replicas
                // before the client sees it, so that every later read
                // quorum meets a replica that holds it.
                get.holders = get.replies.iter().filter(|(_, vs)| **vs == answer).map(|(n, _)| *n).collect();
                let behind: Targets = get.targets.iter().copied().filter(|t| !get.holders.contains(&t.node)).collect();
                get.phase = GetPhase::WritingBack { answer: copy_versions(&answer) };
                let key = get.key;
                ctx.cancel_timer(get.timer);
                get.timer = ctx.set_timer(ms(self.params.replica_timeout_ms), Timer::Replica { op });
                if !answer.is_empty() {
                    for t in behind {
                        self.counters.read_repairs += 1;
                        let msg = Msg::WriteBack { op, key, versions: copy_versions(&answer), hint: t.hint };
                        self.send(ctx, t.node, msg);
                    }
                }
                self.progress_get(ctx, op);
            }
            GetPhase::WritingBack { answer } => {
                // Nothing to write back when nothing was read: every replica
                // asked holds nothing, or the key was never written.
                if get.holders.len() >= w || answer.is_empty() {
                    // Taken, not cloned: answering ends the write-back phase.
                    let answer = std::mem::take(answer);
                    self.answer_get(ctx, op, &answer);
                    self.maybe_finish_get(ctx, op);
                }
            }
            GetPhase::Answered => self.maybe_finish_get(ctx, op),
            GetPhase::Reading => {}
        }
    }

    fn answer_get(&mut self, ctx: &mut Ctx<'_, Node>, op: u64, answer: &Versions) {
        let get = self.gets.get_mut(op).expect("answer of a live get");
        assert_ne!(get.phase, GetPhase::Answered, "get {op} answered twice");
        get.phase = GetPhase::Answered;
        let (client, req) = (get.client, get.req);
        let values: Values = match answer.as_slice() {
            [one] => Values::from_buf([one.value]),
            many => many.iter().map(|v| v.value).collect(),
        };
        assert!(values.windows(2).all(|p| p[0].id < p[1].id), "versions are sorted by distinct value ids: {values:?}");
        let c = &mut self.counters;
        c.gets_ok += 1;
        c.versions_returned += values.len() as u64;
        c.max_versions_per_get = c.max_versions_per_get.max(values.len() as u64);
        if values.len() > 1 {
            c.gets_with_siblings += 1;
        }
        let context = context_of(answer);
        self.send(ctx, client, Msg::GetOk { req, values, context });
    }

    /// Ends an answered get once every target replied (async repair) or
    /// holds the answer (blocking); otherwise the timeout ends it.
    fn maybe_finish_get(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let get = self.gets.get(op).expect("a live get");
        let done = match self.params.read_repair {
            ReadRepair::Blocking => get.targets.iter().all(|t| get.holders.contains(&t.node)),
            ReadRepair::None | ReadRepair::Async => get.replies.len() == get.targets.len(),
        };
        if done {
            ctx.cancel_timer(get.timer);
            let key = get.key;
            let repairs = self.async_repairs(get);
            // Dropped where it lies: moving the task out would copy it.
            self.gets.discard(op);
            if let Some((merged, behind)) = repairs {
                self.send_repairs(ctx, key, &merged, &behind);
            }
        }
    }

    /// Async read repair: the merge of every reply and the replicas that
    /// replied with less, if any did.
    fn async_repairs(&self, get: &GetTask) -> Option<(Versions, Targets)> {
        if self.params.read_repair != ReadRepair::Async {
            return None;
        }
        // Replicas that all replied alike need nothing: the merge of one
        // set of versions, however often, is that set. This is the usual
        // case, and it skips the merge.
        let mut replies = get.replies.values();
        let first = replies.next()?;
        if replies.all(|vs| vs == first) {
            return None;
        }
        let merged = merge_all(get.replies.values());
        let behind: Targets =
            get.targets.iter().copied().filter(|t| get.replies.get(&t.node).is_some_and(|vs| *vs != merged)).collect();
        (!behind.is_empty()).then_some((merged, behind))
    }

    /// Sends the merged versions to the replicas that replied with less.
    fn send_repairs(&mut self, ctx: &mut Ctx<'_, Node>, key: Key, merged: &Versions, behind: &[Target]) {
        for t in behind {
            self.counters.read_repairs += 1;
            let msg = Msg::ReadRepair { key, versions: copy_versions(merged), hint: t.hint };
            self.send(ctx, t.node, msg);
        }
    }

    /// The replicas of `op` had their time: suspect the silent ones, then
    /// fail the operation, finish it, or (sloppy put) try further nodes.
    pub(super) fn on_replica_timeout(&mut self, ctx: &mut Ctx<'_, Node>, op: u64) {
        let now = ctx.now();
        if let Some(get) = self.gets.remove(op) {
            let silent: Vec<NodeId> = get
                .targets
                .iter()
                .map(|t| t.node)
                .filter(|n| !get.replies.contains_key(n) && !get.holders.contains(n))
                .collect();
            for n in silent {
                self.suspect(n, now);
            }
            if get.phase == GetPhase::Answered {
                if let Some((merged, behind)) = self.async_repairs(&get) {
                    self.send_repairs(ctx, get.key, &merged, &behind);
                }
            } else {
                self.counters.gets_failed += 1;
                self.send(ctx, get.client, Msg::Failed { req: get.req, written: false });
            }
            return;
        }
        let Some(mut put) = self.puts.remove(op) else { panic!("replica timer of unknown op {op}") };
        let silent: Vec<Target> = put.targets.iter().copied().filter(|t| !put.acked.contains(&t.node)).collect();
        for t in &silent {
            self.suspect(t.node, now);
        }
        if put.answered {
            return;
        }
        if self.params.quorum == Quorum::Sloppy {
            // The first N live nodes have changed: hand each silent
            // target's share to the next live node of the preference list.
            let tried: BTreeSet<NodeId> = put.targets.iter().map(|t| t.node).collect();
            let mut fresh = self
                .ring
                .preference_list(put.key)
                .iter()
                .copied()
                .filter(|n| !tried.contains(n) && !self.suspects(*n, now))
                .collect::<Vec<_>>()
                .into_iter();
            let mut sent = false;
            for s in silent {
                let Some(node) = fresh.next() else { break };
                let intended = s.hint.unwrap_or(s.node);
                let hint = if self.ring.is_home(node, put.key) { None } else { Some(intended) };
                let msg = Msg::Write { op, key: put.key, versions: Versions::from_buf([put.version.clone()]), hint };
                self.send(ctx, node, msg);
                put.targets.push(Target { node, hint });
                sent = true;
            }
            if sent {
                put.timer = ctx.set_timer(ms(self.params.replica_timeout_ms), Timer::Replica { op });
                self.puts.insert(op, put);
                return;
            }
        }
        // Some replicas may have stored the put: its outcome is unknown.
        self.counters.puts_failed += 1;
        self.send(ctx, put.client, Msg::Failed { req: put.req, written: true });
    }
}
