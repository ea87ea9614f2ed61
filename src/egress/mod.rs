//! Where rebuilt messages go: the next hop over SMTP (`relay.rs`).
//!
//! May use: `config`, the SMTP wire types (`smtp`), leaves; never an ingress.

pub mod relay;
