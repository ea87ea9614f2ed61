//! One file for the HTTP API (`/v1/sanitize`, jobs): the engine, then the result into the
//! store, in one trip to the blocking pool under a worker permit; metrics; `file.sanitized`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{Permit, Pipeline, WorkError};
use crate::audit::{Event, Origin};
use crate::cdr::{Input, Processed};
use crate::report::{Digest256, Outcome, Report};

/// A file as it arrived.
pub struct FileInput {
    pub bytes: Bytes,
    pub name: Option<String>,
    /// The digest computed as the bytes arrived, when they are the whole body.
    pub digest: Option<Digest256>,
}

/// Where the result is kept.
pub enum Keep {
    /// A report for `GET /v1/reports/{id}`; a held file is kept so it can be unlocked, under
    /// `submitter`.
    Report { submitter: String },
    /// The result of this job (the job row holds the report and the clean file).
    Job { id: String },
}

/// The result of [`Pipeline::file`].
pub struct FileDone {
    pub processed: Processed,
    /// The kept report's id (with [`Keep::Report`]).
    pub report_id: Option<String>,
    /// The signed link token of a held file kept for unlocking.
    pub held_token: Option<String>,
}

impl Pipeline {
    /// Sanitize one file and keep the result (see the module documentation).
    pub async fn file(
        self: &Arc<Self>,
        permit: Permit,
        input: FileInput,
        keep: Keep,
        origin: &Origin,
    ) -> Result<FileDone, WorkError> {
        let current = self.current();
        let store = self.store.clone();
        let started = Instant::now();
        let job = match &keep {
            Keep::Job { id } => Some(id.clone()),
            Keep::Report { .. } => None,
        };
        let (done, elapsed) = self
            .run_work(permit, None, move || {
                let FileInput { bytes, name, digest } = input;
                let input = Input::new(&bytes, name.as_deref()).with_digest(digest.as_ref());
                let processed = current.engine.run_input(input);
                let elapsed = started.elapsed();
                let report = &processed.report;
                // Kept signed: whoever reads it later can check the file against it.
                let json = store.signed_report(report, &current.policy_sha256);
                let kept = match keep {
                    Keep::Report { submitter } => store.keep_report(&json).and_then(|id| {
                        let token = if report.outcome == Outcome::Held {
                            let (_, token) = store.keep_held_upload(
                                &submitter,
                                &bytes,
                                name.as_deref(),
                                report.detected_kind,
                                report.reason.as_deref(),
                                &json,
                            )?;
                            Some(token)
                        } else {
                            None
                        };
                        Ok((Some(id), token))
                    }),
                    Keep::Job { id } => {
                        let out_name = report.output.as_ref().and_then(|o| o.name.clone());
                        let media = report
                            .output
                            .as_ref()
                            .map_or("application/octet-stream", |o| o.kind.media_type());
                        let clean = processed.output.as_deref().map(|b| (b, out_name.as_deref(), media));
                        store
                            .finish_job(&id, report.outcome, &json, clean)
                            .map(|()| (None, None))
                    }
                };
                kept.map(|(report_id, held_token)| {
                    (
                        FileDone {
                            processed,
                            report_id,
                            held_token,
                        },
                        elapsed,
                    )
                })
                .map_err(|e| WorkError::Failed(format!("keeping the result: {e}")))
            })
            .await??;
        self.metrics.file(&done.processed.report, elapsed);
        self.audit.note(
            origin,
            sanitized_event(&done.processed.report, done.report_id.clone(), job),
        );
        Ok(done)
    }
}

fn sanitized_event(report: &Report, report_id: Option<String>, job: Option<String>) -> Event {
    Event::FileSanitized {
        report: report_id,
        job,
        name: report.file_name.clone(),
        kind: report.detected_kind.as_str(),
        outcome: report.outcome.as_str(),
        reason: report.reason.clone(),
        size: report.input.size,
        input_sha256: report.input.sha256.clone(),
        output_sha256: report.output.as_ref().map(|o| o.digest.sha256.clone()),
        findings: serde_json::to_value(&report.findings).unwrap_or_default(),
    }
}
