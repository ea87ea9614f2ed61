//! Shared by the fuzz targets: one engine with a fuzzing budget, and the property every
//! sanitizer must keep on every input it accepts.

use mugai::cdr::{Cx, Sanitizer};
use mugai::{Config, Engine};
use std::sync::OnceLock;

/// The engine, built once per fuzzing process (a smaller decompression budget keeps
/// iterations fast; the limit logic is the same).
pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut config = Config::default();
        config.limits.max_decompressed_bytes = 64 << 20;
        Engine::new(config)
    })
}

/// Run `s` on `input` outside the engine's panic backstop (a panic is a bug even though the
/// engine would catch it); whatever it accepts must be accepted again, byte for byte.
pub fn sanitize_and_check_idempotent(s: &dyn Sanitizer, input: &[u8]) {
    let engine = engine();
    let mut cx = Cx::new(engine);
    if let Ok(clean) = s.sanitize(input, &mut cx) {
        let mut cx = Cx::new(engine);
        let again = s.sanitize(&clean.bytes, &mut cx).expect("a rebuilt file must be accepted again");
        assert_eq!(again.bytes, clean.bytes, "rebuild is not idempotent");
    }
}
