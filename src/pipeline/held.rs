//! A held password archive opened with its password (PPAP: the archive in one mail, the
//! password in the next): tries counted in the ledger before each attempt, the archive
//! decrypted and sanitized under a worker permit, the clean result kept on the part;
//! `held.unlock` for every try. The original and the password are never returned or logged.

use std::sync::Arc;
use std::time::Duration;

use super::{Permit, Pipeline, WorkError};
use crate::audit::{Event, Origin};
use crate::cdr::{Input, Refusal};
use crate::kind::FileKind;
use crate::report::Outcome;
use crate::store::PartRow;

/// Tries allowed per part in one window (counted before each attempt).
pub const MAX_FAILURES: u32 = 5;
/// How long a part stays locked after its tries are spent.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why an unlock gave no clean file.
#[derive(Debug, thiserror::Error)]
pub enum UnlockRefused {
    #[error("this file is not a held password archive")]
    NotHeld,
    #[error("this file cannot be unlocked: {0}")]
    CannotUnlock(String),
    #[error("too many wrong passwords; try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("the password does not open this archive ({attempts_left} attempts left)")]
    WrongPassword { attempts_left: u32 },
    #[error("the archive opened, but its contents were refused: {0}")]
    Blocked(String),
    #[error("{0}")]
    Failed(#[from] WorkError),
}

impl Pipeline {
    /// Open `part` with `password`, sanitize what it holds, keep the clean result on the part
    /// (the row returned names it).
    pub async fn unlock(
        self: &Arc<Self>,
        part: &PartRow,
        password: &str,
        origin: &Origin,
    ) -> Result<PartRow, UnlockRefused> {
        let result = self.unlock_inner(part, password).await;
        let (label, left, outcome) = match &result {
            Ok(row) => ("unlocked", None, Some(row.outcome)),
            Err(UnlockRefused::NotHeld | UnlockRefused::CannotUnlock(_)) => ("not_held", None, None),
            Err(UnlockRefused::Locked { .. }) => ("locked", Some(0), None),
            Err(UnlockRefused::WrongPassword { attempts_left }) => ("wrong_password", Some(*attempts_left), None),
            Err(UnlockRefused::Blocked(_)) => ("blocked", None, Some(Outcome::Blocked)),
            Err(UnlockRefused::Failed(_)) => ("error", None, None),
        };
        if let Err(UnlockRefused::WrongPassword { attempts_left }) = &result {
            tracing::warn!(part = %part.id, attempts_left, "wrong password for a held archive");
        }
        let outcome = outcome.map(Outcome::as_str);
        self.audit.note(
            origin,
            Event::Unlock {
                part: part.id.clone(),
                result: label,
                attempts_left: left,
                outcome,
            },
        );
        result
    }

    async fn unlock_inner(self: &Arc<Self>, part: &PartRow, password: &str) -> Result<PartRow, UnlockRefused> {
        if part.outcome != Outcome::Held || part.kind != FileKind::Zip {
            return Err(UnlockRefused::NotHeld);
        }
        // The try is taken before the attempt, atomically in the ledger: parallel requests
        // cannot make more guesses than the limit, and a restart does not give tries back.
        let store = self.store.clone();
        let id = part.id.clone();
        let left = Self::blocking(move || store.take_unlock_try(&id, MAX_FAILURES, WINDOW.as_secs()))
            .await?
            .map_err(WorkError::store)?
            .map_err(|secs| UnlockRefused::Locked { retry_after_secs: secs })?;
        let current = self.current();
        let store = self.store.clone();
        let (blob, name, password) = (part.original_blob.clone(), part.name.clone(), password.to_string());
        // Opening an archive is CPU-bound work like any other: it takes a worker permit, and
        // reading the original back happens under it too.
        let processed = self
            .run_work(Permit::Wait, None, move || {
                let original = store.blob(&blob).map_err(WorkError::store)?;
                Ok::<_, UnlockRefused>(
                    current
                        .engine
                        .run_input(Input::new(&original, name.as_deref()).with_password(&password)),
                )
            })
            .await??;
        match &processed.refusal {
            Some(Refusal::WrongPassword) => return Err(UnlockRefused::WrongPassword { attempts_left: left }),
            Some(e @ Refusal::NotAnArchive) => return Err(UnlockRefused::CannotUnlock(e.to_string())),
            _ => {}
        }
        let store = self.store.clone();
        let part = part.clone();
        Self::blocking(move || {
            store.clear_unlock_tries(&part.id).map_err(WorkError::store)?;
            let report = processed.report.to_json();
            let Some(clean) = processed.output else {
                return Err(UnlockRefused::Blocked(
                    processed.report.reason.clone().unwrap_or_else(|| "blocked".into()),
                ));
            };
            let clean_name = processed.report.output.as_ref().and_then(|o| o.name.clone());
            let outcome = processed.report.outcome;
            let row = store
                .unlock_part(&part, outcome, &clean, clean_name.as_deref(), &report)
                .map_err(WorkError::store)?;
            tracing::info!(part = %row.id, outcome = outcome.as_str(), "held archive unlocked and sanitized");
            Ok(row)
        })
        .await?
    }
}
