//! Retrying an operation that may fail transiently, as client-go's `util/retry`.
//!
//! The usual use is the read-modify-write loop of a controller: get the object, change
//! it, update it; when the update fails with `409 Conflict` because someone else wrote
//! in between, start again from the get. [`retry_on_conflict`] does exactly that, with
//! client-go's [`DEFAULT_RETRY`] schedule; [`on_error`] lets the caller decide which
//! errors are worth another attempt.

use std::future::Future;

use super::wait::Backoff;
use crate::rest::Error;
use std::time::Duration;

/// client-go's `retry.DefaultRetry`: 5 attempts, 10 ms apart with 10 % jitter. Meant
/// for conflicts, which resolve quickly.
pub const DEFAULT_RETRY: Backoff =
    Backoff { duration: Duration::from_millis(10), factor: 1.0, jitter: 0.1, steps: 5, cap: None };

/// client-go's `retry.DefaultBackoff`: 4 attempts starting at 10 ms, ×5 each time.
/// Meant for errors that need longer to clear, such as a server that is starting.
pub const DEFAULT_BACKOFF: Backoff =
    Backoff { duration: Duration::from_millis(10), factor: 5.0, jitter: 0.1, steps: 4, cap: None };

/// Runs `operation` until it succeeds, fails with an error `retriable` rejects, or the
/// backoff's steps are over; returns the last result (client-go `retry.OnError` over
/// `wait.ExponentialBackoff`). Between attempts it waits [`Backoff::step`]: at most
/// `backoff.steps` attempts, fewer when the delay reaches `backoff.cap`, which ends the
/// steps as in client-go (which then sleeps once more before giving up; this returns
/// at once). Unlike client-go, `steps: 0` still runs the operation once: there is no
/// error of the caller's type to return without running it.
pub async fn on_error<T, E, F, Fut, R>(backoff: Backoff, mut retriable: R, mut operation: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    R: FnMut(&E) -> bool,
{
    let mut backoff = backoff;
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                if backoff.steps <= 1 || !retriable(&err) {
                    return Err(err);
                }
                let delay = backoff.step();
                if backoff.steps == 0 {
                    return Err(err);
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Runs `operation` again while it fails with `409 Conflict` (client-go
/// `retry.RetryOnConflict`). The operation should re-read the object each time.
///
/// ```no_run
/// # async fn example(client: ferrokube::RESTClient) -> Result<(), ferrokube::rest::Error> {
/// use ferrokube::util::retry::{retry_on_conflict, DEFAULT_RETRY};
/// retry_on_conflict(DEFAULT_RETRY, || async {
///     // get the latest version, change it, update it
///     Ok::<(), ferrokube::rest::Error>(())
/// })
/// .await
/// # }
/// ```
pub async fn retry_on_conflict<T, F, Fut>(backoff: Backoff, operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    on_error(backoff, |err: &Error| err.is_conflict(), operation).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, PartialEq)]
    enum TestError {
        Transient,
        Fatal,
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retriable_errors_until_success() {
        let calls = AtomicU32::new(0);
        let result = on_error(
            DEFAULT_RETRY,
            |e| *e == TestError::Transient,
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 3 {
                    Err(TestError::Transient)
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_steps_attempts_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = on_error(
            DEFAULT_BACKOFF,
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(TestError::Transient)
            },
        )
        .await;
        assert_eq!(result, Err(TestError::Transient));
        assert_eq!(calls.load(Ordering::SeqCst), DEFAULT_BACKOFF.steps);
    }

    #[tokio::test(start_paused = true)]
    async fn reaching_the_cap_ends_the_steps_as_in_client_go() {
        let calls = AtomicU32::new(0);
        let capped = Backoff {
            duration: Duration::from_millis(10),
            factor: 5.0,
            jitter: 0.0,
            steps: 10,
            cap: Some(Duration::from_millis(600)),
        };
        let start = tokio::time::Instant::now();
        let result: Result<(), _> = on_error(
            capped,
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(TestError::Transient)
            },
        )
        .await;
        assert_eq!(result, Err(TestError::Transient));
        // 10 ms, 50 ms, then the next delay (1250 ms) passes the 600 ms cap: over.
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(start.elapsed(), Duration::from_millis(60));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_other_errors() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = on_error(
            DEFAULT_RETRY,
            |e| *e == TestError::Transient,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(TestError::Fatal)
            },
        )
        .await;
        assert_eq!(result, Err(TestError::Fatal));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
