//! Request bodies on their way in. A body is kept in memory when the daemon's body budget
//! (`http.body_memory_bytes`, shared by every request) has room for its declared length;
//! otherwise it is streamed to an unlinked file under `<data_dir>/spool/` and read back only
//! when the budget has room again. So many slow or waiting uploads cost disk, not memory:
//! without this, 32 queued 100 MB uploads (plus every upload still arriving) would all sit in
//! RAM beside the engine's own working set.
//!
//! The budget is taken before a worker permit and held until the request ends; a request
//! that holds a worker permit never waits for the budget, so the two cannot deadlock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::report::{hex, Digest256};
use crate::store::Store;

/// Budget accounting is in KiB, so one permit count covers bodies up to 4 TiB.
const UNIT: u64 = 1024;
/// A body of unknown length (chunked) is buffered this far before it goes to the spool.
const UNKNOWN_LENGTH_BUFFER: usize = 64 * 1024;
/// Spool writes are batched to this size (one blocking-pool trip each).
const WRITE_BATCH: usize = 256 * 1024;

/// Bytes of request bodies the daemon holds in memory at once, all requests together.
pub struct Budget {
    permits: Arc<Semaphore>,
    units: u32,
}

impl Budget {
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).max(1);
        Budget {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Units for `len` bytes; a body larger than the whole budget takes all of it (it is
    /// admitted alone rather than never).
    fn units_for(&self, len: u64) -> u32 {
        u32::try_from(len.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units)
    }

    fn try_take(&self, len: u64) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_many_owned(self.units_for(len)).ok()
    }

    async fn take(&self, len: u64) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits
            .clone()
            .acquire_many_owned(self.units_for(len))
            .await
            .map_err(|_| ApiError::busy())
    }

    /// Bytes of budget free now (for `/metrics` and tests).
    pub fn available_bytes(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }
}

/// A received body with its SHA-256 (computed frame by frame as it arrived, while each frame
/// was hot in cache): in memory (holding its share of the budget) or in a spool file.
pub struct Received {
    place: Place,
    digest: Digest256,
}

enum Place {
    Memory(Bytes, OwnedSemaphorePermit),
    Spooled(File, u64),
}

/// A body in memory, its digest, and the budget share it holds; dropped together.
pub struct InMemory {
    pub bytes: Bytes,
    pub digest: Digest256,
    _budget: Option<OwnedSemaphorePermit>,
}

impl Received {
    /// Whether the body went to disk.
    pub fn spooled(&self) -> bool {
        matches!(self.place, Place::Spooled(..))
    }

    /// The body in memory, waiting for budget first if it was spooled.
    pub async fn load(self, budget: &Budget) -> Result<InMemory, ApiError> {
        let digest = self.digest;
        match self.place {
            Place::Memory(bytes, permit) => Ok(InMemory {
                bytes,
                digest,
                _budget: Some(permit),
            }),
            Place::Spooled(mut file, len) => {
                let permit = budget.take(len).await?;
                let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                    file.seek(SeekFrom::Start(0))?;
                    let mut buffer = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                    file.read_to_end(&mut buffer)?;
                    Ok(buffer)
                })
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
                Ok(InMemory {
                    bytes: Bytes::from(bytes),
                    digest,
                    _budget: Some(permit),
                })
            }
        }
    }
}

/// Read a whole request body, or 413 past `limit` (checked against Content-Length before
/// anything is read, and again as bytes arrive).
pub async fn receive(body: Body, limit: u64, budget: &Budget, store: &Store) -> Result<Received, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the file is larger than http.max_body_bytes ({limit} bytes)"),
        )
    };
    let declared = http_body::Body::size_hint(&body).upper();
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = body;
    let mut received: u64 = 0;
    // Known length with room in the budget: one buffer, sized once.
    let permit = declared.and_then(|n| budget.try_take(n));
    let mut buffer = Vec::with_capacity(match (&permit, declared) {
        (Some(_), Some(n)) => usize::try_from(n).unwrap_or(0),
        _ => UNKNOWN_LENGTH_BUFFER.min(usize::try_from(declared.unwrap_or(u64::MAX)).unwrap_or(usize::MAX)),
    });
    let mut spool: Option<File> = None;
    let mut hasher = Sha256::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| unreadable())?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len() as u64;
        if received > limit {
            return Err(too_large());
        }
        // Hash, then copy: the copy reads what the hash just brought into cache.
        hasher.update(&data);
        buffer.extend_from_slice(&data);
        if permit.is_some() {
            continue;
        }
        let threshold = if spool.is_some() {
            WRITE_BATCH
        } else {
            UNKNOWN_LENGTH_BUFFER
        };
        if buffer.len() >= threshold {
            let file = match spool.take() {
                Some(file) => file,
                None => store.spool_file().map_err(ApiError::internal)?,
            };
            let batch = std::mem::replace(&mut buffer, Vec::with_capacity(WRITE_BATCH));
            spool = Some(write(file, batch).await?);
        }
    }
    let digest = Digest256 {
        size: received,
        sha256: hex(&hasher.finalize()),
    };
    let place = match (spool, permit) {
        (Some(file), _) => Place::Spooled(write(file, buffer).await?, received),
        (None, Some(permit)) => Place::Memory(Bytes::from(buffer), permit),
        // A short body of unknown length: it is in memory already; account for it.
        (None, None) => Place::Memory(Bytes::from(buffer), budget.take(received).await?),
    };
    Ok(Received { place, digest })
}

async fn write(mut file: File, batch: Vec<u8>) -> Result<File, ApiError> {
    tokio::task::spawn_blocking(move || file.write_all(&batch).map(|()| file))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

fn unreadable() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_body",
        "the request body could not be read",
    )
}
