//! Utilities controllers are built from, as in client-go's `util` packages.
//!
//! [`wait`] holds the [`wait::Backoff`] schedule; [`retry`] retries an operation on
//! conflicts (`retry_on_conflict`) or on any error the caller deems retriable.

pub mod retry;
pub mod wait;
