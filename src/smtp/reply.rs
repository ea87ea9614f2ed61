//! SMTP replies: a code and one or more lines of text (the text carries the enhanced status
//! code, RFC 3463, where one applies).

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        Reply { code, lines }
    }

    /// 2xx and 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// 4xx: the sender keeps the message and tries again.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The reply on the wire: `250-first\r\n250 last\r\n`. Text is stripped of CR and LF so a
    /// next hop's reply passed on cannot inject lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map_or("", String::as_str);
            let clean: String = text.chars().filter(|c| *c != '\r' && *c != '\n').take(500).collect();
            let sep = if i + 1 == n { ' ' } else { '-' };
            let _ = write!(out, "{}{sep}{clean}\r\n", self.code);
        }
        out.into_bytes()
    }

    /// The text of all lines, joined (for logs and for passing on).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_and_no_injected_lines() {
        let r = Reply::multi(250, vec!["mugai".into(), "PIPELINING".into(), "8BITMIME".into()]);
        assert_eq!(r.to_bytes(), b"250-mugai\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        let r = Reply::new(451, "4.3.0 next hop said\r\n250 fake");
        assert_eq!(r.to_bytes(), b"451 4.3.0 next hop said250 fake\r\n");
    }
}
