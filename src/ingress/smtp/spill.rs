//! Messages being received are held in memory only up to `smtp.message_memory_bytes`, all
//! sessions together. Past it, a session's message goes on arriving into an unlinked spool
//! file under `<data_dir>/spool/` (nothing to clean after a crash) and is read back only when
//! a worker takes it. So ten slow 40 MB messages cost disk while they arrive, not 400 MB of
//! memory; the memory of messages being disarmed is bounded by `engine.workers` instead.
//!
//! Owns the per-session share of the budget (`pipeline::MessageMemory`) and the spool; the session itself (`session.rs`) stays free
//! of I/O and only hands its buffered bytes over (`Session::take_data`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::pipeline::MessageMemory;
use crate::store::Store;

/// A session spills only once it holds this much (small messages never touch the disk).
const SPILL_MIN: u64 = 256 * 1024;

/// One session's share of the budget and, once it spilled, its spool file.
pub struct Holding {
    memory: Arc<MessageMemory>,
    charged: u64,
    spool: Option<File>,
}

/// A received message: in memory, or spooled with the bytes that came after the last spill.
pub enum Message {
    Memory(Vec<u8>),
    Spooled { file: File, tail: Vec<u8> },
}

impl Message {
    /// The whole message in memory (reads the spool back; blocking I/O, for the worker).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Message::Memory(bytes) => Ok(bytes),
            Message::Spooled { mut file, tail } => {
                let len = file.seek(SeekFrom::End(0))?;
                file.seek(SeekFrom::Start(0))?;
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(tail.len()));
                file.read_to_end(&mut bytes)?;
                bytes.extend_from_slice(&tail);
                Ok(bytes)
            }
        }
    }
}

impl Holding {
    pub fn new(memory: Arc<MessageMemory>) -> Self {
        Holding {
            memory,
            charged: 0,
            spool: None,
        }
    }

    /// This session holds `held` bytes now.
    pub fn charge(&mut self, held: u64) {
        self.memory.adjust(self.charged, held);
        self.charged = held;
    }

    /// Whether the session should move its `held` bytes to disk: the budget is spent and it
    /// holds enough to be worth a write.
    pub fn should_spill(&self, held: u64) -> bool {
        held >= SPILL_MIN && self.memory.is_spent()
    }

    /// Append `bytes` (taken from the session) to this message's spool file.
    pub async fn spill(&mut self, bytes: Vec<u8>, store: &Arc<Store>) -> io::Result<()> {
        self.charge(0);
        let file = match self.spool.take() {
            Some(file) => file,
            None => store.spool_file()?,
        };
        let file = tokio::task::spawn_blocking(move || {
            let mut file = file;
            file.write_all(&bytes).map(|()| file)
        })
        .await
        .map_err(io::Error::other)??;
        self.spool = Some(file);
        Ok(())
    }

    /// The message as DATA ended: `tail` is what the session held last. The tail stays
    /// charged until [`Holding::reset`] (the message waits for a worker in memory).
    pub fn finish(&mut self, tail: Vec<u8>) -> Message {
        self.charge(tail.len() as u64);
        match self.spool.take() {
            Some(file) => Message::Spooled { file, tail },
            None => Message::Memory(tail),
        }
    }

    /// The transaction is over (delivered, refused or abandoned): nothing is held any more.
    pub fn reset(&mut self) {
        self.charge(0);
        self.spool = None;
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.charge(0);
    }
}
