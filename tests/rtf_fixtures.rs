//! RTF fixtures through the engine, judged by oletools: `rtfobj` finds no OLE object and
//! `msodde` no DDE or remote field in the output, and the markers are still in the text.

mod common;

use common::*;
use mugai::report::What;
use mugai::{Config, Engine, Outcome};

/// Object rows in `rtfobj`'s table ("0  |000000A8h |format_id: 2 ...").
fn rtfobj_objects(path: &std::path::Path) -> usize {
    let out = judge("rtfobj", &[path.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| {
            l.split('|')
                .next()
                .is_some_and(|id| !id.trim().is_empty() && id.trim().chars().all(|c| c.is_ascii_digit()))
        })
        .count()
}

/// The links `msodde` reports (the lines after "DDE Links:").
fn msodde_links(path: &std::path::Path) -> String {
    let out = judge("msodde", &[path.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split("DDE Links:").nth(1).unwrap_or_default().trim().to_string()
}

#[test]
fn rtf_threats_are_gone_by_oletools_and_text_is_kept() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, What)] = &[
        ("object_package", What::OleObject),
        ("object_obfuscated", What::OleObject),
        ("dde_field", What::Dde),
        ("includepicture", What::ExternalLink),
        ("remote_template", What::ExternalLink),
    ];
    let mut failures = Vec::new();
    for (name, what) in cases {
        let bytes = fixture(&format!("rtf/{name}.rtf"));
        let input = write_temp(dir.path(), &format!("{name}.in.rtf"), &bytes);
        let had_object = rtfobj_objects(&input) > 0;
        let had_link = !msodde_links(&input).is_empty();
        let had_template = String::from_utf8_lossy(&bytes).contains("\\template");
        if !(had_object || had_link || had_template) {
            failures.push(format!("{name}: oletools find no threat in the fixture"));
        }
        let p = engine.run(&bytes, Some(&format!("{name}.rtf")));
        if p.report.outcome != Outcome::Disarmed {
            failures.push(format!("{name}: outcome {:?}", p.report.outcome));
            continue;
        }
        if !p.report.findings.iter().any(|f| f.what == *what) {
            failures.push(format!("{name}: no {what:?} finding in {:?}", p.report.findings));
        }
        let out_bytes = p.output.expect("output");
        let output = write_temp(dir.path(), &format!("{name}.out.rtf"), &out_bytes);
        if rtfobj_objects(&output) != 0 {
            failures.push(format!("{name}: rtfobj still finds an object"));
        }
        let links = msodde_links(&output);
        if !links.is_empty() {
            failures.push(format!("{name}: msodde still finds {links}"));
        }
        let text = String::from_utf8_lossy(&out_bytes);
        for marker in [
            format!("MUGAI-MARKER {name} 1"),
            format!("MUGAI-MARKER {name} 2"),
            "\\u28961?".into(),
        ] {
            if !text.contains(&marker) {
                failures.push(format!("{name}: lost {marker}"));
            }
        }
        for gone in ["objdata", "DDEAUTO", "INCLUDEPICTURE", "\\template", "attacker.example"] {
            if text.contains(gone) {
                failures.push(format!("{name}: output still has {gone}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_clean_rtf_passes_unchanged() {
    let bytes = fixture("rtf/clean.rtf");
    let p = Engine::new(Config::default()).run(&bytes, Some("clean.rtf"));
    assert_eq!(p.report.outcome, Outcome::Clean);
    assert_eq!(p.output.as_deref(), Some(bytes.as_slice()));
}
