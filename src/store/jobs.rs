//! The HTTP API's kept results: reports of `/v1/sanitize` and asynchronous jobs.

use super::*;

impl Store {
    /// Keep a report of a file sanitized through the API until retention ends; its id.
    pub fn keep_report(&self, json: &str) -> Result<String, StoreError> {
        let id = ObjectId::random()?.hex();
        let created = now();
        self.ledger.insert_report(&id, created, self.expiry(created), json)?;
        Ok(id)
    }

    /// A kept report, unless it expired.
    pub fn report(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.ledger.report(id, now())?)
    }

    /// Accept a file for `POST /v1/jobs` (its result to be POSTed to `callback`, if any): its
    /// bytes are kept before the job is acknowledged.
    pub fn submit_job(&self, input: &[u8], name: Option<&str>, callback: Option<&str>) -> Result<JobRow, StoreError> {
        let seen = self.removals_seen();
        let input_blob = self.blobs.put(input)?;
        let created = now();
        let row = JobRow {
            id: ObjectId::random()?.hex(),
            name: name.map(str::to_string),
            input_blob,
            outcome: None,
            report: None,
            clean_blob: None,
            clean_name: None,
            media_type: None,
            created,
            expires: self.expiry(created),
            callback: callback.map(str::to_string),
        };
        let until = created.saturating_add(self.job_lease.as_secs());
        let removals = self.ledger.insert_job(&row, &self.instance, until)?;
        self.named(seen, removals, &[(input, &row.input_blob)])?;
        Ok(row)
    }

    /// Record a job's result, keeping its clean output.
    pub fn finish_job(
        &self,
        id: &str,
        outcome: Outcome,
        report: &str,
        clean: Option<(&[u8], Option<&str>, &str)>,
    ) -> Result<(), StoreError> {
        let seen = self.removals_seen();
        let clean_blob = clean.map(|(bytes, _, _)| self.blobs.put(bytes)).transpose()?;
        let removals = self.ledger.finish_job(
            id,
            &JobResult {
                outcome,
                report,
                clean_blob: clean_blob.as_deref(),
                clean_name: clean.and_then(|(_, name, _)| name),
                media_type: clean.map(|(_, _, media)| media),
            },
        )?;
        if let (Some((bytes, _, _)), Some(address)) = (clean, &clean_blob) {
            self.named(seen, removals, &[(bytes, address)])?;
        }
        Ok(())
    }

    pub fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.ledger.job(id, now())?)
    }

    /// Take the unfinished jobs to run: at start of an embedded store, every one (nobody
    /// else runs them); on a shared store, those whose holder's lease ran out.
    pub fn claim_jobs(&self, starting: bool) -> Result<Vec<JobRow>, StoreError> {
        let now = now();
        let until = now.saturating_add(self.job_lease.as_secs());
        Ok(self
            .ledger
            .claim_jobs(&self.instance, now, until, starting && !self.shared)?)
    }

    /// This instance's heartbeat: the jobs `ids` it is running (or waiting to run) held
    /// another lease from now, so a job that runs longer than one lease is never taken from a
    /// live holder; how many.
    pub fn renew_jobs(&self, ids: &[String]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let until = now().saturating_add(self.job_lease.as_secs());
        Ok(self.ledger.renew_jobs(&self.instance, ids, until)?)
    }

    /// How often this instance renews its leases and looks for jobs whose holder died: a
    /// third of the lease, so two renewals may be late before the lease lapses.
    pub fn job_sweep(&self) -> Duration {
        self.job_lease / 3
    }

    /// Whether other instances share this store (they pick up jobs this one leaves).
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}
