//! `mugai serve` over real sockets, between an SMTP client and a small next hop written
//! here (a recording MTA that accepts, refuses a recipient, or fails on demand): the rebuilt
//! message reaches the next hop with the envelope, XFORWARD and DSN parameters passed on;
//! the client gets 250 only after the next hop's 250; a next hop that is down or fails gives
//! the client 4xx (its server keeps the message); hostile messages do not take the daemon
//! down; SIGTERM tells idle sessions 421 and ends the process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::free_port;

mod common;

/// What the next hop was sent in one transaction.
#[derive(Debug, Default, Clone)]
struct Received {
    commands: Vec<String>,
    message: Vec<u8>,
    /// Which of the next hop's connections it came on (counted from 1).
    connection: usize,
}

static CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How the next hop behaves.
#[derive(Clone, Copy, PartialEq)]
enum Hop {
    Accept,
    /// 451 after the final dot.
    FailData,
    /// 250 after the final dot, then the connection is closed (as a next hop's idle
    /// timeout closes a pooled session).
    AcceptAndHangUp,
}

/// A recording SMTP server on a free port; one thread per connection.
fn next_hop(behaviour: Hop) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let record = record.clone();
            std::thread::spawn(move || serve_hop(conn, behaviour, record));
        }
    });
    (port, seen)
}

fn serve_hop(conn: TcpStream, behaviour: Hop, record: Arc<Mutex<Vec<Received>>>) {
    let mut writer = conn.try_clone().expect("clone");
    let mut reader = BufReader::new(conn);
    let _ = writer.write_all(b"220 nexthop ESMTP\r\n");
    let connection = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let fresh = || Received {
        connection,
        ..Received::default()
    };
    let mut current = fresh();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-nexthop\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 XFORWARD NAME ADDR PROTO HELO\r\n"
        } else if upper.starts_with("RCPT") && upper.contains("<BAD") {
            current.commands.push(cmd);
            b"550 5.1.1 unknown user\r\n"
        } else if upper == "DATA" {
            let _ = writer.write_all(b"354 go ahead\r\n");
            let mut message = Vec::new();
            loop {
                let mut l = Vec::new();
                if reader.read_until(b'\n', &mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == b".\r\n" {
                    break;
                }
                let l = if l.starts_with(b"..") { l[1..].to_vec() } else { l };
                message.extend_from_slice(&l);
            }
            current.message = message;
            record
                .lock()
                .expect("lock")
                .push(std::mem::replace(&mut current, fresh()));
            match behaviour {
                Hop::Accept => b"250 2.0.0 Ok: queued as NEXT1\r\n",
                Hop::FailData => b"451 4.3.0 next hop trouble\r\n",
                Hop::AcceptAndHangUp => {
                    let _ = writer.write_all(b"250 2.0.0 Ok: queued as NEXT1\r\n");
                    return;
                }
            }
        } else if upper == "QUIT" {
            let _ = writer.write_all(b"221 bye\r\n");
            return;
        } else if upper == "RSET" {
            current = fresh();
            b"250 2.0.0 Ok\r\n"
        } else {
            current.commands.push(cmd);
            b"250 2.0.0 Ok\r\n"
        };
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

struct Daemon {
    child: Child,
    port: u16,
    http_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(next_hop_port: u16, extra: &str) -> Daemon {
    start_with_hop(&format!("127.0.0.1:{next_hop_port}"), extra)
}

/// The daemon with `serve.next_hop = hop` (an address or a host name, with the port).
fn start_with_hop(hop: &str, extra: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let http_port = free_port();
    let config = dir.path().join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nsmtp_listen = \"127.0.0.1:{port}\"\nnext_hop = \"{hop}\"\nhttp_listen = \"127.0.0.1:{http_port}\"\ndata_dir = \"{}\"\n\
             [audit]\nlog = \"{}\"\n[relay]\nconnect_timeout_secs = 3\n{extra}",
            dir.path().join("data").display(),
            dir.path().join("audit.jsonl").display()
        ),
    )
    .expect("config");
    let child = common::spawn_serve(&config, port, Duration::from_secs(20));
    Daemon {
        child,
        port,
        http_port,
        _dir: dir,
    }
}

/// A line-at-a-time SMTP client.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        };
        assert_eq!(c.reply().0, 220);
        c
    }

    /// QUIT, then wait until mugai closes the connection (it has then handed its next-hop
    /// session back to the pool).
    fn quit_and_wait(mut self) {
        assert_eq!(self.cmd("QUIT").0, 221);
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
    }

    /// (code, all lines).
    fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read reply");
            assert!(n > 0, "connection closed; so far: {all}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return (line[..3].parse().expect("code"), all);
            }
        }
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).expect("write");
        self.reply()
    }

    /// DATA with the message (dot-stuffed and with CRLF line ends here, as an SMTP client
    /// sends it); the reply to the final dot.
    fn data(&mut self, message: &[u8]) -> (u16, String) {
        assert_eq!(self.cmd("DATA").0, 354);
        let mut stuffed = Vec::new();
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                stuffed.push(b'.');
            }
            match line.strip_suffix(b"\n") {
                Some(body) if !body.ends_with(b"\r") => {
                    stuffed.extend_from_slice(body);
                    stuffed.extend_from_slice(b"\r\n");
                }
                _ => stuffed.extend_from_slice(line),
            }
        }
        if !stuffed.ends_with(b"\r\n") {
            stuffed.extend_from_slice(b"\r\n");
        }
        stuffed.extend_from_slice(b".\r\n");
        self.writer.write_all(&stuffed).expect("write data");
        self.reply()
    }
}

fn fixture_mail(name: &str) -> Vec<u8> {
    std::fs::read(common::fixtures_dir().join("mail").join(name)).expect("fixture")
}

#[test]
fn a_message_is_disarmed_and_relayed_with_its_envelope() {
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "");
    let mut c = Client::connect(daemon.port);
    let (code, ehlo) = c.cmd("EHLO upstream.example");
    assert_eq!(code, 250);
    assert!(ehlo.contains("XFORWARD") && ehlo.contains("8BITMIME") && ehlo.contains("DSN"));
    assert_eq!(
        c.cmd("XFORWARD NAME=mx.example.net ADDR=192.0.2.10 PROTO=ESMTP HELO=mx")
            .0,
        250
    );
    assert_eq!(
        c.cmd("MAIL FROM:<yamada@example.net> BODY=8BITMIME RET=HDRS ENVID=abc")
            .0,
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<tanaka@example.lg.jp> NOTIFY=FAILURE ORCPT=rfc822;tanaka@example.lg.jp")
            .0,
        250
    );
    assert_eq!(
        c.cmd("RCPT TO:<bad@example.lg.jp>").0,
        550,
        "the next hop's refusal is reflected"
    );
    let (code, text) = c.data(&fixture_mail("japanese_html.eml"));
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("NEXT1"), "the next hop's reply is passed on: {text}");
    // A second message on the same session, through the same next hop connection.
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    assert_eq!(c.data(&fixture_mail("exe_as_pdf.eml")).0, 250);
    assert_eq!(c.cmd("QUIT").0, 221);

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    let cmds = first.commands.join("\n");
    assert!(
        cmds.contains("XFORWARD NAME=mx.example.net ADDR=192.0.2.10 PROTO=ESMTP"),
        "{cmds}"
    );
    assert!(
        cmds.contains("MAIL FROM:<yamada@example.net> BODY=8BITMIME RET=HDRS ENVID=abc"),
        "{cmds}"
    );
    assert!(
        cmds.contains("RCPT TO:<tanaka@example.lg.jp> NOTIFY=FAILURE ORCPT=rfc822;tanaka@example.lg.jp"),
        "{cmds}"
    );
    let text = String::from_utf8_lossy(&first.message);
    // mugai's own trace field on top (one recipient: named), then its headers.
    assert!(
        text.starts_with("Received: by mugai (mugai ")
            && text.contains("\r\n\tfor <tanaka@example.lg.jp>; ")
            && text.contains("\r\nX-Mugai-Outcome: disarmed\r\n"),
        "{}",
        &text[..400.min(text.len())]
    );
    assert!(text.contains("DKIM-Signature: v=1; a=rsa-sha256; d=example.net;"));
    assert!(!text.contains("text/html"), "HTML left in the relayed message");
    assert!(
        !seen[1].commands.iter().any(|c| c.starts_with("XFORWARD")),
        "XFORWARD is reset after a message"
    );
    assert!(String::from_utf8_lossy(&seen[1].message).contains("X-Mugai-Outcome: blocked"));
}

#[test]
fn next_hop_down_or_failing_gives_the_sender_4xx() {
    // Nothing listens on the next hop's port.
    let daemon = start(free_port(), "");
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO upstream");
    let (code, text) = c.cmd("MAIL FROM:<a@example.net>");
    assert_eq!(code, 451, "{text}");
    assert!(text.contains("4.4.1"));
    assert_eq!(c.cmd("NOOP").0, 250, "the session goes on");

    let (hop_port, seen) = next_hop(Hop::FailData);
    let daemon = start(hop_port, "");
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO upstream");
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    let (code, text) = c.data(&fixture_mail("alternative.eml"));
    assert_eq!(code, 451, "the next hop's 451 is the sender's: {text}");
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

/// One message in a session of its own: EHLO, MAIL, RCPT, DATA, QUIT; the reply to the dot.
fn one_session(port: u16, message: &[u8]) -> (u16, String) {
    let mut c = Client::connect(port);
    c.cmd("EHLO upstream");
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    let reply = c.data(message);
    c.quit_and_wait();
    reply
}

#[test]
fn a_next_hop_named_by_host_name_is_looked_up() {
    // As a container names its MTA by service name; here the name every resolver knows.
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start_with_hop(&format!("localhost:{hop_port}"), "");
    let (code, text) = one_session(daemon.port, &fixture_mail("alternative.eml"));
    assert_eq!(code, 250, "{text}");
    assert_eq!(seen.lock().expect("lock").len(), 1, "relayed to the named next hop");
}

#[test]
fn next_hop_sessions_are_pooled_and_a_dead_one_is_replaced() {
    let mail = fixture_mail("alternative.eml");
    let connection_of = |seen: &Arc<Mutex<Vec<Received>>>, i: usize| seen.lock().expect("lock")[i].connection;

    // Two upstream sessions one after the other: the second reuses the first's next-hop session.
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "");
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    assert_eq!(connection_of(&seen, 0), connection_of(&seen, 1), "pooled");
    // A session that ended inside a transaction is reset before it is pooled.
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO upstream");
    assert_eq!(c.cmd("MAIL FROM:<half@example.net>").0, 250);
    c.quit_and_wait();
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    let last = seen.lock().expect("lock")[2].clone();
    assert!(
        !last.commands.iter().any(|c| c.contains("half@")),
        "{:?}",
        last.commands
    );

    // The next hop closed the idle session: the next message still goes, on a new one.
    let (hop_port, seen) = next_hop(Hop::AcceptAndHangUp);
    let daemon = start(hop_port, "");
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    let (code, text) = one_session(daemon.port, &mail);
    assert_eq!(code, 250, "{text}");
    assert_ne!(connection_of(&seen, 0), connection_of(&seen, 1));

    // Idle sessions are closed after relay.pool_idle_secs; pool_size = 0 turns pooling off.
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "pool_idle_secs = 1\n");
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    assert_ne!(
        connection_of(&seen, 0),
        connection_of(&seen, 1),
        "the idle one was closed"
    );
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "pool_size = 0\n");
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    assert_eq!(one_session(daemon.port, &mail).0, 250);
    assert_ne!(connection_of(&seen, 0), connection_of(&seen, 1), "not pooled");
}

#[test]
fn hostile_messages_do_not_take_the_daemon_down() {
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "[mail]\nmax_message_bytes = 2000000\n");
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO upstream");
    let bomb = common::zero_bomb(1 << 30);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bomb);
    let mut hostile: Vec<Vec<u8>> = vec![
        fixture_mail("malformed.eml"),
        std::fs::read(common::fixtures_dir().join("regress/mail-parser-debug-assert.eml")).expect("regress"),
        format!(
            "From: a@b\r\nSubject: bomb\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: application/zip\r\nContent-Disposition: attachment; filename=bomb.zip\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )
        .into_bytes(),
    ];
    hostile.push((0..=255u8).cycle().take(50_000).collect());
    for (i, message) in hostile.iter().enumerate() {
        assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250, "message {i}");
        assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
        let (code, text) = c.data(message);
        assert_eq!(code, 250, "message {i}: {text}");
    }
    // Over the size limit: refused with 552, the session stays usable.
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    let (code, _) = c.data(&vec![b'x'; 2_100_000]);
    assert_eq!(code, 552);
    assert_eq!(c.cmd("NOOP").0, 250);
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), hostile.len());
    let bomb_out = String::from_utf8_lossy(&seen[2].message);
    assert!(
        bomb_out.contains("X-Mugai-Outcome: blocked"),
        "{}",
        &bomb_out[..300.min(bomb_out.len())]
    );
}

#[test]
fn policy_can_refuse_blocked_messages_with_554() {
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "[smtp]\nreject_outcomes = [\"blocked\"]\n");
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO upstream");
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    let (code, text) = c.data(&fixture_mail("exe_as_pdf.eml"));
    assert_eq!(code, 554, "{text}");
    assert!(text.contains("5.7.1"));
    // A message that is only disarmed still goes through on the same session.
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    assert_eq!(c.data(&fixture_mail("japanese_html.eml")).0, 250);
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1, "the refused message must not reach the next hop");
}

#[test]
fn starttls_with_a_configured_certificate() {
    // A self-signed certificate made by openssl; Python's smtplib is the client.
    let certs = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mugai.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (the test command installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(
        hop_port,
        &format!(
            "[smtp]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    let mail = common::fixtures_dir().join("mail/japanese_html.eml");
    let script = format!(
        "import smtplib, ssl, sys\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=60)\n\
         s.ehlo('upstream')\n\
         assert s.has_extn('starttls'), s.esmtp_features\n\
         s.starttls(context=ssl._create_unverified_context())\n\
         assert isinstance(s.sock, ssl.SSLSocket)\n\
         s.ehlo('upstream')\n\
         assert not s.has_extn('starttls')\n\
         import re\n\
         msg = re.sub(rb'(?<!\\r)\\n', b'\\r\\n', open(sys.argv[1], 'rb').read())\n\
         refused = s.sendmail('a@example.net', ['b@example.lg.jp'], msg)\n\
         assert not refused, refused\n\
         print(s.sock.version())\n\
         s.quit()\n",
        port = daemon.port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .arg(&mail)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("TLSv1."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    assert!(String::from_utf8_lossy(&seen[0].message).contains("\r\nX-Mugai-Outcome: disarmed\r\n"));
}

#[test]
fn sighup_reloads_the_configuration_and_refuses_a_broken_one() {
    let (hop_port, _) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "[mail]\nmax_message_bytes = 2000000\n");
    let size_offered = |port| {
        let mut c = Client::connect(port);
        let (_, ehlo) = c.cmd("EHLO upstream");
        ehlo.lines()
            .find_map(|l| l.strip_prefix("250-SIZE ").map(|s| s.trim().to_string()))
            .expect("SIZE")
    };
    assert_eq!(size_offered(daemon.port), "2000000");
    let config = daemon._dir.path().join("mugai.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let hup = || {
        let pid = daemon.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success());
        std::thread::sleep(Duration::from_millis(500));
    };
    std::fs::write(&config, text.replace("2000000", "500000")).expect("rewrite");
    hup();
    assert_eq!(
        size_offered(daemon.port),
        "500000",
        "new sessions see the reloaded limit"
    );
    std::fs::write(
        &config,
        text.replace("max_message_bytes = 2000000", "max_message_bytes = \"lots\""),
    )
    .expect("break");
    hup();
    assert_eq!(
        size_offered(daemon.port),
        "500000",
        "a broken file is refused, the running configuration stays"
    );
}

#[test]
fn sigterm_tells_idle_sessions_421_and_exits() {
    let (hop_port, _) = next_hop(Hop::Accept);
    let mut daemon = start(hop_port, "");
    let mut c = Client::connect(daemon.port);
    assert_eq!(c.cmd("EHLO upstream").0, 250);
    let pid = daemon.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let (code, _) = c.reply();
    assert_eq!(code, 421);
    let started = Instant::now();
    loop {
        if let Some(status) = daemon.child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "mugai did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
    assert!(
        TcpStream::connect(("127.0.0.1", daemon.port)).is_err(),
        "still listening"
    );
}

/// The daemon's CPU time so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn a_message_past_its_deadline_gets_451_and_its_work_stops() {
    // 120 pictures that each take a while to decode and encode again: far more than the
    // one-second deadline, so the work is still running when the deadline passes.
    let mut png = Vec::new();
    let img = image::RgbImage::from_fn(1000, 1000, |x, y| {
        image::Rgb([(x / 4 % 251) as u8, (y / 4 % 241) as u8, 7])
    });
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    // A text chunk after the header: the picture is then encoded again (a plain one is only
    // decoded and kept, too fast for this test).
    let text = b"tEXtComment\0made slow on purpose";
    let mut crc = flate2::Crc::new();
    crc.update(text);
    let mut chunk = ((text.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(text);
    chunk.extend_from_slice(&crc.sum().to_be_bytes());
    png.splice(33..33, chunk);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    assert!(png.len() < 200_000, "{}", png.len());
    let mut mail = b"From: a@example.net\r\nTo: b@example.lg.jp\r\nSubject: slow\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n".to_vec();
    for i in 0..120 {
        mail.extend_from_slice(format!("--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"p{i}.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").as_bytes());
        for line in b64.as_bytes().chunks(76) {
            mail.extend_from_slice(line);
            mail.extend_from_slice(b"\r\n");
        }
    }
    mail.extend_from_slice(b"--b--\r\n");

    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(
        hop_port,
        "[engine]\nworkers = 1\nmessage_timeout_secs = 1\n[mail]\nmax_message_bytes = 100000000\n",
    );
    let mut c = Client::connect(daemon.port);
    c.cmd("EHLO test");
    assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
    let sent = Instant::now();
    let (code, text) = c.data(&mail);
    let answered = Instant::now();
    assert_eq!(code, 451, "{text}");
    assert!(
        answered - sent < Duration::from_secs(5),
        "451 came after {:?}",
        answered - sent
    );

    // The worker is free again within one deadline check: the job is gone from the gauge
    // (it counts the blocking work itself) almost at once…
    let mut freed = None;
    while answered.elapsed() < Duration::from_secs(10) {
        if gauge(daemon.http_port, "mugai_in_flight") == 0 {
            freed = Some(answered.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let freed = freed.expect("the stopped job never ended");
    eprintln!("451 after {:?}; worker free {freed:?} after the 451", answered - sent);
    assert!(freed < Duration::from_millis(1500), "worker free only after {freed:?}");
    // …and the daemon burns no CPU for it afterwards (without the stop it would go on
    // decoding pictures at one core's worth).
    let pid = daemon.child.id();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent < 0.3,
        "the daemon kept working after the 451: {spent:.2} s of CPU in 1 s"
    );
    assert!(seen.lock().expect("seen").is_empty(), "nothing was relayed");
}

/// A raw session: `script` is written as it is (no dot-stuffing, no line-end repair) and
/// every reply line is read until the server closes the connection.
fn raw_session(port: u16, script: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.write_all(script).expect("write");
    let mut replies = String::new();
    let _ = s.read_to_string(&mut replies);
    replies
}

/// The smuggling attempt: a message whose data holds `\n.\n` followed by a second
/// transaction, pipelined.
const SMUGGLE: &[u8] = b"EHLO smuggler\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.lg.jp>\r\nDATA\r\n\
Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<b@example.lg.jp>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT\r\n";

/// The code of each reply's last line.
fn final_codes(replies: &str) -> Vec<&str> {
    replies
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect()
}

/// The transactions the next hop got a message in.
fn messages_relayed(seen: &Mutex<Vec<Received>>) -> Vec<Received> {
    seen.lock()
        .expect("seen")
        .iter()
        .filter(|r| !r.message.is_empty())
        .cloned()
        .collect()
}

#[test]
fn a_message_smuggled_behind_a_bare_lf_dot_is_never_relayed() {
    // Default (`smtp.bare_newline = "reject"`): the message with a bare LF is refused whole.
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "");
    let replies = raw_session(daemon.port, SMUGGLE);
    let codes = final_codes(&replies);
    assert_eq!(codes, ["220", "250", "250", "250", "354", "550", "221"], "{replies}");
    let relayed = messages_relayed(&seen);
    assert!(relayed.is_empty(), "{relayed:?}");

    // `normalize`: one message, with the would-be second transaction inside it as text.
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(hop_port, "[smtp]\nbare_newline = \"normalize\"\n");
    let replies = raw_session(daemon.port, SMUGGLE);
    let codes = final_codes(&replies);
    assert_eq!(codes, ["220", "250", "250", "250", "354", "250", "221"], "{replies}");
    let relayed = messages_relayed(&seen);
    assert_eq!(relayed.len(), 1, "{relayed:?}");
    let message = String::from_utf8_lossy(&relayed[0].message).to_string();
    let body: String = message
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.chars().filter(|c| !c.is_whitespace()).collect())
        .unwrap_or_default();
    use base64::Engine as _;
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64 body"),
    )
    .expect("utf-8");
    assert!(
        text.contains("MAIL FROM:<evil@example.net>") && text.contains("second"),
        "{text}"
    );
    assert!(
        !relayed[0].commands.iter().any(|c| c.contains("evil")),
        "{:?}",
        relayed[0].commands
    );
}

/// The daemon's resident memory now, from /proc (KiB → bytes).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// A gauge from the daemon's /metrics.
fn gauge(http_port: u16, name: &str) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", http_port)).expect("connect http");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

#[test]
fn messages_being_received_past_the_memory_budget_wait_on_disk() {
    const MIB: u64 = 1 << 20;
    let (hop_port, seen) = next_hop(Hop::Accept);
    let daemon = start(
        hop_port,
        "[smtp]\nmessage_memory_bytes = 16777216\n[mail]\nmax_message_bytes = 40000000\n",
    );
    let pid = daemon.child.id();
    let before = rss_bytes(pid);
    // Eight messages of 12 MB each arrive and stall before their final dot: 96 MB if held.
    let line = format!("{}\r\n", "0123456789".repeat(7));
    let chunk = line.repeat(4096);
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(daemon.port)).collect();
    for c in &mut clients {
        c.cmd("EHLO test");
        assert_eq!(c.cmd("MAIL FROM:<a@example.net>").0, 250);
        assert_eq!(c.cmd("RCPT TO:<b@example.lg.jp>").0, 250);
        assert_eq!(c.cmd("DATA").0, 354);
        c.writer
            .write_all(b"From: a@example.net\r\nTo: b@example.lg.jp\r\nSubject: big\r\n\r\n")
            .expect("write");
    }
    let mut sent = 0;
    while sent < 12 * MIB as usize {
        for c in &mut clients {
            c.writer.write_all(chunk.as_bytes()).expect("write");
        }
        sent += chunk.len();
    }
    // Let the daemon read what was sent.
    std::thread::sleep(Duration::from_millis(1500));
    let held = gauge(daemon.http_port, "mugai_smtp_message_memory_bytes");
    let grown = rss_bytes(pid).saturating_sub(before);
    eprintln!(
        "8 × 12 MB arriving: {} MiB held in memory, RSS grew {} MiB",
        held / MIB,
        grown / MIB
    );
    assert!(held <= 16 * MIB + 2 * MIB, "held {held}");
    // Held: the 16 MiB budget; the rest is glibc keeping freed buffers (up to 32 MiB, see
    // alloc.rs). Held in memory instead, the same messages grow the RSS by about 150 MiB.
    assert!(grown < 80 * MIB, "RSS grew {} MiB", grown / MIB);

    // One of them finishes: it is read back, disarmed and relayed whole.
    let c = &mut clients[0];
    c.writer.write_all(b"last line\r\n.\r\n").expect("write");
    let (code, text) = c.reply();
    assert_eq!(code, 250, "{text}");
    let relayed = seen
        .lock()
        .expect("seen")
        .iter()
        .map(|r| r.message.len())
        .max()
        .unwrap_or(0);
    assert!(relayed as u64 > 12 * MIB, "relayed {relayed} bytes");
    drop(clients);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gauge(daemon.http_port, "mugai_smtp_message_memory_bytes"), 0);
}
