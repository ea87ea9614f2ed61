//! Interop with a real Postfix (Debian's, installed by the test command): a private Postfix
//! instance on loopback ports, configured with the snippets shipped in `deploy/postfix/`,
//! hands mail to `mugai serve` as an after-queue content filter; mugai relays the rebuilt
//! message to Postfix's re-injection smtpd, and Postfix delivers it to `smtp-sink`, which
//! writes each message to a file. swaks and smtp-source (Postfix's own load generator) send.
//!
//! Checked: every fixture mail arrives disarmed, with the notice and the gateway headers and
//! its own header fields intact, and none is missing; with mugai down, Postfix keeps the mail
//! queued and delivers it once mugai is back; mugai killed with SIGKILL in the middle of a
//! 1,000-message run loses nothing (duplicates, if any, are counted and printed). And two
//! instances on one shared store (PostgreSQL and an S3 server, private to the test) behind
//! one Postfix: 2,000 distinct messages, each public listener filtering first through one
//! instance and falling back to the other (Postfix's list of next hops), one instance
//! SIGKILLed in the middle: every message delivered at least once, duplicates counted and
//! reported, nothing acknowledged that was not delivered (the queue empties only on mugai's
//! 250, which comes only after the re-injection smtpd's).
//!
//! Postfix must start as root. The test command (tests/run.sh, as root) sets
//! MUGAI_REQUIRE_POSTFIX=1, so there it fails rather than skips when it cannot run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_listening};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ports: the public smtpd, mugai, the re-injection smtpd, the sink; with two instances,
/// the second public smtpd and the second mugai.
struct Ports {
    public: u16,
    mugai: u16,
    reinject: u16,
    sink: u16,
    public_b: u16,
    mugai_b: u16,
}

struct Rig {
    dir: tempfile::TempDir,
    ports: Ports,
    mugai: Option<Child>,
    mugai_b: Option<Child>,
    sink: Child,
}

impl Rig {
    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn sink_dir(&self) -> PathBuf {
        self.dir.path().join("sink")
    }

    fn start_mugai(&mut self) {
        let config = self.dir.path().join("mugai.toml");
        self.mugai = Some(common::spawn_serve(&config, self.ports.mugai, Duration::from_secs(30)));
    }

    fn start_mugai_b(&mut self) {
        let config = self.dir.path().join("mugai-b.toml");
        self.mugai_b = Some(common::spawn_serve(
            &config,
            self.ports.mugai_b,
            Duration::from_secs(30),
        ));
    }

    fn stop_mugai(&mut self, signal: &str) {
        if let Some(mut child) = self.mugai.take() {
            run(Command::new("kill").args([signal, &child.id().to_string()]));
            let _ = child.wait();
        }
    }

    /// Messages the sink has written so far: (file, message bytes without the sink's
    /// envelope lines).
    fn delivered(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.sink_dir()) else {
            return out;
        };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path()) else { continue };
            // smtp-sink writes X-Client-*/X-Helo-Args/X-Mail-Args/X-Rcpt-Args lines first.
            let mut rest = &bytes[..];
            while rest.starts_with(b"X-Client-")
                || rest.starts_with(b"X-Helo-Args")
                || rest.starts_with(b"X-Mail-Args")
                || rest.starts_with(b"X-Rcpt-Args")
            {
                let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
                rest = &rest[end..];
            }
            out.push((e.path(), rest.to_vec()));
        }
        out
    }

    /// Wait until the sink holds at least `n` messages whose transaction is complete.
    fn wait_delivered(&self, n: usize, limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let count = self.delivered().iter().filter(|(_, m)| m.ends_with(b"\n")).count();
            if count >= n || started.elapsed() > limit {
                return count;
            }
            // Postfix retries deferred mail on its own (1 s backoff here); a flush hurries it.
            let _ = Command::new("postqueue").arg("-c").arg(self.etc()).arg("-f").output();
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn queued(&self) -> usize {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(self.etc())
            .arg("-j")
            .output()
            .expect("postqueue");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// The queue's size once it holds `n` messages, or what it holds when `limit` has passed.
    fn wait_queued(&self, n: usize, limit: Duration) -> usize {
        let start = Instant::now();
        loop {
            let queued = self.queued();
            if queued >= n || start.elapsed() > limit {
                return queued;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn swaks(&self, mail: &Path) {
        let out = Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{}", self.ports.public)])
            .args(["--from", "yamada@example.net", "--to", "tanaka@example.lg.jp"])
            .arg("--data")
            .arg(format!("@{}", mail.display()))
            .args(["--silent", "2"])
            .output()
            .expect("swaks");
        assert!(
            out.status.success(),
            "swaks {}: {}{}\n{}",
            mail.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            maillog_tail(self)
        );
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for mut child in [self.mugai.take(), self.mugai_b.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.sink.kill();
        let _ = self.sink.wait();
        let _ = Command::new("postfix").arg("-c").arg(self.etc()).arg("stop").output();
    }
}

/// A Postfix instance in `dir` using deploy/postfix's main.cf and master.cf lines, with the
/// ports of this run; mugai configured to match; smtp-sink as the final destination.
fn rig() -> Rig {
    rig_with(None)
}

/// As [`rig`]; with `shared` (the `[store]` section of a shared store), two mugai instances
/// on it: the main.cf filter (and the first public smtpd) tries instance A and then B, a
/// second public smtpd B and then A. Only A is started.
fn rig_with(shared: Option<&str>) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ports = Ports {
        public: free_port(),
        mugai: free_port(),
        reinject: free_port(),
        sink: free_port(),
        public_b: free_port(),
        mugai_b: free_port(),
    };
    for sub in ["etc", "spool", "data", "sink", "mugai-data"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    run(Command::new("chown").arg("postfix").arg(d.join("data")));
    run(Command::new("chmod").arg("1777").arg(d.join("sink")));

    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/postfix");
    // One instance, or a list of two that Postfix's smtp client tries in order.
    let filter = |first: u16, second: u16| match shared {
        None => format!("127.0.0.1]:{first}"),
        Some(_) => format!("127.0.0.1]:{first}, [127.0.0.1]:{second}"),
    };
    let ported = |text: String| {
        text.replace("127.0.0.1]:10025", &filter(ports.mugai, ports.mugai_b))
            .replace("127.0.0.1:10026", &format!("127.0.0.1:{}", ports.reinject))
    };
    let main_cf = format!(
        "compatibility_level = 3.6\nqueue_directory = {spool}\ndata_directory = {data}\nmail_owner = postfix\n\
         setgid_group = postdrop\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = gw.example.lg.jp\n\
         mydestination =\nalias_maps =\nrelayhost = [127.0.0.1]:{sink}\nmynetworks = 127.0.0.0/8\n\
         smtpd_relay_restrictions = permit_mynetworks, reject\nmaillog_file_prefixes = {root}\nmaillog_file = {root}/maillog\n\
         queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nsmtputf8_enable = yes\n\
         default_process_limit = 50\n\n# deploy/postfix/main.cf:\n{deploy}",
        spool = d.join("spool").display(),
        data = d.join("data").display(),
        sink = ports.sink,
        root = d.display(),
        deploy = ported(std::fs::read_to_string(deploy.join("main.cf")).expect("deploy main.cf")),
    );
    std::fs::write(d.join("etc/main.cf"), main_cf).expect("main.cf");
    // Debian's master.cf without its port-25 listener and without chroot (this instance's
    // queue has no chroot jail), then a public listener and deploy/postfix/master.cf.
    let stock = std::fs::read_to_string("/etc/postfix/master.cf").expect("Debian's /etc/postfix/master.cf");
    let mut master = String::new();
    for line in stock.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("smtp ") && fields.get(1) == Some(&"inet") {
            continue;
        }
        if !line.starts_with(['#', ' ', '\t']) && fields.len() >= 8 && fields[4] == "y" {
            let mut f = fields.clone();
            f[4] = "n";
            master.push_str(&f.join("  "));
        } else {
            master.push_str(line);
        }
        master.push('\n');
    }
    master.push_str(&format!("127.0.0.1:{} inet n - n - - smtpd\n", ports.public));
    if shared.is_some() {
        master.push_str(&format!(
            "127.0.0.1:{} inet n - n - - smtpd\n  -o content_filter=mugai-filter:[{}\n",
            ports.public_b,
            filter(ports.mugai_b, ports.mugai).replace(' ', "")
        ));
    }
    master.push_str(&ported(
        std::fs::read_to_string(deploy.join("master.cf")).expect("deploy master.cf"),
    ));
    std::fs::write(d.join("etc/master.cf"), master).expect("master.cf");

    for (name, port) in [("mugai", ports.mugai), ("mugai-b", ports.mugai_b)] {
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                "[serve]\nsmtp_listen = \"127.0.0.1:{port}\"\nnext_hop = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n\
                 [audit]\nlog = \"{}\"\n{}",
                ports.reinject,
                common::free_port(),
                d.join(format!("{name}-data")).display(),
                d.join(format!("{name}.audit.jsonl")).display(),
                shared.unwrap_or_default(),
            ),
        )
        .expect("mugai.toml");
    }

    let sink = Command::new("smtp-sink")
        .args(["-u", "nobody", "-d"])
        .arg(format!("{}/%H%M%S.", d.join("sink").display()))
        .arg(format!("127.0.0.1:{}", ports.sink))
        .arg("256")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink");
    let etc = d.join("etc");
    run(Command::new("postfix").arg("-c").arg(&etc).arg("check"));
    run(Command::new("postfix").arg("-c").arg(&etc).arg("start"));
    let mut rig = Rig {
        dir,
        ports,
        mugai: None,
        mugai_b: None,
        sink,
    };
    wait_listening(rig.ports.sink, "smtp-sink", Duration::from_secs(30));
    wait_listening(rig.ports.public, "postfix", Duration::from_secs(30));
    rig.start_mugai();
    rig
}

fn can_run() -> bool {
    let root = common::running_as_root();
    let postfix = Path::new("/usr/sbin/postfix").exists() && Path::new("/usr/sbin/smtp-sink").exists();
    if root && postfix {
        return true;
    }
    assert!(
        std::env::var_os("MUGAI_REQUIRE_POSTFIX").is_none(),
        "the Postfix interop test needs root and postfix/swaks installed (tests/run.sh does both)"
    );
    eprintln!("skipped: needs root and Postfix (run tests/run.sh)");
    false
}

/// The first line of a header field's value, without its line ending (smtp-sink writes LF
/// line endings, the fixtures have CRLF).
fn header_value<'a>(message: &'a [u8], name: &str) -> Option<&'a [u8]> {
    message
        .split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .find(|l| {
            l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && l[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].strip_suffix(b"\r").unwrap_or(&l[name.len() + 1..]))
}

#[test]
fn postfix_content_filter_delivers_everything_disarmed_and_loses_nothing() {
    if !can_run() {
        return;
    }
    let mut rig = rig();

    // 1. Every fixture mail through Postfix → mugai → Postfix → sink.
    let fixtures_dir = common::fixtures_dir().join("mail");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&fixtures_dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    fixtures.sort();
    for f in &fixtures {
        rig.swaks(f);
    }
    let n = fixtures.len();
    let got = rig.wait_delivered(n, Duration::from_secs(90));
    assert_eq!(got, n, "delivered {got} of {n}; maillog:\n{}", maillog_tail(&rig));
    let delivered = rig.delivered();
    for f in &fixtures {
        let original = std::fs::read(f).expect("fixture");
        let id = header_value(&original, "Message-ID").expect("fixture Message-ID");
        let matching: Vec<&Vec<u8>> = delivered
            .iter()
            .map(|(_, m)| m)
            .filter(|m| header_value(m, "Message-ID") == Some(id))
            .collect();
        assert_eq!(matching.len(), 1, "{}: delivered {} times", f.display(), matching.len());
        let out = matching[0];
        let name = f.file_name().expect("name").to_string_lossy();
        assert!(
            header_value(out, "X-Mugai-Outcome").is_some(),
            "{name}: no X-Mugai-Outcome"
        );
        assert!(header_value(out, "X-Mugai-Id").is_some(), "{name}: no X-Mugai-Id");
        assert_eq!(
            header_value(out, "Subject"),
            header_value(&original, "Subject"),
            "{name}: Subject changed"
        );
        assert_eq!(
            header_value(out, "DKIM-Signature"),
            header_value(&original, "DKIM-Signature"),
            "{name}"
        );
        let text = String::from_utf8_lossy(out);
        assert!(!text.contains("text/html"), "{name}: HTML delivered");
        assert!(
            text.contains("Content-Type: text/plain; charset=UTF-8"),
            "{name}: no rebuilt text part"
        );
        // The notice is in the (base64) text part: decode it with Python's email package.
        let path = rig.dir.path().join(format!("{name}.delivered"));
        std::fs::write(&path, out).expect("write");
        let judge = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judge_mail.py"))
            .arg(&path)
            .output()
            .expect("python3");
        let seen: serde_json::Value = serde_json::from_slice(&judge.stdout).expect("judge JSON");
        assert!(
            seen["text"].as_str().unwrap_or("").contains("【無害化通知】"),
            "{name}: no notice"
        );
    }

    // 2. mugai down: Postfix keeps the mail queued; once mugai is back, it is delivered.
    rig.stop_mugai("-TERM");
    let before = rig.delivered().len();
    for f in fixtures.iter().take(3) {
        rig.swaks(f);
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.delivered().len(), before, "delivered while the filter was down");
    // postqueue can miss a message while Postfix moves it between queue directories (the
    // first CI run of 2026-11-30 counted fewer than three once): look again for a while.
    let queued = rig.wait_queued(3, Duration::from_secs(30));
    assert!(queued >= 3, "Postfix does not hold the mail: {queued} queued");
    assert_eq!(rig.delivered().len(), before, "delivered while the filter was down");
    rig.start_mugai();
    let got = rig.wait_delivered(before + 3, Duration::from_secs(60));
    assert_eq!(got, before + 3, "held mail not delivered after mugai came back");

    // 3. SIGKILL in the middle of 1,000 messages: after a restart, every one arrives.
    let before = rig.delivered().len();
    let mut source = smtp_source(rig.ports.public, "load@example.net");
    let started = Instant::now();
    while rig.delivered().len() < before + 150 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress before the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rig.stop_mugai("-KILL");
    let at_kill = rig.delivered().len() - before;
    std::thread::sleep(Duration::from_millis(500));
    rig.start_mugai();
    assert!(source.wait().expect("smtp-source").success(), "smtp-source failed");
    // Each message is told apart by the queue id the public smtpd gave it (its Received
    // line, the lowest one Postfix wrote); a duplicate is the same id delivered twice.
    let started = Instant::now();
    let per_id = loop {
        let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
        for (_, m) in rig.delivered() {
            if String::from_utf8_lossy(&m).contains("load@example.net") {
                if let Some(id) = first_queue_id(&m) {
                    *per_id.entry(id).or_default() += 1;
                }
            }
        }
        if per_id.len() >= 1000 || started.elapsed() > Duration::from_secs(300) {
            break per_id;
        }
        let _ = Command::new("postqueue").arg("-c").arg(rig.etc()).arg("-f").output();
        std::thread::sleep(Duration::from_millis(500));
    };
    let duplicates: usize = per_id.values().map(|c| c - 1).sum();
    eprintln!(
        "SIGKILL run: killed after {at_kill} of 1000 delivered; after the restart {} distinct messages delivered, \
         {duplicates} duplicates (relayed by mugai just before the kill, before it could answer Postfix)",
        per_id.len()
    );
    assert_eq!(per_id.len(), 1000, "messages lost after the SIGKILL");
}

/// The queue id in the last `Received: ... (Postfix) with ... id QUEUEID` field: the one the
/// first Postfix smtpd wrote when the message arrived.
fn first_queue_id(message: &[u8]) -> Option<String> {
    let head_end = message
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| message.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(message.len());
    let head = String::from_utf8_lossy(&message[..head_end])
        .replace("\r\n", "\n")
        .replace("\n\t", " ")
        .replace("\n ", " ");
    head.lines()
        .rfind(|l| l.starts_with("Received:") && l.contains("(Postfix)"))
        .and_then(|l| l.split(" id ").nth(1))
        .and_then(|rest| rest.split([' ', ';']).next())
        .map(str::to_string)
}

fn maillog_tail(rig: &Rig) -> String {
    let log = std::fs::read_to_string(rig.dir.path().join("maillog")).unwrap_or_default();
    log.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Postfix's load generator: 1,000 messages of 2 KB from `sender` over 8 sessions to `port`.
fn smtp_source(port: u16, sender: &str) -> Child {
    Command::new("smtp-source")
        .args([
            "-s",
            "8",
            "-m",
            "1000",
            "-l",
            "2000",
            "-f",
            sender,
            "-t",
            "tanaka@example.lg.jp",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-source")
}

/// Delivered messages from `sender`, by the queue id the public smtpd gave each: how many
/// times each arrived.
fn delivered_by_id(rig: &Rig, sender: &str) -> BTreeMap<String, usize> {
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for (_, m) in rig.delivered() {
        if m.ends_with(b"\n") && String::from_utf8_lossy(&m).contains(sender) {
            if let Some(id) = first_queue_id(&m) {
                *per_id.entry(id).or_default() += 1;
            }
        }
    }
    per_id
}

/// Messages an instance relayed, by its audit trail.
fn relayed_by(audit: &Path) -> usize {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"event\":\"mail.delivered\""))
        .count()
}

#[test]
fn two_instances_on_a_shared_store_lose_nothing_when_one_is_killed() {
    if !can_run() {
        return;
    }
    let (Some(pg), Some(moto)) = (common::servers::Postgres::start(), common::servers::Moto::start()) else {
        return;
    };
    let url = pg.database("load");
    let s3 = moto.bucket("load");
    let shared = format!(
        "[store]\nbackend = \"shared\"\nlink_key = \"{}\"\n[store.postgres]\nurl = \"{url}\"\nconnections = 4\n\
         [store.s3]\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"ap-northeast-1\"\naccess_key_id = \"test-key\"\n\
         secret_access_key = \"test-secret\"\nallow_http = true\n",
        "5e".repeat(32),
        s3.bucket,
        s3.endpoint.as_deref().unwrap_or_default(),
    );
    let mut rig = rig_with(Some(&shared));
    rig.start_mugai_b();
    // 2,000 messages, 1,000 into each public listener: A first for one, B first for the
    // other. Each is distinct (Postfix's Received line names its queue id), so each is a
    // new blob in the bucket and new rows in the database.
    let started = Instant::now();
    let mut sources = [
        smtp_source(rig.ports.public, "load@example.net"),
        smtp_source(rig.ports.public_b, "load@example.net"),
    ];
    while delivered_by_id(&rig, "load@example.net").len() < 600 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no progress before the kill:\n{}",
            maillog_tail(&rig)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A dies in the middle and stays down: B carries the rest, the mail A held included.
    let (a_before_kill, b_before_kill) = (
        relayed_by(&rig.dir.path().join("mugai.audit.jsonl")),
        relayed_by(&rig.dir.path().join("mugai-b.audit.jsonl")),
    );
    rig.stop_mugai("-KILL");
    let at_kill = delivered_by_id(&rig, "load@example.net").values().sum::<usize>();
    for s in &mut sources {
        assert!(s.wait().expect("smtp-source").success(), "smtp-source failed");
    }
    let per_id = loop {
        let per_id = delivered_by_id(&rig, "load@example.net");
        if (per_id.len() >= 2000 && rig.queued() == 0) || started.elapsed() > Duration::from_secs(600) {
            break per_id;
        }
        let _ = Command::new("postqueue").arg("-c").arg(rig.etc()).arg("-f").output();
        std::thread::sleep(Duration::from_millis(500));
    };
    let duplicates: usize = per_id.values().map(|c| c - 1).sum();
    let queued = rig.queued();
    eprintln!(
        "two instances, one SIGKILLed: {} distinct of 2000 delivered, {duplicates} duplicates, {queued} still queued; \
         {at_kill} delivered at the kill (A had relayed {a_before_kill}, B {b_before_kill}); {:.1} s",
        per_id.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        a_before_kill > 0 && b_before_kill > 0,
        "both instances carried mail before the kill"
    );
    assert_eq!(per_id.len(), 2000, "messages lost:\n{}", maillog_tail(&rig));
    // Postfix let go of a message only on mugai's 250 (after the next hop's): an empty queue
    // with every message delivered means nothing was acknowledged undelivered.
    assert_eq!(queued, 0, "Postfix still holds mail");
    // A duplicate is a message A relayed and was killed before answering: at most the
    // sessions it had open (16 from the two sources, 4 of Postfix's filter each).
    assert!(duplicates <= 16, "{duplicates} duplicates");
}
