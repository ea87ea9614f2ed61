//! `[relay]`: the SMTP client to the next hop — timeouts and the session pool.

use std::time::Duration;

use serde::Deserialize;

use super::{hostname, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawRelay {
    /// Name mugai gives itself in EHLO to the next hop.
    helo_name: String,
    /// Seconds to connect and read the next hop's greeting.
    connect_timeout_secs: u64,
    /// Seconds to wait for the next hop's reply to a command.
    command_timeout_secs: u64,
    /// Seconds to send the message and wait for the reply to its final dot.
    data_timeout_secs: u64,
    /// Idle next-hop sessions kept for the next message (0: a new session each time).
    pool_size: u64,
    /// Seconds an idle next-hop session is kept.
    pool_idle_secs: u64,
}

impl Default for RawRelay {
    fn default() -> Self {
        Self {
            helo_name: "mugai".into(),
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            pool_size: 16,
            pool_idle_secs: 10,
        }
    }
}

/// The next hop (`egress/relay.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub helo_name: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub pool_size: usize,
    pub pool_idle: Duration,
}

impl RawRelay {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> RelayConfig {
        range(
            problems,
            "relay.connect_timeout_secs",
            self.connect_timeout_secs,
            1,
            3600,
        );
        range(
            problems,
            "relay.command_timeout_secs",
            self.command_timeout_secs,
            1,
            3600,
        );
        range(problems, "relay.data_timeout_secs", self.data_timeout_secs, 1, 7200);
        range(problems, "relay.pool_size", self.pool_size, 0, 1024);
        range(problems, "relay.pool_idle_secs", self.pool_idle_secs, 1, 3600);
        hostname(problems, "relay.helo_name", &self.helo_name);
        RelayConfig {
            helo_name: self.helo_name.clone(),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            command_timeout: Duration::from_secs(self.command_timeout_secs),
            data_timeout: Duration::from_secs(self.data_timeout_secs),
            pool_size: usize::try_from(self.pool_size).unwrap_or(0),
            pool_idle: Duration::from_secs(self.pool_idle_secs),
        }
    }
}
