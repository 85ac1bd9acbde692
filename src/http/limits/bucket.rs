//! Token buckets by key (client IP, user id), with time as an input.

use std::collections::HashMap;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many keys, buckets that have refilled are forgotten (a full
/// bucket is the same as no bucket).
const SWEEP_AT: usize = 10_000;
/// Hard bound on remembered keys: a key past it is let through untracked
/// rather than letting a flood of addresses grow memory.
const MAX_KEYS: usize = 100_000;

/// `BURST/PERIOD`: up to BURST at once, refilled at BURST per PERIOD
/// (e.g. `30/1m`). `off` (or `0`) disables the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSpec(pub Option<Rate>);

impl FromStr for RateSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s == "0" {
            return Ok(RateSpec(None));
        }
        let (burst, period) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected BURST/PERIOD, e.g. 30/1m, or off"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .map_err(|e| format!("`{burst}`: {e}"))?;
        let period =
            humantime::parse_duration(period.trim()).map_err(|e| format!("`{period}`: {e}"))?;
        if burst == 0 || period.is_zero() {
            return Ok(RateSpec(None));
        }
        Ok(RateSpec(Some(Rate { burst, period })))
    }
}

impl std::fmt::Display for RateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(r) => write!(f, "{}/{}", r.burst, humantime::format_duration(r.period)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One bucket per key, all with the same rate.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(rate: Rate) -> Self {
        Buckets {
            rate,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.rate.burst) / self.rate.period.as_secs_f64()
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.per_second()).min(f64::from(self.rate.burst))
    }

    /// How long until one token is there, given `tokens` now.
    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.per_second()).max(0.0))
    }

    /// Takes a token for `key`, or says how long until one is there.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = match map.get(key) {
            Some(b) => self.refilled(*b, now),
            None => {
                if map.len() >= SWEEP_AT {
                    self.sweep(&mut map, now);
                }
                if map.len() >= MAX_KEYS {
                    return Ok(());
                }
                f64::from(self.rate.burst)
            }
        };
        if tokens < 1.0 {
            return Err(self.wait(tokens));
        }
        map.insert(
            key.clone(),
            Bucket {
                tokens: tokens - 1.0,
                at: now,
            },
        );
        Ok(())
    }

    /// Whether `key` has no token left (how long until it has), without taking one.
    pub fn empty(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = self.refilled(*map.get(key)?, now);
        (tokens < 1.0).then(|| self.wait(tokens))
    }

    fn sweep(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        let full = f64::from(self.rate.burst);
        map.retain(|_, b| self.refilled(*b, now) < full);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse::<RateSpec>().expect("rate").0.expect("on")
    }

    #[test]
    fn parses_burst_and_period_or_off() {
        assert_eq!(
            rate("30/1m"),
            Rate {
                burst: 30,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!("off".parse::<RateSpec>(), Ok(RateSpec(None)));
        assert_eq!("0".parse::<RateSpec>(), Ok(RateSpec(None)));
        assert!("30".parse::<RateSpec>().is_err());
        assert!("x/1m".parse::<RateSpec>().is_err());
        assert_eq!(RateSpec(Some(rate("5/10s"))).to_string(), "5/10s");
    }

    #[test]
    fn a_burst_then_refusal_with_the_wait_then_refill() {
        let b = Buckets::new(rate("3/3s"));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take(&"a", t0), Ok(()));
        }
        let wait = b.take(&"a", t0).expect_err("fourth refused");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // Another key has its own bucket.
        assert_eq!(b.take(&"b", t0), Ok(()));
        assert_eq!(b.take(&"a", t0 + Duration::from_secs(1)), Ok(()));
        assert!(b.take(&"a", t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn empty_peeks_without_taking() {
        let b = Buckets::new(rate("2/2s"));
        let t0 = Instant::now();
        assert_eq!(b.empty(&1, t0), None);
        b.take(&1, t0).expect("one");
        assert_eq!(b.empty(&1, t0), None);
        b.take(&1, t0).expect("two");
        assert!(b.empty(&1, t0).is_some());
        assert_eq!(b.empty(&1, t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn refilled_buckets_are_forgotten_so_memory_stays_bounded() {
        let b = Buckets::new(rate("1/1s"));
        let t0 = Instant::now();
        for k in 0..SWEEP_AT {
            b.take(&k, t0).expect("first");
        }
        assert_eq!(b.len(), SWEEP_AT);
        b.take(&usize::MAX, t0 + Duration::from_secs(2))
            .expect("new key");
        assert_eq!(b.len(), 1);
    }
}
