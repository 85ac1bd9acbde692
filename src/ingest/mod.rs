//! WHIP ingest: one publisher per session, each a webrtcbin pipeline whose
//! received media feeds in-process producers that later stages subscribe to.

mod publisher;
pub mod trickle;
mod watchdog;

pub use publisher::{MediaProducers, OnMediaReady, Publisher};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::auth::Claims;
use crate::cli::VideoCodecPref;
use crate::db::{Db, DbError, PublishEvent, Session};
use crate::media::ice::IceServer;
use crate::media::sdp::{self, SdpError};
use crate::media::{MediaError, StreamStats};
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Sdp(#[from] SdpError),
    #[error(transparent)]
    Fragment(#[from] trickle::FragmentError),
    #[error("session {0} already has a live publisher; DELETE its WHIP resource first")]
    Busy(String),
    #[error("no such WHIP resource")]
    NotFound,
    #[error("If-Match does not match the resource's ETag")]
    EtagMismatch,
    #[error("ICE restart is not supported; DELETE and publish again")]
    IceRestartUnsupported,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub ice_servers: Vec<IceServer>,
    pub ice_gather_timeout: Duration,
    pub media_timeout: Duration,
    pub connect_timeout: Duration,
    pub prefer_video_codec: VideoCodecPref,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            ice_servers: Vec::new(),
            ice_gather_timeout: Duration::from_secs(5),
            media_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(15),
            prefer_video_codec: VideoCodecPref::H264,
        }
    }
}

/// What later stages (HLS, recording, WebRTC egress) hear about publishes.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// A publish was answered (201).
    Started {
        session_id: String,
    },
    /// Every track the publisher offered is flowing into its producer.
    MediaReady {
        session_id: String,
        producers: MediaProducers,
    },
    Stopped {
        session_id: String,
        reason: String,
    },
}

/// The answer to a successful WHIP POST.
#[derive(Debug, Clone)]
pub struct PublishAnswer {
    pub resource_id: String,
    pub etag: String,
    pub sdp: String,
}

/// A live publish as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PublishStatus {
    pub resource_id: String,
    pub publisher_id: String,
    pub publisher_name: String,
    pub started_at: String,
    pub connection_state: String,
    /// From the WHIP offer's arrival to the first complete video frame.
    pub first_video_frame_ms: Option<u64>,
    pub video: Option<StreamStats>,
    pub audio: Option<StreamStats>,
}

enum Slot {
    /// Negotiating: the session is taken, but there is nothing to show yet.
    Pending(String),
    Live(Arc<Publisher>),
}

#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    config: IngestConfig,
    db: Db,
    slots: Mutex<HashMap<String, Slot>>,
    events: broadcast::Sender<IngestEvent>,
}

impl Ingest {
    pub fn new(config: IngestConfig, db: Db) -> Self {
        Ingest {
            inner: Arc::new(Inner {
                config,
                db,
                slots: Mutex::new(HashMap::new()),
                events: broadcast::channel(64).0,
            }),
        }
    }

    pub fn config(&self) -> &IngestConfig {
        &self.inner.config
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.inner.events.subscribe()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publisher(&self, session_id: &str) -> Option<Arc<Publisher>> {
        match self.slots().get(session_id) {
            Some(Slot::Live(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn status(&self, session_id: &str) -> Option<PublishStatus> {
        self.publisher(session_id)
            .map(|p| p.status(now_ms() as u64))
    }

    /// Answers a WHIP offer for `session`: the session is taken for the whole
    /// negotiation, so a second publisher gets 409 rather than a race.
    pub async fn publish(
        &self,
        session: &Session,
        who: &Claims,
        offer_text: &str,
    ) -> Result<PublishAnswer, IngestError> {
        tracing::trace!(session = %session.id, offer = offer_text, "WHIP offer");
        let mut offer = sdp::parse(offer_text)?;
        if sdp::unbundle_if_mixed_credentials(&mut offer) {
            tracing::debug!(session = %session.id, "offer bundles m-lines with different ICE credentials; answering unbundled");
        }
        let plan = sdp::plan_offer(&offer, self.inner.config.prefer_video_codec)?;
        let resource_id = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut slots = self.slots();
            if slots.contains_key(&session.id) {
                return Err(IngestError::Busy(session.id.clone()));
            }
            slots.insert(session.id.clone(), Slot::Pending(resource_id.clone()));
        }
        let result = self
            .start_publisher(session, who, offer, plan, &resource_id)
            .await;
        let mut slots = self.slots();
        match result {
            Ok((publisher, answer)) => {
                slots.insert(session.id.clone(), Slot::Live(publisher.clone()));
                drop(slots);
                watchdog::spawn(self.clone(), &publisher);
                let _ = self.inner.events.send(IngestEvent::Started {
                    session_id: session.id.clone(),
                });
                Ok(answer)
            }
            Err(e) => {
                if matches!(slots.get(&session.id), Some(Slot::Pending(r)) if *r == resource_id) {
                    slots.remove(&session.id);
                }
                Err(e)
            }
        }
    }

    async fn start_publisher(
        &self,
        session: &Session,
        who: &Claims,
        offer: gst_sdp::SDPMessage,
        plan: sdp::OfferPlan,
        resource_id: &str,
    ) -> Result<(Arc<Publisher>, PublishAnswer), IngestError> {
        let event = PublishEvent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            session_id: session.id.clone(),
            resource_id: resource_id.to_owned(),
            publisher_id: who.sub.clone(),
            publisher_name: who.name.clone(),
            video_codec: plan
                .codec(sdp::MediaKind::Video)
                .map(|c| c.name().to_owned()),
            audio_codec: plan
                .codec(sdp::MediaKind::Audio)
                .map(|c| c.name().to_owned()),
            started_at: now_ms(),
            stop_reason: None,
            stopped_at: None,
        };
        let events = self.inner.events.clone();
        let ready_session = session.id.clone();
        let on_ready: OnMediaReady = Box::new(move |producers| {
            let _ = events.send(IngestEvent::MediaReady {
                session_id: ready_session.clone(),
                producers,
            });
        });
        let (publisher, sdp) =
            Publisher::negotiate(&self.inner.config, event.clone(), offer, plan, on_ready).await?;
        self.inner.db.start_publish(&event).await?;
        tracing::info!(
            session = %session.id,
            resource = %resource_id,
            publisher = %who.sub,
            video = ?event.video_codec,
            audio = ?event.audio_codec,
            "publish started"
        );
        let answer = PublishAnswer {
            resource_id: resource_id.to_owned(),
            etag: publisher.etag(),
            sdp,
        };
        Ok((publisher, answer))
    }

    /// Applies a trickle-ICE PATCH to a live resource.
    pub fn patch(
        &self,
        session_id: &str,
        resource_id: &str,
        if_match: Option<&str>,
        fragment: &str,
    ) -> Result<(), IngestError> {
        let publisher = self
            .publisher(session_id)
            .filter(|p| p.resource_id() == resource_id)
            .ok_or(IngestError::NotFound)?;
        if let Some(tag) = if_match {
            if tag.trim() != "*" && tag.trim() != publisher.etag() {
                return Err(IngestError::EtagMismatch);
            }
        }
        let fragment = trickle::parse_fragment(fragment)?;
        publisher.add_trickle(&fragment)
    }

    /// Ends the publish on `resource_id` (DELETE, failure, session end).
    pub async fn stop(
        &self,
        session_id: &str,
        resource_id: Option<&str>,
        reason: &str,
    ) -> Result<(), IngestError> {
        let publisher = {
            let mut slots = self.slots();
            match slots.get(session_id) {
                Some(Slot::Live(p)) if resource_id.is_none_or(|r| r == p.resource_id()) => {
                    let p = p.clone();
                    slots.remove(session_id);
                    p
                }
                _ => return Err(IngestError::NotFound),
            }
        };
        tracing::info!(session = %session_id, resource = %publisher.resource_id(), reason, "publish stopped");
        let _ = self.inner.events.send(IngestEvent::Stopped {
            session_id: session_id.to_owned(),
            reason: reason.to_owned(),
        });
        publisher.shutdown().await;
        self.inner
            .db
            .stop_publish(publisher.event_id(), reason)
            .await?;
        Ok(())
    }

    /// Stops every publish (server shutdown).
    pub async fn stop_all(&self, reason: &str) {
        let sessions: Vec<String> = self.slots().keys().cloned().collect();
        for session in sessions {
            if let Err(e) = self.stop(&session, None, reason).await {
                if !matches!(e, IngestError::NotFound) {
                    tracing::warn!(session = %session, "stopping publish: {e}");
                }
            }
        }
    }
}
