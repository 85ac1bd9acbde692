//! Pad probes of the ladder: keyframes forced at segment boundaries (or on
//! the publisher's keyframes when the top rung is passed through), and the
//! progress counters read by the ladder's status.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::ladder::cadence::{Cadence, Step};
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

/// Where the keyframer puts the encoded rungs' IDRs.
pub(super) enum KeyframePlan {
    /// On the first frame at or after every segment boundary (the whole
    /// ladder is encoded here).
    Clock,
    /// On the frame each cutting source keyframe became (the top rung is the
    /// publisher's own video), and each rung's segment is cut there.
    Follow {
        cuts: Arc<Cuts>,
        /// The encoded rungs' splitmuxsinks.
        muxes: Vec<gst::Element>,
        frame_ns: u64,
    },
}

/// The running times of the source keyframes that cut segments, from the
/// source probe to the keyframer (which sees the same frames decoded, later).
#[derive(Default)]
pub(super) struct Cuts(Mutex<std::collections::VecDeque<u64>>);

impl Cuts {
    fn push(&self, running_time_ns: u64) {
        if let Ok(mut c) = self.0.lock() {
            c.push_back(running_time_ns);
        }
    }

    /// Whether a decoded frame at `running_time_ns` (a frame lasts `frame_ns`)
    /// is the one a cut falls on; cuts it has passed are consumed.
    fn take_due(&self, running_time_ns: u64, frame_ns: u64) -> bool {
        let Ok(mut c) = self.0.lock() else {
            return false;
        };
        let mut due = false;
        // videorate moves a frame by up to half a frame onto its grid.
        while c
            .front()
            .is_some_and(|&cut| running_time_ns + frame_ns / 2 >= cut)
        {
            c.pop_front();
            due = true;
        }
        due
    }
}

/// Asks `mux` to start a new segment at the keyframe at `running_time_ns`.
/// A millisecond early: the cut lands on the first keyframe at or after it,
/// and an encoder may stamp its IDR a hair before the frame it was asked for.
fn split_at(mux: &gst::Element, running_time_ns: u64) {
    mux.emit_by_name::<()>(
        "split-at-running-time",
        &[&running_time_ns.saturating_sub(1_000_000)],
    );
}

/// Places the encoded rungs' keyframes (see [`KeyframePlan`]). The event
/// travels through the tee to every encoder, so all rungs put their IDR, and
/// splitmuxsink its cut, on the same frame.
pub(super) fn align_keyframes(
    keyframer: &gst::Element,
    segment_ns: u64,
    plan: KeyframePlan,
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
        let force = match &plan {
            KeyframePlan::Clock => match *next_boundary {
                // The first frame is a keyframe anyway.
                None => {
                    *next_boundary = Some(rt + segment_ns);
                    false
                }
                Some(boundary) if rt >= boundary => {
                    let missed = (rt - boundary) / segment_ns;
                    *next_boundary = Some(boundary + (missed + 1) * segment_ns);
                    true
                }
                Some(_) => false,
            },
            KeyframePlan::Follow {
                cuts,
                muxes,
                frame_ns,
            } => {
                let due = cuts.take_due(rt, *frame_ns);
                if due {
                    for mux in muxes {
                        split_at(mux, rt);
                    }
                }
                due
            }
        };
        if force {
            *count += 1;
            let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                .running_time(gst::ClockTime::from_nseconds(rt))
                .all_headers(true)
                .count(*count)
                .build();
            drop(guard);
            boundaries.record(rt);
            pad.push_event(event);
        }
        gst::PadProbeReturn::Ok
    })
    .ok_or_else(|| HlsError::Media(MediaError::Gst("cannot probe the keyframer".into())))?;
    Ok(())
}

/// A passed-through top rung's state, shared by the source probe and the
/// ladder's supervision.
#[derive(Default)]
pub(super) struct Passthrough {
    /// The publisher stopped keeping the cadence (or changed size).
    pub(super) lost: AtomicBool,
    /// A ladder that encodes the top rung is linked and waits for a keyframe.
    pub(super) successor_ready: AtomicBool,
    /// That keyframe came: this ladder takes nothing from it on.
    pub(super) handed_over: AtomicBool,
}

/// Watches the publisher's video on its way into the ladder when the top
/// rung is passed through: asks the publisher for a keyframe before each
/// segment boundary, cuts the top rung (`top_mux`) on the keyframe that
/// answers and tells the keyframer (`cuts`), raises `lost` when the
/// publisher does not keep up or changes its picture size from `size`, and
/// once a successor is ready stops at the next keyframe (the successor's first).
pub(super) fn follow_source_keyframes(
    watch: &gst::Element,
    publisher: Option<gst::Pad>,
    top_mux: gst::Element,
    segment_ns: u64,
    size: (u32, u32),
    cuts: Arc<Cuts>,
    state: Arc<Passthrough>,
) -> Result<(), HlsError> {
    let pad = watch
        .static_pad("src")
        .ok_or_else(|| HlsError::Media(MediaError::Gst("source watch has no src pad".into())))?;
    let cadence = Mutex::new(Cadence::new(segment_ns));
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            if let Some(buffer) = info.buffer() {
                let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                if state.handed_over.load(Ordering::Relaxed)
                    || (keyframe && state.successor_ready.load(Ordering::Relaxed))
                {
                    state.handed_over.store(true, Ordering::Relaxed);
                    return gst::PadProbeReturn::Drop;
                }
            }
            let Ok(mut cadence) = cadence.lock() else {
                return gst::PadProbeReturn::Ok;
            };
            // The frame's running time, for the cut it may make.
            let mut frame_rt = None;
            let step = match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => match running_time(pad, buffer.pts()) {
                    Some(rt) => {
                        frame_rt = Some(rt.nseconds());
                        cadence.on_frame(
                            rt.nseconds(),
                            !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        )
                    }
                    None => Step::default(),
                },
                Some(gst::PadProbeData::Event(event)) => match event.view() {
                    gst::EventView::Caps(c)
                        if picture_size(c.caps()).is_some_and(|s| s != size) =>
                    {
                        cadence.lose()
                    }
                    _ => Step::default(),
                },
                _ => Step::default(),
            };
            drop(cadence);
            if let (true, Some(rt)) = (step.cut, frame_rt) {
                split_at(&top_mux, rt);
                cuts.push(rt);
            }
            if step.request_keyframe {
                if let Some(publisher) = &publisher {
                    publisher.push_event(
                        gst_video::UpstreamForceKeyUnitEvent::builder()
                            .all_headers(true)
                            .build(),
                    );
                }
            }
            if step.lost {
                state.lost.store(true, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        },
    )
    .ok_or_else(|| HlsError::Media(MediaError::Gst("cannot probe the source".into())))?;
    Ok(())
}

fn picture_size(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let s = caps.structure(0)?;
    let w = s.get::<i32>("width").ok()?;
    let h = s.get::<i32>("height").ok()?;
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
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
