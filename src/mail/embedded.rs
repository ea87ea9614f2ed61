//! Files hidden in a text body by the old encodings that mail clients still decode: uuencode
//! (`begin 644 name` … `end`, and `begin-base64 644 name` … `====`), yEnc (`=ybegin` …
//! `=yend`) and BinHex 4.0. Outlook, Thunderbird and others show such a block as an
//! attachment, so a gateway that delivers the text as it came delivers the file. Each block
//! is cut out of the text; uuencoded files are decoded and go through the engine like any
//! attachment (an `.exe` is blocked like any executable); yEnc and BinHex blocks are refused
//! unread (their 8-bit payload does not survive the body's charset decoding, and nothing
//! legitimate sends them to an office today).
//!
//! Pure text in, text and files out; output never larger than the input.

/// A block cut out of a text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The file name the block gives, if any.
    pub name: Option<String>,
    /// The decoded file (uuencode); `None` when the block is refused unread.
    pub bytes: Option<Vec<u8>>,
    /// `uuencode`, `yenc` or `binhex`.
    pub encoding: &'static str,
}

/// The text without its encoded blocks, and the blocks; `None` when it has none (the common
/// case costs one scan and no copy).
pub fn cut(text: &str) -> Option<(String, Vec<Embedded>)> {
    // `begin` also finds `=ybegin`.
    let may_hold = text.contains("begin") || text.contains("BinHex");
    if !may_hold {
        return None;
    }
    let mut kept = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let bare = line.trim_end_matches(['\r', '\n']);
        if let Some(name) = uuencode_begin(bare) {
            let mut bytes = Vec::new();
            for body in lines.by_ref() {
                let body = body.trim_end_matches(['\r', '\n']);
                if body == "end" {
                    break;
                }
                uudecode_line(body, &mut bytes);
            }
            found.push(Embedded {
                name,
                bytes: Some(bytes),
                encoding: "uuencode",
            });
        } else if let Some(name) = base64_begin(bare) {
            let mut encoded = String::new();
            for body in lines.by_ref() {
                let body = body.trim_end_matches(['\r', '\n']);
                if body == "====" {
                    break;
                }
                encoded.push_str(body.trim());
            }
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .unwrap_or_default();
            found.push(Embedded {
                name,
                bytes: Some(bytes),
                encoding: "uuencode",
            });
        } else if bare.starts_with("=ybegin ") {
            let name = bare.split_once(" name=").map(|(_, n)| n.trim().to_string());
            for body in lines.by_ref() {
                if body.starts_with("=yend") {
                    break;
                }
            }
            found.push(Embedded {
                name,
                bytes: None,
                encoding: "yenc",
            });
        } else if bare.contains("(This file must be converted with BinHex") {
            // The data starts with ':' and ends at the next line that ends with ':'.
            let mut started = false;
            while let Some(body) = lines.peek() {
                let body = body.trim_end_matches(['\r', '\n']);
                if !started && !body.starts_with(':') && !body.is_empty() {
                    break;
                }
                started |= body.starts_with(':');
                let closes = started && body.len() > 1 && body.ends_with(':');
                lines.next();
                if closes {
                    break;
                }
            }
            found.push(Embedded {
                name: None,
                bytes: None,
                encoding: "binhex",
            });
        } else {
            kept.push_str(line);
        }
    }
    (!found.is_empty()).then_some((kept, found))
}

/// `begin 644 name` (mode of three or four octal digits).
fn uuencode_begin(line: &str) -> Option<Option<String>> {
    mode_and_name(line.strip_prefix("begin ")?)
}

/// `begin-base64 644 name` (uuencode -m).
fn base64_begin(line: &str) -> Option<Option<String>> {
    mode_and_name(line.strip_prefix("begin-base64 ")?)
}

fn mode_and_name(rest: &str) -> Option<Option<String>> {
    let (mode, name) = rest.split_once(' ').unwrap_or((rest, ""));
    let octal = (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    octal.then(|| Some(name.trim().to_string()).filter(|n| !n.is_empty()))
}

/// One uuencoded line: a length character, then groups of four characters of six bits.
fn uudecode_line(line: &str, out: &mut Vec<u8>) {
    let bytes = line.as_bytes();
    let Some((&len, data)) = bytes.split_first() else {
        return;
    };
    let want = usize::from(len.wrapping_sub(b' ') & 63);
    let six = |c: u8| c.wrapping_sub(b' ') & 63;
    let mut written = 0;
    for group in data.chunks(4) {
        let g = [0, 1, 2, 3].map(|i| group.get(i).copied().map_or(0, six));
        for b in [(g[0] << 2) | (g[1] >> 4), (g[1] << 4) | (g[2] >> 2), (g[2] << 6) | g[3]] {
            if written < want {
                out.push(b);
                written += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuencode_is_cut_out_and_decoded() {
        // `uuencode` of "MZ\x90\0hello" as invoice.exe.
        let text = "Please see the invoice.\r\nbegin 644 invoice.exe\r\n)35J0`&AE;&QO\r\n`\r\nend\r\nThanks\r\n";
        let (kept, found) = cut(text).expect("a block");
        assert_eq!(kept, "Please see the invoice.\r\nThanks\r\n");
        assert_eq!(
            found,
            [Embedded {
                name: Some("invoice.exe".into()),
                bytes: Some(b"MZ\x90\0hello".to_vec()),
                encoding: "uuencode",
            }]
        );
        let (_, found) = cut("begin-base64 600 a.bin\nTVqQ\n====\n").expect("a block");
        assert_eq!(found[0].bytes.as_deref(), Some(&b"MZ\x90"[..]));
    }

    #[test]
    fn yenc_and_binhex_are_cut_out_unread() {
        let text = "a\n=ybegin line=128 size=3 name=x.exe\n\u{7f}\u{7f}\u{7f}\n=yend size=3\nb\n(This file must be converted with BinHex 4.0)\n:abc\ndef:\nc\n";
        let (kept, found) = cut(text).expect("blocks");
        assert_eq!(kept, "a\nb\nc\n");
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].encoding, found[0].name.as_deref()), ("yenc", Some("x.exe")));
        assert_eq!((found[1].encoding, found[1].bytes.as_ref()), ("binhex", None));
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        assert_eq!(cut("We begin at 10.\nbegin 99 bottles\nbegin\n"), None);
        assert_eq!(cut("plain\n"), None);
    }
}
