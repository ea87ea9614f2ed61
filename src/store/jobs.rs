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

    /// Accept a file for `POST /v1/jobs`: its bytes are kept before the job is acknowledged.
    pub fn submit_job(&self, input: &[u8], name: Option<&str>) -> Result<JobRow, StoreError> {
        let _gate = self.shared();
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
        };
        self.ledger.insert_job(&row)?;
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
        let _gate = self.shared();
        let clean_blob = clean.map(|(bytes, _, _)| self.blobs.put(bytes)).transpose()?;
        self.ledger.finish_job(
            id,
            &JobResult {
                outcome,
                report,
                clean_blob: clean_blob.as_deref(),
                clean_name: clean.and_then(|(_, name, _)| name),
                media_type: clean.map(|(_, _, media)| media),
            },
        )?;
        Ok(())
    }

    pub fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(self.ledger.job(id, now())?)
    }

    pub fn unfinished_jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        Ok(self.ledger.unfinished_jobs()?)
    }
}
