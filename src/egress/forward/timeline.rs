//! One viewer stream's RTP clock. Frames come from producers of other
//! pipelines (the publisher's, a ladder rung's), each with its own time base;
//! the viewer must see one continuous, monotonic clock across a switch from
//! one to the other. Within one feed the frames' own decode times are kept
//! (the spacing the encoder meant); on a switch, a jump or time running
//! backwards, the clock goes on from where it was by the wall-clock time that
//! passed. Pure: tested without media.

use std::time::{Duration, Instant};

/// Where a feed's time was pinned to the RTP clock.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    feed: usize,
    time: Duration,
    rtp: u64,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    rate: u64,
    start: u64,
    anchor: Option<Anchor>,
    /// The last RTP time given out, and when its frame arrived.
    last: Option<(u64, Instant)>,
}

/// A frame this far ahead of the wall clock's progress is a jump in the
/// feed's time base, not spacing.
const MAX_AHEAD: Duration = Duration::from_secs(1);

impl Timeline {
    /// `rate`: the RTP clock rate (90 kHz video, 48 kHz Opus); `start`: the
    /// first RTP time (random, as RFC 3550 asks).
    pub fn new(rate: u32, start: u32) -> Self {
        Timeline {
            rate: rate.into(),
            start: start.into(),
            anchor: None,
            last: None,
        }
    }

    fn ticks(&self, d: Duration) -> u64 {
        (d.as_nanos() * u128::from(self.rate) / 1_000_000_000) as u64
    }

    /// The RTP time (unwrapped: the sender truncates to 32 bits) of a frame
    /// of `feed` with decode time `time` that arrived at `arrival`.
    pub fn stamp(&mut self, feed: usize, time: Duration, arrival: Instant) -> u64 {
        let continued = self
            .anchor
            .filter(|a| a.feed == feed && time >= a.time)
            .map(|a| a.rtp + self.ticks(time - a.time));
        let rtp = match (continued, self.last) {
            (Some(rtp), Some((last, at))) => {
                let elapsed = arrival.saturating_duration_since(at);
                if rtp >= last && rtp - last <= self.ticks(elapsed + MAX_AHEAD) {
                    Some(rtp)
                } else {
                    None
                }
            }
            (Some(rtp), None) => Some(rtp),
            (None, _) => None,
        };
        let rtp = rtp.unwrap_or_else(|| {
            // Re-anchor: on from the last time by the wall clock (at least a
            // tick, so two frames never share a time across a switch).
            let rtp = match self.last {
                Some((last, at)) => last + self.ticks(arrival.saturating_duration_since(at)).max(1),
                None => self.start,
            };
            self.anchor = Some(Anchor { feed, time, rtp });
            rtp
        });
        self.last = Some((rtp, arrival));
        rtp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_feed_keeps_its_own_spacing() {
        let t0 = Instant::now();
        let mut t = Timeline::new(90_000, 1000);
        assert_eq!(t.stamp(1, 500 * MS, t0), 1000);
        // Arrival jitter does not show: the frames' times do.
        assert_eq!(t.stamp(1, 533 * MS, t0 + 20 * MS), 1000 + 2970);
        assert_eq!(t.stamp(1, 566 * MS, t0 + 70 * MS), 1000 + 5940);
    }

    #[test]
    fn a_switch_goes_on_by_the_wall_clock() {
        let t0 = Instant::now();
        let mut t = Timeline::new(90_000, 0);
        t.stamp(1, 10_000 * MS, t0);
        t.stamp(1, 10_033 * MS, t0 + 33 * MS);
        // Another feed, whose clock is far behind: 40 ms later by the wall.
        let after = t.stamp(2, 200 * MS, t0 + 73 * MS);
        assert_eq!(after, 2970 + 3600);
        assert_eq!(t.stamp(2, 233 * MS, t0 + 106 * MS), 2970 + 3600 + 2970);
    }

    #[test]
    fn time_never_runs_backwards_or_jumps_ahead() {
        let t0 = Instant::now();
        let mut t = Timeline::new(48_000, 0);
        t.stamp(1, 1000 * MS, t0);
        let back = t.stamp(1, 900 * MS, t0 + 20 * MS);
        assert_eq!(back, 960);
        // An hour ahead within a second of wall clock: re-anchored.
        let jump = t.stamp(1, 3_600_000 * MS, t0 + 40 * MS);
        assert_eq!(jump, 960 + 960);
        assert_eq!(t.stamp(1, 3_600_020 * MS, t0 + 60 * MS), 1920 + 960);
    }

    #[test]
    fn a_switch_in_the_same_instant_still_advances() {
        let t0 = Instant::now();
        let mut t = Timeline::new(90_000, 7);
        t.stamp(1, Duration::ZERO, t0);
        assert_eq!(t.stamp(2, Duration::ZERO, t0), 8);
    }
}
