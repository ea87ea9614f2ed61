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
    InflateCounter::default().count(data, budget, zlib_header)
}

/// A reusable counter: keeps its scratch buffer and inflate state between streams, so a
/// document with thousands of small streams does not allocate and zero them thousands of times.
pub struct InflateCounter {
    scratch: Vec<u8>,
    zlib: Decompress,
    raw: Decompress,
}

impl Default for InflateCounter {
    fn default() -> Self {
        InflateCounter {
            scratch: vec![0u8; CHUNK],
            zlib: Decompress::new(true),
            raw: Decompress::new(false),
        }
    }
}

impl InflateCounter {
    /// See [`inflated_len`].
    pub fn count(&mut self, data: &[u8], budget: u64, zlib_header: bool) -> Inflated {
        let z = if zlib_header { &mut self.zlib } else { &mut self.raw };
        z.reset(zlib_header);
        count_with(z, &mut self.scratch, data, budget)
    }
}

fn count_with(z: &mut Decompress, scratch: &mut [u8], data: &[u8], budget: u64) -> Inflated {
    loop {
        let consumed = z.total_in() as usize;
        let input = data.get(consumed..).unwrap_or(&[]);
        let before_out = z.total_out();
        let status = z.decompress(input, scratch, FlushDecompress::None);
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
    fn a_reused_counter_starts_fresh_each_time() {
        let mut c = InflateCounter::default();
        let z = zlib(&[7u8; 300_000]);
        assert_eq!(
            c.count(&z[..z.len() / 3], 1 << 30, true),
            c.count(&z[..z.len() / 3], 1 << 30, true)
        );
        assert_eq!(c.count(&z, 1 << 30, true), Inflated::Within(300_000));
        assert_eq!(c.count(&z, 1 << 30, true), Inflated::Within(300_000));
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
