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
    /// The next hop that receives the rebuilt mail (Postfix re-injection listener): an
    /// address or a host name (a container's service name), with the port.
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
    pub next_hop: NextHop,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
}

impl RawServe {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> Serve {
        let next_hop = NextHop::parse(&self.next_hop).unwrap_or_else(|| {
            problems.push(problem(
                "serve.next_hop",
                &format!(
                    "`{}` is not host:port (an address or a host name, and a port)",
                    self.next_hop
                ),
            ));
            NextHop {
                host: "127.0.0.1".into(),
                port: 10026,
            }
        });
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
            next_hop,
            http_listen: addr("serve.http_listen", &self.http_listen),
            data_dir: self.data_dir,
        };
        if serve.data_dir.as_os_str().is_empty() {
            problems.push(problem("serve.data_dir", "must not be empty"));
        }
        serve
    }
}

/// Where rebuilt mail goes: `host:port`, the host an IP address (`[::1]` for IPv6) or a name
/// looked up at each connection (a compose or Kubernetes service name, whose addresses may
/// change while the daemon runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// The host without brackets.
    pub host: String,
    pub port: u16,
}

impl NextHop {
    pub fn parse(text: &str) -> Option<NextHop> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Some(NextHop {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let (host, port) = text.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
        // A DNS name: letters, digits, '-', '.', '_' (as service names have), 253 at most.
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        name_ok.then(|| NextHop {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for NextHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NextHop;

    #[test]
    fn next_hops_are_addresses_or_names_with_a_port() {
        let hop = |s: &str| NextHop::parse(s).map(|h| (h.host.clone(), h.port, h.to_string()));
        assert_eq!(
            hop("127.0.0.1:10026"),
            Some(("127.0.0.1".into(), 10026, "127.0.0.1:10026".into()))
        );
        assert_eq!(hop("[::1]:25"), Some(("::1".into(), 25, "[::1]:25".into())));
        assert_eq!(
            hop("postfix:10026"),
            Some(("postfix".into(), 10026, "postfix:10026".into()))
        );
        assert_eq!(
            hop("mta.mail.svc.cluster.local:10026").map(|h| h.0),
            Some("mta.mail.svc.cluster.local".into())
        );
        for bad in [
            "postfix",
            "postfix:",
            "postfix:0",
            "postfix:70000",
            ":25",
            "a b:25",
            "::1:25",
            "x/y:25",
        ] {
            assert_eq!(hop(bad), None, "{bad}");
        }
    }
}
