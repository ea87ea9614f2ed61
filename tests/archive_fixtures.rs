//! ZIP archives through the engine, judged by Python's `zipfile` (an independent reader):
//! every output opens, no name is unsafe, entries inside are disarmed by the same engine
//! (judged by qpdf and olevba after zipfile extracts them), blocked entries are left out, and
//! bombs are refused fast and small.

mod common;

use common::*;
use mugai::{Config, Engine, Input, Outcome, Refusal};

/// Names, and each entry's bytes, as Python's zipfile reads them (it also CRC-checks all).
fn python_unzip(path: &std::path::Path, into: &std::path::Path) -> Vec<String> {
    let script = r#"
import sys, zipfile, os, json
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
names = z.namelist()
for i, n in enumerate(names):
    with open(os.path.join(sys.argv[2], "%d.bin" % i), "wb") as fh:
        fh.write(z.read(n))
print(json.dumps(names))
"#;
    let out = judge(
        "python3",
        &["-c", script, path.to_str().expect("path"), into.to_str().expect("path")],
    );
    assert!(
        out.status.success(),
        "zipfile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("names")
}

fn unsafe_name(n: &str) -> bool {
    n.starts_with('/') || n.contains('\\') || n.split('/').any(|p| p == ".." || p == ".") || n.get(1..2) == Some(":")
}

#[test]
fn a_mixed_archive_comes_out_disarmed_without_the_executable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, out) = sanitize_expecting(
        &Engine::new(Config::default()),
        &fixture("zip/mixed.zip"),
        "mixed.zip",
        Outcome::Disarmed,
        dir.path(),
        "out.zip",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    let names = python_unzip(&out, &files);
    assert_eq!(
        names,
        [
            "見積/macro.docx",
            "openaction_js.pdf",
            "readme.txt",
            "_mugai_report.txt"
        ]
    );
    // The note inside tells the recipient what was left out and why.
    let note = std::fs::read_to_string(files.join("3.bin")).expect("utf-8 note");
    assert!(
        note.contains("無害化") && note.contains("setup.exe\texecutable"),
        "{note}"
    );
    assert!(p
        .report
        .findings
        .iter()
        .any(|f| f.location == "setup.exe" && f.detail.contains("executable")));
    // The PDF inside: qpdf finds no JavaScript; the docx inside: olevba finds no macro.
    let pdf = files.join("1.bin");
    let keys = qpdf_names(&pdf);
    assert!(!keys.contains("/JS") && !keys.contains("/OpenAction"), "{keys:?}");
    let docx = files.join("0.bin");
    let vba = judge("olevba", &[docx.to_str().expect("path")]);
    assert!(String::from_utf8_lossy(&vba.stdout).contains("No VBA or XLM macros found"));
}

#[test]
fn hostile_names_come_out_safe_and_japanese_names_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, out) = sanitize_expecting(
        &Engine::new(Config::default()),
        &fixture("zip/names.zip"),
        "names.zip",
        Outcome::Disarmed,
        dir.path(),
        "out.zip",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names = python_unzip(&out, dir.path());
    assert!(names.iter().all(|n| !unsafe_name(n)), "{names:?}");
    assert!(
        names.contains(&"請求書.txt".to_string()),
        "the CP932 name comes back as UTF-8: {names:?}"
    );
    assert!(names.contains(&"dup.txt".to_string()) && names.contains(&"DUP (2).txt".to_string()));
    assert!(
        !names.iter().any(|n| n.contains("link-to-passwd")),
        "symlinks are dropped"
    );
    assert!(p.report.findings.iter().any(|f| f.detail == "symbolic link"));
}

#[test]
fn nesting_is_followed_to_the_limit_and_no_further() {
    let engine = Engine::new(Config::default());
    let p = engine.run(&fixture("zip/nested5.zip"), Some("nested5.zip"));
    assert_eq!(p.report.outcome, Outcome::Clean);
    let mut config = Config::default();
    config.limits.max_depth = 3;
    let p = Engine::new(config).run(&fixture("zip/nested5.zip"), Some("nested5.zip"));
    assert_eq!(
        p.report.outcome,
        Outcome::Blocked,
        "nesting past the limit refuses the archive"
    );
    assert_eq!(p.report.reason.as_deref(), Some("limit_exceeded"));
    assert!(p.report.reason_detail.unwrap_or_default().contains("limits.max_depth"));
}

#[test]
fn password_protected_archives_are_held() {
    let p = Engine::new(Config::default()).run(&fixture("zip/zipcrypto.zip"), Some("a.zip"));
    assert_eq!(
        (p.report.outcome, p.report.reason.as_deref()),
        (Outcome::Held, Some("encrypted"))
    );
    assert!(p.output.is_none());
}

/// PPAP: the archive is held, and unlocking it with the password (ZipCrypto or AES-256, as
/// 7-Zip writes it) gives a sanitized archive that zipfile opens; the docm inside comes out a
/// macro-free docx (olevba judges), a wrong password is a clear error, never an output.
#[test]
fn held_archives_unlock_with_the_right_password_only() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, marker, want) in [
        ("zipcrypto.zip", "MUGAI-MARKER zipcrypto", Outcome::Clean),
        ("aes256.zip", "MUGAI-MARKER aes", Outcome::Disarmed),
    ] {
        let original = fixture(&format!("zip/{file}"));
        assert_eq!(
            engine.run(&original, Some(file)).report.outcome,
            Outcome::Held,
            "{file}"
        );

        let unlock = |password| engine.run_input(Input::new(&original, Some(file)).with_password(password));
        assert_eq!(
            unlock("not-the-password").refusal,
            Some(Refusal::WrongPassword),
            "{file}"
        );
        let p = unlock("mugai-pass");
        assert_eq!(p.refusal, None, "{file}: unlocks");
        assert_eq!(p.report.outcome, want, "{file}: {:?}", p.report);
        let out = write_temp(dir.path(), &format!("out-{file}"), p.output.as_deref().expect("output"));
        let into = dir.path().join(file);
        std::fs::create_dir_all(&into).expect("dir");
        let names = python_unzip(&out, &into);
        let text: String = (0..names.len())
            .map(|i| {
                String::from_utf8_lossy(&std::fs::read(into.join(format!("{i}.bin"))).expect("entry")).into_owned()
            })
            .collect();
        assert!(text.contains(marker), "{file}: {names:?}");
        if file == "aes256.zip" {
            let i = names
                .iter()
                .position(|n| n == "macro.docx")
                .expect("macro.docm comes out as macro.docx");
            let vba = judge("olevba", &[into.join(format!("{i}.bin")).to_str().expect("path")]);
            assert!(String::from_utf8_lossy(&vba.stdout).contains("No VBA or XLM macros found"));
        }
    }
    let pdf = fixture("pdf/clean.pdf");
    assert_eq!(
        engine.run_input(Input::new(&pdf, None).with_password("x")).refusal,
        Some(Refusal::NotAnArchive)
    );
}

/// An Info-ZIP Unicode Path extra field names the entry (here over a CP949 raw name that a
/// CP932 guess would garble); the output carries the name as UTF-8 with the flag.
#[test]
fn the_unicode_path_extra_field_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, out) = sanitize_expecting(
        &Engine::new(Config::default()),
        &fixture("zip/unicode_path.zip"),
        "u.zip",
        Outcome::Clean,
        dir.path(),
        "out.zip",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(python_unzip(&out, dir.path()), ["한국어 자료.txt"]);
}

#[test]
fn zip_bombs_are_refused_fast() {
    let engine = Engine::new(Config::default());
    let bomb = zero_bomb(1 << 30);
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    // Ten levels of ZIP around the same bomb.
    let nested = nest_in_zips(bomb.clone(), 10);
    for (what, bytes) in [("1 GiB of zeros", bomb), ("the same, 10 ZIPs deep", nested)] {
        let started = std::time::Instant::now();
        let p = engine.run(&bytes, Some("bomb.zip"));
        let took = started.elapsed();
        assert_eq!(p.report.outcome, Outcome::Blocked, "{what}: {:?}", p.report.findings);
        assert_eq!(p.report.reason.as_deref(), Some("limit_exceeded"), "{what}");
        assert!(took.as_secs_f64() < 1.0, "{what}: {took:?}");
    }
}
