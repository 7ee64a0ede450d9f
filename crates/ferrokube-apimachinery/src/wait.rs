//! Backoff and jitter arithmetic, the counterpart of client-go's `wait.Backoff` and
//! `wait.Jitter`: the one place the client (`ferrokube::util::wait` re-exports this
//! module) and the server compute a growing or jittered delay.
//!
//! A [`Backoff`] is a value describing the delays between attempts: it starts at
//! `duration`, is multiplied by `factor` after each step, gets up to `jitter` × itself
//! added at random, and is capped at `cap`. `steps` bounds the number of attempts.
//!
//! Who uses what (each a distinct mechanism in client-go too):
//! - [`Backoff::step`], client-go's `Backoff.Step` with its steps and cap rules:
//!   the client's `util::retry::on_error` (client-go `wait.ExponentialBackoff`).
//! - [`Backoff::base_delay`], the stateless "`duration × factor^n`, capped" formula:
//!   the client's `rest::backoff` (`URLBackoff` per host, client-go `flowcontrol.Backoff`; its
//!   `Backoff` that the reflector steps through) and the workqueue's
//!   `ItemExponentialFailureRateLimiter` (`base × 2^failures`), via
//!   [`Backoff::doubling`].
//! - [`jitter`], client-go's `wait.Jitter`: [`Backoff`]'s jitter, the leader elector's
//!   retry period, the event recorder's retry sleep.

use std::time::Duration;

/// Delays between attempts of a retried operation (client-go `wait.Backoff`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub duration: Duration,
    /// Multiplier applied to the delay after each step (1.0 = constant; 0.0 too, as in
    /// client-go).
    pub factor: f64,
    /// Up to `jitter * delay` is added to each delay at random (0.0 = none).
    pub jitter: f64,
    /// Most attempts (the operation runs at most this many times).
    pub steps: u32,
    /// Upper bound of a delay; `None` = unbounded. In [`step`](Self::step), reaching
    /// the cap also ends the steps, as client-go's.
    pub cap: Option<Duration>,
}

impl Backoff {
    /// `base`, doubling after each step, capped at `cap`, no jitter, no end: the
    /// schedule of client-go's `flowcontrol.Backoff` and workqueue's
    /// `ItemExponentialFailureRateLimiter`.
    pub const fn doubling(base: Duration, cap: Duration) -> Backoff {
        Backoff { duration: base, factor: 2.0, jitter: 0.0, steps: u32::MAX, cap: Some(cap) }
    }

    /// The delay to wait before attempt number `attempt + 1` (0-based `attempt` is the
    /// attempt that just failed), without jitter: `duration × factor^attempt`, capped.
    /// Computed in floating point over nanoseconds, as client-go, so no count
    /// overflows: anything past the cap (or past what a `Duration` holds) is the cap.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let nanos = self.duration.as_nanos() as f64 * self.growth().powi(exponent);
        match self.cap {
            Some(cap) if !nanos.is_finite() || nanos >= cap.as_nanos() as f64 => cap,
            _ => from_nanos_f64(nanos),
        }
    }

    /// [`base_delay`](Self::base_delay) with [`jitter`] applied when `jitter > 0`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        if self.jitter > 0.0 {
            jitter(base, self.jitter)
        } else {
            base
        }
    }

    /// The next delay, advancing the schedule (client-go `Backoff.Step`): returns the
    /// current `duration` (jittered), then multiplies it by `factor` for the next call
    /// and takes one step. When the next delay would pass `cap`, it is the cap and the
    /// steps end (`steps` becomes 0). With no steps left the delay no longer changes.
    pub fn step(&mut self) -> Duration {
        let current = self.duration;
        if self.steps > 0 {
            self.steps -= 1;
            let next = from_nanos_f64(self.duration.as_nanos() as f64 * self.growth());
            self.duration = match self.cap {
                Some(cap) if next > cap => {
                    self.steps = 0;
                    cap
                }
                _ => next,
            };
        }
        if self.jitter > 0.0 {
            jitter(current, self.jitter)
        } else {
            current
        }
    }

    /// The multiplier per step: `factor`, where 0 (unset in client-go) means no growth.
    fn growth(&self) -> f64 {
        if self.factor == 0.0 {
            1.0
        } else {
            self.factor.max(0.0)
        }
    }
}

/// `duration` plus a random part of up to `max_factor × duration` (client-go
/// `wait.Jitter`; a `max_factor` of 0 or less means 1).
pub fn jitter(duration: Duration, max_factor: f64) -> Duration {
    let factor = if max_factor <= 0.0 { 1.0 } else { max_factor };
    duration.saturating_add(duration.mul_f64(random_unit() * factor))
}

/// Nanoseconds (non-negative, possibly huge) as a `Duration`, saturating.
fn from_nanos_f64(nanos: f64) -> Duration {
    if nanos < u64::MAX as f64 {
        Duration::from_nanos(nanos.max(0.0) as u64)
    } else {
        Duration::try_from_secs_f64(nanos / 1e9).unwrap_or(Duration::MAX)
    }
}

/// A pseudo-random number in `[0, 1)`, good enough to spread retries apart (std's
/// randomly keyed hasher over a counter; no dependency).
pub fn random_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
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
        let spread: std::collections::HashSet<_> = (0..50).map(|_| jitter(Duration::from_secs(1), 0.0)).collect();
        assert!(spread.iter().all(|d| *d >= Duration::from_secs(1) && *d < Duration::from_secs(2)));
        assert!(spread.len() > 1, "jitter is random");
    }

    #[test]
    fn step_follows_client_go_steps_and_cap_rules() {
        let mut b = Backoff {
            duration: Duration::from_millis(10),
            factor: 5.0,
            jitter: 0.0,
            steps: 10,
            cap: Some(Duration::from_millis(600)),
        };
        let got: Vec<u64> = (0..3).map(|_| b.step().as_millis() as u64).collect();
        assert_eq!(got, [10, 50, 250]);
        // The next delay passed the cap: it is the cap, and the steps are over.
        assert_eq!((b.duration, b.steps), (Duration::from_millis(600), 0));
        assert_eq!(b.step(), Duration::from_millis(600));
        assert_eq!(b.step(), Duration::from_millis(600));

        let mut constant =
            Backoff { duration: Duration::from_millis(7), factor: 0.0, jitter: 0.0, steps: 3, cap: None };
        assert_eq!([constant.step(), constant.step()], [Duration::from_millis(7); 2], "factor 0 = no growth");
        assert_eq!(constant.steps, 1);
    }

    #[test]
    fn doubling_matches_the_rate_limiter_formula_without_overflow() {
        let b = Backoff::doubling(Duration::from_millis(5), Duration::from_secs(1000));
        assert_eq!(b.base_delay(0), Duration::from_millis(5));
        assert_eq!(b.base_delay(3), Duration::from_millis(40));
        assert_eq!(b.base_delay(40), Duration::from_secs(1000));
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(1000));
        let uncapped = Backoff { cap: None, ..b };
        assert_eq!(uncapped.base_delay(u32::MAX), Duration::MAX);
    }
}
