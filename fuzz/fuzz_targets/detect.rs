//! Fuzz content detection (ZIP central directory, `[Content_Types].xml`, OLE directory).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kind = mugai::cdr::detect::detect(data);
    let _ = mugai::cdr::detect::extension_mismatch("x.pdf", kind);
});
