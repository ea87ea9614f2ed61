//! Two instances on one shared store (issue 19): PostgreSQL and an S3 server private to the
//! test, each instance with its own data directory and ports. What one instance kept, the
//! other serves: a mail disarmed by A has its download link answered by B; an instance with
//! another link key refuses the same link, so the answer is not a page every link gets.

use std::io::{Read, Write};
use std::path::Path;

mod common;
use common::servers::{Moto, Postgres};
use mugai::store::OriginalStore;

const KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
const OTHER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A config for one instance in `dir` on the shared store.
fn instance(
    dir: &Path,
    name: &str,
    http: u16,
    hop: u16,
    link_base: &str,
    shared: &str,
    key: &str,
) -> std::path::PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[serve]\ndata_dir = \"{data}\"\nsmtp_listen = \"127.0.0.1:{smtp}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
             next_hop = \"127.0.0.1:{hop}\"\n[audit]\nlog = \"{audit}\"\n\
             [mail]\nattachments = \"url\"\nlink_base_url = \"{link_base}\"\n\
             [store]\nbackend = \"shared\"\nlink_key = \"{key}\"\n{shared}",
            data = dir.join(format!("data-{name}")).display(),
            smtp = common::free_port(),
            audit = dir.join(format!("{name}.audit.jsonl")).display(),
        ),
    )
    .expect("config");
    config
}

/// `mugai serve` with its log kept: a start that fails says why.
fn serve(config: &Path, port: u16, log: &Path) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["-c", config.to_str().expect("path"), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("start mugai serve");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().expect("wait").is_some();
        if exited || started.elapsed() > std::time::Duration::from_secs(90) {
            let _ = child.kill();
            panic!(
                "mugai serve did not listen on {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// `GET path` on a local port: (status code, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[test]
fn a_link_made_by_one_instance_is_served_by_another() {
    let (Some(pg), Some(moto)) = (Postgres::start(), Moto::start()) else {
        return;
    };
    let url = pg.database("two_instances");
    let s3 = moto.bucket("two-instances");
    let shared = format!(
        "[store.postgres]\nurl = \"{url}\"\nconnections = 2\n[store.s3]\nbucket = \"{}\"\nendpoint = \"{}\"\n\
         region = \"ap-northeast-1\"\naccess_key_id = \"test-key\"\nsecret_access_key = \"test-secret\"\nallow_http = true\n",
        s3.bucket,
        s3.endpoint.as_deref().unwrap_or_default(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b, port_c) = (common::free_port(), common::free_port(), common::free_port());
    let base_b = format!("http://127.0.0.1:{port_b}");
    // A next hop that accepts connections (the kernel's backlog is enough for `/readyz`).
    let hop = std::net::TcpListener::bind("127.0.0.1:0").expect("hop");
    let hop_port = hop.local_addr().expect("addr").port();
    let a = instance(dir.path(), "a", port_a, hop_port, &base_b, &shared, KEY);
    let b = instance(dir.path(), "b", port_b, hop_port, &base_b, &shared, KEY);
    let c = instance(dir.path(), "c", port_c, hop_port, &base_b, &shared, OTHER_KEY);

    // A (the CLI, the same store code as the daemon) disarms a mail with a macro document.
    let docm = common::fixture("ooxml/macro.docm");
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&docm)
    };
    let mail = format!(
        "From: sender@example.jp\r\nTo: recipient@city.example.lg.jp\r\nSubject: report\r\n\
         Message-ID: <two-instances@example.jp>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/vnd.ms-word.document.macroEnabled.12\r\n\
         Content-Disposition: attachment; filename=\"report.docm\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b1--\r\n"
    );
    let input = common::write_temp(dir.path(), "in.eml", mail.as_bytes());
    let output = dir.path().join("out.eml");
    let (code, report) = common::run_mail(&a, &input, &output);
    assert_eq!(code, Some(0), "{report}");
    // The notice's text as Python's `email` decodes it.
    let out = common::mail_text(&output);
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{base_b}/o/")))
        .unwrap_or_else(|| panic!("no link in the mail:\n{out}"))
        .trim_start_matches(&base_b)
        .to_string();
    // A's own data directory holds no original: they are in the bucket and the database.
    assert!(!dir.path().join("data-a/blobs").exists());
    assert!(!dir.path().join("data-a/ledger.sqlite3").exists());

    // Two jobs A accepted: one whose lease ran out (A died holding it), one A still holds.
    let ledger = mugai::store::PgLedger::connect(&url, 1).expect("ledger");
    let bucket = mugai::store::S3Blobs::open(&s3).expect("bucket");
    let input = bucket.put(&docm).expect("job input");
    let now = mugai::store::now();
    let job = |id: &str| mugai::store::JobRow {
        id: id.into(),
        name: Some("report.docm".into()),
        input_blob: input.clone(),
        outcome: None,
        report: None,
        clean_blob: None,
        clean_name: None,
        media_type: None,
        created: now,
        expires: now + 86_400,
    };
    let (orphan, held) = ("0a".repeat(16), "0b".repeat(16));
    use mugai::store::Jobs;
    ledger.insert_job(&job(&orphan), "a", now - 1).expect("orphan job");
    ledger.insert_job(&job(&held), "a", now + 3_600).expect("held job");

    // B never saw the mail, and serves its link; C, with another key, refuses it.
    let mut serve_b = serve(&b, port_b, &dir.path().join("b.log"));
    let mut serve_c = serve(&c, port_c, &dir.path().join("c.log"));
    let (status_b, page_b) = get(port_b, &link);
    // The clean copy comes from the bucket: a .docx (a ZIP) rebuilt without the macro.
    let (status_clean, clean) = get(port_b, &format!("{link}/clean"));
    let (status_c, _) = get(port_c, &link);
    let (ready, _) = get(port_b, "/readyz");
    // B finishes the orphaned job (at start, or at its next sweep), and leaves A's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let finished = loop {
        let row = ledger.job(&orphan, mugai::store::now()).expect("job").expect("row");
        if row.outcome.is_some() || std::time::Instant::now() > deadline {
            break row;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let still_held = ledger.job(&held, mugai::store::now()).expect("job").expect("row");
    let _ = serve_b.kill();
    let _ = serve_c.kill();
    let _ = serve_b.wait();
    let _ = serve_c.wait();
    assert_eq!(status_b, 200, "{page_b}");
    assert!(page_b.contains("report"), "the page names the attachment:\n{page_b}");
    assert_eq!(status_clean, 200, "{clean}");
    let body = clean.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    assert!(body.starts_with("PK"), "the clean copy is a package");
    assert!(
        clean.contains(".docx"),
        "named as a .docx:\n{}",
        clean.lines().take(12).collect::<Vec<_>>().join("\n")
    );
    assert_ne!(status_c, 200, "another key's instance must refuse the link");
    assert_eq!(ready, 200, "B is ready: database and bucket answer");
    assert_eq!(
        finished.outcome,
        Some(mugai::store::Outcome::Disarmed),
        "B finished the job A died holding"
    );
    let clean = finished.clean_blob.expect("a clean copy");
    assert!(bucket.get(&clean).expect("clean copy in the bucket").starts_with(b"PK"));
    assert_eq!(still_held.outcome, None, "a job whose holder lives is left to it");
}
