//! Fuzz admission: content detection (magic numbers, ZIP central directory,
//! `[Content_Types].xml`, OLE directory, the whole-file text check) and the name rules, with a
//! name taken from the input's first bytes (bidi controls, stream suffixes, trailing dots).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::policy::Admission;

fuzz_target!(|data: &[u8]| {
    let kind = mugai::cdr::detect::detect(data);
    let split = data.len().min(usize::from(data.first().copied().unwrap_or(0) % 32));
    let name = String::from_utf8_lossy(&data[..split]);
    let admission = Admission::default();
    let _ = admission.judge_name(kind, Some(&name));
    let _ = mugai::policy::admission::windows_name(&name);
    if kind == mugai::FileKind::Text {
        // What was admitted as text must be text to the content check run again.
        assert_eq!(mugai::cdr::sniff::text_kind(data), mugai::FileKind::Text);
    }
});
