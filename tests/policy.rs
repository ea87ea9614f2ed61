//! The `[policy]` section through the engine: per-kind block and pass, CSV formula cells
//! neutralised by name and charset, and what the config refuses.

mod common;

use common::*;
use mugai::{Config, Engine, Outcome};

fn engine(toml: &str) -> Engine {
    Engine::new(Config::from_toml(toml).unwrap_or_else(|e| panic!("{e:?}")))
}

#[test]
fn kinds_can_be_blocked_or_passed_by_policy() {
    let e = engine("[policy.kinds]\npdf = \"block\"\npng = \"pass\"\n");
    let pdf = e.run(&fixture("pdf/clean.pdf"), Some("a.pdf"));
    assert_eq!(
        (pdf.report.outcome, pdf.report.reason.as_deref()),
        (Outcome::Blocked, Some("policy"))
    );
    assert!(pdf.output.is_none());

    // Passed byte for byte: the trailer and metadata stay, as the operator asked.
    let png = fixture("image/picture.png");
    let p = e.run(&png, Some("a.png"));
    assert_eq!(p.report.outcome, Outcome::Clean);
    assert_eq!(p.output.as_deref(), Some(png.as_slice()));
    assert!(p
        .report
        .findings
        .iter()
        .any(|f| f.detail.contains("passed unchanged by policy")));

    // The default sanitizes the same picture.
    let p = Engine::new(Config::default()).run(&png, Some("a.png"));
    assert_eq!(p.report.outcome, Outcome::Disarmed);
}

#[test]
fn executables_cannot_be_passed_and_unknown_kinds_are_named() {
    for (toml, key) in [
        ("[policy.kinds]\npe = \"pass\"\n", "policy.kinds.pe"),
        ("[policy.kinds]\nscript = \"pass\"\n", "policy.kinds.script"),
        ("[policy.kinds]\nexe = \"block\"\n", "policy.kinds.exe"),
        ("[policy]\ncsv_injection = \"maybe\"\n", "policy.csv_injection"),
    ] {
        let errors = Config::from_toml(toml).expect_err(toml);
        assert!(errors.0.iter().any(|p| p.key == key), "{toml}: {errors:?}");
    }
}

#[test]
fn csv_formula_cells_are_neutralised_in_csv_files_only() {
    let csv = "件名,金額\r\n会議費,-1000\r\n=cmd|' /c calc'!A0,0\r\n".as_bytes();
    let e = Engine::new(Config::default());
    let p = e.run(csv, Some("data.csv"));
    assert_eq!(p.report.outcome, Outcome::Disarmed);
    let out = String::from_utf8(p.output.expect("output")).expect("utf-8");
    assert!(out.contains("\r\n'=cmd|") && out.contains(",-1000\r\n"), "{out}");

    // The same bytes as a .txt are text, not cells.
    let p = e.run(csv, Some("notes.txt"));
    assert_eq!(p.report.outcome, Outcome::Clean);
    assert_eq!(p.output.as_deref(), Some(csv));

    // CP932, as Japanese Excel saves CSV, inside a ZIP (the name travels with the entry).
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("表,=HYPERLINK(\"http://x\")\r\n");
    let p = engine("[policy]\ncsv_injection = \"keep\"\n").run(&sjis, Some("a.csv"));
    assert_eq!(p.output.as_deref(), Some(sjis.as_ref()), "keep leaves it");
    let p = e.run(&sjis, Some("a.csv"));
    let (text, _, _) = encoding_rs::SHIFT_JIS.decode(p.output.as_deref().expect("output"));
    assert_eq!(text, "表,'=HYPERLINK(\"http://x\")\r\n");
}

#[test]
fn html_attachments_are_blocked_unless_converted_to_text_by_policy() {
    let page = "<html><head><meta charset=\"shift_jis\"><script>location='http://evil.example/'</script></head>\
                <body><p>お知らせ</p><a href=\"https://city.example.lg.jp/\">市のページ</a></body></html>";
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(page);
    let p = Engine::new(Config::default()).run(&sjis, Some("notice.html"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("policy"))
    );

    let p = engine("[policy.kinds]\nhtml = \"sanitize\"\n").run(&sjis, Some("notice.html"));
    assert_eq!(p.report.outcome, Outcome::Disarmed);
    let out = p.report.output.as_ref().expect("output");
    assert_eq!((out.kind.as_str(), out.name.as_deref()), ("text", Some("notice.txt")));
    let text = String::from_utf8(p.output.expect("bytes")).expect("UTF-8 text");
    assert_eq!(text, "お知らせ\n\n市のページ <https://city.example.lg.jp/>\n");
}
