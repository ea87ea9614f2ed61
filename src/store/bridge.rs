//! A runtime of the store's own for the asynchronous clients of scale-out (tokio-postgres,
//! object_store) behind the store's blocking traits.
//!
//! Why: the repository and blob calls are blocking — the pipeline makes them on worker
//! threads, the HTTP side in `spawn_blocking`, the CLI with no runtime at all — and a
//! `block_on` inside a tokio runtime panics. The bridge spawns each call on its own
//! one-thread runtime and waits on a plain channel, which works from any thread.
//!
//! A leaf: uses only tokio.

use std::future::Future;
use std::io;

/// The store's runtime (one worker thread: the clients only wait for the network).
pub struct Bridge {
    runtime: tokio::runtime::Runtime,
}

/// The runtime stopped before the call was answered (the process is shutting down).
#[derive(Debug)]
pub struct Stopped;

impl Bridge {
    pub fn new(name: &str) -> io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Bridge { runtime })
    }

    /// Start `call` on the bridge's runtime without waiting for it (it talks back through
    /// channels of its own, e.g. to hold a transaction while the caller works).
    pub fn spawn(&self, call: impl Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(call);
    }

    /// Run `call` on the bridge's runtime and wait for its output.
    pub fn wait_for<T: Send + 'static>(&self, call: impl Future<Output = T> + Send + 'static) -> Result<T, Stopped> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(call.await);
        });
        rx.recv().map_err(|_| Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_answered_from_plain_threads_and_from_inside_a_runtime() {
        let bridge = Bridge::new("bridge-test").unwrap();
        assert_eq!(bridge.wait_for(async { 1 + 1 }).unwrap(), 2);
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inside = outer.block_on(async {
            bridge.wait_for(async {
                tokio::task::yield_now().await;
                3
            })
        });
        assert_eq!(inside.unwrap(), 3);
    }
}
