//! The audit trail of a running daemon (`mugai serve` over real sockets): every kind of
//! decision — a mail received, disarmed and delivered, a file sanitized over the API, an
//! original requested, approved, denied, released and refused, a held archive unlocked with a
//! wrong and a right password, an approver signing in (and a refused sign-in) and out, a
//! reload, the purge — is one JSON line with its actor and client address. Rotation: the file
//! is moved away, SIGHUP, and the next line is in a new file under the old name. Then
//! `mugai audit` finds a message's lines by its id and by its sender.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

const SUBMIT: &str = "mk_audit_submit_key";
const APPROVE: &str = "mk_audit_approve_key";

/// A next hop that accepts everything (one thread per connection).
fn accepting_hop() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                let _ = w.write_all(b"220 hop ESMTP\r\n");
                let mut in_data = false;
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            b"250 2.0.0 Ok: queued as HOP1\r\n"
                        } else {
                            b""
                        }
                    } else if line.starts_with("EHLO") {
                        b"250-hop\r\n250 8BITMIME\r\n"
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        b"354 go on\r\n"
                    } else if line.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply);
                    line.clear();
                }
            });
        }
    });
    port
}

/// One HTTP/1.1 request on its own connection; (status, body).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let status = std::str::from_utf8(&all[9..12]).expect("status").parse().expect("code");
    (status, all[end..].to_vec())
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// A form post with the double-submit CSRF pair.
fn form(port: u16, path: &str, fields: &str, cookie: Option<&str>) -> (u16, Vec<u8>) {
    let cookies = match cookie {
        Some(c) => format!("mugai_csrf=t0k3n; {c}"),
        None => "mugai_csrf=t0k3n".into(),
    };
    http(
        port,
        "POST",
        path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &cookies),
        ],
        format!("csrf=t0k3n&{fields}").as_bytes(),
    )
}

/// A held upload (the password ZIP): its part token.
fn held_upload(port: u16) -> String {
    let zip = common::fixture("zip/zipcrypto.zip");
    let (status, body) = http(
        port,
        "POST",
        "/v1/sanitize",
        &[
            ("authorization", &format!("Bearer {SUBMIT}")),
            ("content-type", "application/zip"),
            ("content-disposition", "attachment; filename=\"shiryo.zip\""),
        ],
        &zip,
    );
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let page = json(&body)["page"].as_str().expect("a page link").to_string();
    page.trim_start_matches("/o/").to_string()
}

/// The audit lines now.
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Wait until a line of `event` is in the file; all lines of that kind.
fn wait_for(path: &Path, event: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let found: Vec<Value> = lines(path).into_iter().filter(|l| l["event"] == event).collect();
        if !found.is_empty() {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no {event} line");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sha_hex(s: &str) -> String {
    mugai::report::hex(&Sha256::digest(s.as_bytes()))
}

fn smtp_send(port: u16, from: &str, to: &str, message: &str) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect smtp");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("reply");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    };
    assert!(reply().starts_with("220"));
    let mut last = String::new();
    for cmd in [
        "EHLO client.example".to_string(),
        "XFORWARD ADDR=198.51.100.7".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_string(),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).expect("write");
        last = reply();
    }
    assert!(last.starts_with("354"), "{last}");
    w.write_all(message.replace('\n', "\r\n").as_bytes()).expect("message");
    w.write_all(b"\r\n.\r\n").expect("dot");
    let answer = reply();
    w.write_all(b"QUIT\r\n").expect("quit");
    answer
}

#[test]
fn every_decision_is_one_line_with_actor_and_client_and_the_file_rotates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (smtp, http_port, hop) = (common::free_port(), common::free_port(), accepting_hop());
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nsmtp_listen = \"127.0.0.1:{smtp}\"\nhttp_listen = \"127.0.0.1:{http_port}\"\nnext_hop = \"127.0.0.1:{hop}\"\n\
             data_dir = \"{}\"\n[audit]\nlog = \"{}\"\n[smtp]\nreject_outcomes = [\"blocked\"]\n\
             [http]\noriginals = \"after_approval\"\napi_keys = [{{ name = \"fx\", sha256 = \"{}\", roles = [\"submit\"] }}, \
             {{ name = \"boss\", sha256 = \"{}\", roles = [\"approve\"] }}]\n",
            dir.path().join("data").display(),
            audit.display(),
            sha_hex(SUBMIT),
            sha_hex(APPROVE),
        ),
    )
    .expect("config");
    let check = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["-c", config.to_str().expect("path"), "check-config"])
        .output()
        .expect("check-config");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let mut daemon = common::spawn_serve(&config, smtp, Duration::from_secs(20));
    common::wait_listening(http_port, "HTTP", Duration::from_secs(20));

    // The purge ran at start.
    wait_for(&audit, "purge.ran");

    // A mail with a file.
    let message = "From: a@example.jp\nTo: b@example.lg.jp\nSubject: audit\nMessage-ID: <audit-1@example.jp>\n\
                   MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
                   hello\n--b\nContent-Type: text/plain; name=\"note.txt\"\nContent-Disposition: attachment; filename=\"note.txt\"\n\n\
                   a note\n--b--\n";
    let answer = smtp_send(smtp, "a@example.jp", "b@example.lg.jp", message);
    assert!(answer.starts_with("250"), "{answer}");
    // The mail's file counts in the per-file metrics, as a file over the API does.
    let (_, metrics) = http(http_port, "GET", "/metrics", &[], b"");
    let files: u64 = String::from_utf8_lossy(&metrics)
        .lines()
        .filter(|l| l.starts_with("mugai_files_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(files, 1, "the attachment is in mugai_files_total");
    // A mail refused by policy (a program inside, smtp.reject_outcomes = ["blocked"]).
    let refused = "From: c@example.jp\nTo: b@example.lg.jp\nSubject: program\nMIME-Version: 1.0\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nrun me\n--b\n\
                   Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"setup.exe\"\n\
                   Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\n--b--\n";
    let answer = smtp_send(smtp, "c@example.jp", "b@example.lg.jp", refused);
    assert!(answer.starts_with("554"), "{answer}");

    // A file over the API, and held uploads for the original and unlock paths.
    let (status, _) = http(
        http_port,
        "POST",
        "/v1/sanitize",
        &[
            ("authorization", &format!("Bearer {SUBMIT}")),
            ("content-type", "text/plain"),
            ("content-disposition", "attachment; filename=\"memo.txt\""),
        ],
        b"just text\n",
    );
    assert_eq!(status, 200);
    let approved = held_upload(http_port);
    let denied = held_upload(http_port);

    // Requested, approved, released; requested, denied, refused.
    for token in [&approved, &denied] {
        let (status, _) = form(
            http_port,
            &format!("/o/{token}/request"),
            "requester=kakari%40city.example.lg.jp&reason=audit",
            None,
        );
        assert_eq!(status, 303);
    }
    let pending = http(
        http_port,
        "GET",
        "/v1/approvals",
        &[("authorization", &format!("Bearer {APPROVE}"))],
        b"",
    );
    let pending = json(&pending.1)["pending"].as_array().expect("pending").clone();
    assert_eq!(pending.len(), 2);
    let ids: Vec<String> = lines(&audit)
        .iter()
        .filter(|l| l["event"] == "original.requested")
        .map(|l| l["part"].as_str().expect("part").to_string())
        .collect();
    assert_eq!(ids.len(), 2, "one request line per request");
    for (id, verb) in [(&ids[0], "approve"), (&ids[1], "deny")] {
        let (status, body) = http(
            http_port,
            "POST",
            &format!("/v1/originals/{id}/{verb}"),
            &[("authorization", &format!("Bearer {APPROVE}"))],
            b"",
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let (status, _) = http(http_port, "GET", &format!("/v1/originals/{approved}"), &[], b"");
    assert_eq!(status, 200);
    let (status, _) = http(http_port, "GET", &format!("/v1/originals/{denied}"), &[], b"");
    assert_eq!(status, 403);

    // A wrong password, then the right one.
    for (password, expect) in [("guess", 400), ("mugai-pass", 200)] {
        let (status, body) = http(
            http_port,
            "POST",
            &format!("/v1/held/{approved}/unlock"),
            &[("content-type", "application/json")],
            serde_json::json!({ "password": password }).to_string().as_bytes(),
        );
        assert_eq!(status, expect, "{}", String::from_utf8_lossy(&body));
    }

    // Signing in: a wrong key, the approver's key, then out.
    let (status, _) = form(http_port, "/approvals/login", "key=mk_wrong", None);
    assert_eq!(status, 401);
    let mut s = TcpStream::connect(("127.0.0.1", http_port)).expect("connect");
    let body = format!("csrf=t0k3n&key={APPROVE}");
    s.write_all(
        format!(
            "POST /approvals/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\ncookie: mugai_csrf=t0k3n\r\n\
             content-type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .expect("write");
    let mut head = String::new();
    s.read_to_string(&mut head).expect("read");
    let session = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let (status, _) = form(http_port, "/approvals/logout", "", Some(&session));
    assert_eq!(status, 303);

    // Reload (SIGHUP), after the file was moved away: the reload line is in the new file.
    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&audit, &rotated).expect("rotate");
    assert!(Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let reloaded = wait_for(&audit, "config.reloaded");
    assert_eq!(reloaded[0]["ok"], true);
    assert_eq!(reloaded[0]["actor"], "daemon");
    let (status, _) = http(
        http_port,
        "POST",
        "/v1/sanitize",
        &[
            ("authorization", &format!("Bearer {SUBMIT}")),
            ("content-disposition", "attachment; filename=\"after.txt\""),
            ("content-type", "text/plain"),
        ],
        b"after the rotation\n",
    );
    assert_eq!(status, 200);
    let after = wait_for(&audit, "file.sanitized");
    assert_eq!(after.len(), 1, "the old file keeps the lines before the rotation");
    assert_eq!(after[0]["name"], "after.txt");

    let _ = daemon.kill();
    let _ = daemon.wait();

    // Every kind, each with an actor and (but for the daemon's own) a client address.
    let mut all = lines(&rotated);
    all.extend(lines(&audit));
    let kinds: &[(&str, &str)] = &[
        ("purge.ran", "daemon"),
        ("mail.part", "smtp"),
        ("mail.message", "smtp"),
        ("mail.delivered", "smtp"),
        ("mail.refused", "smtp"),
        ("file.sanitized", "api:fx"),
        ("original.requested", "recipient"),
        ("original.approved", "api:boss"),
        ("original.denied", "api:boss"),
        ("original.released", "recipient"),
        ("original.refused", "recipient"),
        ("held.unlock", "recipient"),
        ("approver.sign_in_refused", "approver"),
        ("approver.signed_in", "approver:boss"),
        ("approver.signed_out", "approver:boss"),
        ("config.reloaded", "daemon"),
    ];
    for (kind, actor) in kinds {
        let found: Vec<&Value> = all.iter().filter(|l| l["event"] == *kind).collect();
        assert!(!found.is_empty(), "no {kind} line in {all:#?}");
        for l in &found {
            assert_eq!(l["actor"], *actor, "{kind}: {l}");
            assert!(l["ts"].as_u64().is_some(), "{kind}: {l}");
            if *actor == "daemon" {
                assert!(l["client"].is_null(), "{kind}: {l}");
            } else {
                let client = l["client"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{kind} has no client: {l}"));
                assert!(client.starts_with("127.0.0.1:"), "{kind}: {l}");
            }
        }
    }
    let message = all.iter().find(|l| l["event"] == "mail.message").expect("message");
    assert_eq!(message["mail_from"], "a@example.jp");
    assert_eq!(message["forwarded_for"], "198.51.100.7");
    let refusal = all.iter().find(|l| l["event"] == "mail.refused").expect("refused");
    assert_eq!(
        (refusal["reason"].as_str(), refusal["reply"].as_str().map(|r| &r[..3])),
        (Some("policy"), Some("554"))
    );
    assert!(
        refusal["message"].as_str().is_some(),
        "the refused message was stored: {refusal}"
    );
    let delivered = all.iter().find(|l| l["event"] == "mail.delivered").expect("delivered");
    assert_eq!(delivered["message"], message["message"]);
    assert!(delivered["reply"].as_str().unwrap_or("").starts_with("250"));
    let unlocks: Vec<&str> = all
        .iter()
        .filter(|l| l["event"] == "held.unlock")
        .map(|l| l["result"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(unlocks, ["wrong_password", "unlocked"]);
    let refused = all.iter().find(|l| l["event"] == "original.refused").expect("refused");
    assert_eq!(refused["reason"], "denied");
    // No secret in the trail: keys, passwords, link tokens.
    let text = format!("{all:?}");
    for secret in [SUBMIT, APPROVE, "mugai-pass", approved.as_str(), denied.as_str()] {
        assert!(!text.contains(secret), "{secret} is in the audit trail");
    }

    // `mugai audit` finds the message's lines by id and by sender, and nothing else.
    let id = message["message"].as_str().expect("id");
    for filter in [["--message", id], ["--sender", "A@example.jp"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_mugai"))
            .args(["-c", config.to_str().expect("path"), "audit", "--file"])
            .arg(&rotated)
            .args(filter)
            .output()
            .expect("mugai audit");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let found: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| json(l.as_bytes())["event"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(found, ["mail.part", "mail.message", "mail.delivered"], "{filter:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mugai"))
        .args(["-c", config.to_str().expect("path"), "audit", "--event", "original."])
        .output()
        .expect("mugai audit");
    let found = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(
        found, 0,
        "the configured file is the new one: no original.* lines there"
    );
}
