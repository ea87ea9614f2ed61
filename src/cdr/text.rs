//! Plain text and CSV: checked to be text in a charset Japanese offices use (UTF-8, UTF-16
//! with a BOM, CP932, EUC-JP, ISO-2022-JP) and passed through byte for byte. Anything that
//! does not decode cleanly as one of them is refused as malformed, not guessed at.

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};

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

    fn sanitize(&self, input: &[u8], _cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        if charset(input).is_none() {
            return Err(Refusal::Malformed(
                "text that is not UTF-8, UTF-16, CP932, EUC-JP or ISO-2022-JP".into(),
            ));
        }
        Ok(Clean {
            bytes: input.to_vec(),
            kind: FileKind::Text,
            findings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
