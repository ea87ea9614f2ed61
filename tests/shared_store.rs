//! Two instances on one shared store (issue 19): PostgreSQL and an S3 server private to the
//! test, each instance with its own data directory and ports. What one instance kept or
//! decided, the other knows: a mail disarmed by A has its download link answered by B; the
//! original requested on B is approved on A and released on B; a held archive's password
//! tries locked out on A are locked out on B; a job A died holding (SIGKILLed while it ran)
//! is finished by B; both purging at once remove each expired object once. An instance with another link key
//! refuses the same link, so the answer is not a page every link gets.

use std::path::Path;

use sha2::{Digest, Sha256};

mod common;
use common::servers::{Moto, Postgres};
use mugai::store::OriginalStore;

const KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";
const OTHER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// API keys: a file-exchange system's (submit) and an approver's (approve).
const SUBMIT: &str = "mk_shared_submit";
const APPROVE: &str = "mk_shared_approve";

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
             [http]\napi_keys = [{{ name = \"fx\", sha256 = \"{submit}\", roles = [\"submit\"] }}, \
             {{ name = \"boss\", sha256 = \"{approve}\", roles = [\"approve\"] }}]\n\
             [store]\nbackend = \"shared\"\nlink_key = \"{key}\"\n{shared}",
            data = dir.join(format!("data-{name}")).display(),
            smtp = common::free_port(),
            audit = dir.join(format!("{name}.audit.jsonl")).display(),
            submit = mugai::report::hex(&Sha256::digest(SUBMIT)),
            approve = mugai::report::hex(&Sha256::digest(APPROVE)),
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

/// An answer from one of the instances.
struct Answer {
    status: u16,
    /// The header block as received.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// A cookie the answer sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let value = l
                .strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))?;
            let (n, v) = value.split(';').next()?.split_once('=')?;
            (n == name).then(|| v.to_string())
        })
    }
}

/// `curl` (a client nobody here wrote) against a local port: `args` are curl's (method,
/// headers, body).
fn http(port: u16, path: &str, args: &[&str]) -> Answer {
    let dir = tempfile::tempdir().expect("tempdir");
    let (head, body) = (dir.path().join("head"), dir.path().join("body"));
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Answer {
        status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0),
        head: std::fs::read_to_string(&head).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

fn get(port: u16, path: &str) -> Answer {
    http(port, path, &[])
}

/// `mugai originals purge` with `config`: how many messages and blobs it removed.
fn purge(config: &Path) -> (usize, usize) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["-c", config.to_str().expect("path"), "originals", "purge"])
        .output()
        .expect("mugai originals purge");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // "purged N messages, N parts, N blobs"
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "{text}");
    (numbers[0], numbers[2])
}

#[test]
fn two_instances_on_one_store_are_one_service() {
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
        callback: None,
    };
    let (orphan, held_job) = ("0a".repeat(16), "0b".repeat(16));
    use mugai::store::{Jobs, Parts};
    ledger.insert_job(&job(&orphan), "a", now - 1).expect("orphan job");
    ledger.insert_job(&job(&held_job), "a", now + 3_600).expect("held job");

    // B never saw the mail, and serves its link; C, with another key, refuses it.
    let serve_b = serve(&b, port_b, &dir.path().join("b.log"));
    let serve_c = serve(&c, port_c, &dir.path().join("c.log"));
    let serve_a = serve(&a, port_a, &dir.path().join("a.log"));
    let page_b = get(port_b, &link);
    // The clean copy comes from the bucket: a .docx (a ZIP) rebuilt without the macro.
    let clean = get(port_b, &format!("{link}/clean"));
    let status_c = get(port_c, &link).status;
    let ready = get(port_b, "/readyz").status;

    // The original, requested on B (the recipient's page), approved on A, released on B.
    let csrf = page_b.cookie("mugai_csrf").expect("a CSRF cookie");
    let form = [
        "-X",
        "POST",
        "-H",
        &format!("cookie: mugai_csrf={csrf}"),
        "--data",
        &format!("csrf={csrf}&requester=recipient%40city.example.lg.jp&reason=check"),
    ]
    .map(str::to_string);
    let form: Vec<&str> = form.iter().map(String::as_str).collect();
    let requested = http(port_b, &format!("{link}/request"), &form);
    let bearer = |key: &str| format!("authorization: Bearer {key}");
    let before = get(port_b, &format!("/v1/originals/{}", &link[3..]));
    let pending = http(port_a, "/v1/approvals", &["-H", &bearer(APPROVE)]).json();
    let id = pending["pending"][0]["id"].as_str().unwrap_or_default().to_string();
    let approved = http(
        port_a,
        &format!("/v1/originals/{id}/approve"),
        &["-X", "POST", "-H", &bearer(APPROVE)],
    );
    let released = get(port_b, &format!("/v1/originals/{}", &link[3..]));

    // A held archive's password tries, taken on A, count on B: locked out there too.
    let zip = common::write_temp(dir.path(), "held.zip", &common::fixture("zip/zipcrypto.zip"));
    let held = http(
        port_a,
        "/v1/sanitize",
        &[
            "-H",
            &bearer(SUBMIT),
            "-H",
            "content-disposition: attachment; filename=\"held.zip\"",
            "--data-binary",
            &format!("@{}", zip.display()),
        ],
    );
    let unlock = held.json()["unlock"].as_str().unwrap_or_default().to_string();
    let try_password = |port: u16, password: &str| {
        let body = serde_json::json!({ "password": password }).to_string();
        http(
            port,
            &unlock,
            &["-X", "POST", "-H", "content-type: application/json", "--data", &body],
        )
        .status
    };
    let guesses: Vec<u16> = (0..5).map(|_| try_password(port_a, "guess")).collect();
    let on_b = try_password(port_b, "mugai-pass");

    // B finishes the orphaned job (at start, or at its next sweep), and leaves A's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let finished = loop {
        let row = ledger.job(&orphan, mugai::store::now()).expect("job").expect("row");
        if row.outcome.is_some() || std::time::Instant::now() > deadline {
            break row;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let still_held = ledger.job(&held_job, mugai::store::now()).expect("job").expect("row");
    for mut child in [serve_a, serve_b, serve_c] {
        let _ = child.kill();
        let _ = child.wait();
    }

    // Expired messages, then both instances' purges at once: each object is removed once.
    let expired: Vec<String> = (0..20)
        .map(|i| {
            let blob = bucket.put(format!("expired {i}").as_bytes()).expect("blob");
            let row = mugai::store::MessageRow {
                id: format!("{i:032x}"),
                message_id: None,
                mail_from: "old@example.jp".into(),
                rcpt_to: vec![],
                blob: blob.clone(),
                size: 9,
                created: now - 100,
                expires: now - 1,
                outcome: None,
                report: None,
                subject: None,
            };
            use mugai::store::Messages;
            ledger.insert_message(&row).expect("expired row");
            blob
        })
        .collect();
    let (by_a, by_b) = std::thread::scope(|s| {
        let by_a = s.spawn(|| purge(&a));
        let by_b = s.spawn(|| purge(&b));
        (by_a.join().expect("a"), by_b.join().expect("b"))
    });

    assert_eq!(page_b.status, 200, "{}", page_b.text());
    assert!(
        page_b.text().contains("report"),
        "the page names the attachment:\n{}",
        page_b.text()
    );
    assert_eq!(clean.status, 200, "{}", clean.text());
    assert!(clean.body.starts_with(b"PK"), "the clean copy is a package");
    assert!(clean.head.contains(".docx"), "named as a .docx:\n{}", clean.head);
    assert_ne!(status_c, 200, "another key's instance must refuse the link");
    assert_eq!(ready, 200, "B is ready: database and bucket answer");
    assert_eq!(requested.status, 303, "{}", requested.text());
    assert_eq!(
        before.status,
        403,
        "not released before the decision: {}",
        before.text()
    );
    assert_eq!(
        pending["pending"].as_array().map(Vec::len),
        Some(1),
        "A sees B's request: {pending}"
    );
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert_eq!(released.status, 200, "B releases what A approved: {}", released.text());
    assert!(released.body == docm, "the exact original");
    assert_eq!(held.status, 422, "{}", held.text());
    assert_eq!(guesses, [400; 5], "five wrong passwords on A");
    assert_eq!(on_b, 429, "locked out on B too, even with the right password");
    assert_eq!(
        finished.outcome,
        Some(mugai::store::Outcome::Disarmed),
        "B finished the job A died holding"
    );
    let clean = finished.clean_blob.expect("a clean copy");
    assert!(bucket.get(&clean).expect("clean copy in the bucket").starts_with(b"PK"));
    assert_eq!(still_held.outcome, None, "a job whose holder lives is left to it");
    assert_eq!(
        (by_a.0 + by_b.0, by_a.1 + by_b.1),
        (20, 20),
        "each expired message and blob removed once between them: A {by_a:?}, B {by_b:?}"
    );
    for blob in &expired {
        assert!(bucket.get(blob).is_err(), "{blob} is gone");
    }
    // What lives stays: the mail's link still resolves to its original in the bucket.
    let part = ledger.part(&id).expect("part").expect("the part lives");
    assert!(bucket.get(&part.original_blob).expect("original") == docm);
}

#[test]
fn db_migrate_brings_the_schema_up_and_refuses_a_newer_one() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::write_temp(
        dir.path(),
        "mugai.toml",
        format!(
            "[serve]\ndata_dir = \"{}\"\n[store]\nbackend = \"shared\"\nlink_key = \"{KEY}\"\n\
             [store.postgres]\nurl = \"{url}\"\n[store.s3]\nbucket = \"unused\"\n",
            dir.path().join("data").display()
        )
        .as_bytes(),
    );
    let migrate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
            .args(["-c", config.to_str().expect("path"), "db", "migrate"])
            .output()
            .expect("mugai db migrate")
    };
    for _ in 0..2 {
        let out = migrate();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("schema version 5"), "{text}");
    }
    pg.sql("migrate", "INSERT INTO schema_version VALUES (99)");
    let out = migrate();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer than this binary"));
}

/// A job accepted by A, A SIGKILLed while it runs: B takes it once A's lease lapsed (A renews
/// the leases of the jobs it runs every third of a lease, so only a dead holder's lapse) and
/// finishes it; the result is read from B by the id A gave.
#[test]
fn a_job_whose_instance_is_killed_is_finished_by_another() {
    let (Some(pg), Some(moto)) = (Postgres::start(), Moto::start()) else {
        return;
    };
    let url = pg.database("killed_job");
    let s3 = moto.bucket("killed-job");
    // The shortest lease the configuration allows: B takes a dead A's job within seconds.
    let shared = format!(
        "job_lease_seconds = 5\n[store.postgres]\nurl = \"{url}\"\nconnections = 2\n[store.s3]\nbucket = \"{}\"\n\
         endpoint = \"{}\"\nregion = \"ap-northeast-1\"\naccess_key_id = \"test-key\"\n\
         secret_access_key = \"test-secret\"\nallow_http = true\n",
        s3.bucket,
        s3.endpoint.as_deref().unwrap_or_default(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (common::free_port(), common::free_port());
    let hop = std::net::TcpListener::bind("127.0.0.1:0").expect("hop");
    let hop_port = hop.local_addr().expect("addr").port();
    let base = format!("http://127.0.0.1:{port_b}");
    // A runs one file at a time, so the job below keeps it busy for seconds.
    let one_worker = format!("{shared}[engine]\nworkers = 1\n");
    let a = instance(dir.path(), "a", port_a, hop_port, &base, &one_worker, KEY);
    let b = instance(dir.path(), "b", port_b, hop_port, &base, &shared, KEY);

    // A job that keeps an engine busy for a while: an archive of 4,000 macro documents, each
    // rebuilt on its own (about a millisecond each).
    let docm = common::fixture("ooxml/macro.docm");
    const ENTRIES: usize = 4_000;
    let archive = {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for i in 0..ENTRIES {
            zip.start_file(format!("報告{i:04}.docm"), opts).expect("start");
            zip.write_all(&docm).expect("write");
        }
        zip.finish().expect("finish").into_inner()
    };
    let upload = common::write_temp(dir.path(), "many.zip", &archive);
    let bearer = format!("authorization: Bearer {SUBMIT}");

    let mut serve_a = serve(&a, port_a, &dir.path().join("a.log"));
    let accepted = http(
        port_a,
        "/v1/jobs",
        &[
            "-H",
            &bearer,
            "-H",
            "content-disposition: attachment; filename=\"many.zip\"",
            "--data-binary",
            &format!("@{}", upload.display()),
        ],
    );
    // Killed while the job runs: no shutdown, no chance to give the job back.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = serve_a.kill();
    let _ = serve_a.wait();
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["id"].as_str().expect("a job id").to_string();
    let ledger = mugai::store::PgLedger::connect(&url, 1).expect("ledger");
    use mugai::store::Jobs;
    let left = ledger.job(&id, mugai::store::now()).expect("job").expect("row");
    assert_eq!(
        left.outcome, None,
        "A must die before finishing the job, or this test proves nothing (make the job slower)"
    );

    // B starts after A died, and takes the job once A's lease lapsed (at start, or at a sweep).
    let b_log = dir.path().join("b.log");
    let serve_b = serve(&b, port_b, &b_log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        let answer = http(port_b, &format!("/v1/jobs/{id}"), &["-H", &bearer]);
        let status = answer.json();
        if status["status"] != "queued" || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let result = http(port_b, &format!("/v1/jobs/{id}/result"), &["-H", &bearer]);
    let mut serve_b = serve_b;
    let _ = serve_b.kill();
    let _ = serve_b.wait();
    let log = std::fs::read_to_string(&b_log).unwrap_or_default();
    assert_eq!(status["status"], "done", "B finished A's job: {status}\n{log}");
    assert_eq!(status["outcome"], "disarmed", "{status}");
    // B's audit trail holds the job's decision: B ran it, not A before it died.
    let audit = std::fs::read_to_string(dir.path().join("b.audit.jsonl")).unwrap_or_default();
    assert!(audit.contains(&id), "B's audit names the job {id}:\n{audit}");
    assert_eq!(result.status, 200, "{}", result.text());
    // The clean archive: every document there, rebuilt without its macro.
    let mut clean = zip::ZipArchive::new(std::io::Cursor::new(result.body)).expect("a ZIP");
    assert_eq!(clean.len(), ENTRIES, "every document crossed");
    let first = clean.by_index(0).expect("entry").name().expect("name").to_string();
    assert!(first.ends_with(".docx"), "{first}");
}
