//! TLS client settings for the servers mugai connects to (the shared ledger's PostgreSQL, the
//! portal's LDAP directory): rustls with the ring provider, always verifying — the server's
//! certificate must chain to the authorities in a configured PEM file, or else the system's,
//! and name the host. There is no "encrypt but trust anyone". A leaf: nothing of ours.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A verifying client configuration trusting the authorities in `ca_file` (PEM), or the
/// system's when there is none. `setting` names the configuration key to set when the system
/// has no authority (for the error).
pub fn verifying(ca_file: Option<&Path>, setting: &str) -> io::Result<Arc<ClientConfig>> {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let context = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
            let pem = std::fs::read(path).map_err(|e| io::Error::new(e.kind(), context(&e)))?;
            let mut found = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, context(&e)))?;
                roots
                    .add(cert)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, context(&e)))?;
                found += 1;
            }
            if found == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: no PEM certificate", path.display()),
                ));
            }
        }
        None => {
            let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no system certificate authority to verify the server with (set {setting})"),
                ));
            }
        }
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
