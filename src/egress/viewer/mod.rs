//! A WebRTC viewer, on one of two implementations behind the same
//! lifecycle: a webrtcbin pipeline of its own (`pipeline`), or a peer in the
//! shared forwarding engine (`forwarded`, str0m).

mod forwarded;
mod pipeline;

pub use forwarded::ForwardedViewer;
pub use pipeline::PipelineViewer;

use std::time::Instant;

use gst_webrtc::WebRTCPeerConnectionState;
use serde::Serialize;
use tokio::sync::watch;

use super::adapt::{Adapter, Level};
use super::{EgressError, Sources, VideoLevel};
use crate::auth::Role;
use crate::ids::{ParticipantId, ResourceId, SessionId};
use crate::media::sdp::OfferPlan;
use crate::media::BusEvent;

/// Who watches, and how.
#[derive(Debug, Clone)]
pub struct ViewerInfo {
    pub resource_id: ResourceId,
    pub session_id: SessionId,
    /// The publish whose media it receives.
    pub publish_id: ResourceId,
    pub user_id: ParticipantId,
    pub user_name: String,
    pub role: Role,
    pub audio_only: bool,
    /// Counts against the session's WebRTC cap (the instructor does not).
    pub capped: bool,
}

/// A viewer as the API shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ViewerStats {
    pub resource_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: String,
    pub started_at: String,
    pub connection_state: String,
    pub audio_only: bool,
    /// What the viewer gets: "source", a rung's name, or "none".
    pub level: String,
    pub level_switches: u64,
    pub estimated_bandwidth_bps: u64,
    pub sent_bitrate_bps: u64,
    pub bytes_sent: u64,
    pub packets_sent: u64,
    pub nacks_received: u64,
    pub plis_received: u64,
    pub fraction_lost: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub remb_bps: Option<u64>,
    /// Video frames handed to the viewer's queue, and dropped before it
    /// (queue full, or waiting for a keyframe after a drop or a switch).
    pub frames_forwarded: u64,
    pub frames_dropped: u64,
    /// From the offer's arrival to the first video frame sent.
    pub first_frame_ms: Option<u64>,
}

impl ViewerStats {
    /// A new viewer's figures, before anything was sent.
    fn starting(info: &ViewerInfo, started_ms: u64) -> Self {
        ViewerStats {
            resource_id: info.resource_id.to_string(),
            user_id: info.user_id.to_string(),
            user_name: info.user_name.clone(),
            role: info.role.as_str().into(),
            started_at: crate::time::rfc3339(started_ms as i64),
            connection_state: "new".into(),
            audio_only: info.audio_only,
            level: "none".into(),
            ..ViewerStats::default()
        }
    }
}

pub enum Viewer {
    Pipeline(PipelineViewer),
    Forwarded(ForwardedViewer),
}

impl crate::rtc::Resource for Viewer {
    fn plan(&self) -> &OfferPlan {
        match self {
            Viewer::Pipeline(v) => v.plan(),
            Viewer::Forwarded(v) => &v.plan,
        }
    }

    fn add_ice_candidate(&self, mline: u32, candidate: &str) {
        match self {
            Viewer::Pipeline(v) => v.add_ice_candidate(mline, candidate),
            // ICE-lite: the viewer's checks reach us from wherever it is.
            Viewer::Forwarded(_) => {}
        }
    }
}

impl Viewer {
    pub fn info(&self) -> &ViewerInfo {
        match self {
            Viewer::Pipeline(v) => &v.info,
            Viewer::Forwarded(v) => &v.info,
        }
    }

    pub fn resource_id(&self) -> &str {
        &self.info().resource_id
    }

    pub fn etag(&self) -> String {
        match self {
            Viewer::Pipeline(v) => v.etag(),
            Viewer::Forwarded(v) => v.etag.clone(),
        }
    }

    pub fn stats(&self) -> ViewerStats {
        match self {
            Viewer::Pipeline(v) => v.stats(),
            Viewer::Forwarded(v) => v.stats(),
        }
    }

    pub fn connection_state(&self) -> WebRTCPeerConnectionState {
        *self.connection().borrow()
    }

    pub(super) fn connection(&self) -> watch::Receiver<WebRTCPeerConnectionState> {
        match self {
            Viewer::Pipeline(v) => v.connection.clone(),
            Viewer::Forwarded(v) => v.connection(),
        }
    }

    pub(super) fn take_bus(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<BusEvent>> {
        match self {
            Viewer::Pipeline(v) => v.bus.lock().ok().and_then(|mut b| b.take()),
            Viewer::Forwarded(_) => None,
        }
    }

    pub(super) fn started(&self) -> Instant {
        match self {
            Viewer::Pipeline(v) => v.started,
            Viewer::Forwarded(v) => v.started,
        }
    }

    /// When the viewer was last heard from (ms since the epoch; 0: never).
    pub fn last_rtcp_ms(&self) -> u64 {
        match self {
            Viewer::Pipeline(v) => v.last_rtcp_ms(),
            Viewer::Forwarded(v) => v.last_heard_ms(),
        }
    }

    pub(super) async fn shutdown(&self) {
        match self {
            Viewer::Pipeline(v) => v.shutdown().await,
            Viewer::Forwarded(v) => v.shutdown(),
        }
    }

    /// Connects the viewer to the session's media (once connected).
    pub(super) fn attach(&self, sources: &Sources) -> Result<(), EgressError> {
        match self {
            Viewer::Pipeline(v) => v.attach(sources),
            Viewer::Forwarded(v) => {
                v.attach(sources);
                Ok(())
            }
        }
    }

    /// One monitoring step: figures, adaptation.
    pub(super) async fn sample(&self, sources: &Sources, adapt: bool) {
        match self {
            Viewer::Pipeline(v) => v.sample(sources, adapt).await,
            Viewer::Forwarded(v) => v.sample(sources, adapt),
        }
    }
}

/// The levels a viewer can get, as the ladder comes and goes: when they
/// changed, the adapter starts over with them and the viewer keeps what it
/// gets if it is still there (the level to move it to is returned); else the
/// source's measured bitrate is refreshed.
fn refresh_levels(
    adapter: &mut Adapter,
    producers: &mut Vec<gst_utils::StreamProducer>,
    current_level: usize,
    levels: &[VideoLevel],
    now_ms: u64,
) -> Option<usize> {
    let names: Vec<Level> = levels.iter().map(|l| l.level()).collect();
    // The same levels from the same producers: a ladder that restarted (a
    // composition began, the top rung was handed to an encoder) has new ones
    // under the same names, and the old ones no longer produce.
    let same_producers = levels
        .iter()
        .map(|l| l.producer.appsink())
        .eq(producers.iter().map(|p| p.appsink()));
    if same_producers
        && names
            .iter()
            .map(|l| &l.name)
            .eq(adapter.levels().iter().map(|l| &l.name))
    {
        if let Some(l) = levels.first() {
            adapter.set_bitrate(0, l.bitrate_bps);
        }
        return None;
    }
    let current = adapter.levels().get(current_level).map(|l| l.name.clone());
    *adapter = Adapter::new(names, now_ms);
    *producers = levels.iter().map(|l| l.producer.clone()).collect();
    let keep = current
        .and_then(|c| adapter.levels().iter().position(|l| l.name == c))
        .unwrap_or(0);
    (keep != 0 || current_level != 0).then_some(keep)
}
