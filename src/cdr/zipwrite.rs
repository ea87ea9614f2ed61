//! Writing rebuilt ZIP containers (Office packages and archives): entries deflated from our
//! bytes, stored as they are, streamed through the deflater, or copied as a compressed stream
//! [`super::zipread`] proved to hold exactly the entry's bytes.
//!
//! Written here rather than by the zip crate's writer because a raw copy through the crate
//! carries the source entry's extra fields, comment and timestamp into the output; here an
//! entry is only its name and its bytes. Output is deterministic: every entry dated
//! 1980-01-01 00:00, Unix mode 0644, no extra fields, no comments, the UTF-8 flag on
//! non-ASCII names. No ZIP64: an output past 4 GiB or 65,535 entries is refused (the limits
//! keep inputs far below).

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::zipread::{Method, RawStream};
use super::Refusal;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
/// 1980-01-01 in MS-DOS date format (the earliest a ZIP can say).
const DOS_DATE: u16 = (1 << 5) | 1;
const VERSION_NEEDED: u16 = 20;
/// Made by Unix (3), specification 2.0: the external attributes hold a Unix mode.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// A regular file, mode 0644.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;
/// General purpose flag bit 11: the name is UTF-8.
const UTF8_NAME: u16 = 1 << 11;

/// Whether entries that come out as they went in are copied as their compressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copying {
    /// The compressed stream of an unchanged entry is copied (proven by
    /// [`super::zipread::read_entry`]).
    Raw,
    /// Every entry is compressed again (the differential tests' reference path).
    #[cfg_attr(not(test), allow(dead_code))]
    Recompress,
}

fn too_large() -> Refusal {
    Refusal::LimitExceeded {
        limit: "limits.max_decompressed_bytes",
        detail: "the rebuilt container would need ZIP64 (over 4 GiB or 65,535 entries)".into(),
    }
}

fn u32_of(n: u64) -> Result<u32, Refusal> {
    u32::try_from(n).ok().filter(|&n| n != u32::MAX).ok_or_else(too_large)
}

/// One entry's fields for the central directory.
struct Written {
    name: Vec<u8>,
    method: u16,
    crc32: u32,
    compressed: u32,
    size: u32,
    offset: u32,
}

/// A ZIP being written into memory.
pub struct ZipOut {
    buf: Vec<u8>,
    entries: Vec<Written>,
    /// Every entry so far as (name, the input's stream it copies); `None` once one was not a
    /// copy. With [`super::zipread::holds_only`], tells whether the container is its input.
    copies: Option<Vec<(Vec<u8>, RawStream)>>,
}

impl ZipOut {
    pub fn with_capacity(bytes: usize) -> Self {
        ZipOut {
            buf: Vec::with_capacity(bytes),
            entries: Vec::new(),
            copies: Some(Vec::new()),
        }
    }

    /// An entry of `data`, deflated at `level` (0-9).
    pub fn deflated(&mut self, name: &str, data: &[u8], level: u32) -> Result<(), Refusal> {
        let mut w = self.start_deflated(name, level)?;
        w.write_all(data).map_err(io)?;
        w.finish()
    }

    /// An entry of `data` stored as it is (pictures that are compressed already).
    pub fn stored(&mut self, name: &str, data: &[u8]) -> Result<(), Refusal> {
        self.copies = None;
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let size = u32_of(data.len() as u64)?;
        let offset = self.local_header(name, 0)?;
        self.buf.extend_from_slice(data);
        self.close(name, offset, 0, crc.sum(), size, size)
    }

    /// An entry whose compressed stream is `raw` in `input`, copied as it is.
    pub fn raw(&mut self, name: &str, input: &[u8], raw: RawStream) -> Result<(), Refusal> {
        if let Some(copies) = &mut self.copies {
            copies.push((name.as_bytes().to_vec(), raw));
        }
        let bytes = raw.bytes(input);
        let method = match raw.method {
            Method::Stored => 0,
            Method::Deflated => 8,
        };
        let offset = self.local_header(name, method)?;
        self.buf.extend_from_slice(bytes);
        self.close(
            name,
            offset,
            method,
            raw.crc32,
            u32_of(bytes.len() as u64)?,
            u32_of(raw.size)?,
        )
    }

    /// A deflated entry written through the returned writer; [`EntryWriter::finish`] ends it.
    pub fn start_deflated(&mut self, name: &str, level: u32) -> Result<EntryWriter<'_>, Refusal> {
        self.copies = None;
        let offset = self.local_header(name, 8)?;
        let data_start = self.buf.len();
        let encoder = DeflateEncoder::new(std::mem::take(&mut self.buf), Compression::new(level.min(9)));
        Ok(EntryWriter {
            name: name.to_string(),
            offset,
            data_start,
            crc: flate2::Crc::new(),
            size: 0,
            encoder: Some(encoder),
            out: self,
        })
    }

    /// When every entry was copied from the input as its stream: each one's name and stream,
    /// in the order written.
    pub fn copies(&self) -> Option<&[(Vec<u8>, RawStream)]> {
        self.copies.as_deref()
    }

    /// The central directory and its end record; the finished container.
    pub fn finish(mut self) -> Result<Vec<u8>, Refusal> {
        let count = u16::try_from(self.entries.len())
            .ok()
            .filter(|&n| n != u16::MAX)
            .ok_or_else(too_large)?;
        let directory_at = u32_of(self.buf.len() as u64)?;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let b = &mut self.buf;
            put32(b, CENTRAL_HEADER);
            put16(b, VERSION_MADE_BY);
            put16(b, VERSION_NEEDED);
            put16(b, flags(&e.name));
            put16(b, e.method);
            put16(b, 0); // time 00:00
            put16(b, DOS_DATE);
            put32(b, e.crc32);
            put32(b, e.compressed);
            put32(b, e.size);
            put16(b, e.name.len() as u16);
            put16(b, 0); // extra field length
            put16(b, 0); // comment length
            put16(b, 0); // disk number
            put16(b, 0); // internal attributes
            put32(b, EXTERNAL_ATTRIBUTES);
            put32(b, e.offset);
            b.extend_from_slice(&e.name);
        }
        let directory_len = u32_of(self.buf.len() as u64 - u64::from(directory_at))?;
        let b = &mut self.buf;
        put32(b, END_OF_CENTRAL);
        put16(b, 0);
        put16(b, 0);
        put16(b, count);
        put16(b, count);
        put32(b, directory_len);
        put32(b, directory_at);
        put16(b, 0); // comment length
        Ok(self.buf)
    }

    /// Write a local header with the sizes and CRC to be filled in by [`ZipOut::close`];
    /// returns its offset.
    fn local_header(&mut self, name: &str, method: u16) -> Result<u32, Refusal> {
        let name = name.as_bytes();
        if name.len() > usize::from(u16::MAX) {
            return Err(Refusal::Malformed("a ZIP entry name longer than 65,535 bytes".into()));
        }
        let offset = u32_of(self.buf.len() as u64)?;
        let b = &mut self.buf;
        put32(b, LOCAL_HEADER);
        put16(b, VERSION_NEEDED);
        put16(b, flags(name));
        put16(b, method);
        put16(b, 0);
        put16(b, DOS_DATE);
        put32(b, 0); // CRC, sizes: filled in by `close`
        put32(b, 0);
        put32(b, 0);
        put16(b, name.len() as u16);
        put16(b, 0);
        b.extend_from_slice(name);
        Ok(offset)
    }

    fn close(
        &mut self,
        name: &str,
        offset: u32,
        method: u16,
        crc32: u32,
        compressed: u32,
        size: u32,
    ) -> Result<(), Refusal> {
        let at = offset as usize + 14;
        let fields = self
            .buf
            .get_mut(at..at + 12)
            .ok_or_else(|| Refusal::Internal("ZIP local header out of place".into()))?;
        fields[..4].copy_from_slice(&crc32.to_le_bytes());
        fields[4..8].copy_from_slice(&compressed.to_le_bytes());
        fields[8..].copy_from_slice(&size.to_le_bytes());
        self.entries.push(Written {
            name: name.as_bytes().to_vec(),
            method,
            crc32,
            compressed,
            size,
            offset,
        });
        Ok(())
    }
}

/// A deflated entry being written (see [`ZipOut::start_deflated`]).
pub struct EntryWriter<'a> {
    out: &'a mut ZipOut,
    name: String,
    offset: u32,
    data_start: usize,
    crc: flate2::Crc,
    size: u64,
    /// Deflates into the container's buffer, which it holds until [`EntryWriter::finish`].
    encoder: Option<DeflateEncoder<Vec<u8>>>,
}

impl EntryWriter<'_> {
    /// End the entry: the stream is flushed and the header filled in.
    pub fn finish(mut self) -> Result<(), Refusal> {
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| Refusal::Internal("ZIP entry finished twice".into()))?;
        self.out.buf = encoder.finish().map_err(io)?;
        let compressed = u32_of((self.out.buf.len() - self.data_start) as u64)?;
        let size = u32_of(self.size)?;
        let (name, offset, crc) = (std::mem::take(&mut self.name), self.offset, self.crc.sum());
        self.out.close(&name, offset, 8, crc, compressed, size)
    }
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| std::io::Error::other("ZIP entry already finished"))?;
        let n = encoder.write(data)?;
        self.crc.update(&data[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EntryWriter<'_> {
    /// An entry abandoned midway (its source failed) gives the buffer back, so the container
    /// is not left holding nothing; the caller refuses the file anyway.
    fn drop(&mut self) {
        if let Some(encoder) = self.encoder.take() {
            self.out.buf = encoder.finish().unwrap_or_default();
        }
    }
}

fn io(e: std::io::Error) -> Refusal {
    Refusal::Internal(format!("writing the container: {e}"))
}

fn flags(name: &[u8]) -> u16 {
    if name.is_ascii() {
        0
    } else {
        UTF8_NAME
    }
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    #[test]
    fn a_written_container_reads_back_with_the_zip_crate() {
        let mut out = ZipOut::with_capacity(0);
        out.deflated("a.xml", b"<a>hello hello hello</a>", 6).unwrap();
        out.stored("媒体/p.png", b"\x89PNG fake").unwrap();
        {
            let mut w = out.start_deflated("s.txt", 3).unwrap();
            for _ in 0..1000 {
                w.write_all(b"streamed ").unwrap();
            }
            w.finish().unwrap();
        }
        out.deflated("empty", b"", 6).unwrap();
        let bytes = out.finish().unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        assert_eq!(zip.len(), 4);
        let mut read = |name: &str| {
            let mut s = Vec::new();
            zip.by_name(name).unwrap().read_to_end(&mut s).unwrap();
            s
        };
        assert_eq!(read("a.xml"), b"<a>hello hello hello</a>");
        assert_eq!(read("媒体/p.png"), b"\x89PNG fake");
        assert_eq!(read("s.txt"), b"streamed ".repeat(1000));
        assert_eq!(read("empty"), b"");
    }

    #[test]
    fn a_proven_stream_is_copied_and_reads_the_same() {
        let mut first = ZipOut::with_capacity(0);
        first.deflated("doc.xml", &b"<w:p>text</w:p>".repeat(500), 6).unwrap();
        let first = first.finish().unwrap();
        let mut zip = super::super::zipread::open(&first, 10).unwrap();
        let entry = super::super::zipread::read_entry(&mut zip, &first, 0, 1 << 20, "doc.xml")
            .unwrap()
            .unwrap();
        let raw = entry.raw.expect("a stream written here is copyable");
        let mut second = ZipOut::with_capacity(0);
        second.raw("doc.xml", &first, raw).unwrap();
        assert_eq!(
            second.finish().unwrap(),
            first,
            "a copy of every entry is the same container"
        );
    }
}
