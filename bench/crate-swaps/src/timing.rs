//! Alternating timing of two implementations of one job: in each round both run a
//! batch of the same size, in alternating order (A then B, then B then A, ...), so that
//! drift of the machine (other processes, frequency) hits both alike. The result is the
//! median time per call of each, and the median of the per-round ratios.

use std::hint::black_box;
use std::time::Instant;

/// Medians of one A/B comparison, nanoseconds per call.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// Median time per call of A (ours).
    pub a_ns: f64,
    /// Median time per call of B (the crate).
    pub b_ns: f64,
    /// Median over rounds of (A's time / B's time) in that round.
    pub ratio: f64,
}

/// Times `a` and `b`, `rounds` rounds of `iters` calls each, alternating their order.
pub fn compare<RA, RB>(
    rounds: usize,
    iters: usize,
    mut a: impl FnMut() -> RA,
    mut b: impl FnMut() -> RB,
) -> Comparison {
    // Warm-up: caches, allocator, branch predictors.
    for _ in 0..iters.max(1) {
        black_box(a());
        black_box(b());
    }
    let mut a_times = Vec::with_capacity(rounds);
    let mut b_times = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut run_a = || {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(a());
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        };
        let mut run_b = || {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(b());
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        };
        let (ta, tb) = if round % 2 == 0 {
            let ta = run_a();
            (ta, run_b())
        } else {
            let tb = run_b();
            (run_a(), tb)
        };
        a_times.push(ta);
        b_times.push(tb);
        ratios.push(ta / tb);
    }
    Comparison { a_ns: median(&mut a_times), b_ns: median(&mut b_times), ratio: median(&mut ratios) }
}

/// The median of `values` (sorted in place); NaN for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
