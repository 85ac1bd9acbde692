//! One publisher's webrtcbin pipeline: negotiation, received pads, producers.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;
use gst_webrtc::{WebRTCPeerConnectionState, WebRTCRTPTransceiverDirection};
use tokio::sync::watch;

use super::{IngestConfig, IngestError, PublishStatus};
use crate::db::PublishEvent;
use crate::media::keyframes::{self, KeyframeRequests};
use crate::media::sdp::{Codec, MediaKind, OfferPlan};
use crate::media::webrtc::{
    answer_gathered, connection_state, connection_state_name, gathering_state, webrtc_pipeline,
};
use crate::media::PublishKind;
use crate::media::{
    bin_from_file, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline, StreamCounters,
};
use crate::time::{now_ms, rfc3339};

/// The received media, for subscribers: encoded frames (H.264 access units with
/// in-band parameter sets, VP8 frames, Opus packets). Each consumer gets its own
/// appsrc, so a slow one cannot hold back the others.
#[derive(Clone, Default)]
pub struct MediaProducers {
    pub video: Option<(Codec, gst_utils::StreamProducer)>,
    pub audio: Option<(Codec, gst_utils::StreamProducer)>,
    /// The received video's counters (its picture size, once known).
    pub video_counters: Option<Arc<StreamCounters>>,
    /// Keyframe requests (PLIs) to the publisher, let through and held back.
    pub keyframe_requests: Option<Arc<KeyframeRequests>>,
}

/// The shortest time between two keyframe requests (PLIs) to the publisher:
/// joins in a burst share one keyframe.
const KEYFRAME_REQUEST_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Called once, from a streaming thread, when every expected track has a producer.
pub type OnMediaReady = Box<dyn Fn(MediaProducers) + Send + Sync>;

impl std::fmt::Debug for MediaProducers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaProducers")
            .field("video", &self.video.as_ref().map(|v| v.0))
            .field("audio", &self.audio.as_ref().map(|a| a.0))
            .finish()
    }
}

impl crate::rtc::Resource for Publisher {
    fn plan(&self) -> &OfferPlan {
        &self.plan
    }

    fn add_ice_candidate(&self, mline: u32, candidate: &str) {
        crate::rtc::add_ice_candidate(&self.webrtcbin, mline, candidate);
    }
}

pub struct Publisher {
    event: PublishEvent,
    kind: PublishKind,
    etag: String,
    plan: OfferPlan,
    pipeline: OwnedPipeline,
    webrtcbin: gst::Element,
    pub(super) video: Arc<StreamCounters>,
    pub(super) audio: Arc<StreamCounters>,
    producers: Arc<Mutex<MediaProducers>>,
    audio_muted: Arc<std::sync::atomic::AtomicBool>,
    pub(super) connection: watch::Receiver<WebRTCPeerConnectionState>,
    pub(super) bus: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<BusEvent>>>,
    pub(super) started: Instant,
}

impl Publisher {
    pub fn resource_id(&self) -> &str {
        &self.event.resource_id
    }

    pub fn session_id(&self) -> &str {
        &self.event.session_id
    }

    /// The user who publishes.
    pub fn publisher_id(&self) -> &str {
        &self.event.publisher_id
    }

    pub fn publisher_name(&self) -> &str {
        &self.event.publisher_name
    }

    pub fn kind(&self) -> PublishKind {
        self.kind
    }

    /// When the publish began (ms since the epoch).
    pub fn started_at_ms(&self) -> i64 {
        self.event.started_at
    }

    /// Stops (or resumes) forwarding the publisher's audio: the instructor
    /// muted a stage publisher.
    pub fn set_audio_muted(&self, muted: bool) {
        self.audio_muted
            .store(muted, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn event_id(&self) -> &str {
        &self.event.id
    }

    pub fn etag(&self) -> String {
        self.etag.clone()
    }

    pub fn producers(&self) -> MediaProducers {
        self.producers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The received media once every track the publisher offered flows into
    /// its producer (the moment `MediaReady` is announced); `None` before.
    pub fn ready_producers(&self) -> Option<MediaProducers> {
        let producers = self.producers();
        let has = |kind| self.plan.media.iter().any(|m| m.kind == kind);
        let complete = (!has(MediaKind::Video) || producers.video.is_some())
            && (!has(MediaKind::Audio) || producers.audio.is_some());
        complete.then_some(producers)
    }

    /// Asks the publisher for a keyframe (PLI/FIR through the RTP session).
    pub fn request_keyframe(&self) {
        let Some((_, producer)) = self.producers().video else {
            return;
        };
        if let Some(pad) = producer.appsink().static_pad("sink") {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.send_event(event);
        }
    }

    pub fn status(&self, now: u64) -> PublishStatus {
        let has = |kind| self.plan.media.iter().any(|m| m.kind == kind);
        PublishStatus {
            resource_id: self.event.resource_id.clone(),
            kind: self.kind,
            publisher_id: self.event.publisher_id.clone(),
            publisher_name: self.event.publisher_name.clone(),
            started_at: rfc3339(self.event.started_at),
            connection_state: connection_state_name(*self.connection.borrow()).into(),
            first_video_frame_ms: self
                .video
                .first_at_ms()
                .map(|t| t.saturating_sub(self.event.started_at.max(0) as u64)),
            video: has(MediaKind::Video).then(|| self.video.stats(now)),
            audio: has(MediaKind::Audio).then(|| self.audio.stats(now)),
        }
    }

    pub(super) async fn shutdown(&self) {
        self.pipeline
            .tear_down(&self.event.resource_id, "teardown")
            .await;
    }

    /// Builds the pipeline and answers the offer. Returns once the answer holds
    /// the gathered candidates (or the gathering timeout passed).
    pub(super) async fn negotiate(
        config: &IngestConfig,
        event: PublishEvent,
        kind: PublishKind,
        offer: gst_sdp::SDPMessage,
        plan: OfferPlan,
        on_ready: OnMediaReady,
    ) -> Result<(Arc<Publisher>, String), IngestError> {
        let (pipeline, webrtcbin) = webrtc_pipeline(
            &format!("whip-{}", event.resource_id),
            &config.peer.ice_servers,
            Some(200),
        )?;
        // Synced: timestamps follow the sender's clock with skew correction.
        // The default (slave) mode gave bursts of frames equal timestamps;
        // "none" (RTP clock only) drifts against senders whose RTP clock is
        // not wall-clock paced (aiortc), and late packets are then dropped.
        match webrtcbin
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        {
            Some(rtpbin) => rtpbin.set_property_from_str("buffer-mode", "synced"),
            None => tracing::warn!("webrtcbin has no rtpbin child: jitterbuffer mode unchanged"),
        }
        for m in &plan.media {
            let transceiver = webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                "add-transceiver",
                &[&WebRTCRTPTransceiverDirection::Recvonly, &m.caps],
            );
            if m.kind == MediaKind::Video {
                transceiver.set_property("do-nack", true);
            }
        }

        let video = Arc::new(StreamCounters::default());
        let audio = Arc::new(StreamCounters::default());
        let producers = Arc::new(Mutex::new(MediaProducers {
            video_counters: Some(video.clone()),
            ..MediaProducers::default()
        }));
        let expected = Expected {
            video: plan.media.iter().any(|m| m.kind == MediaKind::Video),
            audio: plan.media.iter().any(|m| m.kind == MediaKind::Audio),
            on_ready,
            announced: std::sync::atomic::AtomicBool::new(false),
        };
        let audio_muted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let received = Received {
            video: video.clone(),
            audio: audio.clone(),
            producers: producers.clone(),
            audio_muted: audio_muted.clone(),
        };
        connect_pads(&pipeline, &webrtcbin, received, expected);

        let connection = connection_state(&webrtcbin);
        let mut gathering = gathering_state(&webrtcbin);

        let label = format!("whip-{}", event.resource_id);
        let bus = spawn_bus_watch(&pipeline, label);
        let owned = OwnedPipeline::new(pipeline);
        owned.set_state(gst::State::Playing).await?;

        let sdp = answer_gathered(
            &webrtcbin,
            offer,
            &mut gathering,
            config.peer.ice_gather_timeout,
            &event.resource_id,
        )
        .await?;

        if let Some(m) = plan.media.iter().find(|m| m.kind == MediaKind::Video) {
            video.set_codec(m.codec.name());
        }
        if let Some(m) = plan.media.iter().find(|m| m.kind == MediaKind::Audio) {
            audio.set_codec(m.codec.name());
        }
        let etag = crate::rtc::new_etag();
        Ok((
            Arc::new(Publisher {
                event,
                kind,
                etag,
                plan,
                pipeline: owned,
                webrtcbin,
                video,
                audio,
                producers,
                connection,
                bus: Mutex::new(Some(bus)),
                started: Instant::now(),
                audio_muted,
            }),
            sdp,
        ))
    }
}

/// Which tracks the offer promised, and whom to tell once they all arrived.
struct Expected {
    video: bool,
    audio: bool,
    on_ready: OnMediaReady,
    announced: std::sync::atomic::AtomicBool,
}

impl Expected {
    fn check(&self, producers: &MediaProducers) {
        let complete = (!self.video || producers.video.is_some())
            && (!self.audio || producers.audio.is_some());
        if complete
            && !self
                .announced
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            (self.on_ready)(producers.clone());
        }
    }
}

/// Where a publisher's received media goes.
struct Received {
    video: Arc<StreamCounters>,
    audio: Arc<StreamCounters>,
    producers: Arc<Mutex<MediaProducers>>,
    /// Set while the instructor has the publisher's audio muted.
    audio_muted: Arc<std::sync::atomic::AtomicBool>,
}

/// Links each received RTP pad to its depayloading bin from `pipelines/` and
/// turns the bin's appsink into a producer. Runs on a streaming thread.
fn connect_pads(
    pipeline: &gst::Pipeline,
    webrtcbin: &gst::Element,
    received: Received,
    expected: Expected,
) {
    let pipeline = pipeline.downgrade();
    webrtcbin.connect_pad_added(move |webrtcbin, pad| {
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let Some(pipeline) = pipeline.upgrade() else {
            return;
        };
        match link_received_pad(&pipeline, pad, &received) {
            Ok(()) => {
                // Checked outside the lock: whoever hears `MediaReady` may
                // read this publisher's producers.
                let producers = received.producers.lock().map(|p| p.clone());
                if let Ok(p) = producers {
                    expected.check(&p);
                }
            }
            Err(e) => gst::element_error!(
                webrtcbin,
                gst::StreamError::Failed,
                ("cannot handle received stream: {e}")
            ),
        }
    });
}

fn link_received_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    received: &Received,
) -> Result<(), MediaError> {
    let Received {
        video,
        audio,
        producers,
        audio_muted,
    } = received;
    let caps = pad
        .current_caps()
        .ok_or_else(|| MediaError::Gst("received pad has no caps".into()))?;
    let s = caps
        .structure(0)
        .ok_or_else(|| MediaError::Gst("empty caps".into()))?;
    let encoding = s.get::<String>("encoding-name").unwrap_or_default();
    let codec = Codec::from_encoding_name(&encoding)
        .ok_or_else(|| MediaError::Gst(format!("unexpected codec {encoding}")))?;
    let (description, counters) = match codec {
        Codec::H264 => ("ingest-h264", video),
        Codec::Vp8 => ("ingest-vp8", video),
        Codec::Opus => ("ingest-opus", audio),
        Codec::Aac => return Err(MediaError::Gst("AAC is not received over WebRTC".into())),
    };
    let bin = bin_from_file(description)?;
    pipeline.add(&bin)?;
    let appsink = bin
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| MediaError::Gst(format!("{description}: no appsink named sink")))?;
    if codec != Codec::Opus {
        fill_missing_timestamps(&appsink);
    }
    count_frames(&appsink, counters.clone());
    if codec == Codec::Opus {
        drop_while_muted(&appsink, audio_muted.clone());
    }
    let producer = gst_utils::StreamProducer::from(&appsink);
    {
        let mut p = producers
            .lock()
            .map_err(|_| MediaError::Gst("poisoned".into()))?;
        if codec == Codec::Opus {
            p.audio = Some((codec, producer));
        } else {
            p.keyframe_requests = Some(keyframes::rate_limit(&producer, KEYFRAME_REQUEST_INTERVAL));
            p.video = Some((codec, producer));
        }
    }
    bin.sync_state_with_parent()?;
    let sink = bin
        .static_pad("sink")
        .ok_or_else(|| MediaError::Gst(format!("{description}: no sink pad")))?;
    pad.link(&sink)
        .map_err(|e| MediaError::Gst(format!("linking {encoding}: {e:?}")))?;
    Ok(())
}

/// The depayloader leaves some access units (keyframes, whose first packets
/// arrive in a burst) without a PTS, which decoders and muxers downstream
/// cannot place. Those get the previous frame's PTS plus the last frame interval.
fn fill_missing_timestamps(appsink: &gst_app::AppSink) {
    let Some(pad) = appsink.static_pad("sink") else {
        return;
    };
    let last: Mutex<(Option<gst::ClockTime>, gst::ClockTime)> =
        Mutex::new((None, gst::ClockTime::from_mseconds(33)));
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Ok(mut last) = last.lock() else {
            return gst::PadProbeReturn::Ok;
        };
        let (prev, interval) = *last;
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        match buffer.pts() {
            Some(pts) => {
                if let Some(delta) = prev.and_then(|p| pts.checked_sub(p)) {
                    if delta > gst::ClockTime::ZERO && delta < gst::ClockTime::SECOND {
                        last.1 = delta;
                    }
                }
                last.0 = Some(pts);
            }
            None => {
                if let Some(prev) = prev {
                    let pts = prev + interval;
                    buffer.make_mut().set_pts(pts);
                    last.0 = Some(pts);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Drops the audio while the instructor has the publisher muted (a stage
/// student): no consumer hears it, the counters still see it arrive.
fn drop_while_muted(appsink: &gst_app::AppSink, muted: Arc<std::sync::atomic::AtomicBool>) {
    let Some(pad) = appsink.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if muted.load(std::sync::atomic::Ordering::Relaxed) {
            gst::PadProbeReturn::Drop
        } else {
            gst::PadProbeReturn::Ok
        }
    });
}

/// Frames, bytes, keyframes and picture size, read as they reach the appsink.
fn count_frames(appsink: &gst_app::AppSink, counters: Arc<StreamCounters>) {
    let Some(pad) = appsink.static_pad("sink") else {
        return;
    };
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => counters.record(
                    buffer.size(),
                    !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    now_ms() as u64,
                ),
                Some(gst::PadProbeData::Event(event)) => {
                    if let gst::EventView::Caps(c) = event.view() {
                        if let Some(s) = c.caps().structure(0) {
                            if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
                            {
                                counters.set_size(w.max(0) as u32, h.max(0) as u32);
                            }
                        }
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}
