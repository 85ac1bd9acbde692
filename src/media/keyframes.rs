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
            return swallow(info);
        }
        if last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Another thread let one through just now.
            c.suppressed.fetch_add(1, Ordering::Relaxed);
            return swallow(info);
        }
        c.forwarded.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    counts
}

/// Consumes a held-back request. `Drop` is not used: for an event pushed
/// upstream from this pad, GStreamer 1.22 then unrefs it a second time
/// (a GStreamer-CRITICAL per skipped frame while a viewer waits for its
/// keyframe).
fn swallow(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    drop(info.take_event());
    gst::PadProbeReturn::Handled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_keyframe(pad: &gst::Pad) {
        pad.push_event(gst_video::UpstreamForceKeyUnitEvent::builder().build());
    }

    #[test]
    fn requests_closer_than_the_interval_are_held_back() {
        crate::media::init().expect("GStreamer");
        // Dropping a request used to make GStreamer unref it twice.
        let criticals = Arc::new(AtomicU64::new(0));
        let seen = criticals.clone();
        let handler = gst::glib::log_set_handler(
            Some("GStreamer"),
            gst::glib::LogLevels::LEVEL_CRITICAL,
            false,
            false,
            move |_, _, _| {
                seen.fetch_add(1, Ordering::Relaxed);
            },
        );
        let appsink = gst_app::AppSink::builder().build();
        let source = gst::ElementFactory::make("fakesrc")
            .build()
            .expect("fakesrc");
        let pipeline = gst::Pipeline::new();
        pipeline
            .add_many([&source, appsink.upcast_ref()])
            .expect("add");
        source.link(&appsink).expect("link");
        let producer = gst_utils::StreamProducer::from(&appsink);
        let counts = rate_limit(&producer, Duration::from_millis(300));
        let pad = appsink.static_pad("sink").expect("sink pad");
        // Pads pass events only when active (as in PAUSED or PLAYING).
        pad.set_active(true).expect("activate");
        if let Some(src) = source.static_pad("src") {
            src.set_active(true).expect("activate");
        }

        for _ in 0..5 {
            request_keyframe(&pad);
        }
        assert_eq!(counts.forwarded.load(Ordering::Relaxed), 1);
        assert_eq!(counts.suppressed.load(Ordering::Relaxed), 4);
        std::thread::sleep(Duration::from_millis(350));
        request_keyframe(&pad);
        assert_eq!(counts.forwarded.load(Ordering::Relaxed), 2);
        gst::glib::log_remove_handler(Some("GStreamer"), handler);
        assert_eq!(criticals.load(Ordering::Relaxed), 0, "GStreamer-CRITICALs");
    }
}
