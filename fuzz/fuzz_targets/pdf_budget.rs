//! Fuzz the PDF load bound: the file lexer and the object-stream index check on any bytes
//! (never a panic, never an estimate below the tokens lexed), then the whole PDF load under a
//! small structure budget (run with `-rss_limit_mb`: the bound must hold on any input).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mugai::cdr::pdf::PdfSanitizer;
use mugai::cdr::pdf_budget::{scan_file, scan_object_stream, BYTES_PER_TOKEN};

fuzz_target!(|data: &[u8]| {
    let cost = scan_file(data);
    assert!(cost.estimate() >= cost.tokens * BYTES_PER_TOKEN);
    let first = usize::from(data.first().copied().unwrap_or(0));
    let _ = scan_object_stream(data, first.min(data.len()));
    common::sanitize_and_check_idempotent(&PdfSanitizer, data);
});
