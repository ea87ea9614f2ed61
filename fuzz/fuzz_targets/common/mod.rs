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
/// engine would catch it); whatever it accepts must be accepted again, byte for byte, by the
/// sanitizer for the output's kind (the same one, unless it converts: HTML becomes text).
pub fn sanitize_and_check_idempotent(s: &dyn Sanitizer, input: &[u8]) {
    let engine = engine();
    let mut cx = Cx::new(engine);
    if let Ok(clean) = s.sanitize(input, &mut cx) {
        let next = if s.kinds().contains(&clean.kind) {
            s
        } else {
            engine
                .sanitizers()
                .find(|x| x.kinds().contains(&clean.kind))
                .unwrap_or_else(|| panic!("output kind {:?} has no sanitizer", clean.kind))
        };
        let mut cx = Cx::new(engine);
        let again = next
            .sanitize(&clean.bytes, &mut cx)
            .expect("a rebuilt file must be accepted again");
        assert_eq!(again.bytes, clean.bytes, "rebuild is not idempotent");
    }
}
