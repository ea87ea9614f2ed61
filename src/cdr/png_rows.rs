//! The proof that a PNG's image data is exactly its pixels: the zlib stream cut into the IDAT
//! chunks inflates to exactly the rows the header declares, each starting with a filter type
//! 0-4, and ends (Adler-32 included) at the end of the last chunk. A picture that passes is
//! kept as it is ([`super::image`]); anything else is decoded and encoded again.
//!
//! Inflated by `fdeflate` (the `png` crate's inflater, safe Rust) through a fixed window of
//! 288 KiB, so a picture of any size costs no more memory; the memo picture of the office
//! profile (768 KB of rows) takes 1.3 ms here against 2.0 ms through zlib-rs, whose stream
//! keeps its own copy of the window. zlib-rs stays as the reference: the two must agree on
//! every stream (the unit tests, and the `png_rows` fuzz target through [`check_rows_agree`]).
//!
//! A leaf: uses nothing of ours.

/// Back-references reach this far, so this much of the output is kept when the window slides.
const REACH: usize = 32 * 1024;
/// Output inflated per call, after the kept reach.
const STEP: usize = 256 * 1024;

/// Whether the zlib stream cut into `pieces` inflates to exactly the `rows` (count, bytes
/// each with the filter byte) with a filter type 0-4 at the start of each, and ends at the end
/// of the last piece.
pub(super) fn rows_exact(pieces: &[&[u8]], rows: &[(u64, u64)]) -> bool {
    let expected: u64 = rows.iter().map(|&(n, len)| n.saturating_mul(len)).sum();
    let mut filters = Filters::new(rows);
    let mut d = fdeflate::Decompressor::new();
    let mut window = vec![0u8; REACH + STEP];
    // `window[..filled]` is output; `window[0]` is output byte `base`.
    let (mut base, mut filled) = (0u64, 0usize);
    let mut adler = simd_adler32::Adler32::new();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let mut at = 0;
        loop {
            if filled == window.len() {
                window.copy_within(filled - REACH.., 0);
                base += (filled - REACH) as u64;
                filled = REACH;
            }
            let Ok((used, wrote)) = d.read(&piece[at..], &mut window, filled, i == last) else {
                return false;
            };
            at += used;
            let new = &window[filled..filled + wrote];
            adler.write(new);
            if base + (filled + wrote) as u64 > expected || !filters.check(base + filled as u64, new) {
                return false;
            }
            filled += wrote;
            if d.is_done() {
                // fdeflate reads ahead into its bit buffer, so "all input used" does not by
                // itself rule out a few bytes after the stream's Adler-32, which it checked:
                // those same four bytes must also be the last of the data.
                let ends_with_checksum = i == last && last_four(pieces) == Some(adler.finish().to_be_bytes());
                return at == piece.len() && ends_with_checksum && base + filled as u64 == expected;
            }
            if at == piece.len() && filled < window.len() {
                break; // this piece is used up; the stream goes on in the next
            }
            if used == 0 && wrote == 0 && filled < window.len() {
                return false;
            }
        }
    }
    false
}

/// The last four bytes of the pieces together (a chunk may hold fewer).
fn last_four(pieces: &[&[u8]]) -> Option<[u8; 4]> {
    let mut tail = pieces.iter().rev().flat_map(|p| p.iter().rev()).copied();
    let (d, c, b, a) = (tail.next()?, tail.next()?, tail.next()?, tail.next()?);
    Some([a, b, c, d])
}

/// Where the next row's filter byte falls, as the output goes by.
struct Filters<'a> {
    plan: std::slice::Iter<'a, (u64, u64)>,
    current: Option<(u64, u64)>,
    /// Output offset of the current pass's first row, rows of it seen, the next filter byte.
    run_start: u64,
    rows_seen: u64,
    next: u64,
}

impl<'a> Filters<'a> {
    fn new(rows: &'a [(u64, u64)]) -> Self {
        let mut plan = rows.iter();
        let current = plan.by_ref().copied().find(|&(n, _)| n > 0);
        Filters {
            plan,
            current,
            run_start: 0,
            rows_seen: 0,
            next: 0,
        }
    }

    /// Whether every filter byte within `bytes` (output bytes from offset `from`) is 0-4.
    fn check(&mut self, from: u64, bytes: &[u8]) -> bool {
        let end = from + bytes.len() as u64;
        while let Some((count, len)) = self.current {
            if self.next >= end {
                break;
            }
            if bytes[(self.next - from) as usize] > 4 {
                return false;
            }
            self.rows_seen += 1;
            if self.rows_seen == count {
                self.run_start += count * len;
                self.rows_seen = 0;
                self.current = self.plan.by_ref().copied().find(|&(n, _)| n > 0);
                self.next = self.run_start;
            } else {
                self.next += len;
            }
        }
        true
    }
}

/// The proof as it was written before, on zlib-rs (flate2): the reference the tests and the
/// `png_rows` fuzz target hold [`rows_exact`] against.
fn rows_exact_reference(pieces: &[&[u8]], rows: &[(u64, u64)]) -> bool {
    let expected: u64 = rows.iter().map(|&(n, len)| n * len).sum();
    let mut filters = Filters::new(rows);
    let mut d = flate2::Decompress::new(true);
    let mut scratch = vec![0u8; 64 * 1024];
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let mut at = 0;
        loop {
            let before = (d.total_in(), d.total_out());
            let Ok(status) = d.decompress(&piece[at..], &mut scratch, flate2::FlushDecompress::None) else {
                return false;
            };
            at += (d.total_in() - before.0) as usize;
            if d.total_out() > expected {
                return false;
            }
            let new = &scratch[..(d.total_out() - before.1) as usize];
            if !filters.check(before.1, new) {
                return false;
            }
            if status == flate2::Status::StreamEnd {
                return i == last && at == piece.len() && d.total_out() == expected;
            }
            if at == piece.len() && d.total_out() - before.1 < scratch.len() as u64 {
                break;
            }
            if (d.total_in(), d.total_out()) == before {
                return false;
            }
        }
    }
    false
}

/// For the `png_rows` fuzz target: panic unless [`rows_exact`] and the zlib-rs reference give
/// the same answer. The first bytes of `data` choose the row length, whether the rest is
/// deflated as rows (filter bytes made valid or not, one byte of the stream changed or not)
/// or taken as a stream as it is, and where the stream is cut into chunks.
#[doc(hidden)]
pub fn check_rows_agree(data: &[u8]) {
    use std::io::Write;
    let [len, how, cut, at, rest @ ..] = data else { return };
    let len = u64::from(*len) + 1;
    let count = rest.len() as u64 / len;
    let rows = [(count.max(1), len)];
    let stream = if how & 1 == 1 {
        let mut pixels = rest[..(count * len) as usize].to_vec();
        if how & 2 == 2 {
            for row in pixels.chunks_mut(len as usize) {
                row[0] %= 5;
            }
        }
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(u32::from(how >> 4) % 10));
        let _ = e.write_all(&pixels);
        let mut z = e.finish().unwrap_or_default();
        if how & 4 == 4 && !z.is_empty() {
            let i = usize::from(*at) * z.len() / 256;
            z[i] ^= how | 1;
        }
        if how & 8 == 8 {
            z.extend_from_slice(&rest[..rest.len().min(3)]);
        }
        z
    } else {
        rest.to_vec()
    };
    let pieces: Vec<&[u8]> = stream.chunks(usize::from(*cut) * 64 + 1).collect();
    assert_eq!(
        rows_exact(&pieces, &rows),
        rows_exact_reference(&pieces, &rows),
        "the PNG row proof and its zlib-rs reference disagree"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(data: &[u8], level: u32) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Rows of a noisy picture (literals, short matches) with filter types 0-4.
    fn picture_rows(count: u64, len: u64, seed: u32) -> Vec<u8> {
        let mut x = seed;
        let mut out = Vec::new();
        for r in 0..count {
            out.push((r % 5) as u8);
            for c in 1..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                out.push(if c % 7 < 3 { (x >> 24) as u8 } else { (c % 251) as u8 });
            }
        }
        out
    }

    fn both(pieces: &[&[u8]], rows: &[(u64, u64)]) -> bool {
        let ours = rows_exact(pieces, rows);
        assert_eq!(ours, rows_exact_reference(pieces, rows), "the two proofs disagree");
        ours
    }

    #[test]
    fn a_whole_stream_is_proven_however_it_is_cut() {
        let rows = [(700u64, 1201u64)];
        let data = picture_rows(700, 1201, 7);
        for level in [0, 1, 6, 9] {
            let z = zlib(&data, level);
            for cut in [z.len(), 8192, 1000, 7] {
                let pieces: Vec<&[u8]> = z.chunks(cut).collect();
                assert!(both(&pieces, &rows), "level {level}, pieces of {cut}");
            }
        }
        // Interlaced: seven passes of different row lengths, one stream.
        let passes = [(2u64, 10u64), (2, 10), (4, 19), (4, 19), (8, 37), (8, 37), (16, 73)];
        let data: Vec<u8> = passes
            .iter()
            .enumerate()
            .flat_map(|(i, &(n, len))| picture_rows(n, len, i as u32))
            .collect();
        assert!(both(&[&zlib(&data, 6)], &passes));
    }

    #[test]
    fn the_fuzz_hook_agrees_on_streams_it_makes() {
        let rest: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for how in [0u8, 1, 3, 7, 11, 0x93, 0xff] {
            let mut data = vec![99, how, 3, 128];
            data.extend_from_slice(&rest);
            check_rows_agree(&data);
        }
    }

    #[test]
    fn what_is_not_exactly_the_rows_is_refused() {
        let rows = [(300u64, 901u64)];
        let data = picture_rows(300, 901, 3);
        let z = zlib(&data, 6);
        let refused = |pieces: &[&[u8]], rows: &[(u64, u64)]| !both(pieces, rows);
        // Trailing bytes after the Adler-32, in the last chunk or a chunk of their own.
        for extra in [&b"\0"[..], b"ab", b"abc", b"abcd", b"0123456789"] {
            assert!(refused(&[&[z.as_slice(), extra].concat()], &rows));
            assert!(refused(&[&z, extra], &rows));
        }
        // The stream cut short, one row too few or too many, a bad filter type, a bad checksum.
        assert!(refused(&[&z[..z.len() - 1]], &rows));
        assert!(refused(&[&z[..z.len() / 2]], &rows));
        assert!(refused(&[&z], &[(301, 901)]));
        assert!(refused(&[&z], &[(299, 901)]));
        let mut bad = data.clone();
        bad[901 * 17] = 5;
        assert!(refused(&[&zlib(&bad, 6)], &rows));
        let mut sum = z.clone();
        *sum.last_mut().unwrap() ^= 1;
        assert!(refused(&[&sum], &rows));
        assert!(refused(&[], &rows));
    }

    #[test]
    fn proofs_agree_with_zlib_on_mutated_streams() {
        let rows = [(64u64, 301u64)];
        let data = picture_rows(64, 301, 11);
        let mut x = 99u32;
        let mut next = |n: usize| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 8) as usize % n.max(1)
        };
        let (mut proven, mut refused) = (0, 0);
        for level in [0, 1, 6, 9] {
            let z = zlib(&data, level);
            for _ in 0..1500 {
                let mut m = z.clone();
                match next(4) {
                    0 => {
                        let at = next(m.len());
                        m[at] ^= 1 << next(8);
                    }
                    1 => m.truncate(next(m.len())),
                    2 => {
                        let at = next(m.len());
                        m.insert(at, next(256) as u8);
                    }
                    _ => {
                        let at = next(m.len());
                        m.remove(at);
                    }
                }
                let cut = 1 + next(600);
                let pieces: Vec<&[u8]> = m.chunks(cut).collect();
                if both(&pieces, &rows) {
                    proven += 1;
                } else {
                    refused += 1;
                }
            }
        }
        // Most mutations break the stream; a few (a flipped bit in a stored block's data that
        // the checksum then catches, say) are refused for other reasons — none may pass one
        // proof and not the other.
        assert!(refused > 5000, "{proven} proven, {refused} refused");
    }
}
