//! Where messages and files come in: the SMTP content filter (`smtp/`). The HTTP side will
//! live beside it.

pub mod smtp;
