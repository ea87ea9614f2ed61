//! A 20 MB attachment costs less than three times its size in memory through `mugai mail`:
//! the raw message is freed once it is stored and parsed, the decoded attachment once it is
//! disarmed, and the rebuilt mail is written out as it is encoded.
//!
//! Own test binary with one test on purpose: the peak RSS is read with
//! `getrusage(RUSAGE_CHILDREN)`, the largest of all children so far.

mod common;

use std::path::Path;
use std::process::Command;

use common::children_peak_rss_bytes;

#[test]
fn a_20_mb_attachment_costs_less_than_three_times_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::mail_config(dir.path(), "");
    // The baseline first, while mugai is the only child (the generator below is smaller than
    // the big run, which the assertion after it checks).
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail/exe_as_pdf.eml");
    let (code, _) = common::run_mail(&config, &small, &dir.path().join("small.out"));
    assert_eq!(code, Some(0));
    let baseline = children_peak_rss_bytes();

    let big = dir.path().join("big.eml");
    let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gen/mail_fixtures.py");
    let status = Command::new("python3")
        .arg(&generator)
        .arg("--big")
        .arg(&big)
        .status()
        .expect("python3");
    assert!(status.success());

    let (code, report) = common::run_mail(&config, &big, &dir.path().join("big.out"));
    assert_eq!(code, Some(0), "{report}");
    let peak = children_peak_rss_bytes();
    assert!(
        peak > baseline,
        "the big mail's run must be the largest child ({peak} <= {baseline})"
    );
    let attachment = report["parts"][0]["report"]["input"]["size"]
        .as_u64()
        .expect("attachment size");
    assert!(attachment > 20_000_000, "{attachment}");
    assert_eq!(report["parts"][0]["outcome"], "clean", "{report}");
    let cost = peak - baseline;
    eprintln!(
        "20 MB attachment: peak RSS {:.1} MB, small mail {:.1} MB, cost {:.1} MB = {:.2}x the attachment",
        peak as f64 / 1e6,
        baseline as f64 / 1e6,
        cost as f64 / 1e6,
        cost as f64 / attachment as f64
    );
    assert!(
        cost < 3 * attachment,
        "cost {cost} bytes for a {attachment}-byte attachment"
    );
}
