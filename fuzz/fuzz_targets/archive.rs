//! Fuzz the archive path directly; every accepted output must be accepted again unchanged.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mugai::cdr::archive::ZipSanitizer;

fuzz_target!(|data: &[u8]| {
    common::sanitize_and_check_idempotent(&ZipSanitizer, data);
});
