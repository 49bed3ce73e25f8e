//! Any text as a dsim JSON-lines history: parsed or a line-numbered error;
//! a parsed one is checked against every model within a small budget.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reports::linear::{Budget, ModelKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(h) = reports::history_io::parse_jsonl(text) {
        let budget = Budget { time_ms: 100, memory_bytes: 1 << 22, threads: 1 };
        for kind in ModelKind::ALL {
            let _ = reports::linear::check_kind(&h, kind, &budget, 3);
        }
        let _ = reports::history_io::to_edn(&h);
    }
});
