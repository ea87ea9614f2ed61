//! Hex and random ids: the one hex encoder (digests, ids, keys), the one reader of hex keys,
//! random hex for names and tokens. A leaf: uses nothing of ours.

use std::io;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `n` random bytes as hex (temporary names, keys, tokens).
pub fn random_hex(n: usize) -> io::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(hex(&bytes))
}

/// A key given as hex, at least 32 bytes (64 digits) long; `None` when shorter or not hex.
pub fn parse_key(hex: &str) -> Option<Vec<u8>> {
    if hex.len() < 64 || !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
