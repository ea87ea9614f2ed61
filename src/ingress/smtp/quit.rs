//! QUIT: say goodbye and close; an open transaction is abandoned.

use super::session::Session;

impl Session {
    pub(super) fn quit(&mut self) -> bool {
        self.reply(221, "2.0.0 Bye");
        self.close();
        true
    }
}
