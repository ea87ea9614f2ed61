//! `[http.listeners.NAME]`: where the HTTP side listens, by network side. Each listener has an
//! address, an optional TLS certificate and key (PEM files, read again on SIGHUP), and the
//! route groups it serves — `api` (file-exchange systems: `/v1/...`, `/openapi.json`,
//! `/metrics`), `portal` (the LGWAN side: recipient page, approvers, admin console) and
//! `carry_in` (the internet side: the upload page of the carry-in box). A group a listener
//! does not serve answers 404 there. Without any listener configured there is one,
//! `serve.http_listen`, serving every group in plain HTTP, as before listeners existed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{problem, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    /// IP:port.
    listen: String,
    /// PEM certificate chain and key; both or neither.
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
    /// Route groups: any of `api`, `portal`, `carry_in`.
    serve: Vec<String>,
    /// Plain HTTP on a non-loopback address for pages with sign-in, because TLS ends at a
    /// proxy in front: said explicitly, never assumed.
    #[serde(default)]
    plain_http: bool,
}

/// The route groups a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteGroups {
    /// `/v1/...`, `/openapi.json`, `/metrics`: file-exchange systems and monitoring.
    pub api: bool,
    /// `/o/...`, `/approvals`, `/admin`: the LGWAN-side pages.
    pub portal: bool,
    /// `/carry-in`: the internet-side upload page.
    pub carry_in: bool,
}

impl RouteGroups {
    pub const ALL: RouteGroups = RouteGroups {
        api: true,
        portal: true,
        carry_in: true,
    };

    /// The groups' names, for logs.
    pub fn names(self) -> Vec<&'static str> {
        [(self.api, "api"), (self.portal, "portal"), (self.carry_in, "carry_in")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect()
    }
}

/// One HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub listen: SocketAddr,
    /// Certificate chain and key files, when the listener speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub groups: RouteGroups,
    /// The default listener (no `[http.listeners]`): the carry-in box only when configured.
    pub implicit: bool,
}

/// The listeners of `[http.listeners]`, or the one default on `http_listen`.
pub(super) fn validate(
    problems: &mut Vec<ConfigProblem>,
    raw: BTreeMap<String, RawListener>,
    http_listen: SocketAddr,
) -> Vec<Listener> {
    if raw.is_empty() {
        return vec![Listener {
            name: "default".into(),
            listen: http_listen,
            tls: None,
            groups: RouteGroups {
                carry_in: false,
                ..RouteGroups::ALL
            },
            implicit: true,
        }];
    }
    let mut listeners: Vec<Listener> = Vec::new();
    for (name, l) in raw {
        let key = format!("http.listeners.{name}");
        let listen = l.listen.parse().unwrap_or_else(|_| {
            problems.push(problem(
                &format!("{key}.listen"),
                &format!("`{}` is not an IP:port socket address", l.listen),
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        if listeners
            .iter()
            .any(|other| other.listen == listen && listen.port() != 0)
        {
            problems.push(problem(&format!("{key}.listen"), "another listener has this address"));
        }
        let tls = match (l.tls_cert, l.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                problems.push(problem(&key, "tls_cert and tls_key go together"));
                None
            }
        };
        let mut groups = RouteGroups::default();
        for g in &l.serve {
            match g.as_str() {
                "api" => groups.api = true,
                "portal" => groups.portal = true,
                "carry_in" => groups.carry_in = true,
                other => problems.push(problem(
                    &format!("{key}.serve"),
                    &format!("`{other}` is not a route group (api, portal, carry_in)"),
                )),
            }
        }
        // Passwords (sign-in, held ZIPs) must not cross a network in clear: a listener with
        // pages, reachable from elsewhere, speaks TLS unless TLS is said to end in front.
        if (groups.portal || groups.carry_in) && tls.is_none() && !listen.ip().is_loopback() && !l.plain_http {
            problems.push(problem(
                &key,
                "serves sign-in pages in plain HTTP on a non-loopback address: give it tls_cert and \
                 tls_key, or set plain_http = true when TLS ends at a proxy in front",
            ));
        }
        if groups == RouteGroups::default() {
            problems.push(problem(&format!("{key}.serve"), "names no route group"));
        }
        // The carry-in page faces the internet, the portal the LGWAN: one listener serving
        // both would put the LGWAN pages on the internet side.
        if groups.carry_in && groups.portal {
            problems.push(problem(
                &format!("{key}.serve"),
                "carry_in (internet side) and portal (LGWAN side) need listeners of their own",
            ));
        }
        listeners.push(Listener {
            name,
            listen,
            tls,
            groups,
            implicit: false,
        });
    }
    listeners
}

/// Whether every listener serving a group speaks TLS (then its cookies are `Secure`); false
/// when no listener serves it.
pub fn all_tls(listeners: &[Listener], serves: impl Fn(RouteGroups) -> bool) -> bool {
    let mut serving = listeners.iter().filter(|l| serves(l.groups)).peekable();
    serving.peek().is_some() && serving.all(|l| l.tls.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(listen: &str, tls: bool, serve: &[&str]) -> RawListener {
        RawListener {
            listen: listen.into(),
            tls_cert: tls.then(|| "c.pem".into()),
            tls_key: tls.then(|| "k.pem".into()),
            serve: serve.iter().map(|s| s.to_string()).collect(),
            plain_http: false,
        }
    }

    #[test]
    fn default_and_sides() {
        let mut p = Vec::new();
        let default = validate(&mut p, BTreeMap::new(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(default.len(), 1);
        assert!(default[0].implicit && default[0].groups.portal && !default[0].groups.carry_in);
        assert!(p.is_empty());
        let two = BTreeMap::from([
            ("lgwan".to_string(), raw("10.0.0.1:443", true, &["api", "portal"])),
            ("internet".to_string(), raw("192.0.2.1:443", true, &["carry_in"])),
        ]);
        let l = validate(&mut p, two, "127.0.0.1:8080".parse().unwrap());
        assert!(p.is_empty(), "{p:?}");
        assert!(all_tls(&l, |g| g.portal) && all_tls(&l, |g| g.carry_in));
        let mixed = BTreeMap::from([
            ("one".to_string(), raw("10.0.0.1:443", false, &["portal", "carry_in"])),
            ("two".to_string(), raw("10.0.0.1:443", false, &["nothing"])),
        ]);
        validate(&mut p, mixed, "127.0.0.1:8080".parse().unwrap());
        let clear = BTreeMap::from([
            ("pages".to_string(), raw("10.0.0.1:80", false, &["portal"])),
            ("api".to_string(), raw("10.0.0.2:80", false, &["api"])),
        ]);
        validate(&mut p, clear, "127.0.0.1:8080".parse().unwrap());
        let mut proxied = raw("10.0.0.1:80", false, &["portal"]);
        proxied.plain_http = true;
        validate(
            &mut p,
            BTreeMap::from([("proxied".to_string(), proxied)]),
            "127.0.0.1:8080".parse().unwrap(),
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http.listeners.one",
                "http.listeners.one.serve",
                "http.listeners.two.listen",
                "http.listeners.two.serve",
                "http.listeners.two.serve",
                "http.listeners.pages"
            ]
        );
    }
}
