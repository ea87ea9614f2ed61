//! Differential fuzzing of mail base64 decoding (`mail::mime::base64`): lines of whole
//! quanta are gathered and decoded in one SIMD call, and must give the same bytes, and stop
//! at the same refused line, as decoding each line on its own with the `base64` crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mugai::mail::mime::check_strict_lines_agree(data);
});
