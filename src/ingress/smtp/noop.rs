//! NOOP.

use super::session::Session;

impl Session {
    pub(super) fn noop(&mut self) -> bool {
        self.reply(250, "2.0.0 Ok");
        true
    }
}
