//! Requests for originals and approvers' decisions (上長承認); after a purge their records stay
//! in the ledger (`Releases::release_record`).

use super::*;

impl Store {
    /// A recipient (`requester`) asks for a part's original for `reason` (approval queue);
    /// the row as it now stands.
    pub fn request_release(&self, part: &str, asked: &Asked<'_>) -> Result<ReleaseRow, StoreError> {
        Ok(self.ledger.request_release(part, asked, now())?)
    }

    pub fn release(&self, part: &str) -> Result<Option<ReleaseRow>, StoreError> {
        Ok(self.ledger.release(part)?)
    }

    /// An approver's decision on a pending request; `false` when none was pending.
    pub fn decide_release(
        &self,
        part: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.ledger.decide_release(part, approve, by, comment, now())?)
    }

    pub fn pending_releases(&self) -> Result<Vec<(PartRow, ReleaseRow)>, StoreError> {
        Ok(self.ledger.pending_releases(now())?)
    }
}
