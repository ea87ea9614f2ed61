//! `[http]`: the HTTP API — API keys and roles, originals' release policy, connection and body
//! limits, job callbacks; its listeners are `listeners.rs`'s.

use std::time::Duration;

use serde::Deserialize;

use super::{choice, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawHttp {
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
    /// Hosts a job's `callback_url` may name (exact names, no wildcard).
    callback_hosts: Vec<String>,
    /// The HMAC-SHA256 key callbacks are signed with (hex or text; `env:`/`file:` allowed).
    callback_secret: crate::secret::Secret<String>,
    /// Named listeners by network side (`listeners.rs`); none: one on `serve.http_listen`.
    listeners: std::collections::BTreeMap<String, super::listeners::RawListener>,
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
            callback_hosts: Vec::new(),
            callback_secret: crate::secret::Secret::default(),
            listeners: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApiKey {
    /// Who holds it (for logs; never the key).
    name: String,
    /// SHA-256 of the key, 64 hex digits.
    sha256: String,
    /// Any of `submit`, `approve`, `admin`.
    roles: Vec<String>,
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
    /// Carry files in through the internet-side carry-in box (local accounts only).
    CarryIn,
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
    /// Hosts a job's callback may go to (lower case); empty: no callbacks.
    pub callback_hosts: Vec<String>,
    /// The key callbacks are signed with; callbacks need one.
    pub callback_secret: crate::secret::Secret<String>,
    /// Where the HTTP side listens, and what each listener serves.
    pub listeners: Vec<super::listeners::Listener>,
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
    /// clamd first, when it is requested (an infected original never reaches an approver),
    /// then an approver; and clamd again when it is handed out.
    AfterScanAndApproval,
}

impl Release {
    /// The word `http.originals` takes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Release::Direct => "direct",
            Release::AfterScan => "after_scan",
            Release::AfterApproval => "after_approval",
            Release::AfterScanAndApproval => "after_scan_and_approval",
        }
    }

    /// Whether an approver must release the original (a request, a decision).
    pub fn needs_approval(self) -> bool {
        matches!(self, Release::AfterApproval | Release::AfterScanAndApproval)
    }

    /// Whether clamd must find nothing in it.
    pub fn needs_scan(self) -> bool {
        matches!(self, Release::AfterScan | Release::AfterScanAndApproval)
    }
}

/// The roles named in `names` (`key` says where), each one of `allowed`.
pub(super) fn roles(
    problems: &mut Vec<ConfigProblem>,
    key: &str,
    names: &[String],
    allowed: &[(&str, Role)],
) -> Vec<Role> {
    names.iter().map(|r| choice(problems, key, r, allowed)).collect()
}

impl RawHttp {
    pub(super) fn validate(
        self,
        problems: &mut Vec<ConfigProblem>,
        max_input_bytes: u64,
        http_listen: std::net::SocketAddr,
    ) -> HttpConfig {
        let listeners = super::listeners::validate(problems, self.listeners, http_listen);
        let callback_secret = super::secret_value(problems, "http.callback_secret", self.callback_secret.clone());
        if !self.callback_hosts.is_empty() && callback_secret.expose().trim().len() < 16 {
            problems.push(ConfigProblem {
                key: "http.callback_secret".into(),
                message: "callbacks need a secret of 16 characters or more to sign them with".into(),
            });
        }
        range(problems, "http.max_queued", self.max_queued, 0, 100_000);
        range(problems, "http.max_connections", self.max_connections, 1, 1_000_000);
        range(problems, "http.header_timeout_secs", self.header_timeout_secs, 1, 3600);
        range(problems, "http.body_timeout_secs", self.body_timeout_secs, 1, 86_400);
        range(
            problems,
            "http.body_memory_bytes",
            self.body_memory_bytes,
            64 * 1024,
            1 << 40,
        );
        let mut api_keys = Vec::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            let key = format!("http.api_keys[{i}]");
            let sha256 = crate::ids::parse_key(k.sha256.trim()).and_then(|v| <[u8; 32]>::try_from(v).ok());
            if sha256.is_none() {
                problems.push(ConfigProblem {
                    key: format!("{key}.sha256"),
                    message: "must be 64 hex digits (the SHA-256 of the key; `mugai apikey` makes one)".into(),
                });
            }
            let roles = roles(
                problems,
                &format!("{key}.roles"),
                &k.roles,
                &[
                    ("submit", Role::Submit),
                    ("approve", Role::Approve),
                    ("admin", Role::Admin),
                ],
            );
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
            problems,
            "http.originals",
            &self.originals,
            &[
                Release::AfterApproval,
                Release::AfterScan,
                Release::AfterScanAndApproval,
                Release::Direct,
            ]
            .map(|r| (r.as_str(), r)),
        );
        HttpConfig {
            originals,
            api_keys,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            max_queued: usize::try_from(self.max_queued).unwrap_or(usize::MAX),
            max_body_bytes: if self.max_body_bytes == 0 {
                max_input_bytes
            } else {
                self.max_body_bytes
            },
            body_memory_bytes: self.body_memory_bytes,
            callback_hosts: self
                .callback_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            callback_secret,
            listeners,
        }
    }
}
