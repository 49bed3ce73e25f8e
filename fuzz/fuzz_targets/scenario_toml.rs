//! Any text as a scenario file: loading returns a scenario or an error,
//! never panics or hangs; a loaded scenario with a small run budget runs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(scn) = scenarios::load_str("fuzz.toml", text, &[]) {
        // Bound the run: the fuzzer looks for panics, not long simulations.
        let sets = ["scenario.max_events=20000".to_string(), "scenario.wall_clock_budget_ms=200".to_string()];
        if let Ok(small) = scenarios::load_str("fuzz.toml", text, &sets)
            && let Ok(small) = small.for_seed(scn.seed)
        {
            let _ = scenarios::run(&small, &scenarios::RunOptions::default());
        }
    }
});
