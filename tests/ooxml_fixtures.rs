//! OOXML fixtures through the engine, judged by Python's `zipfile` (an independent ZIP
//! reader) and oletools: the threat's parts and strings are gone, the markers and the paragraph / row /
//! slide counts are kept, and macro-enabled kinds come out macro-free.
//!
//! oletools judge the macro (olevba, mraptor), DDE (msodde) and external-link (oleobj)
//! fixtures; LibreOffice judges that the outputs open (office_libreoffice.rs).

mod common;

use common::*;
use mugai::{Config, Engine, Outcome};

/// Everything Python's zipfile sees in a package: entry names, then all entries' text.
fn unpack(path: &std::path::Path) -> (Vec<String>, String) {
    let (names, texts) = unpack_entries(path);
    (names, texts.join("\n"))
}

/// Entry names and each entry's text, in archive order.
fn unpack_entries(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let script = r#"
import sys, zipfile, json
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, "corrupt entry %s" % bad
names = z.namelist()
texts = [z.read(n).decode("utf-8", "replace") for n in names]
print(json.dumps({"names": names, "texts": texts}))
"#;
    let out = judge("python3", &["-c", script, path.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "zipfile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names = v["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().unwrap_or_default().to_string())
        .collect();
    let texts = v["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect();
    (names, texts)
}

struct Case {
    file: &'static str,
    /// Substrings that must not appear in any entry name or entry text of the output.
    forbidden: &'static [&'static str],
    /// Element that counts paragraphs / rows / slides.
    unit: &'static str,
    out_kind: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "embedded_xlsm.docx",
        // The embedded workbook's macro project and the executable posing as a document.
        forbidden: &["vbaProject", "evil.docx"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "clean.docx",
        forbidden: &["vbaProject"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "clean.xlsx",
        forbidden: &["vbaProject"],
        unit: "<row ",
        out_kind: "xlsx",
    },
    Case {
        file: "clean.pptx",
        forbidden: &["vbaProject"],
        unit: "<p:sld ",
        out_kind: "pptx",
    },
    Case {
        file: "macro.docm",
        forbidden: &["vbaProject", "vbaData", "macroEnabled", "AutoOpen"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "macro_named_docx.docx",
        forbidden: &["vbaProject", "vbaData", "macroEnabled"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "macro.xlsm",
        forbidden: &["vbaProject", "macroEnabled"],
        unit: "<row ",
        out_kind: "xlsx",
    },
    Case {
        file: "macro.pptm",
        forbidden: &["vbaProject", "macroEnabled"],
        unit: "<p:sld ",
        out_kind: "pptx",
    },
    Case {
        file: "macrosheet.xlsm",
        forbidden: &["macrosheets/", "xlMacrosheet", "EXEC(", "Auto_Open", "macroEnabled"],
        unit: "<row ",
        out_kind: "xlsx",
    },
    Case {
        file: "dde_field.docx",
        forbidden: &["DDEAUTO", "EAUTO", "cmd.exe", "instrText"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "dde_formula.xlsx",
        forbidden: &["cmd|", "calc"],
        unit: "<row ",
        out_kind: "xlsx",
    },
    Case {
        file: "remote_template.docx",
        forbidden: &["attachedTemplate", "attacker.example", "TargetMode"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "external_link.docx",
        forbidden: &["phish.example", "attacker.example", "TargetMode", "r:link"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "svg_picture.docx",
        forbidden: &["image2.svg", "<script", "svgBlip", "svg+xml"],
        unit: "<w:p>",
        out_kind: "docx",
    },
    Case {
        file: "program_action.pptx",
        forbidden: &["ppaction://program", "cmd.exe"],
        unit: "<p:sld ",
        out_kind: "pptx",
    },
];

#[test]
fn office_threats_are_gone_and_content_is_kept() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in CASES {
        let bytes = fixture(&format!("ooxml/{}", case.file));
        let input = write_temp(dir.path(), &format!("in-{}", case.file), &bytes);
        let (in_names, in_text) = unpack(&input);
        // Units in parts that are removed on purpose (a macro sheet's rows) do not count.
        let (entry_names, entry_texts) = unpack_entries(&input);
        let in_units: usize = entry_names
            .iter()
            .zip(&entry_texts)
            .filter(|(n, _)| !case.forbidden.iter().any(|f| n.contains(f)))
            .map(|(_, t)| t.matches(case.unit).count())
            .sum();
        let threat = case.file.starts_with("clean")
            || case
                .forbidden
                .iter()
                .any(|f| in_names.join("\n").contains(f) || in_text.contains(f));
        if !threat {
            failures.push(format!("{}: fixture lacks its threat", case.file));
        }
        let want = if case.file.starts_with("clean") {
            Outcome::Clean
        } else {
            Outcome::Disarmed
        };
        let (p, output) = match sanitize_expecting(
            &engine,
            &bytes,
            case.file,
            want,
            dir.path(),
            &format!("out-{}", case.file),
        ) {
            Ok(done) => done,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let (names, text) = unpack(&output);
        for f in case.forbidden {
            if names.iter().any(|n| n.contains(f)) || text.contains(f) {
                failures.push(format!("{}: output still has {f}", case.file));
            }
        }
        let stem = case.file.split('.').next().unwrap_or_default();
        for marker in [
            format!("MUGAI-MARKER {stem} 1"),
            format!("MUGAI-MARKER {stem} 2"),
            "無害化マーカー".to_string(),
        ] {
            if !text.contains(&marker) {
                failures.push(format!("{}: lost marker {marker}", case.file));
            }
        }
        let out_units = text.matches(case.unit).count();
        if in_units != out_units || out_units < 2 {
            failures.push(format!("{}: {in_units} {} in, {out_units} out", case.file, case.unit));
        }
        if case.file.starts_with("macro.") || case.file.starts_with("macro_named") {
            // oletools judge the VBA project: present in the input, gone from the output.
            let vba_in = judge("olevba", &[input.to_str().expect("path")]);
            if String::from_utf8_lossy(&vba_in.stdout).contains("No VBA or XLM macros found") {
                failures.push(format!("{}: olevba finds no macro in the fixture", case.file));
            }
            let vba_out = judge("olevba", &[output.to_str().expect("path")]);
            if !String::from_utf8_lossy(&vba_out.stdout).contains("No VBA or XLM macros found") {
                failures.push(format!("{}: olevba still finds macros", case.file));
            }
            let code = judge("mraptor", &[output.to_str().expect("path")]).status.code();
            if code != Some(0) {
                failures.push(format!("{}: mraptor exit {code:?} on the output", case.file));
            }
        }
        if case.file == "dde_field.docx" {
            // msodde judges Word DDE fields.
            let links = |path: &std::path::Path| {
                let out = judge("msodde", &[path.to_str().expect("path")]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.split("DDE Links:").nth(1).unwrap_or_default().trim().to_string()
            };
            if links(&input).is_empty() {
                failures.push(format!("{}: msodde finds no DDE in the fixture", case.file));
            }
            if !links(&output).is_empty() {
                failures.push(format!("{}: msodde still finds {}", case.file, links(&output)));
            }
        }
        if matches!(case.file, "remote_template.docx" | "external_link.docx") {
            // oleobj judges external relationships.
            let external = |path: &std::path::Path| {
                let out = judge("oleobj", &[path.to_str().expect("path")]);
                String::from_utf8_lossy(&out.stdout)
                    .matches("with external link")
                    .count()
            };
            if external(&input) == 0 {
                failures.push(format!("{}: oleobj finds no external link in the fixture", case.file));
            }
            if external(&output) != 0 {
                failures.push(format!("{}: oleobj still finds external links", case.file));
            }
        }
        let out_kind = p.report.output.as_ref().map(|o| o.kind.as_str()).unwrap_or_default();
        if out_kind != case.out_kind {
            failures.push(format!("{}: output kind {out_kind}, want {}", case.file, case.out_kind));
        }
        if names.first().is_none_or(|n| n != "[Content_Types].xml") {
            failures.push(format!("{}: [Content_Types].xml is not the first entry", case.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_docm_named_docx_is_detected_by_content() {
    let p = Engine::new(Config::default()).run(&fixture("ooxml/macro_named_docx.docx"), Some("report.docx"));
    assert_eq!(p.report.detected_kind.as_str(), "docm");
    assert!(!p.report.extension_mismatch, "same family: sanitized, not refused");
    assert_eq!(
        p.report.output.as_ref().and_then(|o| o.name.as_deref()),
        Some("report.docx")
    );
    let p = Engine::new(Config::default()).run(&fixture("ooxml/macro.docm"), Some("見積書.docm"));
    assert_eq!(
        p.report.output.as_ref().and_then(|o| o.name.as_deref()),
        Some("見積書.docx")
    );
}

#[test]
fn a_zip_bomb_part_is_refused_within_the_budget() {
    // A package whose one extra part inflates to 1 GiB: refused at the budget, without
    // expanding the rest.
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let clean = fixture("ooxml/clean.docx");
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(clean)).expect("zip");
    for i in 0..src.len() {
        let f = src.by_index_raw(i).expect("entry");
        zip.raw_copy_file(f).expect("copy");
    }
    zip.start_file("word/media/bomb.xml", opts).expect("start");
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        zip.write_all(&chunk).expect("write");
    }
    let bytes = zip.finish().expect("finish").into_inner();
    let started = std::time::Instant::now();
    let p = Engine::new(Config::default()).run(&bytes, Some("bomb.docx"));
    assert_eq!(p.report.outcome, Outcome::Blocked);
    assert_eq!(p.report.reason.as_deref(), Some("limit_exceeded"));
    assert!(started.elapsed().as_secs_f64() < 2.0, "{:?}", started.elapsed());
}

/// The clean docx with `word/document.xml` replaced.
fn docx_with_document(xml: &str) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(fixture("ooxml/clean.docx"))).expect("zip");
    for i in 0..src.len() {
        let f = src.by_index_raw(i).expect("entry");
        if f.name().map(|n| n == "word/document.xml").unwrap_or(false) {
            continue;
        }
        zip.raw_copy_file(f).expect("copy");
    }
    zip.start_file("word/document.xml", opts).expect("start");
    zip.write_all(xml.as_bytes()).expect("write");
    zip.finish().expect("finish").into_inner()
}

#[test]
fn xml_bombs_are_refused_fast() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "lollollollol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;"><!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&i;</w:t></w:r></w:p></w:body></w:document>"#;
    let deep = format!(
        r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">{}{}</w:document>"#,
        "<w:body>".repeat(100_000),
        "</w:body>".repeat(100_000)
    );
    let engine = Engine::new(Config::default());
    for (what, xml) in [("billion laughs", laughs.to_string()), ("100,000 levels", deep)] {
        let started = std::time::Instant::now();
        let p = engine.run(&docx_with_document(&xml), Some("bomb.docx"));
        assert_eq!(p.report.outcome, Outcome::Blocked, "{what}");
        assert_eq!(
            p.report.reason.as_deref(),
            Some("malformed"),
            "{what}: {:?}",
            p.report.reason_detail
        );
        assert!(started.elapsed().as_secs_f64() < 1.0, "{what}: {:?}", started.elapsed());
    }
}

/// An embedded workbook is sanitized through the engine and kept (as xlsx, with its object
/// element and icon), judged by olevba on the embedded part itself; an executable posing as
/// an embedded document is left out with its object element.
#[test]
fn embedded_office_documents_are_sanitized_and_kept() {
    const PART: &str = "word/embeddings/Microsoft_Excel_Macro-Enabled_Worksheet.xlsm";
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = fixture("ooxml/embedded_xlsm.docx");
    let engine = Engine::new(Config::default());
    let (p, output) = sanitize_expecting(
        &engine,
        &bytes,
        "embedded_xlsm.docx",
        Outcome::Disarmed,
        dir.path(),
        "out.docx",
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let extract = |package: &std::path::Path, part: &str, to: &str| -> std::path::PathBuf {
        let target = dir.path().join(to);
        let script =
            "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
        let out = judge(
            "python3",
            &[
                "-c",
                script,
                package.to_str().expect("path"),
                part,
                target.to_str().expect("path"),
            ],
        );
        assert!(
            out.status.success(),
            "{part} missing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        target
    };
    let input = write_temp(dir.path(), "in.docx", &bytes);
    let inner_in = extract(&input, PART, "inner-in.xlsm");
    let inner_out = extract(&output, PART, "inner-out.xlsx");
    let vba = |path: &std::path::Path| {
        String::from_utf8_lossy(&judge("olevba", &[path.to_str().expect("path")]).stdout).into_owned()
    };
    assert!(
        !vba(&inner_in).contains("No VBA or XLM macros found"),
        "olevba finds no macro in the fixture's workbook"
    );
    assert!(
        vba(&inner_out).contains("No VBA or XLM macros found"),
        "olevba still finds macros in the kept workbook"
    );

    // The kept workbook is a macro-free package whose own markers survive.
    let (inner_names, inner_text) = unpack(&inner_out);
    assert!(!inner_names.iter().any(|n| n.contains("vbaProject")));
    assert!(inner_text.contains("MUGAI-MARKER inner 1") && inner_text.contains("spreadsheetml.sheet.main+xml"));

    // The document still points at it; the executable and its object element are gone.
    let (names, text) = unpack(&output);
    assert!(!names.iter().any(|n| n.contains("evil")), "{names:?}");
    assert_eq!(text.matches("<o:OLEObject ").count(), 1, "one object element kept");
    assert!(text.contains(r#"r:id="rIdPkg1""#) && !text.contains(r#"r:id="rIdPkg2""#));
    assert!(text.contains("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\""));

    // The report names what was removed inside the embedding, under the embedding's path.
    let inside = p
        .report
        .findings
        .iter()
        .filter(|f| f.location.starts_with(&format!("{PART}: ")) && f.what == mugai::report::What::Macro)
        .count();
    assert!(inside >= 1, "{:?}", p.report.findings);
}

/// Called directly with a package behind another format's header (the engine never does
/// this; a fuzzer did), the OOXML rebuilder refuses rather than label its output a cabinet.
#[test]
fn a_package_behind_another_header_is_refused_by_the_rebuilder() {
    use mugai::cdr::{ooxml::OoxmlSanitizer, Cx, Sanitizer};
    let engine = Engine::new(Config::default());
    let mut prefixed = b"MSCF\0\0\0\0".to_vec();
    prefixed.extend_from_slice(&fixture("ooxml/clean.docx"));
    let mut cx = Cx::new(&engine);
    assert!(matches!(
        OoxmlSanitizer.sanitize(&prefixed, &mut cx),
        Err(mugai::Refusal::Malformed(_))
    ));
    let mut cx = Cx::new(&engine);
    assert!(OoxmlSanitizer.sanitize(&fixture("ooxml/clean.docx"), &mut cx).is_ok());
}
