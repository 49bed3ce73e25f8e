//! The file server: files on a synced disk, and (AFS, leases) the
//! callback or lease table in memory.

use super::msg::{Attr, Call, Errno, Fh, Msg, Promise, Record, Reply, Timer, first_id, next_boot};
use super::params::{Mode, Params};
use sim_core::{Ctx, Key, NodeId, SimTime, Value, ms};
use std::collections::{BTreeMap, BTreeSet};

/// The volume every file handle names: one exported file system.
pub const VOLUME: u32 = 1;
/// Generation of a file's handles until the file is first removed; each
/// remove bumps it, so handles of a removed file go stale.
pub const GENERATION: u32 = 1;

/// What the server remembers of a removed name (durable: rebuilt from the
/// disk). It outlives a re-creation, so generations and versions of one
/// name only ever go up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Tomb {
    /// The generation of handles to the next file of this name.
    generation: u32,
    /// The version the next file of this name starts at.
    version: u64,
    /// The remove call (client index, xid) that removed it last.
    remover: (u32, u64),
}

/// One file as the server holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FileState {
    pub blocks: Vec<Value>,
    /// Bumped by every committed write or store.
    pub version: u64,
    /// The call that created the file (client index, xid), when created.
    creator: Option<(u32, u64)>,
}

impl FileState {
    fn attr(&self) -> Attr {
        Attr { version: self.version, size_blocks: self.blocks.len() as u32 }
    }
}

/// A block value committed at the server: what the checks compare reads
/// with. Observation only: the protocol never reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub at: SimTime,
    pub file: Key,
    pub block: u32,
    pub value: Value,
    /// The client whose write or store committed it.
    pub client: NodeId,
    pub version: u64,
    /// A removal: the block went back to the initial contents because
    /// the file was removed (a re-created file starts there).
    pub removed: bool,
}

/// A callback break or lease recall, and the store call that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakFact {
    pub at: SimTime,
    pub file: Key,
    pub to: NodeId,
    /// The storing client and its call's xid.
    pub cause: (NodeId, u64),
    pub lease: bool,
}

/// What the server saw, for checks and tables; survives crashes because it
/// is the observer's record, not the server's state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Every commit, in commit order.
    pub commits: Vec<Commit>,
    pub breaks: Vec<BreakFact>,
}

/// Calls received, by type, and the server's other events.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerCounters {
    pub lookup: u64,
    pub getattr: u64,
    pub read: u64,
    pub write: u64,
    pub create: u64,
    pub fetch: u64,
    pub fetch_status: u64,
    pub lease_renew: u64,
    pub store: u64,
    pub probe: u64,
    pub callback_breaks: u64,
    pub lease_recalls: u64,
    /// Callback breaks whose acknowledgement did not come in time (AFS):
    /// the client is told to drop all its callbacks on its next call.
    pub break_timeouts: u64,
    /// Creates answered "exists" though the file was created by this very
    /// call, retransmitted after its reply was lost: a non-idempotent call
    /// repeated (the server keeps no duplicate-request cache).
    pub create_exists_on_retry: u64,
    pub remove: u64,
    /// Removes answered "no such file" though this very call removed it,
    /// retransmitted after its reply was lost: the client reports a
    /// failed remove of a file its first attempt removed.
    pub remove_missing_on_retry: u64,
    /// Calls naming a handle of a removed file (answered ESTALE).
    pub stale_handles: u64,
    /// Stores that waited for a lease to expire (its holder did not give
    /// it back) or for a restarted server's grace period to end.
    pub stores_waited_for_expiry: u64,
    /// Milliseconds those stores waited, in total.
    pub expiry_wait_ms_total: u64,
}

/// A store waiting for callback acknowledgements (AFS: committed, reply
/// held) or for leases to end (leases: not yet committed).
#[derive(Clone, Debug)]
struct PendingStore {
    client: NodeId,
    xid: u64,
    file: Key,
    waiting: BTreeSet<NodeId>,
    /// Leases: the blocks to commit once no other lease is valid.
    blocks: Option<Vec<Value>>,
    /// AFS: the reply to send once every break is acknowledged.
    reply: Option<Reply>,
    since: SimTime,
    /// Leases: a remove, committed once no other lease is valid.
    remove: bool,
}

/// Who holds a promise on a file: `None` a callback, `Some(t)` a lease
/// until `t` (server time, never earlier than the client's own expiry).
type Holders = BTreeMap<NodeId, Option<SimTime>>;

#[derive(Clone, Debug)]
pub struct Server {
    params: Params,
    blocks_per_file: u32,
    /// Durable: rebuilt from the disk after a crash.
    files: BTreeMap<Key, FileState>,
    tombs: BTreeMap<Key, Tomb>,
    epoch: u64,
    /// Volatile: lost in a crash.
    holders: BTreeMap<Key, Holders>,
    missed: BTreeSet<NodeId>,
    pending: BTreeMap<u64, PendingStore>,
    next_store: u64,
    /// Leases: no store commits before this (a restarted server waits out
    /// the leases it may have granted before the crash).
    grace_until: SimTime,
    counters: ServerCounters,
    facts: Facts,
}

impl Server {
    pub fn new(params: Params, blocks_per_file: u32) -> Server {
        Server {
            params,
            blocks_per_file,
            files: BTreeMap::new(),
            tombs: BTreeMap::new(),
            epoch: 0,
            holders: BTreeMap::new(),
            missed: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_store: 0,
            grace_until: SimTime::ZERO,
            counters: ServerCounters::default(),
            facts: Facts::default(),
        }
    }

    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// The server's boot number, which replies carry.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A file's current state, if it exists (untouched files exist with
    /// their initial blocks unless `create_files` is set or they were
    /// removed).
    pub fn file(&self, key: Key) -> Option<FileState> {
        self.files.get(&key).cloned().or_else(|| self.implicit(key).then(|| self.initial(key)))
    }

    /// Whether `key` exists without being in `files`: every name does
    /// from the start unless `create_files` is set, until it is removed.
    fn implicit(&self, key: Key) -> bool {
        !self.params.create_files && !self.tombs.contains_key(&key) && !self.files.contains_key(&key)
    }

    /// The handle of `file` now: its generation counts its removes.
    pub fn fh(&self, file: Key) -> Fh {
        Fh { generation: self.tombs.get(&file).map_or(GENERATION, |t| t.generation), ..handle(file) }
    }

    /// How many clients hold a callback or lease on `file` now.
    pub fn holders_of(&self, file: Key) -> usize {
        self.holders.get(&file).map_or(0, BTreeMap::len)
    }

    /// A new file of name `key`: initial blocks, and a version that goes
    /// on from where a removed file of that name left it.
    fn initial(&self, key: Key) -> FileState {
        FileState {
            blocks: vec![Value { id: 0, size_bytes: 0 }; self.blocks_per_file as usize],
            version: self.tombs.get(&key).map_or(0, |t| t.version),
            creator: None,
        }
    }

    fn file_mut(&mut self, key: Key) -> Option<&mut FileState> {
        if self.implicit(key) {
            let f = self.initial(key);
            self.files.insert(key, f);
        }
        self.files.get_mut(&key)
    }

    /// The file a handle names, unless the handle is stale (its file was
    /// removed): `Err` carries the error to answer.
    fn by_handle(&mut self, fh: Fh) -> Result<&mut FileState, Errno> {
        if fh.generation != self.fh(fh.inode).generation {
            self.counters.stale_handles += 1;
            return Err(Errno::Stale);
        }
        self.file_mut(fh.inode).ok_or(Errno::NoEnt)
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        self.boot(ctx);
    }

    fn boot(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        self.epoch = next_boot(ctx.disk().synced());
        self.next_store = first_id(self.epoch);
        ctx.disk().write(Record::Boot { n: self.epoch });
        ctx.disk().sync();
    }

    pub fn on_crash(&mut self) {
        self.files.clear();
        self.tombs.clear();
        self.holders.clear();
        self.missed.clear();
        self.pending.clear();
    }

    /// Files come back from the disk; callbacks and leases do not. Under
    /// leases the server waits one lease term before committing stores, so
    /// that every lease granted before the crash has expired.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        let records: Vec<Record> = ctx.disk().synced().to_vec();
        for r in records {
            match r {
                Record::Boot { .. } => {}
                Record::Create { file, client, xid } => {
                    let mut f = self.initial(file);
                    f.creator = Some((client, xid));
                    self.files.insert(file, f);
                }
                Record::Write { file, version, blocks } => {
                    if let Some(f) = self.file_mut(file) {
                        apply(f, &blocks);
                        f.version = version;
                    }
                }
                Record::Remove { file, client, xid, generation, version } => {
                    self.files.remove(&file);
                    self.tombs.insert(file, Tomb { generation, version, remover: (client, xid) });
                }
            }
        }
        self.boot(ctx);
        if self.params.mode == Mode::Leases {
            self.grace_until = ctx.now().after(ms(self.params.lease_ms));
            ctx.set_timer(ms(self.params.lease_ms), Timer::LeaseCheck);
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Call { xid, call } => self.on_call(ctx, from, xid, call),
            Msg::BreakAck { store, .. } => self.on_break_ack(ctx, from, store),
            Msg::Reply { .. } | Msg::Break { .. } => panic!("server got a client-bound message from {from:?}"),
        }
    }

    fn reply(&mut self, ctx: &mut Ctx<'_, super::Node>, to: NodeId, xid: u64, reply: Reply) {
        let reset = self.missed.remove(&to);
        ctx.send(to, Msg::Reply { xid, epoch: self.epoch, reset, reply });
    }

    fn count(&mut self, call: &Call) {
        let c = &mut self.counters;
        match call {
            Call::Lookup { .. } => c.lookup += 1,
            Call::Getattr { .. } => c.getattr += 1,
            Call::Read { .. } => c.read += 1,
            Call::Write { .. } => c.write += 1,
            Call::Create { .. } => c.create += 1,
            Call::Fetch { .. } => c.fetch += 1,
            Call::FetchStatus { renew: false, .. } => c.fetch_status += 1,
            Call::FetchStatus { renew: true, .. } => c.lease_renew += 1,
            Call::Store { .. } => c.store += 1,
            Call::Probe => c.probe += 1,
            Call::Remove { .. } => c.remove += 1,
        }
    }

    fn block_bytes(&self, blocks: usize) -> u64 {
        self.params.block_size_bytes.saturating_mul(blocks as u64)
    }

    fn on_call(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, xid: u64, call: Call) {
        self.count(&call);
        let no_ent = Reply::Error(Errno::NoEnt);
        let reply = match call {
            Call::Lookup { file } => {
                let fh = self.fh(file);
                match self.file_mut(file) {
                    Some(f) => Reply::Handle { fh, attr: f.attr() },
                    None => no_ent,
                }
            }
            Call::Getattr { fh } => match self.by_handle(fh) {
                Ok(f) => Reply::Attr { attr: f.attr() },
                Err(e) => Reply::Error(e),
            },
            Call::Read { fh, block } => {
                let bytes = self.block_bytes(1);
                match self.by_handle(fh) {
                    Ok(f) => {
                        let value = f.blocks.get(block as usize).copied().unwrap_or(Value { id: 0, size_bytes: 0 });
                        Reply::Data { block, value, attr: f.attr(), data_bytes: bytes }
                    }
                    Err(e) => Reply::Error(e),
                }
            }
            Call::Write { fh, block, value, .. } => match self.by_handle(fh) {
                Ok(f) => {
                    let pre = f.version;
                    let attr = self.commit(ctx, from, fh.inode, vec![(block, value)]);
                    Reply::Wrote { pre, attr }
                }
                Err(e) => Reply::Error(e),
            },
            Call::Create { file } => self.create(ctx, from, xid, file),
            Call::Fetch { file } => match self.file_mut(file).map(|f| (f.blocks.clone(), f.attr())) {
                Some((blocks, attr)) => {
                    let promise = self.grant(ctx.now(), file, from);
                    let data_bytes = self.block_bytes(blocks.len());
                    Reply::File { blocks, attr, promise, data_bytes }
                }
                None => no_ent,
            },
            Call::FetchStatus { file, have, .. } => match self.file_mut(file).map(|f| (f.blocks.clone(), f.attr())) {
                Some((blocks, attr)) => {
                    let promise = self.grant(ctx.now(), file, from);
                    if attr.version == have {
                        Reply::Unchanged { attr, promise }
                    } else {
                        let data_bytes = self.block_bytes(blocks.len());
                        Reply::File { blocks, attr, promise, data_bytes }
                    }
                }
                None => no_ent,
            },
            Call::Store { file, blocks, .. } => {
                if self.file_mut(file).is_none() {
                    no_ent
                } else if self.pending.values().any(|p| p.client == from && p.xid == xid) {
                    // A retransmission of a store still waiting: the
                    // waiting one will answer.
                    return;
                } else {
                    return self.store(ctx, from, xid, file, Some(blocks));
                }
            }
            Call::Probe => Reply::Probed,
            Call::Remove { file } => {
                if self.pending.values().any(|p| p.client == from && p.xid == xid) {
                    // A retransmission of a remove waiting for its breaks or
                    // recalls: the waiting one will answer.
                    return;
                }
                if self.file_mut(file).is_none() {
                    if self.tombs.get(&file).is_some_and(|t| t.remover == (from.0, xid)) {
                        self.counters.remove_missing_on_retry += 1;
                    }
                    no_ent
                } else if self.params.mode == Mode::Nfs {
                    self.unlink(ctx, from, xid, file);
                    Reply::Removed
                } else {
                    // Other copies are broken or recalled first, as for a store.
                    return self.store(ctx, from, xid, file, None);
                }
            }
        };
        self.reply(ctx, from, xid, reply);
    }

    fn create(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, xid: u64, file: Key) -> Reply {
        if let Some(f) = self.file_mut(file) {
            if f.creator == Some((from.0, xid)) {
                self.counters.create_exists_on_retry += 1;
            }
            return Reply::Error(Errno::Exist);
        }
        ctx.disk().write(Record::Create { file, client: from.0, xid });
        ctx.disk().sync();
        let mut f = self.initial(file);
        f.creator = Some((from.0, xid));
        let attr = f.attr();
        self.files.insert(file, f);
        Reply::Handle { fh: self.fh(file), attr }
    }

    /// Removes an existing `file`, durably, for `from`'s call `xid`: the
    /// next file of the name gets a new generation (old handles go stale)
    /// and the next version. For the checks the removal is a commit of
    /// the initial contents, which is what a re-created file holds.
    fn unlink(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, xid: u64, file: Key) {
        let now = ctx.now();
        let generation = self.fh(file).generation + 1;
        let f = self.files.remove(&file).expect("unlink of an existing file");
        let version = f.version + 1;
        let zero = Value { id: 0, size_bytes: 0 };
        for block in 0..f.blocks.len() as u32 {
            self.facts.commits.push(Commit { at: now, file, block, value: zero, client: from, version, removed: true });
        }
        self.tombs.insert(file, Tomb { generation, version, remover: (from.0, xid) });
        self.holders.remove(&file);
        ctx.disk().write(Record::Remove { file, client: from.0, xid, generation, version });
        ctx.disk().sync();
    }

    /// Applies blocks to a file, durably (written and synced before any
    /// reply: NFS's stateless servers must not lose an acknowledged write).
    fn commit(&mut self, ctx: &mut Ctx<'_, super::Node>, client: NodeId, file: Key, blocks: Vec<(u32, Value)>) -> Attr {
        let now = ctx.now();
        let f = self.file_mut(file).expect("commit to an existing file");
        apply(f, &blocks);
        f.version += 1;
        let version = f.version;
        let attr = f.attr();
        for &(block, value) in &blocks {
            self.facts.commits.push(Commit { at: now, file, block, value, client, version, removed: false });
        }
        ctx.disk().write(Record::Write { file, version, blocks });
        ctx.disk().sync();
        attr
    }

    /// Registers a callback or grants a lease on `file` to `client`.
    fn grant(&mut self, now: SimTime, file: Key, client: NodeId) -> Promise {
        match self.params.mode {
            Mode::Nfs => Promise::NoPromise,
            Mode::Afs => {
                self.holders.entry(file).or_default().insert(client, None);
                Promise::Callback
            }
            Mode::Leases => {
                // A store waiting for leases to end must not be overtaken
                // by new leases on the version it is about to replace.
                if self.pending.values().any(|p| p.file == file) {
                    return Promise::NoPromise;
                }
                let until = now.after(ms(self.params.lease_ms));
                self.holders.entry(file).or_default().insert(client, Some(until));
                Promise::Lease(self.params.lease_ms)
            }
        }
    }

    /// A store of `blocks`, or with `None` a remove: both void every other
    /// client's copy first.
    fn store(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, xid: u64, file: Key, blocks: Option<Vec<Value>>) {
        let now = ctx.now();
        let id = self.next_store;
        self.next_store += 1;
        let lease = self.params.mode == Mode::Leases;
        // Everyone else holding a promise on the file is told it is void.
        let targets: BTreeSet<NodeId> = self
            .holders
            .get(&file)
            .map(|h| {
                h.iter().filter(|(c, until)| **c != from && until.is_none_or(|t| t > now)).map(|(c, _)| *c).collect()
            })
            .unwrap_or_default();
        for &t in &targets {
            if lease {
                self.counters.lease_recalls += 1;
            } else {
                self.counters.callback_breaks += 1;
            }
            self.facts.breaks.push(BreakFact { at: now, file, to: t, cause: (from, xid), lease });
            ctx.send(t, Msg::Break { file, lease, store: id });
        }
        let remove = blocks.is_none();
        if lease {
            self.pending.insert(
                id,
                PendingStore { client: from, xid, file, waiting: targets, blocks, reply: None, since: now, remove },
            );
            self.check_leases(ctx);
            return;
        }
        // AFS: the store (or remove) is durable at once; the reply waits
        // for the breaks, so a close that completed has reached every
        // cached copy.
        let reply = match blocks {
            Some(blocks) => {
                let numbered: Vec<(u32, Value)> = blocks.iter().enumerate().map(|(i, v)| (i as u32, *v)).collect();
                let attr = self.commit(ctx, from, file, numbered);
                if let Some(h) = self.holders.get_mut(&file) {
                    h.retain(|c, _| *c == from);
                }
                self.holders.entry(file).or_default().insert(from, None);
                Reply::Stored { attr, promise: Promise::Callback }
            }
            None => {
                self.unlink(ctx, from, xid, file);
                Reply::Removed
            }
        };
        if !targets.is_empty() {
            ctx.set_timer(ms(self.params.rpc_timeout_ms), Timer::BreakTimeout { store: id });
        }
        self.pending.insert(
            id,
            PendingStore {
                client: from,
                xid,
                file,
                waiting: targets,
                blocks: None,
                reply: Some(reply),
                since: now,
                remove,
            },
        );
        self.answer_ready(ctx, file);
    }

    /// AFS: answers the pending stores of `file` whose breaks are all
    /// acknowledged, in arrival order. A store waits for the breaks of
    /// earlier stores of the file too: its close must not complete while a
    /// copy of the older version may still be trusted somewhere.
    fn answer_ready(&mut self, ctx: &mut Ctx<'_, super::Node>, file: Key) {
        loop {
            let first = self.pending.iter().find(|(_, p)| p.file == file).map(|(id, p)| (*id, p.waiting.is_empty()));
            match first {
                Some((id, true)) => self.answer_store(ctx, id),
                _ => return,
            }
        }
    }

    /// An acknowledgement of store `store`'s break. One for a store no
    /// longer pending is late (a duplicate, or a previous life's) and
    /// releases nothing: the client may hold a newer promise by now.
    fn on_break_ack(&mut self, ctx: &mut Ctx<'_, super::Node>, from: NodeId, store: u64) {
        let Some(p) = self.pending.get_mut(&store) else { return };
        p.waiting.remove(&from);
        let (file, empty) = (p.file, p.waiting.is_empty());
        if self.params.mode == Mode::Leases {
            // No lease is granted on a file with a pending store, so the
            // holder's lease is the one this break recalled.
            if let Some(h) = self.holders.get_mut(&file) {
                h.remove(&from);
            }
            self.check_leases(ctx);
        } else if empty {
            self.answer_ready(ctx, file);
        }
    }

    fn answer_store(&mut self, ctx: &mut Ctx<'_, super::Node>, id: u64) {
        if let Some(p) = self.pending.remove(&id)
            && let Some(reply) = p.reply
        {
            self.reply(ctx, p.client, p.xid, reply);
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, super::Node>, timer: Timer) {
        match timer {
            Timer::BreakTimeout { store } => {
                if let Some(p) = self.pending.get_mut(&store) {
                    // Those clients may hold a broken callback without
                    // knowing: they must distrust all their callbacks.
                    self.counters.break_timeouts += p.waiting.len() as u64;
                    let file = p.file;
                    let waiting = std::mem::take(&mut p.waiting);
                    self.missed.extend(waiting);
                    self.answer_ready(ctx, file);
                }
            }
            Timer::LeaseCheck => self.check_leases(ctx),
            Timer::Retransmit { .. } | Timer::Probe => panic!("server got a client timer"),
        }
    }

    /// Leases: commits every pending store whose file no longer has a valid
    /// lease held by anyone but the storer, once the grace period is over;
    /// otherwise waits for the earliest moment that can change.
    fn check_leases(&mut self, ctx: &mut Ctx<'_, super::Node>) {
        let now = ctx.now();
        let mut wake: Option<SimTime> = None;
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            let p = &self.pending[&id];
            let (file, client) = (p.file, p.client);
            let blocking: Vec<SimTime> = self
                .holders
                .get(&file)
                .map(|h| {
                    h.iter()
                        .filter(|(c, _)| p.waiting.contains(c))
                        .filter_map(|(_, until)| until.filter(|t| *t > now))
                        .collect()
                })
                .unwrap_or_default();
            let ready_at = blocking.into_iter().max().unwrap_or(now).max(self.grace_until);
            if ready_at > now {
                wake = Some(wake.map_or(ready_at, |w: SimTime| w.min(ready_at)));
                continue;
            }
            let p = self.pending.remove(&id).expect("pending store");
            // Holders still listed never acknowledged: their leases ran out.
            let unacked = self.holders.get(&file).is_some_and(|h| p.waiting.iter().any(|c| h.contains_key(c)));
            if unacked || p.since < self.grace_until {
                self.counters.stores_waited_for_expiry += 1;
                self.counters.expiry_wait_ms_total += now.since(p.since) / ms(1);
            }
            if self.file_mut(file).is_none() {
                // Removed while this call waited (a remove pending before
                // it committed first).
                self.reply(ctx, client, p.xid, Reply::Error(Errno::NoEnt));
                continue;
            }
            if p.remove {
                self.unlink(ctx, client, p.xid, file);
                self.reply(ctx, client, p.xid, Reply::Removed);
                continue;
            }
            let numbered: Vec<(u32, Value)> =
                p.blocks.unwrap_or_default().into_iter().enumerate().map(|(i, v)| (i as u32, v)).collect();
            let attr = self.commit(ctx, client, file, numbered);
            if let Some(h) = self.holders.get_mut(&file) {
                h.retain(|c, _| *c == client);
            }
            let promise = self.grant(now, file, client);
            self.reply(ctx, client, p.xid, Reply::Stored { attr, promise });
        }
        if let Some(at) = wake {
            ctx.set_timer(at.since(now), Timer::LeaseCheck);
        }
    }
}

fn apply(f: &mut FileState, blocks: &[(u32, Value)]) {
    for &(block, value) in blocks {
        let i = block as usize;
        if i >= f.blocks.len() {
            f.blocks.resize(i + 1, Value { id: 0, size_bytes: 0 });
        }
        f.blocks[i] = value;
    }
}

/// The handle of a file: the server needs nothing else to find it.
pub fn handle(file: Key) -> Fh {
    Fh { volume: VOLUME, inode: file, generation: GENERATION }
}
