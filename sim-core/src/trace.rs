//! The trace hash and the optional event trace.
//!
//! Every processed event is folded into a 64-bit hash. Two runs with the same
//! hash processed the same events in the same order with the same contents,
//! so the hash is the fingerprint that `--seed` reproduces. The hasher is
//! written here, not taken from `std`, because std's algorithm may change
//! between releases; integer writes are folded by value, so the hash is the
//! same on little- and big-endian and on 32- and 64-bit machines.

use crate::NodeId;
use crate::time::SimTime;
use std::hash::Hasher;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A fast, stable, platform-independent 64-bit hasher.
#[derive(Clone, Debug)]
pub struct TraceHasher {
    state: u64,
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher { state: 0x243F_6A88_85A3_08D3 }
    }
}

impl TraceHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        self.state = (self.state.rotate_left(5) ^ x).wrapping_mul(K);
    }

    /// The final hash, with an avalanche so similar traces differ in many bits.
    pub fn digest(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.digest()
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("chunk of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.mix(i as u64);
    }
    fn write_i16(&mut self, i: i16) {
        self.mix(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.mix(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.mix(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.mix(i as u64);
    }
}

/// What kind of event a trace entry records.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceKind {
    Send,
    Deliver,
    Drop,
    Timer,
    Invoke,
    Complete,
    Fault,
}

/// One entry of the optional event trace (for diagrams and debugging).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceEvent {
    pub at: SimTime,
    pub kind: TraceKind,
    pub node: NodeId,
    /// The other end of a message, if any.
    pub peer: Option<NodeId>,
    /// Message type, op kind, drop reason or fault kind.
    pub label: &'static str,
    pub size_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn h<T: Hash>(t: T) -> u64 {
        let mut s = TraceHasher::default();
        t.hash(&mut s);
        s.digest()
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        assert_eq!(h((1u32, "a")), h((1u32, "a")));
        assert_ne!(h((1u32, "a")), h((2u32, "a")));
        assert_ne!(h((1u32, 2u32)), h((2u32, 1u32)), "order matters");
        // Integer writes are folded by value, not by native bytes.
        assert_eq!(h(7u32), h(7u64));
    }
}
