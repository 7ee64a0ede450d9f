//! Utilities controllers are built from, as in client-go's `util` packages.
//!
//! [`wait`] holds the [`wait::Backoff`] schedule and [`wait::jitter`], the client's one
//! backoff and jitter arithmetic; [`retry`] retries an operation on
//! conflicts (`retry_on_conflict`) or on any error the caller deems retriable;
//! [`workqueue`] holds the rate-limited work queues controllers hand keys through.
//! `wait` and `workqueue` live in `ferrokube-apimachinery`, shared with the embedded
//! server's controllers, and are re-exported here at their client-go places.

pub mod retry;
pub use ferrokube_apimachinery::{wait, workqueue};
