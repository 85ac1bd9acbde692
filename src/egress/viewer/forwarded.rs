//! A viewer in the shared forwarding engine: what it receives (audio, the
//! video level its link allows) is chosen here, once a second, from the
//! figures the engine keeps for it; the engine does the sending.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use gst_webrtc::WebRTCPeerConnectionState;
use tokio::sync::watch;

use super::{refresh_levels, ViewerInfo, ViewerStats};
use crate::egress::adapt::{Adapter, Feedback};
use crate::egress::feedback::REMB_MAX_AGE_MS;
use crate::egress::forward::{ForwardError, Forwarder, Peer, Track};
use crate::egress::Sources;
use crate::media::sdp::{Codec, MediaKind, OfferPlan};
use crate::media::webrtc::connection_state_name;
use crate::time::now_ms;

/// The video a viewer gets: the level chosen and the producers by level.
struct VideoChoice {
    level: usize,
    producers: Vec<gst_utils::StreamProducer>,
}

pub struct ForwardedViewer {
    pub info: ViewerInfo,
    pub(in crate::egress) etag: String,
    pub(in crate::egress) plan: OfferPlan,
    peer: Peer,
    adapter: Mutex<Adapter>,
    video: Mutex<Option<VideoChoice>>,
    stats: Mutex<ViewerStats>,
    switches: AtomicU64,
    /// (bytes sent, when) at the last sample.
    sampled: Mutex<(u64, u64)>,
    pub(in crate::egress) started: Instant,
    started_ms: u64,
}

impl ForwardedViewer {
    pub fn negotiate(
        forwarder: &Forwarder,
        info: ViewerInfo,
        offer: &str,
        plan: OfferPlan,
    ) -> Result<(ForwardedViewer, String), ForwardError> {
        let started = Instant::now();
        let started_ms = now_ms() as u64;
        let (peer, answer) = forwarder.open(offer, &plan)?;
        let stats = ViewerStats::starting(&info, started_ms);
        Ok((
            ForwardedViewer {
                info,
                etag: crate::rtc::new_etag(),
                plan,
                peer,
                adapter: Mutex::new(Adapter::new(Vec::new(), started_ms)),
                video: Mutex::new(None),
                stats: Mutex::new(stats),
                switches: AtomicU64::new(0),
                sampled: Mutex::new((0, started_ms)),
                started,
                started_ms,
            },
            answer,
        ))
    }

    pub fn connection(&self) -> watch::Receiver<WebRTCPeerConnectionState> {
        self.peer.connection()
    }

    pub fn last_heard_ms(&self) -> u64 {
        self.peer.figures().last_heard_ms
    }

    pub fn stats(&self) -> ViewerStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn shutdown(&self) {
        self.peer.close();
    }

    fn video_codec(&self) -> Option<Codec> {
        self.plan.codec(MediaKind::Video)
    }

    /// Audio from the publisher, video from the best level; called once the
    /// connection is up, so the first keyframe is not lost to the handshake.
    pub fn attach(&self, sources: &Sources) {
        if self.plan.codec(MediaKind::Audio).is_some() {
            if let Some((_, producer)) = &sources.audio {
                self.peer.attach(Track::Audio, Some(producer));
            }
        }
        if self.info.audio_only {
            return;
        }
        let levels = sources.video_levels(self.video_codec());
        let Some(first) = levels.first() else {
            return;
        };
        self.peer.attach(Track::Video, Some(&first.producer));
        if let Ok(mut adapter) = self.adapter.lock() {
            *adapter = Adapter::new(levels.iter().map(|l| l.level()).collect(), now_ms() as u64);
        }
        if let Ok(mut video) = self.video.lock() {
            *video = Some(VideoChoice {
                level: 0,
                producers: levels.iter().map(|l| l.producer.clone()).collect(),
            });
        }
    }

    /// One monitoring step: the engine's figures, the adapter, a switch.
    pub fn sample(&self, sources: &Sources, adapt: bool) {
        let figures = self.peer.figures();
        let now = now_ms() as u64;
        let sent_bps = match self.sampled.lock() {
            Ok(mut s) => {
                let (bytes, at) = *s;
                *s = (figures.bytes_sent, now);
                (figures.bytes_sent.saturating_sub(bytes) * 8000)
                    .checked_div(now.saturating_sub(at))
                    .unwrap_or(0)
            }
            Err(_) => 0,
        };
        // A REMB counts while fresh, and only as a sign of congestion (below
        // what we send): a receiver's estimate grows only with what it gets
        // (about 1.5 times), so as a ceiling it would hold a viewer on a
        // rung forever after the link frees up.
        let remb = figures
            .remb_bps
            .filter(|_| now.saturating_sub(figures.remb_at_ms) <= REMB_MAX_AGE_MS)
            .filter(|r| *r < sent_bps);
        let mut switched_to = None;
        if let (Ok(mut adapter), Ok(mut video)) = (self.adapter.lock(), self.video.lock()) {
            if let Some(choice) = video.as_mut() {
                let levels = sources.video_levels(self.video_codec());
                switched_to = refresh_levels(
                    &mut adapter,
                    &mut choice.producers,
                    choice.level,
                    &levels,
                    now,
                );
                if adapt && switched_to.is_none() {
                    tracing::debug!(
                        resource = %self.info.resource_id,
                        sent_bps,
                        loss = ?figures.fraction_lost,
                        remb = ?remb,
                        estimate = adapter.estimate_bps(),
                        "viewer feedback"
                    );
                    switched_to = adapter.on_feedback(Feedback {
                        now_ms: now,
                        sent_bps,
                        loss: figures.fraction_lost,
                        remb_bps: remb,
                    });
                }
                if let Some(level) = switched_to {
                    if let Some(producer) = choice.producers.get(level) {
                        self.peer.attach(Track::Video, Some(producer));
                        choice.level = level;
                        self.switches.fetch_add(1, Ordering::Relaxed);
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
        self.update_stats(sent_bps);
    }

    fn level_name(&self, level: usize) -> String {
        self.adapter
            .lock()
            .ok()
            .and_then(|a| a.levels().get(level).map(|l| l.name.clone()))
            .unwrap_or_else(|| "none".into())
    }

    fn update_stats(&self, sent_bps: u64) {
        let figures = self.peer.figures();
        let (level, estimate) = self
            .adapter
            .lock()
            .map(|a| (a.current(), a.estimate_bps()))
            .unwrap_or((0, 0));
        let has_video = self.video.lock().map(|v| v.is_some()).unwrap_or(false);
        let level_name = if has_video {
            self.level_name(level)
        } else {
            "none".into()
        };
        let state = connection_state_name(*self.peer.connection().borrow());
        if let Ok(mut s) = self.stats.lock() {
            s.sent_bitrate_bps = sent_bps;
            s.connection_state = state.into();
            s.level = level_name;
            s.level_switches = self.switches.load(Ordering::Relaxed);
            s.estimated_bandwidth_bps = estimate;
            s.bytes_sent = figures.bytes_sent;
            s.packets_sent = figures.packets_sent;
            s.nacks_received = figures.nacks_received;
            s.plis_received = figures.plis_received;
            s.fraction_lost = figures.fraction_lost;
            s.rtt_ms = figures.rtt_ms;
            s.remb_bps = figures.remb_bps;
            s.frames_forwarded = figures.frames_forwarded;
            s.frames_dropped = figures.frames_dropped;
            s.first_frame_ms = figures
                .first_frame_at_ms
                .map(|t| t.saturating_sub(self.started_ms));
        }
    }
}
