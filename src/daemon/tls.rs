//! TLS server configuration from PEM files (ring; TLS 1.2 and 1.3) for the HTTP listeners and
//! SMTP STARTTLS. The certificate is read at start and again on SIGHUP ([`Certificate::reload`]):
//! a handshake asks for the certificate in force when it starts, so connections opened before
//! a reload keep theirs and every one after it gets the new one — no listener is closed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::rustls;
use tokio_rustls::rustls::sign::CertifiedKey;

/// A certificate chain and key from two PEM files, replaceable while serving.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Read `cert` and `key`; an error names the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificate>, String> {
        Ok(Arc::new(Certificate {
            current: RwLock::new(Arc::new(read(cert, key)?)),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    /// Read the files again; on an error the certificate in force stays (and the error is
    /// returned for the log).
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Arc::new(read(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// A TLS acceptor that presents this certificate as it is at each handshake.
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// The files, for logs.
    pub fn files(&self) -> String {
        format!("{} and {}", self.cert.display(), self.key.display())
    }
}

impl rustls::server::ResolvesServerCert for Certificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The chain and key, checked to belong together.
fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(certs, private, &provider())
        .map_err(|e| format!("{} with {}: {e}", cert.display(), key.display()))
}

/// The certificates the daemon presents (HTTP listeners, STARTTLS): each pair of files read
/// once however many listeners present it, and all read again by [`Certificates::reload`].
#[derive(Default)]
pub struct Certificates(Vec<Arc<Certificate>>);

impl Certificates {
    /// A TLS acceptor presenting the chain and key in these PEM files.
    pub fn acceptor(&mut self, cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
        let known = self.0.iter().find(|c| c.cert == cert && c.key == key).cloned();
        let certificate = match known {
            Some(c) => c,
            None => {
                let c = Certificate::load(cert, key)?;
                self.0.push(c.clone());
                c
            }
        };
        certificate.acceptor()
    }

    /// Read every certificate's files again (SIGHUP), each logged; one that does not load
    /// keeps the certificate in force.
    pub fn reload(&self) {
        for certificate in &self.0 {
            match certificate.reload() {
                Ok(()) => tracing::info!(files = %certificate.files(), "TLS certificate reloaded"),
                Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays"),
            }
        }
    }
}
