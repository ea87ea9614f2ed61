//! The recipient and approver pages in a real browser. A mail with a macro `.docm` and a
//! password ZIP is processed in `url` mode (`mugai mail`), `mugai serve` is started on the
//! same data directory, and `tests/browser/flow.mjs` drives headless Debian Chromium through
//! Playwright from the links in the mail's notice: the recipient requests the original (who
//! and why), an administrator signs in from the directory (a private slapd) and approves it
//! with a comment, finds the message in the admin console, reads its trace, takes its
//! original out with a reason and opens the statistics; the recipient downloads the
//! original; the ZIP is unlocked through the password form; the display switch turns on
//! large text and high contrast. axe-core judges every page; screenshots and downloads are
//! kept in `target/browser-artifacts/`.
//!
//! Needs `chromium`, `node` and `npm ci` in `tests/browser/` (tests/run.sh does all three);
//! without them the test is skipped, unless `MUGAI_REQUIRE_BROWSER` is set (CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};

const ZIP_PASSWORD: &str = "mugai-pass";

fn browser_ready() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = root.join("tests/browser/node_modules/playwright-core").exists()
        && root.join("tests/browser/node_modules/axe-core").exists();
    match chromium {
        Some(c) if node && modules => Some(c),
        _ => {
            assert!(
                std::env::var_os("MUGAI_REQUIRE_BROWSER").is_none(),
                "the browser test needs chromium, node and `npm ci` in tests/browser (tests/run.sh)"
            );
            eprintln!("skipping: chromium, node or tests/browser/node_modules missing (tests/run.sh installs them)");
            None
        }
    }
}

/// A mail with two attachments, base64 with RFC 2231 UTF-8 names.
fn mail(attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut m = String::from(
        "From: sender@example.jp\r\nTo: recipient@city.example.lg.jp\r\nSubject: =?UTF-8?B?6LOH5paZ?=\r\n\
         Message-ID: <browser-test@example.jp>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         資料を送ります。\r\n",
    );
    for (name, media, bytes) in attachments {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        m.push_str(&format!(
            "--b1\r\nContent-Type: {media}\r\nContent-Disposition: attachment; filename*=UTF-8''{encoded}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for line in b64.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(line).unwrap_or(""));
            m.push_str("\r\n");
        }
    }
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

/// The recipient-page link (under `base`) that follows `name` in a notice's text: the notice
/// names each file on the line before its link.
fn link_after(text: &str, base: &str, name: &str) -> String {
    let at = text
        .find(name)
        .unwrap_or_else(|| panic!("{name} not in the notice:\n{text}"));
    let rest = &text[at..];
    let start = rest.find(&format!("{base}/o/")).expect("a link after the name");
    rest[start..].split_whitespace().next().expect("link").to_string()
}

fn sha256(bytes: &[u8]) -> String {
    mugai::report::hex(&Sha256::digest(bytes))
}

#[test]
fn recipient_requests_approver_approves_recipient_downloads_and_a_zip_is_unlocked() {
    let Some(chromium) = browser_ready() else { return };
    let Some(slapd) = common::servers::Slapd::start(&common::servers::Slapd::city_directory()) else {
        return;
    };
    let suffix = common::servers::Slapd::SUFFIX;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\ndata_dir = \"{data}\"\nsmtp_listen = \"127.0.0.1:{smtp}\"\nhttp_listen = \"127.0.0.1:{port}\"\n\
             next_hop = \"127.0.0.1:{hop}\"\n[audit]\nlog = \"{audit}\"\n[mail]\nattachments = \"url\"\nlink_base_url = \"{base}\"\n\
             [http]\noriginals = \"after_approval\"\n\
             [portal.ldap]\nurl = \"ldaps://127.0.0.1:{ldaps}\"\nca_file = \"{ca}\"\n\
             user_dn = \"uid={{user}},ou=people,{suffix}\"\ngroup_base = \"ou=groups,{suffix}\"\n\
             admin_group = \"cn=mugai-admins,ou=groups,{suffix}\"\n\
             [[portal.approver_groups]]\nname = \"総務課\"\nrecipients = [\"*@soumu.city.example.lg.jp\"]\n\
             ldap_group = \"cn=soumu-approvers,ou=groups,{suffix}\"\n",
            data = dir.path().join("data").display(),
            smtp = common::free_port(),
            hop = common::free_port(),
            audit = dir.path().join("audit.jsonl").display(),
            ldaps = slapd.ldaps_port,
            ca = slapd.ca.display(),
        ),
    )
    .expect("config");

    // The mail, processed in url mode: the notice carries one link per attachment.
    let docm = common::fixture("ooxml/macro.docm");
    let zip = common::fixture("zip/zipcrypto.zip");
    let input = common::write_temp(
        dir.path(),
        "in.eml",
        &mail(&[
            ("報告書.docm", "application/vnd.ms-word.document.macroEnabled.12", &docm),
            ("資料.zip", "application/zip", &zip),
        ]),
    );
    let output = dir.path().join("out.eml");
    let (code, _) = common::run_mail(&config, &input, &output);
    assert_eq!(code, Some(0));
    let text = common::mail_text(&output);
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with(&format!("{base}/o/")))
        .collect();
    assert_eq!(links.len(), 2, "two links in the notice:\n{text}");
    let doc_url = link_after(&text, &base, "報告書.docm");
    let zip_url = link_after(&text, &base, "資料.zip");
    assert_ne!(doc_url, zip_url);

    let mut serve = common::spawn_serve(&config, port, std::time::Duration::from_secs(30));
    let artifacts = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let run = Command::new("node")
        .arg(root.join("tests/browser/flow.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("BASE", &base)
        .env("DOC_URL", &doc_url)
        .env("ZIP_URL", &zip_url)
        .env("APPROVER_USER", "admin1")
        .env("APPROVER_PASSWORD", "admin1-password")
        .env("ZIP_PASSWORD", ZIP_PASSWORD)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let _ = serve.kill();
    let _ = serve.wait();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the browser flow failed (screenshots in {}):\n{stdout}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON result");

    // The original downloaded after approval is the attachment as it arrived.
    assert_eq!(result["original"]["sha256"], sha256(&docm).as_str(), "{result}");
    assert_eq!(result["original"]["suggested"], "報告書.docm");
    // The clean download is the engine's rebuild, a .docx without the macro (olevba judges).
    let clean_path = result["clean"]["file"].as_str().expect("clean file");
    let clean = std::fs::read(clean_path).expect("clean download");
    let engine = mugai::Engine::new(mugai::Config::load(Some(&config)).expect("config"));
    let expected = engine.run(&docm, Some("報告書.docm")).output.expect("clean docx");
    assert_eq!(sha256(&clean), sha256(&expected));
    assert!(
        result["clean"]["suggested"].as_str().unwrap_or("").ends_with(".docx"),
        "{result}"
    );
    let olevba = common::judge("olevba", &[clean_path]);
    let verdict = String::from_utf8_lossy(&olevba.stdout);
    assert!(verdict.contains("No VBA or XLM macros found"), "{verdict}");
    // The unlocked ZIP opens without a password and every entry's CRC holds (zipfile judges).
    let unlocked = result["unlocked"]["file"].as_str().expect("unlocked file");
    let judged = common::judge(
        "python3",
        &[
            "-c",
            "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
             assert z.infolist() and not any(i.flag_bits & 1 for i in z.infolist())",
            unlocked,
        ],
    );
    assert!(judged.status.success(), "{}", String::from_utf8_lossy(&judged.stderr));
    // Every page was judged by axe-core, and the screenshots are there.
    let checked = result["checked"].as_array().expect("checked");
    assert!(
        checked
            .iter()
            .filter(|c| c.as_str().unwrap_or("").starts_with("axe-core"))
            .count()
            >= 10
    );
    // The original taken out in the console is the message as it came, and the audit says
    // who took it and why; the approval names the directory's person, with the comment.
    let eml = std::fs::read(result["eml"]["file"].as_str().expect("eml file")).expect("eml");
    assert_eq!(eml, std::fs::read(&input).expect("input"), "the .eml as it arrived");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let line = |event: &str| {
        audit
            .lines()
            .find(|l| l.contains(&format!("\"{event}\"")))
            .unwrap_or_else(|| panic!("no {event} in the audit"))
            .to_string()
    };
    assert!(line("original.fetched").contains("admin:admin1"), "{audit}");
    assert!(line("original.fetched").contains("ブラウザ試験"), "{audit}");
    let approved = line("original.approved");
    assert!(
        approved.contains("approver:admin1") && approved.contains("確認しました"),
        "{approved}"
    );
    for shot in [
        "01-recipient-ja",
        "04-approver-pending",
        "06-recipient-approved",
        "10-unlocked",
        "12-admin-search",
        "13-admin-message",
        "14-admin-stats",
        "15-large-contrast",
    ] {
        let png = std::fs::read(artifacts.join(format!("{shot}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{shot}");
    }
}

/// `mugai user add NAME ROLE` with `password` on its standard input: the `users = [...]` line.
fn user_line(name: &str, role: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["user", "add", name, role])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mugai user add");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password");
    let out = child.wait_with_output().expect("mugai user add");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

/// The carry-in box end to end: two listeners (internet side: the box; LGWAN side: the
/// pages), a staff member signs in and uploads a macro `.docm` and a password ZIP in the
/// browser, the notice mail reaches a real SMTP sink (Postfix's `smtp-sink`, the next hop),
/// and its link opens the LGWAN-side page where the disarmed `.docx` is downloaded; axe-core
/// judges every page.
#[test]
fn carry_in_from_the_internet_side_reaches_the_lgwan_page() {
    let Some(chromium) = browser_ready() else { return };
    let hop = common::free_port();
    let Some(sink) = common::servers::SmtpSink::start(hop) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (internet, lgwan, smtp) = (common::free_port(), common::free_port(), common::free_port());
    let lgwan_base = format!("http://127.0.0.1:{lgwan}");
    let config = dir.path().join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\ndata_dir = \"{data}\"\nsmtp_listen = \"127.0.0.1:{smtp}\"\nnext_hop = \"127.0.0.1:{hop}\"\n\
             [audit]\nlog = \"{audit}\"\n[mail]\nlink_base_url = \"{lgwan_base}\"\n\
             [http.listeners.internet]\nlisten = \"127.0.0.1:{internet}\"\nserve = [\"carry_in\"]\n\
             [http.listeners.lgwan]\nlisten = \"127.0.0.1:{lgwan}\"\nserve = [\"portal\"]\n\
             [carry_in]\nmailbox_domains = [\"city.example.lg.jp\"]\nsender = \"carry-in@gw.city.example.lg.jp\"\n\
             [portal]\n{users}\n",
            data = dir.path().join("data").display(),
            audit = dir.path().join("audit.jsonl").display(),
            users = user_line("tanaka", "carry_in", "tanaka-password"),
        ),
    )
    .expect("config");
    let docm = common::fixture("ooxml/macro.docm");
    let files = [
        common::write_temp(dir.path(), "報告書.docm", &docm),
        common::write_temp(dir.path(), "資料.zip", &common::fixture("zip/zipcrypto.zip")),
    ];
    let mut serve = common::spawn_serve(&config, smtp, std::time::Duration::from_secs(30));
    common::wait_listening(
        internet,
        "the internet-side listener",
        std::time::Duration::from_secs(10),
    );
    let artifacts = root.join("target/browser-artifacts/carry-in");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let node = |phase: &str, extra: &[(&str, String)]| {
        let mut command = Command::new("node");
        command
            .arg(root.join("tests/browser/carry_in.mjs"))
            .current_dir(root.join("tests/browser"))
            .env("PHASE", phase)
            .env("ARTIFACTS", &artifacts)
            .env("CHROMIUM", &chromium);
        for (k, v) in extra {
            command.env(k, v);
        }
        let run = command.output().expect("run node");
        let stdout = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(
            run.status.success(),
            "the carry-in flow ({phase}) failed (screenshots in {}):\n{stdout}\n{}",
            artifacts.display(),
            String::from_utf8_lossy(&run.stderr)
        );
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap_or("")).expect("JSON result")
    };
    let uploaded = node(
        "upload",
        &[
            ("INTERNET", format!("http://127.0.0.1:{internet}")),
            ("CARRY_USER", "tanaka".into()),
            ("CARRY_PASSWORD", "tanaka-password".into()),
            ("MAILBOX", "kakari@city.example.lg.jp".into()),
            (
                "FILES",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ],
    );

    // The notice reached the sink: to the mailbox, with a link per file to the LGWAN side.
    let started = std::time::Instant::now();
    let notice = loop {
        if let Some(m) = sink.messages().first() {
            break m.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no notice at the sink"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::fs::copy(&notice, artifacts.join("notice.eml")).expect("keep the notice");
    let (headers, _, text) = common::mail_headers_and_text(&notice);
    assert!(headers.contains("kakari@city.example.lg.jp"), "{headers}");
    assert!(text.contains("tanaka") && text.contains("会議資料です"), "{text}");
    let received = node(
        "receive",
        &[
            ("DOC_URL", link_after(&text, &lgwan_base, "報告書.docm")),
            ("ZIP_URL", link_after(&text, &lgwan_base, "資料.zip")),
        ],
    );
    let _ = serve.kill();
    let _ = serve.wait();

    // The download is the engine's rebuild of the .docm: a .docx without the macro.
    let clean_path = received["clean"]["file"].as_str().expect("clean file");
    let engine = mugai::Engine::new(mugai::Config::load(Some(&config)).expect("config"));
    let expected = engine.run(&docm, Some("報告書.docm")).output.expect("clean docx");
    assert_eq!(sha256(&std::fs::read(clean_path).expect("clean")), sha256(&expected));
    assert!(
        received["clean"]["suggested"].as_str().unwrap_or("").ends_with(".docx"),
        "{received}"
    );
    let olevba = common::judge("olevba", &[clean_path]);
    assert!(String::from_utf8_lossy(&olevba.stdout).contains("No VBA or XLM macros found"));
    // Six pages judged by axe-core, none with a violation (a violation fails the flow).
    let judged = [&uploaded, &received]
        .iter()
        .flat_map(|r| r["checked"].as_array().cloned().unwrap_or_default())
        .filter(|c| c.as_str().unwrap_or("").starts_with("axe-core"))
        .count();
    assert_eq!(judged, 6);
    // The audit trail has the carry-in, by whom, to which mailbox, from which message.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let sent = audit
        .lines()
        .find(|l| l.contains("\"carry_in.sent\""))
        .unwrap_or_else(|| panic!("no carry_in.sent in the audit:\n{audit}"));
    assert!(
        sent.contains("carry_in:tanaka") && sent.contains("kakari@city.example.lg.jp") && sent.contains("\"files\":2"),
        "{sent}"
    );
}
