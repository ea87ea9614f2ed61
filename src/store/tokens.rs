//! Signed tokens: a part's link (valid for the link lifetime, never past the part), other
//! purposes (an approver's session), and resolving a link to its part.

use super::*;

impl Store {
    /// A signed link token for a stored part: valid for the configured link lifetime, never
    /// past the part's own expiry.
    pub fn link_for(&self, part: &PartRow) -> String {
        let expires = part.expires.min(part.created.saturating_add(self.link_ttl.as_secs()));
        let id = ObjectId::parse(&part.id).unwrap_or(ObjectId([0; ObjectId::LEN]));
        self.links.sign(id, expires)
    }

    /// Sign a token for another purpose than a part link (an approver's session).
    pub fn sign_token(&self, purpose: Purpose, object: ObjectId, expires: u64) -> String {
        self.links.sign_for(purpose, object, expires)
    }

    pub fn verify_token(&self, purpose: Purpose, token: &str, now: u64) -> Result<Link, LinkError> {
        self.links.verify_for(purpose, token, now)
    }

    /// The part a link token names, if the token is genuine, unexpired and the part still kept.
    pub fn resolve(&self, token: &str, now: u64) -> Result<PartRow, ResolveError> {
        let link = self.links.verify(token, now).map_err(ResolveError::Link)?;
        match self
            .ledger
            .part(&link.object.hex())
            .map_err(|e| ResolveError::Store(e.into()))?
        {
            Some(part) if part.expires > now => Ok(part),
            _ => Err(ResolveError::Link(LinkError::Unknown)),
        }
    }
}
