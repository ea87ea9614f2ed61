//! Capability links for recipients: a token that names one stored object and when it stops
//! working, signed with HMAC-SHA256 under the gateway's link key.
//!
//! The object id inside is 128 random bits, so links can be neither guessed nor enumerated;
//! the signature covers the id and the expiry together, so changing either (a longer life, a
//! neighbour's id) makes the token worthless. The signature is checked before anything else
//! and compared in constant time (`Mac::verify_slice`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::ObjectId;

/// Token layout version; a new layout gets a new number and old tokens stop verifying.
const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + ObjectId::LEN + 8 + MAC_LEN;
/// What a token is for. Domain separation: a MAC made for one purpose under the same key is
/// worthless for another (an approver's session cookie is not a download link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A recipient's link to one stored part.
    Link,
    /// An approver's signed-in browser session (the object is the key's hash prefix).
    Session,
}

impl Purpose {
    fn context(self) -> &'static [u8] {
        match self {
            Purpose::Link => b"mugai-link/1\0",
            Purpose::Session => b"mugai-session/1\0",
        }
    }
}

/// Why a token was refused. The HTTP side answers all of them alike (no oracle); the
/// distinction is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a link token")]
    Malformed,
    #[error("the link's signature does not match (tampered or from another gateway)")]
    Forged,
    #[error("the link has expired")]
    Expired,
    #[error("the link names no stored object (purged)")]
    Unknown,
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub object: ObjectId,
    /// Unix seconds after which the token is refused.
    pub expires: u64,
}

/// Signs and checks tokens with one key.
pub struct LinkSigner {
    key: Vec<u8>,
}

impl LinkSigner {
    /// At least 32 bytes of key (the configuration and the key file guarantee it).
    pub fn new(key: Vec<u8>) -> Self {
        LinkSigner { key }
    }

    fn mac(&self, purpose: Purpose) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(purpose.context());
        mac
    }

    /// The link token for `object`, valid until `expires` (unix seconds).
    pub fn sign(&self, object: ObjectId, expires: u64) -> String {
        self.sign_for(Purpose::Link, object, expires)
    }

    /// Check a link token at time `now` (unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Link, LinkError> {
        self.verify_for(Purpose::Link, token, now)
    }

    /// A token for `purpose`.
    pub fn sign_for(&self, purpose: Purpose, object: ObjectId, expires: u64) -> String {
        let mut raw = Vec::with_capacity(TOKEN_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&object.0);
        raw.extend_from_slice(&expires.to_be_bytes());
        let mut mac = self.mac(purpose);
        mac.update(&raw);
        raw.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Check a token made for `purpose` at time `now` (unix seconds).
    pub fn verify_for(&self, purpose: Purpose, token: &str, now: u64) -> Result<Link, LinkError> {
        if token.len() > 2 * TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| LinkError::Malformed)?;
        if raw.len() != TOKEN_LEN || raw[0] != VERSION {
            return Err(LinkError::Malformed);
        }
        let (signed, tag) = raw.split_at(TOKEN_LEN - MAC_LEN);
        let mut mac = self.mac(purpose);
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| LinkError::Forged)?;
        let mut object = [0u8; ObjectId::LEN];
        object.copy_from_slice(&signed[1..1 + ObjectId::LEN]);
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&signed[1 + ObjectId::LEN..]);
        let expires = u64::from_be_bytes(expiry);
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(Link {
            object: ObjectId(object),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(vec![7u8; 32])
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let id = ObjectId([1u8; ObjectId::LEN]);
        let token = signer().sign(id, 1_000);
        assert_eq!(
            signer().verify(&token, 999),
            Ok(Link {
                object: id,
                expires: 1_000
            })
        );
        assert_eq!(signer().verify(&token, 1_000), Err(LinkError::Expired));
    }

    #[test]
    fn changing_any_byte_of_a_token_is_refused() {
        let id = ObjectId([9u8; ObjectId::LEN]);
        let token = signer().sign(id, u64::MAX);
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let result = signer().verify(&URL_SAFE_NO_PAD.encode(&bad), 0);
            let expected = if i == 0 {
                LinkError::Malformed
            } else {
                LinkError::Forged
            };
            assert_eq!(result, Err(expected), "byte {i} changed");
        }
    }

    #[test]
    fn a_token_for_one_purpose_is_refused_for_another() {
        let id = ObjectId([3u8; ObjectId::LEN]);
        let session = signer().sign_for(Purpose::Session, id, u64::MAX);
        assert_eq!(signer().verify(&session, 0), Err(LinkError::Forged));
        assert!(signer().verify_for(Purpose::Session, &session, 0).is_ok());
        let link = signer().sign(id, u64::MAX);
        assert_eq!(signer().verify_for(Purpose::Session, &link, 0), Err(LinkError::Forged));
    }

    #[test]
    fn another_key_or_garbage_is_refused() {
        let token = signer().sign(ObjectId([2u8; ObjectId::LEN]), u64::MAX);
        assert_eq!(LinkSigner::new(vec![8u8; 32]).verify(&token, 0), Err(LinkError::Forged));
        for junk in ["", "!!!", "AAAA", &"A".repeat(500), &token[..token.len() - 1]] {
            assert!(signer().verify(junk, 0).is_err(), "{junk:?}");
        }
    }
}
