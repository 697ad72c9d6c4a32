//! Requests-per-minute and tokens-per-minute limits as token buckets: each
//! holds up to a minute's allowance and refills continuously, so a caller
//! may burst up to its limit and then goes at the limit's pace. The
//! `x-ratelimit-*` headers follow OpenAI's.

/// One bucket's level; created full.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    level: f64,
    updated_ms: i64,
}

const MINUTE_MS: f64 = 60_000.0;

impl Bucket {
    /// A full bucket of `capacity`.
    pub fn full(capacity: u64, now_ms: i64) -> Bucket {
        Bucket {
            level: capacity as f64,
            updated_ms: now_ms,
        }
    }

    /// A bucket at `level` (for reading a level kept elsewhere).
    pub fn at(level: f64) -> Bucket {
        Bucket {
            level,
            updated_ms: 0,
        }
    }

    /// The current level.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Refills for the time since the last look.
    pub fn refill(&mut self, capacity: u64, now_ms: i64) {
        let elapsed = (now_ms - self.updated_ms).max(0) as f64;
        self.level = (self.level + elapsed * capacity as f64 / MINUTE_MS).min(capacity as f64);
        self.updated_ms = now_ms.max(self.updated_ms);
    }

    /// Whether `need` fits now.
    pub fn fits(&self, need: u64) -> bool {
        need as f64 <= self.level + 1e-9
    }

    /// Takes `amount` (may go below zero when settling a call that used
    /// more than it reserved: later calls then wait for it).
    pub fn take(&mut self, amount: f64) {
        self.level -= amount;
    }

    /// Gives back what a call reserved and did not use.
    pub fn give_back(&mut self, amount: f64, capacity: u64) {
        self.level = (self.level + amount).min(capacity as f64);
    }

    /// Whole units left.
    pub fn remaining(&self) -> u64 {
        self.level.max(0.0).floor() as u64
    }

    /// Milliseconds until `need` fits (at the limit's pace).
    pub fn wait_ms(&self, need: u64, capacity: u64) -> i64 {
        let missing = need as f64 - self.level;
        if missing <= 0.0 || capacity == 0 {
            return 0;
        }
        (missing * MINUTE_MS / capacity as f64).ceil() as i64
    }

    /// Milliseconds until the bucket is full again.
    pub fn reset_ms(&self, capacity: u64) -> i64 {
        self.wait_ms(capacity, capacity)
    }
}

/// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1s`,
/// `6m0s`.
pub fn openai_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = (ms + 999) / 1000;
    match secs / 60 {
        0 => format!("{secs}s"),
        minutes => format!("{minutes}m{}s", secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_burst_to_the_limit_then_refill_at_its_pace() {
        let mut b = Bucket::full(60, 0);
        for _ in 0..60 {
            assert!(b.fits(1));
            b.take(1.0);
        }
        assert!(!b.fits(1));
        assert_eq!(b.wait_ms(1, 60), 1000);
        b.refill(60, 1000);
        assert!(b.fits(1));
        assert_eq!(b.remaining(), 1);
        b.refill(60, 1_000_000);
        assert_eq!(b.remaining(), 60, "never above capacity");
        assert_eq!(b.reset_ms(60), 0);
    }

    #[test]
    fn durations_read_like_openais() {
        assert_eq!(openai_duration(20), "20ms");
        assert_eq!(openai_duration(1000), "1s");
        assert_eq!(openai_duration(360_000), "6m0s");
        assert_eq!(openai_duration(61_500), "1m2s");
    }
}
