//! A backoff schedule, the counterpart of client-go's `wait.Backoff`.
//!
//! A [`Backoff`] is a value describing the delays between attempts: it starts at
//! `duration`, is multiplied by `factor` after each step, gets up to `jitter` × itself
//! added at random, and is capped at `cap`. `steps` bounds the number of attempts.

use std::time::Duration;

/// Delays between attempts of a retried operation (client-go `wait.Backoff`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub duration: Duration,
    /// Multiplier applied to the delay after each step (1.0 = constant).
    pub factor: f64,
    /// Up to `jitter * delay` is added to each delay at random (0.0 = none).
    pub jitter: f64,
    /// Most attempts (the operation runs at most this many times).
    pub steps: u32,
    /// Upper bound of a delay; `None` = unbounded.
    pub cap: Option<Duration>,
}

impl Backoff {
    /// The delay to wait before attempt number `attempt + 1` (0-based `attempt` is the
    /// attempt that just failed), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let secs = self.duration.as_secs_f64() * self.factor.max(0.0).powi(exponent);
        let delay = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        match self.cap {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }

    /// [`base_delay`](Self::base_delay) plus random jitter in `[0, jitter × delay)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        if self.jitter <= 0.0 {
            return base;
        }
        base.mul_f64(1.0 + self.jitter * random_unit())
    }
}

/// A pseudo-random number in `[0, 1)`, good enough to spread retries apart.
fn random_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_factor_and_stop_at_the_cap() {
        let backoff = Backoff {
            duration: Duration::from_millis(10),
            factor: 5.0,
            jitter: 0.0,
            steps: 4,
            cap: Some(Duration::from_millis(600)),
        };
        let delays: Vec<_> = (0..4).map(|n| backoff.delay(n)).collect();
        assert_eq!(delays, [10, 50, 250, 600].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let backoff = Backoff { duration: Duration::from_millis(100), factor: 1.0, jitter: 0.5, steps: 3, cap: None };
        for attempt in 0..50 {
            let d = backoff.delay(attempt);
            assert!(d >= Duration::from_millis(100) && d < Duration::from_millis(150), "{d:?}");
        }
    }
}
