//! One WebRTC viewer: a webrtcbin that sends the session's media. Video and
//! audio come from producers (the publisher's, or a ladder rung's for video)
//! through the viewer's own appsrcs, so the viewer's queue is its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;
use gst_webrtc::{WebRTCPeerConnectionState, WebRTCRTPTransceiverDirection};
use tokio::sync::watch;

use super::{refresh_levels, ViewerInfo, ViewerStats};
use crate::egress::adapt::{Adapter, Level};
use crate::egress::feedback::{self, Remb};
use crate::egress::{EgressConfig, EgressError, Sources};
use crate::media::sdp::{Codec, MediaKind, OfferPlan};
use crate::media::webrtc::connection_state_name;
use crate::media::webrtc::{
    answer_gathered, call_with_promise, connection_state, gathering_state, webrtc_pipeline,
};
use crate::media::{bin_from_file, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline};
use crate::time::now_ms;

/// Where the viewer's video comes from now.
struct VideoFeed {
    link: gst_utils::ConsumptionLink,
    /// Index into the adapter's levels.
    level: usize,
    /// Producer per level (source first), refreshed as the ladder comes and goes.
    producers: Vec<gst_utils::StreamProducer>,
    /// Frames forwarded/dropped by links replaced by switches.
    carried: (u64, u64),
}

pub struct PipelineViewer {
    pub info: ViewerInfo,
    etag: String,
    plan: OfferPlan,
    pipeline: OwnedPipeline,
    webrtcbin: gst::Element,
    video_src: Option<gst_app::AppSrc>,
    audio_src: Option<gst_app::AppSrc>,
    video: Mutex<Option<VideoFeed>>,
    audio: Mutex<Option<gst_utils::ConsumptionLink>>,
    adapter: Mutex<Adapter>,
    pub(in crate::egress) connection: watch::Receiver<WebRTCPeerConnectionState>,
    pub(in crate::egress) bus: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<BusEvent>>>,
    remb: Arc<Remb>,
    /// When RTCP last came from the viewer (ms since the epoch; 0: never).
    last_rtcp_ms: Arc<AtomicU64>,
    first_frame_ms: Arc<AtomicU64>,
    stats: Mutex<ViewerStats>,
    switches: AtomicU64,
    sampled_at_ms: AtomicU64,
    pub(in crate::egress) started: Instant,
    started_ms: u64,
}

impl PipelineViewer {
    pub fn plan(&self) -> &OfferPlan {
        &self.plan
    }

    pub fn add_ice_candidate(&self, mline: u32, candidate: &str) {
        crate::rtc::add_ice_candidate(&self.webrtcbin, mline, candidate);
    }
}

impl PipelineViewer {
    pub fn resource_id(&self) -> &str {
        &self.info.resource_id
    }

    pub fn etag(&self) -> String {
        self.etag.clone()
    }

    pub fn stats(&self) -> ViewerStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn connection_state(&self) -> WebRTCPeerConnectionState {
        *self.connection.borrow()
    }

    pub fn last_rtcp_ms(&self) -> u64 {
        self.last_rtcp_ms.load(Ordering::Relaxed)
    }

    pub(in crate::egress) async fn shutdown(&self) {
        // Unlink first: a producer must not push into a pipeline going down.
        if let Ok(mut v) = self.video.lock() {
            if let Some(mut feed) = v.take() {
                feed.link.disconnect();
            }
        }
        if let Ok(mut a) = self.audio.lock() {
            if let Some(mut link) = a.take() {
                link.disconnect();
            }
        }
        self.pipeline
            .tear_down(&self.info.resource_id, "viewer teardown")
            .await;
    }

    /// Builds the pipeline and answers the offer.
    pub(in crate::egress) async fn negotiate(
        config: &EgressConfig,
        info: ViewerInfo,
        offer: gst_sdp::SDPMessage,
        plan: OfferPlan,
    ) -> Result<(PipelineViewer, String), EgressError> {
        let started = Instant::now();
        // The offer's arrival: `first_frame_ms` counts from here.
        let started_ms = now_ms() as u64;
        let (pipeline, webrtcbin) = webrtc_pipeline(
            &format!("whep-{}", info.resource_id),
            &config.peer.ice_servers,
            None,
        )?;

        let mut video_src = None;
        let mut audio_src = None;
        for m in &plan.media {
            let description = match m.codec {
                Codec::H264 => "whep-video-h264",
                Codec::Vp8 => "whep-video-vp8",
                Codec::Opus => "whep-audio-opus",
                Codec::Aac => {
                    return Err(MediaError::Gst("AAC is not sent over WebRTC".into()).into())
                }
            };
            let bin = bin_from_file(description)?;
            pipeline.add(&bin).map_err(MediaError::from)?;
            let named = |name: &str| {
                bin.by_name(name)
                    .ok_or_else(|| MediaError::Gst(format!("{description}: no element {name}")))
            };
            // The SSRC is chosen here and written into the answer: browsers
            // demultiplex a bundle by SSRC when packets carry no MID.
            let ssrc = rand::random::<u32>() | 1;
            let pay = named("pay")?;
            pay.set_property("pt", m.payload as u32);
            pay.set_property("ssrc", ssrc);
            let mut caps = m.caps.clone();
            if let Some(s) = caps.make_mut().structure_mut(0) {
                s.set("ssrc", ssrc);
            }
            if let Some(pinned) = bin.by_name("negotiated") {
                pinned.set_property("caps", pinned_caps(&caps));
            }
            let src = named("src")?
                .downcast::<gst_app::AppSrc>()
                .map_err(|_| MediaError::Gst(format!("{description}: src is not an appsrc")))?;
            gst_utils::StreamProducer::configure_consumer(&src);
            stamp_on_arrival(&src);
            // The viewer's bounded queue: half a second, then drop.
            src.set_max_time(gst::ClockTime::from_mseconds(500));
            // Pad `sink_N` goes with the offer's m-line N.
            let sink = webrtcbin
                .request_pad_simple(&format!("sink_{}", m.mline))
                .ok_or_else(|| MediaError::Gst("webrtcbin gave no sink pad".into()))?;
            let out = bin
                .static_pad("src")
                .ok_or_else(|| MediaError::Gst(format!("{description}: no src pad")))?;
            out.link(&sink)
                .map_err(|e| MediaError::Gst(format!("linking {description}: {e:?}")))?;
            let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
            transceiver.set_property("direction", WebRTCRTPTransceiverDirection::Sendonly);
            transceiver.set_property("codec-preferences", &caps);
            if m.kind == MediaKind::Video {
                // No retransmissions: on a link that is already too narrow
                // they multiply the load (measured: 2 Mb/s of video became
                // 16 Mb/s of RTX under a 600 kb/s policer). Loss is repaired
                // by keyframes (PLI) and avoided by stepping down a rung.
                transceiver.set_property("do-nack", false);
                video_src = Some(src);
            } else {
                audio_src = Some(src);
            }
        }

        let connection = connection_state(&webrtcbin);
        let mut gathering = gathering_state(&webrtcbin);
        let remb = Arc::new(Remb::default());
        let last_rtcp_ms = Arc::new(AtomicU64::new(0));
        let first_frame_ms = Arc::new(AtomicU64::new(0));
        if let Some(src) = &video_src {
            mark_first_frame(src, first_frame_ms.clone());
        }

        let bus = spawn_bus_watch(&pipeline, format!("whep-{}", info.resource_id));
        let owned = OwnedPipeline::new(pipeline);
        owned.set_state(gst::State::Playing).await?;

        let sdp = answer_gathered(
            &webrtcbin,
            offer,
            &mut gathering,
            config.peer.ice_gather_timeout,
            &info.resource_id,
        )
        .await?;
        // The sessions exist once the offer is applied; nothing reaches them
        // before the viewer has the answer.
        feedback::watch_session(&webrtcbin, remb.clone(), last_rtcp_ms.clone());

        let stats = ViewerStats::starting(&info, started_ms);
        let etag = crate::rtc::new_etag();
        let viewer = PipelineViewer {
            info,
            etag,
            plan,
            pipeline: owned,
            webrtcbin,
            video_src,
            audio_src,
            video: Mutex::new(None),
            audio: Mutex::new(None),
            adapter: Mutex::new(Adapter::new(Vec::new(), started_ms)),
            connection,
            bus: Mutex::new(Some(bus)),
            remb,
            last_rtcp_ms,
            first_frame_ms,
            stats: Mutex::new(stats),
            switches: AtomicU64::new(0),
            sampled_at_ms: AtomicU64::new(0),
            started,
            started_ms,
        };
        Ok((viewer, sdp))
    }

    /// Connects the viewer's appsrcs to the session's producers: called once
    /// the connection is up, so the first keyframe is not lost to a
    /// handshake still in progress.
    pub(in crate::egress) fn attach(&self, sources: &Sources) -> Result<(), EgressError> {
        if let (Some(src), Some((_, producer))) = (&self.audio_src, &sources.audio) {
            let link = producer
                .add_consumer(src)
                .map_err(|e| MediaError::Gst(format!("audio: {e:?}")))?;
            if let Ok(mut a) = self.audio.lock() {
                *a = Some(link);
            }
        }
        let Some(src) = self.video_src.as_ref().filter(|_| !self.info.audio_only) else {
            return Ok(());
        };
        let levels = sources.video_levels(self.video_codec());
        let Some(first) = levels.first() else {
            return Ok(());
        };
        let producers: Vec<_> = levels.iter().map(|l| l.producer.clone()).collect();
        let link = first
            .producer
            .add_consumer(src)
            .map_err(|e| MediaError::Gst(format!("video: {e:?}")))?;
        let names: Vec<Level> = levels.iter().map(|l| l.level()).collect();
        if let Ok(mut adapter) = self.adapter.lock() {
            *adapter = Adapter::new(names, now_ms() as u64);
        }
        if let Ok(mut v) = self.video.lock() {
            *v = Some(VideoFeed {
                link,
                level: 0,
                producers,
                carried: (0, 0),
            });
        }
        Ok(())
    }

    fn video_codec(&self) -> Option<Codec> {
        self.plan
            .media
            .iter()
            .find(|m| m.kind == MediaKind::Video)
            .map(|m| m.codec)
    }

    /// One monitoring step: reads the RTCP figures, feeds the adapter, and
    /// switches the video when it says so.
    pub(in crate::egress) async fn sample(&self, sources: &Sources, adapt: bool) {
        let reply = call_with_promise(
            &self.webrtcbin,
            "get-stats",
            vec![None::<gst::Pad>.to_value()],
            "reading stats",
        )
        .await;
        let report = match reply {
            Ok(Some(s)) => feedback::read_stats(&s),
            _ => feedback::Report::default(),
        };
        let now = now_ms() as u64;
        let remb = self.remb.recent(now);
        let (previous_bytes, previous_nacks, elapsed_ms) = {
            let s = self.stats();
            let at = self.sampled_at_ms.swap(now, Ordering::Relaxed);
            (
                s.bytes_sent,
                s.nacks_received,
                now.saturating_sub(if at == 0 { self.started_ms } else { at }),
            )
        };
        let bytes = report.bytes_sent();
        let sent_bps = (bytes.saturating_sub(previous_bytes) * 8000)
            .checked_div(elapsed_ms)
            .unwrap_or(0);
        let mut switched_to = None;
        if let (Ok(mut adapter), Ok(mut video)) = (self.adapter.lock(), self.video.lock()) {
            if let Some(feed) = video.as_mut() {
                let levels = sources.video_levels(self.video_codec());
                switched_to =
                    refresh_levels(&mut adapter, &mut feed.producers, feed.level, &levels, now);
                if adapt && switched_to.is_none() {
                    // No receiver report this interval, but the viewer's RTCP
                    // flows and asks for nothing again: no loss.
                    let nacks = report.nacks();
                    let quiet =
                        nacks == previous_nacks && now.saturating_sub(self.last_rtcp_ms()) < 3_000;
                    let loss = report.video_fraction_lost().or(quiet.then_some(0.0));
                    switched_to = adapter.on_feedback(crate::egress::adapt::Feedback {
                        now_ms: now,
                        sent_bps,
                        loss,
                        remb_bps: remb,
                    });
                }
                if let Some(level) = switched_to {
                    if let Some(producer) = feed.producers.get(level).cloned() {
                        let (f, d) = (feed.link.pushed(), feed.link.dropped());
                        match feed.link.change_producer(&producer, true) {
                            Ok(()) => {
                                feed.carried.0 += f;
                                feed.carried.1 += d;
                                feed.level = level;
                                self.switches.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                tracing::warn!(resource = %self.info.resource_id, "switching video: {e:?}")
                            }
                        }
                    }
                }
            }
        }
        if let Some(level) = switched_to {
            tracing::info!(
                session = %self.info.session_id,
                resource = %self.info.resource_id,
                level = %self.level_name(level),
                "viewer switched video"
            );
        }
        self.update_stats(&report, sent_bps, remb);
    }

    fn level_name(&self, level: usize) -> String {
        self.adapter
            .lock()
            .ok()
            .and_then(|a| a.levels().get(level).map(|l| l.name.clone()))
            .unwrap_or_else(|| "none".into())
    }

    fn update_stats(&self, report: &feedback::Report, sent_bps: u64, remb: Option<u64>) {
        let (level, estimate) = self
            .adapter
            .lock()
            .map(|a| (a.current(), a.estimate_bps()))
            .unwrap_or((0, 0));
        let (forwarded, dropped, has_video) = self
            .video
            .lock()
            .ok()
            .and_then(|v| {
                v.as_ref().map(|f| {
                    (
                        f.carried.0 + f.link.pushed(),
                        f.carried.1 + f.link.dropped(),
                        true,
                    )
                })
            })
            .unwrap_or((0, 0, false));
        let level_name = if has_video {
            self.level_name(level)
        } else {
            "none".into()
        };
        let first = self.first_frame_ms.load(Ordering::Relaxed);
        let state = connection_state_name(self.connection_state());
        if let Ok(mut s) = self.stats.lock() {
            s.sent_bitrate_bps = sent_bps;
            s.connection_state = state.into();
            s.level = level_name;
            s.level_switches = self.switches.load(Ordering::Relaxed);
            s.estimated_bandwidth_bps = estimate;
            s.bytes_sent = report.bytes_sent();
            s.packets_sent = report.packets_sent();
            s.nacks_received = report.nacks();
            s.plis_received = report.plis();
            s.fraction_lost = report.video_fraction_lost();
            s.rtt_ms = report.rtt_ms();
            s.remb_bps = remb;
            s.frames_forwarded = forwarded;
            s.frames_dropped = dropped;
            s.first_frame_ms = (first > 0).then(|| first.saturating_sub(self.started_ms));
        }
    }
}

/// Stamps each buffer with this pipeline's running time as it leaves the
/// viewer's queue. The producers' timestamps belong to other pipelines (the
/// publisher's jitter buffer runs them ahead of its clock), and webrtcbin's
/// network sink syncs on them: forwarding at arrival keeps the delay to what
/// the network adds.
fn stamp_on_arrival(src: &gst_app::AppSrc) {
    let Some(pad) = src.static_pad("src") else {
        return;
    };
    let element = src.clone().upcast::<gst::Element>().downgrade();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let now = element.upgrade().and_then(|e| e.current_running_time());
        if let (Some(now), Some(buffer)) = (now, info.buffer_mut()) {
            let buffer = buffer.make_mut();
            buffer.set_pts(now);
            buffer.set_dts(now);
        }
        gst::PadProbeReturn::Ok
    });
}

/// The fields of the negotiated caps that must not change with the source.
fn pinned_caps(negotiated: &gst::Caps) -> gst::Caps {
    let mut pinned = gst::Structure::new_empty("application/x-rtp");
    if let Some(s) = negotiated.structure(0) {
        for field in ["profile-level-id", "packetization-mode", "ssrc"] {
            if let Ok(v) = s.value(field) {
                pinned.set_value(field, v.clone());
            }
        }
    }
    gst::Caps::builder_full().structure(pinned).build()
}

/// Notes when the first video buffer reaches the viewer's payloader.
fn mark_first_frame(src: &gst_app::AppSrc, at: Arc<AtomicU64>) {
    let Some(pad) = src.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let _ = at.compare_exchange(0, now_ms() as u64, Ordering::Relaxed, Ordering::Relaxed);
        gst::PadProbeReturn::Remove
    });
}
