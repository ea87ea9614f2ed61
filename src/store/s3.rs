//! The shared blob store of scale-out: originals and clean copies in an S3-compatible bucket
//! (AWS S3, MinIO, Ceph RGW, a prefecture cloud's object storage), behind the same
//! [`OriginalStore`] trait as the local folder. The only file that knows object_store.
//!
//! Keys are content addresses under an optional prefix (`mugai/ab/abcd…`), so two instances
//! writing the same attachment write the same object, and a write is never partial (S3 makes
//! an object visible only once it is whole). Large blobs go up in parts (multipart upload),
//! so a 40 MB original is never one request. Credentials come from the configuration or the
//! usual `AWS_*` environment variables and are never printed: [`S3Config`]'s `Debug` shows
//! the secret as `Secret(..)`.
//!
//! Uses `bridge` (object_store is asynchronous; the trait is blocking).

use std::io;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};

use super::blobs::{is_address, OriginalStore};
use super::bridge::Bridge;
pub use crate::config::S3Config;

/// Blobs from this size go up in parts.
const MULTIPART_FROM: usize = 16 << 20;
/// Size of each part (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 << 20;

/// Blobs as objects in a bucket.
pub struct S3Blobs {
    store: std::sync::Arc<AmazonS3>,
    prefix: Option<String>,
    bridge: Bridge,
}

impl S3Blobs {
    pub fn open(config: &S3Config) -> io::Result<Self> {
        // reqwest is built without a crypto provider of its own: ring, as for STARTTLS.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        // A bucket that does not answer fails the call within seconds, as a database would:
        // the mail is then refused with a temporary error and Postfix tries again, where
        // object_store's defaults (ten retries over three minutes) would hold every session.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let mut client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let certificates = object_store::Certificate::from_pem_bundle(&pem).map_err(object_error)?;
            if certificates.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: no PEM certificate", path.display()),
                ));
            }
            for certificate in certificates {
                client = client.with_root_certificate(certificate);
            }
        }
        // The client options first: they replace every client setting, `allow_http` too.
        let mut builder = AmazonS3Builder::from_env()
            .with_client_options(client)
            .with_retry(retry)
            .with_bucket_name(&config.bucket)
            .with_allow_http(config.allow_http)
            // The request is signed, its body not hashed into the signature: TLS (required
            // but on loopback) already keeps the body intact, as AWS's own SDKs do over
            // HTTPS, and hashing every original again cost a SHA-256 pass per upload.
            .with_unsigned_payload(true);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        // By their documented names (the key enum's encryption variants are not public).
        for (name, value) in [
            ("aws_server_side_encryption", &config.server_side_encryption),
            ("aws_sse_kms_key_id", &config.kms_key_id),
        ] {
            if let Some(value) = value {
                let key: AmazonS3ConfigKey = name.parse().map_err(object_error)?;
                builder = builder.with_config(key, value);
            }
        }
        let store = builder.build().map_err(object_error)?;
        Ok(S3Blobs {
            store: std::sync::Arc::new(store),
            prefix: config.prefix.clone().filter(|p| !p.is_empty()),
            bridge: Bridge::new("mugai-s3")?,
        })
    }

    /// The key of an address; `None` for anything that is not 64 lowercase hex digits.
    fn key(&self, address: &str) -> Option<Path> {
        if !is_address(address) {
            return None;
        }
        let key = match &self.prefix {
            Some(prefix) => format!("{prefix}/{}/{address}", &address[..2]),
            None => format!("{}/{address}", &address[..2]),
        };
        Some(Path::from(key))
    }

    fn call<T: Send + 'static>(
        &self,
        call: impl std::future::Future<Output = io::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        self.bridge
            .wait_for(call)
            .map_err(|_| io::Error::other("the blob store's runtime stopped"))?
    }
}

fn object_error(e: object_store::Error) -> io::Error {
    // object_store's messages name the key and the server's answer, never the credentials.
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("object store: {e}"))
}

fn bad_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a blob address")
}

impl OriginalStore for S3Blobs {
    fn put_addressed(&self, bytes: &[u8], address: &str) -> io::Result<()> {
        let key = self.key(address).ok_or_else(bad_address)?;
        let store = self.store.clone();
        // One copy into shared bytes: the payload must outlive this call's borrow.
        let bytes = bytes::Bytes::copy_from_slice(bytes);
        self.call(async move {
            if bytes.len() < MULTIPART_FROM {
                // One request, not a lookup and then a write: create unless it exists
                // (`If-None-Match: *`). A store that ignores the condition overwrites the
                // object with the same bytes (the key is their hash), which is as good.
                let create = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                return match store.put_opts(&key, PutPayload::from(bytes), create).await {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                    Err(e) => Err(object_error(e)),
                };
            }
            // A large one is looked up first: uploading it again in parts costs more.
            match store.head(&key).await {
                Ok(meta) if meta.size == bytes.len() as u64 => return Ok(()),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(object_error(e)),
            }
            let upload = store.put_multipart(&key).await.map_err(object_error)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            writer.put(bytes);
            writer.finish().await.map_err(object_error)?;
            Ok(())
        })
    }

    fn get(&self, address: &str) -> io::Result<Vec<u8>> {
        let key = self.key(address).ok_or_else(bad_address)?;
        let store = self.store.clone();
        self.call(async move {
            let object = store.get(&key).await.map_err(object_error)?;
            Ok(object.bytes().await.map_err(object_error)?.to_vec())
        })
    }

    /// Whether the bucket answers (`/readyz`): a missing key is an answer.
    fn reachable(&self) -> bool {
        let store = self.store.clone();
        let probe = self.key(&"0".repeat(64));
        self.call(async move {
            match probe {
                Some(key) => match store.head(&key).await {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(true),
                    Err(_) => Ok(false),
                },
                None => Ok(false),
            }
        })
        .unwrap_or(false)
    }

    fn remove(&self, address: &str) -> io::Result<()> {
        let key = self.key(address).ok_or_else(bad_address)?;
        let store = self.store.clone();
        self.call(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(object_error(e)),
            }
        })
    }
}
