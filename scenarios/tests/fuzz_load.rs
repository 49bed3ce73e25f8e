//! Robustness of the loader: deterministic mutations of every catalog file
//! (deleted, duplicated and truncated lines, numbers replaced by odd values,
//! bytes truncated) must give `Ok` or `Err`, never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// A 64-bit linear congruential generator (Knuth's MMIX constants): the only
/// source of "randomness" here, so every run tries the same mutations.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn catalog_files() -> Vec<PathBuf> {
    let files = scenarios::catalog::scenario_files(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog"));
    assert!(files.len() >= 9, "expected the 9 catalog scenarios, found {files:?}");
    files
}

/// Byte ranges of numbers that stand alone (not part of a name like `s1`,
/// `p99` or `k0`): a digit run, with `.`, `_`, `e`, `+`, `-` inside.
fn number_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if starts {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b"._eE+-".contains(&b[j])) {
                j += 1;
            }
            spans.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    spans
}

const REPLACEMENTS: &[&str] = &["-1", "0", "1e30", "\"x\"", "9223372036854775807", "-0.0", "nan", "inf", "1.5", "[]"];

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn delete_line(text: &str, i: usize) -> String {
    let ls = lines(text);
    ls.iter().enumerate().filter(|(k, _)| *k != i).map(|(_, l)| *l).collect()
}

fn duplicate_line(text: &str, i: usize) -> String {
    let mut out = String::new();
    for (k, l) in lines(text).iter().enumerate() {
        out.push_str(l);
        if k == i {
            out.push_str(l);
        }
    }
    out
}

/// Truncates at a byte offset, backing off to a char boundary.
fn truncate(text: &str, mut at: usize) -> String {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].to_string()
}

/// Every mutation of one file: (description, text).
fn mutations(text: &str, rng: &mut Lcg) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let n_lines = lines(text).len();
    for i in 0..n_lines {
        out.push((format!("delete line {}", i + 1), delete_line(text, i)));
    }
    for i in 0..n_lines {
        out.push((format!("duplicate line {}", i + 1), duplicate_line(text, i)));
    }
    let spans = number_spans(text);
    for (s, e) in &spans {
        for r in REPLACEMENTS {
            out.push((
                format!("replace `{}` at byte {s} with {r}", &text[*s..*e]),
                format!("{}{r}{}", &text[..*s], &text[*e..]),
            ));
        }
    }
    for at in (0..text.len()).step_by(50) {
        out.push((format!("truncate at byte {at}"), truncate(text, at)));
    }
    // Random combinations: two or three of the above, one after another.
    for round in 0..150 {
        let mut t = text.to_string();
        let mut what = Vec::new();
        for _ in 0..2 + rng.below(2) {
            let ls = lines(&t).len();
            match rng.below(4) {
                0 if ls > 0 => {
                    let i = rng.below(ls);
                    what.push(format!("delete line {}", i + 1));
                    t = delete_line(&t, i);
                }
                1 if ls > 0 => {
                    let i = rng.below(ls);
                    what.push(format!("duplicate line {}", i + 1));
                    t = duplicate_line(&t, i);
                }
                2 => {
                    let sp = number_spans(&t);
                    if let Some((s, e)) = sp.get(rng.below(sp.len())).copied() {
                        let r = REPLACEMENTS[rng.below(REPLACEMENTS.len())];
                        what.push(format!("replace `{}` at byte {s} with {r}", &t[s..e]));
                        t = format!("{}{r}{}", &t[..s], &t[e..]);
                    }
                }
                _ => {
                    let at = rng.below(t.len() + 1);
                    what.push(format!("truncate at byte {at}"));
                    t = truncate(&t, at);
                }
            }
        }
        out.push((format!("random #{round}: {}", what.join(", ")), t));
    }
    out
}

#[test]
fn mutated_catalog_files_load_or_fail_without_panicking() {
    let mut rng = Lcg(0x5eed_d51a);
    let mut panics = Vec::new();
    let (mut total, mut ok, mut err) = (0usize, 0usize, 0usize);
    for f in catalog_files() {
        let text = std::fs::read_to_string(&f).expect("read catalog file");
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (what, mutated) in mutations(&text, &mut rng) {
            total += 1;
            match catch_unwind(AssertUnwindSafe(|| scenarios::load_str(&name, &mutated, &[]).map(|_| ()))) {
                Ok(Ok(())) => ok += 1,
                Ok(Err(e)) => {
                    err += 1;
                    // Every error names the file it is about.
                    assert!(e.to_string().starts_with(&name), "{name}, {what}: {e}");
                }
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panics.push(format!("{name}: {what}: {msg}"));
                }
            }
        }
    }
    eprintln!("{total} mutations: {ok} ok, {err} errors");
    assert!(total > 2000, "only {total} mutations");
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}: the mutations should produce both");
    assert!(panics.is_empty(), "{} of {total} mutations panicked:\n  {}", panics.len(), panics.join("\n  "));
}

#[test]
fn mutated_overrides_fail_without_panicking() {
    // Odd --set arguments against a real scenario.
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/directory_kv/partition.toml");
    let text = std::fs::read_to_string(file).unwrap();
    let keys = [
        "network.loss",
        "network.latency_ms",
        "faults.schedule[0].at_ms",
        "faults.schedule[1].action",
        "faults.schedule[9].at_ms",
        "faults.schedule",
        "faults.schedule[0]",
        "params.replication_factor",
        "workload.mix",
        "workload.mix.get",
        "cluster",
        "scenario.name.x",
        "a.b.c.d",
        "x[0]",
        "[0]",
        "a..b",
        "",
    ];
    let values = ["", "0", "-1", "1e30", "x", "\"\"", "[1, 2]", "{ a = 1 }", "[[1]]", "=", "'", "9223372036854775807"];
    let mut panics = Vec::new();
    for k in keys {
        for v in values {
            let set = format!("{k}={v}");
            if catch_unwind(|| scenarios::load_str("partition.toml", &text, std::slice::from_ref(&set)).map(|_| ()))
                .is_err()
            {
                panics.push(set);
            }
        }
    }
    assert!(panics.is_empty(), "these --set arguments panicked: {panics:?}");
}
