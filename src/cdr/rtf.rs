//! RTF rebuild: a real tokenizer (groups, control words and symbols, `\'hh` hex, `\bin N`)
//! and a writer that re-emits every kept token byte for byte, leaving out:
//!
//! - object groups (`{\object ...}` — embedded and linked OLE objects, ActiveX) — their
//!   `{\result ...}` is kept in their place, so the reader still sees the picture or text the
//!   object displayed;
//! - `\objdata`, `\objclass`, `\objupdate` and the other object destinations wherever they
//!   appear, `\*\datastore` (a second hiding place for OLE data) and `\*\template` (a remote
//!   template, fetched on open);
//! - fields whose instruction fetches or runs something (`DDE`, `DDEAUTO`, `INCLUDETEXT`,
//!   `INCLUDEPICTURE`, `IMPORT`, `LINK`, ...): the field is replaced by its `\fldrslt`.
//!
//! A group is judged by *every* control word at its top level, not only its first one, so
//! `{\rtlch\object ...}` or an object word after junk does not slip by; hex whitespace and
//! other obfuscation inside dropped groups does not matter because the whole group goes.

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::report::{Finding, What};

/// The RTF sanitizer.
pub struct RtfSanitizer;

/// Destinations that are removed with everything inside them.
const DROPPED_DESTINATIONS: &[&[u8]] = &[
    b"objdata",
    b"objclass",
    b"objname",
    b"objalias",
    b"objsect",
    b"objtime",
    b"objupdate",
    b"oleclsid",
    b"datastore",
    b"template",
    b"objemb",
];

/// Control words that make their group an object group.
const OBJECT_WORDS: &[&[u8]] = &[
    b"object",
    b"objemb",
    b"objlink",
    b"objautlink",
    b"objsub",
    b"objpub",
    b"objicemb",
    b"objhtml",
    b"objocx",
];

/// One token with its source span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    /// A control word without its backslash, and the whole token's bytes.
    Word(&'a [u8]),
    /// Anything else (text, control symbols, hex escapes, `\bin` with its data).
    Other,
}

/// Tokenize into (token, span) pairs. `\bin N` swallows N raw bytes (bounded by the input).
fn tokenize<'a>(input: &'a [u8], cx: &Cx<'_>) -> Result<Vec<(Tok<'a>, std::ops::Range<usize>)>, Refusal> {
    let mut out = Vec::with_capacity(input.len() / 4);
    let mut i = 0;
    while i < input.len() {
        if out.len() % 65_536 == 0 {
            cx.check_deadline()?;
        }
        let start = i;
        match input[i] {
            b'{' => {
                out.push((Tok::Open, i..i + 1));
                i += 1;
            }
            b'}' => {
                out.push((Tok::Close, i..i + 1));
                i += 1;
            }
            b'\\' => {
                i += 1;
                let Some(&c) = input.get(i) else {
                    // A backslash as the very last byte escapes nothing; kept, it would escape
                    // the brace we add to close open groups, and a second pass would differ.
                    break;
                };
                if c.is_ascii_alphabetic() {
                    let w0 = i;
                    while i < input.len() && input[i].is_ascii_alphabetic() && i - w0 < 32 {
                        i += 1;
                    }
                    let word = &input[w0..i];
                    // Optional signed numeric parameter.
                    let p0 = i;
                    if i < input.len() && input[i] == b'-' {
                        i += 1;
                    }
                    while i < input.len() && input[i].is_ascii_digit() && i - p0 < 11 {
                        i += 1;
                    }
                    let param = std::str::from_utf8(&input[p0..i])
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok());
                    // One space delimiter belongs to the control word.
                    if i < input.len() && input[i] == b' ' {
                        i += 1;
                    }
                    if word == b"bin" {
                        let n = usize::try_from(param.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
                        if n > input.len() - i {
                            // Truncated binary data: kept, it would swallow the braces we add
                            // to close open groups. The file ends here.
                            break;
                        }
                        i += n;
                        out.push((Tok::Other, start..i));
                    } else {
                        out.push((Tok::Word(word), start..i));
                    }
                } else if c == b'\'' {
                    if input.len() - i < 3 {
                        // A hex escape cut short would eat the closing brace we add.
                        break;
                    }
                    i += 3;
                    out.push((Tok::Other, start..i));
                } else if c == b'*' {
                    i += 1;
                    out.push((Tok::Word(b"*"), start..i));
                } else {
                    i += 1;
                    out.push((Tok::Other, start..i));
                }
            }
            _ => {
                while i < input.len() && !matches!(input[i], b'{' | b'}' | b'\\') {
                    i += 1;
                }
                out.push((Tok::Other, start..i));
            }
        }
    }
    Ok(out)
}

/// The group structure: for each `Open` token index, the index of its matching `Close`
/// (or the end, for groups the file never closes).
fn match_groups(toks: &[(Tok<'_>, std::ops::Range<usize>)], max_depth: u32) -> Result<Vec<usize>, Refusal> {
    let mut close = vec![usize::MAX; toks.len()];
    let mut stack = Vec::new();
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Open => {
                stack.push(i);
                if stack.len() as u32 > max_depth {
                    return Err(Refusal::LimitExceeded {
                        limit: "limits.max_xml_depth",
                        detail: format!("RTF groups nested deeper than {max_depth}"),
                    });
                }
            }
            Tok::Close => {
                if let Some(o) = stack.pop() {
                    close[o] = i;
                }
            }
            _ => {}
        }
    }
    for o in stack {
        close[o] = toks.len();
    }
    Ok(close)
}

struct Writer<'t, 'a> {
    input: &'a [u8],
    toks: &'t [(Tok<'a>, std::ops::Range<usize>)],
    close: Vec<usize>,
    out: Vec<u8>,
    findings: Vec<Finding>,
}

impl Writer<'_, '_> {
    /// Control words at the top level of the group opened at `open` (not in subgroups).
    fn top_words(&self, open: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let end = self.close[open];
        let mut depth = 0usize;
        self.toks[open + 1..end.min(self.toks.len())]
            .iter()
            .filter_map(move |(t, _)| match t {
                Tok::Open => {
                    depth += 1;
                    None
                }
                Tok::Close => {
                    depth = depth.saturating_sub(1);
                    None
                }
                Tok::Word(w) if depth == 0 => Some(*w),
                _ => None,
            })
    }

    /// Direct subgroups of the group at `open` whose first word (after `\*`) is `name`.
    fn subgroup(&self, open: usize, name: &[u8]) -> Option<usize> {
        let end = self.close[open].min(self.toks.len());
        let mut i = open + 1;
        while i < end {
            if self.toks[i].0 == Tok::Open {
                if self.first_word(i) == Some(name) {
                    return Some(i);
                }
                i = self.close[i].saturating_add(1);
            } else {
                i += 1;
            }
        }
        None
    }

    fn first_word(&self, open: usize) -> Option<&[u8]> {
        self.top_words(open).find(|w| *w != b"*")
    }

    /// Plain text of a group (for field instructions), as Word reads it: text tokens, hex
    /// escapes (as Latin-1) and `\uN` Unicode escapes decoded (with the `\ucN` fallback
    /// characters after each skipped), other control words dropped. So `\u68\u68\u69AUTO`
    /// is judged as the `DDEAUTO` it is.
    fn text_of(&self, open: usize) -> String {
        let end = self.close[open].min(self.toks.len());
        let mut s = String::new();
        let mut fallback = 1usize;
        let mut skip = 0usize;
        for (t, span) in &self.toks[open + 1..end] {
            let b = &self.input[span.clone()];
            // A control word in the fallback after `\uN` counts as one character (RTF 1.9).
            if skip > 0 && matches!(t, Tok::Word(_)) {
                skip -= 1;
                continue;
            }
            match t {
                Tok::Word(w) if *w == b"u" || *w == b"uc" => {
                    let n = std::str::from_utf8(&b[1 + w.len()..])
                        .ok()
                        .and_then(|p| p.trim().parse::<i64>().ok());
                    if *w == b"uc" {
                        fallback = n.and_then(|n| usize::try_from(n).ok()).unwrap_or(1).min(8);
                    } else if let Some(n) = n {
                        // Negative values stand for code units above 32767.
                        let unit = if n < 0 { n + 65_536 } else { n };
                        if let Some(c) = u32::try_from(unit).ok().and_then(char::from_u32) {
                            s.push(c);
                        }
                        skip = fallback;
                    }
                }
                Tok::Other => {
                    if let Some(hex) = b.strip_prefix(b"\\'") {
                        if skip > 0 {
                            skip -= 1;
                        } else if let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16) {
                            s.push(char::from(v));
                        }
                    } else if !b.starts_with(b"\\") {
                        for &c in b.iter().filter(|c| !c.is_ascii_control()) {
                            if skip > 0 {
                                skip -= 1;
                            } else {
                                s.push(char::from(c));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        s
    }

    fn emit(&mut self, i: usize) {
        let span = self.toks[i].1.clone();
        self.out.extend_from_slice(&self.input[span]);
    }

    /// Write tokens `from..to`, judging each group on the way. Recursion is bounded by the
    /// group depth limit checked in `match_groups`.
    fn write_range(&mut self, from: usize, to: usize) {
        let mut i = from;
        while i < to {
            if self.toks[i].0 != Tok::Open {
                if self.toks[i].0 != Tok::Close {
                    self.emit(i);
                }
                i += 1;
                continue;
            }
            let end = self.close[i];
            let next = end.saturating_add(1).min(self.toks.len().max(end));
            self.write_group(i);
            i = next;
        }
    }

    fn write_group(&mut self, open: usize) {
        let end = self.close[open];
        let words: Vec<&[u8]> = self.top_words(open).collect();
        let at = self.toks[open].1.start;
        if let Some(w) = words.iter().find(|w| OBJECT_WORDS.contains(w)) {
            let detail = format!("\\{}", String::from_utf8_lossy(w));
            self.findings
                .push(Finding::removed(What::OleObject, format!("byte {at}"), detail));
            if let Some(result) = self.subgroup(open, b"result") {
                // The displayed fallback replaces the object (without the \result word).
                self.write_inner_after_first_word(result);
            }
            return;
        }
        if let Some(w) = words.iter().find(|w| DROPPED_DESTINATIONS.contains(w)) {
            let what = if *w == b"template" {
                What::ExternalLink
            } else {
                What::OleObject
            };
            let detail = format!("\\{}", String::from_utf8_lossy(w));
            self.findings.push(Finding::removed(what, format!("byte {at}"), detail));
            return;
        }
        if words.first() == Some(&&b"field"[..]) || words.contains(&&b"field"[..]) {
            if let Some(inst) = self.subgroup(open, b"fldinst") {
                let instr = self.text_of_deep(inst);
                if let Some(what) = super::fields::dangerous_instruction(&instr) {
                    let word = instr.split_whitespace().next().unwrap_or_default().to_string();
                    self.findings.push(Finding::removed(what, format!("byte {at}"), word));
                    if let Some(result) = self.subgroup(open, b"fldrslt") {
                        self.write_inner_after_first_word(result);
                    }
                    return;
                }
            }
        }
        self.emit(open);
        self.write_range(open + 1, end.min(self.toks.len()));
        self.out.push(b'}');
    }

    /// All text inside a group, subgroups included (field instructions nest).
    fn text_of_deep(&self, open: usize) -> String {
        let end = self.close[open].min(self.toks.len());
        let mut s = String::new();
        for j in open..end {
            if self.toks[j].0 == Tok::Open {
                s.push_str(&self.text_of(j));
                s.push(' ');
            }
        }
        s
    }

    /// Write a group's contents as a plain group, dropping its leading destination word
    /// (`\result`, `\fldrslt`): `{\fldrslt {\b x}}` becomes `{{\b x}}`.
    fn write_inner_after_first_word(&mut self, open: usize) {
        let end = self.close[open].min(self.toks.len());
        // The fallback becomes a group of its own, judged by its own top-level words on the
        // next reading: if those make it an object, destination or field, it goes too (or a
        // second pass would remove what this one kept).
        let dirty = self.top_words(open).find(|w| {
            OBJECT_WORDS.contains(w) || (DROPPED_DESTINATIONS.contains(w) && *w != b"result") || *w == b"field"
        });
        if let Some(w) = dirty {
            let at = self.toks[open].1.start;
            let detail = format!("fallback carrying \\{}", String::from_utf8_lossy(w));
            self.findings
                .push(Finding::removed(What::OleObject, format!("byte {at}"), detail));
            return;
        }
        self.out.push(b'{');
        let mut i = open + 1;
        let mut skipped = false;
        while i < end {
            match self.toks[i].0 {
                Tok::Word(w) if !skipped && (w == b"*" || w == b"result" || w == b"fldrslt") => {
                    skipped = w != b"*";
                    i += 1;
                }
                _ => {
                    skipped = true;
                    self.write_range(i, i + 1);
                    i = if self.toks[i].0 == Tok::Open {
                        self.close[i].saturating_add(1)
                    } else {
                        i + 1
                    };
                }
            }
        }
        self.out.push(b'}');
    }
}

impl Sanitizer for RtfSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[FileKind::Rtf]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        if !input.starts_with(b"{\\rt") {
            return Err(Refusal::Malformed("an RTF file starts with {\\rtf".into()));
        }
        let toks = tokenize(input, cx)?;
        let close = match_groups(&toks, cx.config.limits.max_xml_depth)?;
        let mut w = Writer {
            input,
            toks: &toks,
            close,
            out: Vec::with_capacity(input.len()),
            findings: Vec::new(),
        };
        // The document is the first group; whatever follows it is not RTF (polyglot tails).
        // The document group itself is never an object, destination or field: a file that
        // claims so is not a document we can rebuild.
        let odd = w
            .top_words(0)
            .find(|word| OBJECT_WORDS.contains(word) || DROPPED_DESTINATIONS.contains(word) || *word == b"field")
            .map(|word| String::from_utf8_lossy(word).into_owned());
        if let Some(word) = odd {
            return Err(Refusal::Malformed(format!("the document group carries \\{word}")));
        }
        w.emit(0);
        w.write_range(1, w.close[0].min(toks.len()));
        w.out.push(b'}');
        let top_end = w.close[0];
        if top_end.saturating_add(1) < toks.len() {
            let trailing: usize = toks[top_end.saturating_add(1)..].iter().map(|(_, s)| s.len()).sum();
            if input[toks[top_end.saturating_add(1)].1.start..]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
            {
                w.findings.push(Finding::removed(
                    What::Structure,
                    "after the document group",
                    format!("{trailing} bytes"),
                ));
            }
        }
        let Writer { out, mut findings, .. } = w;
        cx.check_deadline()?;
        findings.sort();
        findings.dedup();
        Ok(Clean {
            bytes: out,
            kind: FileKind::Rtf,
            findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Engine};

    fn run(rtf: &str) -> (String, Vec<What>) {
        let engine = Engine::new(Config::default());
        let mut cx = Cx::new(&engine);
        let clean = RtfSanitizer.sanitize(rtf.as_bytes(), &mut cx).expect("sanitized");
        (
            String::from_utf8_lossy(&clean.bytes).into_owned(),
            clean.findings.iter().map(|f| f.what).collect(),
        )
    }

    #[test]
    fn object_is_replaced_by_its_result() {
        let (out, found) = run(
            r"{\rtf1 before {\object\objemb{\*\objclass Package}{\*\objdata 01050000 0200}{\result {\pict shown}}} after}",
        );
        assert!(
            !out.contains("objdata") && !out.contains("objclass") && !out.contains("object"),
            "{out}"
        );
        assert!(out.contains("shown") && out.contains("before") && out.contains("after"));
        assert!(found.contains(&What::OleObject));
    }

    #[test]
    fn object_word_not_first_still_counts() {
        let (out, _) = run(r"{\rtf1 {\rtlch\object\objocx{\*\objdata 0105 00 00}}x}");
        assert!(!out.contains("objdata") && !out.contains("objocx"), "{out}");
    }

    #[test]
    fn stray_objdata_and_datastore_go() {
        let (out, found) =
            run(r"{\rtf1 a{\*\objdata d0cf11e0}b{\*\datastore 0105}c{\*\template http://x.example/t.dotm}d}");
        assert_eq!(out, r"{\rtf1 a".to_string() + "bcd}");
        assert!(found.contains(&What::ExternalLink) && found.contains(&What::OleObject));
    }

    #[test]
    fn dde_field_is_replaced_by_its_result() {
        let (out, found) = run(
            r#"{\rtf1 {\field{\*\fldinst {\rtlch DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc"}}{\fldrslt {shown}}} end}"#,
        );
        assert!(!out.contains("DDEAUTO") && !out.contains("fldinst"), "{out}");
        assert!(out.contains("shown") && out.contains("end"));
        assert_eq!(found, [What::Dde]);
    }

    #[test]
    fn harmless_fields_are_kept_byte_for_byte() {
        let rtf = r"{\rtf1 {\field{\*\fldinst { PAGE }}{\fldrslt {1}}} end}";
        let (out, found) = run(rtf);
        assert_eq!(out, rtf);
        assert!(found.is_empty());
    }

    #[test]
    fn field_instructions_are_judged_as_word_decodes_them() {
        for instr in [
            r"\u68\'44\u68\'44\u69\'45AUTO c:\\windows\\system32\\cmd.exe",
            // The space after a control word is its delimiter: two make one space.
            r"\uc0\u68\u68\u69\u65\u85\u84\u79  x",
            r"\u68?\u68?E\'41UTO x",
            r#"IF 1 = 1 "{INCLUDEPICTURE http://198.51.100.7/a.png}""#,
        ] {
            let rtf = format!(r"{{\rtf1 {{\field{{\*\fldinst {{{instr}}}}}{{\fldrslt {{shown}}}}}} end}}");
            let e = crate::cdr::Engine::new(crate::config::Config::default());
            let p = e.run(rtf.as_bytes(), Some("a.rtf"));
            let out = String::from_utf8_lossy(p.output.as_deref().unwrap_or_default()).to_string();
            assert!(!out.contains("fldinst") && out.contains("shown"), "{instr}: {out}");
        }
    }

    #[test]
    fn bin_data_is_not_parsed_as_rtf() {
        let rtf = "{\\rtf1 {\\pict\\bin4 }{\\}} tail}";
        let (out, _) = run(rtf);
        assert_eq!(out, rtf);
    }

    #[test]
    fn a_trailing_backslash_does_not_eat_the_closing_brace() {
        let (out, _) = run("{\\rtf1 {\\b x \\");
        assert_eq!(out, "{\\rtf1 {\\b x }}");
        let (again, _) = run(&out);
        assert_eq!(again, out);
        for cut in ["{\\rtf1 {\\pict\\bin9 ab", "{\\rtf1 x\\'4"] {
            let (out, _) = run(cut);
            assert!(out.ends_with("}}") || out.ends_with('}'), "{out}");
            assert_eq!(run(&out).0, out, "{cut}");
        }
    }

    #[test]
    fn a_document_group_that_is_an_object_is_refused() {
        let engine = Engine::new(Config::default());
        let mut cx = Cx::new(&engine);
        assert!(RtfSanitizer.sanitize(br"{\rtf1\objdata 0102}", &mut cx).is_err());
        assert!(RtfSanitizer.sanitize(br"{\rt\object x}", &mut cx).is_err());
    }

    #[test]
    fn unbalanced_groups_are_closed_and_tails_dropped() {
        let (out, _) = run(r"{\rtf1 {\b open");
        assert_eq!(out, r"{\rtf1 {\b open}}");
        let (out, found) = run(r"{\rtf1 x}MZ-tail");
        assert_eq!(out, r"{\rtf1 x}");
        assert_eq!(found, [What::Structure]);
    }
}
