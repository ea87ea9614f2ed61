//! The readable body of a rebuilt mail: HTML turned into text (the engine's converter:
//! scripts, styles, forms' actions and frames gone, links shown as text), web addresses
//! defanged when the policy says so, and the result encoded in the body charset.

use crate::config::BodyCharset;

/// HTML → plain text (`cdr::html::to_text`).
pub fn html_to_text(html: &str) -> String {
    crate::cdr::html::to_text(html)
}

/// Make every web address in `text` unclickable but readable: `https://www.example.jp/a`
/// becomes `hxxps://www[.]example[.]jp/a`. Covers http, https and ftp (any case) and the
/// `www.` form mail clients also link. Returns the text and how many addresses changed.
pub fn defang(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut count = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let scheme = ["https://", "http://", "ftp://"]
            .into_iter()
            .find(|s| rest.len() >= s.len() && rest.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes()));
        let at_word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let www = at_word_start && rest.len() > 4 && rest.as_bytes()[..4].eq_ignore_ascii_case(b"www.");
        if (scheme.is_some() && at_word_start) || www {
            out.push_str(&text[copied..i]);
            let host_start = i + scheme.map_or(0, str::len);
            if let Some(s) = scheme {
                // http → hxxp, https → hxxps, ftp → fxp: the scheme no client links.
                let original = &text[i..i + s.len()];
                let lower = original.to_ascii_lowercase();
                out.push_str(&match lower.as_str() {
                    "ftp://" => "fxp://".to_string(),
                    _ => lower.replacen("tt", "xx", 1),
                });
            }
            // The host runs to the first character that cannot be in one.
            let host_len = text[host_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-' || c == ':' || c == '@'))
                .unwrap_or(text.len() - host_start);
            let host = &text[host_start..host_start + host_len];
            out.push_str(&host.replace('.', "[.]"));
            i = host_start + host_len;
            copied = i;
            count += 1;
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out.push_str(&text[copied..]);
    (out, count)
}

/// Line endings as CRLF, and no line longer than `max` characters (long lines are broken,
/// never cut), ready for any transfer encoding.
pub fn normalize_lines(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut n = 0;
        for c in line.chars() {
            if n == max {
                out.push_str("\r\n");
                n = 0;
            }
            out.push(c);
            n += 1;
        }
        out.push_str("\r\n");
    }
    // split() yields one empty piece after a final newline; drop the extra CRLF it added.
    if text.ends_with('\n') {
        out.truncate(out.len() - 2);
    }
    out
}

/// Encode the body in the configured charset. ISO-2022-JP cannot hold every character:
/// those outside JIS X 0208 become `?` (encoding_rs would write HTML character references).
pub fn encode(text: &str, charset: BodyCharset) -> Vec<u8> {
    match charset {
        BodyCharset::Utf8 => text.as_bytes().to_vec(),
        BodyCharset::Iso2022Jp => {
            let enc = encoding_rs::ISO_2022_JP;
            let mut buf = [0u8; 4];
            let mappable: String = text
                .chars()
                .map(|c| {
                    let s = c.encode_utf8(&mut buf);
                    if enc.encode(s).2 {
                        '?'
                    } else {
                        c
                    }
                })
                .collect();
            enc.encode(&mappable).0.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_defanged_and_the_rest_kept() {
        let (t, n) = defang("見積: https://evil.example.jp/pay?x=1 と www.example.com、HTTP://A.B");
        assert_eq!(
            t,
            "見積: hxxps://evil[.]example[.]jp/pay?x=1 と www[.]example[.]com、hxxp://A[.]B"
        );
        assert_eq!(n, 3);
        assert_eq!(
            defang("no links, user@example.jp"),
            ("no links, user@example.jp".to_string(), 0)
        );
    }

    #[test]
    fn lines_are_crlf_and_bounded() {
        let long = "あ".repeat(1000);
        let out = normalize_lines(&format!("a\nb\r\n{long}\n"), 300);
        assert!(out.ends_with("\r\n"));
        assert!(out.split("\r\n").all(|l| l.chars().count() <= 300));
        assert_eq!(out.matches("\r\n").count(), 2 + 4);
    }

    #[test]
    fn iso_2022_jp_replaces_what_it_cannot_hold() {
        let bytes = encode("見積🙂", BodyCharset::Iso2022Jp);
        assert!(bytes.iter().all(|&b| b < 0x80));
        let (back, _, _) = encoding_rs::ISO_2022_JP.decode(&bytes);
        assert_eq!(back, "見積?");
    }
}
