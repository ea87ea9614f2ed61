//! Differential fuzzing of the one-pass proof that an Office XML part needs nothing
//! (`xml_filter::unchanged`): whenever it says a part is given back as it is, the general
//! filter must give back the same bytes, with no finding and no refusal. The first byte picks
//! the flavor (Word, PowerPoint, other) and a small depth limit. Seeded with the XML parts of
//! the fixtures' Office packages (see BENCHMARKS.md for the command).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mugai::cdr::xml_filter::check_unchanged_agrees(data);
});
