//! Fuzz the PDF path end to end: lopdf loading under our limits, the allowlist rebuild and
//! the writer; every accepted output must be re-sanitizable to itself.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mugai::cdr::pdf::PdfSanitizer;

fuzz_target!(|data: &[u8]| {
    common::sanitize_and_check_idempotent(&PdfSanitizer, data);
});
