//! The audit log (監査ログ): one JSON line per message and one per part, so every decision
//! the gateway made can be traced afterwards — ids, envelope, names, kinds, hashes,
//! outcomes, findings. Never content, never link tokens or keys.
//!
//! Lines are written whole under a lock and flushed at once; a failed write is reported to
//! the caller (who logs it) but does not undo the decision it describes.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use crate::config::AuditConfig;

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl AuditLog {
    /// Open the configured destination (appending to a file, created owner-only).
    pub fn open(config: &AuditConfig, data_dir: &Path) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match config {
            AuditConfig::Stdout => Box::new(io::stdout()),
            AuditConfig::DataDir => Box::new(append(&data_dir.join("audit.jsonl"))?),
            AuditConfig::File(path) => Box::new(append(path)?),
        };
        Ok(AuditLog { out: Mutex::new(out) })
    }

    /// A log that keeps its lines in memory (tests) or discards them.
    pub fn to_writer(w: Box<dyn Write + Send>) -> Self {
        AuditLog { out: Mutex::new(w) }
    }

    /// Write one event. `event` is an object; `ts` (unix seconds) is added.
    pub fn record(&self, mut event: serde_json::Value) -> io::Result<()> {
        if let Some(map) = event.as_object_mut() {
            map.insert("ts".into(), crate::clock::now().into());
        }
        let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&line)?;
        out.flush()
    }
}

fn append(path: &Path) -> io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
