//! Probability distributions for latencies, think times and value sizes.
//!
//! The unit of a distribution is given by the key that holds it
//! (`latency_ms`, `value_size_bytes`), so the distribution itself is unitless.
//! In a scenario file a bare number means a constant; a table names the
//! distribution:
//!
//! ```toml
//! latency_ms = 2
//! latency_ms = { dist = "uniform", min = 1, max = 3 }
//! latency_ms = { dist = "normal", mean = 5, stddev = 1 }      # truncated at 0
//! latency_ms = { dist = "exponential", mean = 4, offset = 1 } # offset + Exp(mean)
//! ```
//!
//! Sampling uses `libm`, not the platform's maths library, so draws are
//! bit-identical across machines.

use crate::rng::SimRng;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// A distribution of non-negative values.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum Dist {
    Constant { value: f64 },
    Uniform { min: f64, max: f64 },
    Normal { mean: f64, stddev: f64 },
    Exponential { mean: f64, offset: f64 },
}

/// Below this many milliseconds (2^52 ns, about 52 days) a uniform draw in
/// nanoseconds is exact in an `f64`'s whole part, so `sample_ns` may round
/// it without `ms_f64_to_ns`'s guards.
const FAST_MAX_MS: f64 = (1u64 << 52) as f64 / crate::time::NANOS_PER_MS as f64;

/// Rounds `ns`, in [0, 2^52), half away from zero, exactly as
/// `ms_f64_to_ns` does, in two instructions: truncating `ns + 0.5`. The sum
/// is exact below 2^52 (0.5 is a multiple of the spacing of floats there),
/// except where it crosses a power of two, and there the rounding cannot
/// cross a whole number. Through `i64`: x86-64 converts a signed integer in
/// one instruction, an unsigned one in a dozen (before AVX-512). It is on
/// the path of every message latency, and its result decides where the
/// message goes in the queue.
#[inline]
fn round_small_ns(ns: f64) -> u64 {
    (ns + 0.5) as i64 as u64
}

impl Dist {
    pub fn constant(value: f64) -> Dist {
        Dist::Constant { value }
    }

    /// Draws one value; never negative. A constant draws no randomness, so
    /// replacing a constant by another constant leaves every stream unchanged.
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        let x = match *self {
            Dist::Constant { value } => value,
            Dist::Uniform { min, max } => min + (max - min) * rng.unit(),
            Dist::Normal { mean, stddev } => {
                // Box–Muller; 1 - unit() lies in (0, 1], so the log is finite.
                let u1 = 1.0 - rng.unit();
                let u2 = rng.unit();
                let z = libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2);
                mean + stddev * z
            }
            Dist::Exponential { mean, offset } => offset - mean * libm::log(1.0 - rng.unit()),
        };
        x.max(0.0)
    }

    /// A draw in milliseconds converted to whole nanoseconds: exactly
    /// `ms_f64_to_ns(self.sample(rng))`, with the same draws, but a uniform
    /// delay of ordinary size (every message latency and most think times)
    /// skips the conversion's guards, which cannot fire for it: the draw
    /// is finite, at least `min >= 0`, and below 2^52 ns.
    #[inline]
    pub fn sample_ns(&self, rng: &mut SimRng) -> u64 {
        match *self {
            Dist::Uniform { min, max } if min >= 0.0 && min <= max && max < FAST_MAX_MS => {
                let ns = (min + (max - min) * rng.unit()) * crate::time::NANOS_PER_MS as f64;
                round_small_ns(ns)
            }
            _ => crate::time::ms_f64_to_ns(self.sample(rng)),
        }
    }

    /// The mean (before truncation at zero).
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Constant { value } => value,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Normal { mean, .. } => mean,
            Dist::Exponential { mean, offset } => offset + mean,
        }
    }

    /// Checks the parameters; the message says how to fix them.
    pub fn validate(&self) -> Result<(), String> {
        let finite_non_negative = |name: &str, v: f64| {
            if !v.is_finite() || v < 0.0 {
                Err(format!("`{name}` must be a finite number >= 0, got {v}"))
            } else {
                Ok(())
            }
        };
        match *self {
            Dist::Constant { value } => finite_non_negative("value", value),
            Dist::Uniform { min, max } => {
                finite_non_negative("min", min)?;
                finite_non_negative("max", max)?;
                if min > max {
                    return Err(format!("uniform needs min <= max, got min = {min}, max = {max}"));
                }
                Ok(())
            }
            Dist::Normal { mean, stddev } => {
                finite_non_negative("mean", mean)?;
                finite_non_negative("stddev", stddev)
            }
            Dist::Exponential { mean, offset } => {
                finite_non_negative("mean", mean)?;
                finite_non_negative("offset", offset)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dist, D::Error> {
        struct DistVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            dist: String,
            value: Option<f64>,
            min: Option<f64>,
            max: Option<f64>,
            mean: Option<f64>,
            stddev: Option<f64>,
            offset: Option<f64>,
        }

        fn need<E: de::Error>(dist: &str, name: &str, v: Option<f64>) -> Result<f64, E> {
            v.ok_or_else(|| E::custom(format!("a {dist} distribution needs `{name}`")))
        }

        fn checked<E: de::Error>(d: Dist) -> Result<Dist, E> {
            d.validate().map_err(E::custom)?;
            Ok(d)
        }

        impl<'de> Visitor<'de> for DistVisitor {
            type Value = Dist;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a number, or a table such as { dist = \"uniform\", min = 1, max = 3 } \
                     (dist is one of constant, uniform, normal, exponential)",
                )
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dist, E> {
                checked(Dist::constant(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist, E> {
                checked(Dist::constant(v as f64))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dist, E> {
                checked(Dist::constant(v))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Dist, M::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let allowed: &[&str] = match t.dist.as_str() {
                    "constant" => &["value"],
                    "uniform" => &["min", "max"],
                    "normal" => &["mean", "stddev"],
                    "exponential" => &["mean", "offset"],
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown distribution `{other}`: use constant, uniform, normal or exponential"
                        )));
                    }
                };
                let given = [
                    ("value", t.value),
                    ("min", t.min),
                    ("max", t.max),
                    ("mean", t.mean),
                    ("stddev", t.stddev),
                    ("offset", t.offset),
                ];
                for (name, v) in given {
                    if v.is_some() && !allowed.contains(&name) {
                        return Err(de::Error::custom(format!(
                            "a {} distribution takes {}, not `{name}`",
                            t.dist,
                            allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
                let d = match t.dist.as_str() {
                    "constant" => Dist::Constant { value: need("constant", "value", t.value)? },
                    "uniform" => {
                        Dist::Uniform { min: need("uniform", "min", t.min)?, max: need("uniform", "max", t.max)? }
                    }
                    "normal" => Dist::Normal {
                        mean: need("normal", "mean", t.mean)?,
                        stddev: need("normal", "stddev", t.stddev)?,
                    },
                    _ => Dist::Exponential {
                        mean: need("exponential", "mean", t.mean)?,
                        offset: t.offset.unwrap_or(0.0),
                    },
                };
                checked(d)
            }
        }

        deserializer.deserialize_any(DistVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut rng = SimRng::new(11, Stream::Network);
        (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / n as f64
    }

    /// The shortcut must give the very nanoseconds the general path gives,
    /// from the same draws, or every trace hash would move.
    #[test]
    fn sample_ns_equals_the_general_conversion() {
        let dists = [
            Dist::Uniform { min: 0.5, max: 1.5 },
            Dist::Uniform { min: 0.0, max: 10.0 },
            Dist::Uniform { min: 0.0, max: 0.0 },
            Dist::Uniform { min: 3.0, max: 3.0 },
            Dist::Uniform { min: 0.0000005, max: 0.0000015 },
            Dist::Uniform { min: 1e6, max: 4e9 },
            Dist::Uniform { min: 4e9, max: 5e9 },
            Dist::Uniform { min: 1e13, max: 1e14 },
            Dist::constant(2.5),
            Dist::Normal { mean: 1.0, stddev: 3.0 },
            Dist::Exponential { mean: 2.0, offset: 0.1 },
        ];
        for d in dists {
            let (mut fast, mut slow) = (SimRng::new(9, Stream::Network), SimRng::new(9, Stream::Network));
            for _ in 0..100_000 {
                assert_eq!(d.sample_ns(&mut fast), crate::time::ms_f64_to_ns(d.sample(&mut slow)), "{d:?}");
            }
            assert_eq!(fast.next_u64(), slow.next_u64(), "{d:?}: the same number of draws");
        }
        // Draws that land exactly on half a nanosecond round up, as before.
        let half = Dist::Uniform { min: 0.0000025, max: 0.0000025 };
        assert_eq!(half.sample_ns(&mut SimRng::new(1, Stream::Network)), crate::time::ms_f64_to_ns(0.0000025));
    }

    /// The shortcut rounding against the general one, on the values where
    /// a float sum could go wrong: halves, quarters and neighbours of every
    /// power of two below 2^52, and random values at every scale.
    #[test]
    fn small_rounding_equals_the_general_conversion() {
        let mut values = vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 1e6 + 0.5, 1e6 - 0.5];
        for k in 0..52 {
            let p = (1u64 << k) as f64;
            for d in [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75] {
                values.push(p + d);
            }
            values.push(f64::from_bits(p.to_bits() - 1));
            values.push(f64::from_bits(p.to_bits() + 1));
        }
        let mut rng = SimRng::new(3, Stream::Network);
        for _ in 0..100_000 {
            values.push(rng.unit() * (1u64 << rng.below(52)) as f64);
        }
        for ns in values.into_iter().filter(|v| (0.0..(1u64 << 52) as f64).contains(v)) {
            // The whole-and-fraction rule of `ms_f64_to_ns` (which takes
            // milliseconds, whose conversion would round these inputs).
            let whole = ns as u64;
            let expected = if ns - whole as f64 >= 0.5 { whole + 1 } else { whole };
            assert_eq!(round_small_ns(ns), expected, "{ns:?}");
        }
    }

    #[test]
    fn sample_means_match_parameters() {
        let cases = [
            Dist::constant(3.0),
            Dist::Uniform { min: 1.0, max: 3.0 },
            Dist::Normal { mean: 10.0, stddev: 1.0 },
            Dist::Exponential { mean: 4.0, offset: 1.0 },
        ];
        for d in cases {
            let m = mean_of(&d, 200_000);
            assert!((m - d.mean()).abs() < 0.05 * d.mean(), "{d:?}: {m}");
        }
    }

    #[test]
    fn uniform_stays_in_bounds_and_normal_is_never_negative() {
        let mut rng = SimRng::new(3, Stream::Network);
        let u = Dist::Uniform { min: 1.0, max: 3.0 };
        let n = Dist::Normal { mean: 0.5, stddev: 2.0 };
        for _ in 0..10_000 {
            let x = u.sample(&mut rng);
            assert!((1.0..3.0).contains(&x));
            assert!(n.sample(&mut rng) >= 0.0);
        }
    }

    #[test]
    fn parses_number_and_tables_and_rejects_nonsense() {
        #[derive(Deserialize)]
        struct W {
            d: Dist,
        }
        let p = |s: &str| toml::from_str::<W>(s).map(|w| w.d).map_err(|e| e.to_string());
        assert_eq!(p("d = 2").unwrap(), Dist::constant(2.0));
        assert_eq!(p("d = 2.5").unwrap(), Dist::constant(2.5));
        assert_eq!(p("d = { dist = \"uniform\", min = 1, max = 3 }").unwrap(), Dist::Uniform { min: 1.0, max: 3.0 });
        assert!(p("d = -1").unwrap_err().contains(">= 0"));
        assert!(p("d = { dist = \"uniform\", min = 3, max = 1 }").unwrap_err().contains("min <= max"));
        assert!(p("d = { dist = \"pareto\", mean = 1 }").unwrap_err().contains("unknown distribution"));
        assert!(p("d = { dist = \"normal\", mean = 1 }").unwrap_err().contains("needs `stddev`"));
        assert!(p("d = { dist = \"constant\", value = 1, max = 2 }").unwrap_err().contains("not `max`"));
        assert!(p("d = \"fast\"").unwrap_err().contains("a number, or a table"));
    }
}
