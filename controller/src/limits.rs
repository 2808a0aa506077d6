//! Limits against abuse by one client: how fast it may deploy and submit
//! tasks, and how many of its tasks may wait or run at once. A client past
//! a limit gets an error naming the limit and the flag that sets it; what
//! it sent before and what other clients send are not touched.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits a controller enforces (0 turns one off).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deploys a minute from one client address.
    pub deploys_per_minute: u32,
    /// Task submissions a second on one owner session.
    pub submits_per_second: u32,
    /// Tasks one owner session may have queued, waiting or running.
    pub queued_per_owner: usize,
}

/// Defaults far above what a working program does (the task benchmarks
/// submit about 10,000 tasks a second from one client here), so that only
/// runaways meet them.
pub const DEFAULT_LIMITS: Limits = Limits {
    deploys_per_minute: 120,
    submits_per_second: 200_000,
    queued_per_owner: 1_000_000,
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

/// Token buckets, one per key: each holds up to `burst` tokens and gains
/// `per_second` a second.
#[derive(Debug)]
pub struct Buckets<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

/// Keys idle this long are forgotten (their buckets are full again anyway).
const FORGET_AFTER: Duration = Duration::from_secs(600);

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Buckets that refill at `per_second`, holding up to `burst`; a rate of
    /// 0 admits everything.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Buckets {
            per_second,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes up to `n` tokens from `key`'s bucket; returns how many it got
    /// (all `n` when the rate is 0).
    pub fn take(&self, key: &K, n: usize) -> usize {
        if self.per_second <= 0.0 {
            return n;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        let got = (tokens.floor() as usize).min(n);
        *tokens -= got as f64;
        got
    }

    /// How long until `key` has one token again.
    pub fn retry_after(&self, key: &K) -> Duration {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = buckets.get(key).map_or(self.burst, |(t, _)| *t);
        Duration::from_secs_f64(
            ((1.0 - tokens).max(0.0) / self.per_second.max(f64::EPSILON)).min(3600.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let buckets = Buckets::new(1000.0, 5.0);
        assert_eq!(buckets.take(&"a", 3), 3);
        assert_eq!(buckets.take(&"a", 3), 2);
        assert_eq!(buckets.take(&"a", 3), 0);
        // Another key has its own bucket.
        assert_eq!(buckets.take(&"b", 5), 5);
        assert!(buckets.retry_after(&"a") <= Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(3));
        assert!(buckets.take(&"a", 1) == 1);
        // Rate 0: no limit.
        assert_eq!(Buckets::new(0.0, 0.0).take(&"a", 1 << 30), 1 << 30);
    }
}
