//! Client-side flow control (client-go `flowcontrol`): the token bucket that paces a
//! REST client's requests (`ferrokube::rest`'s QPS and burst) and a work queue's
//! overall rate limiter ([`BucketRateLimiter`](crate::workqueue::BucketRateLimiter)).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `qps` per second.
#[derive(Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// May go negative: each waiter reserves its token before sleeping.
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket allowing `qps` requests per second with bursts of `burst`.
    /// A non-positive or non-finite `qps` is treated as a very small rate rather than
    /// dividing by zero; `burst` below 1 is treated as 1.
    pub fn new(qps: f32, burst: u32) -> Self {
        let qps = if qps.is_finite() && qps > 0.0 { f64::from(qps) } else { 1e-9 };
        let burst = f64::from(burst.max(1));
        TokenBucket { qps, burst, state: Mutex::new(BucketState { tokens: burst, last: None }) }
    }

    /// Requests per second.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Largest burst.
    pub fn burst(&self) -> u32 {
        self.burst as u32
    }

    /// Reserves a token and returns how long the caller must wait before using it
    /// (`golang.org/x/time/rate`'s `Reserve().Delay()`; the workqueue's bucket rate
    /// limiter uses it).
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(last) = st.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            st.tokens = (st.tokens + elapsed * self.qps).min(self.burst);
        }
        st.last = Some(now);
        st.tokens -= 1.0;
        if st.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((-st.tokens / self.qps).min(1e9))
        }
    }

    /// Takes a token if one is available now, without waiting.
    pub fn try_accept(&self) -> bool {
        let now = Instant::now();
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(last) = st.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            st.tokens = (st.tokens + elapsed * self.qps).min(self.burst);
        }
        st.last = Some(now);
        if st.tokens >= 1.0 {
            st.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Waits until a token is available and takes it; returns how long it waited.
    pub async fn accept(&self) -> Duration {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_throttled() {
        let b = TokenBucket::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(b.accept().await, Duration::ZERO);
        }
        // Fourth must wait half a second at 2 qps.
        let start = Instant::now();
        let waited = b.accept().await;
        assert_eq!(waited, Duration::from_millis(500));
        assert!(Instant::now() - start >= Duration::from_millis(500));
        // The fifth waits another half second.
        assert_eq!(b.accept().await, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn refills_over_time_up_to_burst() {
        let b = TokenBucket::new(10.0, 2);
        assert!(b.try_accept());
        assert!(b.try_accept());
        assert!(!b.try_accept());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.try_accept());
        assert!(b.try_accept());
        assert!(!b.try_accept(), "refill is capped at burst");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_spaced() {
        let b = std::sync::Arc::new(TokenBucket::new(1.0, 1));
        assert_eq!(b.accept().await, Duration::ZERO);
        let mut waits = Vec::new();
        for _ in 0..3 {
            waits.push(b.reserve());
        }
        assert_eq!(waits, vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(3)]);
    }
}
