//! Configuration: the raw TOML shape (every key documented, every key with a finite default,
//! unknown keys rejected) and its validation into a [`Config`] the rest of the daemon trusts.
//! One module per section (`serve.rs`, `limits.rs`, … `scan.rs`), each with its raw shape and
//! a `RawX::validate` into the validated `X`, reporting into the one shared problem list; this
//! file holds the whole, the checks across sections, and the shared helpers.
//!
//! Two steps on purpose: serde only checks shapes and types, `validate()` checks meaning
//! (ranges, addresses, combinations) and reports *every* problem at once with its key path, so
//! an operator fixes a file in one round instead of one error per restart. Secrets (the link
//! key) are [`Secret`](crate::secret::Secret)s: neither `Debug` nor `Display` shows them.
//!
//! The embedded defaults are the contents of `config/mugai.toml`; a test keeps the two equal.
//!
//! May use: `policy`, `report`, leaves (`secret`, `ids`).

mod audit;
mod carry_in;
mod engine;
mod http;
mod image;
mod limits;
mod listeners;
mod mail;
mod notify;
mod office;
mod pdf;
mod policy;
mod portal;
mod relay;
mod scan;
mod serve;
mod smtp;
mod store;

use std::path::Path;

use serde::Deserialize;

pub use audit::{AuditConfig, AuditLogTo};
pub use carry_in::CarryInConfig;
pub use engine::WorkConfig;
pub use http::{ApiKey, HttpConfig, Release, Role};
pub use image::ImagePolicy;
pub use limits::Limits;
pub use listeners::{all_tls, Listener, RouteGroups};
pub use mail::{AttachmentMode, BodyCharset, MailConfig, NoticeLinks, DEFAULT_NOTICE};
pub use notify::{plausible_address, NotifyConfig};
pub use office::{Hyperlinks, OfficePolicy};
pub use pdf::{Metadata, PdfPolicy, UriLinks};
pub use portal::{ApproverGroup, LdapConfig, LocalUser, PortalConfig};
pub use relay::RelayConfig;
pub use scan::{ClamdAddress, ScanConfig};
pub use serve::{NextHop, Serve};
pub use smtp::{BareNewline, SmtpConfig};
pub use store::{S3Config, SharedStore, StoreBackend, StoreConfig};

use crate::policy::Policy;
use crate::secret::Secret;

/// The documented default configuration, shipped inside the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/mugai.toml");

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
    serve: serve::RawServe,
    limits: limits::RawLimits,
    pdf: pdf::RawPdf,
    office: office::RawOffice,
    image: image::RawImage,
    policy: policy::RawPolicy,
    mail: mail::RawMail,
    store: store::RawStore,
    audit: audit::RawAudit,
    smtp: smtp::RawSmtp,
    relay: relay::RawRelay,
    engine: engine::RawEngine,
    http: http::RawHttp,
    scan: scan::RawScan,
    portal: portal::RawPortal,
    notify: notify::RawNotify,
    carry_in: carry_in::RawCarryIn,
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
    pub engine: WorkConfig,
    pub http: HttpConfig,
    pub scan: ScanConfig,
    pub portal: PortalConfig,
    pub notify: NotifyConfig,
    pub carry_in: CarryInConfig,
}

/// What the engine (`cdr`) reads of the configuration: the budgets and the per-format and
/// per-kind policy — five sections of sixteen. The engine never sees listeners, keys, the
/// store or the mail settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub limits: Limits,
    pub pdf: PdfPolicy,
    pub office: OfficePolicy,
    pub image: ImagePolicy,
    pub policy: Policy,
}

impl From<&Config> for EngineConfig {
    fn from(c: &Config) -> Self {
        EngineConfig {
            limits: c.limits,
            pdf: c.pdf,
            office: c.office,
            image: c.image,
            policy: c.policy.clone(),
        }
    }
}

impl From<Config> for EngineConfig {
    fn from(c: Config) -> Self {
        EngineConfig::from(&c)
    }
}

impl Default for Config {
    fn default() -> Self {
        // The embedded defaults are valid by construction (a unit test proves it).
        RawConfig::default()
            .validate()
            .unwrap_or_else(|e| unreachable!("embedded defaults are invalid: {e}"))
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
        let p = &mut problems;
        let serve = self.serve.validate(p);
        let limits = self.limits.validate(p);
        let pdf = self.pdf.validate(p);
        let office = self.office.validate(p);
        let image = self.image.validate(p);
        let policy = self.policy.validate(p);
        let mail = self.mail.validate(p);
        let audit = self.audit.validate(p);
        // Across sections: the store keeps release records as long as the audit asks.
        let store = self.store.validate(p, audit.retention);
        let smtp = self.smtp.validate(p);
        let relay = self.relay.validate(p);
        let engine = self.engine.validate(p);
        let http = self.http.validate(p, limits.max_input_bytes, serve.http_listen);
        let clamd_unset = self.scan.clamd_unset();
        let scan = self.scan.validate(p);
        let portal = self.portal.validate(p);
        let notify = self.notify.validate(p);
        let mut http = http;
        let carry_in = self
            .carry_in
            .validate(p, http.listeners.iter().any(|l| l.groups.carry_in));
        // Across sections: the one default listener serves the carry-in box only where it is
        // configured (where it may send).
        for l in http.listeners.iter_mut().filter(|l| l.implicit) {
            l.groups.carry_in = !carry_in.mailbox_domains.is_empty();
        }
        // Across sections: releasing after a scan needs a scanner.
        if http.originals.needs_scan() && clamd_unset {
            p.push(problem(
                "scan.clamd",
                &format!(
                    "http.originals = \"{}\" needs clamd's socket here",
                    http.originals.as_str()
                ),
            ));
        }
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
                portal,
                notify,
                carry_in,
            })
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// One of a fixed set of words; the first option stands in when the value is not one of them
/// (the problem is recorded, so the config is refused anyway).
pub(super) fn choice<T: Copy>(problems: &mut Vec<ConfigProblem>, key: &str, value: &str, options: &[(&str, T)]) -> T {
    if let Some((_, v)) = options.iter().find(|(word, _)| *word == value) {
        return *v;
    }
    let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
    problems.push(problem(key, &format!("`{value}` is not one of: {}", words.join(", "))));
    options[0].1
}

/// A name fit for an SMTP greeting or EHLO: no spaces or control characters that would
/// break a reply line.
pub(super) fn hostname(problems: &mut Vec<ConfigProblem>, key: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        problems.push(problem(key, "must be a host name (letters, digits, - and .)"));
    }
}

pub(super) fn problem(key: &str, message: &str) -> ConfigProblem {
    ConfigProblem {
        key: key.into(),
        message: message.into(),
    }
}

/// A secret given in the file itself, or where it lives: `env:NAME` (an environment
/// variable: a Kubernetes Secret as env, compose's `environment`) or `file:/path` (a mounted
/// Secret, systemd's `LoadCredential=` under `$CREDENTIALS_DIRECTORY`, whose `file:` path may
/// begin with `$CREDENTIALS_DIRECTORY`), so the configuration file itself can be a
/// ConfigMap that holds no secret. A file's trailing newline is not part of the value. What
/// cannot be read is a problem naming the key and the place, never the value.
pub(super) fn secret_value(problems: &mut Vec<ConfigProblem>, key: &str, value: Secret<String>) -> Secret<String> {
    let given = value.expose().trim();
    if let Some(name) = given.strip_prefix("env:") {
        return match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Secret::new(v.trim().to_owned()),
            _ => {
                problems.push(problem(key, &format!("the environment variable {name} is not set")));
                Secret::default()
            }
        };
    }
    if let Some(path) = given.strip_prefix("file:") {
        let path = match path.strip_prefix("$CREDENTIALS_DIRECTORY") {
            Some(rest) => format!("{}{rest}", std::env::var("CREDENTIALS_DIRECTORY").unwrap_or_default()),
            None => path.to_owned(),
        };
        return match std::fs::read_to_string(&path) {
            Ok(v) if !v.trim().is_empty() => Secret::new(v.trim_end_matches(['\r', '\n']).to_owned()),
            Ok(_) => {
                problems.push(problem(key, &format!("{path} is empty")));
                Secret::default()
            }
            Err(e) => {
                problems.push(problem(key, &format!("{path}: {e}")));
                Secret::default()
            }
        };
    }
    value
}

pub(super) fn range(problems: &mut Vec<ConfigProblem>, key: &str, value: u64, min: u64, max: u64) {
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
        assert_eq!(shipped.http.listeners, builtin.http.listeners);
        assert_eq!(shipped.carry_in, builtin.carry_in);
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
