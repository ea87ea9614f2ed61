//! The envelope as SMTP carries it: the sender with its MAIL parameters, each recipient
//! with its DSN parameters. Both sides speak it: the ESMTP server reads it, the relay sends it.

/// The sender and its ESMTP parameters (passed on to the next hop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailFrom {
    pub address: String,
    /// `BODY=8BITMIME` was given.
    pub eight_bit: bool,
    pub smtputf8: bool,
    /// DSN `RET=` and `ENVID=`, as given.
    pub ret: Option<String>,
    pub envid: Option<String>,
}

/// One recipient and its DSN parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptTo {
    pub address: String,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}
