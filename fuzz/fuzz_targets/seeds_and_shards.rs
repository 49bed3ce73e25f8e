//! Any text as `--seeds` and `--shard`: a list or an error, bounded in size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (seeds, shard) = text.split_once('|').unwrap_or((text, "1/1"));
    if let Ok(list) = scenarios::sweep::parse_seeds(seeds) {
        assert!(list.len() as u64 <= scenarios::sweep::MAX_SEEDS);
        if let Ok((k, n)) = scenarios::sweep::parse_shard(shard) {
            let part = scenarios::sweep::shard(&list, k, n);
            assert!(part.len() <= list.len());
        }
    }
});
