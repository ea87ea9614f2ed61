//! VRFY: a content filter knows no mailboxes; 252 as RFC 5321 3.5.3 recommends.

use super::session::Session;

impl Session {
    pub(super) fn vrfy(&mut self) -> bool {
        self.reply(
            252,
            "2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
        );
        true
    }
}
