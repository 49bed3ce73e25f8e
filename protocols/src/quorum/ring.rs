//! Consistent hashing: the ring of tokens, key positions, preference lists
//! and the key ranges anti-entropy compares.
//!
//! Positions come from a hash written here, never from std's hasher (whose
//! algorithm may change between releases and would move every key): 64-bit
//! FNV-1a over the bytes, followed by the 64-bit finaliser of MurmurHash3.
//! FNV-1a alone mixes the last bytes of its input poorly into the high bits,
//! and token names differ only in their last bytes (`n1#0`, `n1#1`, ...), so
//! without the finaliser a node's tokens would sit next to each other on the
//! ring. A key's position is the hash of its eight little-endian bytes; a
//! token's is the hash of `"{server name}#{token index}"`.

use sim_core::{Key, NodeId};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
fn fmix64(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// The stable 64-bit hash of `bytes` (FNV-1a, then `fmix64`).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    fmix64(h)
}

/// Folds `x` into the running hash `h` (for Merkle trees and digests).
pub fn mix(h: u64, x: u64) -> u64 {
    fmix64(h.rotate_left(23) ^ x.wrapping_mul(FNV_PRIME) ^ 0x9e37_79b9_7f4a_7c15)
}

/// A key's position on the ring.
pub fn key_position(key: Key) -> u64 {
    hash_bytes(&key.to_le_bytes())
}

/// The position of token `t` of the server called `name`.
pub fn token_position(name: &str, t: u32) -> u64 {
    hash_bytes(format!("{name}#{t}").as_bytes())
}

/// The name of server `i` (0-based): `n1`, `n2`, ...
pub fn server_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The ring: every server's tokens, sorted by position. Range `i` is the arc
/// that ends at token `i` (inclusive) and starts after token `i - 1` (range
/// 0 wraps around from the last token); a key belongs to the range of the
/// first token at or after its position.
#[derive(Clone, Debug)]
pub struct Ring {
    /// (position, server), sorted; equal positions (a hash collision) are
    /// ordered by server id, so the ring is the same everywhere.
    tokens: Vec<(u64, NodeId)>,
    /// Per range: every server once, in the order met walking clockwise
    /// from the range's token. The first `n` are the range's home replicas.
    preference: Vec<Vec<NodeId>>,
    n: usize,
    servers: usize,
}

impl Ring {
    /// The ring of servers `0..servers`, each with `tokens_per_node` tokens,
    /// replicating every key on `n` servers.
    pub fn new(servers: usize, tokens_per_node: u32, n: usize) -> Ring {
        assert!(servers > 0 && n > 0 && n <= servers, "a ring of {servers} servers cannot hold {n} replicas");
        assert!(tokens_per_node > 0, "every server needs a token");
        let mut tokens: Vec<(u64, NodeId)> = (0..servers)
            .flat_map(|i| {
                let name = server_name(i);
                (0..tokens_per_node).map(move |t| (token_position(&name, t), NodeId(i as u32)))
            })
            .collect();
        tokens.sort();
        let preference = (0..tokens.len())
            .map(|start| {
                let mut list: Vec<NodeId> = Vec::with_capacity(servers);
                for step in 0..tokens.len() {
                    let node = tokens[(start + step) % tokens.len()].1;
                    if !list.contains(&node) {
                        list.push(node);
                        if list.len() == servers {
                            break;
                        }
                    }
                }
                assert_eq!(list.len(), servers, "every server has a token, so every walk meets every server");
                list
            })
            .collect();
        Ring { tokens, preference, n, servers }
    }

    pub fn servers(&self) -> usize {
        self.servers
    }

    /// Replicas per key.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of ranges (= tokens on the ring).
    pub fn ranges(&self) -> usize {
        self.tokens.len()
    }

    /// The range a key belongs to.
    pub fn range_of(&self, key: Key) -> usize {
        let pos = key_position(key);
        let i = self.tokens.partition_point(|(p, _)| *p < pos);
        if i == self.tokens.len() { 0 } else { i }
    }

    /// `(start, end)`: range `r` holds positions in `(start, end]`, wrapping
    /// past `u64::MAX`. A ring with one token has one range: everything.
    pub fn range_bounds(&self, r: usize) -> (u64, u64) {
        let end = self.tokens[r].0;
        let start = self.tokens[(r + self.tokens.len() - 1) % self.tokens.len()].0;
        (start, end)
    }

    /// Every server, in the order a coordinator falls back to them for `key`:
    /// the home replicas first, then the rest clockwise (sloppy stand-ins).
    pub fn preference_list(&self, key: Key) -> &[NodeId] {
        &self.preference[self.range_of(key)]
    }

    /// The `n` home replicas of `key`, in ring order.
    pub fn homes(&self, key: Key) -> &[NodeId] {
        &self.preference_list(key)[..self.n]
    }

    /// The `n` home replicas of range `r`.
    pub fn range_homes(&self, r: usize) -> &[NodeId] {
        &self.preference[r][..self.n]
    }

    /// The preference list of the keys of range `r`.
    pub fn range_preference(&self, r: usize) -> &[NodeId] {
        &self.preference[r]
    }

    pub fn is_home(&self, node: NodeId, key: Key) -> bool {
        self.homes(key).contains(&node)
    }

    /// The ranges `node` is a home replica of, in ring order.
    pub fn ranges_of(&self, node: NodeId) -> Vec<usize> {
        (0..self.ranges()).filter(|&r| self.range_homes(r).contains(&node)).collect()
    }

    /// Which of `leaves` equal slices of its range `key` falls in.
    pub fn leaf_of(&self, key: Key, range: usize, leaves: u32) -> u32 {
        let (start, end) = self.range_bounds(range);
        let width = end.wrapping_sub(start);
        let offset = key_position(key).wrapping_sub(start).wrapping_sub(1);
        // A single-token ring's only range is the whole circle (width 0 by
        // wrapping arithmetic): then slice the full 2^64 positions.
        let span: u128 = if width == 0 { 1u128 << 64 } else { u128::from(width) };
        let leaf = (u128::from(offset) * u128::from(leaves)) / span;
        u32::try_from(leaf).expect("a leaf index is below the leaf count")
    }
}

/// The ranges of recently used keys, one slot per `key % SLOTS`: hashing
/// a key and searching the tokens cost more than the rest of planning an
/// operation, and workloads use the same keys again and again. It only
/// remembers what `Ring::range_of` said, and the ring never changes.
#[derive(Clone, Debug)]
pub struct RangeCache([Option<(Key, u32)>; RangeCache::SLOTS]);

impl Default for RangeCache {
    fn default() -> RangeCache {
        RangeCache([None; RangeCache::SLOTS])
    }
}

impl RangeCache {
    const SLOTS: usize = 256;

    /// `ring.range_of(key)`, remembered.
    pub fn range_of(&mut self, ring: &Ring, key: Key) -> usize {
        let slot = &mut self.0[(key % Self::SLOTS as u64) as usize];
        match *slot {
            Some((k, r)) if k == key => r as usize,
            _ => {
                let r = ring.range_of(key);
                *slot = Some((key, u32::try_from(r).expect("a range index fits in u32")));
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_pinned() {
        // Changing the hash moves every key and token: traces and catalog
        // expectations depend on it. These values were computed
        // independently of this code, from the definition above.
        assert_eq!(hash_bytes(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(key_position(0), 0x7bd3_144f_29c0_cc9e);
        assert_eq!(key_position(42), 0xa624_5a5d_cf27_8758);
        assert_eq!(token_position("n1", 0), 0x888a_f6a8_b088_99c2);
    }

    #[test]
    fn leaves_slice_each_range_in_ring_order() {
        let ring = Ring::new(3, 4, 2);
        for r in 0..ring.ranges() {
            let (start, _) = ring.range_bounds(r);
            let mut in_range: Vec<(u64, u32)> = (0..2_000)
                .filter(|&k| ring.range_of(k) == r)
                .map(|k| (key_position(k).wrapping_sub(start), ring.leaf_of(k, r, 16)))
                .collect();
            in_range.sort();
            assert!(in_range.iter().all(|(_, leaf)| *leaf < 16));
            assert!(in_range.windows(2).all(|w| w[0].1 <= w[1].1), "range {r}: leaves out of ring order");
        }
        let single = Ring::new(1, 1, 1);
        assert!((0..100).all(|k| single.range_of(k) == 0 && single.leaf_of(k, 0, 8) < 8));
        let leaves: std::collections::BTreeSet<u32> = (0..1_000).map(|k| single.leaf_of(k, 0, 8)).collect();
        assert_eq!(leaves.len(), 8, "the one range of a one-token ring is the whole circle");
    }

    #[test]
    fn the_range_cache_agrees_with_the_ring() {
        let ring = Ring::new(5, 8, 3);
        let mut cache = RangeCache::default();
        // Keys 256 apart share a slot: each evicts the other.
        for k in (0..2_000).chain(0..2_000).chain([7, 263, 7, 263, u64::MAX]) {
            assert_eq!(cache.range_of(&ring, k), ring.range_of(k), "key {k}");
        }
    }
}
