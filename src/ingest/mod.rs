//! WHIP ingest: one publisher per session, each a webrtcbin pipeline whose
//! received media feeds in-process producers that later stages subscribe to.

mod publisher;
mod watchdog;

/// Trickle fragments are parsed by the shared WebRTC-resource core.
pub use crate::rtc::trickle;

pub use publisher::{MediaProducers, OnMediaReady, Publisher};

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::auth::Claims;
use crate::db::{Db, DbError, PublishEvent, Session};
use crate::ids::{ResourceId, SessionId};
use crate::media::sdp;
use crate::media::{MediaError, StreamStats, VideoCodecPref};
use crate::rtc::{self, answer_owned, held_by, PeerConfig, Registry, Reservation, RtcError};
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Rtc(#[from] RtcError),
    #[error("session {0} already has a live publisher; DELETE its WHIP resource first")]
    Busy(String),
    #[error("no such WHIP resource")]
    NotFound,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub peer: PeerConfig,
    pub media_timeout: Duration,
    pub prefer_video_codec: VideoCodecPref,
    /// Publishes (negotiating or live) one user may hold across sessions.
    pub max_publishes_per_user: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            peer: PeerConfig {
                ice_servers: Vec::new(),
                ice_gather_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(15),
            },
            media_timeout: Duration::from_secs(5),
            prefer_video_codec: VideoCodecPref::H264,
            max_publishes_per_user: 2,
        }
    }
}

/// What later stages (HLS, recording, WebRTC egress) hear about publishes.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// A publish was answered (201).
    Started { session_id: SessionId },
    /// Every track the publisher offered is flowing into its producer.
    MediaReady {
        session_id: SessionId,
        /// The publish's WHIP resource: a reconnect has a new one.
        resource_id: ResourceId,
        producers: MediaProducers,
    },
    Stopped {
        session_id: SessionId,
        resource_id: ResourceId,
        reason: String,
    },
}

/// The answer to a successful WHIP POST.
pub type PublishAnswer = rtc::Answer;

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

/// Protocol name in errors and the registry.
const KIND: &str = "WHIP";

#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    config: IngestConfig,
    db: Db,
    /// One resource per session (pending while negotiating, then live).
    slots: Registry<Publisher>,
    events: broadcast::Sender<IngestEvent>,
}

impl Ingest {
    pub fn new(config: IngestConfig, db: Db) -> Self {
        Ingest {
            inner: Arc::new(Inner {
                config,
                db,
                slots: Registry::default(),
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

    pub fn publisher(&self, session_id: &str) -> Option<Arc<Publisher>> {
        self.inner
            .slots
            .lock()
            .get(session_id)?
            .values()
            .find_map(|e| e.live().cloned())
    }

    /// Every live publish (for followers reconciling after a lag).
    pub fn publishers(&self) -> Vec<Arc<Publisher>> {
        self.inner
            .slots
            .lock()
            .values()
            .flat_map(|slots| slots.values().filter_map(|e| e.live().cloned()))
            .collect()
    }

    pub fn status(&self, session_id: &str) -> Option<PublishStatus> {
        self.publisher(session_id)
            .map(|p| p.status(now_ms() as u64))
    }

    /// Answers a WHIP offer for `session`: the session is taken for the whole
    /// negotiation, so a second publisher gets 409 rather than a race. The
    /// negotiation runs on a task of its own: a client hanging up mid-way
    /// neither cancels it half-done nor leaves the session taken.
    pub async fn publish(
        &self,
        session: &Session,
        who: &Claims,
        offer_text: &str,
    ) -> Result<PublishAnswer, IngestError> {
        tracing::trace!(session = %session.id, offer = offer_text, "WHIP offer");
        let mut offer = sdp::parse(offer_text).map_err(RtcError::from)?;
        if sdp::unbundle_if_mixed_credentials(&mut offer) {
            tracing::debug!(session = %session.id, "offer bundles m-lines with different ICE credentials; answering unbundled");
        }
        let plan = sdp::plan_offer(&offer, self.inner.config.prefer_video_codec)
            .map_err(RtcError::from)?;
        let max = self.inner.config.max_publishes_per_user;
        let seat = self
            .inner
            .slots
            .reserve(&session.id, &who.sub, false, |all| {
                if all.get(session.id.as_str()).is_some_and(|s| !s.is_empty()) {
                    return Err(IngestError::Busy(session.id.clone()));
                }
                if held_by(all, &who.sub, None) >= max {
                    return Err(RtcError::PerUserLimit {
                        max,
                        what: "WHIP publishes",
                    }
                    .into());
                }
                Ok(())
            })?;
        let ingest = self.clone();
        let undo = self.clone();
        let (session, who) = (session.clone(), who.clone());
        let session_id = session.id.clone();
        answer_owned(
            async move { ingest.start_publisher(seat, &session, &who, offer, plan).await },
            move |answer| async move {
                tracing::info!(session = %session_id, resource = %answer.resource_id, "WHIP client left before its answer");
                let _ = undo
                    .stop(&session_id, Some(&answer.resource_id), "abandoned")
                    .await;
            },
        )
        .await
    }

    async fn start_publisher(
        &self,
        seat: Reservation<Publisher>,
        session: &Session,
        who: &Claims,
        offer: gst_sdp::SDPMessage,
        plan: sdp::OfferPlan,
    ) -> Result<PublishAnswer, IngestError> {
        let resource_id = ResourceId::from(seat.resource_id());
        let event = PublishEvent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            session_id: session.id.clone(),
            resource_id: resource_id.to_string(),
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
        let ready_session = SessionId::from(session.id.as_str());
        let ready_resource = resource_id.clone();
        let on_ready: OnMediaReady = Box::new(move |producers| {
            let _ = events.send(IngestEvent::MediaReady {
                session_id: ready_session.clone(),
                resource_id: ready_resource.clone(),
                producers,
            });
        });
        let (publisher, sdp) =
            Publisher::negotiate(&self.inner.config, event.clone(), offer, plan, on_ready).await?;
        self.inner.db.start_publish(&event).await?;
        let etag = publisher.etag();
        if !seat.promote(publisher.clone(), etag.clone()) {
            publisher.shutdown().await;
            let _ = self
                .inner
                .db
                .stop_publish(publisher.event_id(), "abandoned")
                .await;
            return Err(RtcError::Abandoned.into());
        }
        tracing::info!(
            session = %session.id,
            resource = %resource_id,
            publisher = %who.sub,
            video = ?event.video_codec,
            audio = ?event.audio_codec,
            "publish started"
        );
        watchdog::spawn(self.clone(), &publisher);
        let _ = self.inner.events.send(IngestEvent::Started {
            session_id: session.id.as_str().into(),
        });
        Ok(PublishAnswer {
            resource_id,
            etag,
            sdp,
        })
    }

    /// Applies a trickle-ICE PATCH to a live resource.
    pub fn patch(
        &self,
        session_id: &str,
        resource_id: &str,
        if_match: Option<&str>,
        fragment: &str,
    ) -> Result<(), IngestError> {
        rtc::trickle(
            &self.inner.slots,
            session_id,
            resource_id,
            (KIND, "publish"),
            if_match,
            fragment,
        )?;
        Ok(())
    }

    /// Ends the publish on `resource_id` (DELETE, failure, session end).
    pub async fn stop(
        &self,
        session_id: &str,
        resource_id: Option<&str>,
        reason: &str,
    ) -> Result<(), IngestError> {
        let resource_id = match resource_id {
            Some(r) => r.to_owned(),
            None => self
                .publisher(session_id)
                .map(|p| p.resource_id().to_owned())
                .ok_or(IngestError::NotFound)?,
        };
        let publisher = self
            .inner
            .slots
            .remove_live(session_id, &resource_id)
            .ok_or(IngestError::NotFound)?;
        tracing::info!(session = %session_id, resource = %publisher.resource_id(), reason, "publish stopped");
        let _ = self.inner.events.send(IngestEvent::Stopped {
            session_id: session_id.into(),
            resource_id: publisher.resource_id().into(),
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
        for session in self.inner.slots.sessions() {
            if let Err(e) = self.stop(&session, None, reason).await {
                if !matches!(e, IngestError::NotFound) {
                    tracing::warn!(session = %session, "stopping publish: {e}");
                }
            }
        }
    }
}
