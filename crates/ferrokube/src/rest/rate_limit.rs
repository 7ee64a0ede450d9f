//! `rest::rate_limit`: the client-side token bucket (client-go `flowcontrol`
//! `NewTokenBucketRateLimiter`).
//!
//! Every [`Request`](super::Request) takes one token before each attempt reaches the
//! HTTP transport. The bucket holds at most `burst` tokens and refills at `qps` tokens
//! per second; all clones of a [`RESTClient`](super::RESTClient) share one bucket, and
//! several clients can share one through
//! [`RateLimiterChoice::Shared`](super::config::RateLimiterChoice::Shared).
//! A wait longer than 50 ms (client-go `longThrottleLatency`) is logged at `info`, and
//! one longer than 1 s (`extraLongThrottleLatency`) at `warn`, with client-go's words
//! ("Waited for 1.2s due to client-side throttling, not priority and fairness,
//! request: GET:https://…"), so that throttling on the client side is not mistaken for
//! server-side priority and fairness. A wait before a retry names the retry's reason
//! instead.

use std::time::Duration;

pub use ferrokube_apimachinery::flowcontrol::TokenBucket;

/// Waits longer than this are logged at `info` (client-go `longThrottleLatency`).
pub const LOG_WAIT_THRESHOLD: Duration = Duration::from_millis(50);

/// Waits longer than this are logged at `warn` (client-go `extraLongThrottleLatency`).
pub const EXTRA_LONG_THROTTLE_LATENCY: Duration = Duration::from_secs(1);

/// Logs a rate-limiter wait as client-go does. `reason` is the retry reason when the
/// wait came before a retry; `request` is `VERB:URL` (URL without query).
pub(crate) fn log_wait(waited: Duration, reason: Option<&str>, request: &super::errors::RequestInfo) {
    if waited <= LOG_WAIT_THRESHOLD {
        return;
    }
    let reason = reason.unwrap_or("client-side throttling, not priority and fairness");
    if waited > EXTRA_LONG_THROTTLE_LATENCY {
        tracing::warn!("Waited for {:?} due to {}, request: {}:{}", waited, reason, request.verb, request.url);
    } else {
        tracing::info!("Waited for {:?} due to {}, request: {}:{}", waited, reason, request.verb, request.url);
    }
}
