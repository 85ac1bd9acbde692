//! Keyframe requests, rate-limited at the producer: every viewer that joins or
//! switches asks for a keyframe, and a class full of joiners must not turn
//! into a storm of PLIs to the instructor's browser or IDRs in a rung.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// What the limiter let through and held back, for the stats.
#[derive(Debug, Default)]
pub struct KeyframeRequests {
    pub forwarded: AtomicU64,
    pub suppressed: AtomicU64,
}

/// Lets at most one force-key-unit request per `min_interval` go upstream of
/// `producer`'s appsink; the others are dropped. A dropped request is not
/// lost: the producer asks again with the next frame it skips.
pub fn rate_limit(
    producer: &gst_utils::StreamProducer,
    min_interval: Duration,
) -> Arc<KeyframeRequests> {
    let counts = Arc::new(KeyframeRequests::default());
    let Some(pad) = producer.appsink().static_pad("sink") else {
        return counts;
    };
    let epoch = Instant::now();
    // Milliseconds since `epoch` of the last request let through, plus one
    // (0: none yet).
    let last = AtomicU64::new(0);
    let interval_ms = min_interval.as_millis() as u64;
    let c = counts.clone();
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        let is_request = info
            .event()
            .is_some_and(|e| gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok());
        if !is_request {
            return gst::PadProbeReturn::Ok;
        }
        let now = epoch.elapsed().as_millis() as u64 + 1;
        let previous = last.load(Ordering::Relaxed);
        if previous != 0 && now.saturating_sub(previous) < interval_ms {
            c.suppressed.fetch_add(1, Ordering::Relaxed);
            return gst::PadProbeReturn::Drop;
        }
        if last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Another thread let one through just now.
            c.suppressed.fetch_add(1, Ordering::Relaxed);
            return gst::PadProbeReturn::Drop;
        }
        c.forwarded.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    counts
}
