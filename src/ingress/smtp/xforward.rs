//! XFORWARD (Postfix): the original client's NAME, ADDR, PORT, PROTO, HELO, IDENT and SOURCE,
//! so the next hop logs the real origin instead of mugai. Only between transactions; reset
//! by RSET, HELO/EHLO and after each message.

use super::session::Session;

const ATTRIBUTES: &[&str] = &["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"];

impl Session {
    pub(super) fn xforward(&mut self, args: &str) -> bool {
        if self.tx.is_some() {
            self.reply(503, "5.5.1 Error: MAIL transaction in progress");
            return false;
        }
        let mut given = Vec::new();
        for pair in args.split_whitespace() {
            let Some((name, value)) = pair.split_once('=') else {
                self.reply(501, "5.5.4 Syntax: XFORWARD attribute=value...");
                return false;
            };
            let name = name.to_ascii_uppercase();
            if !ATTRIBUTES.contains(&name.as_str()) || value.len() > 255 || value.chars().any(char::is_control) {
                self.reply(
                    501,
                    format!(
                        "5.5.4 Bad XFORWARD attribute: {}",
                        name.chars().take(20).collect::<String>()
                    ),
                );
                return false;
            }
            given.push((name, value.chars().take(255).collect::<String>()));
        }
        if given.is_empty() {
            self.reply(501, "5.5.4 Syntax: XFORWARD attribute=value...");
            return false;
        }
        for (name, value) in given {
            self.xforward.retain(|(n, _)| *n != name);
            self.xforward.push((name, value));
        }
        self.reply(250, "2.0.0 Ok");
        true
    }
}
