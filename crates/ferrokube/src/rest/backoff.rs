//! `rest::backoff`: when to retry a request and how long to wait (client-go
//! `rest/with_retry.go`).
//!
//! A [`Request`](super::Request) is retried, up to `Config::max_retries` attempts in
//! all, when the server answers 429 Too Many Requests, when it answers 5xx with a
//! `Retry-After` header, and when a GET or HEAD request fails to connect. The wait is the
//! server's `Retry-After` (capped at [`MAX_RETRY_AFTER`]) when it sent one, otherwise an
//! exponential [`Backoff`]. Request bodies are kept as `Bytes`, so replaying is cheap.

use std::time::Duration;

/// Longest `Retry-After` honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Exponential backoff: `base`, `2*base`, `4*base`, ... never more than `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    /// 250 ms doubling up to 8 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(8))
    }
}

impl Backoff {
    /// A backoff starting at `base` and capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max, attempt: 0 }
    }

    /// The next delay; each call doubles the previous one up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.attempt = self.attempt.saturating_add(1);
        self.base.checked_mul(factor).unwrap_or(self.max).min(self.max)
    }

    /// Starts over from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Parses a `Retry-After` value: delay seconds (`"120"`) or an HTTP date
/// (`"Fri, 31 Dec 1999 23:59:59 GMT"`, relative to `now`). Capped at
/// [`MAX_RETRY_AFTER`]; `None` when unparsable.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = when.duration_since(now);
    let d = if delta.is_negative() { Duration::ZERO } else { Duration::try_from(delta).ok()? };
    Some(d.min(MAX_RETRY_AFTER))
}

/// The verdict on one response status for retrying.
pub(crate) fn should_retry_status(code: u16, has_retry_after: bool) -> bool {
    code == 429 || (code >= 500 && has_retry_after)
}

/// Only requests without side effects are retried after a connection error.
pub(crate) fn is_idempotent(method: &http::Method) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let got: Vec<_> = (0..7).map(|_| b.next_delay()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000, 1000].map(Duration::from_millis).to_vec());
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn backoff_never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("100000", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Mon, 01 Jan 2024 00:00:10 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 31 Dec 2023 00:00:10 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn retry_rules() {
        assert!(should_retry_status(429, false));
        assert!(should_retry_status(503, true));
        assert!(!should_retry_status(503, false));
        assert!(!should_retry_status(404, true));
        assert!(is_idempotent(&http::Method::GET));
        assert!(!is_idempotent(&http::Method::POST));
    }
}
