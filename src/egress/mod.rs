//! Where rebuilt messages go: the next hop over SMTP (`relay.rs`).

pub mod relay;
