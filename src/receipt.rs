//! Signed receipts (受領証明): a report's receipt is an Ed25519 signature over the report's
//! canonical JSON — input and output hashes, findings, outcome, versions — so the LGWAN side
//! can check, long after and without asking the gateway, that a file is the one mugai
//! produced and that its report was not changed (`mugai verify REPORT FILE`).
//!
//! The signing key is derived from the link key (HMAC-SHA256 with its own label), so every
//! instance of a shared store signs with the same key and no second secret is kept; the
//! public key is served at `/v1/receipt-key`. A leaf: nothing of ours.
//!
//! Canonical JSON here: objects with their keys in byte order, no whitespace, strings and
//! numbers as serde_json writes them — the same bytes whatever order a reader kept.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The label the signing key is derived under (never the link key itself).
const LABEL: &[u8] = b"mugai-receipt/1";

/// Signs reports.
pub struct ReceiptSigner {
    key: SigningKey,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public half only: the key never reaches a log.
        write!(f, "ReceiptSigner({})", self.public_hex())
    }
}

impl ReceiptSigner {
    /// The signer of the gateway whose link key is `link_key`.
    pub fn from_link_key(link_key: &[u8]) -> ReceiptSigner {
        let seed: [u8; 32] = match <Hmac<Sha256> as KeyInit>::new_from_slice(link_key) {
            Ok(mut mac) => {
                mac.update(LABEL);
                mac.finalize().into_bytes().into()
            }
            // HMAC takes a key of any length; kept total all the same.
            Err(_) => Sha256::digest([LABEL, link_key].concat()).into(),
        };
        ReceiptSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public key, hex (what `/v1/receipt-key` serves and `mugai verify --key` takes).
    pub fn public_hex(&self) -> String {
        hex(&self.key.verifying_key().to_bytes())
    }

    /// `report` (a JSON object) with its receipt added: `"receipt": {"alg": "ed25519",
    /// "key": <hex>, "signature": <base64>}` over the canonical JSON of the rest.
    pub fn sign(&self, report: Value) -> Value {
        let mut signed = report;
        if let Value::Object(map) = &mut signed {
            map.remove("receipt");
        }
        let signature = self.key.sign(canonical(&signed).as_bytes());
        if let Value::Object(map) = &mut signed {
            map.insert(
                "receipt".into(),
                serde_json::json!({
                    "alg": "ed25519",
                    "key": self.public_hex(),
                    "signature": base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
                }),
            );
        }
        signed
    }
}

/// Why a file and its report do not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the report is not JSON, or has no receipt")]
    NoReceipt,
    #[error("the key is not an Ed25519 public key (64 hex digits)")]
    BadKey,
    #[error("the report was changed, or not signed by this key")]
    BadSignature,
    #[error("the report names no output file")]
    NoOutput,
    #[error("the file is not the one the report names (SHA-256 {found}, the report says {expected})")]
    OtherFile { found: String, expected: String },
}

/// Check `file` against its signed `report` (JSON) with the public key `key_hex`: the
/// signature over the report holds, and the file's SHA-256 is the report's output hash.
pub fn verify(report: &[u8], file: &[u8], key_hex: &str) -> Result<(), VerifyError> {
    let key = parse_public(key_hex).ok_or(VerifyError::BadKey)?;
    let mut value: Value = serde_json::from_slice(report).map_err(|_| VerifyError::NoReceipt)?;
    let receipt = value
        .as_object_mut()
        .and_then(|m| m.remove("receipt"))
        .ok_or(VerifyError::NoReceipt)?;
    let signature = receipt["signature"]
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or(VerifyError::BadSignature)?;
    key.verify(canonical(&value).as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)?;
    let expected = value["output"]["sha256"]
        .as_str()
        .ok_or(VerifyError::NoOutput)?
        .to_string();
    let found = hex(&Sha256::digest(file));
    if found != expected {
        return Err(VerifyError::OtherFile { found, expected });
    }
    Ok(())
}

fn parse_public(key_hex: &str) -> Option<VerifyingKey> {
    let key = key_hex.trim();
    if key.len() != 64 {
        return None;
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(key.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    VerifyingKey::from_bytes(&<[u8; 32]>::try_from(bytes).ok()?).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` as canonical JSON (see the module documentation).
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_report_verifies_its_file_and_nothing_else() {
        let signer = ReceiptSigner::from_link_key(&[7; 32]);
        let file = b"clean bytes";
        let report = serde_json::json!({
            "outcome": "disarmed",
            "output": { "sha256": hex(&Sha256::digest(file)), "size": 11 },
            "findings": [{ "what": "macro", "where": "word/vbaProject.bin" }],
        });
        let signed = serde_json::to_vec(&signer.sign(report)).unwrap();
        let key = signer.public_hex();
        assert_eq!(verify(&signed, file, &key), Ok(()));
        assert!(matches!(
            verify(&signed, b"clean byteS", &key),
            Err(VerifyError::OtherFile { .. })
        ));
        let changed = String::from_utf8(signed.clone()).unwrap().replace("macro", "uri");
        assert_eq!(verify(changed.as_bytes(), file, &key), Err(VerifyError::BadSignature));
        let other = ReceiptSigner::from_link_key(&[8; 32]).public_hex();
        assert_eq!(verify(&signed, file, &other), Err(VerifyError::BadSignature));
        assert_eq!(verify(&signed, file, "zz"), Err(VerifyError::BadKey));
        assert_eq!(verify(b"{}", file, &key), Err(VerifyError::NoReceipt));
        assert!(!format!("{signer:?}").contains("[7"), "no secret in Debug");
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,"x"],"c":null}}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#);
    }
}
