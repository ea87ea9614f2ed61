//! The words a person reads for each stable code mugai reports: why a file was refused or
//! held (the report's `reason`), and what kind of active content was removed (a finding's
//! `what`), in Japanese and English. The notice in the mail and the recipient and approver
//! pages all read them here, so a code is never shown raw on a Japanese page; a test walks
//! the source for every reason code and fails when one has no words.
//!
//! A leaf: uses `report` (the finding kinds).

use crate::report::What;

/// One code's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    pub ja: &'static str,
    pub en: &'static str,
}

const fn w(ja: &'static str, en: &'static str) -> Words {
    Words { ja, en }
}

/// Every reason code, with its words: the engine's refusals (`cdr::Refusal::reason` and the
/// admission's `why`) and the mail layer's own.
pub const REASONS: &[(&str, Words)] = &[
    (
        "encrypted",
        w(
            "パスワード付き（暗号化）のため中身を確認できません",
            "encrypted: a password is needed to look inside",
        ),
    ),
    (
        "wrong_password",
        w("パスワードが違います", "the password does not open it"),
    ),
    (
        "not_an_archive",
        w(
            "パスワードで開けるのは ZIP 形式だけです",
            "only ZIP archives can be opened with a password",
        ),
    ),
    (
        "executable",
        w("実行ファイルは受け取れません", "executable files are not accepted"),
    ),
    (
        "script",
        w("スクリプトファイルは受け取れません", "script files are not accepted"),
    ),
    (
        "external_link",
        w(
            "外部のブック・DDE へのリンクを含むため受け取れません",
            "it links to outside workbooks or DDE",
        ),
    ),
    (
        "active_action",
        w(
            "クリックでプログラムを実行する設定を含むため受け取れません",
            "it runs a program when clicked",
        ),
    ),
    (
        "active_text",
        w(
            "開くと動作する形式（ショートカット・設定・HTML など）は受け取れません",
            "a format that acts when opened (shortcut, settings, HTML, ...)",
        ),
    ),
    (
        "cannot_rebuild",
        w(
            "安全に作り直せない形式のため受け取れません",
            "it cannot be rebuilt safely",
        ),
    ),
    (
        "missing_extension",
        w(
            "拡張子のないファイルは運用方針により受け取れません",
            "files without an extension are refused by policy",
        ),
    ),
    (
        "extension_mismatch",
        w(
            "拡張子と中身の種類が一致しません",
            "the extension does not match the content",
        ),
    ),
    ("malformed", w("ファイルが壊れています", "the file is damaged")),
    (
        "limit_exceeded",
        w(
            "大きさ・展開量・入れ子の上限を超えています",
            "it exceeds the size, expansion or nesting limits",
        ),
    ),
    (
        "timeout",
        w("処理が時間内に終わりませんでした", "processing did not finish in time"),
    ),
    (
        "unsupported",
        w("無害化に対応していない形式です", "a format that cannot be sanitized"),
    ),
    (
        "unsupported_archive",
        w("対応していない圧縮形式です", "an archive format that is not supported"),
    ),
    (
        "policy",
        w("運用方針により受け取れない種類です", "a kind refused by policy"),
    ),
    (
        "tnef",
        w(
            "Outlook の TNEF 形式（winmail.dat）です",
            "Outlook's TNEF format (winmail.dat)",
        ),
    ),
    (
        "signature",
        w(
            "電子署名（無害化で無効になるため削除）",
            "a digital signature (removed: sanitizing invalidates it)",
        ),
    ),
    (
        "bad_encoding",
        w("メールのエンコードが壊れています", "the mail's encoding is broken"),
    ),
    (
        "encoded_block",
        w(
            "本文に埋め込まれた符号化ファイル（yEnc・BinHex）は受け取れません",
            "files encoded into the text (yEnc, BinHex) are not accepted",
        ),
    ),
    (
        "malformed_mail",
        w(
            "メールの構造が壊れているため保留しました",
            "held: the mail's structure is broken",
        ),
    ),
    (
        "internal",
        w("処理中にエラーが起きました", "an error occurred while processing"),
    ),
];

/// Words for a code this version does not know (an older report, a newer peer).
const UNKNOWN: Words = w("処理できませんでした", "could not be processed");

/// The words of a reason code.
pub fn reason(code: &str) -> Words {
    REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(UNKNOWN, |(_, words)| *words)
}

/// The words of a finding kind (exhaustive: a new kind does not compile without them).
pub fn what(what: What) -> Words {
    match what {
        What::Javascript => w("スクリプト", "Script"),
        What::AutoAction | What::Action => w("自動実行", "Automatic action"),
        What::Launch => w("外部プログラム起動", "Program launch"),
        What::EmbeddedFile => w("埋め込みファイル", "Embedded file"),
        What::ExternalLink | What::Uri => w("外部リンク", "External link"),
        What::FormSubmit => w("フォーム送信", "Form submission"),
        What::Multimedia => w("マルチメディア", "Multimedia"),
        What::Macro => w("マクロ", "Macro"),
        What::OleObject | What::Activex => w("埋め込みオブジェクト", "Embedded object"),
        What::Dde => w("DDE", "DDE"),
        What::Xfa => w("XFA フォーム", "XFA form"),
        What::Metadata | What::PrivateData => w("メタデータ", "Metadata"),
        What::Annotation => w("注釈", "Annotation"),
        What::Encryption => w("暗号化", "Encryption"),
        What::Structure => w("不正な構造", "Broken structure"),
        What::Damage => w(
            "読めなかったページ",
            "Content that could not be read (the original has it)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// String literals of reason codes in `text`: after `why: "`, or inside the bodies of
    /// the functions named (their `=> "code"` arms), or the mail layer's `(Outcome::…, "code")`.
    fn codes_in(text: &str, functions: &[&str]) -> Vec<String> {
        let mut codes = Vec::new();
        let mut literal_after = |pattern: &str, within: &str| {
            let mut rest = within;
            while let Some(i) = rest.find(pattern) {
                rest = &rest[i + pattern.len()..];
                let code: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if rest[code.len()..].starts_with('"') && !code.is_empty() {
                    codes.push(code);
                }
            }
        };
        literal_after("why: \"", text);
        literal_after(
            ", \"",
            &text
                .lines()
                .filter(|l| l.contains("Some((Outcome::"))
                .collect::<String>(),
        );
        for f in functions {
            if let Some(start) = text.find(f) {
                let body = &text[start..];
                let end = body
                    .find("\n}\n")
                    .or_else(|| body.find("\n    }\n"))
                    .unwrap_or(body.len());
                literal_after("=> \"", &body[..end]);
            }
        }
        codes
    }

    #[test]
    fn every_reason_code_in_the_source_has_both_texts() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source");
                    // The refusals' own codes are the arms of these two functions.
                    let functions: &[&str] = if path.ends_with("cdr/mod.rs") {
                        &["pub fn reason(&self)", "fn forbidden_reason("]
                    } else {
                        &[]
                    };
                    found.extend(codes_in(&text, functions));
                }
            }
        }
        found.sort();
        found.dedup();
        // The walk finds what it should (a broken walk would pass any table).
        for sure in [
            "encrypted",
            "executable",
            "active_text",
            "cannot_rebuild",
            "malformed_mail",
            "signature",
        ] {
            assert!(found.iter().any(|c| c == sure), "the walk missed {sure}: {found:?}");
        }
        let missing: Vec<&String> = found.iter().filter(|c| !REASONS.iter().any(|(r, _)| r == c)).collect();
        assert!(missing.is_empty(), "reason codes without words: {missing:?}");
        for (code, words) in REASONS {
            assert!(!words.ja.is_empty() && !words.en.is_empty(), "{code}");
            assert!(!words.ja.is_ascii(), "{code}: the Japanese text is not Japanese");
            assert!(words.en.is_ascii(), "{code}: the English text is not English");
            assert_ne!(*words, UNKNOWN, "{code}");
        }
        assert_eq!(reason("no_such_code"), UNKNOWN);
    }

    #[test]
    fn every_finding_kind_has_both_texts() {
        use What::*;
        for what in [
            Javascript,
            AutoAction,
            Launch,
            EmbeddedFile,
            ExternalLink,
            Uri,
            FormSubmit,
            Multimedia,
            Macro,
            OleObject,
            Activex,
            Dde,
            Xfa,
            Metadata,
            Annotation,
            Action,
            Encryption,
            PrivateData,
            Structure,
            Damage,
        ] {
            let words = super::what(what);
            assert!(
                !words.ja.is_empty() && words.en.is_ascii() && !words.en.is_empty(),
                "{what:?}"
            );
        }
    }
}
