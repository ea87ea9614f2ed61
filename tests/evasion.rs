//! Nothing active crosses: every file of the evasion set (`fixtures/evasion/`, made by
//! `fixtures/gen/evasion.py`: HTML without a leading tag, Windows shell and query formats,
//! SYLK, registry and INF files, Excel 2003 XML, MHT, scripts behind trailing dots, bidi and
//! stream-suffix names, disk images, OneNote, CHM, shortcuts) is blocked under the name it is
//! sent with — through `mugai sanitize`, inside a ZIP, and attached to a mail. Where policy
//! converts HTML to text instead, Python's `html.parser` finds no element in what comes out.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use mugai::audit::AuditLog;
use mugai::audit::Origin;
use mugai::mail::Envelope;
use mugai::pipeline::message::process;
use mugai::pipeline::Loaded;
use mugai::store::Store;
use mugai::{Config, Engine, Outcome};

/// (bytes, name sent) for every file of the set.
fn evasion_set() -> Vec<(Vec<u8>, String)> {
    let manifest = String::from_utf8(common::fixture("evasion/MANIFEST")).expect("manifest");
    let set: Vec<(Vec<u8>, String)> = manifest
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(file, name)| (common::fixture(&format!("evasion/{file}")), name.to_string()))
        .collect();
    assert!(set.len() >= 25, "the evasion set is incomplete: {}", set.len());
    set
}

#[test]
fn every_evasion_is_blocked_by_the_cli() {
    for (bytes, name) in evasion_set() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mugai"))
            .args(["sanitize", "-", "-o", "-", "--name", &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mugai");
        child.stdin.take().expect("stdin").write_all(&bytes).expect("write");
        let out = child.wait_with_output().expect("wait");
        let report: serde_json::Value = serde_json::from_slice(&out.stderr).expect("report on stderr");
        assert_eq!(out.status.code(), Some(3), "{name:?}: {report}");
        assert_eq!(report["outcome"], "blocked", "{name:?}: {report}");
        assert!(out.stdout.is_empty(), "{name:?}: output written");
    }
}

#[test]
fn every_evasion_is_left_out_of_a_zip() {
    let set = evasion_set();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (bytes, name) in &set {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("zip");
        zip.write_all(bytes).expect("zip");
    }
    zip.start_file("control.txt", zip::write::SimpleFileOptions::default())
        .expect("zip");
    zip.write_all(b"plain text stays\n").expect("zip");
    let archive = zip.finish().expect("zip").into_inner();

    let p = Engine::new(Config::default()).run(&archive, Some("bundle.zip"));
    assert_eq!(p.report.outcome, Outcome::Disarmed, "{:?}", p.report);
    let out = p.output.expect("rebuilt archive");
    let mut rebuilt = zip::ZipArchive::new(std::io::Cursor::new(out)).expect("zip");
    let names: Vec<String> = rebuilt.file_names().flatten().map(|n| n.to_string()).collect();
    assert_eq!(
        names.iter().filter(|n| *n != "_mugai_report.txt").collect::<Vec<_>>(),
        ["control.txt"],
        "only the control crossed"
    );
    let mut kept = String::new();
    std::io::Read::read_to_string(&mut rebuilt.by_name("control.txt").expect("control"), &mut kept).expect("read");
    assert_eq!(kept, "plain text stays\n");
}

#[test]
fn every_evasion_is_blocked_in_a_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::default();
    let store = Store::open(dir.path(), &config.store).expect("store");
    let engine = Loaded::new(config);
    let audit = AuditLog::to_writer(Box::new(std::io::sink()));
    let set = evasion_set();
    let mut mail = b"From: a@example.net\r\nTo: b@example.lg.jp\r\nSubject: evasion\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n".to_vec();
    for (bytes, name) in &set {
        let encoded = common::ext_value(name);
        mail.extend_from_slice(
            format!("--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''{encoded}\r\nContent-Transfer-Encoding: base64\r\n\r\n").as_bytes(),
        );
        use base64::Engine as _;
        mail.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes());
        mail.extend_from_slice(b"\r\n");
    }
    mail.extend_from_slice(b"--b--\r\n");
    let envelope = Envelope {
        mail_from: "a@example.net".into(),
        rcpt_to: vec!["b@example.lg.jp".into()],
    };
    let done = process(&engine, &store, &audit, &Origin::cli(), &mail, &envelope).expect("process");
    let attachments: Vec<_> = done.report.parts.iter().filter(|p| p.name.is_some()).collect();
    assert_eq!(attachments.len(), set.len(), "{:?}", done.report.parts);
    for part in attachments {
        assert_eq!(part.outcome, Outcome::Blocked, "{part:?}");
        assert!(part.attached_as.is_none(), "{part:?}");
    }
}

#[test]
fn html_converted_by_policy_has_no_element_left() {
    let config = Config::from_toml("[policy.kinds]\nhtml = \"sanitize\"\n").expect("config");
    let engine = Engine::new(config);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut judged = 0;
    for (bytes, name) in evasion_set() {
        let p = engine.run(&bytes, Some(&name));
        if p.report.detected_kind != mugai::FileKind::Html {
            assert_ne!(p.report.outcome, Outcome::Clean, "{name:?}");
            continue;
        }
        let Some(out) = p.output else { continue };
        let path = common::write_temp(dir.path(), "out.txt", &out);
        let judge = Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, html.parser\n\
                 class P(html.parser.HTMLParser):\n\
                 \x20   def handle_starttag(self, t, a): sys.exit('element <%s> left' % t)\n\
                 p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()\n",
            )
            .arg(&path)
            .output()
            .expect("python3");
        assert!(
            judge.status.success(),
            "{name:?}: {}",
            String::from_utf8_lossy(&judge.stderr)
        );
        judged += 1;
    }
    assert!(judged >= 2, "only {judged} HTML files were converted and judged");
}

#[test]
fn mail_bodies_carry_no_payload_and_headers_no_lone_cr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::default();
    let store = Store::open(dir.path(), &config.store).expect("store");
    let engine = Loaded::new(config);
    let audit = AuditLog::to_writer(Box::new(std::io::sink()));
    // uuencode of "MZ\x90\0hello" as invoice.exe, a yEnc block, and a Subject with a lone CR.
    let mail = b"From: a@example.net\r\nTo: b@example.lg.jp\r\nSubject: x\rX-Mugai-Outcome: clean\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease see the invoice.\r\nbegin 644 invoice.exe\r\n)35J0`&AE;&QO\r\n`\r\nend\r\n\
and this\r\n=ybegin line=128 size=3 name=tool.exe\r\nabc\r\n=yend size=3\r\nThanks\r\n";
    let envelope = Envelope {
        mail_from: "a@example.net".into(),
        rcpt_to: vec!["b@example.lg.jp".into()],
    };
    let done = process(&engine, &store, &audit, &Origin::cli(), &mail[..], &envelope).expect("process");
    let names: Vec<(Option<&str>, Outcome, Option<&str>)> = done
        .report
        .parts
        .iter()
        .map(|p| (p.name.as_deref(), p.outcome, p.reason.as_deref()))
        .collect();
    assert!(
        names.contains(&(Some("invoice.exe"), Outcome::Blocked, Some("executable"))),
        "{names:?}"
    );
    assert!(
        names.contains(&(Some("tool.exe"), Outcome::Blocked, Some("encoded_block"))),
        "{names:?}"
    );
    let out = common::write_temp(dir.path(), "out.eml", &done.rebuilt.to_bytes().expect("bytes"));
    // Python's email reads what a mail client would.
    let judge = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, email, email.policy\n\
             m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
             assert len(m.get_all('X-Mugai-Outcome')) == 1, m.get_all('X-Mugai-Outcome')\n\
             assert m['X-Mugai-Outcome'] == 'blocked', m['X-Mugai-Outcome']\n\
             assert '\\r' not in m['Subject'], repr(m['Subject'])\n\
             assert m.get_all('Received')[0].startswith('by mugai'), m.get_all('Received')\n\
             text = m.get_body(('plain',)).get_content()\n\
             assert 'begin 644' not in text and '=ybegin' not in text, text\n\
             assert 'Please see the invoice.' in text and 'Thanks' in text, text\n",
        )
        .arg(&out)
        .output()
        .expect("python3");
    assert!(judge.status.success(), "{}", String::from_utf8_lossy(&judge.stderr));
}
