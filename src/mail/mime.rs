//! MIME structure from the bytes (RFC 2045/2046): where an entity's header block ends and
//! its body begins, the parts of a multipart between its boundary lines, and the transfer
//! encodings undone.
//!
//! Everything here borrows from the received bytes and is linear in them: a body is
//! scanned once for its delimiter lines (SIMD substring search), base64 is decoded line by
//! line by the `base64` crate and only falls back to a byte-at-a-time decoder for lines a
//! strict decoder refuses. Nothing fails: what does not fit the grammar is reported
//! (`closed == false`, `clean == false`) and the caller decides.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::codec::{self, Sextets};

/// One MIME entity: its header block (up to, not including, the empty line) and its body.
#[derive(Debug, Clone, Copy)]
pub struct Entity<'a> {
    pub header: &'a [u8],
    pub body: &'a [u8],
}

/// Split an entity into header block and body. An entity that begins with an empty line has
/// no header fields; one whose first line is not a header field is all body (a broken part
/// is then looked at as content, never as fields); one without an empty line is all header.
pub fn entity(bytes: &[u8]) -> Entity<'_> {
    let end = header_end(bytes);
    let body_start = match &bytes[end..] {
        [b'\r', b'\n', ..] => end + 2,
        [b'\n', ..] => end + 1,
        _ => end,
    };
    Entity {
        header: &bytes[..end],
        body: &bytes[body_start..],
    }
}

/// Where the header block ends: the start of its empty line, or of the first line that is
/// neither a header field nor the continuation of one (the body then starts on that line, as
/// RFC 5322 readers take it: a stray line is never kept among the fields, where it would end
/// the header block of the rebuilt mail for its reader); 0 when the first line is not a field;
/// the length when the block runs to the end.
pub fn header_end(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..end];
        if line == b"\n" || line == b"\r\n" {
            return pos;
        }
        let continues = pos > 0 && matches!(line[0], b' ' | b'\t');
        if !continues && super::header::field_name(line).is_none() {
            return pos;
        }
        pos = end;
    }
    bytes.len()
}

/// The parts of a multipart body.
#[derive(Debug, Default)]
pub struct Parts<'a> {
    /// Each part as an entity's bytes (header and body), without the line break that belongs
    /// to the next delimiter.
    pub parts: Vec<&'a [u8]>,
    /// The closing delimiter (`--boundary--`) was found.
    pub closed: bool,
    /// More than `max` parts: the rest were not collected.
    pub truncated: bool,
    /// Where each part starts in the body.
    pub starts: Vec<usize>,
    /// Where the epilogue starts (after the closing delimiter's line; the body's end when
    /// the closing delimiter never came).
    pub epilogue: usize,
}

/// Split a multipart body at its delimiter lines: `--boundary` at the start of a line,
/// followed by optional white space and the line end (or by `--` for the closing one).
/// The preamble and epilogue are dropped. A body whose closing delimiter never comes ends
/// its last part at the end of the body (`closed == false`). At most `max` parts are
/// collected, so a body of a million empty parts costs no more than `max`.
pub fn split<'a>(body: &'a [u8], boundary: &[u8], max: usize) -> Parts<'a> {
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delimiter);
    let mut out = Parts::default();
    // Start of the current part's content, once a first delimiter was seen.
    let mut open: Option<usize> = None;
    let mut search = 0;
    while let Some(found) = finder.find(&body[search..]) {
        let at = search + found;
        search = at + 1;
        if at > 0 && body[at - 1] != b'\n' {
            continue;
        }
        let after = at + delimiter.len();
        let rest = &body[after..];
        let closing = rest.starts_with(b"--");
        let line_end = if closing {
            Some(memchr::memchr(b'\n', rest).map_or(body.len(), |i| after + i + 1))
        } else {
            let pad = rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
            match &rest[pad..] {
                [] => Some(body.len()),
                [b'\n', ..] => Some(after + pad + 1),
                [b'\r', b'\n', ..] => Some(after + pad + 2),
                // `--boundaryX`: another (often a nested) boundary that starts with ours.
                _ => None,
            }
        };
        let Some(line_end) = line_end else { continue };
        if let Some(start) = open {
            // The line break before a delimiter belongs to the delimiter.
            let mut end = at.max(start);
            if end > start && body[end - 1] == b'\n' {
                end -= 1;
                if end > start && body[end - 1] == b'\r' {
                    end -= 1;
                }
            }
            if out.parts.len() >= max {
                out.truncated = true;
                return out;
            }
            out.parts.push(&body[start..end]);
            out.starts.push(start);
        }
        if closing {
            out.closed = true;
            out.epilogue = line_end;
            return out;
        }
        open = Some(line_end);
        search = search.max(line_end);
    }
    if let Some(start) = open {
        if out.parts.len() >= max {
            out.truncated = true;
        } else {
            out.parts.push(&body[start..]);
            out.starts.push(start);
        }
    }
    out.epilogue = body.len();
    out
}

/// A body with its `Content-Transfer-Encoding` undone; `clean` is false when base64 held
/// characters outside its alphabet (the bytes are then what a lenient decoder made of it).
pub struct Decoded<'a> {
    pub bytes: Cow<'a, [u8]>,
    pub clean: bool,
}

pub fn transfer_decode<'a>(body: &'a [u8], encoding: &[u8]) -> Decoded<'a> {
    let encoding = encoding.trim_ascii();
    if encoding.eq_ignore_ascii_case(b"base64") {
        let (bytes, clean) = base64(body);
        Decoded {
            bytes: Cow::Owned(bytes),
            clean,
        }
    } else if encoding.eq_ignore_ascii_case(b"quoted-printable") {
        Decoded {
            bytes: Cow::Owned(codec::quoted_printable(body, false)),
            clean: true,
        }
    } else {
        // 7bit, 8bit, binary, and encodings nobody defined: the bytes as they are.
        Decoded {
            bytes: Cow::Borrowed(body),
            clean: true,
        }
    }
}

/// Base64 as mail carries it: lines of any length, CRLF or LF, padding at the end (or, in
/// concatenated bodies, in between). Whole lines are decoded strictly ([`strict_lines`]);
/// from the first line that is refused, the rest is decoded a byte at a time, skipping white
/// space, restarting after padding and counting anything else as unclean.
pub fn base64(body: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let pos = strict_lines(body, &mut out);
    if pos >= body.len() {
        return (out, true);
    }
    // From the refused line on, a byte at a time.
    let mut clean = true;
    let mut sextets = Sextets::default();
    for &b in &body[pos..] {
        match b {
            // End of one encoded run; what is left of a quantum is padding.
            b'=' => sextets = Sextets::default(),
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => match codec::base64_value(b) {
                Some(v) => sextets.push(v, &mut out),
                None => clean = false,
            },
        }
    }
    (out, clean)
}

/// Lines gathered for one SIMD decode call (before line ends are cut out).
const RUN_BYTES: usize = 64 * 1024;

/// Decode `body` line by line, each line on its own as the `base64` crate's strict decoder
/// takes it, into `out`; where the first refused line starts (`body.len()` when none was).
///
/// The same result, faster: a line of whole quanta without padding — nearly every line of a
/// mail's base64 — decodes to the same bytes alone or joined to its neighbours, so such
/// lines are gathered (line ends cut out) and decoded by `base64-simd` in one call. A line
/// with padding or a partial quantum is decoded on its own. When a gathered run is refused,
/// its lines are decoded again one at a time, which finds the line to stop at.
fn strict_lines(body: &[u8], out: &mut Vec<u8>) -> usize {
    let mut run: Vec<u8> = Vec::new();
    let mut run_from = 0;
    let mut pos = 0;
    while pos < body.len() {
        let (line, next) = line_at(body, pos);
        let whole = line.len().is_multiple_of(4) && line.last() != Some(&b'=');
        if whole && !line.is_empty() && run.len() < RUN_BYTES {
            if run.is_empty() {
                run_from = pos;
            }
            run.extend_from_slice(line);
            pos = next;
            continue;
        }
        if !run.is_empty() {
            if !decode_run(&run, out) {
                return one_line_at_a_time(body, run_from, out);
            }
            run.clear();
            // This line starts the next run (or is decoded alone below).
            continue;
        }
        if !line.is_empty() && !decode_line(line, out) {
            return pos;
        }
        pos = next;
    }
    if !run.is_empty() && !decode_run(&run, out) {
        return one_line_at_a_time(body, run_from, out);
    }
    body.len()
}

/// [`strict_lines`] without gathering, from `pos`: the reference it must agree with.
fn one_line_at_a_time(body: &[u8], mut pos: usize, out: &mut Vec<u8>) -> usize {
    while pos < body.len() {
        let (line, next) = line_at(body, pos);
        if !line.is_empty() && !decode_line(line, out) {
            return pos;
        }
        pos = next;
    }
    body.len()
}

/// For the `base64_lines` fuzz target: panic unless gathered and one-at-a-time decoding
/// stop at the same line with the same bytes.
#[doc(hidden)]
pub fn check_strict_lines_agree(body: &[u8]) {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let stop = strict_lines(body, &mut fast);
    assert_eq!(stop, one_line_at_a_time(body, 0, &mut slow), "stopped at another line");
    assert!(fast == slow, "other bytes");
}

/// The line of `body` starting at `pos`, without its line end and trailing blanks, and where
/// the next line starts.
fn line_at(body: &[u8], pos: usize) -> (&[u8], usize) {
    let end = memchr::memchr(b'\n', &body[pos..]).map_or(body.len(), |i| pos + i);
    let mut line = &body[pos..end];
    while let [rest @ .., b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    (line, end + 1)
}

/// One line through the `base64` crate's strict decoder; `out` unchanged when refused.
fn decode_line(line: &[u8], out: &mut Vec<u8>) -> bool {
    let before = out.len();
    if STANDARD.decode_vec(line, out).is_err() {
        // `decode_vec` grows the vector before it finds the error.
        out.truncate(before);
        return false;
    }
    true
}

/// Gathered whole quanta without padding through `base64-simd`; `out` unchanged when refused.
fn decode_run(run: &[u8], out: &mut Vec<u8>) -> bool {
    let before = out.len();
    if base64_simd::STANDARD.decode_append(run, out).is_err() {
        out.truncate(before);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_splits_at_the_empty_line_and_knows_headerless_parts() {
        let e = entity(b"A: 1\r\nB: 2\r\n\r\nbody\r\n");
        assert_eq!(e.header, b"A: 1\r\nB: 2\r\n");
        assert_eq!(e.body, b"body\r\n");
        let e = entity(b"\r\nonly body");
        assert!(e.header.is_empty());
        assert_eq!(e.body, b"only body");
        let e = entity(b"not a field line\r\n\r\nx");
        assert!(e.header.is_empty());
        assert_eq!(e.body, b"not a field line\r\n\r\nx");
        let e = entity(b"A: 1\nB: 2");
        assert_eq!(e.header, b"A: 1\nB: 2");
        assert!(e.body.is_empty());
    }

    #[test]
    fn split_finds_delimiter_lines_only() {
        let body = b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b  \r\n\r\ntwo --b\r\n--bX\r\nstill two\r\n--b--\r\nepilogue\r\n--b\r\n";
        let p = split(body, b"b", 10);
        assert!(p.closed && !p.truncated);
        assert_eq!(
            p.parts,
            [&b"A: 1\r\n\r\none"[..], &b"\r\ntwo --b\r\n--bX\r\nstill two"[..]]
        );
        // LF only, and a delimiter at the very start of the body.
        let p = split(b"--b\none\n--b\ntwo\n--b--", b"b", 10);
        assert_eq!(p.parts, [&b"one"[..], &b"two"[..]]);
        assert!(p.closed);
    }

    #[test]
    fn split_without_closing_delimiter_or_over_the_limit() {
        let p = split(b"--b\r\none\r\n--b\r\ntwo cut", b"b", 10);
        assert_eq!(p.parts, [&b"one"[..], &b"two cut"[..]]);
        assert!(!p.closed);
        let p = split(b"no delimiter at all", b"b", 10);
        assert!(p.parts.is_empty() && !p.closed);
        let many = b"--b\r\n".repeat(100_000);
        let p = split(&many, b"b", 50);
        assert_eq!(p.parts.len(), 50);
        assert!(p.truncated);
    }

    #[test]
    fn base64_fast_and_lenient_paths_agree() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let mut text = Vec::new();
        codec::write_base64(&mut text, &data).expect("write");
        assert_eq!(base64(&text), (data.clone(), true));
        // LF line ends, trailing blanks, a final line without padding.
        let lf: Vec<u8> = text.iter().copied().filter(|&b| b != b'\r').collect();
        assert_eq!(base64(&lf).0, data);
        assert_eq!(base64(b"aGVsbG8"), (b"hello".to_vec(), true));
        // Two encoded runs concatenated: padding in between.
        assert_eq!(base64(b"aGk=\r\naGk=\r\n"), (b"hihi".to_vec(), true));
        // Garbage is unclean but what decodes is kept.
        let (bytes, clean) = base64(b"aGVs\r\nbG8*\r\n");
        assert!(!clean);
        assert_eq!(bytes, b"hello");
    }

    #[test]
    fn gathered_lines_decode_as_lines_one_at_a_time() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut text = Vec::new();
        codec::write_base64(&mut text, &data).expect("write");
        assert_eq!(base64(&text), (data.clone(), true));
        // Damage at the start, in the middle of a run, in the last line; padding mid-body;
        // a short line; white space; each agrees with the one-line-at-a-time reference.
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for at in [0, 77, 78 * 400 + 5, text.len() / 2, text.len() - 4] {
            for bad in [b'*', b'=', b'-', 0xff] {
                let mut t = text.clone();
                t[at] = bad;
                cases.push(t);
            }
        }
        let mut padded = b"aGk=\r\n".to_vec();
        padded.extend_from_slice(&text);
        cases.push(padded);
        cases.push(b"QUJD\r\nQUI\r\nQUJD\r\n".to_vec());
        cases.push(b"QUJD \t\r\n\r\n\r\nQUJD\n".to_vec());
        cases.push(b"QU=D\r\nQUJD\r\n".to_vec());
        for case in &cases {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let stop = strict_lines(case, &mut fast);
            assert_eq!(stop, one_line_at_a_time(case, 0, &mut slow));
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn transfer_encodings() {
        let d = transfer_decode(b"caf=C3=A9=\r\n!", b" Quoted-Printable ");
        assert_eq!(&d.bytes[..], "café!".as_bytes());
        let d = transfer_decode(b"raw", b"x-unknown");
        assert!(matches!(d.bytes, Cow::Borrowed(b"raw")));
        let d = transfer_decode(b"aGVsbG8=", b"BASE64");
        assert_eq!(&d.bytes[..], b"hello");
    }
}
