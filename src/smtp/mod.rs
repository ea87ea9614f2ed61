//! SMTP wire types shared by both sides of the gateway: the reply ([`Reply`]), the envelope
//! ([`MailFrom`], [`RcptTo`]) and the DATA framing (`dot`: reading to the end-of-data line,
//! dot-stuffing on the way out). The ESMTP server (`ingress::smtp`) and the relay to the next
//! hop (`egress::relay`) both use these, and neither uses the other. A leaf: no imports from
//! the rest of the crate.

pub mod dot;
pub mod envelope;
pub mod reply;

pub use envelope::{MailFrom, RcptTo};
pub use reply::Reply;
