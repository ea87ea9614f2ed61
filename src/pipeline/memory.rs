//! The daemon's memory budget for SMTP messages being received (`smtp.message_memory_bytes`,
//! all sessions together): the sessions charge it (`ingress::smtp::spill`), `/metrics` shows it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct MessageMemory {
    used: AtomicU64,
    limit: u64,
}

impl MessageMemory {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(MessageMemory {
            used: AtomicU64::new(0),
            limit,
        })
    }

    /// Bytes held now, all sessions together.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether more is held than the budget allows.
    pub fn is_spent(&self) -> bool {
        self.used() > self.limit
    }

    /// A session now holds `now` bytes where it held `before`.
    pub fn adjust(&self, before: u64, now: u64) {
        if now >= before {
            self.used.fetch_add(now - before, Ordering::Relaxed);
        } else {
            self.used.fetch_sub(before - now, Ordering::Relaxed);
        }
    }
}
