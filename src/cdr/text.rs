//! Plain text and CSV: checked to be text in a charset Japanese offices use (UTF-8, UTF-16
//! with a BOM, CP932, EUC-JP, ISO-2022-JP) and passed through byte for byte. Anything that
//! does not decode cleanly as one of them is refused as malformed, not guessed at.
//!
//! CSV files (by name: `.csv`) get one change by default (`policy.csv_injection`): a cell
//! that a spreadsheet would run as a formula — starting with `=`, `+`, `-` or `@`, and not a
//! number such as `-12` — gets a leading `'`, which makes it text (CSV/DDE injection:
//! `=cmd|' /c calc'!A0`). This works on the bytes, which is exact for UTF-8, CP932 and EUC-JP:
//! in all three, the delimiters and the four characters are single ASCII bytes that never
//! occur inside a multi-byte character where a cell starts. UTF-16 and ISO-2022-JP CSVs are
//! passed as they are.

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::policy::CsvInjection;
use crate::report::{Action, Finding, What};

/// The text sanitizer.
pub struct TextSanitizer;

/// The charset `bytes` decode in without errors, if any.
pub fn charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return Some(enc);
    }
    // ISO-2022-JP is 7-bit (it is also valid UTF-8): its escape sequences decide first.
    if bytes.contains(&0x1B) && !encoding_rs::ISO_2022_JP.decode_without_bom_handling(bytes).1 {
        return Some(encoding_rs::ISO_2022_JP);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return Some(encoding_rs::UTF_8);
    }
    [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP]
        .into_iter()
        .find(|enc| !enc.decode_without_bom_handling(bytes).1)
}

impl Sanitizer for TextSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[FileKind::Text]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        let Some(enc) = charset(input) else {
            return Err(Refusal::Malformed(
                "text that is not UTF-8, UTF-16, CP932, EUC-JP or ISO-2022-JP".into(),
            ));
        };
        let is_csv = cx
            .name()
            .and_then(crate::policy::admission::saved_extension)
            .is_some_and(|e| e == "csv");
        let byte_safe = [encoding_rs::UTF_8, encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP].contains(&enc);
        if is_csv && byte_safe && cx.config.policy.csv_injection == CsvInjection::Neutralize {
            let (bytes, cells) = neutralize_csv(input);
            if cells > 0 {
                let mut note = Finding::removed(
                    What::Dde,
                    "csv",
                    format!("{cells} cells starting like a formula prefixed with '"),
                );
                note.action = Action::Neutralized;
                return Ok(Clean {
                    bytes,
                    kind: FileKind::Text,
                    findings: vec![note],
                });
            }
        }
        Ok(Clean {
            bytes: input.to_vec(),
            kind: FileKind::Text,
            findings: Vec::new(),
        })
    }
}

/// Prefix `'` to every CSV cell that starts like a formula and is not a number. Returns the
/// new bytes and how many cells changed. Quoted cells (`"…"`, with `""` inside) are followed,
/// so commas and line breaks inside them are not taken for delimiters.
fn neutralize_csv(input: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut changed = 0;
    let mut at = 0;
    while at < input.len() {
        // At the start of a cell.
        let quoted = input[at] == b'"';
        let content = if quoted { at + 1 } else { at };
        // The cell's end: the delimiter or line break after it (after the closing quote).
        let mut end = content;
        if quoted {
            while end < input.len() {
                if input[end] == b'"' {
                    if input.get(end + 1) == Some(&b'"') {
                        end += 2;
                        continue;
                    }
                    end += 1;
                    break;
                }
                end += 1;
            }
        }
        while end < input.len() && !matches!(input[end], b',' | b'\n' | b'\r') {
            end += 1;
        }
        let text_end = if quoted {
            end.saturating_sub(1).max(content)
        } else {
            end
        };
        let cell = &input[content..text_end];
        out.extend_from_slice(&input[at..content]);
        if cell.first().is_some_and(|b| matches!(b, b'=' | b'+' | b'-' | b'@')) && !is_number(cell) {
            out.push(b'\'');
            changed += 1;
        }
        out.extend_from_slice(&input[content..end]);
        // The delimiter or line break (CRLF as one).
        if end < input.len() {
            out.push(input[end]);
            end += 1;
            if input[end - 1] == b'\r' && input.get(end) == Some(&b'\n') {
                out.push(b'\n');
                end += 1;
            }
        }
        at = end;
    }
    (out, changed)
}

/// `-12`, `+3.5`, `-1e3`: a number a spreadsheet reads as one, not a formula.
fn is_number(cell: &[u8]) -> bool {
    let body = cell
        .strip_prefix(b"-")
        .or_else(|| cell.strip_prefix(b"+"))
        .unwrap_or(cell);
    let text = std::str::from_utf8(body).unwrap_or("x");
    !body.is_empty() && body[0] != b'-' && body[0] != b'+' && text.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_formula_cells_become_text_and_numbers_stay() {
        let csv =
            "件名,金額,式\r\n会議費,-1000,=SUM(B1:B2)\r\n\"@cmd\",+3.5,\"=cmd|' /c calc'!A0, \"\"x\"\"\"\n-,+1e3,@\n";
        let (out, n) = neutralize_csv(csv.as_bytes());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "件名,金額,式\r\n会議費,-1000,'=SUM(B1:B2)\r\n\"'@cmd\",+3.5,\"'=cmd|' /c calc'!A0, \"\"x\"\"\"\n'-,+1e3,'@\n"
        );
        assert_eq!(n, 5);
        // A second pass changes nothing.
        let (again, n) = neutralize_csv(out.as_bytes());
        assert_eq!((String::from_utf8(again).unwrap(), n), (out, 0));
        // CP932 bytes go through untouched around the change.
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("表,=1+1\n");
        let (out, n) = neutralize_csv(&sjis);
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&out);
        assert_eq!((text.as_ref(), n), ("表,'=1+1\n", 1));
    }

    #[test]
    fn japanese_charsets_are_recognised() {
        assert_eq!(charset("会議資料".as_bytes()), Some(encoding_rs::UTF_8));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("会議資料,1000");
        assert_eq!(charset(&sjis), Some(encoding_rs::SHIFT_JIS));
        let (jis, _, _) = encoding_rs::ISO_2022_JP.encode("会議資料");
        assert_eq!(charset(&jis), Some(encoding_rs::ISO_2022_JP));
        assert_eq!(charset(&[0xFF, 0xFE, b'a', 0]), Some(encoding_rs::UTF_16LE));
        for bad in [
            &[0x81u8, 0x20, 0xFF, 0xFF, 0x80][..],
            &[0x82, 0x20],
            &[0x8E, 0x20, 0x82, 0x20],
        ] {
            assert_eq!(charset(bad), None, "{bad:x?}");
        }
    }
}
