//! Compound-file fixtures through the engine, judged by oletools: `olevba` and `mraptor`
//! find no macros, `oleobj` no embedded object; encrypted files and Excel 4 macro sheets
//! are refused.

mod common;

use common::*;
use mugai::{Config, Engine, Outcome};

fn olevba_finds_macros(path: &std::path::Path) -> bool {
    let out = judge("olevba", &[path.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Type: OLE"),
        "olevba could not read {}: {text}",
        path.display()
    );
    !text.contains("No VBA or XLM macros found")
}

/// mraptor's exit code: 0 no macro, 10 macro OK, 20 suspicious.
fn mraptor_code(path: &std::path::Path) -> Option<i32> {
    judge("mraptor", &[path.to_str().expect("path")]).status.code()
}

fn oleobj_objects(path: &std::path::Path, scratch: &std::path::Path) -> usize {
    let out = judge(
        "oleobj",
        &["-d", scratch.to_str().expect("path"), path.to_str().expect("path")],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("Filename ="))
        .count()
}

#[test]
fn macros_and_objects_are_gone_by_oletools() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("scratch");
    let mut failures = Vec::new();
    let cases = [
        ("embedded.jtd", false, true),
        ("real_vba.doc", true, false),
        ("real_vba.xls", true, false),
        ("real_objects.doc", false, true),
    ];
    for (name, macros, objects) in cases {
        let bytes = fixture(&format!("ole/{name}"));
        let input = write_temp(dir.path(), &format!("in-{name}"), &bytes);
        if macros && !(olevba_finds_macros(&input) && mraptor_code(&input) == Some(20)) {
            failures.push(format!("{name}: oletools find no macro in the fixture"));
        }
        if objects && oleobj_objects(&input, scratch.path()) == 0 {
            failures.push(format!("{name}: oleobj finds no object in the fixture"));
        }
        let p = engine.run(&bytes, Some(name));
        if p.report.outcome != Outcome::Disarmed {
            failures.push(format!(
                "{name}: outcome {:?} {:?}",
                p.report.outcome, p.report.reason_detail
            ));
            continue;
        }
        if name == "real_vba.xls" && !p.report.findings.iter().any(|f| f.detail.contains("OBPROJ")) {
            failures.push(format!("{name}: the OBPROJ record was not neutralised"));
        }
        let out_bytes = p.output.expect("output");
        let output = write_temp(dir.path(), &format!("out-{name}"), &out_bytes);
        if olevba_finds_macros(&output) {
            failures.push(format!("{name}: olevba still finds macros"));
        }
        if mraptor_code(&output) != Some(0) {
            failures.push(format!("{name}: mraptor exit {:?}", mraptor_code(&output)));
        }
        if oleobj_objects(&output, scratch.path()) != 0 {
            failures.push(format!("{name}: oleobj still finds an object"));
        }
        // The skeletons' text stream is still there (the real documents' text is checked by
        // LibreOffice in office_libreoffice.rs).
        let marker = format!("MUGAI-MARKER {name}");
        if !name.starts_with("real_") && !out_bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            failures.push(format!("{name}: lost {marker}"));
        }
        if mugai::cdr::detect::detect(&out_bytes) != p.report.detected_kind {
            failures.push(format!("{name}: output is detected as another kind"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn encrypted_and_unrebuildable_files_are_refused() {
    let engine = Engine::new(Config::default());
    let p = engine.run(&fixture("ole/encrypted.doc"), Some("a.doc"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("encrypted"))
    );
    // A password-protected docx is a compound file under a .docx name: not a mismatch, encrypted.
    let p = engine.run(&fixture("ole/encrypted_ooxml.docx"), Some("見積書.docx"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("encrypted"))
    );
    assert_eq!(p.report.detected_kind.as_str(), "ooxml_encrypted");
    let p = engine.run(&fixture("ole/xlm_macro.xls"), Some("a.xls"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("excel4_macro"))
    );
    assert!(p.output.is_none());
    // A DDE link in a workbook and a click action that runs a program are refused whole.
    let p = engine.run(&fixture("ole/dde_link.xls"), Some("a.xls"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("external_link"))
    );
    let p = engine.run(&fixture("ole/run_program.ppt"), Some("a.ppt"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Blocked, Some("active_action"))
    );
}

/// msodde's DDE links in a file (the lines after its "DDE Links:" heading).
fn msodde_links(path: &std::path::Path) -> Vec<String> {
    let out = judge("msodde", &[path.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let links = text.split_once("DDE Links:").map(|(_, l)| l).unwrap_or("");
    // msodde prints UTF-16 text byte by byte: its NULs are dropped here.
    links
        .lines()
        .map(|l| l.replace('\0', ""))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn doc_fields_that_run_programs_are_disarmed_as_msodde_sees_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = fixture("ole/dde_field.doc");
    let input = write_temp(dir.path(), "in.doc", &bytes);
    assert!(
        msodde_links(&input)
            .iter()
            .any(|l| l.replace(' ', "").contains("DDEAUTO")),
        "msodde finds no DDE link in the fixture"
    );
    let p = Engine::new(Config::default()).run(&bytes, Some("dde_field.doc"));
    assert_eq!(p.report.outcome, Outcome::Disarmed, "{:?}", p.report);
    assert!(
        p.report.findings.iter().any(|f| f.detail == "field DDEAUTO"),
        "{:?}",
        p.report.findings
    );
    let output = write_temp(dir.path(), "out.doc", &p.output.expect("output"));
    assert_eq!(msodde_links(&output), Vec::<String>::new());
}

#[test]
fn clean_controls_stay_clean() {
    for name in ["real_clean.doc", "real_clean.xls", "real_clean.ppt"] {
        let p = Engine::new(Config::default()).run(&fixture(&format!("ole/{name}")), Some(name));
        assert_eq!(p.report.outcome, Outcome::Clean, "{name}: {:?}", p.report.findings);
    }
}

/// A clean compound file comes back byte for byte only when nothing follows its last sector:
/// bytes appended to it (a polyglot's payload) are left out by the rebuild.
#[test]
fn data_appended_after_the_last_sector_is_left_out() {
    let engine = Engine::new(Config::default());
    for name in ["real_clean.doc", "real_clean.xls", "real_clean.ppt"] {
        let mut bytes = fixture(&format!("ole/{name}"));
        let original_len = bytes.len();
        bytes.extend_from_slice(b"MZ\x90\0\x03\0\0\0 appended payload");
        let p = engine.run(&bytes, Some(name));
        assert_eq!(
            p.report.outcome,
            Outcome::Disarmed,
            "{name}: {:?}",
            p.report.reason_detail
        );
        let out = p.output.expect("output");
        assert!(
            memchr::memmem::find(&out, b"appended payload").is_none(),
            "{name}: the appended bytes crossed"
        );
        assert!(out.len() >= original_len / 2, "{name}: the document went with them");
    }
}
