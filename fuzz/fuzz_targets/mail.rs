//! Fuzz the mail parser and rebuild (everything of `pipeline::message::process` but the store and the
//! engine, which have their own targets): never a panic, every header field kept is a
//! slice of the input, and the rebuilt text is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::mail::{header, parse, rebuild, text};

fuzz_target!(|data: &[u8]| {
    let mail = parse::parse(
        data,
        parse::Bounds {
            max_parts: 200,
            max_nesting: 16,
        },
    );
    let fields = mail.fields();
    for f in &fields {
        assert!(!f.raw.is_empty());
        let _ = header::param(f.value(), "filename");
    }
    let kept = rebuild::kept_fields(&fields);
    assert!(kept.len() <= 2 * data.len() + 2);
    for (_, body) in &mail.bodies {
        let t = text::html_to_text(body);
        let (d, _) = text::defang(&t);
        assert!(d.len() <= 4 * t.len() + 8);
    }
    for f in mail.walk_files() {
        let _ = f.name.as_deref().map(|n| mugai::mail::codec::encode_param("filename", n));
    }
});
