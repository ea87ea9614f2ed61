//! `[engine]`: CPU-bound work in the daemon — worker permits and the message deadline.

use std::time::Duration;

use serde::Deserialize;

use super::{range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawEngine {
    /// Messages disarmed at once (CPU-bound work, on the blocking pool); absent: the cores
    /// available to the process.
    workers: Option<u64>,
    /// Seconds one message may take through the whole pipeline.
    message_timeout_secs: u64,
}

impl Default for RawEngine {
    fn default() -> Self {
        Self {
            workers: None,
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
        let workers = self.workers.unwrap_or_else(available_cores);
        range(problems, "engine.workers", workers, 1, 1024);
        range(
            problems,
            "engine.message_timeout_secs",
            self.message_timeout_secs,
            1,
            86_400,
        );
        WorkConfig {
            workers: workers as usize,
            message_timeout: Duration::from_secs(self.message_timeout_secs),
        }
    }
}

/// The cores this process may use: the CPU set and the cgroup quota (a container given 1.5
/// cores gets 1) as the standard library reads them; 1 when they cannot be read.
fn available_cores() -> u64 {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() as u64)
        .min(1024)
}
