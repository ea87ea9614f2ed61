//! `[engine]`: CPU-bound work in the daemon — worker permits and the message deadline.

use std::time::Duration;

use serde::Deserialize;

use super::{range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawEngine {
    /// Messages disarmed at once (CPU-bound work, on the blocking pool).
    workers: u64,
    /// Seconds one message may take through the whole pipeline.
    message_timeout_secs: u64,
}

impl Default for RawEngine {
    fn default() -> Self {
        Self {
            workers: 2,
            message_timeout_secs: 240,
        }
    }
}

/// CPU-bound work in the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkConfig {
    pub workers: usize,
    pub message_timeout: Duration,
}

impl RawEngine {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> WorkConfig {
        range(problems, "engine.workers", self.workers, 1, 1024);
        range(
            problems,
            "engine.message_timeout_secs",
            self.message_timeout_secs,
            1,
            86_400,
        );
        WorkConfig {
            workers: self.workers as usize,
            message_timeout: Duration::from_secs(self.message_timeout_secs),
        }
    }
}
