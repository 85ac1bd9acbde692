//! Per-viewer quality choice. The viewer's RTCP feedback (loss from receiver
//! reports, REMB where the browser sends it) drives a bandwidth estimate in
//! the manner of GCC's loss-based controller; the estimate picks the source
//! or a ladder rung. Pure: time comes in as milliseconds, so it is tested
//! without media.

use serde::Serialize;

/// One choice a viewer can be given, best first in `Adapter::levels`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub name: String,
    /// Its video bitrate (measured for the source, configured for rungs).
    pub bitrate_bps: u64,
}

/// What one RTCP interval told us about a viewer's link.
#[derive(Debug, Clone, Copy, Default)]
pub struct Feedback {
    pub now_ms: u64,
    /// What we sent to the viewer over the interval, all streams.
    pub sent_bps: u64,
    /// Fraction lost in the viewer's latest receiver report (0..=1).
    pub loss: Option<f64>,
    /// The viewer's receive-side estimate (REMB), when it sends one.
    pub remb_bps: Option<u64>,
}

/// Above this loss the link is overused: the estimate drops.
const LOSS_HIGH: f64 = 0.10;
/// Below this loss the link has room: the estimate grows.
const LOSS_LOW: f64 = 0.02;
/// Growth per feedback interval (about a second) while loss is low.
const GROWTH: f64 = 1.08;
/// A level is chosen when the estimate exceeds its bitrate by this much
/// (audio, RTP/SRTP overhead, retransmissions).
const HEADROOM: f64 = 1.15;
/// How long the estimate must allow a better level before it is tried.
const UPGRADE_HOLD_MS: u64 = 3_000;
/// After a level failed (loss forced a step down), it is not tried again for
/// this long; doubled on each failure in a row, up to `BACKOFF_MAX_MS`.
const BACKOFF_MIN_MS: u64 = 5_000;
const BACKOFF_MAX_MS: u64 = 15_000;
/// A level held this long without loss clears the failure history.
const STABLE_MS: u64 = 20_000;

#[derive(Debug, Clone)]
pub struct Adapter {
    levels: Vec<Level>,
    current: usize,
    estimate_bps: u64,
    /// Since when the estimate has allowed a better level than the current one.
    better_since: Option<u64>,
    /// A failed level may be retried from this time on.
    retry_at: Vec<u64>,
    backoff_ms: u64,
    entered_at: u64,
}

impl Adapter {
    /// Starts at the best level with an estimate that just allows it: a new
    /// viewer sees the source at once, and loss brings it down if needed.
    pub fn new(levels: Vec<Level>, now_ms: u64) -> Self {
        let estimate = levels
            .first()
            .map(|l| (l.bitrate_bps as f64 * HEADROOM) as u64)
            .unwrap_or(0);
        Adapter {
            retry_at: vec![0; levels.len()],
            levels,
            current: 0,
            estimate_bps: estimate,
            better_since: None,
            backoff_ms: BACKOFF_MIN_MS,
            entered_at: now_ms,
        }
    }

    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn current(&self) -> usize {
        self.current
    }

    pub fn estimate_bps(&self) -> u64 {
        self.estimate_bps
    }

    /// The source's bitrate changes as the publisher ramps up.
    pub fn set_bitrate(&mut self, level: usize, bitrate_bps: u64) {
        if let Some(l) = self.levels.get_mut(level) {
            l.bitrate_bps = bitrate_bps;
        }
        // The level being served grows (a publisher ramping up): nothing
        // says the link cannot carry it; only loss or REMB lower the estimate.
        if level == self.current {
            self.estimate_bps = self
                .estimate_bps
                .max((bitrate_bps as f64 * HEADROOM) as u64);
        }
    }

    /// Takes one interval's feedback; returns the new level when it changes.
    pub fn on_feedback(&mut self, fb: Feedback) -> Option<usize> {
        let top = self.levels.iter().map(|l| l.bitrate_bps).max().unwrap_or(0);
        // The ceiling keeps the estimate near what the best level needs, so
        // a later drop in bandwidth is detected from a sensible start.
        let ceiling = (top as f64 * HEADROOM * 1.5) as u64;
        match fb.loss {
            Some(loss) if loss > LOSS_HIGH => {
                let basis = self.estimate_bps.min(fb.sent_bps.max(1));
                self.estimate_bps = (basis as f64 * (1.0 - 0.5 * loss.min(1.0))) as u64;
            }
            Some(loss) if loss < LOSS_LOW => {
                self.estimate_bps = ((self.estimate_bps as f64 * GROWTH) as u64).min(ceiling);
            }
            Some(_) => {}
            // No report yet: nothing is known; keep the estimate.
            None => {}
        }
        if let Some(remb) = fb.remb_bps {
            self.estimate_bps = self.estimate_bps.min(remb);
        }
        // Never below what the lowest level needs: the viewer gets that one
        // anyway, and growth starts from there once the link frees up.
        let floor = self
            .levels
            .iter()
            .map(|l| (l.bitrate_bps as f64 * HEADROOM) as u64)
            .min()
            .unwrap_or(0);
        self.estimate_bps = self.estimate_bps.max(floor);
        let fits = self.best_fitting();
        let now = fb.now_ms;
        if fits > self.current {
            // Worse level: step down at once; the level left failed.
            let failed = self.current;
            if now.saturating_sub(self.entered_at) >= STABLE_MS {
                self.backoff_ms = BACKOFF_MIN_MS;
            }
            self.retry_at[failed] = now + self.backoff_ms;
            self.backoff_ms = (self.backoff_ms * 2).min(BACKOFF_MAX_MS);
            return self.switch_to(fits, now);
        }
        if fits < self.current {
            let since = *self.better_since.get_or_insert(now);
            let next = self.current - 1;
            if now.saturating_sub(since) >= UPGRADE_HOLD_MS && now >= self.retry_at[next] {
                // One level at a time: each step is checked by the next reports.
                return self.switch_to(next, now);
            }
        } else {
            self.better_since = None;
        }
        if now.saturating_sub(self.entered_at) >= STABLE_MS {
            self.backoff_ms = BACKOFF_MIN_MS;
        }
        None
    }

    fn switch_to(&mut self, level: usize, now: u64) -> Option<usize> {
        self.current = level;
        self.better_since = None;
        self.entered_at = now;
        Some(level)
    }

    /// The best level the estimate carries (the worst one if none fits).
    fn best_fitting(&self) -> usize {
        self.levels
            .iter()
            .position(|l| (l.bitrate_bps as f64 * HEADROOM) as u64 <= self.estimate_bps)
            .unwrap_or(self.levels.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Vec<Level> {
        [
            ("source", 2_000_000),
            ("480p", 1_200_000),
            ("360p", 730_000),
        ]
        .iter()
        .map(|(n, b)| Level {
            name: (*n).into(),
            bitrate_bps: *b,
        })
        .collect()
    }

    /// Simulates a link of `capacity` b/s: what is sent above it is lost.
    fn run(a: &mut Adapter, from_s: u64, to_s: u64, capacity: u64) -> Vec<(u64, usize)> {
        let mut switches = Vec::new();
        for t in from_s..to_s {
            let sent = a.levels()[a.current()].bitrate_bps + 64_000;
            let loss = if sent > capacity {
                (sent - capacity) as f64 / sent as f64
            } else {
                0.0
            };
            let fb = Feedback {
                now_ms: t * 1000,
                sent_bps: sent,
                loss: Some(loss),
                remb_bps: None,
            };
            if let Some(level) = a.on_feedback(fb) {
                switches.push((t, level));
            }
        }
        switches
    }

    #[test]
    fn a_good_link_stays_on_the_source() {
        let mut a = Adapter::new(ladder(), 0);
        assert!(run(&mut a, 1, 60, 10_000_000).is_empty());
        assert_eq!(a.current(), 0);
    }

    #[test]
    fn a_constrained_link_steps_down_then_back_up_within_30_s() {
        let mut a = Adapter::new(ladder(), 0);
        let down = run(&mut a, 1, 30, 900_000);
        assert_eq!(
            down.first().map(|s| s.0),
            Some(1),
            "down at the first report"
        );
        assert_eq!(a.current(), 2, "360p fits 900 kb/s: {down:?}");
        // Probing a better level may fail now and then, but it settles low.
        let probes = down.iter().filter(|(_, l)| *l < 2).count();
        assert!(probes <= 3, "{down:?}");
        let up = run(&mut a, 30, 60, 10_000_000);
        let back = up.iter().find(|(_, l)| *l == 0).map(|(t, _)| t - 30);
        assert!(back.is_some_and(|s| s <= 30), "back on the source: {up:?}");
    }

    #[test]
    fn remb_caps_the_estimate() {
        let mut a = Adapter::new(ladder(), 0);
        let fb = Feedback {
            now_ms: 1000,
            sent_bps: 2_000_000,
            loss: Some(0.0),
            remb_bps: Some(1_000_000),
        };
        assert_eq!(a.on_feedback(fb), Some(2));
        assert_eq!(a.estimate_bps(), 1_000_000);
    }

    #[test]
    fn no_reports_no_change_and_one_level_is_stable() {
        let mut a = Adapter::new(ladder(), 0);
        let fb = Feedback {
            now_ms: 1000,
            ..Feedback::default()
        };
        assert_eq!(a.on_feedback(fb), None);
        let mut single = Adapter::new(ladder()[..1].to_vec(), 0);
        assert!(run(&mut single, 1, 20, 100_000).is_empty());
        let mut empty = Adapter::new(Vec::new(), 0);
        assert_eq!(empty.on_feedback(fb), None);
    }
}
