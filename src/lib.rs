//! mugai (無害): a CDR (content disarm and reconstruction) gateway.
//!
//! The library holds everything; `main.rs` is a thin CLI over it. Start at [`cdr`] (the
//! engine and the format rebuilders), [`report`] (what every file's report says) and
//! [`config`] (every knob, with its default); the daemon is [`daemon`] over [`pipeline`]. The
//! README's Layout section maps every module and what it may use.

pub mod alloc;
pub mod audit;
pub mod audit_trace;
pub mod cdr;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod directory;
pub mod egress;
pub mod ids;
pub mod ingress;
pub mod kind;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod passwords;
pub mod pipeline;
pub mod policy;
pub mod receipt;
pub mod report;
pub mod retry;
pub mod scan;
pub mod secret;
pub mod smtp;
pub mod store;
pub mod texts;
pub mod tls_client;

pub use cdr::{Engine, FileKind, Input, Processed, Refusal};
pub use config::Config;
pub use report::{Outcome, Report};
