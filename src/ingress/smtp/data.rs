//! DATA: the verb. The reader of the message bytes (dot-unstuffing, the end-of-data line,
//! bare LF, the size limit) is `crate::smtp::dot::DataReader`, shared with the relay's tests.

use super::session::Session;

impl Session {
    pub(super) fn data(&mut self, args: &str) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            self.reply(503, "5.5.1 Error: need RCPT command");
            return false;
        };
        if tx.rcpt_to.is_empty() {
            self.reply(554, "5.5.1 Error: no valid recipients");
            return false;
        }
        if !args.is_empty() {
            self.reply(501, "5.5.4 Syntax: DATA");
            return false;
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>");
        self.start_data();
        true
    }
}
