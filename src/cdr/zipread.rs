//! Reading ZIP containers (archives and Office packages) within budget: opening with the
//! entry-count limit, finding encrypted entries before any is opened (the zip crate refuses
//! to open one without a password, which would otherwise read as "malformed"), and reading
//! one entry with a hard cap so that a lying header never expands past the limit.

use std::io::{Cursor, Read};

use super::Refusal;

/// A ZIP over the input bytes.
pub type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Open `input` as a ZIP with at most `max_entries` entries.
pub fn open(input: &[u8], max_entries: u64) -> Result<Zip<'_>, Refusal> {
    let zip = zip::ZipArchive::new(Cursor::new(input)).map_err(|e| Refusal::Malformed(format!("ZIP: {e}")))?;
    if zip.len() as u64 > max_entries {
        return Err(Refusal::LimitExceeded {
            limit: "limits.max_entries",
            detail: format!("{} entries, the limit is {max_entries}", zip.len()),
        });
    }
    Ok(zip)
}

/// Whether any entry is password-protected (ZipCrypto or AES).
pub fn any_encrypted(zip: &mut Zip<'_>) -> Result<bool, Refusal> {
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Refusal::Malformed(format!("ZIP entry {i}: {e}")))?;
        if entry.encrypted() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Read at most `cap` bytes of `entry`; `None` when it holds more (the caller names the limit).
pub fn read_capped(entry: impl Read, cap: u64, size_hint: u64, name: &str) -> Result<Option<Vec<u8>>, Refusal> {
    let mut data = Vec::with_capacity(usize::try_from(size_hint.min(cap).min(1 << 24)).unwrap_or(0));
    entry
        .take(cap.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| Refusal::Malformed(format!("ZIP entry {name}: {e}")))?;
    Ok((data.len() as u64 <= cap).then_some(data))
}
