//! Utilities controllers are built from, as in client-go's `util` packages.
//!
//! [`wait`] holds the [`wait::Backoff`] schedule and [`wait::jitter`], the client's one
//! backoff and jitter arithmetic; [`retry`] retries an operation on
//! conflicts (`retry_on_conflict`) or on any error the caller deems retriable;
//! [`workqueue`] holds the rate-limited work queues controllers hand keys through.

pub mod retry;
pub mod wait;
pub mod workqueue;
