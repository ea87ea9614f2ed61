//! `mugai verify REPORT FILE [--key HEX]`: check a sanitized file against its signed report
//! (`GET /v1/reports/{id}`) — the receipt's signature holds over the report, and the file is
//! the one the report names. The key is `--key` (what `/v1/receipt-key` serves), or this
//! gateway's own (derived from its link key); never the key written in the report, which
//! anyone who changed the report could have replaced.

use std::path::PathBuf;

use anyhow::Context;

use super::{EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use crate::config::Config;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The report (JSON, with its receipt).
    pub report: PathBuf,
    /// The sanitized file it should describe.
    pub file: PathBuf,
    /// The gateway's receipt key (64 hex digits, from /v1/receipt-key); default: this
    /// configuration's own.
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
}

pub fn verify(config: &Config, args: VerifyArgs) -> anyhow::Result<u8> {
    let report = std::fs::read(&args.report).with_context(|| format!("reading {}", args.report.display()))?;
    let file = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let key = match args.key {
        Some(k) => k,
        None => match own_key(config) {
            Some(k) => k,
            None => {
                eprintln!(
                    "mugai: no receipt key here (no link key configured or kept); give --key from /v1/receipt-key"
                );
                return Ok(EXIT_USAGE);
            }
        },
    };
    match crate::receipt::verify(&report, &file, &key) {
        Ok(()) => {
            println!(
                "verified: {} is the file the signed report describes",
                args.file.display()
            );
            Ok(EXIT_OK)
        }
        Err(crate::receipt::VerifyError::BadKey) => {
            eprintln!("mugai: --key is not an Ed25519 public key (64 hex digits)");
            Ok(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("mugai: NOT verified: {e}");
            Ok(EXIT_REFUSED)
        }
    }
}

/// This gateway's receipt key: from the configured link key, or the one kept in the data
/// directory (read only: verifying never makes a key).
fn own_key(config: &Config) -> Option<String> {
    let link_key = match &config.store.link_key {
        Some(k) => k.expose().clone(),
        None => {
            let text = std::fs::read_to_string(config.serve.data_dir.join("link.key")).ok()?;
            crate::store::parse_key(text.trim())?
        }
    };
    Some(crate::receipt::ReceiptSigner::from_link_key(&link_key).public_hex())
}
