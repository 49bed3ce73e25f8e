//! Client workloads: which client does what, to which key, and when.
//!
//! Three arrival modes, which can be combined with a script:
//! - closed loop: each client runs one operation at a time and waits a
//!   think time after each completion before the next;
//! - open loop: operations arrive as a Poisson process at a total rate and
//!   go to a uniformly chosen client, whether or not it is still busy;
//! - script: exact operations at exact times, for teaching scenarios.
//!
//! Keys are drawn uniformly, from a Zipf distribution, or from a hotspot
//! (a fraction of the keys receives a fixed share of the accesses).
//!
//! Transactions draw their extra keys the same way (distinct from the
//! first) and transfers an amount. File workloads run in sessions: a client
//! opens a file, runs a drawn number of operations from the mix on it (one
//! block each, drawn uniformly), and closes it.

use crate::NodeId;
use crate::dist::Dist;
use crate::history::{Key, MAX_KEYS_PER_OP, Op, OpArg, OpKind, Value};
use crate::rng::SimRng;
use crate::time::{NANOS_PER_S, SimTime};

/// The largest value a workload writes (1 TiB); larger draws are capped.
pub const MAX_VALUE_SIZE_BYTES: u64 = 1 << 40;

/// How keys are chosen from `0..keys`.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyDist {
    Uniform,
    /// P(rank k) proportional to 1 / k^exponent; key 0 is the hottest.
    Zipf {
        exponent: f64,
    },
    /// The first `hot_fraction` of the keys receive `hot_probability` of the accesses.
    Hotspot {
        hot_fraction: f64,
        hot_probability: f64,
    },
}

/// How operations arrive.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// One operation per client at a time, with a think time between them.
    Closed { think_time_ms: Dist },
    /// A Poisson process of `rate_per_s` operations per second in total.
    Open { rate_per_s: f64 },
    /// Only the script runs.
    ScriptOnly,
}

/// An operation at a fixed time on a fixed client.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedOp {
    pub at: SimTime,
    pub client: NodeId,
    pub op: Op,
}

/// The workload with names resolved to ids.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub clients: Vec<NodeId>,
    pub arrivals: Arrivals,
    pub keys: u64,
    pub key_dist: KeyDist,
    /// Relative weights of operation kinds.
    pub mix: Vec<(OpKind, f64)>,
    pub value_size_bytes: Dist,
    pub ops_per_client: Option<u64>,
    pub total_ops: Option<u64>,
    /// Generated operations start at `start` and none is issued at or after `stop`.
    pub start: SimTime,
    pub stop: SimTime,
    pub script: Vec<ScriptedOp>,
    /// Keys per multi-key operation (2 to `MAX_KEYS_PER_OP`).
    pub keys_per_op: usize,
    /// Amount of each transfer (rounded; at least 1).
    pub transfer_amount: Dist,
    /// Blocks per file, for block reads and writes.
    pub blocks_per_file: u32,
    /// File sessions: when set, generated operations come as
    /// open, `ops_per_session` operations from the mix, close.
    pub sessions: Option<Sessions>,
}

/// How file sessions are shaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Sessions {
    /// Operations between the open and the close (rounded; at least 0).
    pub ops_per_session: Dist,
}

/// A client's session in progress: the file and the operations left
/// before its close.
#[derive(Copy, Clone, Debug)]
struct OpenSession {
    file: Key,
    left: u64,
}

impl WorkloadConfig {
    /// A closed-loop get/put workload without think time.
    pub fn closed(clients: Vec<NodeId>, keys: u64, stop: SimTime) -> WorkloadConfig {
        WorkloadConfig {
            clients,
            arrivals: Arrivals::Closed { think_time_ms: Dist::constant(0.0) },
            keys,
            key_dist: KeyDist::Uniform,
            mix: vec![(OpKind::Get, 0.5), (OpKind::Put, 0.5)],
            value_size_bytes: Dist::constant(100.0),
            ops_per_client: None,
            total_ops: None,
            start: SimTime::ZERO,
            stop,
            script: Vec::new(),
            keys_per_op: 2,
            transfer_amount: Dist::constant(10.0),
            blocks_per_file: 4,
            sessions: None,
        }
    }
}

/// Draws operations for the engine.
pub struct Workload {
    pub(crate) cfg: WorkloadConfig,
    rng: SimRng,
    /// Cumulative Zipf weights, when the key distribution is Zipf.
    zipf_cdf: Vec<f64>,
    mix_total: f64,
    next_value_id: u64,
    issued_total: u64,
    /// Operations issued per node (only client entries are used).
    issued_per_node: Vec<u64>,
    /// Each client's open file session, when sessions are on.
    sessions: Vec<Option<OpenSession>>,
}

impl Workload {
    pub fn new(cfg: WorkloadConfig, rng: SimRng, node_count: usize) -> Workload {
        let zipf_cdf = match cfg.key_dist {
            KeyDist::Zipf { exponent } => {
                let mut acc = 0.0;
                (1..=cfg.keys)
                    .map(|k| {
                        acc += 1.0 / libm::pow(k as f64, exponent);
                        acc
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let mix_total = cfg.mix.iter().map(|(_, w)| *w).sum();
        // Generated value ids start above every scripted one, so ids stay unique.
        let first_id = cfg.script.iter().filter_map(|s| s.op.value.map(|v| v.id)).max().unwrap_or(0) + 1;
        Workload {
            cfg,
            rng,
            zipf_cdf,
            mix_total,
            next_value_id: first_id,
            issued_total: 0,
            issued_per_node: vec![0; node_count],
            sessions: vec![None; node_count],
        }
    }

    pub fn config(&self) -> &WorkloadConfig {
        &self.cfg
    }

    /// Whether `client` may start a generated operation at `at`.
    pub fn may_issue(&self, client: NodeId, at: SimTime) -> bool {
        at < self.cfg.stop
            && self.cfg.total_ops.is_none_or(|t| self.issued_total < t)
            && self.cfg.ops_per_client.is_none_or(|t| self.issued_per_node[client.index()] < t)
            && self.cfg.keys > 0
            && self.mix_total > 0.0
    }

    /// Draws the next generated operation for `client` and counts it.
    pub fn next_op(&mut self, client: NodeId) -> Op {
        self.issued_total += 1;
        self.issued_per_node[client.index()] += 1;
        if self.cfg.sessions.is_some() {
            return match self.sessions[client.index()] {
                None => {
                    let file = self.draw_key();
                    let shape = self.cfg.sessions.as_ref().expect("sessions are on");
                    let n = libm::round(shape.ops_per_session.sample(&mut self.rng).max(0.0)) as u64;
                    self.sessions[client.index()] = Some(OpenSession { file, left: n });
                    Op::on(OpKind::Open, file)
                }
                Some(OpenSession { file, left: 0 }) => {
                    self.sessions[client.index()] = None;
                    Op::on(OpKind::Close, file)
                }
                Some(OpenSession { file, left }) => {
                    self.sessions[client.index()] = Some(OpenSession { file, left: left - 1 });
                    let kind = self.draw_kind();
                    self.op_of(kind, file)
                }
            };
        }
        let key = self.draw_key();
        let kind = self.draw_kind();
        self.op_of(kind, key)
    }

    fn draw_kind(&mut self) -> OpKind {
        let mut pick = self.rng.unit() * self.mix_total;
        let mut kind = self.cfg.mix.last().map(|(k, _)| *k).unwrap_or(OpKind::Get);
        for (k, w) in &self.cfg.mix {
            if pick < *w {
                kind = *k;
                break;
            }
            pick -= w;
        }
        kind
    }

    /// Completes an operation of `kind` on `key` with what it needs.
    fn op_of(&mut self, kind: OpKind, key: Key) -> Op {
        let value = kind.carries_value().then(|| self.fresh_value());
        let arg = match kind {
            OpKind::Transfer => {
                let to = self.distinct_keys(key, 1)[0];
                let amount = libm::round(self.cfg.transfer_amount.sample(&mut self.rng)).max(1.0) as u64;
                OpArg::Transfer { to, amount }
            }
            OpKind::MultiPut | OpKind::MultiGet => {
                let n = self.cfg.keys_per_op.clamp(1, MAX_KEYS_PER_OP);
                let drawn = self.distinct_keys(key, n - 1);
                let mut more = [0; MAX_KEYS_PER_OP - 1];
                more[..drawn.len()].copy_from_slice(&drawn);
                OpArg::Keys { len: drawn.len() as u8, more }
            }
            OpKind::Read | OpKind::Write => {
                OpArg::Block(self.rng.below(u64::from(self.cfg.blocks_per_file.max(1))) as u32)
            }
            _ => OpArg::None,
        };
        Op { kind, key, value, arg }
    }

    /// Up to `n` keys drawn from the key distribution, distinct from each
    /// other and from `first`. A key space too small for them gives fewer.
    fn distinct_keys(&mut self, first: Key, n: usize) -> Vec<Key> {
        let want = n.min(self.cfg.keys.saturating_sub(1) as usize);
        let mut out: Vec<Key> = Vec::with_capacity(want);
        // Skewed distributions may redraw the hot key many times; after a
        // bounded number of tries, walk the key space from a uniform start.
        let mut tries = 0;
        while out.len() < want {
            let k =
                if tries < 64 { self.draw_key() } else { (first + 1 + self.rng.below(self.cfg.keys)) % self.cfg.keys };
            tries += 1;
            if k != first && !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    fn fresh_value(&mut self) -> Value {
        // The tail of a normal or exponential size may exceed any real
        // value; capping keeps byte counters far from overflow.
        let size = self.cfg.value_size_bytes.sample(&mut self.rng).min(MAX_VALUE_SIZE_BYTES as f64);
        let id = self.next_value_id;
        self.next_value_id += 1;
        Value { id, size_bytes: libm::round(size) as u64 }
    }

    fn draw_key(&mut self) -> Key {
        let n = self.cfg.keys;
        match self.cfg.key_dist {
            KeyDist::Uniform => self.rng.below(n),
            KeyDist::Zipf { .. } => {
                let total = *self.zipf_cdf.last().expect("zipf over an empty key space");
                let x = self.rng.unit() * total;
                self.zipf_cdf.partition_point(|c| *c <= x).min(n as usize - 1) as Key
            }
            KeyDist::Hotspot { hot_fraction, hot_probability } => {
                let hot = ((n as f64 * hot_fraction).ceil() as u64).clamp(1, n);
                if hot == n || self.rng.chance(hot_probability) {
                    self.rng.below(hot)
                } else {
                    hot + self.rng.below(n - hot)
                }
            }
        }
    }

    /// Think time before a closed-loop client's next operation.
    pub fn think_time_ns(&mut self) -> u64 {
        match &self.cfg.arrivals {
            Arrivals::Closed { think_time_ms } => think_time_ms.sample_ns(&mut self.rng),
            _ => 0,
        }
    }

    /// Gap to the next open-loop arrival (exponential with mean 1/rate).
    pub fn arrival_gap_ns(&mut self) -> u64 {
        match self.cfg.arrivals {
            Arrivals::Open { rate_per_s } if rate_per_s > 0.0 => {
                let gap_s = -libm::log(1.0 - self.rng.unit()) / rate_per_s;
                libm::round(gap_s * NANOS_PER_S as f64).max(1.0) as u64
            }
            _ => u64::MAX,
        }
    }

    /// A uniformly chosen client, for open-loop arrivals.
    pub fn pick_client(&mut self) -> Option<NodeId> {
        self.rng.pick(&self.cfg.clients).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn workload(key_dist: KeyDist, keys: u64) -> Workload {
        let mut cfg = WorkloadConfig::closed(vec![NodeId(0)], keys, SimTime::MAX);
        cfg.key_dist = key_dist;
        Workload::new(cfg, SimRng::new(5, Stream::Workload), 1)
    }

    fn key_counts(w: &mut Workload, draws: usize) -> Vec<usize> {
        let mut counts = vec![0; w.cfg.keys as usize];
        for _ in 0..draws {
            counts[w.draw_key() as usize] += 1;
        }
        counts
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let mut w = workload(KeyDist::Zipf { exponent: 1.0 }, 100);
        let c = key_counts(&mut w, 100_000);
        // P(key 0) = 1 / H(100) ~ 0.193.
        assert!((18_000..20_600).contains(&c[0]), "{}", c[0]);
        assert!(c[0] > c[1] && c[1] > c[9] && c[9] > c[99]);
    }

    #[test]
    fn hotspot_sends_the_stated_share_to_hot_keys() {
        let mut w = workload(KeyDist::Hotspot { hot_fraction: 0.1, hot_probability: 0.9 }, 100);
        let c = key_counts(&mut w, 100_000);
        let hot: usize = c[..10].iter().sum();
        assert!((89_000..91_000).contains(&hot), "{hot}");
    }

    #[test]
    fn uniform_covers_all_keys() {
        let mut w = workload(KeyDist::Uniform, 50);
        assert!(key_counts(&mut w, 10_000).iter().all(|c| *c > 100));
    }

    #[test]
    fn writes_get_unique_value_ids_and_mix_is_respected() {
        let mut w = workload(KeyDist::Uniform, 10);
        let ops: Vec<Op> = (0..10_000).map(|_| w.next_op(NodeId(0))).collect();
        let mut ids: Vec<u64> = ops.iter().filter_map(|o| o.value.map(|v| v.id)).collect();
        let puts = ids.len();
        assert!((4_700..5_300).contains(&puts), "{puts}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), puts);
        assert!(ops.iter().all(|o| o.value.is_some() == (o.kind == OpKind::Put)));
    }

    #[test]
    fn budgets_and_stop_time_end_issuing() {
        let mut cfg = WorkloadConfig::closed(vec![NodeId(0), NodeId(1)], 10, SimTime::from_ms(10));
        cfg.ops_per_client = Some(2);
        let mut w = Workload::new(cfg, SimRng::new(1, Stream::Workload), 2);
        assert!(w.may_issue(NodeId(0), SimTime::ZERO));
        assert!(!w.may_issue(NodeId(0), SimTime::from_ms(10)), "stop is exclusive");
        w.next_op(NodeId(0));
        w.next_op(NodeId(0));
        assert!(!w.may_issue(NodeId(0), SimTime::ZERO));
        assert!(w.may_issue(NodeId(1), SimTime::ZERO));
    }

    fn workload_with(mix: Vec<(OpKind, f64)>, keys: u64, edit: impl FnOnce(&mut WorkloadConfig)) -> Workload {
        let mut cfg = WorkloadConfig::closed(vec![NodeId(0), NodeId(1)], keys, SimTime::MAX);
        cfg.mix = mix;
        edit(&mut cfg);
        Workload::new(cfg, SimRng::new(9, Stream::Workload), 2)
    }

    #[test]
    fn transfers_move_a_drawn_amount_between_two_different_accounts() {
        let mut w = workload_with(vec![(OpKind::Transfer, 1.0)], 3, |c| {
            c.transfer_amount = Dist::Uniform { min: 1.0, max: 50.0 };
        });
        for _ in 0..2_000 {
            let op = w.next_op(NodeId(0));
            let OpArg::Transfer { to, amount } = op.arg else { panic!("{op:?}") };
            assert!(to != op.key && to < 3 && op.key < 3, "{op:?}");
            assert!((1..=50).contains(&amount), "{op:?}");
            assert!(op.value.is_none());
        }
    }

    #[test]
    fn multi_key_ops_name_distinct_keys_even_under_heavy_skew() {
        let mut w = workload_with(vec![(OpKind::MultiPut, 1.0), (OpKind::MultiGet, 1.0)], 5, |c| {
            c.keys_per_op = 4;
            c.key_dist = KeyDist::Hotspot { hot_fraction: 0.2, hot_probability: 1.0 };
        });
        for _ in 0..2_000 {
            let op = w.next_op(NodeId(1));
            let mut keys: Vec<Key> = op.keys().collect();
            assert_eq!(keys.len(), 4, "{op:?}");
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 4, "keys repeat in {op:?}");
            assert_eq!(op.value.is_some(), op.kind == OpKind::MultiPut);
        }
    }

    #[test]
    fn a_key_space_too_small_gives_fewer_keys_not_a_hang() {
        let mut w = workload_with(vec![(OpKind::MultiGet, 1.0)], 2, |c| c.keys_per_op = 4);
        let op = w.next_op(NodeId(0));
        assert_eq!(op.keys().count(), 2);
    }

    #[test]
    fn sessions_open_run_their_ops_on_one_file_and_close_it() {
        let mut w = workload_with(vec![(OpKind::Read, 1.0), (OpKind::Write, 1.0)], 10, |c| {
            c.sessions = Some(Sessions { ops_per_session: Dist::constant(3.0) });
            c.blocks_per_file = 2;
        });
        // Two clients interleave; each has its own session.
        let mut per_client: Vec<Vec<Op>> = vec![Vec::new(), Vec::new()];
        for i in 0..50 {
            let c = NodeId(i % 2);
            per_client[c.index()].push(w.next_op(c));
        }
        for ops in &per_client {
            for session in ops.chunks(5).filter(|s| s.len() == 5) {
                assert_eq!(session[0].kind, OpKind::Open);
                assert_eq!(session[4].kind, OpKind::Close);
                assert!(session.iter().all(|o| o.key == session[0].key), "{session:?}");
                for o in &session[1..4] {
                    assert!(matches!(o.kind, OpKind::Read | OpKind::Write), "{o:?}");
                    assert!(matches!(o.arg, OpArg::Block(b) if b < 2), "{o:?}");
                    assert_eq!(o.value.is_some(), o.kind == OpKind::Write);
                }
            }
        }
    }
}
