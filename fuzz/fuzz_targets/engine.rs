//! Fuzz every sanitizer through the engine's dispatch without the panic backstop: the first
//! byte picks the sanitizer, the rest is its input (so the OOXML, RTF and later parsers get
//! inputs that pass their kind's first checks). Outputs must be accepted again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::cdr::{Cx, Sanitizer};
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
    let Some((&pick, input)) = data.split_first() else { return };
    let engine = engine();
    let sanitizers: Vec<&dyn Sanitizer> = engine.sanitizers().collect();
    let s = sanitizers[pick as usize % sanitizers.len()];
    let mut cx = Cx::new(engine);
    if let Ok(clean) = s.sanitize(input, &mut cx) {
        let mut cx = Cx::new(engine);
        let again = s.sanitize(&clean.bytes, &mut cx).expect("a rebuilt file must be accepted again");
        assert_eq!(again.bytes, clean.bytes, "rebuild is not idempotent");
    }
});
