//! Passwords of local portal accounts (`[portal] users`): argon2id hashes as PHC strings
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). A leaf: imports nothing of ours.
//!
//! The configuration is trusted, but a hash's own parameters decide what verifying it costs,
//! so a hash is admitted only with bounded memory, passes and lanes — one typo of `m=` must
//! not make every sign-in allocate gigabytes.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2};

/// Most memory one verification may take, KiB (64 MiB; OWASP's argon2id minimum is 19 MiB).
const MAX_MEMORY_KIB: u32 = 64 * 1024;
const MAX_PASSES: u32 = 10;
const MAX_LANES: u32 = 8;

/// A new hash of `password` with argon2id's default parameters and a random salt.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Why `phc` cannot stand in the configuration, if it cannot: not a PHC string, not
/// argon2id, or parameters past the bounds above.
pub fn check(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string ({e}); `mugai user add` makes one"))?;
    if parsed.algorithm.as_str() != Algorithm::Argon2id.as_str() {
        return Err("must be an argon2id hash".into());
    }
    let param = |name: &str| parsed.params.get_decimal(name).unwrap_or(0);
    let (m, t, p) = (param("m"), param("t"), param("p"));
    if m == 0 || m > MAX_MEMORY_KIB || t == 0 || t > MAX_PASSES || p == 0 || p > MAX_LANES {
        return Err(format!(
            "parameters m={m}, t={t}, p={p} are outside 1..={MAX_MEMORY_KIB}, 1..={MAX_PASSES}, 1..={MAX_LANES}"
        ));
    }
    Ok(())
}

/// Whether `password` matches `phc` (checked with [`check`] when the configuration loaded).
pub fn verify(password: &str, phc: &str) -> bool {
    check(phc).is_ok()
        && PasswordHash::new(phc)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Spend what a verification costs without an account: a sign-in under an unknown name takes
/// as long as one under a known name, so the answer's timing does not tell which names exist.
pub fn verify_nobody(password: &str) {
    static NOBODY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(phc) = NOBODY.get_or_init(|| hash("nobody").ok()) {
        let _ = verify(password, phc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("正しいパスワード").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert_eq!(check(&phc), Ok(()));
        assert!(verify("正しいパスワード", &phc));
        assert!(!verify("違う", &phc));
        assert!(!verify("正しいパスワード", "not a hash"));
    }

    #[test]
    fn costly_or_foreign_hashes_are_refused() {
        let phc = hash("x").unwrap();
        let greedy = phc.replacen("m=19456", "m=4194304", 1);
        assert!(check(&greedy).unwrap_err().contains("m=4194304"));
        assert!(!verify("x", &greedy), "never verified with a refused hash");
        let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(check(&argon2i).is_err());
        assert!(check("plaintext").is_err());
    }
}
