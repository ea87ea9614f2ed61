//! mugai (無害): a CDR (content disarm and reconstruction) gateway.
//!
//! The library holds everything; `main.rs` is a thin CLI over it. Start at [`cdr`] (the
//! engine and the format rebuilders), [`report`] (what every file's report says) and
//! [`config`] (every knob, with its default). `../shared/DESIGN.md` has the architecture.

pub mod alloc;
pub mod audit;
pub mod cdr;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod egress;
pub mod ids;
pub mod ingress;
pub mod kind;
pub mod mail;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod scan;
pub mod secret;
pub mod smtp;
pub mod store;

pub use cdr::{Engine, FileKind, Processed, Refusal, UnlockError};
pub use config::Config;
pub use report::{Outcome, Report};
