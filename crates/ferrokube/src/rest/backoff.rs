//! `rest::backoff`: how long a request waits before each attempt (client-go
//! `rest/urlbackoff.go` and `readExpBackoffConfig`).
//!
//! Before every attempt of a [`Request`](super::Request) — the first one included — the
//! send loop asks a [`BackoffManager`] how long to wait for the request's URL, and after
//! every attempt it tells the manager how the attempt went. Before a retry it waits the
//! longer of that delay and the server's `Retry-After` (see
//! [`with_retry`](super::with_retry) for when a retry happens at all).
//!
//! Two managers exist, as in client-go:
//! - [`NoBackoff`], the default: never adds a delay (a retry still waits `Retry-After`).
//! - [`URLBackoff`]: exponential per host. A 429 or any code above 499 moves the host's
//!   delay to its next step (`base`, then doubling up to `max`); any other answer, and an
//!   attempt that got no answer at all, resets it, as client-go's `UpdateBackoff` does.
//!   A host whose last failure is older than `2 × max` starts over from `base`.
//!
//! [`BackoffChoice`] on the [`Config`](super::Config) picks one. Its default,
//! [`BackoffChoice::FromEnv`], is client-go's `readExpBackoffConfig`: a [`URLBackoff`]
//! when both `KUBE_CLIENT_BACKOFF_BASE` and `KUBE_CLIENT_BACKOFF_DURATION` hold whole
//! seconds, [`NoBackoff`] otherwise. As in client-go, a manager made from the
//! environment (or from [`BackoffChoice::Exponential`]) is new for every request, so its
//! memory spans the attempts of one request; share one [`URLBackoff`] across requests
//! with [`BackoffChoice::Shared`]. Unlike client-go, the environment is read once, when
//! the client is built.
//!
//! The delay arithmetic itself lives in [`util::wait::Backoff`](crate::util::wait::Backoff)
//! (factor 2, capped); [`Backoff`] here is the stateful doubling schedule other
//! modules (the reflector) step through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::util::wait;

/// Environment variable with the first delay of the exponential backoff, in seconds.
pub const ENV_BACKOFF_BASE: &str = "KUBE_CLIENT_BACKOFF_BASE";
/// Environment variable with the longest delay of the exponential backoff, in seconds.
pub const ENV_BACKOFF_DURATION: &str = "KUBE_CLIENT_BACKOFF_DURATION";

/// Decides the wait before each attempt from how earlier attempts went (client-go
/// `BackoffManagerWithContext`). The send loop does the sleeping, bounded by the
/// request's timeout.
pub trait BackoffManager: Send + Sync {
    /// Records the outcome of an attempt to `url`: the HTTP status code, or `None` when
    /// no response arrived (client-go passes the error and code 0).
    fn update_backoff(&self, url: &url::Url, response_code: Option<u16>);
    /// The wait before the next attempt to `url`.
    fn calculate_backoff(&self, url: &url::Url) -> Duration;
}

/// Never waits (client-go `NoBackoff`, the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBackoff;

impl BackoffManager for NoBackoff {
    fn update_backoff(&self, _url: &url::Url, _response_code: Option<u16>) {}
    fn calculate_backoff(&self, _url: &url::Url) -> Duration {
        Duration::ZERO
    }
}

/// Exponential backoff per host (client-go `URLBackoff` over `flowcontrol.Backoff`).
#[derive(Debug)]
pub struct URLBackoff {
    base: Duration,
    max: Duration,
    hosts: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Steps taken since the host was last reset (0: the delay is `base`).
    step: u32,
    last_update: Instant,
}

impl URLBackoff {
    /// Starts at `base` after the first server failure and doubles up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        URLBackoff { base, max, hosts: Mutex::new(HashMap::new()) }
    }

    /// The first delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The key a URL's state is kept under: its host and port, as client-go's
    /// `baseUrlKey` (`url.Host`).
    fn key(url: &url::Url) -> String {
        url[url::Position::BeforeHost..url::Position::AfterPort].to_owned()
    }

    fn delay_at(&self, step: u32) -> Duration {
        if step == 0 {
            // flowcontrol starts an entry at its initial duration, not capped.
            return self.base;
        }
        wait::Backoff::doubling(self.base, self.max).base_delay(step)
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BackoffManager for URLBackoff {
    fn update_backoff(&self, url: &url::Url, response_code: Option<u16>) {
        let key = Self::key(url);
        let overloaded = response_code.is_some_and(|c| c > 499 || c == 429);
        let mut hosts = self.hosts();
        if !overloaded {
            if response_code.is_none_or(|c| c >= 300) {
                tracing::debug!(host = %key, code = ?response_code, "client is returning errors");
            }
            hosts.remove(&key);
            return;
        }
        let now = Instant::now();
        let expired = |e: &Entry| now.saturating_duration_since(e.last_update) > self.max.saturating_mul(2);
        let step = match hosts.get(&key) {
            Some(e) if !expired(e) => e.step.saturating_add(1),
            _ => 0,
        };
        hosts.insert(key, Entry { step, last_update: now });
    }

    fn calculate_backoff(&self, url: &url::Url) -> Duration {
        self.hosts().get(&Self::key(url)).map_or(Duration::ZERO, |e| self.delay_at(e.step))
    }
}

/// Which [`BackoffManager`] the requests of a client use.
#[derive(Clone, Default)]
pub enum BackoffChoice {
    /// client-go's `readExpBackoffConfig`: a [`URLBackoff`] from
    /// `KUBE_CLIENT_BACKOFF_BASE` / `KUBE_CLIENT_BACKOFF_DURATION` when both are set to
    /// whole seconds, [`NoBackoff`] otherwise; new for every request.
    #[default]
    FromEnv,
    /// [`NoBackoff`], whatever the environment says.
    Disabled,
    /// A [`URLBackoff`] with these delays, new for every request.
    Exponential {
        /// First delay.
        base: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// This manager, shared by every request of the client (and of any other client
    /// given the same `Arc`).
    Shared(Arc<dyn BackoffManager>),
}

impl std::fmt::Debug for BackoffChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackoffChoice::FromEnv => f.write_str("FromEnv"),
            BackoffChoice::Disabled => f.write_str("Disabled"),
            BackoffChoice::Exponential { base, max } => {
                f.debug_struct("Exponential").field("base", base).field("max", max).finish()
            }
            BackoffChoice::Shared(_) => f.write_str("Shared(..)"),
        }
    }
}

/// Parses the two environment values as client-go does (`strconv.ParseInt`, seconds):
/// both must be integers, or there is no exponential backoff. Negative values count as 0.
pub fn exp_backoff_from_env_values(base: Option<&str>, duration: Option<&str>) -> Option<(Duration, Duration)> {
    let secs = |v: Option<&str>| v?.parse::<i64>().ok().map(|s| Duration::from_secs(s.max(0).unsigned_abs()));
    Some((secs(base)?, secs(duration)?))
}

/// How a client makes the manager of each request; resolved once from a
/// [`BackoffChoice`] when the client is built.
#[derive(Clone)]
pub(crate) enum BackoffFactory {
    None,
    PerRequest { base: Duration, max: Duration },
    Shared(Arc<dyn BackoffManager>),
}

impl BackoffFactory {
    /// Resolves `choice`, reading the environment for [`BackoffChoice::FromEnv`].
    pub(crate) fn new(choice: &BackoffChoice) -> Self {
        match choice {
            BackoffChoice::FromEnv => {
                let base = std::env::var(ENV_BACKOFF_BASE).ok();
                let duration = std::env::var(ENV_BACKOFF_DURATION).ok();
                match exp_backoff_from_env_values(base.as_deref(), duration.as_deref()) {
                    Some((base, max)) => BackoffFactory::PerRequest { base, max },
                    None => BackoffFactory::None,
                }
            }
            BackoffChoice::Disabled => BackoffFactory::None,
            BackoffChoice::Exponential { base, max } => BackoffFactory::PerRequest { base: *base, max: *max },
            BackoffChoice::Shared(m) => BackoffFactory::Shared(m.clone()),
        }
    }

    /// The manager for one request; `None` for [`NoBackoff`], which the send loop then
    /// skips (no allocation, no URL parse on the default path).
    pub(crate) fn manager(&self) -> Option<Arc<dyn BackoffManager>> {
        match self {
            BackoffFactory::None => None,
            BackoffFactory::PerRequest { base, max } => Some(Arc::new(URLBackoff::new(*base, *max))),
            BackoffFactory::Shared(m) => Some(m.clone()),
        }
    }
}

impl std::fmt::Debug for BackoffFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackoffFactory::None => f.write_str("NoBackoff"),
            BackoffFactory::PerRequest { base, max } => {
                f.debug_struct("URLBackoff").field("base", base).field("max", max).finish()
            }
            BackoffFactory::Shared(_) => f.write_str("Shared"),
        }
    }
}

/// A stateful exponential schedule: `base`, `2*base`, `4*base`, ... never more than
/// `max`, optionally jittered; [`reset`](Self::reset) starts over. Used where a loop backs
/// off between its own attempts (the reflector); the arithmetic is
/// [`util::wait`](crate::util::wait)'s.
#[derive(Clone, Debug)]
pub struct Backoff {
    schedule: wait::Backoff,
    attempt: u32,
}

impl Default for Backoff {
    /// 250 ms doubling up to 8 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(8))
    }
}

impl Backoff {
    /// A backoff starting at `base` and capped at `max`, without jitter.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { schedule: wait::Backoff::doubling(base, max), attempt: 0 }
    }

    /// The same schedule with up to `factor ×` each delay added at random
    /// ([`wait::jitter`]; client-go's reflector uses 1.0: each delay lies in `[d, 2d)`).
    pub fn with_jitter(mut self, factor: f64) -> Self {
        self.schedule.jitter = factor;
        self
    }

    /// The next delay; each call doubles the previous one up to the cap (jitter added
    /// on top).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.schedule.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Starts over from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let got: Vec<_> = (0..7).map(|_| b.next_delay()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000, 1000].map(Duration::from_millis).to_vec());
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
        // Jittered as client-go's reflector: each delay in [d, 2d), the cap before jitter.
        let mut j = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_jitter(1.0);
        for base in [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis) {
            let d = j.next_delay();
            assert!(d >= base && d < base * 2, "{d:?} for {base:?}");
        }
    }

    #[test]
    fn backoff_never_overflows() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }

    #[test]
    fn env_values_as_read_exp_backoff_config() {
        let s = Duration::from_secs;
        assert_eq!(exp_backoff_from_env_values(Some("2"), Some("30")), Some((s(2), s(30))));
        assert_eq!(exp_backoff_from_env_values(Some("+1"), Some("-4")), Some((s(1), s(0))));
        assert_eq!(exp_backoff_from_env_values(Some("2"), None), None);
        assert_eq!(exp_backoff_from_env_values(None, Some("2")), None);
        assert_eq!(exp_backoff_from_env_values(Some("1.5"), Some("2")), None);
        assert_eq!(exp_backoff_from_env_values(Some(""), Some("2")), None);
        assert!(matches!(BackoffFactory::new(&BackoffChoice::Disabled), BackoffFactory::None));
    }

    #[tokio::test(start_paused = true)]
    async fn url_backoff_steps_per_host_and_resets_on_success() {
        let b = URLBackoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let a = url("https://a.example:6443/api/v1/pods");
        let a_other_path = url("https://a.example:6443/apis/apps/v1");
        let other = url("https://b.example/api");
        assert_eq!(b.calculate_backoff(&a), Duration::ZERO, "nothing failed yet");
        let mut seen = Vec::new();
        for _ in 0..6 {
            b.update_backoff(&a, Some(503));
            seen.push(b.calculate_backoff(&a_other_path).as_secs());
        }
        assert_eq!(seen, [1, 2, 4, 8, 8, 8], "base, doubling, capped; keyed by host and port");
        assert_eq!(b.calculate_backoff(&other), Duration::ZERO, "other hosts are not affected");
        b.update_backoff(&a, Some(429));
        assert_eq!(b.calculate_backoff(&a), Duration::from_secs(8));
        b.update_backoff(&a, Some(404));
        assert_eq!(b.calculate_backoff(&a), Duration::ZERO, "a non-overload answer resets");
        b.update_backoff(&a, Some(500));
        b.update_backoff(&a, Some(500));
        assert_eq!(b.calculate_backoff(&a), Duration::from_secs(2));
        b.update_backoff(&a, None);
        assert_eq!(b.calculate_backoff(&a), Duration::ZERO, "no answer resets too, as in client-go");
    }

    #[tokio::test(start_paused = true)]
    async fn url_backoff_forgets_after_twice_the_max() {
        let b = URLBackoff::new(Duration::from_secs(1), Duration::from_secs(4));
        let a = url("https://a.example/");
        b.update_backoff(&a, Some(500));
        b.update_backoff(&a, Some(500));
        assert_eq!(b.calculate_backoff(&a), Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(8)).await;
        b.update_backoff(&a, Some(500));
        assert_eq!(b.calculate_backoff(&a), Duration::from_secs(4), "8 s is not more than 2 x max");
        tokio::time::advance(Duration::from_secs(9)).await;
        b.update_backoff(&a, Some(500));
        assert_eq!(b.calculate_backoff(&a), Duration::from_secs(1), "older than 2 x max: starts over");
    }

    #[test]
    fn no_backoff_never_waits() {
        let n = NoBackoff;
        n.update_backoff(&url("https://a/"), Some(500));
        assert_eq!(n.calculate_backoff(&url("https://a/")), Duration::ZERO);
    }
}
