//! When a passed-through top rung cuts its segments: the publisher's own
//! keyframes decide, so the ladder asks for one shortly before each segment
//! boundary and every other rung forces its IDR on the frame that keyframe
//! became. A pure machine (running times in, decisions out), driven by the
//! source probe in `probes.rs`.

/// The shortest segment a publisher's keyframe may close: an unrequested
/// keyframe (a viewer's PLI) earlier than this does not cut.
const MIN_SEGMENT_FRACTION: f64 = 0.75;
/// A keyframe request the publisher has not answered in this long is sent
/// again (PLIs get lost; the ingest lets one through per 500 ms).
const REQUEST_RETRY_NS: u64 = 600_000_000;
/// The publisher's response time (request to keyframe) assumed before one is measured.
const INITIAL_LEAD_NS: u64 = 200_000_000;

/// What to do with one source frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Ask the publisher for a keyframe now.
    pub request_keyframe: bool,
    /// This keyframe starts a new segment in every rung.
    pub cut: bool,
    /// The publisher does not keep the cadence: the ladder must re-encode the top rung.
    pub lost: bool,
}

#[derive(Debug)]
pub struct Cadence {
    segment_ns: u64,
    /// How long before a boundary to ask: the publisher's measured response time.
    lead_ns: u64,
    last_cut: Option<u64>,
    /// When the keyframe for the coming boundary was (last) asked for.
    requested_at: Option<u64>,
    /// When the first request for the coming boundary went out.
    first_request: Option<u64>,
    lost: bool,
}

impl Cadence {
    pub fn new(segment_ns: u64) -> Self {
        Cadence {
            segment_ns,
            lead_ns: INITIAL_LEAD_NS,
            last_cut: None,
            requested_at: None,
            first_request: None,
            lost: false,
        }
    }

    /// A source frame at running time `rt`.
    pub fn on_frame(&mut self, rt: u64, keyframe: bool) -> Step {
        let mut step = Step::default();
        if self.lost {
            return step;
        }
        let Some(last_cut) = self.last_cut else {
            // The first segment opens on the first keyframe.
            if keyframe {
                self.last_cut = Some(rt);
            }
            return step;
        };
        let since = rt.saturating_sub(last_cut);
        let min_segment = (self.segment_ns as f64 * MIN_SEGMENT_FRACTION) as u64;
        if keyframe && since >= min_segment {
            if let Some(asked) = self.first_request {
                // Smoothed, and never more than half a segment ahead.
                let took = rt.saturating_sub(asked).min(self.segment_ns / 2);
                self.lead_ns = (self.lead_ns * 3 + took) / 4;
            }
            self.last_cut = Some(rt);
            self.requested_at = None;
            self.first_request = None;
            step.cut = true;
            return step;
        }
        if since >= 2 * self.segment_ns {
            self.lost = true;
            step.lost = true;
            return step;
        }
        let ask_from = self.segment_ns.saturating_sub(self.lead_ns);
        let due = match self.requested_at {
            None => since >= ask_from,
            Some(at) => rt.saturating_sub(at) >= REQUEST_RETRY_NS,
        };
        if due {
            self.requested_at = Some(rt);
            self.first_request.get_or_insert(rt);
            step.request_keyframe = true;
        }
        step
    }

    /// The source changed its picture size: it no longer fits the rung.
    pub fn lose(&mut self) -> Step {
        let first = !self.lost;
        self.lost = true;
        Step {
            lost: first,
            ..Step::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = 2_000_000_000;
    const FRAME: u64 = 33_333_333;

    /// Runs `frames` source frames at 30 fps; `keyframe_after(n)` says whether
    /// frame n is a keyframe given when the last request went out.
    fn run(frames: u64, responds_in: Option<u64>) -> (Vec<u64>, Vec<u64>, bool) {
        let mut c = Cadence::new(SEG);
        let (mut cuts, mut requests, mut lost) = (vec![], vec![], false);
        let mut pending: Option<u64> = None;
        for n in 0..frames {
            let rt = n * FRAME;
            let keyframe = n == 0 || pending.is_some_and(|due| rt >= due);
            if keyframe {
                pending = None;
            }
            let step = c.on_frame(rt, keyframe);
            if step.request_keyframe {
                requests.push(rt);
                if let Some(delay) = responds_in {
                    pending.get_or_insert(rt + delay);
                }
            }
            if step.cut {
                cuts.push(rt);
            }
            lost |= step.lost;
        }
        (cuts, requests, lost)
    }

    #[test]
    fn a_responsive_publisher_cuts_close_to_every_boundary() {
        let (cuts, requests, lost) = run(30 * 20, Some(150_000_000));
        assert!(!lost);
        assert!(cuts.len() >= 9, "{cuts:?}");
        let mut previous = 0;
        for &cut in &cuts {
            let length = cut - previous;
            assert!(
                (SEG - 200_000_000..=SEG + 200_000_000).contains(&length),
                "segment of {length} ns"
            );
            previous = cut;
        }
        assert!(
            (cuts.len()..=cuts.len() + 1).contains(&requests.len()),
            "one request per boundary: {requests:?}"
        );
    }

    #[test]
    fn a_publisher_that_ignores_requests_is_given_up_after_two_segments() {
        let (cuts, requests, lost) = run(30 * 10, None);
        assert!(cuts.is_empty());
        assert!(lost);
        assert!(requests.len() > 1, "the request is retried");
    }

    #[test]
    fn an_early_unrequested_keyframe_does_not_cut() {
        let mut c = Cadence::new(SEG);
        assert!(!c.on_frame(0, true).cut);
        assert!(!c.on_frame(SEG / 2, true).cut, "a viewer's PLI at 1 s");
        assert!(c.on_frame(SEG * 4 / 5, true).cut);
    }

    #[test]
    fn a_size_change_is_lost_once() {
        let mut c = Cadence::new(SEG);
        c.on_frame(0, true);
        assert!(c.lose().lost);
        assert!(!c.lose().lost);
        assert_eq!(c.on_frame(FRAME, true), Step::default());
    }
}
