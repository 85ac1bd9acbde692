//! Watches one viewer: attaches its media once connected, samples its RTCP
//! figures and adapts its video every second, and reaps it when its
//! connection fails, its RTCP stops (a closed tab sends no DELETE), or its
//! pipeline errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gst_webrtc::WebRTCPeerConnectionState;

use super::{Egress, Viewer};
use crate::media::BusEvent;
use crate::time::now_ms;

const TICK: Duration = Duration::from_secs(1);

pub(super) fn spawn(egress: Egress, viewer: &Arc<Viewer>) {
    let weak = Arc::downgrade(viewer);
    let mut bus = viewer.take_bus();
    let mut connection = viewer.connection();
    let session_id = viewer.info().session_id.clone();
    let resource_id = viewer.info().resource_id.clone();
    let publish_id = viewer.info().publish_id.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        let mut connected_at: Option<Instant> = None;
        let reason = loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = connection.changed() => {
                    if changed.is_err() { break None; }
                    let state = *connection.borrow_and_update();
                    match state {
                        WebRTCPeerConnectionState::Failed => break Some("ice-failed"),
                        WebRTCPeerConnectionState::Closed => break Some("connection-closed"),
                        WebRTCPeerConnectionState::Connected if connected_at.is_none() => {}
                        _ => continue,
                    }
                }
                Some(event) = async { match bus.as_mut() { Some(b) => b.recv().await, None => None } } => {
                    match event {
                        BusEvent::Error { source, message, debug: details } => {
                            tracing::warn!(session = %session_id, resource = %resource_id, %source, ?details, "viewer pipeline error: {message}");
                            break Some("pipeline-error");
                        }
                        BusEvent::Eos | BusEvent::Element { .. } => continue,
                    }
                }
            }
            let Some(viewer) = weak.upgrade() else {
                break None;
            };
            let config = egress.config();
            // The publish this viewer watches (the main one, a screen
            // share, a student on stage), with its lighter encodings now.
            let Some(sources) = egress.sources_of_resource(&session_id, &publish_id) else {
                break Some("publisher-left");
            };
            if connected_at.is_none() {
                if viewer.connection_state() == WebRTCPeerConnectionState::Connected {
                    connected_at = Some(Instant::now());
                    if let Err(e) = viewer.attach(&sources) {
                        tracing::warn!(session = %session_id, resource = %resource_id, "attaching media: {e}");
                        break Some("attach-failed");
                    }
                } else if viewer.started().elapsed() > config.peer.connect_timeout {
                    break Some("connect-timeout");
                }
                continue;
            }
            viewer.sample(&sources, config.adapt).await;
            let last_rtcp = viewer.last_rtcp_ms();
            let silent_for = if last_rtcp == 0 {
                connected_at.map(|t| t.elapsed()).unwrap_or_default()
            } else {
                Duration::from_millis((now_ms() as u64).saturating_sub(last_rtcp))
            };
            if silent_for > config.rtcp_timeout {
                break Some("rtcp-timeout");
            }
        };
        if let Some(reason) = reason {
            // NotFound: DELETE or the publisher's end stopped it first.
            let _ = egress.stop(&session_id, &resource_id, reason).await;
        }
    });
}
