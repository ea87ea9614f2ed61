//! Differential fuzzing of the PNG image-data proof (`cdr::png_rows`): fdeflate through a
//! sliding window, checked against the stream's Adler-32 and last four bytes, must give the
//! same answer as the zlib-rs reference on every stream, valid, damaged or cut anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mugai::cdr::check_rows_agree(data);
});
