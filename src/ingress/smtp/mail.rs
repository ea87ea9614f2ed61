//! MAIL FROM: the sender and its parameters (SIZE, BODY, SMTPUTF8, DSN's RET and ENVID).
//! Also the path syntax RCPT shares.

use super::session::Session;
use crate::smtp::MailFrom;

/// A reverse- or forward-path and what follows it: `<a@b> SIZE=10` → (`a@b`, `["SIZE=10"]`).
/// Brackets may be missing (Postfix accepts that too); the address may be empty (`<>`).
pub(super) fn path_and_params(rest: &str) -> Option<(String, Vec<String>)> {
    let rest = rest.trim_start();
    let (address, tail) = if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        match rest.find(' ') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    // A source route (`<@a,@b:user@c>`) is obsolete; the mailbox is after the colon.
    let address = match address.strip_prefix('@') {
        Some(_) => address.rsplit(':').next().unwrap_or(""),
        None => address,
    };
    let bad = address.len() > 512
        || address
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>');
    if bad {
        return None;
    }
    let params = tail.split_whitespace().map(str::to_string).collect();
    Some((address.to_string(), params))
}

/// `rest` after the verb, with its `FROM:`/`TO:` keyword stripped (any case).
pub(super) fn after_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| &args[keyword.len()..])
}

/// xtext (RFC 3461): printable ASCII except `+` and `=`, with `+XX` escapes. Checked, kept
/// as given (it is passed on as is).
pub(super) fn is_xtext(s: &str) -> bool {
    !s.is_empty() && s.len() <= 500 && s.bytes().all(|b| (33..=126).contains(&b) && b != b'=')
}

impl Session {
    /// 555 for an ESMTP parameter we do not take (MAIL and RCPT alike).
    pub(super) fn unsupported_option(&mut self, param: &str) -> bool {
        self.reply(
            555,
            format!(
                "5.5.4 Unsupported option: {}",
                param.chars().take(40).collect::<String>()
            ),
        );
        false
    }

    /// A non-ASCII address is only taken in an SMTPUTF8 transaction (553 otherwise).
    pub(super) fn address_fits(&mut self, address: &str, smtputf8: bool) -> bool {
        if address.is_ascii() || smtputf8 {
            return true;
        }
        self.reply(553, "5.6.7 Error: non-ASCII address needs SMTPUTF8");
        false
    }

    pub(super) fn mail(&mut self, args: &str, _line: &[u8]) -> bool {
        if self.helo.is_none() {
            self.reply(503, "5.5.1 Error: send HELO/EHLO first");
            return false;
        }
        if self.tx.is_some() {
            self.reply(503, "5.5.1 Error: nested MAIL command");
            return false;
        }
        let Some((address, params)) = after_keyword(args, "FROM:").and_then(path_and_params) else {
            self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>");
            return false;
        };
        let mut from = MailFrom {
            address,
            ..MailFrom::default()
        };
        for param in params {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
                None => (param.to_ascii_uppercase(), None),
            };
            match (key.as_str(), value) {
                ("SIZE", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if n > self.limits.max_message_bytes => {
                        self.reply(552, "5.3.4 Error: message size exceeds fixed limit");
                        return false;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        self.reply(501, "5.5.4 Bad SIZE parameter");
                        return false;
                    }
                },
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => from.eight_bit = true,
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => {}
                ("SMTPUTF8", None) => from.smtputf8 = true,
                ("RET", Some(v)) if v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS") => {
                    from.ret = Some(v.to_ascii_uppercase())
                }
                ("ENVID", Some(v)) if is_xtext(v) => from.envid = Some(v.to_string()),
                _ => return self.unsupported_option(&param),
            }
        }
        if !self.address_fits(&from.address, from.smtputf8) {
            return false;
        }
        self.wait_mail(from);
        true
    }
}
