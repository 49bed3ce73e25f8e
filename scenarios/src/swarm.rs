//! Swarm testing: a numeric key written as a range, `loss = [0.0, 0.3]` or
//! `interval_ms = [1000, 5000]`, takes a value drawn from the seed, so a
//! sweep explores a different mix of faults and settings with every seed
//! (Groce et al., "Swarm Testing", ISSTA 2012).
//!
//! A range is an array of exactly two numbers, `[low, high]`, anywhere a
//! single number is expected. Two integers draw an integer in
//! `low..=high`; any float draws a float in `[low, high)`. The loader checks
//! the scenario with every range at its low end and again at its high end.
//! For a run, the drawn values become `--set` overrides, so the reproduce
//! command pins them and replays the run exactly, with or without swarm.
//!
//! Draws come from their own random stream (`Stream::Aux(SWARM_STREAM)`),
//! in document order: adding a range to a scenario shifts no other draw of
//! the simulation.

use sim_core::rng::{SimRng, Stream};
use toml_edit::Value;

/// The auxiliary random stream swarm draws come from.
pub const SWARM_STREAM: u32 = 1;

/// One range in a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmRange {
    /// Key path, as `--set` takes it.
    pub path: String,
    pub low: f64,
    pub high: f64,
    /// Both ends are integers: draw an integer.
    pub integer: bool,
}

impl SwarmRange {
    fn set(&self, v: f64) -> String {
        if self.integer { format!("{}={}", self.path, v as i64) } else { format!("{}={v:?}", self.path) }
    }

    /// `path=low`, as a `--set`.
    pub fn low_set(&self) -> String {
        self.set(self.low)
    }

    /// `path=high`, as a `--set`.
    pub fn high_set(&self) -> String {
        self.set(self.high)
    }
}

/// Finds every range in a scenario text, in document order.
pub fn find(text: &str) -> Vec<SwarmRange> {
    let mut out = Vec::new();
    crate::locate::Locator::new(text).for_each_value(&mut |path, v| {
        let Value::Array(a) = v else { return };
        if a.len() != 2 {
            return;
        }
        let num = |v: Option<&Value>| match v {
            Some(Value::Integer(i)) => Some((*i.value() as f64, true)),
            Some(Value::Float(f)) => Some((*f.value(), false)),
            _ => None,
        };
        if let (Some((low, li)), Some((high, hi))) = (num(a.get(0)), num(a.get(1))) {
            out.push(SwarmRange { path: path.to_string(), low, high, integer: li && hi });
        }
    });
    out
}

/// The values drawn for `seed`, as `--set` overrides (`path=value`).
pub fn draw(ranges: &[SwarmRange], seed: u64) -> Vec<String> {
    let mut rng = SimRng::new(seed, Stream::Aux(SWARM_STREAM));
    ranges
        .iter()
        .map(|r| {
            let v = if r.integer {
                let (lo, hi) = (r.low as i64, r.high as i64);
                lo.saturating_add(rng.below(hi.abs_diff(lo).saturating_add(1)) as i64) as f64
            } else {
                r.low + (r.high - r.low) * rng.unit()
            };
            r.set(v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[network]\nloss = [0.0, 0.3]\nlatency_ms = { dist = \"uniform\", min = [1, 3], max = 9 }\n\
                       [[faults.nemesis]]\nkind = \"crash\"\ninterval_ms = [1000, 5000]\nduration_ms = 500\n\
                       targets = [\"s1\", \"s2\"]\n";

    #[test]
    fn finds_numeric_pairs_only() {
        let r = find(DOC);
        let paths: Vec<&str> = r.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["network.loss", "network.latency_ms.min", "faults.nemesis[0].interval_ms"]);
        assert!(!r[0].integer && r[1].integer && r[2].integer);
    }

    #[test]
    fn draws_stay_in_range_differ_by_seed_and_repeat_for_a_seed() {
        let r = find(DOC);
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let d = draw(&r, seed);
            assert_eq!(d, draw(&r, seed));
            let loss: f64 = d[0].strip_prefix("network.loss=").unwrap().parse().unwrap();
            assert!((0.0..0.3).contains(&loss), "{loss}");
            let min: i64 = d[1].strip_prefix("network.latency_ms.min=").unwrap().parse().unwrap();
            assert!((1..=3).contains(&min));
            seen.insert(d[1].clone());
        }
        assert_eq!(seen.len(), 3, "every integer in the range is drawn");
    }
}
