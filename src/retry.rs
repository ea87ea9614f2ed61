//! Trying again with backoff, for what mugai sends on its own and must not lose quietly
//! (notification mail, job callbacks). A leaf: tokio's timer only.

use std::future::Future;
use std::time::Duration;

/// Run `attempt` until it succeeds or `retries` more tries have failed, waiting `base` × 2ⁿ
/// after the n-th failure (n from 0; the factor stops growing at 2¹⁰). `failed(try, error,
/// gave_up)` hears of every failure, `try` counting from 1 and `gave_up` on the last.
/// `true` when a try succeeded.
pub async fn with_backoff<E, Fut>(
    retries: u32,
    base: Duration,
    mut attempt: impl FnMut() -> Fut,
    mut failed: impl FnMut(u32, &E, bool),
) -> bool
where
    Fut: Future<Output = Result<(), E>>,
{
    for n in 0..=retries {
        match attempt().await {
            Ok(()) => return true,
            Err(e) => {
                let gave_up = n == retries;
                failed(n + 1, &e, gave_up);
                if gave_up {
                    break;
                }
                tokio::time::sleep(base.saturating_mul(1 << n.min(10))).await;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tries_again_after_growing_waits_and_says_when_it_gives_up() {
        let mut tries = 0;
        let mut seen = Vec::new();
        let started = std::time::Instant::now();
        let ok = with_backoff(
            3,
            Duration::from_millis(20),
            || {
                tries += 1;
                let n = tries;
                async move {
                    if n < 3 {
                        Err(n)
                    } else {
                        Ok(())
                    }
                }
            },
            |t, e: &u32, gave_up| seen.push((t, *e, gave_up)),
        )
        .await;
        assert!(ok);
        assert_eq!(seen, [(1, 1, false), (2, 2, false)]);
        assert!(started.elapsed() >= Duration::from_millis(20 + 40), "20 ms, then 40 ms");
        let mut last = Vec::new();
        let ok = with_backoff(
            1,
            Duration::from_millis(1),
            || async { Err("down") },
            |t, _, g| last.push((t, g)),
        )
        .await;
        assert!(!ok);
        assert_eq!(last, [(1, false), (2, true)]);
    }
}
