//! The clamd client asked before an original is released under `http.originals =
//! "after_scan"`: the bytes go to clamd with `zINSTREAM` (length-prefixed chunks, then a zero
//! length) over its Unix or TCP socket, and its one-line answer decides.
//!
//! Anything but a clear `OK` is not clean: a signature found, an `ERROR` line (clamd's size
//! limit, say), no answer within the timeout, a closed socket. The caller refuses to release
//! on all of them (fail closed) and tells them apart only in what it says.
//!
//! May use: `config`, leaves.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{ClamdAddress, ScanConfig};

/// What clamd said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// A signature matched; its name as clamd gave it.
    Infected(String),
}

impl Verdict {
    /// As kept with a request and shown to the approver: `clean`, `infected: <signature>`.
    pub fn text(&self) -> String {
        match self {
            Verdict::Clean => "clean".into(),
            Verdict::Infected(signature) => format!("infected: {signature}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("no scanner is configured (scan.clamd)")]
    NotConfigured,
    #[error("clamd: {0}")]
    Io(#[from] std::io::Error),
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("clamd refused the scan: {0}")]
    Refused(String),
}

/// Chunks sent to clamd; well under its default `StreamMaxLength` chunking.
const CHUNK: usize = 64 * 1024;
/// clamd's answer is one short line; anything longer is not clamd.
const MAX_REPLY: usize = 4096;

/// Scan `bytes` with the configured clamd.
pub async fn scan(config: &ScanConfig, bytes: &[u8]) -> Result<Verdict, ScanError> {
    let address = config.clamd.as_ref().ok_or(ScanError::NotConfigured)?;
    let work = async {
        match address {
            ClamdAddress::Unix(path) => {
                #[cfg(unix)]
                {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    instream(stream, bytes).await
                }
                #[cfg(not(unix))]
                {
                    let _ = path;
                    Err(ScanError::NotConfigured)
                }
            }
            ClamdAddress::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                instream(stream, bytes).await
            }
        }
    };
    tokio::time::timeout(config.timeout, work)
        .await
        .map_err(|_| ScanError::Timeout(config.timeout))?
}

/// The INSTREAM exchange on a connected stream.
async fn instream<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, bytes: &[u8]) -> Result<Verdict, ScanError> {
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in bytes.chunks(CHUNK) {
        // CHUNK fits in u32.
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::with_capacity(128);
    let mut limited = (&mut stream).take(MAX_REPLY as u64);
    limited.read_to_end(&mut reply).await?;
    parse_reply(&reply)
}

/// `stream: OK`, `stream: NAME FOUND`, or `... ERROR` (NUL-terminated in `z` mode).
fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanError> {
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    let line = String::from_utf8_lossy(&reply[..end]);
    let line = line.trim();
    let body = line.strip_prefix("stream:").map(str::trim).unwrap_or(line);
    if body == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(name.trim().to_string()))
    } else if body.is_empty() {
        Err(ScanError::Refused("no answer".into()))
    } else {
        Err(ScanError::Refused(body.chars().take(200).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_strictly() {
        assert_eq!(parse_reply(b"stream: OK\0").unwrap(), Verdict::Clean);
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature FOUND\0").unwrap(),
            Verdict::Infected("Eicar-Test-Signature".into())
        );
        assert!(matches!(
            parse_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Err(ScanError::Refused(_))
        ));
        assert!(matches!(parse_reply(b""), Err(ScanError::Refused(_))));
        // "OK" somewhere else in a line is not a clean verdict.
        assert!(parse_reply(b"stream: NOT OK\0").is_err());
    }

    #[tokio::test]
    async fn the_stream_is_chunked_and_terminated() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let payload = vec![7u8; CHUNK + 10];
        let sent = payload.clone();
        let peer = tokio::spawn(async move {
            let mut cmd = [0u8; 10];
            server.read_exact(&mut cmd).await.unwrap();
            assert_eq!(&cmd, b"zINSTREAM\0");
            let mut got = Vec::new();
            loop {
                let mut len = [0u8; 4];
                server.read_exact(&mut len).await.unwrap();
                let len = u32::from_be_bytes(len) as usize;
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                server.read_exact(&mut chunk).await.unwrap();
                got.extend(chunk);
            }
            server.write_all(b"stream: OK\0").await.unwrap();
            drop(server);
            got
        });
        assert_eq!(instream(client, &payload).await.unwrap(), Verdict::Clean);
        assert_eq!(peer.await.unwrap(), sent);
    }
}
