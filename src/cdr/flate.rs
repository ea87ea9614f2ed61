//! Bounded inflate measurement: how many bytes a zlib/deflate stream expands to, counted
//! through a fixed-size buffer so that a decompression bomb costs CPU up to the budget and
//! never memory. Used by every sanitizer that keeps compressed data it does not re-encode.

use flate2::{Decompress, FlushDecompress, Status};

/// Size of the scratch buffer inflate writes into (the only memory the count uses).
const CHUNK: usize = 64 * 1024;

/// Result of measuring a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflated {
    /// The stream inflates to this many bytes (possibly a prefix, if it is corrupt after it).
    Within(u64),
    /// The stream would produce more than the budget.
    OverBudget,
}

/// Count the bytes that `data` inflates to, stopping as soon as `budget` is exceeded.
/// `zlib_header` selects zlib framing (PDF FlateDecode) or raw deflate (ZIP).
///
/// Corrupt data stops the count where decoding fails: viewers render such prefixes, so the
/// budget must cover what they would produce, and refusing them would reject many real
/// files whose streams lack a checksum.
pub fn inflated_len(data: &[u8], budget: u64, zlib_header: bool) -> Inflated {
    let mut z = Decompress::new(zlib_header);
    let mut scratch = vec![0u8; CHUNK];
    loop {
        let consumed = z.total_in() as usize;
        let input = data.get(consumed..).unwrap_or(&[]);
        let before_out = z.total_out();
        let status = z.decompress(input, &mut scratch, FlushDecompress::None);
        let produced = z.total_out() - before_out;
        if z.total_out() > budget {
            return Inflated::OverBudget;
        }
        match status {
            Ok(Status::StreamEnd) => return Inflated::Within(z.total_out()),
            Ok(_) if produced == 0 && z.total_in() as usize == consumed => {
                // No progress: truncated input or input exhausted.
                return Inflated::Within(z.total_out());
            }
            Ok(_) => {}
            Err(_) => return Inflated::Within(z.total_out()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn counts_exactly() {
        let z = zlib(&[7u8; 300_000]);
        assert_eq!(inflated_len(&z, 1 << 30, true), Inflated::Within(300_000));
    }

    #[test]
    fn stops_at_the_budget() {
        let z = zlib(&vec![0u8; 5_000_000]);
        assert_eq!(inflated_len(&z, 1_000_000, true), Inflated::OverBudget);
    }

    #[test]
    fn corrupt_and_truncated_streams_count_their_prefix() {
        let z = zlib(&[1u8; 100_000]);
        let truncated = &z[..z.len() / 2];
        assert!(matches!(inflated_len(truncated, 1 << 30, true), Inflated::Within(n) if n < 100_000));
        assert_eq!(inflated_len(b"not zlib at all", 1 << 30, true), Inflated::Within(0));
        assert_eq!(inflated_len(b"", 1 << 30, true), Inflated::Within(0));
    }
}
