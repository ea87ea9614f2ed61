//! EHLO and HELO: the client names itself; EHLO lists the extensions. Either one ends an
//! open transaction (RFC 5321 4.1.4).

use super::session::Session;
use super::Reply;

impl Session {
    pub(super) fn ehlo(&mut self, args: &str, extended: bool) -> bool {
        let name = args.split_whitespace().next().unwrap_or("");
        if name.is_empty() {
            let verb = if extended { "EHLO" } else { "HELO" };
            self.reply(501, format!("5.5.4 Syntax: {verb} hostname"));
            return false;
        }
        self.end_transaction();
        self.xforward.clear();
        self.helo = Some(name.chars().take(255).collect());
        self.esmtp = extended;
        let host = self.limits.hostname.clone();
        if !extended {
            self.reply(250, host);
            return true;
        }
        let lines = vec![
            host,
            "PIPELINING".into(),
            format!("SIZE {}", self.limits.max_message_bytes),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "DSN".into(),
            "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE".into(),
        ];
        let mut lines = lines;
        if self.limits.starttls {
            lines.push("STARTTLS".into());
        }
        self.queue(super::Step::Reply(Reply::multi(250, lines)));
        true
    }
}
