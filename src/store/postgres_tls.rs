//! TLS to the shared ledger's PostgreSQL server, by rustls (the provider and crate the SMTP
//! side already uses), behind tokio-postgres's connector traits.
//!
//! Always verifying: the server's certificate must chain to a trusted authority — the one in
//! `store.postgres.ca_file`, or else the system's — and name the host connected to (libpq's
//! `verify-full`). There is no "encrypt but trust anyone": a ledger server that anyone on
//! the path can impersonate would be told every original's name and link.
//!
//! Uses: tokio-postgres's `tls` traits, tokio-rustls, `tls_client` (the verifying settings).

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

/// Makes a verifying TLS session for each connection.
#[derive(Clone)]
pub struct Verifying {
    config: Arc<ClientConfig>,
}

impl Verifying {
    /// Trust the authorities in `ca_file` (PEM), or the system's when there is none.
    pub fn new(ca_file: Option<&Path>) -> io::Result<Verifying> {
        Ok(Verifying {
            config: crate::tls_client::verifying(ca_file, "store.postgres.ca_file")?,
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for Verifying {
    type Stream = Session<S>;
    type TlsConnect = Handshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Handshake> {
        let name = rustls_pki_types::ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{domain}: {e}")))?;
        Ok(Handshake {
            config: self.config.clone(),
            name,
        })
    }
}

/// One connection's handshake, with the name its certificate must carry.
pub struct Handshake {
    config: Arc<ClientConfig>,
    name: rustls_pki_types::ServerName<'static>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Handshake {
    type Stream = Session<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Session<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = TlsConnector::from(self.config).connect(self.name, stream).await?;
            Ok(Session(tls))
        })
    }
}

/// An established TLS session with the server.
pub struct Session<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Session<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM's channel binding needs the certificate's own signature hash; without it the
        // ordinary SCRAM exchange runs, inside the verified session.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Session<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Session<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
