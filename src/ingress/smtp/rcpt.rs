//! RCPT TO: one recipient with its DSN parameters (NOTIFY, ORCPT), asked of the next hop.

use super::mail::{after_keyword, is_xtext, path_and_params};
use super::session::Session;
use crate::smtp::RcptTo;

impl Session {
    pub(super) fn rcpt(&mut self, args: &str, _line: &[u8]) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            self.reply(503, "5.5.1 Error: need MAIL command");
            return false;
        };
        if tx.rcpt_tried >= self.limits.max_recipients {
            self.reply(452, "4.5.3 Error: too many recipients");
            return false;
        }
        let smtputf8 = tx.mail_from.smtputf8;
        let Some((address, params)) = after_keyword(args, "TO:").and_then(path_and_params) else {
            self.reply(501, "5.5.4 Syntax: RCPT TO:<address>");
            return false;
        };
        if address.is_empty() {
            self.reply(501, "5.1.3 Error: empty recipient");
            return false;
        }
        if !self.address_fits(&address, smtputf8) {
            return false;
        }
        let mut to = RcptTo {
            address,
            ..RcptTo::default()
        };
        for param in params {
            match param.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("NOTIFY") && valid_notify(v) => {
                    to.notify = Some(v.to_ascii_uppercase())
                }
                Some((k, v)) if k.eq_ignore_ascii_case("ORCPT") && v.contains(';') && is_xtext(v) => {
                    to.orcpt = Some(v.to_string())
                }
                _ => return self.unsupported_option(&param),
            }
        }
        self.wait_rcpt(to);
        true
    }
}

/// `NEVER`, or a comma list of SUCCESS, FAILURE, DELAY.
fn valid_notify(v: &str) -> bool {
    if v.eq_ignore_ascii_case("NEVER") {
        return true;
    }
    v.split(',').all(|w| {
        ["SUCCESS", "FAILURE", "DELAY"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}
