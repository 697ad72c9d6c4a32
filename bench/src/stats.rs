//! Percentiles over raw samples (sorted `Vec<u64>` of nanoseconds) and the
//! median of several rounds.

/// Latency percentiles of one run, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    /// Summarises `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|s| u128::from(*s)).sum();
        Percentiles {
            count: samples.len(),
            p50: quantile(samples, 0.50),
            p90: quantile(samples, 0.90),
            p99: quantile(samples, 0.99),
            max: samples[samples.len() - 1],
            mean: sum as f64 / samples.len() as f64,
        }
    }
}

/// Nearest-rank quantile of sorted samples.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of per-round values (the lower middle for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Median of a field across rounds.
pub fn median_of<T>(rounds: &[T], field: impl Fn(&T) -> f64) -> f64 {
    median(&rounds.iter().map(field).collect::<Vec<_>>())
}

/// Nanoseconds as microseconds.
pub fn us(ns: f64) -> f64 {
    ns / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
