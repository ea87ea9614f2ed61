//! HELP.

use super::session::Session;

impl Session {
    pub(super) fn help(&mut self) -> bool {
        self.reply(
            214,
            "2.0.0 mugai content filter: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY XFORWARD",
        );
        true
    }
}
