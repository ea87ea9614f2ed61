//! `[serve]`: where the daemon listens, where mail goes next, where its data lives.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{problem, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawServe {
    /// Where the SMTP content filter listens (Postfix `content_filter` target).
    smtp_listen: String,
    /// The next hop that receives the rebuilt mail (Postfix re-injection listener).
    next_hop: String,
    /// Where the HTTP API and recipient page listen.
    http_listen: String,
    /// Data directory for originals (blobs) and the SQLite ledger.
    data_dir: PathBuf,
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

#[derive(Debug, Clone)]
pub struct Serve {
    pub smtp_listen: SocketAddr,
    pub next_hop: SocketAddr,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
}

impl RawServe {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> Serve {
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
            smtp_listen: addr("serve.smtp_listen", &self.smtp_listen),
            next_hop: addr("serve.next_hop", &self.next_hop),
            http_listen: addr("serve.http_listen", &self.http_listen),
            data_dir: self.data_dir,
        };
        if serve.data_dir.as_os_str().is_empty() {
            problems.push(problem("serve.data_dir", "must not be empty"));
        }
        serve
    }
}
