//! Reading ZIP containers (archives and Office packages) within budget: opening with the
//! entry-count limit, finding encrypted entries before any is opened (the zip crate refuses
//! to open one without a password, which would otherwise read as "malformed"), and reading
//! one entry with a hard cap so that a lying header never expands past the limit.
//!
//! Stored and deflated entries are inflated here, from the input's bytes, rather than through
//! the zip crate's reader, so that the read also proves whether the entry's compressed stream
//! may be copied into a rebuilt container as it is ([`RawStream`]): only when it inflates to
//! exactly the bytes read, its CRC matches, and it ends exactly at its compressed size
//! (nothing hidden after the last deflate block).

use std::io::{Cursor, Read};

use flate2::{Decompress, FlushDecompress, Status};

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

/// How a copyable stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// An entry's compressed stream, proven to hold exactly the entry's bytes: where it lies in
/// the input, how it is compressed, and the CRC and size of what it inflates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStream {
    pub method: Method,
    pub start: usize,
    pub end: usize,
    pub crc32: u32,
    pub size: u64,
}

impl RawStream {
    /// The compressed bytes, from the input the stream was read from.
    pub fn bytes<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input.get(self.start..self.end).unwrap_or_default()
    }
}

/// One entry read: its bytes, and its stream when that may be copied as it is.
pub struct Entry {
    pub data: Vec<u8>,
    pub raw: Option<RawStream>,
}

/// Read entry `i` of `zip` (over `input`), at most `cap` bytes; `Ok(None)` when it holds more.
/// Stored and deflated entries are inflated from the input's bytes (and may come with a
/// [`RawStream`]); an encrypted entry or another method goes through the zip crate's reader,
/// which decrypts or refuses it.
pub fn read_entry(zip: &mut Zip<'_>, input: &[u8], i: usize, cap: u64, name: &str) -> Result<Option<Entry>, Refusal> {
    let malformed = |e: zip::result::ZipError| Refusal::Malformed(format!("ZIP entry {name}: {e}"));
    let (method, start, csize, size, crc) = {
        let raw = zip.by_index_raw(i).map_err(malformed)?;
        let method = match raw.compression() {
            _ if raw.encrypted() => None,
            zip::CompressionMethod::Stored => Some(Method::Stored),
            zip::CompressionMethod::Deflated => Some(Method::Deflated),
            _ => None,
        };
        (method, raw.data_start(), raw.compressed_size(), raw.size(), raw.crc32())
    };
    let stream = start
        .and_then(|s| usize::try_from(s).ok())
        .zip(usize::try_from(csize).ok())
        .and_then(|(s, n)| Some((s, s.checked_add(n)?)))
        .filter(|&(_, end)| end <= input.len());
    let (Some(method), Some((start, end))) = (method, stream) else {
        let mut entry = zip.by_index(i).map_err(malformed)?;
        return Ok(read_capped(&mut entry, cap, size, name)?.map(|data| Entry { data, raw: None }));
    };
    let compressed = &input[start..end];
    let (data, exact_end) = match method {
        Method::Stored if csize > cap => return Ok(None),
        Method::Stored => (compressed.to_vec(), true),
        Method::Deflated => {
            match inflate(compressed, cap, size).map_err(|e| Refusal::Malformed(format!("ZIP entry {name}: {e}")))? {
                Some(read) => read,
                None => return Ok(None),
            }
        }
    };
    let mut hasher = flate2::Crc::new();
    hasher.update(&data);
    if hasher.sum() != crc {
        return Err(Refusal::Malformed(format!(
            "ZIP entry {name}: CRC does not match its bytes"
        )));
    }
    let copyable = exact_end && data.len() as u64 == size;
    let raw = copyable.then_some(RawStream {
        method,
        start,
        end,
        crc32: crc,
        size,
    });
    Ok(Some(Entry { data, raw }))
}

/// Inflate a raw deflate stream into at most `cap` bytes: `None` when it holds more, and with
/// the bytes whether the stream ended exactly at the end of `src`.
fn inflate(src: &[u8], cap: u64, size_hint: u64) -> Result<Option<(Vec<u8>, bool)>, String> {
    // Reading goes one byte past the cap, to tell "exactly the cap" from "more".
    let limit = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    let first = usize::try_from(size_hint.min(cap).min(1 << 24))
        .unwrap_or(0)
        .saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(first.min(limit));
    let mut d = Decompress::new(false);
    loop {
        if out.len() >= limit {
            return Ok(None);
        }
        if out.len() == out.capacity() {
            // Growth is bounded by what is left under the cap (`decompress_vec` writes into
            // the spare capacity only).
            out.reserve_exact(out.len().clamp(64 * 1024, 1 << 24).min(limit - out.len()));
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let consumed = usize::try_from(in_before).map_or(src.len(), |n| n.min(src.len()));
        let status = d
            .decompress_vec(&src[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| format!("inflate: {e}"))?;
        match status {
            Status::StreamEnd if out.len() >= limit => return Ok(None),
            Status::StreamEnd => return Ok(Some((out, d.total_in() == src.len() as u64))),
            Status::Ok | Status::BufError => {
                let stuck = d.total_in() == in_before && d.total_out() == out_before;
                if stuck && out.len() < out.capacity() {
                    return Err("the deflate stream ends before its last block".into());
                }
            }
        }
    }
}

/// Whether a local header's extra field is empty or only the padding Office leaves for
/// saving in place (the "growth hint": id 0xA220, signature 0xA028, the padding's intended
/// size, then zero bytes) — nothing but zeros a reader skips.
fn growth_hint_or_nothing(extra: &[u8]) -> bool {
    match extra {
        [] => true,
        [0x20, 0xa2, l0, l1, 0x28, 0xa0, _, _, padding @ ..] => {
            usize::from(u16::from_le_bytes([*l0, *l1])) == extra.len() - 4 && padding.iter().all(|&b| b == 0)
        }
        _ => false,
    }
}

/// General purpose flags a container handed back as it is may have: deflate's speed hints
/// (bits 1, 2) and UTF-8 names (bit 11). Not encryption, data descriptors or the rest.
const PLAIN_FLAGS: u16 = (1 << 1) | (1 << 2) | (1 << 11);

/// Whether `input` holds nothing but `entries` — (name, the stream it was proven to hold),
/// as [`super::zipwrite::ZipOut::copies`] lists them — so that a rebuild which copied every
/// entry may give back the input itself: local headers one after another from the first
/// byte, each with its entry's name, method, CRC and sizes and no extra field, each stream
/// right after its header; then the central directory, entry for entry in the same order and
/// agreeing with the local headers, with no extra field or comment; then the end record,
/// without a comment, at the very end. No byte of the input is left unaccounted for.
pub fn holds_only(input: &[u8], entries: &[(Vec<u8>, RawStream)]) -> bool {
    let u16_at = |at: usize| super::le::u16_at(input, at);
    let u32_at = |at: usize| super::le::u32_at(input, at);
    let mut in_file_order: Vec<&(Vec<u8>, RawStream)> = entries.iter().collect();
    in_file_order.sort_by_key(|(_, raw)| raw.start);
    let fields_agree = |at: usize, (name, raw): &(Vec<u8>, RawStream)| {
        let method = match raw.method {
            Method::Stored => 0,
            Method::Deflated => 8,
        };
        u16_at(at).is_some_and(|f| f & !PLAIN_FLAGS == 0)
            && u16_at(at + 2) == Some(method)
            && u32_at(at + 8) == Some(raw.crc32)
            && u32_at(at + 12).map(u64::from) == Some((raw.end - raw.start) as u64)
            && u32_at(at + 16).map(u64::from) == Some(raw.size)
            && u16_at(at + 20) == Some(name.len() as u16)
    };
    // The local headers and streams, from the first byte.
    let mut at = 0usize;
    let mut headers = Vec::with_capacity(entries.len());
    for entry @ (name, raw) in &in_file_order {
        let name_at = at + 30;
        let extra_at = name_at + name.len();
        let extra = u16_at(at + 28).and_then(|n| input.get(extra_at..extra_at + usize::from(n)));
        if u32_at(at) != Some(0x0403_4b50)
            || !fields_agree(at + 6, entry)
            || !extra.is_some_and(growth_hint_or_nothing)
            || input.get(name_at..extra_at) != Some(name.as_slice())
            || raw.start != extra_at + extra.map_or(0, <[u8]>::len)
        {
            return false;
        }
        headers.push(at);
        at = raw.end;
    }
    // The central directory, in the same order, then the end record.
    let directory_at = at;
    for (entry, &header) in in_file_order.iter().zip(&headers) {
        let (name, _) = entry;
        let name_at = at + 46;
        if u32_at(at) != Some(0x0201_4b50)
            || !fields_agree(at + 8, entry)
            || u16_at(at + 30) != Some(0)
            || u16_at(at + 32) != Some(0)
            || u16_at(at + 34) != Some(0)
            || u32_at(at + 42).map(|o| o as usize) != Some(header)
            || input.get(name_at..name_at + name.len()) != Some(name.as_slice())
        {
            return false;
        }
        at = name_at + name.len();
    }
    let count = u16::try_from(entries.len()).ok();
    u32_at(at) == Some(0x0605_4b50)
        && u16_at(at + 4) == Some(0)
        && u16_at(at + 6) == Some(0)
        && u16_at(at + 8) == count
        && u16_at(at + 10) == count
        && u32_at(at + 12).map(|n| n as usize) == Some(at - directory_at)
        && u32_at(at + 16).map(|n| n as usize) == Some(directory_at)
        && u16_at(at + 20) == Some(0)
        && at + 22 == input.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::zipwrite::ZipOut;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A one-entry ZIP whose stream is `stream` (in a buffer of its own), declared to hold
    /// `data`.
    fn zip_of(stream: &[u8], data: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let raw = RawStream {
            method: Method::Deflated,
            start: 0,
            end: stream.len(),
            crc32: crc.sum(),
            size: data.len() as u64,
        };
        let mut out = ZipOut::with_capacity(0);
        out.raw("word/styles.xml", stream, raw).unwrap();
        out.finish().unwrap()
    }

    fn read(zip: &[u8], cap: u64) -> Result<Option<Entry>, Refusal> {
        let mut z = open(zip, 10)?;
        read_entry(&mut z, zip, 0, cap, "word/styles.xml")
    }

    /// A one-entry ZIP written by hand: a stored `a.xml` with `extra` in its local header,
    /// `cd_extra` in its central directory entry and `comment` as the archive's comment.
    fn by_hand(extra: &[u8], cd_extra: &[u8], comment: &[u8]) -> Vec<u8> {
        let (name, data) = (b"a.xml", b"<a/>");
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let le16 = |z: &mut Vec<u8>, n: usize| z.extend_from_slice(&(n as u16).to_le_bytes());
        let le32 = |z: &mut Vec<u8>, n: u32| z.extend_from_slice(&n.to_le_bytes());
        let mut z = Vec::new();
        le32(&mut z, 0x0403_4b50);
        for n in [20, 0, 0, 0, 0] {
            le16(&mut z, n);
        }
        for n in [crc.sum(), 4, 4] {
            le32(&mut z, n);
        }
        le16(&mut z, name.len());
        le16(&mut z, extra.len());
        z.extend_from_slice(name);
        z.extend_from_slice(extra);
        z.extend_from_slice(data);
        let directory = z.len();
        le32(&mut z, 0x0201_4b50);
        for n in [20, 20, 0, 0, 0, 0] {
            le16(&mut z, n);
        }
        for n in [crc.sum(), 4, 4] {
            le32(&mut z, n);
        }
        for n in [name.len(), cd_extra.len(), 0, 0, 0] {
            le16(&mut z, n);
        }
        le32(&mut z, 0);
        le32(&mut z, 0);
        z.extend_from_slice(name);
        z.extend_from_slice(cd_extra);
        let directory_len = z.len() - directory;
        le32(&mut z, 0x0605_4b50);
        for n in [0, 0, 1, 1] {
            le16(&mut z, n);
        }
        le32(&mut z, directory_len as u32);
        le32(&mut z, directory as u32);
        le16(&mut z, comment.len());
        z.extend_from_slice(comment);
        z
    }

    /// Whether `zip` holds nothing but its entries, as a rebuild that copied each would ask.
    fn holds_only_its_entries(zip: &[u8]) -> bool {
        let Ok(mut z) = open(zip, 10) else { return false };
        let entries: Vec<_> = (0..z.len())
            .map(|i| {
                let name = z.by_index_raw(i).unwrap().name_raw().to_vec();
                let raw = read_entry(&mut z, zip, i, 1 << 20, "entry")
                    .unwrap()
                    .unwrap()
                    .raw
                    .unwrap();
                (name, raw)
            })
            .collect();
        holds_only(zip, &entries)
    }

    #[test]
    fn a_container_of_its_entries_only_is_told_from_one_with_more() {
        // Ours, and by hand with Office's growth hint (zeros a reader skips).
        let mut ours = ZipOut::with_capacity(0);
        ours.deflated("[Content_Types].xml", b"<Types/>", 6).unwrap();
        ours.stored("word/media/a.png", b"not really a picture").unwrap();
        let ours = ours.finish().unwrap();
        assert!(holds_only_its_entries(&ours));
        let mut hint = vec![0x20, 0xa2, 12, 0, 0x28, 0xa0, 0, 2];
        hint.extend_from_slice(&[0; 8]);
        assert!(holds_only_its_entries(&by_hand(&[], &[], &[])));
        assert!(holds_only_its_entries(&by_hand(&hint, &[], &[])));
        // Anything more: a byte in the hint's padding, another extra field, an extra field
        // or comment in the directory, an archive comment, a byte before or after.
        let mut marked = hint.clone();
        marked[12] = b'!';
        assert!(!holds_only_its_entries(&by_hand(&marked, &[], &[])));
        assert!(!holds_only_its_entries(&by_hand(&[0x55, 0x54, 1, 0, 1], &[], &[])));
        assert!(!holds_only_its_entries(&by_hand(&[], &[0x55, 0x54, 1, 0, 1], &[])));
        assert!(!holds_only_its_entries(&by_hand(&[], &[], b"hello")));
        let mut after = ours.clone();
        after.push(0);
        assert!(!holds_only_its_entries(&after));
        // Not every entry listed: the container holds more than the rebuild copied.
        let mut z = open(&ours, 10).unwrap();
        let one = read_entry(&mut z, &ours, 0, 1 << 20, "e")
            .unwrap()
            .unwrap()
            .raw
            .unwrap();
        assert!(!holds_only(&ours, &[(b"[Content_Types].xml".to_vec(), one)]));
        assert!(!holds_only(&ours, &[(b"[Content_Types].XML".to_vec(), one)]));
    }

    #[test]
    fn an_exact_stream_is_copyable() {
        let data = b"<w:styles/>".repeat(100);
        let zip = zip_of(&deflate(&data), &data);
        let entry = read(&zip, 1 << 20).unwrap().unwrap();
        assert_eq!(entry.data, data);
        assert!(entry.raw.is_some());
    }

    #[test]
    fn bytes_after_the_last_block_make_a_stream_not_copyable() {
        let data = b"<w:styles/>".repeat(100);
        let mut stream = deflate(&data);
        stream.extend_from_slice(b"<script>hidden after the end of the stream</script>");
        let zip = zip_of(&stream, &data);
        let entry = read(&zip, 1 << 20).unwrap().unwrap();
        assert_eq!(entry.data, data, "the entry reads as what it inflates to");
        assert!(
            entry.raw.is_none(),
            "its stream must not be copied with what hides after it"
        );
    }

    #[test]
    fn a_wrong_crc_or_a_cut_stream_is_refused() {
        let data = b"<w:styles/>".repeat(100);
        let zip = zip_of(&deflate(&data), b"something else");
        assert!(matches!(read(&zip, 1 << 20), Err(Refusal::Malformed(m)) if m.contains("CRC")));
        let stream = deflate(&data);
        let zip = zip_of(&stream[..stream.len() / 2], &data);
        assert!(matches!(read(&zip, 1 << 20), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn a_lying_size_stops_at_the_cap() {
        let data = vec![b'a'; 1 << 20];
        let zip = zip_of(&deflate(&data), b"tiny");
        assert!(read(&zip, 4096).unwrap().is_none());
        // At a cap it fits, it is read in full and refused on its CRC.
        assert!(read(&zip, 1 << 20).is_err());
    }
}
