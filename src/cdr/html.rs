//! HTML to plain text: what a reader sees of a page, without anything that runs or fetches.
//!
//! Used for HTML attachments when the policy converts them (`[policy.kinds] html =
//! "sanitize"`; they are blocked by default) and, by the mail layer, for HTML bodies. Scripts,
//! styles, templates, embedded frames and objects go with their content; comments,
//! declarations and processing instructions go; block elements become line breaks, list
//! items bullets, table cells tabs; links keep their text followed by the web address in
//! angle brackets (only `http`, `https` and `mailto`; `javascript:` and the like are dropped).
//! Character references are decoded. One pass over the input, no recursion, output no larger
//! than a small multiple of the input: safe on any input.

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::report::{Action, Finding, What};

/// The HTML-to-text converter as a sanitizer (output kind: text, UTF-8).
pub struct HtmlSanitizer;

impl Sanitizer for HtmlSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[FileKind::Html]
    }

    fn sanitize(&self, input: &[u8], _cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        let html = decode(input)
            .ok_or_else(|| Refusal::Malformed("HTML that is not UTF-8, UTF-16, CP932, EUC-JP or ISO-2022-JP".into()))?;
        let text = to_text(&html);
        let mut note = Finding::removed(What::Javascript, "html", "converted to plain text");
        note.action = Action::Neutralized;
        Ok(Clean {
            bytes: text.into_bytes(),
            kind: FileKind::Text,
            findings: vec![note],
        })
    }
}

/// Decode HTML bytes: a BOM or a `charset=` in the first KiB decides, then the Japanese
/// charsets by trial (as for text).
pub fn decode(input: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&input[..input.len().min(1024)]).to_ascii_lowercase();
    let declared = head
        .find("charset=")
        .map(|i| &head[i + 8..])
        .map(|rest| rest.trim_start_matches(['"', '\'']))
        .and_then(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .next()
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()));
    let enc = match encoding_rs::Encoding::for_bom(input) {
        Some((enc, _)) => enc,
        None => match declared {
            Some(enc) if !enc.decode_without_bom_handling(input).1 => enc,
            _ => super::text::charset(input)?,
        },
    };
    let (text, _, had_errors) = enc.decode(input);
    (!had_errors).then(|| text.into_owned())
}

/// Elements whose content is never text a reader sees.
const HIDDEN: &[&str] = &[
    "script", "style", "template", "noscript", "iframe", "object", "embed", "applet", "svg", "math", "head",
];

/// Elements that start a new line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "tr",
    "table",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "form",
    "fieldset",
    "address",
    "figure",
    "figcaption",
    "title",
    "body",
    "html",
];

/// Convert HTML to plain text (see the module documentation).
pub fn to_text(html: &str) -> String {
    let mut out = Builder::default();
    let mut rest = html;
    // The link being read: its address, and where its text started in the output.
    let mut link: Option<(String, usize)> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.text(rest);
            break;
        };
        out.text(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            continue;
        }
        let tag = match Tag::parse(rest) {
            Parsed::Tag(tag) => tag,
            Parsed::NotATag => {
                // A lone `<` is text.
                out.text("<");
                rest = &rest[1..];
                continue;
            }
            Parsed::Unterminated => {
                // A tag that never ends: what follows is its inside, not text. Stopping here
                // (rather than retrying from the next byte) keeps the pass linear.
                break;
            }
        };
        rest = &rest[tag.len..];
        let name = tag.name.as_str();
        if !tag.closing && HIDDEN.contains(&name) && !tag.self_closing {
            // Skip to the matching end tag (not nested: these elements do not nest text).
            let end = format!("</{name}");
            rest = find_ascii_case_insensitive(rest, &end)
                .map_or("", |i| rest[i..].find('>').map_or("", |j| &rest[i + j + 1..]));
            continue;
        }
        match (name, tag.closing) {
            ("a", false) => {
                link = tag.href.filter(|h| is_web_address(h)).map(|h| (h, out.len()));
            }
            ("a", true) => {
                if let Some((href, start)) = link.take() {
                    let shown = out.since(start);
                    let bare = href.strip_prefix("mailto:").unwrap_or(&href);
                    if !shown.contains(bare) {
                        out.raw(&format!(" <{href}>"));
                    }
                }
            }
            ("li", false) => {
                out.newline();
                out.raw("・");
            }
            ("td" | "th", false) if !out.at_line_start() => out.raw("\t"),
            ("img", _) => {
                if let Some(alt) = tag.alt.filter(|a| !a.trim().is_empty()) {
                    out.text(&format!("[{alt}]"));
                }
            }
            ("pre", closing) => {
                out.newline();
                out.pre = !closing;
            }
            // The end of a paragraph or heading leaves a blank line, as a page shows it.
            ("p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote", true) => out.paragraph(),
            (n, _) if BLOCKS.contains(&n) => out.newline(),
            _ => {}
        }
    }
    out.finish()
}

/// `http:`, `https:` and `mailto:` addresses only.
fn is_web_address(href: &str) -> bool {
    let h = href.trim().to_ascii_lowercase();
    h.starts_with("http://") || h.starts_with("https://") || h.starts_with("mailto:")
}

fn find_ascii_case_insensitive(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len()) + 1).find(|&i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
}

/// What [`Tag::parse`] found.
enum Parsed {
    Tag(Tag),
    /// `<` not followed by a name: text.
    NotATag,
    /// The input ends inside the tag (or inside a quoted value).
    Unterminated,
}

/// One tag as far as the conversion cares.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    href: Option<String>,
    alt: Option<String>,
    /// Bytes the tag takes in the input, `<` to `>`.
    len: usize,
}

impl Tag {
    /// Parse the tag at the start of `s` (which starts with `<`).
    fn parse(s: &str) -> Parsed {
        let b = s.as_bytes();
        let mut i = 1;
        let closing = b.get(1) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
            i += 1;
        }
        if i == start {
            return Parsed::NotATag;
        }
        let name = s[start..i].to_ascii_lowercase();
        let (mut href, mut alt) = (None, None);
        let mut self_closing = false;
        // Attributes: name, optional `=` and a quoted or bare value.
        loop {
            while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            match b.get(i) {
                None => return Parsed::Unterminated,
                Some(b'>') => break,
                Some(b'/') => {
                    self_closing = b.get(i + 1) == Some(&b'>');
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let key_start = i;
            while b
                .get(i)
                .is_some_and(|c| !c.is_ascii_whitespace() && !matches!(c, b'=' | b'>' | b'/'))
            {
                i += 1;
            }
            let key = s[key_start..i].to_ascii_lowercase();
            while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            let mut value = None;
            if b.get(i) == Some(&b'=') {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                    i += 1;
                }
                let v_start;
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        v_start = i + 1;
                        let Some(len) = b.get(v_start..).and_then(|v| v.iter().position(|&c| c == q)) else {
                            return Parsed::Unterminated;
                        };
                        value = Some(&s[v_start..v_start + len]);
                        i = v_start + len + 1;
                    }
                    _ => {
                        v_start = i;
                        while b.get(i).is_some_and(|c| !c.is_ascii_whitespace() && *c != b'>') {
                            i += 1;
                        }
                        value = Some(&s[v_start..i]);
                    }
                }
            }
            if key.is_empty() && value.is_none() {
                i += 1; // a stray byte; keep going
                continue;
            }
            match key.as_str() {
                "href" => href = value.map(|v| decode_references(v).trim().to_string()),
                "alt" => alt = value.map(decode_references),
                _ => {}
            }
        }
        Parsed::Tag(Tag {
            name,
            closing,
            self_closing,
            href,
            alt,
            len: i + 1,
        })
    }
}

/// HTML's names for U+00A0 to U+00FF, in code point order (`&ouml;` in Latin-1 mail).
const LATIN1_NAMES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo", "not", "shy",
    "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil", "sup1", "ordm",
    "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig",
    "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
    "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN",
    "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc",
    "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml",
    "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
];

/// Decode character references (`&amp;`, `&#12354;`, `&#x3042;`, the Latin-1 names); an
/// unknown one stays as written.
fn decode_references(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.char_indices().take(12).find(|(_, c)| *c == ';').map(|(i, _)| i);
        let decoded = end.and_then(|semi| {
            let name = &rest[1..semi];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                "copy" => '©',
                "reg" => '®',
                "yen" => '¥',
                "hellip" => '…',
                "mdash" => '—',
                "ndash" => '–',
                "euro" => '€',
                "lsquo" => '‘',
                "rsquo" => '’',
                "ldquo" => '“',
                "rdquo" => '”',
                "bull" => '•',
                "trade" => '™',
                _ => {
                    if let Some(at) = LATIN1_NAMES.iter().position(|n| *n == name) {
                        return char::from_u32(0xA0 + at as u32).map(|c| (c, semi));
                    }
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    // Control characters other than tab and line breaks are not text.
                    char::from_u32(code).filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))?
                }
            };
            Some((c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text being built: white space collapsed as a browser does (except inside `pre`), at
/// most one blank line in a row, no trailing spaces.
#[derive(Default)]
struct Builder {
    out: String,
    pre: bool,
    /// A space is owed before the next word.
    space: bool,
}

impl Builder {
    fn len(&self) -> usize {
        self.out.len()
    }

    fn since(&self, at: usize) -> &str {
        self.out.get(at..).unwrap_or_default()
    }

    fn text(&mut self, s: &str) {
        let s = decode_references(s);
        if self.pre {
            self.out.push_str(&s.replace('\r', ""));
            return;
        }
        for (i, word) in s.split(|c: char| c.is_whitespace() && c != '\u{3000}').enumerate() {
            if i > 0 {
                self.space = true;
            }
            if word.is_empty() {
                continue;
            }
            if self.space && !self.out.is_empty() && !self.out.ends_with(['\n', '\t', ' ']) {
                self.out.push(' ');
            }
            self.space = false;
            self.out.push_str(word);
        }
    }

    fn raw(&mut self, s: &str) {
        self.space = false;
        self.out.push_str(s);
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// End the line (once: several block boundaries in a row are one line break).
    fn newline(&mut self) {
        self.space = false;
        while self.out.ends_with([' ', '\t']) {
            self.out.pop();
        }
        if !self.at_line_start() {
            self.out.push('\n');
        }
    }

    /// End the line and leave one blank line (never more).
    fn paragraph(&mut self) {
        self.newline();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn finish(mut self) -> String {
        self.newline();
        let trimmed = self.out.trim_matches('\n');
        let mut text = trimmed.to_string();
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_styles_and_comments_go_and_text_stays() {
        let html = r#"<!DOCTYPE html><html><head><title>t</title><style>p{color:red}</style>
            <script>alert("x")</script></head><body><!-- hidden --><p>会議の&amp;お知らせ</p>
            <p>2行目&#x3042;&#12356;</p><SCRIPT type="x">evil()</SCRIPT><noscript>n</noscript>
            <ul><li>一</li><li>二</li></ul><table><tr><td>a</td><td>b</td></tr></table></body></html>"#;
        let text = to_text(html);
        assert_eq!(text, "会議の&お知らせ\n\n2行目あい\n\n・一\n・二\na\tb\n");
    }

    #[test]
    fn links_keep_their_text_and_show_web_addresses_only() {
        let html = r#"<p>See <a href="https://city.example.lg.jp/a?b=1&amp;c=2">the page</a>,
            <a href="javascript:evil()">click</a>, <a href='mailto:kikaku@city.example.lg.jp'>kikaku@city.example.lg.jp</a>
            <img src="x.png" alt="地図"></p>"#;
        let text = to_text(html);
        assert_eq!(
            text,
            "See the page <https://city.example.lg.jp/a?b=1&c=2>, click, kikaku@city.example.lg.jp [地図]\n"
        );
    }

    #[test]
    fn hostile_markup_ends_cleanly() {
        for html in [
            "<",
            "<a",
            "<a href=\"",
            "<script>never closed",
            "<!-- never closed",
            "&#xFFFFFFFF;",
            "&#0;x",
            "<<<>>>",
            "<p>a<pre>  x\n  y</pre>b",
            "<a href=x>y",
            "&",
            "&amp",
            "<\u{3042}>",
        ] {
            let text = to_text(html);
            assert!(text.len() <= html.len() * 4 + 8, "{html:?} -> {text:?}");
        }
        assert_eq!(to_text("<p>a</p><pre>  x\n  y</pre>b"), "a\n\n  x\n  y\nb\n");
        // Unterminated tags and quotes, many of them: linear, not quadratic.
        let hostile = "<a b='".repeat(200_000);
        let started = std::time::Instant::now();
        assert_eq!(to_text(&hostile), "");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
