//! Frames out of a producer (the publisher's audio or video, a ladder rung)
//! into the forwarding engine: one pad probe per producer, however many
//! viewers it feeds. Each frame is copied once into a shared buffer that
//! every viewer's sender then packetizes and encrypts for itself.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::engine::{Command, EngineCounters};

/// What identifies a producer to the engine (its appsink's address).
pub type FeedKey = usize;

pub fn feed_key(producer: &gst_utils::StreamProducer) -> FeedKey {
    producer.appsink().as_ptr() as usize
}

/// One encoded frame: an H.264 access unit (byte-stream), a VP8 frame or an
/// Opus packet.
#[derive(Debug, Clone)]
pub struct Frame {
    pub data: Arc<[u8]>,
    /// Decode time in the producer's pipeline.
    pub time: Duration,
    pub keyframe: bool,
    /// When it left the producer (the wall clock of its RTP time).
    pub arrival: Instant,
}

/// A probe on a producer's appsink; removed on drop.
pub struct Tap {
    pad: gst::Pad,
    probe: Option<gst::PadProbeId>,
}

impl Tap {
    /// Starts sending `producer`'s frames to the engine as `key`. Frames the
    /// engine has no room for are dropped and counted: a stalled
    /// engine must not stall the publisher's pipeline.
    pub fn install(
        producer: &gst_utils::StreamProducer,
        key: FeedKey,
        engine: SyncSender<Command>,
        counters: Arc<EngineCounters>,
    ) -> Option<Tap> {
        let pad = producer.appsink().static_pad("sink")?;
        let probe = pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let Ok(map) = buffer.map_readable() else {
                return gst::PadProbeReturn::Ok;
            };
            let frame = Frame {
                data: Arc::from(map.as_slice()),
                time: buffer
                    .dts_or_pts()
                    .map(|t| Duration::from_nanos(t.nseconds()))
                    .unwrap_or_default(),
                keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                arrival: Instant::now(),
            };
            match engine.try_send(Command::Frame { feed: key, frame }) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        });
        Some(Tap { pad, probe })
    }

    /// Asks the producer for a keyframe (a PLI to the publisher, or a forced
    /// IDR in a rung); the producer's own limiter keeps a class of joiners
    /// from becoming a storm.
    pub fn request_keyframe(&self) {
        self.pad.push_event(
            gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build(),
        );
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(probe) = self.probe.take() {
            self.pad.remove_probe(probe);
        }
    }
}
