//! Where messages and files come in: the SMTP content filter (`smtp/`) and the HTTP API with
//! the recipient page (`http/`). Both go through one pipeline (engine, store, audit trail, worker permits).
//!
//! Each may use `pipeline` and what is below it; neither imports the other (`tests/layout.rs`).

pub mod http;
pub mod smtp;
