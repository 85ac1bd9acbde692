//! Watches one publisher: ends the publish when its connection fails, its media
//! stops, or its pipeline errors, and records why.

use std::sync::Arc;
use std::time::Duration;

use gst_webrtc::WebRTCPeerConnectionState;

use super::{Ingest, Publisher};
use crate::media::BusEvent;
use crate::time::now_ms;

const TICK: Duration = Duration::from_millis(500);

pub(super) fn spawn(ingest: Ingest, publisher: &Arc<Publisher>) {
    let weak = Arc::downgrade(publisher);
    let mut bus = publisher.bus.lock().ok().and_then(|mut b| b.take());
    let mut connection = publisher.connection.clone();
    let session_id = publisher.session_id().to_owned();
    let resource_id = publisher.resource_id().to_owned();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        let mut last_sample = 0u64;
        let reason = loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = connection.changed() => {
                    if changed.is_err() { break None; }
                    match *connection.borrow_and_update() {
                        WebRTCPeerConnectionState::Failed => break Some("ice-failed".to_owned()),
                        WebRTCPeerConnectionState::Closed => break Some("connection-closed".to_owned()),
                        _ => continue,
                    }
                }
                Some(event) = async { match bus.as_mut() { Some(b) => b.recv().await, None => None } } => {
                    match event {
                        BusEvent::Error { source, message, debug: details } => {
                            tracing::warn!(session = %session_id, %source, ?details, "publisher pipeline error: {message}");
                            break Some(format!("pipeline-error: {message}"));
                        }
                        BusEvent::Eos => break Some("end-of-stream".to_owned()),
                        BusEvent::Element { .. } => continue,
                    }
                }
            }
            let Some(p) = weak.upgrade() else { break None };
            let now = now_ms() as u64;
            if now >= last_sample + 1000 {
                p.video.sample(now);
                p.audio.sample(now);
                last_sample = now;
            }
            let config = ingest.config();
            let last_media = [p.video.last_at_ms(), p.audio.last_at_ms()]
                .into_iter()
                .flatten()
                .max();
            match last_media {
                Some(t) if now.saturating_sub(t) > config.media_timeout.as_millis() as u64 => {
                    break Some("media-timeout".to_owned());
                }
                None if p.started.elapsed() > config.peer.connect_timeout => {
                    break Some("connect-timeout".to_owned());
                }
                _ => {}
            }
        };
        if let Some(reason) = reason {
            // NotFound: someone else (DELETE, session end) stopped it first.
            let _ = ingest.stop(&session_id, Some(&resource_id), &reason).await;
        }
    });
}
