//! API keys: `Authorization: Bearer <key>`, compared by SHA-256 against the configured
//! hashes in constant time (the key itself is never stored, logged or compared directly).

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::{ApiKey, Config, Role};

/// The key presented, if it is one of the configured ones and has `role` (or `admin`).
pub fn require(config: &Config, headers: &HeaderMap, role: Role) -> Result<ApiKey, ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Look at every configured key whatever matches, so timing tells nothing about which.
    let mut found: Option<&ApiKey> = None;
    for key in &config.http.api_keys {
        if constant_time_eq(&key.sha256, &hash) {
            found = Some(key);
        }
    }
    let key = found.ok_or_else(ApiError::unauthorized)?;
    if key.roles.contains(&role) || key.roles.contains(&Role::Admin) {
        Ok(key.clone())
    } else {
        Err(ApiError::forbidden(match role {
            Role::Submit => "submit",
            Role::Approve => "approve",
            Role::Admin => "admin",
            Role::CarryIn => "carry_in",
        }))
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random key (for `mugai apikey`): 32 random bytes, base64url; and its SHA-256 hex.
pub fn new_key() -> std::io::Result<(String, String)> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let key = format!("mk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = crate::ids::hex(&Sha256::digest(key.as_bytes()));
    Ok((key, hash))
}
