//! Pad probes of the ladder: keyframes forced at segment boundaries, and the
//! progress counters read by the ladder's status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::HlsError;
use crate::media::MediaError;
use crate::time::now_ms;

#[derive(Default)]
pub(super) struct Progress {
    pub(super) frames: AtomicU64,
    /// Running time of the last buffer, in ns, plus one (0: none yet).
    running_time: AtomicU64,
}

impl Progress {
    pub(super) fn record(&self, running_time: Option<gst::ClockTime>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if let Some(rt) = running_time {
            self.running_time
                .store(rt.nseconds() + 1, Ordering::Relaxed);
        }
    }
    pub(super) fn running_time_ns(&self) -> Option<u64> {
        Some(self.running_time.load(Ordering::Relaxed))
            .filter(|&t| t > 0)
            .map(|t| t - 1)
    }
}

/// When each forced keyframe (a segment boundary) entered the ladder, by running
/// time, so a closed segment can tell how long it took to become available.
#[derive(Default)]
pub(super) struct Boundaries(Mutex<std::collections::VecDeque<(u64, i64)>>);

impl Boundaries {
    pub(super) fn record(&self, running_time_ns: u64) {
        if let Ok(mut b) = self.0.lock() {
            b.push_back((running_time_ns, now_ms()));
            while b.len() > 32 {
                b.pop_front();
            }
        }
    }
    pub(super) fn entered_at(&self, running_time_ns: u64) -> Option<i64> {
        let b = self.0.lock().ok()?;
        b.iter()
            .find(|(rt, _)| rt.abs_diff(running_time_ns) < 50_000_000)
            .map(|(_, at)| *at)
    }
}

pub(super) fn running_time(pad: &gst::Pad, pts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment
        .segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(pts?)
}

/// Forces a keyframe on the first frame at or after every segment boundary.
/// The event travels through the tee to every encoder, so all rungs put their
/// IDR, and splitmuxsink its cut, on the same frame.
pub(super) fn align_keyframes(
    keyframer: &gst::Element,
    segment_ns: u64,
    input: Arc<Progress>,
    boundaries: Arc<Boundaries>,
) -> Result<(), HlsError> {
    let pad = keyframer
        .static_pad("src")
        .ok_or_else(|| HlsError::Media(MediaError::Gst("keyframer has no src pad".into())))?;
    // (next boundary in running time, keyframes forced so far); probes are Fn.
    let state: Mutex<(Option<u64>, u32)> = Mutex::new((None, 0));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let rt = running_time(pad, buffer.pts());
        input.record(rt);
        let Some(rt) = rt.map(|t| t.nseconds()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(mut guard) = state.lock() else {
            return gst::PadProbeReturn::Ok;
        };
        let (next_boundary, count) = &mut *guard;
        match *next_boundary {
            // The first frame is a keyframe anyway.
            None => *next_boundary = Some(rt + segment_ns),
            Some(boundary) if rt >= boundary => {
                *count += 1;
                let missed = (rt - boundary) / segment_ns;
                *next_boundary = Some(boundary + (missed + 1) * segment_ns);
                let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .running_time(gst::ClockTime::from_nseconds(rt))
                    .all_headers(true)
                    .count(*count)
                    .build();
                drop(guard);
                boundaries.record(rt);
                pad.push_event(event);
            }
            Some(_) => {}
        }
        gst::PadProbeReturn::Ok
    })
    .ok_or_else(|| HlsError::Media(MediaError::Gst("cannot probe the keyframer".into())))?;
    Ok(())
}

/// Counts a rung's encoded frames and reads its profile and level.
pub(super) fn watch_output(
    parser: &gst::Element,
    progress: Arc<Progress>,
    profile_level: Arc<Mutex<Option<(String, String)>>>,
) -> Result<(), HlsError> {
    let pad = parser
        .static_pad("src")
        .ok_or_else(|| HlsError::Media(MediaError::Gst("parser has no src pad".into())))?;
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    progress.record(running_time(pad, buffer.pts()))
                }
                Some(gst::PadProbeData::Event(event)) => {
                    if let gst::EventView::Caps(c) = event.view() {
                        if let Some(s) = c.caps().structure(0) {
                            if let (Ok(p), Ok(l)) =
                                (s.get::<String>("profile"), s.get::<String>("level"))
                            {
                                if let Ok(mut slot) = profile_level.lock() {
                                    *slot = Some((p, l));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    )
    .ok_or_else(|| HlsError::Media(MediaError::Gst("cannot probe the encoder".into())))?;
    Ok(())
}
