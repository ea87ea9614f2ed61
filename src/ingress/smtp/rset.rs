//! RSET: abandon the transaction (and the XFORWARD attributes given for it).

use super::session::Session;

impl Session {
    pub(super) fn rset(&mut self) -> bool {
        self.end_transaction();
        self.xforward.clear();
        self.reply(250, "2.0.0 Ok");
        true
    }
}
