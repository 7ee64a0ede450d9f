//! `rest::with_retry`: whether an attempt of a request is followed by another (client-go
//! `rest/with_retry.go` and the retry parts of `request.go`).
//!
//! The send loop of [`Request`](super::Request) asks its retry state after every
//! attempt. The rules are client-go's:
//! - At most `max_retries` retries (default 10, so 11 attempts); 0 disables retrying.
//! - A response is retried only when its code is 429 or 5xx **and** it carries a
//!   `Retry-After` header holding an integer (`checkWait`); the wait is that many
//!   seconds (negative counts as none). A 429 without it, or with an HTTP date or any
//!   other text, is returned at once.
//! - An attempt that got no response is retried only when the error is of a kind the
//!   call allows: for [`send`](super::Request::send) and friends, a connection reset,
//!   an unexpected EOF or a lost HTTP/2 connection, and only for GET; for [`watch`](super::Request::watch), an EOF or a timeout; for
//!   [`stream`](super::Request::stream), never. Such a retry waits 1 s, as client-go
//!   fakes a `Retry-After: 1` for it. A refused connection is not retried.
//! - A body that cannot be replayed (a one-shot stream) is never retried.
//!
//! It also keeps the error of the attempt before the last one, so the final error can
//! name it (client-go `WrapPreviousError`): "… - error from a previous attempt: …".

use std::time::Duration;

use http::HeaderMap;

/// Which transport errors the kind of call retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorRetry {
    /// `Do`/`DoRaw`: connection reset, EOF, HTTP/2 connection lost; GET only.
    GetOnConnectionLoss,
    /// `Watch`: EOF or timeout.
    EofOrTimeout,
    /// `Stream`: never.
    Never,
}

/// What kind of failure a transport error is, for [`ErrorRetry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Connection reset by the peer.
    Reset,
    /// The connection ended early (EOF, closed connection, GOAWAY, lost HTTP/2 connection).
    Eof,
    /// A network timeout.
    Timeout,
    /// Anything else: refused connections, DNS, TLS, protocol errors.
    Other,
}

impl ErrorRetry {
    pub(crate) fn allows(self, method: &http::Method, kind: ErrorKind) -> bool {
        match self {
            ErrorRetry::GetOnConnectionLoss => {
                method == http::Method::GET && matches!(kind, ErrorKind::Reset | ErrorKind::Eof)
            }
            ErrorRetry::EofOrTimeout => matches!(kind, ErrorKind::Reset | ErrorKind::Eof | ErrorKind::Timeout),
            ErrorRetry::Never => false,
        }
    }
}

/// The `Retry-After` header as client-go reads it (`retryAfterSeconds`): an integer
/// number of seconds, sign allowed; `None` when missing or anything else (an HTTP date
/// included).
pub fn retry_after_seconds(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if value.is_empty() {
        return None;
    }
    value.parse::<i64>().ok()
}

/// client-go's `checkWait`: the seconds to wait when the response asks for a retry
/// (429 or 5xx with a numeric `Retry-After`), `None` otherwise.
pub fn check_wait(code: u16, headers: &HeaderMap) -> Option<i64> {
    if code == 429 || code >= 500 {
        retry_after_seconds(headers)
    } else {
        None
    }
}

/// The wait a retry is about to do and why, for the log line and the rate-limiter log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RetryAfter {
    /// What the server asked for (or 1 s after a retryable error).
    pub(crate) wait: Duration,
    /// The attempt that was answered (1-based).
    pub(crate) attempt: u32,
    /// client-go's `getRetryReason` text.
    pub(crate) reason: String,
}

/// How an attempt ended, as [`WithRetry::is_next_retry`] needs it.
pub(crate) enum Outcome<'a> {
    /// The server answered.
    Response { code: u16, headers: &'a HeaderMap },
    /// No answer: the transport error's message and kind.
    Error { message: &'a str, kind: ErrorKind },
}

/// Retry state of one request (client-go `withRetry`).
#[derive(Debug)]
pub(crate) struct WithRetry {
    max_retries: u32,
    attempts: u32,
    retry_after: Option<RetryAfter>,
    previous_err: Option<String>,
    current_err: Option<String>,
}

impl WithRetry {
    pub(crate) fn new(max_retries: u32) -> Self {
        WithRetry { max_retries, attempts: 0, retry_after: None, previous_err: None, current_err: None }
    }

    /// The retry about to happen, decided by the last [`is_next_retry`](Self::is_next_retry);
    /// `None` before the first attempt.
    pub(crate) fn retry_after(&self) -> Option<&RetryAfter> {
        self.retry_after.as_ref()
    }

    /// Forgets the decision once the next attempt is under way (client-go `After`).
    /// Returns whether that attempt was a retry.
    pub(crate) fn after_attempt(&mut self) -> bool {
        self.retry_after.take().is_some()
    }

    /// Remembers `err` as the latest attempt's error, moving the one before it to
    /// "previous" (client-go `trackPreviousError`).
    pub(crate) fn track_previous_error(&mut self, err: Option<&str>) {
        if let Some(cur) = self.current_err.take() {
            self.previous_err = Some(cur);
        }
        self.current_err = err.map(str::to_owned);
    }

    /// Decides whether to retry after an attempt that ended with `outcome`. `replayable`
    /// is false for a one-shot body; `errors` says which transport errors count.
    pub(crate) fn is_next_retry(
        &mut self,
        method: &http::Method,
        replayable: bool,
        outcome: &Outcome<'_>,
        errors: ErrorRetry,
    ) -> bool {
        let err = match outcome {
            Outcome::Error { message, .. } => Some(*message),
            Outcome::Response { .. } => None,
        };
        let decision = self.decide(method, replayable, outcome, errors);
        self.track_previous_error(err);
        decision
    }

    fn decide(&mut self, method: &http::Method, replayable: bool, outcome: &Outcome<'_>, errors: ErrorRetry) -> bool {
        if !replayable {
            // An opaque reader cannot be sent again.
            return false;
        }
        self.attempts += 1;
        self.retry_after = Some(RetryAfter { wait: Duration::ZERO, attempt: self.attempts, reason: String::new() });
        if self.attempts > self.max_retries {
            return false;
        }
        let seconds = match outcome {
            Outcome::Error { kind, .. } if errors.allows(method, *kind) => 1,
            Outcome::Error { .. } => return false,
            Outcome::Response { code, headers } => match check_wait(*code, headers) {
                Some(s) => s,
                None => return false,
            },
        };
        let reason = retry_reason(self.attempts, seconds, outcome);
        self.retry_after = Some(RetryAfter {
            wait: Duration::from_secs(seconds.max(0).unsigned_abs()),
            attempt: self.attempts,
            reason,
        });
        true
    }

    /// The error of an attempt before the last, to name beside `current` in the final
    /// error (client-go `WrapPreviousError`); `None` when there is none or it reads the
    /// same as `current`.
    pub(crate) fn previous_error_for(&self, current: &str) -> Option<String> {
        self.previous_err.as_deref().filter(|p| *p != current).map(str::to_owned)
    }
}

/// client-go's `getRetryReason`.
fn retry_reason(retries: u32, seconds: i64, outcome: &Outcome<'_>) -> String {
    let message = format!("retries: {retries}, retry-after: {seconds}s");
    match outcome {
        Outcome::Response { code: 429, headers } => {
            let uid = headers.get("X-Kubernetes-PF-FlowSchema-UID").and_then(|v| v.to_str().ok()).unwrap_or("");
            format!("{message} - retry-reason: due to server-side throttling, FlowSchema UID: {uid:?}")
        }
        Outcome::Error { message: err, .. } => {
            format!("{message} - retry-reason: due to retryable error, error: {err}")
        }
        Outcome::Response { code, .. } => format!("{message} - retry-reason: {code}"),
    }
}

/// Walks an error chain (including the inner errors of `io::Error`s) for a rustls error.
pub(crate) fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(t) = find_tls_error(inner) {
                    return Some(t);
                }
            }
        }
        cur = e.source();
    }
    None
}

/// Sorts a transport error into the kinds client-go's `net.IsConnectionReset`,
/// `IsProbableEOF`, `IsHTTP2ConnectionLost` and `IsTimeout` recognise. TLS errors
/// and refused connections are [`ErrorKind::Other`].
pub(crate) fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    if find_tls_error(err).is_some() {
        return ErrorKind::Other;
    }
    let mut kind = ErrorKind::Other;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(he) = e.downcast_ref::<hyper::Error>() {
            if he.is_incomplete_message() || he.is_closed() || he.is_canceled() {
                kind = ErrorKind::Eof;
            } else if he.is_timeout() {
                kind = ErrorKind::Timeout;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            match io.kind() {
                Io::ConnectionReset => return ErrorKind::Reset,
                Io::UnexpectedEof | Io::BrokenPipe | Io::NotConnected => return ErrorKind::Eof,
                Io::TimedOut => return ErrorKind::Timeout,
                _ => {}
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("connection reset") {
            return ErrorKind::Reset;
        }
        if text.contains("goaway") || text.contains("use of closed network connection") {
            kind = ErrorKind::Eof;
        }
        cur = e.source();
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn check_wait_like_client_go() {
        assert_eq!(check_wait(429, &headers(Some("0"))), Some(0));
        assert_eq!(check_wait(503, &headers(Some("3"))), Some(3));
        assert_eq!(check_wait(500, &headers(Some("-1"))), Some(-1), "Atoi accepts a sign");
        assert_eq!(check_wait(429, &headers(None)), None, "429 alone is not retried");
        assert_eq!(check_wait(500, &headers(None)), None);
        assert_eq!(check_wait(429, &headers(Some("soon"))), None);
        assert_eq!(check_wait(429, &headers(Some("Fri, 31 Dec 1999 23:59:59 GMT"))), None, "no HTTP dates");
        assert_eq!(check_wait(404, &headers(Some("1"))), None);
        assert_eq!(check_wait(409, &headers(Some("1"))), None);
    }

    fn response(code: u16, h: &HeaderMap) -> Outcome<'_> {
        Outcome::Response { code, headers: h }
    }

    #[test]
    fn max_retries_counts_retries() {
        let h = headers(Some("0"));
        let mut r = WithRetry::new(10);
        let mut attempts = 1;
        while r.is_next_retry(&http::Method::GET, true, &response(429, &h), ErrorRetry::GetOnConnectionLoss) {
            attempts += 1;
        }
        assert_eq!(attempts, 11);
        let mut r = WithRetry::new(0);
        assert!(!r.is_next_retry(&http::Method::GET, true, &response(429, &h), ErrorRetry::GetOnConnectionLoss));
    }

    #[test]
    fn one_shot_bodies_are_not_retried() {
        let h = headers(Some("0"));
        let mut r = WithRetry::new(10);
        assert!(!r.is_next_retry(&http::Method::POST, false, &response(503, &h), ErrorRetry::GetOnConnectionLoss));
    }

    #[test]
    fn transport_errors_by_call_kind() {
        let eof = Outcome::Error { message: "EOF", kind: ErrorKind::Eof };
        let refused = Outcome::Error { message: "refused", kind: ErrorKind::Other };
        let timeout = Outcome::Error { message: "timeout", kind: ErrorKind::Timeout };
        let get = http::Method::GET;
        let post = http::Method::POST;
        let mut r = WithRetry::new(10);
        assert!(r.is_next_retry(&get, true, &eof, ErrorRetry::GetOnConnectionLoss));
        assert_eq!(r.retry_after().unwrap().wait, Duration::from_secs(1), "a fake Retry-After: 1");
        assert!(r.retry_after().unwrap().reason.contains("due to retryable error, error: EOF"));
        assert!(!WithRetry::new(10).is_next_retry(&post, true, &eof, ErrorRetry::GetOnConnectionLoss));
        assert!(!WithRetry::new(10).is_next_retry(&get, true, &refused, ErrorRetry::GetOnConnectionLoss));
        assert!(!WithRetry::new(10).is_next_retry(&get, true, &timeout, ErrorRetry::GetOnConnectionLoss));
        assert!(WithRetry::new(10).is_next_retry(&get, true, &timeout, ErrorRetry::EofOrTimeout));
        assert!(!WithRetry::new(10).is_next_retry(&get, true, &eof, ErrorRetry::Never));
    }

    #[test]
    fn previous_error_is_the_one_before_the_last() {
        let h = headers(Some("0"));
        let mut r = WithRetry::new(10);
        r.is_next_retry(
            &http::Method::GET,
            true,
            &Outcome::Error { message: "EOF", kind: ErrorKind::Eof },
            ErrorRetry::GetOnConnectionLoss,
        );
        r.is_next_retry(&http::Method::GET, true, &response(429, &h), ErrorRetry::GetOnConnectionLoss);
        r.is_next_retry(
            &http::Method::GET,
            true,
            &Outcome::Error { message: "connection reset", kind: ErrorKind::Reset },
            ErrorRetry::GetOnConnectionLoss,
        );
        assert_eq!(r.previous_error_for("connection reset").as_deref(), Some("EOF"));
        assert_eq!(r.previous_error_for("EOF"), None, "the same text is not repeated");
    }

    #[test]
    fn retry_reasons_name_the_cause() {
        let mut h = headers(Some("2"));
        h.insert("X-Kubernetes-PF-FlowSchema-UID", "abc".parse().unwrap());
        let mut r = WithRetry::new(10);
        assert!(r.is_next_retry(&http::Method::GET, true, &response(429, &h), ErrorRetry::GetOnConnectionLoss));
        assert_eq!(
            r.retry_after().unwrap().reason,
            r#"retries: 1, retry-after: 2s - retry-reason: due to server-side throttling, FlowSchema UID: "abc""#
        );
        assert!(r.is_next_retry(&http::Method::GET, true, &response(503, &h), ErrorRetry::GetOnConnectionLoss));
        assert_eq!(r.retry_after().unwrap().reason, "retries: 2, retry-after: 2s - retry-reason: 503");
    }

    #[test]
    fn io_errors_are_classified() {
        use std::io::{Error as IoError, ErrorKind as Io};
        let k = |kind: Io| classify(&IoError::new(kind, "x"));
        assert_eq!(k(Io::ConnectionReset), ErrorKind::Reset);
        assert_eq!(k(Io::UnexpectedEof), ErrorKind::Eof);
        assert_eq!(k(Io::TimedOut), ErrorKind::Timeout);
        assert_eq!(k(Io::ConnectionRefused), ErrorKind::Other);
        assert_eq!(classify(&IoError::other("read: connection reset by peer")), ErrorKind::Reset);
    }
}
