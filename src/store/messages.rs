//! Messages and their parts: the original kept before anything reads it, each part with its
//! original and clean copy, a held part unlocked (and its password tries), a held upload kept
//! as a one-part submission.

use sha2::Digest;

use super::*;

/// What the console's statistics show of a period besides the messages a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodStats {
    /// Files received by kind, most first.
    pub kinds: Vec<(FileKind, u64)>,
    /// What was found in them (removed, refused), most first.
    pub findings: Vec<(crate::report::What, u64)>,
    /// Requests for originals by state: how many, average seconds to the decision.
    pub approvals: Vec<(ReleaseState, u64, Option<u64>)>,
    /// How many parts' reports were read for `findings` (at most `MAX_REPORTS_READ`, newest first).
    pub reports_read: usize,
}

impl Store {
    /// Store a whole received message and open its ledger row. Called before the message is
    /// parsed: whatever happens next, the original is kept.
    pub fn keep_message(
        &self,
        raw: &[u8],
        message_id: Option<&str>,
        subject: Option<&str>,
        mail_from: &str,
        rcpt_to: &[String],
    ) -> Result<MessageRow, StoreError> {
        let address = crate::ids::hex(&sha2::Sha256::digest(raw));
        self.keep_message_at(raw, address, message_id, subject, mail_from, rcpt_to)
    }

    /// [`Store::keep_message`] of a message whose SHA-256 the caller computed (`address`):
    /// what is left is a wait on the disk, which a caller can overlap with its own work.
    pub fn keep_message_at(
        &self,
        raw: &[u8],
        address: String,
        message_id: Option<&str>,
        subject: Option<&str>,
        mail_from: &str,
        rcpt_to: &[String],
    ) -> Result<MessageRow, StoreError> {
        let seen = self.removals_seen();
        self.blobs.put_addressed(raw, &address)?;
        let blob = address;
        let created = now();
        let row = MessageRow {
            id: ObjectId::random()?.hex(),
            message_id: message_id.map(str::to_string),
            mail_from: mail_from.to_string(),
            rcpt_to: rcpt_to.to_vec(),
            blob,
            size: raw.len() as u64,
            created,
            expires: self.expiry(created),
            outcome: None,
            report: None,
            subject: subject.map(str::to_string),
        };
        let removals = self.ledger.insert_message(&row)?;
        self.named(seen, removals, &[(raw, &row.blob)])?;
        Ok(row)
    }

    /// Record what became of a message.
    pub fn finish_message(&self, id: &str, outcome: Outcome, report: &str) -> Result<(), StoreError> {
        Ok(self.ledger.finish_message(id, outcome, report)?)
    }

    /// Store one part's original (and its clean copy, when there is one) and its row.
    pub fn keep_part(&self, part: &NewPart<'_>) -> Result<PartRow, StoreError> {
        // Written already (by `write_beside`, before the count it saw): only named below.
        let seen = part.written.map_or_else(|| self.removals_seen(), |w| w.removals);
        let put = |bytes: &[u8], known: Option<&str>| match (known, part.written) {
            (Some(address), Some(_)) => Ok(address.to_string()),
            (Some(address), None) => self.blobs.put_addressed(bytes, address).map(|()| address.to_string()),
            (None, _) => self.blobs.put(bytes),
        };
        let original_blob = put(part.original, part.original_sha256)?;
        let clean_blob = part.clean.map(|c| put(c, part.clean_sha256)).transpose()?;
        let created = now();
        let row = PartRow {
            id: ObjectId::random()?.hex(),
            message: part.message.to_string(),
            path: part.path.to_string(),
            name: part.name.map(str::to_string),
            kind: part.kind,
            outcome: part.outcome,
            reason: part.reason.map(str::to_string),
            original_blob,
            original_size: part.original.len() as u64,
            clean_blob,
            clean_name: part.clean_name.map(str::to_string),
            report: part.report.to_string(),
            created,
            expires: self.expiry(created),
        };
        let removals = self.ledger.insert_part(&row)?;
        let mut named = vec![(part.original, row.original_blob.as_str())];
        if let (Some(clean), Some(address)) = (part.clean, &row.clean_blob) {
            named.push((clean, address));
        }
        self.named(seen, removals, &named)?;
        Ok(row)
    }

    /// A part by its id, unless it expired.
    pub fn part(&self, id: &str) -> Result<Option<PartRow>, StoreError> {
        Ok(self.ledger.part(id)?.filter(|p| p.expires > now()))
    }

    /// A held part was opened with its password: keep the clean copy and the new outcome.
    pub fn unlock_part(
        &self,
        part: &PartRow,
        outcome: Outcome,
        clean: &[u8],
        clean_name: Option<&str>,
        report: &str,
    ) -> Result<PartRow, StoreError> {
        let seen = self.removals_seen();
        let blob = self.blobs.put(clean)?;
        let removals = self.ledger.unlock_part(&part.id, outcome, &blob, clean_name, report)?;
        self.named(seen, removals, &[(clean, &blob)])?;
        Ok(PartRow {
            outcome,
            reason: None,
            clean_blob: Some(blob),
            clean_name: clean_name.map(str::to_string),
            report: report.to_string(),
            ..part.clone()
        })
    }

    /// Take one password try for a held part before trying it (kept in the ledger, so a
    /// restart does not give the tries back): `Ok(tries left)` or `Err(seconds to wait)`.
    pub fn take_unlock_try(&self, part: &str, max: u32, window_secs: u64) -> Result<Result<u32, u64>, StoreError> {
        Ok(self.ledger.take_unlock_try(part, now(), max, window_secs)?)
    }

    /// The part was unlocked: its tries start again from nothing.
    pub fn clear_unlock_tries(&self, part: &str) -> Result<(), StoreError> {
        Ok(self.ledger.clear_unlock_tries(part)?)
    }

    /// A signed link for a job-less upload that was held (a password ZIP sent to
    /// `/v1/sanitize`): the upload is kept as a one-part submission so it can be unlocked.
    pub fn keep_held_upload(
        &self,
        submitter: &str,
        input: &[u8],
        name: Option<&str>,
        kind: FileKind,
        reason: Option<&str>,
        report: &str,
    ) -> Result<(PartRow, String), StoreError> {
        let submission = self.keep_message(input, None, None, submitter, &[])?;
        let part = self.keep_part(&NewPart {
            message: &submission.id,
            path: "1",
            name,
            kind,
            outcome: Outcome::Held,
            reason,
            original: input,
            original_sha256: None,
            clean: None,
            clean_sha256: None,
            clean_name: None,
            report,
            written: None,
        })?;
        self.finish_message(&submission.id, Outcome::Held, report)?;
        let token = self.link_for(&part);
        Ok((part, token))
    }

    pub fn message(&self, id: &str) -> Result<Option<MessageRow>, StoreError> {
        Ok(self.ledger.message(id)?)
    }

    /// Revoke a part's link now (its original goes at the next purge); `false` when the part
    /// was not alive.
    pub fn revoke_part(&self, part: &str) -> Result<bool, StoreError> {
        Ok(self.ledger.revoke_part(part, now())?)
    }

    /// Messages matching `query`, newest first (the admin console, `mugai messages search`).
    pub fn search_messages(&self, query: &MessageQuery) -> Result<Vec<MessageRow>, StoreError> {
        Ok(self.ledger.search_messages(query)?)
    }

    /// A period's files by kind, findings by kind (counted over the parts' reports, most
    /// first) and requests by state with their average wait, from `since` to before `until`.
    pub fn period_stats(&self, since: u64, until: u64) -> Result<PeriodStats, StoreError> {
        let rows = self.ledger.period_rows(since, until)?;
        let mut findings: std::collections::BTreeMap<crate::report::What, u64> = Default::default();
        for report in &rows.reports {
            let Ok(parsed) = serde_json::from_str::<crate::report::Report>(report) else {
                continue;
            };
            for f in &parsed.findings {
                *findings.entry(f.what).or_default() += 1;
            }
        }
        let mut findings: Vec<(crate::report::What, u64)> = findings.into_iter().collect();
        findings.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(PeriodStats {
            kinds: rows.kinds,
            findings,
            approvals: rows.approvals,
            reports_read: rows.reports.len(),
        })
    }

    /// Messages received from `since` to before `until`, by Japan-time day and outcome.
    pub fn message_days(&self, since: u64, until: u64) -> Result<Vec<DayCount>, StoreError> {
        Ok(self.ledger.message_days(since, until)?)
    }

    pub fn parts_of(&self, message: &str) -> Result<Vec<PartRow>, StoreError> {
        Ok(self.ledger.parts_of(message)?)
    }
}
