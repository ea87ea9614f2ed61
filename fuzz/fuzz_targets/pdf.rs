//! Fuzz the PDF path end to end: detection, lopdf loading under our limits, the allowlist
//! rebuild and the writer. Any panic is a bug even though the engine would catch it, so this
//! calls the sanitizer directly, outside `catch_unwind`. Whatever comes out must be
//! re-sanitizable to itself (idempotence holds on every accepted input, not just fixtures).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::cdr::{pdf::PdfSanitizer, Cx, Sanitizer};
use mugai::{Config, Engine};
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut config = Config::default();
        config.limits.max_decompressed_bytes = 64 << 20;
        Engine::new(config)
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let mut cx = Cx::new(engine);
    if let Ok(clean) = PdfSanitizer.sanitize(data, &mut cx) {
        let mut cx = Cx::new(engine);
        let again = PdfSanitizer
            .sanitize(&clean.bytes, &mut cx)
            .expect("a rebuilt PDF must be accepted again");
        assert_eq!(again.bytes, clean.bytes, "rebuild is not idempotent");
    }
});
