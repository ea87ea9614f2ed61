//! Fuzz the mail parser and rebuild (everything of `mail::process` but the store and the
//! engine, which have their own targets): never a panic, every header field kept is a
//! slice of the input, and the rebuilt text is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mugai::mail::{header, parse, rebuild, text};

/// mail-parser's debug assertions (compiled out of release builds, on in fuzz builds) fire on
/// some broken nesting; `parse` catches that and holds the body. libFuzzer's panic hook would
/// abort first, so panics raised inside mail-parser are let through to `parse`'s handler;
/// any other panic still aborts and is reported.
fn let_mail_parser_assertions_through() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info.location().is_some_and(|l| l.file().contains("mail-parser-"));
            if !in_mail_parser {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_mail_parser_assertions_through();
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
