//! The memory bound of loading a PDF. lopdf materialises every object of a file — the ones
//! in object streams included — before any of our code sees one, at about 120 bytes per
//! token (`lopdf::Object` is 120 bytes; an array's slack doubles it). A 1.2 MB file of object
//! streams full of tiny numbers or unreferenced strings becomes a gigabyte. So the cost is
//! estimated *before* lopdf spends it, and refused over `pdf.max_structure_bytes`:
//!
//! - the objects written in the file itself: [`scan_file`] lexes the input once (strings,
//!   names, comments, dictionaries, arrays), skipping stream data, and counts tokens and the
//!   bytes they may copy;
//! - object streams: lopdf calls our load filter ([`filter`]) with each one before it
//!   expands it; the filter inflates it within the file's decompression budget, lexes what it
//!   holds, and drops it (the load is refused afterwards) once the estimate passes the budget.
//!   An object stream whose index does not name disjoint top-level objects (offsets out of
//!   order, or pointing inside another object — the trick that makes lopdf parse the same
//!   bytes many times) is refused as malformed.
//!
//! This module owns the estimate and the lexer; it uses lopdf's types and `Refusal`.

use std::cell::RefCell;

use lopdf::{Object, ObjectId};

use super::Refusal;

/// Bytes of memory one token costs once lopdf has parsed it (the 120-byte `Object`, doubled
/// for the slack of the vector or map it sits in, plus a dictionary entry's key and hash).
pub const BYTES_PER_TOKEN: u64 = 256;

/// Deepest nesting the lexer follows (lopdf refuses more than 100).
const MAX_NESTING: usize = 128;

/// What lexing some PDF syntax found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub tokens: u64,
    /// Bytes of syntax lexed (names and strings are copied from these).
    pub bytes: u64,
    /// `/ObjStm` names seen (object streams, for the encrypted case).
    pub object_streams: u64,
}

impl Cost {
    /// The memory lopdf will use for this syntax, estimated.
    pub fn estimate(self) -> u64 {
        self.tokens.saturating_mul(BYTES_PER_TOKEN).saturating_add(self.bytes)
    }
}

fn is_white(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// One step of the lexer: where the token at `i` ends, and what it is.
enum Lexeme {
    Skip,
    Token,
    Open,
    Close,
    /// A regular run (number, keyword); `stream` is told apart by the caller.
    Word,
}

fn lex_one(data: &[u8], i: usize) -> (usize, Lexeme) {
    let b = data[i];
    match b {
        _ if is_white(b) => (i + 1, Lexeme::Skip),
        b'%' => (
            memchr::memchr2(b'\r', b'\n', &data[i..]).map_or(data.len(), |n| i + n),
            Lexeme::Skip,
        ),
        b'(' => (literal_string_end(data, i), Lexeme::Token),
        b'<' if data.get(i + 1) == Some(&b'<') => (i + 2, Lexeme::Open),
        b'<' => (
            memchr::memchr(b'>', &data[i..]).map_or(data.len(), |n| i + n + 1),
            Lexeme::Token,
        ),
        b'>' if data.get(i + 1) == Some(&b'>') => (i + 2, Lexeme::Close),
        b'[' => (i + 1, Lexeme::Open),
        b']' => (i + 1, Lexeme::Close),
        b'/' => (word_end(data, i + 1), Lexeme::Token),
        _ if is_delimiter(b) => (i + 1, Lexeme::Skip),
        _ => (word_end(data, i), Lexeme::Word),
    }
}

fn word_end(data: &[u8], from: usize) -> usize {
    data[from..]
        .iter()
        .position(|&b| is_white(b) || is_delimiter(b))
        .map_or(data.len(), |n| from + n)
}

/// The end of a literal string starting at `start` (balanced parentheses, `\` escapes).
fn literal_string_end(data: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < data.len() {
        match data[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    data.len()
}

/// The cost of the objects written in the file itself (not in object streams). Stream data
/// is skipped from `stream` to the next `endstream` — unless an indirect object header
/// (`12 0 obj`) is inside it, which lopdf would parse if the cross-reference table pointed
/// there: then lexing goes on from that header, so nothing lopdf parses goes uncounted.
pub fn scan_file(data: &[u8]) -> Cost {
    scan_file_within(data, u64::MAX)
}

/// [`scan_file`], stopping as soon as the estimate passes `budget` (a 100 MB file of numbers
/// is refused after its first megabytes, not lexed whole).
pub fn scan_file_within(data: &[u8], budget: u64) -> Cost {
    let mut cost = Cost::default();
    let mut i = 0;
    let mut next_check = 0u64;
    while i < data.len() {
        if cost.tokens >= next_check {
            if cost.estimate() > budget {
                return cost;
            }
            next_check = cost.tokens + 4096;
        }
        let (end, lexeme) = lex_one(data, i);
        match lexeme {
            Lexeme::Skip | Lexeme::Close => {}
            Lexeme::Token | Lexeme::Open => {
                cost.tokens += 1;
                cost.bytes += (end - i) as u64;
                cost.object_streams += u64::from(&data[i..end] == b"/ObjStm");
            }
            Lexeme::Word if &data[i..end] == b"stream" => {
                cost.tokens += 1;
                i = stream_data_end(data, end);
                continue;
            }
            Lexeme::Word => {
                cost.tokens += 1;
                cost.bytes += (end - i) as u64;
            }
        }
        i = end.max(i + 1);
    }
    cost
}

/// Whether the file's trailer names an `/Encrypt` dictionary (lopdf then loads it on a path
/// that does not call the load filter).
pub fn looks_encrypted(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"/Encrypt").is_some()
}

/// Where lexing resumes after the `stream` keyword ending at `from`: the next `endstream`,
/// or an object header before it.
fn stream_data_end(data: &[u8], from: usize) -> usize {
    let end = memchr::memmem::find(&data[from..], b"endstream").map_or(data.len(), |n| from + n);
    let region = &data[from..end];
    for hit in memchr::memmem::find_iter(region, b"obj") {
        if let Some(header) = object_header_before(region, hit) {
            return from + header;
        }
    }
    end
}

/// If `obj` at `at` ends an `N G obj` header, where the header starts.
fn object_header_before(region: &[u8], at: usize) -> Option<usize> {
    let mut j = at;
    let mut numbers = 0;
    while numbers < 2 {
        let spaces = region[..j].iter().rev().take_while(|&&b| is_white(b)).count();
        if spaces == 0 && numbers == 1 {
            return None;
        }
        j -= spaces;
        let digits = region[..j].iter().rev().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        j -= digits;
        numbers += 1;
    }
    Some(j)
}

/// The cost of an object stream's objects, given its decompressed content and `/First`.
/// Refuses an index that does not name disjoint top-level objects in order.
pub fn scan_object_stream(content: &[u8], first: usize) -> Result<Cost, Refusal> {
    let malformed = |why: &str| Refusal::Malformed(format!("object stream: {why}"));
    let index = content.get(..first).ok_or_else(|| malformed("/First past its end"))?;
    let numbers: Vec<usize> = std::str::from_utf8(index)
        .map_err(|_| malformed("index is not numbers"))?
        .split_ascii_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let mut offsets: Vec<usize> = numbers.chunks_exact(2).map(|p| first.saturating_add(p[1])).collect();
    if offsets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(malformed("object offsets out of order or repeated"));
    }
    offsets.reverse();
    let body = content;
    let mut cost = Cost {
        tokens: numbers.len() as u64,
        bytes: first as u64,
        object_streams: 0,
    };
    let mut depth = 0usize;
    // End of the last token: an offset between it and the next token (white space and
    // comments, which lopdf skips) names the next token.
    let mut last_end = first;
    let mut i = first;
    while i < body.len() {
        let (end, lexeme) = lex_one(body, i);
        if !matches!(lexeme, Lexeme::Skip) {
            // Every named offset must start a top-level object.
            while let Some(&o) = offsets.last().filter(|&&o| o <= i) {
                offsets.pop();
                if o < last_end || depth != 0 {
                    return Err(malformed("an object offset points inside another object"));
                }
            }
            last_end = end;
        }
        match lexeme {
            Lexeme::Skip => {}
            Lexeme::Open => {
                depth = (depth + 1).min(MAX_NESTING);
                cost.tokens += 1;
                cost.bytes += (end - i) as u64;
            }
            Lexeme::Close => depth = depth.saturating_sub(1),
            Lexeme::Token | Lexeme::Word => {
                cost.tokens += 1;
                cost.bytes += (end - i) as u64;
            }
        }
        i = end.max(i + 1);
    }
    Ok(cost)
}

/// The budget of one load, kept where lopdf's load filter (a plain `fn`) can reach it: the
/// load runs on this thread, and [`LoadGuard`] removes it afterwards.
struct LoadBudget {
    /// Structure bytes still allowed, of `limit`.
    left: u64,
    limit: u64,
    /// Decompression bytes still allowed (the file's `limits.max_decompressed_bytes`).
    inflate_left: u64,
    /// Largest single object stream.
    per_stream: u64,
    refusal: Option<Refusal>,
}

thread_local! {
    static BUDGET: RefCell<Option<LoadBudget>> = const { RefCell::new(None) };
}

/// Installs the budget of one load on this thread and takes it off again when dropped.
pub struct LoadGuard(());

impl LoadGuard {
    /// Charge the file's own syntax (`own`, from [`scan_file_within`]) now; object streams
    /// are charged by [`filter`] as lopdf meets them. `structure` is `pdf.max_structure_bytes`.
    pub fn install(own: Cost, structure: u64, inflate_left: u64, per_stream: u64) -> Result<Self, Refusal> {
        let own = own.estimate();
        if own > structure {
            return Err(over_budget(structure));
        }
        BUDGET.with(|b| {
            *b.borrow_mut() = Some(LoadBudget {
                left: structure - own,
                limit: structure,
                inflate_left,
                per_stream,
                refusal: None,
            })
        });
        Ok(LoadGuard(()))
    }

    /// The refusal the filter recorded, and the decompression bytes object streams used.
    pub fn finish(self) -> (Option<Refusal>, u64) {
        BUDGET.with(|b| match b.borrow_mut().take() {
            Some(budget) => (budget.refusal, budget.inflate_left),
            None => (None, 0),
        })
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        BUDGET.with(|b| b.borrow_mut().take());
    }
}

fn over_budget(limit: u64) -> Refusal {
    Refusal::LimitExceeded {
        limit: "pdf.max_structure_bytes",
        detail: format!("the document's objects would take more than {limit} bytes of memory"),
    }
}

/// lopdf's load filter: every object passes unchanged, except object streams, which are
/// charged first (and dropped, with the refusal recorded, once the budget is spent; after
/// that everything is dropped, since the load will be refused).
///
/// lopdf keeps the object it passed for a top-level object but the one returned for an
/// object inside an object stream; so a copy is returned, except for streams, which are never
/// inside object streams (and whose copy would double an image's memory for a moment).
pub fn filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let keep = BUDGET.with(|b| {
        let mut guard = b.borrow_mut();
        let Some(budget) = guard.as_mut() else {
            return true;
        };
        if budget.refusal.is_some() {
            return false;
        }
        if let Object::Stream(stream) = object {
            if stream.dict.has_type(b"ObjStm") {
                if let Err(refusal) = charge_object_stream(budget, stream) {
                    budget.refusal = Some(refusal);
                    return false;
                }
            }
        }
        true
    });
    match object {
        _ if !keep => None,
        Object::Stream(_) => Some((id, Object::Null)),
        _ => Some((id, object.clone())),
    }
}

fn charge_object_stream(budget: &mut LoadBudget, stream: &lopdf::Stream) -> Result<(), Refusal> {
    let cap = budget.per_stream.min(budget.inflate_left);
    let content = stream
        .get_plain_content_with_limit(usize::try_from(cap).unwrap_or(usize::MAX))
        .map_err(|_| Refusal::LimitExceeded {
            limit: "pdf.max_object_stream_bytes",
            detail: format!("an object stream inflates past {cap} bytes"),
        })?;
    budget.inflate_left -= (content.len() as u64).min(budget.inflate_left);
    let first = stream
        .dict
        .get(b"First")
        .and_then(Object::as_i64)
        .ok()
        .and_then(|f| usize::try_from(f).ok())
        .ok_or_else(|| Refusal::Malformed("object stream without /First".into()))?;
    let cost = scan_object_stream(&content, first)?.estimate();
    // The stream is inflated once more by lopdf: its content counts twice while it loads.
    let cost = cost.saturating_add(content.len() as u64);
    match budget.left.checked_sub(cost) {
        Some(left) => {
            budget.left = left;
            Ok(())
        }
        None => Err(over_budget(budget.limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_scan_counts_syntax_and_skips_stream_data() {
        let pdf = b"1 0 obj\n<< /Length 8 /Type /XObject >>\nstream\n[[[[[[[[\nendstream\nendobj\n2 0 obj [1 2 (a(b)c) <00>] endobj";
        let cost = scan_file(pdf);
        // 1 0 obj << /Length 8 /Type /XObject >> stream | endstream endobj 2 0 obj [ 1 2 (..) <..> ] endobj
        assert_eq!(cost.tokens, 3 + 5 + 1 + 2 + 3 + 1 + 4 + 1);
        // An object header hidden in "stream data" is lexed.
        let hidden = b"1 0 obj << /Length 3 >> stream\nabc 7 0 obj [1 1 1 1 1 1] endstream";
        assert!(scan_file(hidden).tokens >= 10);
    }

    #[test]
    fn object_streams_must_name_disjoint_top_level_objects() {
        let content = b"1 0 2 6 [1 2] << /A 1 >>";
        let cost = scan_object_stream(content, 8).unwrap();
        assert_eq!(cost.tokens, 4 + 6);
        // The same offset twice, and an offset inside an array.
        assert!(scan_object_stream(b"1 0 2 0 [1 2] << >>", 8).is_err());
        assert!(scan_object_stream(b"1 0 2 1 [[1] 2] << >>", 8).is_err());
        assert!(scan_object_stream(b"1 0 2 3 [ 1 2 3 ]", 8).is_err());
        assert!(scan_object_stream(b"1 0", 20).is_err());
    }

    #[test]
    fn lexing_never_panics_on_truncated_syntax() {
        for data in [
            &b"("[..],
            b"<",
            b"<<",
            b"%",
            b"/",
            b"stream",
            b"(\\",
            b"obj",
            b" 0 obj",
            b"1 0 obj",
        ] {
            let _ = scan_file(data);
            let _ = scan_object_stream(data, 0);
            let _ = scan_object_stream(data, data.len());
        }
    }
}
