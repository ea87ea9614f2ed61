//! The outputs still open: LibreOffice (headless, an independent reader) converts every
//! sanitized OOXML and RTF fixture to PDF, and `pdftotext` of that PDF still has the ASCII
//! and Japanese markers. One `soffice` run converts all files (each start costs seconds).
//!
//! The compound-file fixtures are skeletons LibreOffice cannot render (see fixtures/README.md);
//! they are judged by oletools in `ole_fixtures.rs`.

mod common;

use common::*;
use mugai::{Config, Engine};

/// Convert `files` to PDF in one `soffice` run; the PDF folder.
fn convert_to_pdf(dir: &std::path::Path, files: impl IntoIterator<Item = String>) -> std::path::PathBuf {
    let pdf_dir = dir.join("pdf");
    let files: Vec<std::path::PathBuf> = files.into_iter().map(Into::into).collect();
    soffice_convert(dir, "pdf", &pdf_dir, &files);
    pdf_dir
}

#[test]
fn sanitized_office_and_rtf_files_open_in_libreoffice_with_their_text() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut inputs = Vec::new();
    for sub in ["ooxml", "rtf"] {
        for entry in std::fs::read_dir(fixtures_dir().join(sub))
            .expect("fixture dir")
            .flatten()
        {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let p = engine.run(&std::fs::read(&path).expect("read"), Some(&name));
            let Some(out) = p.output else { continue };
            let out_name = p.report.output.and_then(|o| o.name).unwrap_or(name.clone());
            // Unique stems: macro.docm, macro.xlsm and macro.pptm must not share a PDF name.
            let (stem, ext) = out_name.rsplit_once('.').unwrap_or((&out_name, ""));
            let orig_ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            let unique = format!("{stem}-{orig_ext}.{ext}");
            write_temp(dir.path(), &unique, &out);
            inputs.push((name, unique));
        }
    }
    assert!(
        inputs.len() >= 15,
        "expected the OOXML and RTF fixtures, got {}",
        inputs.len()
    );
    let pdf_dir = convert_to_pdf(
        dir.path(),
        inputs.iter().map(|(_, u)| dir.path().join(u).display().to_string()),
    );

    let mut failures = Vec::new();
    for (name, unique) in &inputs {
        let stem = unique.rsplit_once('.').map(|(s, _)| s).unwrap_or(unique);
        let pdf = pdf_dir.join(format!("{stem}.pdf"));
        if !pdf.exists() {
            failures.push(format!("{name}: LibreOffice did not convert it"));
            continue;
        }
        // Slides and narrow cells may wrap: compare without whitespace.
        let text: String = pdf_text(&pdf).chars().filter(|c| !c.is_whitespace()).collect();
        let marker_stem = name.split('.').next().unwrap_or_default();
        for marker in [
            format!("MUGAI-MARKER{marker_stem}1"),
            format!("MUGAI-MARKER{marker_stem}2"),
            "無害化マーカー".into(),
        ] {
            if !text.contains(&marker) {
                failures.push(format!("{name}: the PDF LibreOffice made lacks {marker}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Real 97-2003 documents (LibreOffice-made, see fixtures/gen/legacy_bases.sh) come out as
/// documents LibreOffice opens with their text: the ones with nothing to remove byte for byte,
/// the rebuilt ones as version-3 compound files (512-byte sectors, as Office writes them).
#[test]
fn real_legacy_documents_come_out_openable_and_clean_ones_byte_for_byte() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("real_clean.doc", "clean", "MUGAI-MARKERclean1"),
        ("real_clean.xls", "clean", "MUGAI-MARKERclean1"),
        ("real_clean.ppt", "clean", "MUGAI-MARKERclean1"),
        ("real_vba.doc", "disarmed", "MUGAI-MARKERclean1"),
        ("real_vba.xls", "disarmed", "MUGAI-MARKERclean1"),
        ("real_objects.doc", "disarmed", "MUGAI-MARKERclean1"),
        ("dde_field.doc", "disarmed", "MUGAI-MARKERdde_field.doc"),
    ];
    let mut outputs = Vec::new();
    for (name, outcome, _) in cases {
        let input = fixture(&format!("ole/{name}"));
        let p = engine.run(&input, Some(name));
        assert_eq!(
            p.report.outcome.as_str(),
            outcome,
            "{name}: {:?}",
            p.report.reason_detail
        );
        let out = p.output.expect("output");
        if outcome == "clean" {
            assert_eq!(out, input, "{name}: a clean file must come back byte for byte");
        } else {
            assert_eq!(&out[0x1A..0x1C], &[3, 0], "{name}: not a version-3 compound file");
        }
        let (stem, ext) = name.rsplit_once('.').expect("extension");
        let unique = format!("{stem}-{ext}.{ext}");
        outputs.push(write_temp(dir.path(), &unique, &out).display().to_string());
    }
    let pdf_dir = convert_to_pdf(dir.path(), outputs);
    for (name, _, marker) in cases {
        let (stem, ext) = name.rsplit_once('.').expect("extension");
        let pdf = pdf_dir.join(format!("{stem}-{ext}.pdf"));
        assert!(pdf.exists(), "{name}: LibreOffice could not open the output");
        let text: String = pdf_text(&pdf).chars().filter(|c| !c.is_whitespace()).collect();
        assert!(text.contains(marker), "{name}: {marker} missing from {text}");
    }
}
