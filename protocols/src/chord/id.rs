//! Identifiers on a ring of 2^m positions (m <= 160), and SHA-1, which
//! hashes node names and keys onto it.
//!
//! An identifier is three 64-bit limbs, most significant first, so the
//! derived order is the numeric order. Every value is kept below 2^m.

use serde::Serialize;
use std::fmt;

/// The largest ring: SHA-1's 160 bits.
pub const MAX_BITS: u32 = 160;

/// A position on the identifier ring.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u64; 3]);

impl Id {
    pub const ZERO: Id = Id([0; 3]);

    pub fn from_u128(v: u128) -> Id {
        Id([0, (v >> 64) as u64, v as u64])
    }

    /// 2^i (i < 192).
    pub fn pow2(i: u32) -> Id {
        assert!(i < 192, "2^{i} does not fit an identifier");
        let mut limbs = [0u64; 3];
        limbs[2 - (i / 64) as usize] = 1 << (i % 64);
        Id(limbs)
    }

    /// Keeps the low `m` bits.
    pub fn masked(self, m: u32) -> Id {
        assert!((1..=MAX_BITS).contains(&m), "ring of {m} bits");
        let mut limbs = self.0;
        for (k, limb) in limbs.iter_mut().enumerate() {
            let low_bit = (2 - k as u32) * 64;
            if m <= low_bit {
                *limb = 0;
            } else if m - low_bit < 64 {
                *limb &= (1u64 << (m - low_bit)) - 1;
            }
        }
        Id(limbs)
    }

    /// `self + other` modulo 2^m.
    pub fn add(self, other: Id, m: u32) -> Id {
        let mut out = [0u64; 3];
        let mut carry = false;
        for k in (0..3).rev() {
            let (s1, c1) = self.0[k].overflowing_add(other.0[k]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            out[k] = s2;
            carry = c1 || c2;
        }
        Id(out).masked(m)
    }

    /// Whether `m` bits can hold this identifier.
    pub fn fits(self, m: u32) -> bool {
        self.masked(m) == self
    }

    /// The first 160 bits of SHA-1 of `bytes`, as a number, modulo 2^m.
    pub fn hash(bytes: &[u8], m: u32) -> Id {
        let d = sha1(bytes);
        let limb = |b: &[u8]| b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64);
        Id([limb(&d[0..4]), limb(&d[4..12]), limb(&d[12..20])]).masked(m)
    }

    /// Parses a decimal or `0x` hexadecimal identifier.
    pub fn parse(s: &str) -> Option<Id> {
        let (digits, radix) = match s.strip_prefix("0x") {
            Some(h) => (h, 16u64),
            None => (s, 10u64),
        };
        if digits.is_empty() {
            return None;
        }
        let mut limbs = [0u64; 3];
        for c in digits.chars() {
            let d = c.to_digit(radix as u32)? as u64;
            // limbs = limbs * radix + d, failing on overflow of 192 bits.
            let mut carry = d as u128;
            for k in (0..3).rev() {
                let v = limbs[k] as u128 * radix as u128 + carry;
                limbs[k] = v as u64;
                carry = v >> 64;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(Id(limbs))
    }

    /// x in the open interval (a, b) going clockwise; (a, a) is everything but a.
    pub fn in_open(self, a: Id, b: Id) -> bool {
        if a < b { a < self && self < b } else { self > a || self < b }
    }

    /// x in the half-open interval (a, b]; (a, a] is the whole ring.
    pub fn in_half_open(self, a: Id, b: Id) -> bool {
        if a < b { a < self && self <= b } else { self > a || self <= b }
    }
}

impl fmt::Display for Id {
    /// Decimal below 2^64 (classroom rings), hexadecimal above.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [0, 0, v] => write!(f, "{v}"),
            [0, hi, lo] => write!(f, "0x{hi:x}{lo:016x}"),
            [top, hi, lo] => write!(f, "0x{top:x}{hi:016x}{lo:016x}"),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// SHA-1 (FIPS 180-4), written here so identifiers never depend on a
/// dependency's version. Not for security: only to spread names evenly.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn arithmetic_wraps_at_2_to_the_m() {
        let m = 3;
        assert_eq!(Id::from_u128(6).add(Id::pow2(2), m), Id::from_u128(2));
        assert_eq!(Id::pow2(159).add(Id::pow2(159), 160), Id::ZERO);
        assert_eq!(Id::pow2(63).add(Id::pow2(63), 160), Id::pow2(64));
        assert!(Id::from_u128(0).in_half_open(Id::from_u128(6), Id::from_u128(1)));
        assert!(!Id::from_u128(6).in_half_open(Id::from_u128(6), Id::from_u128(1)));
        assert!(Id::from_u128(3).in_half_open(Id::from_u128(3), Id::from_u128(3)));
        assert!(!Id::from_u128(3).in_open(Id::from_u128(3), Id::from_u128(3)));
        assert_eq!(Id::parse("0x10"), Some(Id::from_u128(16)));
        assert_eq!(Id::parse(&Id::pow2(150).to_string()), Some(Id::pow2(150)));
        assert!(!Id::pow2(3).fits(3));
    }
}
