//! Word field instructions that fetch or run something (`DDE`, `DDEAUTO`, `INCLUDETEXT`,
//! `INCLUDEPICTURE`, `IMPORT`, `LINK`, `DATABASE`, `MACROBUTTON`): one judgement for every
//! format that carries fields (RTF, OOXML, Word 97-2003), so a field refused in one is refused
//! in all. Judged by every word of the instruction, not only the first: a nested
//! `{INCLUDEPICTURE …}` inside an `IF` fetches as surely as one on its own.

use crate::report::What;

/// What a field instruction does that a document must not, if anything.
pub fn dangerous_instruction(instr: &str) -> Option<What> {
    let upper = instr.to_uppercase();
    let words = upper
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    let mut found = None;
    for word in words {
        match word {
            "DDE" | "DDEAUTO" => return Some(What::Dde),
            "INCLUDETEXT" | "INCLUDEPICTURE" | "IMPORT" | "LINK" | "DATABASE" => found = Some(What::ExternalLink),
            "MACROBUTTON" => found = found.or(Some(What::Macro)),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetching_and_running_fields() {
        assert_eq!(
            dangerous_instruction(r#" DDEAUTO c:\\cmd.exe "/k calc""#),
            Some(What::Dde)
        );
        assert_eq!(
            dangerous_instruction(r#"IF 1 = 1 "{ INCLUDEPICTURE "http://x/a.png" \d }""#),
            Some(What::ExternalLink)
        );
        assert_eq!(dangerous_instruction("MACROBUTTON Go Click"), Some(What::Macro));
        assert_eq!(dangerous_instruction(" PAGE "), None);
        assert_eq!(dangerous_instruction("REF LINK_1 \\h"), None);
        assert_eq!(dangerous_instruction(r#"HYPERLINK "https://example.jp""#), None);
    }
}
