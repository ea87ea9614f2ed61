//! STARTTLS (RFC 3207): offered when a certificate is configured; the driver does the
//! handshake and starts a fresh session over TLS.

use super::session::Session;

impl Session {
    pub(super) fn starttls(&mut self, args: &str) -> bool {
        if !self.limits.starttls {
            self.reply(502, "5.5.1 Error: STARTTLS is not offered here");
            return false;
        }
        if !args.is_empty() {
            self.reply(501, "5.5.4 Syntax: STARTTLS");
            return false;
        }
        self.reply(220, "2.0.0 Ready to start TLS");
        self.begin_tls();
        true
    }
}
