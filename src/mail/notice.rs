//! The notice at the top of a rebuilt mail's body: what was done to the text, one line per
//! attachment with its outcome and reason (and its download link), and notes about
//! signatures, encrypted parts and broken structure — filled into the operator's template
//! (Japanese by default).

use crate::report::{Outcome, What};

/// One attachment's line, as the notice shows it.
#[derive(Debug, Clone)]
pub struct Line {
    /// The original name (or a description of the part when it had none).
    pub name: String,
    /// The forwarded message it was in, if any (its subject).
    pub within: Option<String>,
    pub outcome: Outcome,
    /// The engine's reason word for a refusal (`executable`, `encrypted`, ...), or the mail
    /// layer's own (`tnef`, `signature`, `bad_encoding`, `malformed_mail`).
    pub reason: Option<String>,
    /// The attached file's name when it changed (`.docm` → `.docx`) and it is attached.
    pub renamed: Option<String>,
    /// Whether the clean file is in the mail.
    pub attached: bool,
    /// What was removed, by kind of finding.
    pub removed: Vec<What>,
    /// The recipient page link.
    pub link: Option<String>,
}

fn reason_ja(reason: &str) -> &'static str {
    crate::texts::reason(reason).ja
}

fn what_ja(what: What) -> &'static str {
    crate::texts::what(what).ja
}

impl Line {
    pub fn render(&self) -> String {
        let mut s = String::from("・");
        if let Some(w) = &self.within {
            s.push_str(&format!("転送メール「{w}」内の "));
        }
        s.push_str(&self.name);
        let status = match self.outcome {
            // A signature is removed, not disarmed and offered.
            _ if self.reason.as_deref() == Some("signature") => format!("削除: {}", reason_ja("signature")),
            Outcome::Clean | Outcome::Disarmed => {
                // Pages that could not be read are not something removed: said apart.
                let removed: Vec<What> = self.removed.iter().copied().filter(|w| *w != What::Damage).collect();
                let mut t = if self.removed.is_empty() {
                    "無害化済み（問題は見つかりませんでした）".to_string()
                } else if removed.is_empty() {
                    "無害化済み".to_string()
                } else {
                    let mut words: Vec<&str> = removed.iter().map(|w| what_ja(*w)).collect();
                    words.dedup();
                    format!("無害化済み（{}を削除）", words.join("・"))
                };
                if self.removed.contains(&What::Damage) {
                    t.push_str("。元のファイルに読めないページがあり、無害化したファイルには含まれていません（原本は保管されています）");
                }
                if let (Some(new), true) = (&self.renamed, self.attached) {
                    t = format!("{t} → {new} として添付");
                } else if self.attached {
                    t.push_str(" 添付あり");
                }
                if self.attached && self.link.is_some() {
                    t.push_str("（原本の開示申請は下記リンクから）");
                } else if !self.attached {
                    t.push_str(" 下記リンクから取得できます");
                }
                t
            }
            Outcome::Blocked => format!("削除: {}", reason_ja(self.reason.as_deref().unwrap_or(""))),
            Outcome::Held => format!("保留: {}", reason_ja(self.reason.as_deref().unwrap_or(""))),
            Outcome::Error => format!("削除: {}", reason_ja(self.reason.as_deref().unwrap_or("internal"))),
        };
        s.push_str(&format!(" … {status}"));
        if let Some(link) = &self.link {
            s.push_str(&format!("\n    {link}"));
        }
        s
    }
}

/// Fill the template. Unknown `{…}` are left as written.
pub fn render(template: &str, summary: &str, lines: &[Line], notes: &[String], retention_days: u64) -> String {
    let attachments = if lines.is_empty() {
        "添付ファイルはありません。".to_string()
    } else {
        let mut a = format!("添付ファイル（{}件）:\n", lines.len());
        a.push_str(&lines.iter().map(Line::render).collect::<Vec<_>>().join("\n"));
        a
    };
    let text = template
        .replace("{summary}", summary)
        .replace("{attachments}", &attachments)
        .replace("{notes}", &notes.join("\n"))
        .replace("{retention_days}", &retention_days.to_string());
    // Empty placeholders leave empty lines; keep at most one in a row.
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        let is_blank = line.trim().is_empty();
        if is_blank && blank {
            continue;
        }
        blank = is_blank;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attachment_gets_a_line_with_its_outcome() {
        let lines = vec![
            Line {
                name: "見積書.docm".into(),
                within: None,
                outcome: Outcome::Disarmed,
                reason: None,
                renamed: Some("見積書.docx".into()),
                attached: true,
                removed: vec![What::Macro],
                link: None,
            },
            Line {
                name: "請求書.pdf".into(),
                within: Some("Fwd: 請求".into()),
                outcome: Outcome::Blocked,
                reason: Some("executable".into()),
                renamed: None,
                attached: false,
                removed: vec![],
                link: Some("http://gw/o/TOKEN".into()),
            },
        ];
        let text = render(crate::config::DEFAULT_NOTICE, "本文: 変更なし", &lines, &[], 30);
        assert!(
            text.contains("・見積書.docm … 無害化済み（マクロを削除） → 見積書.docx として添付"),
            "{text}"
        );
        assert!(
            text.contains("転送メール「Fwd: 請求」内の 請求書.pdf … 削除: 実行ファイル"),
            "{text}"
        );
        assert!(text.contains("    http://gw/o/TOKEN"));
        assert!(text.contains("原本は 30 日間保管"));
        assert!(!text.contains("\n\n\n"));
    }

    #[test]
    fn pages_that_could_not_be_read_are_said_apart_from_what_was_removed() {
        let line = Line {
            name: "報告書.pdf".into(),
            within: None,
            outcome: Outcome::Disarmed,
            reason: None,
            renamed: None,
            attached: true,
            removed: vec![What::Javascript, What::Damage],
            link: None,
        };
        let text = line.render();
        assert!(text.contains("無害化済み（スクリプトを削除）"), "{text}");
        assert!(text.contains("読めないページがあり"), "{text}");
        assert!(!text.contains("読めなかったページを削除"), "{text}");
    }
}
