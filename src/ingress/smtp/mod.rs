//! The SMTP content filter: mail servers (Postfix `content_filter`) hand each message to
//! mugai on loopback; mugai disarms it and hands the rebuilt message to the next hop.
//!
//! The protocol is a state machine over bytes ([`session::Session`]), free of I/O: it takes
//! what the client sent and says what to do next — write a reply, read more, ask the next hop
//! about a sender or recipient, disarm and relay a message. One file per verb. The async
//! driver (`server.rs`) owns the sockets, the permits and the timeouts.
//!
//! mugai proxies the envelope: MAIL and each RCPT are passed to the next hop as they arrive
//! and its answers reflected (so a recipient the next hop refuses is refused to the sender
//! too), and the reply to the final dot is the next hop's reply to the rebuilt message.
//! Nothing is ever acknowledged before the next hop accepted it.
//!
//! May use: `pipeline`, `egress` (the next hop), `smtp` wire types, leaves; never `ingress::http`.

mod data;
mod ehlo;
mod help;
mod mail;
mod noop;
mod quit;
mod rcpt;
mod rset;
pub mod server;
pub mod session;
pub mod spill;
mod starttls;
mod vrfy;
mod xforward;

#[cfg(test)]
mod tests;

pub use crate::smtp::{MailFrom, RcptTo, Reply};
pub use session::{Session, SessionLimits, Step, Transaction};
