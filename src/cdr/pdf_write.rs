//! Writes the rebuilt PDF as it is built: each object is serialised the moment the rebuild
//! finishes it and then dropped.
//!
//! Why not build a `lopdf::Document` and save it: the new document would exist twice at the
//! end (as objects, then as bytes) beside the source, which for an object-heavy file costs
//! ~15 bytes of memory per output byte, and every stream would be copied once more. Here a
//! stream's bytes are copied once, into the output, and freed.
//!
//! The layout is the classic one (header, binary mark, `N 0 obj … endobj`, a cross-reference
//! table, trailer): every reader handles it, and it is cheap to write. Object bodies are
//! serialised by lopdf's own `Writer::write_object`, so escaping rules are not written twice.

use std::io::Write;

use lopdf::{Dictionary, Object, ObjectId, Writer};

use super::Refusal;

/// The output file under construction.
pub struct PdfOut {
    buf: Vec<u8>,
    /// Byte offset of each object by number; 0 for a number not written (no object can
    /// start at 0, the header is there). Eight bytes per object, not sixteen: on an
    /// object-heavy file this table is part of the peak memory.
    offsets: Vec<usize>,
}

impl PdfOut {
    /// Start a file with the `%PDF-` header for `version` and the binary-mark comment.
    /// `capacity` is the expected output size: reserving it up front avoids copying the
    /// whole output again each time the buffer would grow. `objects` is the expected number
    /// of objects, for the same reason.
    pub fn new(version: &str, capacity: usize, objects: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(b"%PDF-");
        buf.extend_from_slice(version.as_bytes());
        buf.extend_from_slice(b"\n%\xE2\xE3\xCF\xD3\n");
        PdfOut {
            buf,
            offsets: Vec::with_capacity(objects.saturating_add(1)),
        }
    }

    /// Write object `id` (generation 0 is the only one the rebuild allocates).
    pub fn put(&mut self, id: ObjectId, object: Object) -> Result<(), Refusal> {
        let n = id.0 as usize;
        if n == 0 {
            return Err(Refusal::Internal("object number 0".into()));
        }
        if self.offsets.len() <= n {
            self.offsets.resize(n + 1, 0);
        }
        if self.offsets[n] != 0 {
            return Err(Refusal::Internal(format!("object {n} written twice")));
        }
        self.offsets[n] = self.buf.len();
        // Writing into a Vec cannot fail; the `map_err`s are for the trait's signature.
        writeln!(self.buf, "{n} 0 obj").map_err(io_internal)?;
        Writer::write_object(&mut self.buf, &object).map_err(io_internal)?;
        self.buf.extend_from_slice(b"\nendobj\n");
        Ok(())
    }

    /// Write the cross-reference table and `trailer` (its `/Size` is set here) and return
    /// the file. `size` is one more than the highest object number allocated.
    pub fn finish(mut self, mut trailer: Dictionary, size: u32) -> Vec<u8> {
        let size = (size as usize).max(self.offsets.len()).max(1);
        self.offsets.resize(size, 0);
        let xref_at = self.buf.len();
        self.buf.reserve(size * 20 + 256);
        let _ = write!(self.buf, "xref\n0 {size}\n");
        for (n, offset) in self.offsets.iter().enumerate() {
            // Each entry is exactly 20 bytes, ending in space + LF. Numbers never written
            // (none in practice) are free, generation 65535 so they are never reused.
            let _ = match *offset {
                at if n > 0 && at > 0 => writeln!(self.buf, "{at:010} 00000 n "),
                _ => writeln!(self.buf, "0000000000 65535 f "),
            };
        }
        trailer.set("Size", size as i64);
        self.buf.extend_from_slice(b"trailer\n");
        let _ = Writer::write_object(&mut self.buf, &Object::Dictionary(trailer));
        let _ = write!(self.buf, "\nstartxref\n{xref_at}\n%%EOF\n");
        self.buf
    }
}

fn io_internal(e: std::io::Error) -> Refusal {
    Refusal::Internal(format!("serialising the rebuilt PDF failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xref_offsets_point_at_their_objects() {
        let mut out = PdfOut::new("1.7", 0, 0);
        out.put((2, 0), Object::Integer(7)).unwrap();
        out.put((1, 0), Object::Name(b"A B".to_vec())).unwrap();
        let mut trailer = Dictionary::new();
        trailer.set("Root", Object::Reference((1, 0)));
        let bytes = out.finish(trailer, 3);
        // Offsets are byte offsets; the binary mark is not UTF-8, so search the bytes.
        let at = |needle: &[u8], from: usize| bytes[from..].starts_with(needle);
        let startxref = bytes.windows(10).rposition(|w| w == b"startxref\n").unwrap();
        let number: String = bytes[startxref + 10..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        let xref_at: usize = number.parse().unwrap();
        assert!(at(b"xref\n0 3\n0000000000 65535 f \n", xref_at));
        let entry = |i: usize| -> usize {
            let start = xref_at + "xref\n0 3\n".len() + 20 * i;
            std::str::from_utf8(&bytes[start..start + 10]).unwrap().parse().unwrap()
        };
        assert!(at(b"1 0 obj\n/A#20B\nendobj", entry(1)));
        assert!(at(b"2 0 obj\n7\nendobj", entry(2)));
        assert!(bytes.windows(7).any(|w| w == b"/Size 3"));
        assert!(bytes.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn an_object_number_is_written_once() {
        let mut out = PdfOut::new("1.7", 0, 0);
        out.put((1, 0), Object::Null).unwrap();
        assert!(matches!(out.put((1, 0), Object::Null), Err(Refusal::Internal(_))));
    }
}
