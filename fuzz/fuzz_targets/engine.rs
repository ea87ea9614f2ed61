//! Fuzz every registered sanitizer: the first byte picks the sanitizer (0 PDF, 1 OOXML,
//! 2 RTF, 3 OLE, in registration order), the rest is its input, so each parser gets inputs
//! that pass its kind's first checks. Accepted outputs must be accepted again unchanged.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let sanitizers: Vec<_> = common::engine().sanitizers().collect();
    common::sanitize_and_check_idempotent(sanitizers[pick as usize % sanitizers.len()], input);
});
