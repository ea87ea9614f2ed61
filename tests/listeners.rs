//! The HTTP side by network side (`[http.listeners]`), on the running daemon: three TLS
//! listeners — the API, the LGWAN-side portal, the internet-side carry-in box — each serving
//! only its route groups (404 for the others), checked by curl against the test CA; then the
//! certificate files are replaced and SIGHUP sent: new connections get the new certificate,
//! a connection opened before keeps working (and keeps the old one).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;

mod common;

/// curl over TLS checked against `ca`: the status code (0 when curl failed) and the headers.
fn curl(ca: &Path, port: u16, path: &str) -> (u16, String, i32) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl (the test command installs it)");
    let headers = String::from_utf8_lossy(&out.stdout).to_string();
    let code = headers
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, headers.to_ascii_lowercase(), out.status.code().unwrap_or(-1))
}

/// A TLS connection kept open (rustls, trusting `ca` only), for requests one after another.
struct KeptOpen {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl KeptOpen {
    fn open(ca: &Path, port: u16) -> KeptOpen {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
            roots.add(cert.expect("ca cert")).expect("root");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        KeptOpen {
            tls: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// `GET path` on this connection (keep-alive): the status and body.
    fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        write!(self.tls, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
        self.tls.flush().expect("flush");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.tls.read_exact(&mut byte).expect("answer on the open connection");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let status = head[9..12].parse().expect("status");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().expect("length"));
        let mut body = vec![0; length];
        self.tls.read_exact(&mut body).expect("body");
        (status, body)
    }

    /// The certificate the server presented at the handshake.
    fn server_certificate(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().expect("peer certificates")[0].to_vec()
    }
}

fn der_of(pem: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(pem)
        .expect("pem")
        .to_vec()
}

#[test]
fn three_listeners_each_serve_their_side_over_tls_and_a_certificate_reloads_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = common::certificates(&dir.path().join("first"));
    let second = common::certificates(&dir.path().join("second"));
    let (live_cert, live_key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(&first.cert, &live_cert).expect("cert");
    std::fs::copy(&first.key, &live_key).expect("key");
    let (api, portal, carry, smtp) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let tls = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        live_cert.display(),
        live_key.display()
    );
    let config = dir.path().join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nsmtp_listen = \"127.0.0.1:{smtp}\"\ndata_dir = \"{data}\"\n\
             [audit]\nlog = \"{data}/audit.jsonl\"\n\
             [http.listeners.api]\nlisten = \"127.0.0.1:{api}\"\n{tls}serve = [\"api\"]\n\
             [http.listeners.lgwan]\nlisten = \"127.0.0.1:{portal}\"\n{tls}serve = [\"portal\"]\n\
             [http.listeners.internet]\nlisten = \"127.0.0.1:{carry}\"\n{tls}serve = [\"carry_in\"]\n\
             [carry_in]\nmailbox_domains = [\"lgwan.example.jp\"]\n",
            data = dir.path().join("data").display(),
        ),
    )
    .expect("config");
    let mut daemon = common::spawn_serve(&config, smtp, Duration::from_secs(30));
    for port in [api, portal, carry] {
        common::wait_listening(port, "an HTTP listener", Duration::from_secs(10));
    }

    // Each listener serves its groups and answers 404 for the others; health everywhere.
    let cases: &[(u16, &str, u16)] = &[
        (api, "/v1/receipt-key", 200),
        (api, "/openapi.json", 200),
        (api, "/approvals", 404),
        (api, "/carry-in", 404),
        (api, "/healthz", 200),
        (portal, "/approvals", 200),
        (portal, "/admin/config", 303),
        (portal, "/v1/receipt-key", 404),
        (portal, "/metrics", 404),
        (portal, "/carry-in", 404),
        (portal, "/healthz", 200),
        (carry, "/carry-in", 200),
        (carry, "/approvals", 404),
        (carry, "/admin", 404),
        (carry, "/o/anything", 404),
        (carry, "/v1/receipt-key", 404),
        (carry, "/openapi.json", 404),
    ];
    for (port, path, want) in cases {
        let (code, headers, exit) = curl(&first.ca, *port, path);
        assert_eq!((code, exit), (*want, 0), "{path} on port {port}: {headers}");
        assert!(
            headers.contains("strict-transport-security: max-age=31536000"),
            "HSTS over TLS: {headers}"
        );
    }
    // Cookies set over TLS are Secure: the CSRF cookie of the pages.
    for port in [portal, carry] {
        let (_, headers, _) = curl(&first.ca, port, if port == portal { "/approvals" } else { "/carry-in" });
        let cookie = headers
            .lines()
            .find(|l| l.starts_with("set-cookie:"))
            .expect("a cookie");
        assert!(cookie.contains("; secure"), "{cookie}");
    }
    // The certificate is checked: against another CA, curl refuses (exit 60).
    assert_eq!(curl(&second.ca, api, "/healthz").2, 60);

    // A connection opened before the reload.
    let mut kept = KeptOpen::open(&first.ca, portal);
    assert_eq!(kept.get("/healthz"), (200, b"ok\n".to_vec()));
    assert_eq!(kept.server_certificate(), der_of(&first.cert));

    // The certificate is replaced in place and the daemon told.
    std::fs::copy(&second.cert, &live_cert).expect("cert");
    std::fs::copy(&second.key, &live_key).expect("key");
    let hup = Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let started = Instant::now();
    while curl(&second.ca, portal, "/healthz").0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the new certificate was not taken up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // New connections, on every listener, see the new certificate; the old CA fails now.
    for port in [api, portal, carry] {
        assert_eq!(curl(&second.ca, port, "/healthz").0, 200, "port {port}");
        assert_eq!(curl(&first.ca, port, "/healthz").2, 60, "port {port}");
    }
    // The connection opened before is not dropped, and keeps its certificate.
    assert_eq!(kept.get("/healthz"), (200, b"ok\n".to_vec()));
    assert_eq!(kept.get("/approvals").0, 200);
    assert_eq!(kept.server_certificate(), der_of(&first.cert));

    // A certificate that does not load leaves the one in force.
    std::fs::write(&live_cert, "not a certificate").expect("break");
    Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl(&second.ca, api, "/healthz").0, 200);

    let _ = daemon.kill();
    let _ = daemon.wait();
}
