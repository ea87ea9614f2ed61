//! Where messages and files come in: the SMTP content filter (`smtp/`) and the HTTP API with
//! the recipient page (`http/`). Both share one engine, store and set of worker permits.

pub mod http;
pub mod smtp;
