//! Any text as a Jepsen EDN history: parsed or a line-numbered error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reports::linear::{Budget, ModelKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(h) = reports::history_io::parse_edn(text) {
        let budget = Budget { time_ms: 100, memory_bytes: 1 << 22, threads: 1 };
        let _ = reports::linear::check_kind(&h, ModelKind::CasRegister, &budget, 3);
        let _ = reports::history_io::to_jsonl(&h);
    }
});
