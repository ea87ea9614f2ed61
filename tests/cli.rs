//! The `mugai` command line as users and scripts run it: exit codes, output files, reports,
//! stdin/stdout, batch mode and config checking.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn mugai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mugai"))
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn sanitize_writes_output_and_prints_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.pdf");
    let r = mugai()
        .args([
            "sanitize",
            &fixtures_dir().join("pdf/openaction_js.pdf").to_string_lossy(),
            "-o",
        ])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let report = json(&r.stdout);
    assert_eq!(report["schema"], "mugai.report/1");
    assert_eq!(report["outcome"], "disarmed");
    assert_eq!(report["detected_kind"], "pdf");
    assert_eq!(report["file_name"], "openaction_js.pdf");
    let written = std::fs::read(&out).expect("output written");
    assert_eq!(report["output"]["size"], written.len() as u64);
    assert!(report["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["what"] == "javascript")));
}

#[test]
fn a_report_reader_gone_is_an_error_line_not_a_panic() {
    // `mugai sanitize … | head -0`: standard output is a pipe nobody reads any more.
    let dir = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let r = mugai()
        .args([
            "sanitize",
            &fixtures_dir().join("pdf/openaction_js.pdf").to_string_lossy(),
            "-o",
        ])
        .arg(dir.path().join("out.pdf"))
        .stdout(writer)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("writing the report to standard output"), "{stderr}");
}

#[test]
fn user_add_prints_an_account_line_with_an_argon2id_hash() {
    let add = |roles: &[&str], password: &str| {
        let mut child = mugai()
            .args(["user", "add", "山田"])
            .args(roles)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("password");
        child.wait_with_output().expect("wait")
    };
    let r = add(&["approve"], "長いパスワードです\n");
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let line = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(!line.contains("長いパスワードです"), "the password is never printed");
    // The line is configuration as it stands, and its hash verifies the password.
    let config = mugai::config::Config::from_toml(&format!("[portal]\n{line}")).expect("config");
    let user = config.portal.user("山田").expect("the account");
    assert!(mugai::passwords::verify("長いパスワードです", user.argon2.expose()));
    assert_eq!(add(&["submit"], "長いパスワードです\n").status.code(), Some(2));
    assert_eq!(add(&["approve"], "short\n").status.code(), Some(2));
}

#[test]
fn encrypted_pdf_exits_3_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.pdf");
    let report_file = dir.path().join("report.json");
    let r = mugai()
        .args([
            "sanitize",
            &fixtures_dir().join("pdf/encrypted_user_password.pdf").to_string_lossy(),
            "-o",
        ])
        .arg(&out)
        .arg("--report")
        .arg(&report_file)
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(3));
    assert!(!out.exists());
    let report = json(&std::fs::read(&report_file).expect("report written"));
    assert_eq!(report["outcome"], "blocked");
    assert_eq!(report["reason"], "encrypted");
    assert!(r.stdout.is_empty(), "the report went to --report, not stdout");
}

#[test]
fn stdin_to_stdout_with_the_report_on_stderr() {
    let mut child = mugai()
        .args(["sanitize", "-", "-o", "-", "--name", "見積書.pdf"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&fixture("pdf/launch.pdf"))
        .expect("write stdin");
    let r = child.wait_with_output().expect("wait");
    assert_eq!(r.status.code(), Some(0));
    assert!(r.stdout.starts_with(b"%PDF-"));
    let report = json(&r.stderr);
    assert_eq!(report["file_name"], "見積書.pdf");
    assert_eq!(report["outcome"], "disarmed");
}

#[test]
fn batch_mode_writes_each_output_and_exits_with_the_worst_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outdir = dir.path().join("out");
    let exe = write_temp(dir.path(), "invoice.pdf", b"MZ\x90\0\x03\0\0\0\x04\0\0\0");
    let r = mugai()
        .arg("sanitize")
        .arg(fixtures_dir().join("pdf/clean.pdf"))
        .arg(fixtures_dir().join("pdf/uri.pdf"))
        .arg(&exe)
        .arg("-d")
        .arg(&outdir)
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(3), "blocked beats clean");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    let outcomes: Vec<_> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(outcomes, ["clean", "disarmed", "blocked"]);
    assert!(outdir.join("clean.pdf").exists() && outdir.join("uri.pdf").exists());
    assert!(!outdir.join("invoice.pdf").exists(), "a blocked file has no output");
    let summary = String::from_utf8_lossy(&r.stderr);
    assert!(
        summary.contains("3 files: 1 clean, 1 disarmed, 1 blocked, 0 held, 0 error"),
        "{summary}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(mugai().arg("sanitize").output().expect("run").status.code(), Some(2));
    assert_eq!(
        mugai()
            .args(["sanitize", "a", "b", "-o", "x"])
            .output()
            .expect("run")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(mugai().arg("frobnicate").output().expect("run").status.code(), Some(2));
}

#[test]
fn check_config_reports_every_problem_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write_temp(
        dir.path(),
        "bad.toml",
        b"[serve]\nhttp_listen = \"everywhere\"\n[limits]\nmax_depth = 0\n[pdf]\nmetadata = \"shred\"\n",
    );
    let r = mugai().arg("check-config").arg(&bad).output().expect("run");
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    for key in ["serve.http_listen", "limits.max_depth", "pdf.metadata"] {
        assert!(err.contains(key), "missing {key} in: {err}");
    }
    let r = mugai()
        .arg("check-config")
        .arg(fixtures_dir().join("../config/mugai.toml"))
        .output()
        .expect("run");
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let unknown = write_temp(dir.path(), "unknown.toml", b"[pdf]\nurl_links = \"keep\"\n");
    let r = mugai().arg("check-config").arg(&unknown).output().expect("run");
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("url_links"));
}

#[test]
fn the_daemon_outlives_its_stderr() {
    // Found by this suite: with stderr a closed pipe, the first warning made the log
    // subscriber eprintln! about the failed write, which panicked and stopped the daemon.
    let dir = tempfile::tempdir().expect("tempdir");
    let (smtp, http) = (common::free_port(), common::free_port());
    let config = dir.path().join("mugai.toml");
    let good = format!(
        "[serve]\nsmtp_listen = \"127.0.0.1:{smtp}\"\nhttp_listen = \"127.0.0.1:{http}\"\ndata_dir = \"{}\"\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, &good).expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["-c", config.to_str().expect("path"), "serve"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    drop(child.stderr.take());
    common::wait_listening(smtp, "mugai serve", std::time::Duration::from_secs(20));
    // A broken file and SIGHUP: the refusal is logged (into the closed pipe).
    std::fs::write(&config, "[serve]\nbogus = 1\n").expect("config");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().expect("wait").is_none(), "the daemon stopped");
    let mut greeting = String::new();
    let stream = std::net::TcpStream::connect(("127.0.0.1", smtp)).expect("still listening");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut greeting).expect("greeting");
    assert!(greeting.starts_with("220 "), "{greeting}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_on_defaults_names_loopback_listeners() {
    // The embedded defaults: data in ./mugai-data (here a temporary directory), the SMTP
    // filter on 127.0.0.1:10025, next hop 127.0.0.1:10026, HTTP on 127.0.0.1:8080. It serves
    // until SIGTERM.
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
        .arg("serve")
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut banner)
        .expect("banner");
    assert!(
        banner.contains("127.0.0.1:10025") && banner.contains("127.0.0.1:10026") && banner.contains("127.0.0.1:8080"),
        "{banner}"
    );
    let mut greeting = String::new();
    let stream = std::net::TcpStream::connect("127.0.0.1:10025").expect("listening on 127.0.0.1:10025");
    BufReader::new(stream).read_line(&mut greeting).expect("greeting");
    assert!(greeting.starts_with("220 "), "{greeting}");
    // The HTTP side on 127.0.0.1:8080.
    let mut http = std::net::TcpStream::connect("127.0.0.1:8080").expect("listening on 127.0.0.1:8080");
    std::io::Write::write_all(
        &mut http,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("send");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut http, &mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        dir.path().join("mugai-data/ledger.sqlite3").exists(),
        "no data directory made"
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn messages_search_and_trace_answer_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::mail_config(dir.path(), "");
    let out = dir.path().join("out.eml");
    let (code, report) = common::run_mail(&config, &common::fixtures_dir().join("mail/forwarded_docm.eml"), &out);
    assert_eq!(code, Some(0), "{report}");
    let id = report["id"].as_str().expect("message id").to_string();
    let run = |args: &[&str]| {
        let o = mugai().arg("-c").arg(&config).args(args).output().expect("mugai");
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let found = run(&["messages", "search", "--outcome", "disarmed"]);
    let line: serde_json::Value = serde_json::from_str(found.lines().next().expect("a line")).expect("JSON");
    assert_eq!(line["id"], id.as_str(), "{found}");
    assert!(line["subject"].is_string(), "the subject is kept: {line}");
    let subject = line["subject"].as_str().unwrap_or_default().to_string();
    let word: String = subject.chars().take(4).collect();
    assert_eq!(run(&["messages", "search", "--subject", &word]).lines().count(), 1);
    assert_eq!(
        run(&["messages", "search", "--sender", "nobody@nowhere"])
            .lines()
            .count(),
        0
    );
    let trace = run(&["messages", "trace", &id]);
    assert!(
        trace.contains("\"mail.message\"") && trace.contains("\"mail.part\""),
        "{trace}"
    );
    let bad = mugai()
        .arg("-c")
        .arg(&config)
        .args(["messages", "search", "--since", "yesterday"])
        .output()
        .expect("mugai");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn originals_get_writes_an_original_out_audited_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::mail_config(dir.path(), "");
    let input = common::fixtures_dir().join("mail/forwarded_docm.eml");
    let out = dir.path().join("out.eml");
    let (code, report) = common::run_mail(&config, &input, &out);
    assert_eq!(code, Some(0), "{report}");
    let part = report["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["stored_id"].is_string() && p["report"]["input"]["sha256"].is_string())
        .expect("a stored part")
        .clone();
    let get = |id: &str, reason: Option<&str>, to: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mugai"));
        c.arg("-c").arg(&config).args(["originals", "get", id, "-o"]).arg(to);
        if let Some(r) = reason {
            c.args(["--reason", r]);
        }
        c.output().expect("mugai originals get")
    };
    // A part: its original bytes, and an audit line naming it and the reason first.
    let original = dir.path().join("original.bin");
    let id = part["stored_id"].as_str().expect("id");
    let a = get(id, Some("総務課 山田さんの依頼（マクロの確認）"), &original);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let bytes = std::fs::read(&original).expect("written");
    assert_eq!(
        mugai::report::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        part["report"]["input"]["sha256"].as_str().expect("sha"),
        "the exact original"
    );
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let line: serde_json::Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["event"] == "original.fetched")
        .expect("an original.fetched line");
    assert_eq!((line["id"].as_str(), line["of"].as_str()), (Some(id), Some("part")));
    assert_eq!(line["reason"], "総務課 山田さんの依頼（マクロの確認）");
    assert_eq!(line["actor"], "cli");
    // The whole message by its id: the .eml as it came.
    let eml = dir.path().join("message.eml");
    let a = get(report["id"].as_str().expect("message id"), Some("trace"), &eml);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(std::fs::read(&eml).expect("eml"), std::fs::read(&input).expect("input"));
    // No reason, a blank one, or an id nobody kept: refused, nothing written.
    let nothing = dir.path().join("nothing");
    assert!(!get(id, None, &nothing).status.success());
    assert!(!get(id, Some("  "), &nothing).status.success());
    assert!(!get(&"0".repeat(32), Some("x"), &nothing).status.success());
    assert!(!nothing.exists());
}
