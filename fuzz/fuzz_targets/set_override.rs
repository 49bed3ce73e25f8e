//! Any `--set` arguments over a catalog scenario: an error or a scenario.
#![no_main]
use libfuzzer_sys::fuzz_target;

const BASE: &str = include_str!("../../scenarios/catalog/directory_kv/partition.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sets: Vec<String> = text.split('\n').take(8).map(str::to_string).collect();
    let _ = scenarios::load_str("partition.toml", BASE, &sets);
});
