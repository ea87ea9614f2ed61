//! `[store]`: retention of originals, link lifetime, the link-signing key (a `Secret`), and
//! where originals and rows live: `backend = "embedded"` (the default: files and SQLite in
//! the data directory, no server) or `"shared"` (`[store.postgres]` and `[store.s3]`, for
//! several instances that must be one service).

use std::time::Duration;

use serde::Deserialize;

use super::{problem, range, secret_value, ConfigProblem};
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStore {
    /// Days originals and the ledger rows are kept.
    retention_days: u64,
    /// Hours a download link stays valid (never past retention).
    link_ttl_hours: u64,
    /// Key signing download links, hex, 32 bytes or more. Empty: a random key is made in
    /// `<data_dir>/link.key` on first start.
    link_key: Secret<String>,
    backend: String,
    /// Seconds an instance holds an accepted job without renewing it.
    job_lease_seconds: u64,
    postgres: RawPostgres,
    s3: RawS3,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            retention_days: 30,
            link_ttl_hours: 168,
            link_key: Secret::default(),
            backend: "embedded".into(),
            job_lease_seconds: 60,
            postgres: RawPostgres::default(),
            s3: RawS3::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPostgres {
    /// libpq-style (`host=db.example port=5432 user=mugai dbname=mugai password=…`) or a
    /// `postgresql://` URL. A `Secret`: it may hold the password.
    url: Secret<String>,
    connections: u64,
    /// PEM authorities for TLS to the server (TLS then required and verified).
    ca_file: std::path::PathBuf,
}

impl Default for RawPostgres {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            connections: 8,
            ca_file: std::path::PathBuf::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawS3 {
    bucket: String,
    endpoint: String,
    region: String,
    prefix: String,
    access_key_id: String,
    secret_access_key: Secret<String>,
    allow_http: bool,
    server_side_encryption: String,
    kms_key_id: String,
    ca_file: std::path::PathBuf,
}

/// Where the bucket is and how to reach it (`[store.s3]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `https://s3.example.lg.jp`; `None` for AWS itself (from `region`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Key prefix inside the bucket (`mugai`), so the bucket can hold other things.
    pub prefix: Option<String>,
    /// `None`: from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or the instance's role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret<String>>,
    /// Plain HTTP to the endpoint: only to a loopback endpoint (a test server).
    pub allow_http: bool,
    /// Server-side encryption: `AES256` or `aws:kms` (with `kms_key_id`).
    pub server_side_encryption: Option<String>,
    pub kms_key_id: Option<String>,
    /// PEM certificates of the authorities trusted for the endpoint besides the system's (an
    /// on-premises object store with a municipality's own CA).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Where originals and rows live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// Files and SQLite under the data directory.
    Embedded,
    /// PostgreSQL and an S3-compatible bucket, shared by several instances.
    Shared(Box<SharedStore>),
}

/// `[store.postgres]` and `[store.s3]` of a shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStore {
    pub postgres_url: Secret<String>,
    pub postgres_connections: usize,
    /// TLS to PostgreSQL, required and verified against these authorities (PEM).
    pub postgres_ca_file: Option<std::path::PathBuf>,
    pub s3: S3Config,
}

/// Originals and links (`store/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub retention: Duration,
    pub link_ttl: Duration,
    /// `None`: the key file in the data directory. Never printed (`Secret`).
    pub link_key: Option<Secret<Vec<u8>>>,
    /// How long a purged original's release request and decision are kept: the `[audit]`
    /// section's `retention_days`.
    pub record_retention: Duration,
    pub backend: StoreBackend,
    /// How long an accepted job is held without renewal (renewed every third of it).
    pub job_lease: Duration,
}

impl RawStore {
    /// `record_retention` comes from the `[audit]` section.
    pub(super) fn validate(mut self, problems: &mut Vec<ConfigProblem>, record_retention: Duration) -> StoreConfig {
        range(problems, "store.retention_days", self.retention_days, 1, 36_500);
        range(problems, "store.link_ttl_hours", self.link_ttl_hours, 1, 24 * 36_500);
        range(problems, "store.job_lease_seconds", self.job_lease_seconds, 5, 3_600);
        // Before anything reads them: a secret may live in the environment or a file.
        self.link_key = secret_value(problems, "store.link_key", self.link_key);
        self.postgres.url = secret_value(problems, "store.postgres.url", self.postgres.url);
        self.s3.secret_access_key = secret_value(problems, "store.s3.secret_access_key", self.s3.secret_access_key);
        let link_key = if self.link_key.expose().is_empty() {
            None
        } else {
            let key = crate::ids::parse_key(self.link_key.expose().trim());
            if key.is_none() {
                problems.push(problem("store.link_key", "must be hex, 32 bytes (64 digits) or more"));
            }
            key.map(Secret::new)
        };
        let backend = match self.backend.as_str() {
            "embedded" => StoreBackend::Embedded,
            "shared" => {
                if self.link_key.expose().trim().is_empty() {
                    // A key made by each instance would make every other instance's links
                    // invalid: the key is configuration, the same on all of them.
                    problems.push(problem(
                        "store.link_key",
                        "must be set when backend = \"shared\": every instance signs and checks links with the same key",
                    ));
                }
                if self.postgres.url.expose().trim().is_empty() {
                    problems.push(problem("store.postgres.url", "must be set when backend = \"shared\""));
                }
                range(
                    problems,
                    "store.postgres.connections",
                    self.postgres.connections,
                    1,
                    256,
                );
                let s3 = self.s3.validate(problems);
                StoreBackend::Shared(Box::new(SharedStore {
                    postgres_url: self.postgres.url,
                    postgres_connections: usize::try_from(self.postgres.connections).unwrap_or(8),
                    postgres_ca_file: Some(self.postgres.ca_file).filter(|p| !p.as_os_str().is_empty()),
                    s3,
                }))
            }
            other => {
                problems.push(problem(
                    "store.backend",
                    &format!("\"{other}\" is neither \"embedded\" nor \"shared\""),
                ));
                StoreBackend::Embedded
            }
        };
        StoreConfig {
            retention: Duration::from_secs(self.retention_days.saturating_mul(86_400)),
            link_ttl: Duration::from_secs(self.link_ttl_hours.saturating_mul(3_600)),
            link_key,
            record_retention,
            backend,
            job_lease: Duration::from_secs(self.job_lease_seconds),
        }
    }
}

impl RawS3 {
    fn validate(self, problems: &mut Vec<ConfigProblem>) -> S3Config {
        let some = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        if self.bucket.trim().is_empty() {
            problems.push(problem("store.s3.bucket", "must be set when backend = \"shared\""));
        }
        let endpoint = some(self.endpoint);
        if self.allow_http {
            // Originals cross to the bucket: in clear only to this machine.
            let loopback = endpoint.as_deref().is_some_and(|e| {
                let host = e.trim_start_matches("http://").split(['/', ':']).next().unwrap_or("");
                host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            });
            if !loopback {
                problems.push(problem(
                    "store.s3.allow_http",
                    "plain HTTP is allowed only to a loopback endpoint",
                ));
            }
        }
        let sse = self.server_side_encryption.trim();
        if !sse.is_empty() && sse != "AES256" && sse != "aws:kms" {
            problems.push(problem(
                "store.s3.server_side_encryption",
                "must be \"AES256\" or \"aws:kms\"",
            ));
        }
        S3Config {
            bucket: self.bucket.trim().to_owned(),
            endpoint,
            region: some(self.region),
            prefix: some(self.prefix),
            access_key_id: some(self.access_key_id),
            secret_access_key: Some(self.secret_access_key).filter(|s| !s.expose().is_empty()),
            allow_http: self.allow_http,
            server_side_encryption: some(self.server_side_encryption),
            kms_key_id: some(self.kms_key_id),
            ca_file: Some(self.ca_file).filter(|p| !p.as_os_str().is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, StoreBackend};

    const KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    fn problems(toml: &str) -> Vec<String> {
        match Config::from_toml(toml) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|p| p.key.clone()).collect(),
        }
    }

    #[test]
    fn the_default_is_embedded_and_shared_needs_its_servers_and_the_link_key() {
        assert_eq!(Config::default().store.backend, StoreBackend::Embedded);
        assert_eq!(
            problems("[store]\nbackend = \"shared\"\n"),
            ["store.link_key", "store.postgres.url", "store.s3.bucket"]
        );
        assert_eq!(problems("[store]\nbackend = \"cloud\"\n"), ["store.backend"]);
    }

    #[test]
    fn a_shared_store_reads_whole_and_shows_no_secret() {
        let toml = format!(
            "[store]\nbackend = \"shared\"\nlink_key = \"{KEY}\"\n\
             [store.postgres]\nurl = \"host=db user=mugai password=pg-pass-123\"\nconnections = 4\n\
             [store.s3]\nbucket = \"originals\"\nendpoint = \"https://s3.example.lg.jp\"\nregion = \"jp\"\n\
             secret_access_key = \"s3-secret-456\"\nserver_side_encryption = \"AES256\"\n"
        );
        let config = Config::from_toml(&toml).expect("valid");
        let StoreBackend::Shared(shared) = &config.store.backend else {
            panic!("not shared")
        };
        assert_eq!(shared.postgres_connections, 4);
        assert_eq!(shared.s3.bucket, "originals");
        assert_eq!(shared.s3.endpoint.as_deref(), Some("https://s3.example.lg.jp"));
        assert_eq!(shared.s3.server_side_encryption.as_deref(), Some("AES256"));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("pg-pass-123") && !shown.contains("s3-secret-456"),
            "{shown}"
        );
    }

    #[test]
    fn plain_http_to_the_bucket_only_on_loopback() {
        let base = format!(
            "[store]\nbackend = \"shared\"\nlink_key = \"{KEY}\"\n[store.postgres]\nurl = \"host=db\"\n\
             [store.s3]\nbucket = \"b\"\nallow_http = true\n"
        );
        assert_eq!(
            problems(&format!("{base}endpoint = \"http://s3.example.jp:9000\"\n")),
            ["store.s3.allow_http"]
        );
        assert!(problems(&format!("{base}endpoint = \"http://127.0.0.1:9000\"\n")).is_empty());
        assert!(problems(&format!("{base}endpoint = \"http://localhost:9000/\"\n")).is_empty());
        assert_eq!(
            problems(&format!(
                "{base}endpoint = \"http://127.0.0.1:9000\"\nserver_side_encryption = \"rot13\"\n"
            )),
            ["store.s3.server_side_encryption"]
        );
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file_and_their_absence_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("link_key");
        std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
        // A variable only this test sets (tests run in threads of one process).
        std::env::set_var("MUGAI_TEST_PG_URL_7f3a", "host=db user=mugai password=from-env");
        let toml = format!(
            "[store]\nbackend = \"shared\"\nlink_key = \"file:{}\"\n\
             [store.postgres]\nurl = \"env:MUGAI_TEST_PG_URL_7f3a\"\n[store.s3]\nbucket = \"b\"\n",
            key_file.display()
        );
        let config = Config::from_toml(&toml).expect("valid");
        assert_eq!(config.store.link_key.as_ref().map(|k| k.expose().len()), Some(32));
        let StoreBackend::Shared(shared) = &config.store.backend else {
            panic!("not shared")
        };
        assert_eq!(shared.postgres_url.expose(), "host=db user=mugai password=from-env");
        let missing = format!(
            "[store]\nbackend = \"shared\"\nlink_key = \"file:{}/nothing\"\n\
             [store.postgres]\nurl = \"env:MUGAI_TEST_UNSET_VARIABLE_7f3a\"\n[store.s3]\nbucket = \"b\"\n\
             secret_access_key = \"env:MUGAI_TEST_UNSET_VARIABLE_7f3a\"\n",
            dir.path().display()
        );
        let Err(errors) = Config::from_toml(&missing) else {
            panic!("accepted")
        };
        let keys: Vec<&str> = errors.0.iter().map(|p| p.key.as_str()).collect();
        assert!(
            keys.contains(&"store.link_key") && keys.contains(&"store.postgres.url"),
            "{keys:?}"
        );
        assert!(keys.contains(&"store.s3.secret_access_key"), "{keys:?}");
        let shown = format!("{errors}");
        assert!(
            shown.contains("MUGAI_TEST_UNSET_VARIABLE_7f3a") && shown.contains("nothing"),
            "{shown}"
        );
    }
}
