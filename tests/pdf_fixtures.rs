//! Every PDF fixture through the engine, judged by tools nobody here wrote: `qpdf --json` says
//! the threat's keys are gone, `qpdf --check` says the file is sound, `pdfinfo` counts the same
//! pages, `pdftotext` still finds the ASCII and Japanese markers.

mod common;

use common::*;
use mugai::report::What;
use mugai::{Config, Engine, Outcome};

struct Case {
    name: &'static str,
    /// Keys or name values that must not appear anywhere in the output (qpdf's spelling).
    forbidden: &'static [&'static str],
    /// Findings the report must list.
    findings: &'static [What],
}

const CASES: &[Case] = &[
    Case {
        name: "openaction_js",
        forbidden: &["/OpenAction", "/JS", "/JavaScript"],
        findings: &[What::AutoAction, What::Javascript],
    },
    Case {
        name: "aa_page_doc",
        forbidden: &["/AA", "/JS", "/JavaScript"],
        findings: &[What::AutoAction, What::Javascript],
    },
    Case {
        name: "names_js",
        forbidden: &["/JavaScript", "/JS"],
        findings: &[What::Javascript],
    },
    Case {
        name: "objstm_js",
        forbidden: &["/OpenAction", "/JS", "/JavaScript"],
        findings: &[What::Javascript],
    },
    Case {
        name: "escaped_names",
        forbidden: &["/OpenAction", "/JS", "/JavaScript"],
        findings: &[What::Javascript],
    },
    Case {
        name: "launch",
        forbidden: &["/Launch", "/Win", "/OpenAction"],
        findings: &[What::Launch],
    },
    Case {
        name: "embedded_file",
        forbidden: &["/EmbeddedFiles", "/EmbeddedFile", "/EF", "/FileAttachment", "/Filespec"],
        findings: &[What::EmbeddedFile],
    },
    Case {
        name: "af",
        forbidden: &["/AF", "/EF", "/EmbeddedFile", "/Filespec"],
        findings: &[What::EmbeddedFile],
    },
    Case {
        name: "uri",
        forbidden: &["/URI"],
        findings: &[What::Uri],
    },
    Case {
        name: "submitform",
        forbidden: &["/SubmitForm"],
        findings: &[What::FormSubmit],
    },
    Case {
        name: "xfa",
        forbidden: &["/XFA"],
        findings: &[What::Xfa],
    },
    Case {
        name: "clean",
        forbidden: &["/JS", "/AA", "/OpenAction"],
        findings: &[],
    },
];

#[test]
fn every_threat_is_gone_and_the_document_survives() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in CASES {
        let input_bytes = fixture(&format!("pdf/{}.pdf", case.name));
        let input = write_temp(dir.path(), &format!("{}.in.pdf", case.name), &input_bytes);
        // The fixture really carries the threat (as qpdf sees it), or the test proves nothing.
        let before = qpdf_names(&input);
        if !case.findings.is_empty() && !case.forbidden.iter().all(|k| before.contains(*k)) {
            failures.push(format!("{}: fixture lacks some of {:?}", case.name, case.forbidden));
        }

        let want = if case.findings.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Disarmed
        };
        let name = format!("{}.pdf", case.name);
        let out_name = format!("{}.out.pdf", case.name);
        let (p, output) = match sanitize_expecting(&engine, &input_bytes, &name, want, dir.path(), &out_name) {
            Ok(done) => done,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };

        let after = qpdf_names(&output);
        for key in case.forbidden {
            if after.contains(*key) {
                failures.push(format!("{}: output still has {key}", case.name));
            }
        }
        if let Err(e) = qpdf_check(&output) {
            failures.push(format!("{}: {e}", case.name));
        }
        let (pages_in, pages_out) = (pdf_pages(&input), pdf_pages(&output));
        if pages_in != pages_out || pages_out < 2 {
            failures.push(format!("{}: {pages_in} pages in, {pages_out} out", case.name));
        }
        let text = pdf_text(&output);
        for n in 1..=pages_in {
            let marker = format!("MUGAI-MARKER {} page {n}", case.name);
            if !text.contains(&marker) {
                failures.push(format!("{}: pdftotext lost `{marker}`", case.name));
            }
        }
        if text.matches("無害化マーカー").count() != pages_in as usize {
            failures.push(format!("{}: pdftotext lost the Japanese marker", case.name));
        }
        for what in case.findings {
            if !p.report.findings.iter().any(|f| f.what == *what) {
                failures.push(format!(
                    "{}: report lacks a {what:?} finding: {:?}",
                    case.name, p.report.findings
                ));
            }
        }
        // Output digest in the report is the output's.
        let out_info = p.report.output.as_ref().expect("output info");
        assert_eq!(
            out_info.digest,
            mugai::report::Digest256::of(p.output.as_deref().unwrap_or_default())
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_escaped_fixture_really_uses_escapes() {
    // lopdf and qpdf decode `#xx`; make sure the raw bytes hide the plain spelling.
    let raw = fixture("pdf/escaped_names.pdf");
    let s = String::from_utf8_lossy(&raw);
    assert!(s.contains("/J#61vaScript") && s.contains("/O#70enAction"));
    assert!(!s.contains("/JavaScript") && !s.contains("/OpenAction"));
}

#[test]
fn password_protected_pdfs_are_blocked_as_encrypted() {
    let engine = Engine::new(Config::default());
    for name in ["encrypted_user_password", "encrypted_aes256"] {
        let p = engine.run(&fixture(&format!("pdf/{name}.pdf")), Some("x.pdf"));
        assert_eq!(p.report.outcome, Outcome::Blocked, "{name}");
        assert_eq!(p.report.reason.as_deref(), Some("encrypted"), "{name}");
        assert!(p.output.is_none());
    }
}

#[test]
fn owner_password_only_pdfs_are_decrypted_and_rebuilt() {
    let engine = Engine::new(Config::default());
    let p = engine.run(&fixture("pdf/encrypted_owner_only.pdf"), Some("x.pdf"));
    assert_eq!(p.report.outcome, Outcome::Disarmed);
    assert!(p.report.findings.iter().any(|f| f.what == What::Encryption));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write_temp(dir.path(), "out.pdf", p.output.as_deref().expect("output"));
    assert!(!qpdf_names(&out).contains("/Encrypt"));
    assert!(pdf_text(&out).contains("MUGAI-MARKER clean page 2"));
}

#[test]
fn uri_links_are_kept_when_the_policy_says_so() {
    let mut config = Config::default();
    config.pdf.uri_links = mugai::config::UriLinks::Keep;
    let p = Engine::new(config).run(&fixture("pdf/uri.pdf"), None);
    assert_eq!(p.report.outcome, Outcome::Clean);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write_temp(dir.path(), "out.pdf", p.output.as_deref().expect("output"));
    assert!(qpdf_names(&out).contains("/URI"));
}

#[test]
fn kept_uri_links_are_web_links_only() {
    // The same fixture with the link pointing at a local program (same length, so the
    // cross-reference offsets stay right).
    let raw = fixture("pdf/uri.pdf");
    let from = b"http://malicious.example/payload";
    let to = b"file:///c:/windows/system32/calc";
    let mut bytes = raw.clone();
    let mut replaced = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
        }
        i += 1;
    }
    assert!(replaced >= 1);
    let mut config = Config::default();
    config.pdf.uri_links = mugai::config::UriLinks::Keep;
    let p = Engine::new(config).run(&bytes, None);
    assert_eq!(p.report.outcome, Outcome::Disarmed);
    assert!(p.report.findings.iter().any(|f| f.what == What::Uri));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write_temp(dir.path(), "out.pdf", p.output.as_deref().expect("output"));
    assert!(!qpdf_names(&out).contains("/URI"));
}

#[test]
fn metadata_removal_policy_drops_info() {
    let mut config = Config::default();
    config.pdf.metadata = mugai::config::Metadata::Remove;
    let p = Engine::new(config).run(&fixture("pdf/clean.pdf"), None);
    assert_eq!(p.report.outcome, Outcome::Disarmed);
    assert!(p.report.findings.iter().any(|f| f.what == What::Metadata));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write_temp(dir.path(), "out.pdf", p.output.as_deref().expect("output"));
    assert!(!qpdf_names(&out).contains("/Producer"));
    let kept = Engine::new(Config::default()).run(&fixture("pdf/clean.pdf"), None);
    let out = write_temp(dir.path(), "kept.pdf", kept.output.as_deref().expect("output"));
    assert!(qpdf_names(&out).contains("/Producer"));
}

/// A page the viewer shows is a page the output has, or the report says it is not: a page
/// listed twice comes out twice; a page-tree entry that leads nowhere, and pages the tree's
/// `/Count` declares but does not hold, are a `damage` finding naming them (outcome
/// `disarmed`). poppler (pdfinfo) counts the input's pages; qpdf checks every output.
#[test]
fn every_page_a_viewer_shows_is_kept_or_named_as_lost() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let page: &[u8] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>";
    let content: &[u8] = b"<< /Length 0 >>\nstream\n\nendstream";
    let cases: [(&str, &[u8], u32, Option<&str>); 3] = [
        ("twice", b"<< /Type /Pages /Kids [3 0 R 3 0 R] /Count 2 >>", 2, None),
        (
            "missing",
            b"<< /Type /Pages /Kids [3 0 R 9 0 R] /Count 2 >>",
            1,
            Some("pages 2 of 2"),
        ),
        (
            "short",
            b"<< /Type /Pages /Kids [3 0 R] /Count 3 >>",
            1,
            Some("pages 2–3 of 3"),
        ),
    ];
    for (name, pages, want_pages, damage) in cases {
        let input = pdf_from_objects(&[b"<< /Type /Catalog /Pages 2 0 R >>", pages, page, content]);
        let in_path = write_temp(dir.path(), &format!("{name}-in.pdf"), &input);
        let viewer_pages = pdf_pages(&in_path);
        let p = engine.run(&input, Some("a.pdf"));
        let out = p
            .output
            .unwrap_or_else(|| panic!("{name}: {:?}", p.report.reason_detail));
        let out_path = write_temp(dir.path(), &format!("{name}-out.pdf"), &out);
        qpdf_check(&out_path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = pdf_pages(&out_path);
        assert_eq!(got, want_pages, "{name}");
        let lost: Vec<&str> = p
            .report
            .findings
            .iter()
            .filter(|f| f.what == What::Damage)
            .map(|f| f.detail.as_str())
            .collect();
        match damage {
            None => {
                assert_eq!(got, viewer_pages, "{name}: the viewer shows {viewer_pages}");
                assert!(lost.is_empty(), "{name}: {lost:?}");
            }
            Some(detail) => {
                assert!(got < viewer_pages, "{name}: poppler counts {viewer_pages}");
                assert!(lost.iter().any(|d| d.starts_with(detail)), "{name}: {lost:?}");
                assert_eq!(p.report.outcome, Outcome::Disarmed, "{name}");
            }
        }
    }
}
