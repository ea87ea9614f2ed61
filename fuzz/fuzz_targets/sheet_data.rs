//! Differential fuzzing of the worksheet fast path: for any input, the general XML filter
//! alone and the filter with the cell-data fast path must write the same bytes and findings
//! (or both refuse). Seeded with worksheet XML (see BENCHMARKS.md for the command).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mugai::cdr::xml_filter::check_fast_path_agrees(data);
});
