//! Signed tokens: a part's link (valid for the link lifetime, never past the part), other
//! purposes, resolving a link to its part, and portal sessions (a signed token naming a
//! session row of the ledger: any instance of a shared store knows it, and sign-out ends it
//! everywhere).

use super::*;

impl Store {
    /// A signed link token for a stored part: valid for the configured link lifetime, never
    /// past the part's own expiry.
    pub fn link_for(&self, part: &PartRow) -> String {
        let expires = part.expires.min(part.created.saturating_add(self.link_ttl.as_secs()));
        let id = ObjectId::parse(&part.id).unwrap_or(ObjectId([0; ObjectId::LEN]));
        self.links.sign(id, expires)
    }

    /// `report` as kept and handed out: its JSON with the policy version it was made under
    /// (`policy_sha256`) and the receipt (`receipt`) over both added.
    pub fn signed_report(&self, report: &crate::report::Report, policy_sha256: &str) -> String {
        match serde_json::to_value(report) {
            Ok(mut value) => {
                if let serde_json::Value::Object(map) = &mut value {
                    map.insert("policy_sha256".into(), policy_sha256.into());
                }
                self.receipts.sign(value).to_string()
            }
            Err(_) => report.to_json(),
        }
    }

    /// The public key receipts are signed with, hex (`/v1/receipt-key`).
    pub fn receipt_key(&self) -> String {
        self.receipts.public_hex()
    }

    /// Open a session for `person` (signed in by `source`) until `expires`: the cookie's
    /// value, a token signed for sessions naming the new row.
    pub fn open_session(
        &self,
        person: &str,
        source: &str,
        grants: &[String],
        expires: u64,
    ) -> Result<String, StoreError> {
        let id = ObjectId::random()?;
        self.ledger.insert_session(&SessionRow {
            id: id.hex(),
            person: person.to_string(),
            source: source.to_string(),
            grants: grants.to_vec(),
            created: now(),
            expires,
        })?;
        Ok(self.links.sign_for(Purpose::Session, id, expires))
    }

    /// The live session a cookie's token names: genuine (signed with the link key), unexpired,
    /// and not ended. A forged token is refused before the ledger is asked.
    pub fn session(&self, token: &str) -> Result<Option<SessionRow>, StoreError> {
        let now = now();
        let Ok(link) = self.links.verify_for(Purpose::Session, token, now) else {
            return Ok(None);
        };
        Ok(self.ledger.session(&link.object.hex(), now)?)
    }

    /// End the session a token names (sign-out); `false` when it was not live.
    pub fn end_session(&self, token: &str) -> Result<bool, StoreError> {
        let Ok(link) = self.links.verify_for(Purpose::Session, token, now()) else {
            return Ok(false);
        };
        Ok(self.ledger.end_session(&link.object.hex())?)
    }

    /// Count a sign-in attempt for the account `who`: `Ok(left)`, or `Err(seconds)` while it is
    /// locked out (the count is in the ledger, so every instance sees it).
    pub fn take_signin_try(&self, who: &str, max: u32, window_secs: u64) -> Result<Result<u32, u64>, StoreError> {
        Ok(self.ledger.take_signin_try(who, now(), max, window_secs)?)
    }

    pub fn clear_signin_tries(&self, who: &str) -> Result<(), StoreError> {
        Ok(self.ledger.clear_signin_tries(who)?)
    }

    /// Count a carry-in of `files` files and `bytes` bytes by `who` today (Japan time) when
    /// within the day's `max` (files, bytes): `Ok(day)` (the day it counts in), or
    /// `Err(used today)` and nothing counted.
    pub fn take_carry_quota(
        &self,
        who: &str,
        files: u64,
        bytes: u64,
        max: (u64, u64),
    ) -> Result<Result<u64, (u64, u64)>, StoreError> {
        let day = (now() + 9 * 3600) / 86_400;
        Ok(self
            .ledger
            .take_carry_quota(who, day, (files, bytes), max)?
            .map(|()| day))
    }

    /// Give back a carry-in counted on `day` that did not reach its mailbox.
    pub fn give_back_carry_quota(&self, who: &str, day: u64, files: u64, bytes: u64) -> Result<(), StoreError> {
        Ok(self.ledger.give_back_carry_quota(who, day, (files, bytes))?)
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
