//! A client machine: runs file operations against its caches and calls the
//! server when they cannot answer. One state machine per operation: each
//! time a reply arrives the operation looks at the caches again and either
//! completes or makes the next call, so a lookup, a getattr and a read
//! follow each other without a hand-written sequence per operation.

use super::msg::{Attr, Call, Errno, Fh, Msg, Promise, Record, Reply, Timer, first_id, next_boot};
use super::params::{MAX_RPC_BACKOFF_MS, Mode, Params};
use sim_core::{Ctx, Key, NodeId, Op, OpArg, OpId, OpKind, OpStatus, Output, SimTime, TimerId, Value, ms};
use std::collections::{BTreeMap, BTreeSet};

/// One call of an operation, as the per-operation table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallNote {
    /// The call's message kind (`getattr`, `fetch`, ...).
    pub kind: &'static str,
    pub xid: u64,
    /// A retransmission of an earlier call with the same xid.
    pub retry: bool,
}

/// What one operation did, for the table and the hit rates. Observation
/// only: kept across crashes, never read by the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpLine {
    pub op: OpId,
    pub calls: Vec<CallNote>,
}

/// A client's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientCounters {
    /// Read and read_file operations that completed ok.
    pub reads: u64,
    /// Of those, the ones that moved no data from the server.
    pub reads_from_cache: u64,
    pub blocks_read: u64,
    pub blocks_from_cache: u64,
    pub opens: u64,
    /// Opens that made no call at all.
    pub opens_from_cache: u64,
    pub calls: u64,
    pub retransmissions: u64,
    /// Calls that ran out of retries: their operation failed or ended unknown.
    pub calls_given_up: u64,
    /// NFS: times new attributes showed another client's change and the
    /// file's cached blocks were dropped.
    pub invalidations: u64,
    /// Times the client noticed the server had restarted (a new epoch).
    pub server_restarts_seen: u64,
    /// Callback breaks and lease recalls received.
    pub breaks_received: u64,
}

/// NFS: attributes with when they were fetched and for how long they count.
#[derive(Copy, Clone, Debug)]
struct AttrEntry {
    attr: Attr,
    /// When the call that brought them was first sent: attributes are at
    /// least this fresh.
    fetched_at: SimTime,
    timeout_ns: u64,
}

/// AFS and leases: how far a whole-file copy can be trusted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Validity {
    Callback,
    Until(SimTime),
    Invalid,
}

/// AFS and leases: a whole-file copy. AFS keeps it on the client's local
/// disk, so it survives a client crash (marked suspect); leases keep the
/// same shape.
#[derive(Clone, Debug)]
struct FileCopy {
    blocks: Vec<Value>,
    version: u64,
    validity: Validity,
    dirty: BTreeSet<u32>,
}

#[derive(Clone, Debug)]
struct Outstanding {
    call: Call,
    op: Option<OpId>,
    first_sent: SimTime,
    attempt: u32,
    timer: TimerId,
}

/// An operation in progress.
#[derive(Clone, Debug)]
struct Pending {
    op: Op,
    line: usize,
    /// Calls of this operation not yet answered.
    waiting: u32,
    /// This operation already has fresh attributes (NFS) or a copy it
    /// fetched or validated itself (AFS, leases).
    fresh: bool,
    /// NFS read_file: blocks this operation read from the server.
    got: BTreeMap<u32, Value>,
    err: Option<Errno>,
    create_tried: bool,
    exist_seen: bool,
    /// Writes (write-through) or the flush (close) or the store were sent.
    sent: bool,
    /// Some call brought data from the server.
    moved_data: bool,
}

#[derive(Clone, Debug)]
pub struct Client {
    params: Params,
    blocks_per_file: u32,
    server: NodeId,
    next_xid: u64,
    calls: BTreeMap<u64, Outstanding>,
    ops: BTreeMap<OpId, Pending>,
    handles: BTreeMap<Key, Fh>,
    attrs: BTreeMap<Key, AttrEntry>,
    clean: BTreeMap<(Key, u32), Value>,
    dirty: BTreeMap<(Key, u32), Value>,
    copies: BTreeMap<Key, FileCopy>,
    /// When a break for each file last arrived: a reply to a call sent
    /// before then may carry a promise the server has already broken (the
    /// break overtook the reply), so it is not trusted.
    broken_at: BTreeMap<Key, SimTime>,
    /// Files opened since this client last started: a session that
    /// outlived a crash of its client (the workload carries on with it)
    /// revalidates before trusting a copy it did not open.
    opened: BTreeSet<Key>,
    epoch: Option<u64>,
    counters: ClientCounters,
    log: Vec<OpLine>,
}

/// Every block of `file` in a cache keyed by (file, block).
fn blocks_of<V>(map: &BTreeMap<(Key, u32), V>, file: Key) -> impl Iterator<Item = (&(Key, u32), &V)> {
    map.range((file, 0)..=(file, u32::MAX))
}

impl Client {
    pub fn new(params: Params, blocks_per_file: u32, server: NodeId) -> Client {
        Client {
            params,
            blocks_per_file,
            server,
            next_xid: 0,
            calls: BTreeMap::new(),
            ops: BTreeMap::new(),
            handles: BTreeMap::new(),
            attrs: BTreeMap::new(),
            clean: BTreeMap::new(),
            dirty: BTreeMap::new(),
            copies: BTreeMap::new(),
            broken_at: BTreeMap::new(),
            opened: BTreeSet::new(),
            epoch: None,
            counters: ClientCounters::default(),
            log: Vec::new(),
        }
    }

    pub fn counters(&self) -> &ClientCounters {
        &self.counters
    }

    pub fn log(&self) -> &[OpLine] {
        &self.log
    }

    /// Whether the client holds a copy of `file` it may use without asking
    /// (a callback, or a lease not yet expired at `now`).
    pub fn trusts_copy(&self, file: Key, now: SimTime) -> bool {
        self.copies.get(&file).is_some_and(|c| match c.validity {
            Validity::Callback => true,
            Validity::Until(t) => now < t,
            Validity::Invalid => false,
        })
    }

    /// NFS: the attribute-cache timeout of `file` now, if it has attributes.
    pub fn attr_timeout_ms(&self, file: Key) -> Option<u64> {
        self.attrs.get(&file).map(|e| e.timeout_ns / ms(1))
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        self.boot(ctx);
    }

    fn boot(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        let n = next_boot(ctx.disk().synced());
        ctx.disk().write(Record::Boot { n });
        ctx.disk().sync();
        self.next_xid = first_id(n);
        if self.params.mode != Mode::Nfs && self.params.probe_interval_ms > 0 {
            ctx.set_timer(ms(self.params.probe_interval_ms), Timer::Probe);
        }
    }

    /// Memory is gone; an AFS-style copy on the local disk survives without
    /// its promise (it must be revalidated), unless it held unstored writes.
    pub fn on_crash(&mut self) {
        self.calls.clear();
        self.ops.clear();
        self.handles.clear();
        self.attrs.clear();
        self.clean.clear();
        self.dirty.clear();
        self.epoch = None;
        self.broken_at.clear();
        self.opened.clear();
        self.copies.retain(|_, c| c.dirty.is_empty());
        for c in self.copies.values_mut() {
            c.validity = Validity::Invalid;
        }
    }

    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        self.boot(ctx);
    }

    pub fn on_client_op(&mut self, ctx: &mut Ctx<'_, super::Node>, id: OpId, op: Op) {
        let line = self.log.len();
        self.log.push(OpLine { op: id, calls: Vec::new() });
        self.ops.insert(
            id,
            Pending {
                op,
                line,
                waiting: 0,
                fresh: false,
                got: BTreeMap::new(),
                err: None,
                create_tried: false,
                exist_seen: false,
                sent: false,
                moved_data: false,
            },
        );
        self.advance(ctx, id);
    }

    fn call(&mut self, ctx: &mut Ctx<'_, super::Node>, op: Option<OpId>, call: Call) {
        let xid = self.next_xid;
        self.next_xid += 1;
        if let Some(id) = op {
            let p = self.ops.get_mut(&id).expect("call for a pending op");
            p.waiting += 1;
            self.log[p.line].calls.push(CallNote { kind: Msg::call_name(&call), xid, retry: false });
        }
        self.counters.calls += 1;
        let timer = ctx.set_timer(ms(self.params.rpc_timeout_ms), Timer::Retransmit { xid, attempt: 0 });
        self.calls.insert(xid, Outstanding { call: call.clone(), op, first_sent: ctx.now(), attempt: 0, timer });
        ctx.send(self.server, Msg::Call { xid, call });
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, super::Node>, timer: Timer) {
        match timer {
            Timer::Retransmit { xid, attempt } => self.retransmit(ctx, xid, attempt),
            Timer::Probe => {
                // One probe at a time: an unanswered one is replaced, not
                // retransmitted, so a down server is probed every interval.
                let old: Vec<u64> = self.calls.iter().filter(|(_, c)| c.call == Call::Probe).map(|(x, _)| *x).collect();
                for x in old {
                    if let Some(c) = self.calls.remove(&x) {
                        ctx.cancel_timer(c.timer);
                    }
                }
                self.call(ctx, None, Call::Probe);
                ctx.set_timer(ms(self.params.probe_interval_ms), Timer::Probe);
            }
            Timer::BreakTimeout { .. } | Timer::LeaseCheck => panic!("client got a server timer"),
        }
    }

    fn retransmit(&mut self, ctx: &mut Ctx<'_, super::Node>, xid: u64, attempt: u32) {
        let Some(out) = self.calls.get_mut(&xid) else { return };
        if out.attempt != attempt {
            return;
        }
        if attempt >= self.params.rpc_retries || out.call == Call::Probe {
            let out = self.calls.remove(&xid).expect("outstanding call");
            if let Some(id) = out.op {
                self.counters.calls_given_up += 1;
                self.give_up(ctx, id);
            }
            return;
        }
        out.attempt += 1;
        let call = out.call.clone();
        let backoff_ms = self.params.rpc_timeout_ms.saturating_mul(1 << (attempt + 1).min(20)).min(MAX_RPC_BACKOFF_MS);
        out.timer = ctx.set_timer(ms(backoff_ms), Timer::Retransmit { xid, attempt: attempt + 1 });
        if let Some(id) = out.op
            && let Some(p) = self.ops.get(&id)
        {
            self.log[p.line].calls.push(CallNote { kind: Msg::call_name(&call), xid, retry: true });
        }
        self.counters.retransmissions += 1;
        ctx.send(self.server, Msg::Call { xid, call });
    }

    /// A call of `id` ran out of retries: reads fail (nothing happened that
    /// anyone could see), writes and closes end unknown (some of their
    /// writes may have reached the server).
    fn give_up(&mut self, ctx: &mut Ctx<'_, super::Node>, id: OpId) {
        let Some(p) = self.ops.get(&id) else { return };
        let status = if p.op.kind.is_write() { OpStatus::Unknown } else { OpStatus::Fail };
        let stale: Vec<u64> = self.calls.iter().filter(|(_, c)| c.op == Some(id)).map(|(x, _)| *x).collect();
        for x in stale {
            if let Some(c) = self.calls.remove(&x) {
                ctx.cancel_timer(c.timer);
            }
        }
        self.finish(ctx, id, status, Output::Nothing);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, super::Node>, id: OpId, status: OpStatus, output: Output) {
        let Some(p) = self.ops.remove(&id) else { return };
        if status == OpStatus::Ok {
            let c = &mut self.counters;
            match p.op.kind {
                OpKind::Read | OpKind::ReadFile => {
                    let blocks = match &output {
                        Output::Values(v) => v.len() as u64,
                        _ => 1,
                    };
                    let fetched = if self.params.mode == Mode::Nfs {
                        (p.got.len() as u64).min(blocks)
                    } else if p.moved_data {
                        blocks
                    } else {
                        0
                    };
                    c.reads += 1;
                    c.blocks_read += blocks;
                    c.blocks_from_cache += blocks - fetched;
                    if !p.moved_data {
                        c.reads_from_cache += 1;
                    }
                }
                OpKind::Open => {
                    c.opens += 1;
                    if self.log[p.line].calls.is_empty() {
                        c.opens_from_cache += 1;
                    }
                }
                _ => {}
            }
        }
        ctx.complete(id, status, output);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, msg: Msg) {
        assert_eq!(from, self.server, "client got a message from {from:?}, not the server");
        match msg {
            Msg::Reply { xid, epoch, reset, reply } => {
                self.note_epoch(epoch, reset);
                let Some(out) = self.calls.remove(&xid) else { return };
                ctx.cancel_timer(out.timer);
                self.apply(&out, reply);
                if let Some(id) = out.op
                    && let Some(p) = self.ops.get_mut(&id)
                {
                    p.waiting -= 1;
                    if p.waiting == 0 {
                        self.advance(ctx, id);
                    }
                }
            }
            Msg::Break { file, lease, store } => {
                self.counters.breaks_received += 1;
                self.broken_at.insert(file, ctx.now());
                if let Some(c) = self.copies.get_mut(&file) {
                    c.validity = Validity::Invalid;
                }
                ctx.send(self.server, Msg::BreakAck { file, lease, store });
            }
            Msg::Call { .. } | Msg::BreakAck { .. } => panic!("client got a server-bound message"),
        }
    }

    /// A new server epoch means the server lost every callback it had
    /// promised; `reset` means it gave up breaking one of ours. Either way
    /// no copy can be trusted until revalidated.
    fn note_epoch(&mut self, epoch: u64, reset: bool) {
        let restarted = self.epoch.is_some_and(|e| e != epoch);
        if restarted {
            self.counters.server_restarts_seen += 1;
        }
        if restarted || reset {
            for c in self.copies.values_mut() {
                c.validity = Validity::Invalid;
            }
        }
        self.epoch = Some(epoch);
    }

    /// What a reply teaches the caches, and the operation that asked.
    fn apply(&mut self, out: &Outstanding, reply: Reply) {
        let at = out.first_sent;
        if let Reply::Error(e) = reply {
            if let Some(p) = out.op.and_then(|id| self.ops.get_mut(&id)) {
                p.err = Some(e);
            }
            // The file is gone (a remove, ours or another client's): what
            // is cached of it describes a file that no longer exists, and a
            // re-created one must be looked up or fetched afresh.
            match (&out.call, e) {
                (Call::Getattr { fh } | Call::Read { fh, .. } | Call::Write { fh, .. }, Errno::Stale) => {
                    self.forget(fh.inode)
                }
                (Call::Fetch { file } | Call::FetchStatus { file, .. } | Call::Remove { file }, Errno::NoEnt) => {
                    self.forget(*file)
                }
                _ => {}
            }
            return;
        }
        match (&out.call, reply) {
            (Call::Lookup { file } | Call::Create { file }, Reply::Handle { fh, attr }) => {
                self.handles.insert(*file, fh);
                self.new_attrs(*file, attr, at, None);
                self.mark(out.op, |p| p.fresh = true);
            }
            (Call::Getattr { fh }, Reply::Attr { attr }) => {
                self.new_attrs(fh.inode, attr, at, None);
                self.mark(out.op, |p| p.fresh = true);
            }
            (Call::Read { fh, .. }, Reply::Data { block, value, attr, .. }) => {
                self.new_attrs(fh.inode, attr, at, None);
                self.clean.insert((fh.inode, block), value);
                self.mark(out.op, |p| {
                    p.fresh = true;
                    p.moved_data = true;
                    p.got.insert(block, value);
                });
            }
            (Call::Write { fh, block, value, .. }, Reply::Wrote { pre, attr }) => {
                self.new_attrs(fh.inode, attr, at, Some(pre));
                if self.dirty.get(&(fh.inode, *block)) == Some(value) {
                    self.dirty.remove(&(fh.inode, *block));
                }
                self.clean.insert((fh.inode, *block), *value);
            }
            (Call::Fetch { file } | Call::FetchStatus { file, .. }, Reply::File { blocks, attr, promise, .. }) => {
                let validity = self.validity(*file, promise, at);
                let mut copy = FileCopy { blocks, version: attr.version, validity, dirty: BTreeSet::new() };
                // Writes of an open session stay on top of what was fetched.
                if let Some(old) = self.copies.get(file) {
                    for &b in &old.dirty {
                        if let Some(v) = old.blocks.get(b as usize) {
                            if copy.blocks.len() <= b as usize {
                                copy.blocks.resize(b as usize + 1, Value { id: 0, size_bytes: 0 });
                            }
                            copy.blocks[b as usize] = *v;
                            copy.dirty.insert(b);
                        }
                    }
                }
                self.copies.insert(*file, copy);
                self.mark(out.op, |p| {
                    p.fresh = true;
                    p.moved_data = true;
                });
            }
            (Call::FetchStatus { file, .. }, Reply::Unchanged { attr, promise }) => {
                let validity = self.validity(*file, promise, at);
                if let Some(c) = self.copies.get_mut(file)
                    && c.version == attr.version
                {
                    c.validity = validity;
                }
                self.mark(out.op, |p| p.fresh = true);
            }
            (Call::Store { file, blocks, .. }, Reply::Stored { attr, promise }) => {
                let validity = self.validity(*file, promise, at);
                if let Some(c) = self.copies.get_mut(file) {
                    c.version = attr.version;
                    c.validity = validity;
                    // Blocks written after the store was sent stay dirty.
                    c.dirty.retain(|b| c.blocks.get(*b as usize) != blocks.get(*b as usize));
                }
            }
            (Call::Remove { file }, Reply::Removed) => self.forget(*file),
            (Call::Create { .. }, _) | (Call::Probe, Reply::Probed) => {}
            (call, reply) => panic!("reply {reply:?} does not answer {call:?}"),
        }
    }

    /// Drops everything cached of `file`: handle, attributes, blocks
    /// (unflushed writes too: they have no file to go to) and its copy.
    fn forget(&mut self, file: Key) {
        self.handles.remove(&file);
        self.attrs.remove(&file);
        let blocks: Vec<(Key, u32)> = blocks_of(&self.clean, file).map(|(k, _)| *k).collect();
        for k in blocks {
            self.clean.remove(&k);
        }
        let blocks: Vec<(Key, u32)> = blocks_of(&self.dirty, file).map(|(k, _)| *k).collect();
        for k in blocks {
            self.dirty.remove(&k);
        }
        self.copies.remove(&file);
        self.opened.remove(&file);
    }

    fn mark(&mut self, op: Option<OpId>, f: impl FnOnce(&mut Pending)) {
        if let Some(p) = op.and_then(|id| self.ops.get_mut(&id)) {
            f(p);
        }
    }

    /// A lease counts from when the call was first sent, so the client
    /// stops trusting its copy no later than the server stops honouring it.
    fn validity(&self, file: Key, promise: Promise, sent: SimTime) -> Validity {
        if self.broken_at.get(&file).is_some_and(|b| *b >= sent) {
            return Validity::Invalid;
        }
        match promise {
            Promise::Callback => Validity::Callback,
            Promise::Lease(l) => Validity::Until(sent.after(ms(l))),
            Promise::NoPromise => Validity::Invalid,
        }
    }

    /// NFS: installs attributes. A version other than the one the cached
    /// blocks belong to drops them, unless the only change is this
    /// client's own write (`pre`, NFSv3's weak cache consistency). The
    /// timeout doubles while the attributes stay the same and falls back to
    /// acregmin when they change, as nfs(5) describes.
    fn new_attrs(&mut self, file: Key, attr: Attr, at: SimTime, pre: Option<u64>) {
        let old = self.attrs.get(&file).copied();
        let own = pre.is_some_and(|pre| old.is_some_and(|o| o.attr.version == pre));
        if let Some(o) = old
            && o.attr.version != attr.version
            && !own
        {
            let drop: Vec<(Key, u32)> = blocks_of(&self.clean, file).map(|(k, _)| *k).collect();
            if !drop.is_empty() {
                self.counters.invalidations += 1;
            }
            for k in drop {
                self.clean.remove(&k);
            }
        }
        let min = ms(self.params.acregmin_ms);
        let timeout_ns = match old {
            Some(o) if o.attr.version == attr.version => {
                (o.timeout_ns.saturating_mul(2)).clamp(min, ms(self.params.acregmax_ms))
            }
            _ => min,
        };
        self.attrs.insert(file, AttrEntry { attr, fetched_at: at, timeout_ns });
    }

    /// Runs operation `id` as far as the caches allow.
    fn advance(&mut self, ctx: &mut Ctx<'_, super::Node>, id: OpId) {
        let Some(p) = self.ops.get(&id) else { return };
        if p.waiting > 0 {
            return;
        }
        let step = if p.op.kind == OpKind::Remove {
            self.remove_step(id)
        } else if self.params.mode == Mode::Nfs {
            self.nfs_step(ctx.now(), id)
        } else {
            self.whole_step(ctx.now(), id)
        };
        match step {
            Step::Calls(calls) => {
                for c in calls {
                    self.call(ctx, Some(id), c);
                }
            }
            Step::Done(status, output) => self.finish(ctx, id, status, output),
        }
    }

    /// What to do about a missing file: create it (an open, with
    /// `create_files`), look again after a create found it existing, or fail.
    fn missing(&mut self, id: OpId, again: Call) -> Step {
        let create_files = self.params.create_files;
        let p = self.ops.get_mut(&id).expect("pending op");
        match p.err.take() {
            Some(Errno::NoEnt) if p.op.kind == OpKind::Open && create_files && !p.create_tried => {
                p.create_tried = true;
                Step::Calls(vec![Call::Create { file: p.op.key }])
            }
            // Someone created it first, or this very create was repeated
            // after its reply was lost: the file is there now.
            Some(Errno::Exist) if !p.exist_seen => {
                p.exist_seen = true;
                Step::Calls(vec![again])
            }
            Some(_) => Step::Done(OpStatus::Fail, Output::Nothing),
            None => Step::Calls(vec![again]),
        }
    }

    /// A remove, in every mode: one call by name. The server answers once
    /// other copies are broken (AFS) or recalled (leases). "No such file"
    /// fails the op, even when it answers a retransmission of this very
    /// call whose first copy removed the file (remove is not idempotent).
    fn remove_step(&mut self, id: OpId) -> Step {
        let p = self.ops.get_mut(&id).expect("pending op");
        if !p.sent {
            p.sent = true;
            return Step::Calls(vec![Call::Remove { file: p.op.key }]);
        }
        match p.err {
            None => Step::Done(OpStatus::Ok, Output::Nothing),
            Some(_) => Step::Done(OpStatus::Fail, Output::Nothing),
        }
    }

    fn nfs_step(&mut self, now: SimTime, id: OpId) -> Step {
        let p = &self.ops[&id];
        let (op, f) = (p.op, p.op.key);
        let Some(&fh) = self.handles.get(&f) else {
            return self.missing(id, Call::Lookup { file: f });
        };
        if p.err.is_some() {
            return Step::Done(OpStatus::Fail, Output::Nothing);
        }
        let fresh_attrs = self.attrs.get(&f).is_some_and(|e| now < e.fetched_at.after(e.timeout_ns));
        let needs_attrs = match op.kind {
            // Close-to-open: every open asks the server, whatever the cache.
            OpKind::Open => !p.fresh,
            OpKind::Read | OpKind::ReadFile | OpKind::Stat => !p.fresh && !fresh_attrs,
            _ => false,
        };
        if needs_attrs {
            return Step::Calls(vec![Call::Getattr { fh }]);
        }
        let block = |k| match op.arg {
            OpArg::Block(b) => b,
            _ => panic!("{k:?} without a block"),
        };
        let cached = |b: u32| p.got.get(&b).or(self.dirty.get(&(f, b))).or(self.clean.get(&(f, b))).copied();
        let size = self.attrs.get(&f).map_or(self.blocks_per_file, |e| e.attr.size_blocks);
        match op.kind {
            OpKind::Open => Step::Done(OpStatus::Ok, Output::Nothing),
            OpKind::Stat => {
                let a = self.attrs[&f].attr;
                Step::Done(OpStatus::Ok, Output::Numbers(vec![i64::from(a.size_blocks), a.version as i64]))
            }
            OpKind::Read => {
                let b = block(op.kind);
                match cached(b) {
                    Some(v) => Step::Done(OpStatus::Ok, Output::Value(v)),
                    None => Step::Calls(vec![Call::Read { fh, block: b }]),
                }
            }
            OpKind::ReadFile => {
                let missing: Vec<Call> =
                    (0..size).filter(|b| cached(*b).is_none()).map(|b| Call::Read { fh, block: b }).collect();
                if missing.is_empty() {
                    let values = (0..size).filter_map(cached).collect();
                    Step::Done(OpStatus::Ok, Output::Values(values))
                } else {
                    Step::Calls(missing)
                }
            }
            OpKind::Write => {
                let b = block(op.kind);
                let value = op.value.expect("a write carries a value");
                if p.sent {
                    return Step::Done(OpStatus::Ok, Output::Nothing);
                }
                self.dirty.insert((f, b), value);
                if !self.params.write_through {
                    return Step::Done(OpStatus::Ok, Output::Nothing);
                }
                self.ops.get_mut(&id).expect("pending op").sent = true;
                Step::Calls(vec![Call::Write { fh, block: b, value, data_bytes: self.params.block_size_bytes }])
            }
            OpKind::Close => {
                if p.sent {
                    return Step::Done(OpStatus::Ok, Output::Nothing);
                }
                let flush: Vec<Call> = blocks_of(&self.dirty, f)
                    .map(|(&(_, block), &value)| Call::Write {
                        fh,
                        block,
                        value,
                        data_bytes: self.params.block_size_bytes,
                    })
                    .collect();
                if flush.is_empty() {
                    return Step::Done(OpStatus::Ok, Output::Nothing);
                }
                self.ops.get_mut(&id).expect("pending op").sent = true;
                Step::Calls(flush)
            }
            k => panic!("file_caching clients serve no {k:?}"),
        }
    }

    /// AFS and leases: whole files.
    fn whole_step(&mut self, now: SimTime, id: OpId) -> Step {
        let p = &self.ops[&id];
        let (op, f) = (p.op, p.op.key);
        let leases = self.params.mode == Mode::Leases;
        let trusted = self.trusts_copy(f, now);
        let have = self.copies.get(&f).map(|c| c.version);
        if p.err.is_some() || (have.is_none() && op.kind != OpKind::Close) {
            return self.missing(id, Call::Fetch { file: f });
        }
        // Opens need a copy the server vouches for; under leases so does
        // every read. AFS reads use the session's copy whatever happened
        // at the server since the open.
        let unopened = !self.opened.contains(&f);
        let needs_check = !p.fresh
            && !trusted
            && match op.kind {
                OpKind::Open => true,
                OpKind::Read | OpKind::ReadFile | OpKind::Stat => leases || unopened,
                OpKind::Write => unopened,
                _ => false,
            };
        if let (true, Some(have)) = (needs_check, have) {
            return Step::Calls(vec![Call::FetchStatus { file: f, have, renew: leases }]);
        }
        let Some(copy) = self.copies.get_mut(&f) else {
            // A close of a file never fetched: nothing to store.
            return Step::Done(OpStatus::Ok, Output::Nothing);
        };
        let zero = Value { id: 0, size_bytes: 0 };
        match op.kind {
            OpKind::Open => {
                self.opened.insert(f);
                Step::Done(OpStatus::Ok, Output::Nothing)
            }
            OpKind::Stat => {
                Step::Done(OpStatus::Ok, Output::Numbers(vec![copy.blocks.len() as i64, copy.version as i64]))
            }
            OpKind::Read => {
                let OpArg::Block(b) = op.arg else { panic!("a read without a block") };
                Step::Done(OpStatus::Ok, Output::Value(copy.blocks.get(b as usize).copied().unwrap_or(zero)))
            }
            OpKind::ReadFile => Step::Done(OpStatus::Ok, Output::Values(copy.blocks.clone())),
            OpKind::Write => {
                let OpArg::Block(b) = op.arg else { panic!("a write without a block") };
                let i = b as usize;
                if copy.blocks.len() <= i {
                    copy.blocks.resize(i + 1, zero);
                }
                copy.blocks[i] = op.value.expect("a write carries a value");
                copy.dirty.insert(b);
                Step::Done(OpStatus::Ok, Output::Nothing)
            }
            OpKind::Close => {
                if p.sent || copy.dirty.is_empty() {
                    return Step::Done(OpStatus::Ok, Output::Nothing);
                }
                let blocks = copy.blocks.clone();
                let data_bytes = self.params.block_size_bytes.saturating_mul(blocks.len() as u64);
                self.ops.get_mut(&id).expect("pending op").sent = true;
                Step::Calls(vec![Call::Store { file: f, blocks, data_bytes }])
            }
            k => panic!("file_caching clients serve no {k:?}"),
        }
    }
}

/// What an operation does next.
enum Step {
    Calls(Vec<Call>),
    Done(OpStatus, Output),
}
