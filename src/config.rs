//! Configuration: the raw TOML shape (every key documented, every key with a finite default,
//! unknown keys rejected) and its validation into a [`Config`] the rest of the daemon trusts.
//!
//! Two steps on purpose: serde only checks shapes and types, `validate()` checks meaning
//! (ranges, addresses, combinations) and reports *every* problem at once with its key path, so
//! an operator fixes a file in one round instead of one error per restart.
//!
//! The embedded defaults are the contents of `config/mugai.toml`; a test keeps the two equal.
//!
//! May use: `policy`, `report`, leaves (`secret`, `ids`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::{Admission, CsvInjection, MissingExtension, Policy};
use crate::secret::Secret;

/// The documented default configuration, shipped inside the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/mugai.toml");

/// A configuration problem, with the dotted key path it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in one configuration file.
#[derive(Debug, thiserror::Error)]
#[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

// ---------------------------------------------------------------------------------------------
// Raw shape. Field docs are the reference; config/mugai.toml repeats them for operators.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    serve: RawServe,
    limits: RawLimits,
    pdf: RawPdf,
    office: RawOffice,
    image: RawImage,
    policy: RawPolicy,
    mail: RawMail,
    store: RawStore,
    audit: RawAudit,
    smtp: RawSmtp,
    relay: RawRelay,
    engine: RawEngine,
    http: RawHttp,
    scan: RawScan,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawScan {
    /// clamd's socket: a Unix socket path or `host:port`; empty: no scanning.
    clamd: String,
    /// Seconds for one scan (connect, send, verdict); past it the original is not released.
    timeout_secs: u64,
}

impl Default for RawScan {
    fn default() -> Self {
        Self {
            clamd: String::new(),
            timeout_secs: 60,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHttp {
    /// API keys: each `{ name, sha256, roles }`, the key itself never (see `mugai apikey`).
    api_keys: Vec<RawApiKey>,
    /// Requests that may wait for an engine worker; more are answered 503 with Retry-After.
    /// Uploads in flight (received, waiting or running) are at most `engine.workers` + this.
    max_queued: u64,
    /// Largest request body, in bytes (0: `limits.max_input_bytes`).
    max_body_bytes: u64,
    /// Request bodies held in memory at once, all requests together; a body that does not
    /// fit waits in `<data_dir>/spool/` instead. Read at start (a reload does not resize it).
    body_memory_bytes: u64,
    /// When a recipient may fetch an original: `after_approval` (default), `after_scan`, or
    /// `direct`.
    originals: String,
    /// Connections open at once; a further one waits in the kernel's backlog.
    max_connections: u64,
    /// Seconds a client has to send a request's headers (then the connection is closed).
    header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body (then 408).
    body_timeout_secs: u64,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            max_queued: 32,
            max_body_bytes: 0,
            body_memory_bytes: 256 * 1024 * 1024,
            originals: "after_approval".into(),
            max_connections: 1024,
            header_timeout_secs: 30,
            body_timeout_secs: 300,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    /// Who holds it (for logs; never the key).
    name: String,
    /// SHA-256 of the key, 64 hex digits.
    sha256: String,
    /// Any of `submit`, `approve`, `admin`.
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSmtp {
    /// Name in the greeting and the EHLO reply.
    hostname: String,
    /// Sessions at once; a permit is taken before a connection is accepted.
    max_sessions: u64,
    /// Longest command line in bytes (RFC 5321 asks for at least 512).
    max_line_bytes: u64,
    /// Most recipients of one message.
    max_recipients: u64,
    /// Most commands in one session.
    max_commands: u64,
    /// Seconds the client may stay silent.
    idle_timeout_secs: u64,
    /// Seconds one session may last.
    session_timeout_secs: u64,
    /// Seconds in-flight messages get to finish after SIGTERM.
    shutdown_grace_secs: u64,
    /// Message outcomes refused with 554 instead of delivered (`blocked`, `held`, `error`).
    reject_outcomes: Vec<String>,
    /// PEM certificate chain for STARTTLS; empty: STARTTLS not offered.
    tls_cert: PathBuf,
    /// PEM private key for STARTTLS.
    tls_key: PathBuf,
    /// A line ended by a bare LF: `reject` (default) or `normalize` (taken as CRLF; the
    /// end of data is still only CRLF.CRLF).
    bare_newline: String,
    /// Bytes of messages being received held in memory, all sessions together; past it a
    /// message goes on arriving into a spool file.
    message_memory_bytes: u64,
}

impl Default for RawSmtp {
    fn default() -> Self {
        Self {
            hostname: "mugai".into(),
            max_sessions: 1000,
            max_line_bytes: 2048,
            max_recipients: 1000,
            max_commands: 10_000,
            idle_timeout_secs: 300,
            session_timeout_secs: 3600,
            shutdown_grace_secs: 60,
            reject_outcomes: Vec::new(),
            bare_newline: "reject".into(),
            message_memory_bytes: 256 * 1024 * 1024,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawRelay {
    /// Name mugai gives itself in EHLO to the next hop.
    helo_name: String,
    /// Seconds to connect and read the next hop's greeting.
    connect_timeout_secs: u64,
    /// Seconds to wait for the next hop's reply to a command.
    command_timeout_secs: u64,
    /// Seconds to send the message and wait for the reply to its final dot.
    data_timeout_secs: u64,
    /// Idle next-hop sessions kept for the next message (0: a new session each time).
    pool_size: u64,
    /// Seconds an idle next-hop session is kept.
    pool_idle_secs: u64,
}

impl Default for RawRelay {
    fn default() -> Self {
        Self {
            helo_name: "mugai".into(),
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            pool_size: 16,
            pool_idle_secs: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawEngine {
    /// Messages disarmed at once (CPU-bound work, on the blocking pool).
    workers: u64,
    /// Seconds one message may take through the whole pipeline.
    message_timeout_secs: u64,
}

impl Default for RawEngine {
    fn default() -> Self {
        Self {
            workers: 2,
            message_timeout_secs: 240,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawMail {
    /// Attachments: `reattach` (sanitized files in the mail), `url` (download links in the
    /// notice instead), `both`.
    attachments: String,
    /// Web addresses in the text: `defang` (`hxxps://example[.]jp`) or `keep`.
    urls: String,
    /// Charset of the rebuilt text body: `utf-8` or `iso-2022-jp`.
    body_charset: String,
    /// TNEF (`winmail.dat`): `block` or `hold`.
    tnef: String,
    /// S/MIME and PGP encrypted parts: `hold` or `block`.
    encrypted: String,
    /// A mail whose MIME structure is broken: `deliver` (the text, attachments held) or
    /// `notice_only` (only the notice; the body is held with the original).
    malformed: String,
    /// Base of the links in the notice (the recipient page, `GET /o/{token}`).
    link_base_url: String,
    /// Most MIME parts in one message (all levels).
    max_parts: u64,
    /// Deepest MIME nesting (multiparts and forwarded messages).
    max_nesting: u32,
    /// Largest message accepted, in bytes, as it arrives (encoded).
    max_message_bytes: u64,
    /// The notice at the top of the body.
    notice_template: String,
}

impl Default for RawMail {
    fn default() -> Self {
        Self {
            attachments: "reattach".into(),
            urls: "defang".into(),
            body_charset: "utf-8".into(),
            tnef: "block".into(),
            encrypted: "hold".into(),
            malformed: "deliver".into(),
            link_base_url: "http://127.0.0.1:8080".into(),
            max_parts: 1000,
            max_nesting: 32,
            max_message_bytes: 150 * 1024 * 1024,
            notice_template: DEFAULT_NOTICE.into(),
        }
    }
}

/// The default notice (Japanese). `{summary}`, `{attachments}`, `{notes}` and
/// `{retention_days}` are filled in; `{attachments}` must appear.
pub const DEFAULT_NOTICE: &str = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
【無害化通知】このメールはインターネットから届いたため、mugai が無害化しました。
{summary}
{attachments}
{notes}
原本は {retention_days} 日間保管されます。お問い合わせは情報システム担当まで。
━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━
";

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawStore {
    /// Days originals and the ledger rows are kept.
    retention_days: u64,
    /// Hours a download link stays valid (never past retention).
    link_ttl_hours: u64,
    /// Key signing download links, hex, 32 bytes or more. Empty: a random key is made in
    /// `<data_dir>/link.key` on first start.
    link_key: Secret<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            retention_days: 30,
            link_ttl_hours: 168,
            link_key: Secret::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAudit {
    /// Where the audit log (one JSON line per message and per part) goes: empty for
    /// `<data_dir>/audit.jsonl`, `-` for standard output, or a file path.
    log: String,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPolicy {
    /// Per file kind: `sanitize`, `block` or `pass`.
    kinds: std::collections::BTreeMap<String, String>,
    /// Write `_mugai_report.txt` into archives that had entries left out.
    archive_report: bool,
    /// CSV formula cells: `neutralize` (default) or `keep`.
    csv_injection: String,
    /// Names without an extension: `admit` (default; the content decides) or `block`.
    missing_extension: String,
    /// Per file kind: extensions added to the ones mugai admits for it.
    extensions: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        Self {
            kinds: Default::default(),
            archive_report: true,
            csv_injection: "neutralize".into(),
            missing_extension: "admit".into(),
            extensions: Default::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServe {
    /// Where the SMTP content filter listens (Postfix `content_filter` target).
    smtp_listen: String,
    /// The next hop that receives the rebuilt mail (Postfix re-injection listener).
    next_hop: String,
    /// Where the HTTP API and recipient page listen.
    http_listen: String,
    /// Data directory for originals (blobs) and the SQLite ledger.
    data_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLimits {
    /// Largest input file accepted, in bytes.
    max_input_bytes: u64,
    /// Total bytes that all decompression inside one file may produce.
    max_decompressed_bytes: u64,
    /// How deep containers may nest (ZIP in ZIP, PDF attachment in mail, ...).
    max_depth: u32,
    /// Wall-clock budget for one file, in seconds.
    timeout_secs: u64,
    /// Most entries in one archive or Office package.
    max_entries: u64,
    /// Deepest XML element nesting in an Office part.
    max_xml_depth: u32,
    /// Largest expansion of one archive entry (uncompressed / compressed; entries under
    /// 64 KiB are exempt).
    max_entry_ratio: u64,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawOffice {
    /// `text` (default): hyperlinks lose their target and stay as text; `keep`: web links stay.
    hyperlinks: String,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawImage {
    /// Largest picture decoded, in pixels (width × height, every frame of an animation).
    max_pixels: u64,
    /// Embedded colour profiles: `remove` (default) or `keep`.
    icc_profile: String,
    /// Animated GIFs: `keep` (default; every frame re-encoded) or `first_frame`.
    gif_animation: String,
}

impl Default for RawImage {
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            icc_profile: "remove".into(),
            gif_animation: "keep".into(),
        }
    }
}

impl Default for RawOffice {
    fn default() -> Self {
        Self {
            hyperlinks: "text".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPdf {
    /// `remove` (default) drops URI link actions; `keep` keeps them as clickable links.
    uri_links: String,
    /// `keep` (default) keeps the standard Info text entries; `remove` drops Info and XMP.
    metadata: String,
    /// Largest number of indirect objects in one PDF.
    max_objects: u64,
    /// Largest single object stream / xref stream lopdf may inflate while loading, in bytes.
    max_object_stream_bytes: u64,
    /// Most memory the document's objects may take once parsed (estimated before parsing).
    max_structure_bytes: u64,
}

impl Default for RawServe {
    fn default() -> Self {
        Self {
            smtp_listen: "127.0.0.1:10025".into(),
            next_hop: "127.0.0.1:10026".into(),
            http_listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./mugai-data"),
        }
    }
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: 100 * 1024 * 1024,
            max_decompressed_bytes: 256 * 1024 * 1024,
            max_depth: 8,
            timeout_secs: 60,
            max_entries: 10_000,
            max_xml_depth: 256,
            max_entry_ratio: 200,
        }
    }
}

impl Default for RawPdf {
    fn default() -> Self {
        Self {
            uri_links: "remove".into(),
            metadata: "keep".into(),
            max_objects: 1_000_000,
            max_object_stream_bytes: 32 * 1024 * 1024,
            max_structure_bytes: 256 * 1024 * 1024,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validated shape.
// ---------------------------------------------------------------------------------------------

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub serve: Serve,
    pub limits: Limits,
    pub pdf: PdfPolicy,
    pub office: OfficePolicy,
    pub image: ImagePolicy,
    pub policy: Policy,
    pub mail: MailConfig,
    pub store: StoreConfig,
    pub audit: AuditConfig,
    pub smtp: SmtpConfig,
    pub relay: RelayConfig,
    pub engine: EngineConfig,
    pub http: HttpConfig,
    pub scan: ScanConfig,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Send files to be sanitized and read their reports.
    Submit,
    /// Release originals held for approval (上長承認).
    Approve,
    /// Everything.
    Admin,
}

/// A configured API key: its holder, the SHA-256 of the key, and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    pub sha256: [u8; 32],
    pub roles: Vec<Role>,
}

/// The HTTP API (`ingress/http/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub api_keys: Vec<ApiKey>,
    pub max_queued: usize,
    pub max_body_bytes: u64,
    pub body_memory_bytes: u64,
    pub originals: Release,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// The virus scanner asked before an original is released under `after_scan` (`scan.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanConfig {
    pub clamd: Option<ClamdAddress>,
    pub timeout: Duration,
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

/// When an original (what the gateway kept from before sanitizing) may be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Whoever holds the signed link.
    Direct,
    /// After clamd found nothing in it.
    AfterScan,
    /// After an approver released it (上長承認).
    AfterApproval,
}

/// The SMTP listener (`ingress/smtp/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub hostname: String,
    pub max_sessions: usize,
    pub max_line_bytes: usize,
    pub max_recipients: usize,
    pub max_commands: u64,
    pub idle_timeout: Duration,
    pub session_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Outcomes answered 554 5.7.1 (the message is stored, not delivered).
    pub reject_outcomes: Vec<crate::report::Outcome>,
    /// Certificate chain and key for STARTTLS (both or neither).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub bare_newline: BareNewline,
    pub message_memory_bytes: u64,
}

/// What the SMTP server does with a line ended by a bare LF (no CR): the way one message is
/// smuggled behind another (`…\n.\nMAIL FROM:…`) when two servers disagree on where data
/// ends. The end of data is `<CR><LF>.<CR><LF>` only, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNewline {
    /// A command with one is refused (500); a message with one is refused (550).
    Reject,
    /// Taken as CRLF, as Postfix's `smtpd_forbid_bare_newline = normalize`.
    Normalize,
}

/// The next hop (`egress/relay.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub helo_name: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub pool_size: usize,
    pub pool_idle: Duration,
}

/// CPU-bound work in the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    pub workers: usize,
    pub message_timeout: Duration,
}

/// What the mail layer does (`mail/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    pub attachments: AttachmentMode,
    pub defang_urls: bool,
    pub body_charset: BodyCharset,
    /// TNEF parts are held (true) or blocked (false, the default).
    pub hold_tnef: bool,
    /// Encrypted parts are held (true, the default) or blocked.
    pub hold_encrypted: bool,
    /// Broken MIME: deliver the text (false, the default) or only the notice.
    pub malformed_notice_only: bool,
    pub link_base_url: String,
    pub max_parts: u64,
    pub max_nesting: u32,
    pub max_message_bytes: u64,
    pub notice_template: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentMode {
    Reattach,
    Url,
    Both,
}

impl AttachmentMode {
    pub fn reattaches(self) -> bool {
        matches!(self, AttachmentMode::Reattach | AttachmentMode::Both)
    }
    pub fn links(self) -> bool {
        matches!(self, AttachmentMode::Url | AttachmentMode::Both)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCharset {
    Utf8,
    Iso2022Jp,
}

/// Originals and links (`store/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub retention: Duration,
    pub link_ttl: Duration,
    /// `None`: the key file in the data directory. Never printed (`Secret`).
    pub link_key: Option<Secret<Vec<u8>>>,
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditConfig {
    /// `<data_dir>/audit.jsonl`
    DataDir,
    Stdout,
    File(PathBuf),
}

/// Pictures: decoded and encoded again (`cdr/image.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePolicy {
    pub max_pixels: u64,
    pub keep_icc_profile: bool,
    pub gif_all_frames: bool,
}

#[derive(Debug, Clone)]
pub struct Serve {
    pub smtp_listen: SocketAddr,
    pub next_hop: SocketAddr,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
}

/// Budgets for one file. Every field is finite; exceeding one is a typed refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_input_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_depth: u32,
    pub timeout: Duration,
    pub max_entries: u64,
    pub max_xml_depth: u32,
    pub max_entry_ratio: u64,
}

/// How Office hyperlinks are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hyperlinks {
    /// The link target is removed; the linked text stays.
    Text,
    /// `http`, `https` and `mailto` links stay clickable.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficePolicy {
    pub hyperlinks: Hyperlinks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriLinks {
    Remove,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Keep,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfPolicy {
    pub uri_links: UriLinks,
    pub metadata: Metadata,
    pub max_objects: u64,
    pub max_object_stream_bytes: u64,
    pub max_structure_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        // The embedded defaults are valid by construction (a unit test proves it).
        RawConfig::default()
            .validate()
            .unwrap_or_else(|e| unreachable!("embedded defaults are invalid: {e}"))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Config::default().limits
    }
}

impl Config {
    /// Parse and validate TOML text, reporting every problem with its key path.
    pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigErrors(vec![toml_problem(text, &e)]))?;
        raw.validate()
    }

    /// Read and validate a file; `None` gives the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        match path {
            None => Ok(Config::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigErrors(vec![ConfigProblem {
                        key: "(file)".into(),
                        message: format!("cannot read {}: {e}", p.display()),
                    }])
                })?;
                Config::from_toml(&text)
            }
        }
    }
}

/// serde stops at the first problem, but for unknown keys and type errors it knows the
/// path; turn it into a `ConfigProblem` that names the key.
fn toml_problem(text: &str, e: &toml::de::Error) -> ConfigProblem {
    let message = e.message().to_string();
    let key = e
        .span()
        .and_then(|s| text.get(s))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() < 80)
        .unwrap_or_else(|| "(syntax)".into());
    ConfigProblem { key, message }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigErrors> {
        let mut problems = Vec::new();
        let mut addr = |key: &str, value: &str| -> SocketAddr {
            value.parse().unwrap_or_else(|_| {
                problems.push(ConfigProblem {
                    key: key.into(),
                    message: format!("`{value}` is not an IP:port socket address"),
                });
                SocketAddr::from(([127, 0, 0, 1], 0))
            })
        };
        let serve = Serve {
            smtp_listen: addr("serve.smtp_listen", &self.serve.smtp_listen),
            next_hop: addr("serve.next_hop", &self.serve.next_hop),
            http_listen: addr("serve.http_listen", &self.serve.http_listen),
            data_dir: self.serve.data_dir,
        };
        if serve.data_dir.as_os_str().is_empty() {
            problems.push(problem("serve.data_dir", "must not be empty"));
        }

        let l = &self.limits;
        range(&mut problems, "limits.max_input_bytes", l.max_input_bytes, 1, 1 << 40);
        range(
            &mut problems,
            "limits.max_decompressed_bytes",
            l.max_decompressed_bytes,
            1,
            1 << 42,
        );
        range(&mut problems, "limits.max_depth", u64::from(l.max_depth), 1, 64);
        range(&mut problems, "limits.timeout_secs", l.timeout_secs, 1, 24 * 3600);
        range(&mut problems, "limits.max_entries", l.max_entries, 1, 10_000_000);
        range(
            &mut problems,
            "limits.max_xml_depth",
            u64::from(l.max_xml_depth),
            8,
            10_000,
        );
        let limits = Limits {
            max_input_bytes: l.max_input_bytes,
            max_decompressed_bytes: l.max_decompressed_bytes,
            max_depth: l.max_depth,
            timeout: Duration::from_secs(l.timeout_secs),
            max_entries: l.max_entries,
            max_xml_depth: l.max_xml_depth,
            max_entry_ratio: l.max_entry_ratio,
        };

        let p = &self.pdf;
        let uri_links = choice(
            &mut problems,
            "pdf.uri_links",
            &p.uri_links,
            &[("remove", UriLinks::Remove), ("keep", UriLinks::Keep)],
        );
        let metadata = choice(
            &mut problems,
            "pdf.metadata",
            &p.metadata,
            &[("keep", Metadata::Keep), ("remove", Metadata::Remove)],
        );
        range(&mut problems, "pdf.max_objects", p.max_objects, 1, 100_000_000);
        range(
            &mut problems,
            "pdf.max_object_stream_bytes",
            p.max_object_stream_bytes,
            1024,
            1 << 32,
        );
        range(
            &mut problems,
            "pdf.max_structure_bytes",
            p.max_structure_bytes,
            1 << 20,
            1 << 36,
        );
        let pdf = PdfPolicy {
            uri_links,
            metadata,
            max_objects: p.max_objects,
            max_object_stream_bytes: p.max_object_stream_bytes,
            max_structure_bytes: p.max_structure_bytes,
        };

        let hyperlinks = choice(
            &mut problems,
            "office.hyperlinks",
            &self.office.hyperlinks,
            &[("text", Hyperlinks::Text), ("keep", Hyperlinks::Keep)],
        );
        let office = OfficePolicy { hyperlinks };

        let i = &self.image;
        range(&mut problems, "image.max_pixels", i.max_pixels, 1, 1 << 34);
        let image = ImagePolicy {
            max_pixels: i.max_pixels,
            keep_icc_profile: choice(
                &mut problems,
                "image.icc_profile",
                &i.icc_profile,
                &[("remove", false), ("keep", true)],
            ),
            gif_all_frames: choice(
                &mut problems,
                "image.gif_animation",
                &i.gif_animation,
                &[("keep", true), ("first_frame", false)],
            ),
        };

        let csv_injection = choice(
            &mut problems,
            "policy.csv_injection",
            &self.policy.csv_injection,
            &[("neutralize", CsvInjection::Neutralize), ("keep", CsvInjection::Keep)],
        );
        let missing_extension = choice(
            &mut problems,
            "policy.missing_extension",
            &self.policy.missing_extension,
            &[("admit", MissingExtension::Admit), ("block", MissingExtension::Block)],
        );
        let admission = Admission::from_config(&self.policy.extensions, missing_extension).unwrap_or_else(|found| {
            problems.extend(found.into_iter().map(|(key, message)| ConfigProblem { key, message }));
            Admission::default()
        });
        let policy = Policy::from_table(&self.policy.kinds, self.policy.archive_report, csv_injection, admission)
            .unwrap_or_else(|found| {
                problems.extend(found.into_iter().map(|(key, message)| ConfigProblem { key, message }));
                Policy::default()
            });

        let m = &self.mail;
        let mail = MailConfig {
            attachments: choice(
                &mut problems,
                "mail.attachments",
                &m.attachments,
                &[
                    ("reattach", AttachmentMode::Reattach),
                    ("url", AttachmentMode::Url),
                    ("both", AttachmentMode::Both),
                ],
            ),
            defang_urls: choice(
                &mut problems,
                "mail.urls",
                &m.urls,
                &[("defang", true), ("keep", false)],
            ),
            body_charset: choice(
                &mut problems,
                "mail.body_charset",
                &m.body_charset,
                &[("utf-8", BodyCharset::Utf8), ("iso-2022-jp", BodyCharset::Iso2022Jp)],
            ),
            hold_tnef: choice(&mut problems, "mail.tnef", &m.tnef, &[("block", false), ("hold", true)]),
            hold_encrypted: choice(
                &mut problems,
                "mail.encrypted",
                &m.encrypted,
                &[("hold", true), ("block", false)],
            ),
            malformed_notice_only: choice(
                &mut problems,
                "mail.malformed",
                &m.malformed,
                &[("deliver", false), ("notice_only", true)],
            ),
            link_base_url: m.link_base_url.trim_end_matches('/').to_string(),
            max_parts: m.max_parts,
            max_nesting: m.max_nesting,
            max_message_bytes: m.max_message_bytes,
            notice_template: m.notice_template.clone(),
        };
        if !(mail.link_base_url.starts_with("http://") || mail.link_base_url.starts_with("https://")) {
            problems.push(problem("mail.link_base_url", "must start with http:// or https://"));
        }
        range(&mut problems, "mail.max_parts", m.max_parts, 1, 100_000);
        range(&mut problems, "mail.max_nesting", u64::from(m.max_nesting), 1, 100);
        range(
            &mut problems,
            "mail.max_message_bytes",
            m.max_message_bytes,
            1024,
            1 << 34,
        );
        if !mail.notice_template.contains("{attachments}") {
            problems.push(problem("mail.notice_template", "must contain {attachments}"));
        }

        let st = &self.store;
        range(&mut problems, "store.retention_days", st.retention_days, 1, 36_500);
        range(&mut problems, "store.link_ttl_hours", st.link_ttl_hours, 1, 24 * 36_500);
        let link_key = if st.link_key.expose().is_empty() {
            None
        } else {
            let key = crate::ids::parse_key(st.link_key.expose().trim());
            if key.is_none() {
                problems.push(problem("store.link_key", "must be hex, 32 bytes (64 digits) or more"));
            }
            key.map(Secret::new)
        };
        let store = StoreConfig {
            retention: Duration::from_secs(st.retention_days.saturating_mul(86_400)),
            link_ttl: Duration::from_secs(st.link_ttl_hours.saturating_mul(3_600)),
            link_key,
        };
        let audit = match self.audit.log.as_str() {
            "" => AuditConfig::DataDir,
            "-" => AuditConfig::Stdout,
            path => AuditConfig::File(PathBuf::from(path)),
        };

        let sm = &self.smtp;
        range(&mut problems, "smtp.max_sessions", sm.max_sessions, 1, 100_000);
        range(&mut problems, "smtp.max_line_bytes", sm.max_line_bytes, 512, 1 << 20);
        range(&mut problems, "smtp.max_recipients", sm.max_recipients, 1, 100_000);
        range(&mut problems, "smtp.max_commands", sm.max_commands, 10, 1 << 32);
        range(&mut problems, "smtp.idle_timeout_secs", sm.idle_timeout_secs, 1, 86_400);
        range(
            &mut problems,
            "smtp.session_timeout_secs",
            sm.session_timeout_secs,
            1,
            7 * 86_400,
        );
        range(
            &mut problems,
            "smtp.shutdown_grace_secs",
            sm.shutdown_grace_secs,
            0,
            86_400,
        );
        hostname(&mut problems, "smtp.hostname", &sm.hostname);
        range(
            &mut problems,
            "smtp.message_memory_bytes",
            sm.message_memory_bytes,
            1 << 20,
            1 << 40,
        );
        let smtp = SmtpConfig {
            hostname: sm.hostname.clone(),
            max_sessions: sm.max_sessions as usize,
            max_line_bytes: sm.max_line_bytes as usize,
            max_recipients: sm.max_recipients as usize,
            max_commands: sm.max_commands,
            idle_timeout: Duration::from_secs(sm.idle_timeout_secs),
            session_timeout: Duration::from_secs(sm.session_timeout_secs),
            shutdown_grace: Duration::from_secs(sm.shutdown_grace_secs),
            message_memory_bytes: sm.message_memory_bytes,
            bare_newline: choice(
                &mut problems,
                "smtp.bare_newline",
                &sm.bare_newline,
                &[("reject", BareNewline::Reject), ("normalize", BareNewline::Normalize)],
            ),
            reject_outcomes: sm
                .reject_outcomes
                .iter()
                .map(|word| {
                    use crate::report::Outcome;
                    choice(
                        &mut problems,
                        "smtp.reject_outcomes",
                        word,
                        &[
                            ("blocked", Outcome::Blocked),
                            ("held", Outcome::Held),
                            ("error", Outcome::Error),
                        ],
                    )
                })
                .collect(),
            tls: match (sm.tls_cert.as_os_str().is_empty(), sm.tls_key.as_os_str().is_empty()) {
                (true, true) => None,
                (false, false) => Some((sm.tls_cert.clone(), sm.tls_key.clone())),
                _ => {
                    problems.push(problem("smtp.tls_cert", "tls_cert and tls_key go together"));
                    None
                }
            },
        };
        let r = &self.relay;
        range(
            &mut problems,
            "relay.connect_timeout_secs",
            r.connect_timeout_secs,
            1,
            3600,
        );
        range(
            &mut problems,
            "relay.command_timeout_secs",
            r.command_timeout_secs,
            1,
            3600,
        );
        range(&mut problems, "relay.data_timeout_secs", r.data_timeout_secs, 1, 7200);
        range(&mut problems, "relay.pool_size", r.pool_size, 0, 1024);
        range(&mut problems, "relay.pool_idle_secs", r.pool_idle_secs, 1, 3600);
        hostname(&mut problems, "relay.helo_name", &r.helo_name);
        let relay = RelayConfig {
            helo_name: r.helo_name.clone(),
            connect_timeout: Duration::from_secs(r.connect_timeout_secs),
            command_timeout: Duration::from_secs(r.command_timeout_secs),
            data_timeout: Duration::from_secs(r.data_timeout_secs),
            pool_size: usize::try_from(r.pool_size).unwrap_or(0),
            pool_idle: Duration::from_secs(r.pool_idle_secs),
        };
        let e = &self.engine;
        range(&mut problems, "engine.workers", e.workers, 1, 1024);
        range(
            &mut problems,
            "engine.message_timeout_secs",
            e.message_timeout_secs,
            1,
            86_400,
        );
        let engine = EngineConfig {
            workers: e.workers as usize,
            message_timeout: Duration::from_secs(e.message_timeout_secs),
        };

        let h = &self.http;
        range(&mut problems, "http.max_queued", h.max_queued, 0, 100_000);
        range(&mut problems, "http.max_connections", h.max_connections, 1, 1_000_000);
        range(
            &mut problems,
            "http.header_timeout_secs",
            h.header_timeout_secs,
            1,
            3600,
        );
        range(&mut problems, "http.body_timeout_secs", h.body_timeout_secs, 1, 86_400);
        range(
            &mut problems,
            "http.body_memory_bytes",
            h.body_memory_bytes,
            64 * 1024,
            1 << 40,
        );
        let mut api_keys = Vec::new();
        for (i, k) in h.api_keys.iter().enumerate() {
            let key = format!("http.api_keys[{i}]");
            let sha256 = crate::ids::parse_key(k.sha256.trim()).and_then(|v| <[u8; 32]>::try_from(v).ok());
            if sha256.is_none() {
                problems.push(ConfigProblem {
                    key: format!("{key}.sha256"),
                    message: "must be 64 hex digits (the SHA-256 of the key; `mugai apikey` makes one)".into(),
                });
            }
            let roles: Vec<Role> = k
                .roles
                .iter()
                .map(|r| {
                    choice(
                        &mut problems,
                        &format!("{key}.roles"),
                        r,
                        &[
                            ("submit", Role::Submit),
                            ("approve", Role::Approve),
                            ("admin", Role::Admin),
                        ],
                    )
                })
                .collect();
            if k.name.trim().is_empty() || roles.is_empty() {
                problems.push(ConfigProblem {
                    key,
                    message: "needs a name and at least one role".into(),
                });
            }
            api_keys.push(ApiKey {
                name: k.name.clone(),
                sha256: sha256.unwrap_or([0; 32]),
                roles,
            });
        }
        let originals = choice(
            &mut problems,
            "http.originals",
            &h.originals,
            &[
                ("after_approval", Release::AfterApproval),
                ("after_scan", Release::AfterScan),
                ("direct", Release::Direct),
            ],
        );
        let http = HttpConfig {
            originals,
            api_keys,
            max_connections: usize::try_from(h.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(h.header_timeout_secs),
            body_timeout: Duration::from_secs(h.body_timeout_secs),
            max_queued: usize::try_from(h.max_queued).unwrap_or(usize::MAX),
            max_body_bytes: if h.max_body_bytes == 0 {
                limits.max_input_bytes
            } else {
                h.max_body_bytes
            },
            body_memory_bytes: h.body_memory_bytes,
        };

        let sc = &self.scan;
        let clamd = match sc.clamd.trim() {
            "" => None,
            a if a.starts_with('/') => Some(ClamdAddress::Unix(PathBuf::from(a))),
            a if a.parse::<SocketAddr>().is_ok()
                || a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) =>
            {
                Some(ClamdAddress::Tcp(a.to_string()))
            }
            _ => {
                problems.push(problem("scan.clamd", "must be an absolute socket path or host:port"));
                None
            }
        };
        if sc.timeout_secs == 0 || sc.timeout_secs > 3600 {
            problems.push(problem("scan.timeout_secs", "must be between 1 and 3600"));
        }
        if http.originals == Release::AfterScan && clamd.is_none() && sc.clamd.trim().is_empty() {
            problems.push(problem(
                "scan.clamd",
                "http.originals = \"after_scan\" needs clamd's socket here",
            ));
        }
        let scan = ScanConfig {
            clamd,
            timeout: Duration::from_secs(sc.timeout_secs),
        };

        if problems.is_empty() {
            Ok(Config {
                serve,
                limits,
                pdf,
                office,
                image,
                policy,
                mail,
                store,
                audit,
                smtp,
                relay,
                engine,
                http,
                scan,
            })
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// One of a fixed set of words; the first option stands in when the value is not one of them
/// (the problem is recorded, so the config is refused anyway).
fn choice<T: Copy>(problems: &mut Vec<ConfigProblem>, key: &str, value: &str, options: &[(&str, T)]) -> T {
    if let Some((_, v)) = options.iter().find(|(word, _)| *word == value) {
        return *v;
    }
    let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
    problems.push(problem(key, &format!("`{value}` is not one of: {}", words.join(", "))));
    options[0].1
}

/// A name fit for an SMTP greeting or EHLO: no spaces or control characters that would
/// break a reply line.
fn hostname(problems: &mut Vec<ConfigProblem>, key: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        problems.push(problem(key, "must be a host name (letters, digits, - and .)"));
    }
}

fn problem(key: &str, message: &str) -> ConfigProblem {
    ConfigProblem {
        key: key.into(),
        message: message.into(),
    }
}

fn range(problems: &mut Vec<ConfigProblem>, key: &str, value: u64, min: u64, max: u64) {
    if value < min || value > max {
        problems.push(problem(key, &format!("{value} is outside {min}..={max}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_key_never_shows_in_debug_output() {
        let hex = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
        let config = Config::from_toml(&format!("[store]\nlink_key = \"{hex}\"\n")).expect("config");
        assert_eq!(config.store.link_key.as_ref().map(|k| k.expose().len()), Some(32));
        let shown = format!("{config:?}");
        assert!(!shown.contains(hex) && !shown.contains("161, 178"), "{shown}");
        assert!(shown.contains("Secret(..)"));
    }

    #[test]
    fn shipped_file_equals_embedded_defaults() {
        let shipped = Config::from_toml(DEFAULT_TOML).expect("config/mugai.toml is valid");
        let builtin = Config::default();
        assert_eq!(shipped.limits, builtin.limits);
        assert_eq!(shipped.pdf, builtin.pdf);
        assert_eq!(shipped.office, builtin.office);
        assert_eq!(shipped.image, builtin.image);
        assert_eq!(shipped.policy, builtin.policy);
        assert_eq!(shipped.serve.smtp_listen, builtin.serve.smtp_listen);
        assert_eq!(shipped.serve.next_hop, builtin.serve.next_hop);
        assert_eq!(shipped.serve.http_listen, builtin.serve.http_listen);
        assert_eq!(shipped.serve.data_dir, builtin.serve.data_dir);
        assert_eq!(shipped.mail, builtin.mail);
        assert_eq!(shipped.store, builtin.store);
        assert_eq!(shipped.audit, builtin.audit);
        assert_eq!(shipped.smtp, builtin.smtp);
        assert_eq!(shipped.relay, builtin.relay);
        assert_eq!(shipped.engine, builtin.engine);
    }

    #[test]
    fn a_tls_certificate_needs_its_key_and_reject_outcomes_are_words() {
        let err = Config::from_toml("[smtp]\ntls_cert = \"/x.pem\"\nreject_outcomes = [\"blocked\", \"clean\"]\n")
            .unwrap_err();
        let keys: Vec<_> = err.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["smtp.reject_outcomes", "smtp.tls_cert"]);
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let c = Config::default();
        assert!(c.serve.smtp_listen.ip().is_loopback());
        assert!(c.serve.http_listen.ip().is_loopback());
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err = Config::from_toml("[limits]\nmax_depht = 3\n").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].message.contains("max_depht"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "[serve]\nsmtp_listen = \"nowhere\"\n[limits]\nmax_depth = 0\ntimeout_secs = 0\n\
                    [pdf]\nuri_links = \"maybe\"\n";
        let err = Config::from_toml(text).unwrap_err();
        let keys: Vec<_> = err.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "serve.smtp_listen",
                "limits.max_depth",
                "limits.timeout_secs",
                "pdf.uri_links"
            ]
        );
    }
}
