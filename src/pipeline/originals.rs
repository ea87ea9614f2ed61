//! Originals (what the gateway kept from before sanitizing) and when they are released.
//! `http.originals` decides, and every path fails closed: `direct` releases to whoever holds
//! the link; `after_scan` sends the original to clamd first and releases only on a clean
//! verdict (a find, an error or no answer: refused); `after_approval` releases only after an
//! approver approved the recipient's request. Every request, decision, release and refusal
//! is a line in the audit trail.

use std::sync::Arc;

use super::{Loaded, Pipeline, WorkError};
use crate::audit::{Event, Origin};
use crate::scan::{self, Verdict};
use crate::store::{PartRow, ReleaseRow, ReleaseState};

/// Why an original was not handed out.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseRefused {
    #[error("an approver declined to release this original")]
    Denied,
    #[error("the request for this original awaits an approver")]
    Pending,
    #[error("this original is released only after an approver's decision; request it on the recipient page")]
    NotRequested,
    #[error("the virus scan found {0}; this original is not released")]
    Infected(String),
    #[error("the virus scan could not be run; try again later")]
    ScanUnavailable,
    #[error("{0}")]
    Failed(#[from] WorkError),
}

impl ReleaseRefused {
    /// The short reason written to the audit trail.
    fn code(&self) -> &'static str {
        match self {
            ReleaseRefused::Denied => "denied",
            ReleaseRefused::Pending => "pending",
            ReleaseRefused::NotRequested => "not_requested",
            ReleaseRefused::Infected(_) => "infected",
            ReleaseRefused::ScanUnavailable => "scan_unavailable",
            ReleaseRefused::Failed(_) => "error",
        }
    }
}

impl Pipeline {
    /// The original's bytes, if policy releases it now; otherwise why not.
    pub async fn release(self: &Arc<Self>, part: &PartRow, origin: &Origin) -> Result<Vec<u8>, ReleaseRefused> {
        // One snapshot for the policy and the scanner, even if a reload comes in between.
        let current = self.current();
        let policy = current.config.http.originals;
        let result = self.release_inner(part, &current).await;
        let event = match &result {
            Ok(_) => {
                tracing::info!(part = %part.id, policy = policy.as_str(), "original released");
                Event::OriginalReleased {
                    part: part.id.clone(),
                    message: part.message.clone(),
                    name: part.name.clone(),
                    sha256: part.original_blob.clone(),
                    policy: policy.as_str(),
                }
            }
            Err(e) => {
                tracing::warn!(part = %part.id, reason = e.code(), "original not released");
                Event::OriginalRefused {
                    part: part.id.clone(),
                    reason: match e {
                        ReleaseRefused::Infected(sig) => format!("infected: {sig}"),
                        other => other.code().to_string(),
                    },
                }
            }
        };
        self.audit.note(origin, event);
        result
    }

    async fn release_inner(self: &Arc<Self>, part: &PartRow, current: &Loaded) -> Result<Vec<u8>, ReleaseRefused> {
        let policy = current.config.http.originals;
        if policy.needs_approval() {
            let store = self.store.clone();
            let id = part.id.clone();
            let row = Self::blocking(move || store.release(&id))
                .await?
                .map_err(WorkError::store)?;
            match row.map(|r| r.state) {
                Some(ReleaseState::Approved) => {}
                Some(ReleaseState::Denied) => return Err(ReleaseRefused::Denied),
                Some(ReleaseState::Requested) => return Err(ReleaseRefused::Pending),
                None => return Err(ReleaseRefused::NotRequested),
            }
        }
        let store = self.store.clone();
        let blob = part.original_blob.clone();
        let bytes = Self::blocking(move || store.blob(&blob))
            .await?
            .map_err(WorkError::store)?;
        if policy.needs_scan() {
            match scan::scan(&current.config.scan, &bytes).await {
                Ok(Verdict::Clean) => {}
                Ok(Verdict::Infected(signature)) => return Err(ReleaseRefused::Infected(signature)),
                Err(e) => {
                    tracing::error!(part = %part.id, error = %e, "no scan verdict");
                    return Err(ReleaseRefused::ScanUnavailable);
                }
            }
        }
        Ok(bytes)
    }

    /// A recipient (`requester`, the address confirmed on the page) asks for an original held
    /// for approval, for `reason`; the request as recorded. Under `after_scan_and_approval`
    /// clamd judges the original first: an infected one is declined at once (by `clamd`, the
    /// signature in the comment) and never reaches an approver; no verdict, and the request is
    /// not made (`ScanUnavailable`: try again later). A repeated request is the same request.
    pub async fn request(
        self: &Arc<Self>,
        part: &PartRow,
        requester: Option<&str>,
        reason: Option<&str>,
        origin: &Origin,
    ) -> Result<ReleaseRow, ReleaseRefused> {
        let current = self.current();
        let policy = current.config.http.originals;
        let store = self.store.clone();
        let id = part.id.clone();
        let existing = Self::blocking(move || store.release(&id))
            .await?
            .map_err(WorkError::store)?;
        let scan = match &existing {
            Some(_) => None,
            None if policy.needs_scan() => Some(self.scan_original(part, &current).await?),
            None => None,
        };
        let store = self.store.clone();
        let (id, message_id) = (part.id.clone(), part.message.clone());
        let (who, why, verdict) = (
            requester.map(str::to_string),
            reason.map(str::to_string),
            scan.as_ref().map(|s| s.text()),
        );
        let (row, message) = Self::blocking(move || {
            let asked = crate::store::Asked {
                requester: who.as_deref(),
                reason: why.as_deref(),
                scan: verdict.as_deref(),
            };
            let row = store.request_release(&id, &asked)?;
            Ok::<_, crate::store::StoreError>((row, store.message(&message_id)?))
        })
        .await?
        .map_err(WorkError::store)?;
        tracing::info!(part = %part.id, "recipient requested the original");
        self.audit.note(
            origin,
            Event::OriginalRequested {
                part: part.id.clone(),
                message: part.message.clone(),
                name: part.name.clone(),
                requester: requester.map(str::to_string),
                reason: reason.map(str::to_string),
                scan: scan.as_ref().map(|s| s.text()),
            },
        );
        if existing.is_some() {
            return Ok(row);
        }
        if let Some(Verdict::Infected(signature)) = &scan {
            // Never before an approver: declined now, the requester told why.
            let comment = format!("ウイルスが見つかりました / a virus was found: {signature}");
            self.decide(&part.id, false, "clamd", Some(&comment), &Origin::daemon())
                .await?;
            let store = self.store.clone();
            let id = part.id.clone();
            let decided = Self::blocking(move || store.release(&id))
                .await?
                .map_err(WorkError::store)?;
            return Ok(decided.unwrap_or(row));
        }
        // The approvers hear of a new request.
        if let Some(note) = super::notes::request(&current.config, part, message.as_ref(), &row) {
            self.notifier.send(note);
        }
        Ok(row)
    }

    /// clamd's verdict on a part's original (`ScanUnavailable` when there is none).
    async fn scan_original(self: &Arc<Self>, part: &PartRow, current: &Loaded) -> Result<Verdict, ReleaseRefused> {
        let store = self.store.clone();
        let blob = part.original_blob.clone();
        let bytes = Self::blocking(move || store.blob(&blob))
            .await?
            .map_err(WorkError::store)?;
        scan::scan(&current.config.scan, &bytes).await.map_err(|e| {
            tracing::error!(part = %part.id, error = %e, "no scan verdict");
            ReleaseRefused::ScanUnavailable
        })
    }

    /// Tell the requester of a decision, with the file page's link (in the background; a
    /// failure to look the request up is logged, never the decision's).
    async fn tell_requester(self: &Arc<Self>, part: &str, approved: bool) {
        if !self.notifier.enabled() {
            return;
        }
        let store = self.store.clone();
        let id = part.to_string();
        let found = Self::blocking(move || {
            let Some(part) = store.part(&id)? else {
                return Ok(None);
            };
            let release = store.release(&id)?;
            let token = store.link_for(&part);
            Ok::<_, crate::store::StoreError>(release.map(|r| (part, r, token)))
        })
        .await;
        match found {
            Ok(Ok(Some((part, release, token)))) => {
                if let Some(note) = super::notes::decision(&self.current().config, &part, &release, &token, approved) {
                    self.notifier.send(note);
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!(part, error = %e, "could not look up a request to tell its requester"),
            Err(e) => tracing::error!(part, error = %e, "could not look up a request to tell its requester"),
        }
    }

    /// An approver's decision on a pending request; `false` when none was pending.
    pub async fn decide(
        self: &Arc<Self>,
        part: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
        origin: &Origin,
    ) -> Result<bool, WorkError> {
        let store = self.store.clone();
        let (id, by_name, note) = (part.to_string(), by.to_string(), comment.map(str::to_string));
        let changed = Self::blocking(move || store.decide_release(&id, approve, &by_name, note.as_deref()))
            .await?
            .map_err(WorkError::store)?;
        if changed {
            self.tell_requester(part, approve).await;
            tracing::info!(part = %part, approver = %by, approved = approve, "release decided");
            let (part, comment) = (part.to_string(), comment.map(str::to_string));
            let event = if approve {
                Event::OriginalApproved { part, comment }
            } else {
                Event::OriginalDenied { part, comment }
            };
            self.audit.note(origin, event);
        }
        Ok(changed)
    }
}

/// An original an operator took out (`mugai originals get`, the admin console).
pub struct Fetched {
    /// `part` or `message` (the whole `.eml`).
    pub of: &'static str,
    /// The part's file name, or the message's Message-ID.
    pub name: Option<String>,
    pub bytes: Vec<u8>,
}

/// Why an operator could not take an original out.
#[derive(Debug, thiserror::Error)]
pub enum FetchRefused {
    #[error("a reason must say why the original is needed (it goes into the audit trail)")]
    NoReason,
    #[error("no part or message {0} (expired, purged, or never kept)")]
    Unknown(String),
    #[error("{0}")]
    Failed(String),
}

/// Take out a part's original or a whole message (`id`) for an operator, whatever the
/// release policy, for `reason`: the audit line (`original.fetched`) is written first, and
/// when it cannot be, nothing leaves.
pub fn fetch_original(
    store: &crate::store::Store,
    audit: &crate::audit::AuditLog,
    origin: &Origin,
    id: &str,
    reason: &str,
) -> Result<Fetched, FetchRefused> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(FetchRefused::NoReason);
    }
    let failed = |e: &dyn std::fmt::Display| FetchRefused::Failed(e.to_string());
    let (of, name, blob) = if let Some(part) = store.part(id).map_err(|e| failed(&e))? {
        ("part", part.name.clone(), part.original_blob)
    } else if let Some(message) = store.message(id).map_err(|e| failed(&e))? {
        ("message", message.message_id.clone(), message.blob)
    } else {
        return Err(FetchRefused::Unknown(id.to_string()));
    };
    let bytes = store.blob(&blob).map_err(|e| failed(&e))?;
    // The trail first: an original nobody can account for must not leave.
    audit
        .record(
            origin,
            Event::OriginalFetched {
                id: id.to_string(),
                of,
                name: name.clone(),
                sha256: blob,
                reason: reason.to_string(),
            },
        )
        .map_err(|e| FetchRefused::Failed(format!("writing the audit line (the original was not given out): {e}")))?;
    Ok(Fetched { of, name, bytes })
}
