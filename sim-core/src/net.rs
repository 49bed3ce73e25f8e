//! The network model: latency per link, NIC bandwidth with queues, loss,
//! duplication, jitter, FIFO links, partitions and one-way cuts.
//!
//! Sending a message of `size` bytes from `a` to `b` at time `t`:
//! 1. It is dropped if `a` cannot reach `b` (partition or cut) or by the
//!    loss draw. The duplication draw may send a second, independent copy.
//! 2. It waits for `a`'s egress queue, then occupies it for
//!    `size / egress_bandwidth` (messages leave a NIC one after another).
//! 3. Its first bit reaches `b` one link latency (plus jitter) after it
//!    started leaving `a`.
//! 4. If `b` has a finite ingress bandwidth, the message waits for `b`'s
//!    ingress queue in order of arrival and occupies it for
//!    `size / ingress_bandwidth`; transfers are pipelined, so a lone message
//!    crossing two equal NICs takes `size / bandwidth` once, not twice.
//! 5. On a FIFO link a message is never delivered before one sent earlier on
//!    the same link.
//! 6. It is dropped at delivery if a partition now separates the nodes or
//!    the receiver is down: in-flight messages die with the link. It is also
//!    dropped if its sender crashed before the message had fully left the
//!    sender's NIC.
//!
//! Partitions come in layers: the scheduled partition (a new one replaces
//! it), the scheduled one-way cuts (they add up), and one layer per nemesis
//! fault, which the nemesis removes when its fault ends without touching
//! the others. A message gets through only if no layer blocks it; `heal`
//! removes every layer.

use crate::NodeId;
use crate::dist::Dist;
use crate::rng::SimRng;
use crate::time::{NANOS_PER_S, SimTime, ms_f64_to_ns};
use std::collections::BTreeMap;

/// A set of nodes, as a bitset indexed by node id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    pub fn new() -> NodeSet {
        NodeSet::default()
    }

    pub fn from_nodes(nodes: impl IntoIterator<Item = NodeId>) -> NodeSet {
        let mut s = NodeSet::new();
        for n in nodes {
            s.insert(n);
        }
        s
    }

    pub fn insert(&mut self, n: NodeId) {
        let (w, b) = (n.index() / 64, n.index() % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub fn contains(&self, n: NodeId) -> bool {
        let (w, b) = (n.index() / 64, n.index() % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            (0..64).filter(move |b| word & (1u64 << b) != 0).map(move |b| NodeId((w * 64 + b) as u32))
        })
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
}

/// Latency for messages from any node of `from` to any node of `to`
/// (and back, unless `one_way`). Later rules override earlier ones.
#[derive(Clone, Debug)]
pub struct LinkRule {
    pub from: NodeSet,
    pub to: NodeSet,
    pub one_way: bool,
    pub latency_ms: Dist,
}

/// Bandwidth of one node's network interface; `None` is unlimited.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Nic {
    pub egress_bytes_per_s: Option<u64>,
    pub ingress_bytes_per_s: Option<u64>,
}

/// The network as the scenario describes it, with node names resolved.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub latency_ms: Dist,
    pub links: Vec<LinkRule>,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Extra delay, uniform in `[0, jitter_ms)`, that reorders messages.
    pub jitter_ms: f64,
    /// Whether every link delivers in send order (like TCP).
    pub fifo: bool,
    /// One entry per node.
    pub nics: Vec<Nic>,
}

impl NetConfig {
    /// A network with constant latency, no faults and unlimited bandwidth.
    pub fn simple(nodes: usize, latency_ms: f64) -> NetConfig {
        NetConfig {
            latency_ms: Dist::constant(latency_ms),
            links: Vec::new(),
            loss: 0.0,
            duplicate: 0.0,
            jitter_ms: 0.0,
            fifo: false,
            nics: vec![Nic::default(); nodes],
        }
    }
}

/// Why a message was not delivered.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    Partition,
    Loss,
    ReceiverDown,
    /// The sender crashed before the message had left its NIC.
    SenderDown,
}

/// Where one copy of a sent message goes next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Deliver at this time.
    Deliver { at: SimTime, sent_by: SimTime },
    /// Reaches the receiver's NIC at this time, then queues for ingress
    /// (taking the receiver's ingress transfer time, which `ingress`
    /// computes from the size); delivered no earlier than `not_before`.
    Arrive { at: SimTime, not_before: SimTime, sent_by: SimTime },
}

/// What happened to a send: up to two copies, or a drop.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Dropped(DropReason),
    Sent { first: Hop, duplicate: Option<Hop> },
}

/// Nanoseconds to move `size_bytes` at `bytes_per_s` (rounded up).
pub fn transfer_ns(size_bytes: u64, bytes_per_s: Option<u64>) -> u64 {
    match bytes_per_s {
        None | Some(0) => 0,
        Some(bw) => {
            let ns = (size_bytes as u128 * NANOS_PER_S as u128).div_ceil(bw as u128);
            u64::try_from(ns).unwrap_or(u64::MAX)
        }
    }
}

/// The live network: configuration plus queues, partitions and FIFO state.
pub struct Network {
    cfg: NetConfig,
    rng: SimRng,
    /// Partition group of each node; nodes in different groups cannot talk.
    group_of: Vec<u32>,
    partitioned: bool,
    /// Partitions installed by the nemesis, by layer id, each removed alone.
    layers: BTreeMap<u64, Vec<u32>>,
    next_layer: u64,
    /// One-way cuts: messages from a node of `.0` to a node of `.1` are dropped.
    cuts: Vec<(NodeSet, NodeSet)>,
    egress_free_at: Vec<SimTime>,
    ingress_free_at: Vec<SimTime>,
    /// Latest delivery time per FIFO link (only when `fifo`).
    fifo_last: BTreeMap<(NodeId, NodeId), SimTime>,
    /// Latest arrival at the receiver's ingress queue per FIFO link (only
    /// when `fifo` and the receiver's ingress bandwidth is finite).
    fifo_arrive_last: BTreeMap<(NodeId, NodeId), SimTime>,
    /// No link rules, jitter, FIFO links or bandwidth limits (none of which
    /// change during a run): a message's fate is its latency draw alone
    /// while the network is whole, lossless and duplicate-free.
    plain: bool,
    /// No partition, cut or layer in force (`is_whole`), kept up to date by
    /// every change, since it is asked on every delivery.
    whole: bool,
    /// `plain`, whole, lossless and duplicate-free: `plain_latency_ns`
    /// applies. Kept up to date by every change, like `whole`.
    fast: bool,
}

impl Network {
    pub fn new(cfg: NetConfig, rng: SimRng) -> Network {
        let n = cfg.nics.len();
        let plain = cfg.links.is_empty()
            && cfg.jitter_ms <= 0.0
            && !cfg.fifo
            && cfg.nics.iter().all(|nic| nic.egress_bytes_per_s.is_none() && nic.ingress_bytes_per_s.is_none());
        let mut net = Network {
            plain,
            whole: true,
            fast: false,
            rng,
            group_of: vec![0; n],
            partitioned: false,
            layers: BTreeMap::new(),
            next_layer: 0,
            cuts: Vec::new(),
            egress_free_at: vec![SimTime::ZERO; n],
            ingress_free_at: vec![SimTime::ZERO; n],
            fifo_last: BTreeMap::new(),
            fifo_arrive_last: BTreeMap::new(),
            cfg,
        };
        net.refresh();
        net
    }

    /// Recomputes the cached `whole` and `fast` after a change.
    fn refresh(&mut self) {
        self.whole = !self.partitioned && self.cuts.is_empty() && self.layers.is_empty();
        self.fast = self.plain && self.cfg.loss <= 0.0 && self.cfg.duplicate <= 0.0 && self.whole;
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Whether a message from `a` to `b` can get through now.
    #[inline]
    pub fn can_reach(&self, a: NodeId, b: NodeId) -> bool {
        a == b || self.whole || self.can_reach_split(a, b)
    }

    /// `can_reach` while some partition, cut or layer is in force.
    #[inline(never)]
    fn can_reach_split(&self, a: NodeId, b: NodeId) -> bool {
        if self.partitioned && self.group_of[a.index()] != self.group_of[b.index()] {
            return false;
        }
        if self.layers.values().any(|g| g[a.index()] != g[b.index()]) {
            return false;
        }
        !self.cuts.iter().any(|(from, to)| from.contains(a) && to.contains(b))
    }

    /// Whether no partition, cut or nemesis layer is in force.
    #[inline]
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    fn groups_of(&self, groups: &[Vec<NodeId>]) -> Vec<u32> {
        let mut group_of = vec![groups.len() as u32; self.group_of.len()];
        for (i, group) in groups.iter().enumerate() {
            for n in group {
                group_of[n.index()] = i as u32;
            }
        }
        group_of
    }

    /// Splits the nodes into groups, replacing the previous scheduled
    /// partition; nodes named in no group form one more group.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        self.group_of = self.groups_of(groups);
        self.partitioned = true;
        self.refresh();
    }

    /// Adds a partition layer of its own (a nemesis fault); returns its id.
    pub fn add_layer(&mut self, groups: &[Vec<NodeId>]) -> u64 {
        let id = self.next_layer;
        self.next_layer += 1;
        let layer = self.groups_of(groups);
        self.layers.insert(id, layer);
        self.refresh();
        id
    }

    /// Removes one layer; the scheduled partition, cuts and other layers stay.
    pub fn remove_layer(&mut self, id: u64) {
        self.layers.remove(&id);
        self.refresh();
    }

    /// Blocks messages from `from` to `to`, but not back.
    pub fn cut(&mut self, from: NodeSet, to: NodeSet) {
        self.cuts.push((from, to));
        self.refresh();
    }

    /// Removes all partitions, cuts and layers.
    pub fn heal(&mut self) {
        self.partitioned = false;
        self.cuts.clear();
        self.layers.clear();
        self.refresh();
    }

    /// A crashed node's NIC forgets its queues: what it had not yet sent is
    /// gone, and after a restart it starts idle.
    pub fn reset_nic(&mut self, n: NodeId, now: SimTime) {
        self.egress_free_at[n.index()] = now;
        self.ingress_free_at[n.index()] = now;
    }

    pub fn set_loss(&mut self, p: f64) {
        self.cfg.loss = p;
        self.refresh();
    }

    pub fn set_duplicate(&mut self, p: f64) {
        self.cfg.duplicate = p;
        self.refresh();
    }

    pub fn set_latency(&mut self, latency_ms: Dist) {
        self.cfg.latency_ms = latency_ms;
    }

    /// The latency of a message from `from` to `to`, when nothing but the
    /// latency draw decides its fate (see `plain`); `None` otherwise, and
    /// `route` must decide. Draws exactly what `route` would: no loss or
    /// duplication draw at probability zero, and the same latency draw.
    /// An unlimited NIC's queue is never busy, so its bookkeeping (which
    /// only ever moves to `now`) is skipped.
    #[inline]
    pub fn plain_latency_ns(&mut self, from: NodeId, to: NodeId) -> Option<u64> {
        if !self.fast {
            return None;
        }
        if from == to {
            return Some(0);
        }
        Some(self.cfg.latency_ms.sample_ns(&mut self.rng))
    }

    /// Decides the fate of one message sent at `now`.
    pub fn route(&mut self, now: SimTime, from: NodeId, to: NodeId, size_bytes: u64) -> Route {
        if !self.can_reach(from, to) {
            return Route::Dropped(DropReason::Partition);
        }
        if self.rng.chance(self.cfg.loss) {
            return Route::Dropped(DropReason::Loss);
        }
        let duplicated = self.rng.chance(self.cfg.duplicate);
        let first = self.hop(now, from, to, size_bytes);
        let duplicate = duplicated.then(|| self.hop(now, from, to, size_bytes));
        Route::Sent { first, duplicate }
    }

    fn hop(&mut self, now: SimTime, from: NodeId, to: NodeId, size_bytes: u64) -> Hop {
        let nic_out = self.cfg.nics[from.index()];
        let nic_in = self.cfg.nics[to.index()];
        let egress_start = now.max(self.egress_free_at[from.index()]);
        let egress_ns = transfer_ns(size_bytes, nic_out.egress_bytes_per_s);
        let egress_end = egress_start.after(egress_ns);
        self.egress_free_at[from.index()] = egress_end;

        let mut latency_ns = if from == to { 0 } else { latency_dist(&self.cfg, from, to).sample_ns(&mut self.rng) };
        if self.cfg.jitter_ms > 0.0 && from != to {
            latency_ns = latency_ns.saturating_add(ms_f64_to_ns(self.cfg.jitter_ms * self.rng.unit()));
        }
        let first_bit = egress_start.after(latency_ns);
        let last_bit = egress_end.after(latency_ns);
        // `sent_by`: when the last byte left the sender. A sender that
        // crashes before then never finishes sending it.
        let sent_by = egress_end;
        // Every message to a NIC with finite ingress bandwidth waits in its
        // queue, even an empty one: a queue is first-in first-out.
        if nic_in.ingress_bytes_per_s.is_some_and(|bw| bw > 0) && from != to {
            // Ingress order is decided when the message reaches the NIC, so on
            // a FIFO link it must reach the NIC in send order too: otherwise a
            // later message with less jitter takes the ingress queue first.
            let at = fifo_clamp(self.cfg.fifo, &mut self.fifo_arrive_last, from, to, first_bit);
            return Hop::Arrive { at, not_before: last_bit, sent_by };
        }
        Hop::Deliver { at: fifo_clamp(self.cfg.fifo, &mut self.fifo_last, from, to, last_bit), sent_by }
    }

    /// The receiver's NIC takes a message that arrived at `now`; returns its
    /// delivery time: once its ingress transfer (`size_bytes` at this NIC's
    /// bandwidth) is done, and no earlier than `not_before`.
    pub fn ingress(&mut self, now: SimTime, from: NodeId, to: NodeId, size_bytes: u64, not_before: SimTime) -> SimTime {
        let transfer_ns = transfer_ns(size_bytes, self.cfg.nics[to.index()].ingress_bytes_per_s);
        let start = now.max(self.ingress_free_at[to.index()]);
        let done = start.after(transfer_ns).max(not_before);
        self.ingress_free_at[to.index()] = done;
        fifo_clamp(self.cfg.fifo, &mut self.fifo_last, from, to, done)
    }
}

/// The latency distribution from `a` to `b`: the last matching link rule's.
fn latency_dist(cfg: &NetConfig, a: NodeId, b: NodeId) -> &Dist {
    for rule in cfg.links.iter().rev() {
        let forward = rule.from.contains(a) && rule.to.contains(b);
        let backward = !rule.one_way && rule.from.contains(b) && rule.to.contains(a);
        if forward || backward {
            return &rule.latency_ms;
        }
    }
    &cfg.latency_ms
}

/// On a FIFO network, moves `at` no earlier than the latest time recorded
/// in `last` for the link, and records it.
fn fifo_clamp(
    fifo: bool,
    last: &mut BTreeMap<(NodeId, NodeId), SimTime>,
    from: NodeId,
    to: NodeId,
    at: SimTime,
) -> SimTime {
    if !fifo {
        return at;
    }
    let last = last.entry((from, to)).or_insert(SimTime::ZERO);
    let at = at.max(*last);
    *last = at;
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn net(cfg: NetConfig) -> Network {
        Network::new(cfg, SimRng::new(1, Stream::Network))
    }

    /// The shortcut for a plain network must switch off with every fault
    /// that `route` would have to judge, and back on when it ends.
    #[test]
    fn the_latency_shortcut_follows_every_change() {
        let mut n = net(NetConfig::simple(4, 1.0));
        let (a, b) = (NodeId(0), NodeId(1));
        assert!(n.plain_latency_ns(a, b).is_some() && n.can_reach(a, b));
        n.set_loss(0.5);
        assert!(n.plain_latency_ns(a, b).is_none(), "loss");
        n.set_loss(0.0);
        n.set_duplicate(0.1);
        assert!(n.plain_latency_ns(a, b).is_none(), "duplication");
        n.set_duplicate(0.0);
        assert!(n.plain_latency_ns(a, b).is_some());
        n.cut(NodeSet::from_nodes([a]), NodeSet::from_nodes([b]));
        assert!(n.plain_latency_ns(a, b).is_none() && !n.can_reach(a, b) && !n.is_whole(), "cut");
        n.heal();
        assert!(n.plain_latency_ns(a, b).is_some() && n.can_reach(a, b) && n.is_whole());
        let layer = n.add_layer(&[vec![a], vec![b]]);
        assert!(n.plain_latency_ns(a, b).is_none() && !n.can_reach(a, b), "nemesis layer");
        n.remove_layer(layer);
        assert!(n.plain_latency_ns(a, b).is_some() && n.can_reach(a, b));
        n.partition(&[vec![a], vec![b]]);
        assert!(n.plain_latency_ns(a, b).is_none() && !n.can_reach(a, b), "partition");
        n.heal();
        assert!(n.plain_latency_ns(a, b).is_some());
        let mut jittery = NetConfig::simple(4, 1.0);
        jittery.jitter_ms = 0.2;
        assert!(net(jittery).plain_latency_ns(a, b).is_none(), "jitter needs the full route");
    }

    fn deliver_time(r: Route) -> SimTime {
        match r {
            Route::Sent { first: Hop::Deliver { at, .. }, .. } => at,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn transfer_time_is_size_over_bandwidth() {
        assert_eq!(transfer_ns(1_000_000, Some(1_000_000)), NANOS_PER_S);
        assert_eq!(transfer_ns(1, Some(3)), 333_333_334, "rounded up");
        assert_eq!(transfer_ns(1 << 30, None), 0);
    }

    #[test]
    fn one_way_cut_blocks_one_direction_only() {
        let mut n = net(NetConfig::simple(3, 1.0));
        n.cut(NodeSet::from_nodes([NodeId(0)]), NodeSet::from_nodes([NodeId(1)]));
        assert!(!n.can_reach(NodeId(0), NodeId(1)));
        assert!(n.can_reach(NodeId(1), NodeId(0)));
        assert!(n.can_reach(NodeId(0), NodeId(2)));
        n.heal();
        assert!(n.can_reach(NodeId(0), NodeId(1)));
    }

    #[test]
    fn partition_separates_groups_and_unlisted_nodes_form_their_own() {
        let mut n = net(NetConfig::simple(4, 1.0));
        n.partition(&[vec![NodeId(0), NodeId(1)], vec![NodeId(2)]]);
        assert!(n.can_reach(NodeId(0), NodeId(1)));
        assert!(!n.can_reach(NodeId(0), NodeId(2)));
        assert!(!n.can_reach(NodeId(2), NodeId(3)));
        assert!(!n.can_reach(NodeId(3), NodeId(1)));
        assert_eq!(n.route(SimTime::ZERO, NodeId(0), NodeId(2), 10), Route::Dropped(DropReason::Partition));
    }

    #[test]
    fn busy_egress_queues_later_messages() {
        let mut cfg = NetConfig::simple(2, 0.0);
        cfg.nics[0].egress_bytes_per_s = Some(1000);
        let mut n = net(cfg);
        let a = deliver_time(n.route(SimTime::ZERO, NodeId(0), NodeId(1), 1000));
        let b = deliver_time(n.route(SimTime::ZERO, NodeId(0), NodeId(1), 1000));
        assert_eq!(a, SimTime(NANOS_PER_S));
        assert_eq!(b, SimTime(2 * NANOS_PER_S));
    }

    #[test]
    fn link_rules_override_default_latency_both_ways() {
        let mut cfg = NetConfig::simple(3, 1.0);
        cfg.links.push(LinkRule {
            from: NodeSet::from_nodes([NodeId(0)]),
            to: NodeSet::from_nodes([NodeId(1)]),
            one_way: false,
            latency_ms: Dist::constant(32.0),
        });
        let mut n = net(cfg);
        assert_eq!(deliver_time(n.route(SimTime::ZERO, NodeId(0), NodeId(1), 1)), SimTime::from_ms(32));
        assert_eq!(deliver_time(n.route(SimTime::ZERO, NodeId(1), NodeId(0), 1)), SimTime::from_ms(32));
        assert_eq!(deliver_time(n.route(SimTime::ZERO, NodeId(0), NodeId(2), 1)), SimTime::from_ms(1));
    }

    #[test]
    fn fifo_links_never_reorder() {
        let mut cfg = NetConfig::simple(2, 1.0);
        cfg.latency_ms = Dist::Uniform { min: 0.0, max: 10.0 };
        cfg.fifo = true;
        let mut n = net(cfg);
        let mut last = SimTime::ZERO;
        for i in 0..1000 {
            let t = deliver_time(n.route(SimTime(i * 1000), NodeId(0), NodeId(1), 1));
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn jitter_without_fifo_reorders() {
        let mut cfg = NetConfig::simple(2, 1.0);
        cfg.jitter_ms = 5.0;
        let mut n = net(cfg);
        let times: Vec<_> =
            (0..100).map(|i| deliver_time(n.route(SimTime(i * 1000), NodeId(0), NodeId(1), 1))).collect();
        assert!(times.windows(2).any(|w| w[1] < w[0]), "some later message overtakes an earlier one");
    }
}
