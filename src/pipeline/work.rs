//! CPU-bound work on the blocking pool under a worker permit and a deadline.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Duration};

use super::Pipeline;

/// Why work has no result.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("the work passed its deadline and was told to stop")]
    Timeout,
    #[error("shutting down")]
    ShuttingDown,
    #[error("the work failed: {0}")]
    Failed(String),
}

impl WorkError {
    /// The store failed under the work (the caller fails closed).
    pub(super) fn store(e: impl std::fmt::Display) -> Self {
        WorkError::Failed(format!("store: {e}"))
    }
}

/// The worker permit for a piece of work: waited for here, or already taken by the caller
/// (the HTTP side takes it before reading a queued body).
pub enum Permit {
    Wait,
    Held(OwnedSemaphorePermit),
}

impl Pipeline {
    /// Run CPU-bound `f` on the blocking pool under a worker permit, which goes *with the
    /// work*: it comes back when the work has ended, not when the caller stops waiting, so a
    /// timeout or a client that went away never lets more than `engine.workers` jobs run.
    /// Past `deadline`, or when the caller's future is dropped, the work is told to stop
    /// ([`crate::cdr::StopSignal`]) and ends at its next deadline check.
    pub(super) async fn run_work<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        permit: Permit,
        deadline: Option<Duration>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        struct StopOnDrop(crate::cdr::StopSignal);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                // Harmless once the work is done; stops it when the caller gave up.
                self.0.stop();
            }
        }
        let permit = match permit {
            Permit::Held(p) => p,
            Permit::Wait => self
                .workers
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| WorkError::ShuttingDown)?,
        };
        let stop = crate::cdr::StopSignal::default();
        let _stop_on_drop = StopOnDrop(stop.clone());
        let pipeline = self.clone();
        let spare: Arc<dyn crate::cdr::parallel::Spare> = Arc::new(Permits(self.workers.clone()));
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _busy = pipeline.metrics.in_flight();
            // The pieces of this work (a message's attachments, an archive's entries) may
            // run on workers that are free, each under a permit of its own.
            crate::cdr::with_stop(&stop, || crate::cdr::parallel::with_spare(spare, f))
        });
        let joined = match deadline {
            Some(limit) => timeout(limit, handle).await.map_err(|_| WorkError::Timeout)?,
            None => handle.await,
        };
        joined.map_err(|e| WorkError::Failed(e.to_string()))
    }

    /// Store work on the blocking pool (no worker permit: it waits on the disk, not the CPU).
    pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, WorkError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| WorkError::Failed(e.to_string()))
    }
}

/// The worker permits, lent to the pieces of a piece of work ([`crate::cdr::parallel`]): a
/// piece takes a permit only when one is free now, and holds it while it runs.
struct Permits(Arc<Semaphore>);

impl crate::cdr::parallel::Spare for Permits {
    fn try_take(&self) -> Option<Box<dyn Send>> {
        self.0
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Box::new(p) as Box<dyn Send>)
    }

    fn free(&self) -> usize {
        self.0.available_permits()
    }
}
