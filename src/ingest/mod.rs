//! WHIP ingest: one publisher per session, each a webrtcbin pipeline whose
//! received media feeds in-process producers that later stages subscribe to.

mod publisher;
mod watchdog;

/// Trickle fragments are parsed by the shared WebRTC-resource core.
pub use crate::rtc::trickle;

pub use publisher::{MediaProducers, OnMediaReady, Publisher};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::auth::Claims;
use crate::db::{Db, DbError, PublishEvent, Session};
use crate::ids::{ResourceId, SessionId};
use crate::media::sdp;
use crate::media::{MediaError, PublishKind, StreamStats, VideoCodecPref};
use crate::rtc::{self, answer_owned, held_by, PeerConfig, Registry, Reservation, RtcError, Seat};
use crate::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Rtc(#[from] RtcError),
    #[error("{0}")]
    Taken(String),
    #[error("the stage is full: {max} students publish at once at most")]
    StageFull { max: usize },
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
    /// Students publishing on one session's stage at once.
    pub max_stage_publishes: usize,
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
            max_stage_publishes: 4,
        }
    }
}

/// What later stages (HLS, recording, WebRTC egress) hear about publishes.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// A publish was answered (201).
    Started {
        session_id: SessionId,
        resource_id: ResourceId,
        kind: PublishKind,
    },
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
    /// The session's main broadcast (what HLS, the recording and plain WHEP
    /// viewers get) is now this publish, or (None) nothing: the instructor's
    /// camera, else the first publish on stage whose media flows.
    MainChanged {
        session_id: SessionId,
        main: Option<(ResourceId, MediaProducers)>,
    },
}

/// The answer to a successful WHIP POST.
pub type PublishAnswer = rtc::Answer;

/// A live publish as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PublishStatus {
    pub resource_id: String,
    pub kind: PublishKind,
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
    /// The session's publishes (pending while negotiating, then live).
    slots: Registry<Publisher>,
    events: broadcast::Sender<IngestEvent>,
    /// The main publish last announced per session (`MainChanged`).
    announced_main: std::sync::Mutex<HashMap<SessionId, ResourceId>>,
}

impl Ingest {
    pub fn new(config: IngestConfig, db: Db) -> Self {
        Ingest {
            inner: Arc::new(Inner {
                config,
                db,
                slots: Registry::default(),
                events: broadcast::channel(64).0,
                announced_main: std::sync::Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &IngestConfig {
        &self.inner.config
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.inner.events.subscribe()
    }

    /// The session's main publish: the instructor's camera, else the first
    /// on stage (a student the class called on while no camera is live);
    /// a screen share alone is not a class's broadcast.
    pub fn publisher(&self, session_id: &str) -> Option<Arc<Publisher>> {
        main_of(self.publishes_of(session_id))
    }

    /// One live publish of the session.
    pub fn publish(&self, session_id: &str, resource_id: &str) -> Option<Arc<Publisher>> {
        self.inner.slots.get(session_id, resource_id)
    }

    /// The session's live publishes, oldest first.
    pub fn publishes_of(&self, session_id: &str) -> Vec<Arc<Publisher>> {
        let mut all: Vec<Arc<Publisher>> = self
            .inner
            .slots
            .lock()
            .get(session_id)
            .map(|s| s.values().filter_map(|e| e.live().cloned()).collect())
            .unwrap_or_default();
        all.sort_by_key(|p| p.started_at_ms());
        all
    }

    /// Live publishes in the session.
    pub fn publish_count(&self, session_id: &str) -> usize {
        self.inner
            .slots
            .lock()
            .get(session_id)
            .map_or(0, |s| s.values().filter(|e| e.live().is_some()).count())
    }

    /// The publishes `participant` holds in the session.
    pub fn publishes_by(&self, session_id: &str, participant: &str) -> Vec<Arc<Publisher>> {
        self.publishes_of(session_id)
            .into_iter()
            .filter(|p| p.publisher_id() == participant)
            .collect()
    }

    /// Ends every publish `participant` holds in the session (demoted,
    /// kicked).
    pub async fn stop_user(&self, session_id: &str, participant: &str, reason: &str) {
        for p in self.publishes_by(session_id, participant) {
            let _ = self.stop(session_id, Some(p.resource_id()), reason).await;
        }
    }

    /// Announces the session's main publish when it changed.
    fn announce_main(&self, session_id: &str) {
        // Under the lock from choice to send: announcements from the media
        // thread and from a stop cannot cross.
        let mut announced = self
            .inner
            .announced_main
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let main = self.publisher(session_id).and_then(|p| {
            p.ready_producers()
                .map(|m| (ResourceId::from(p.resource_id()), m))
        });
        let now = main.as_ref().map(|(id, _)| id.clone());
        if announced.get(session_id) == now.as_ref() {
            return;
        }
        match now {
            Some(id) => announced.insert(session_id.into(), id),
            None => announced.remove(session_id),
        };
        let _ = self.inner.events.send(IngestEvent::MainChanged {
            session_id: session_id.into(),
            main,
        });
    }

    /// Every session's main publish (for followers reconciling after a lag).
    pub fn mains(&self) -> Vec<Arc<Publisher>> {
        self.inner
            .slots
            .sessions()
            .iter()
            .filter_map(|s| self.publisher(s))
            .collect()
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

    /// Every live publish of the session, oldest first.
    pub fn statuses(&self, session_id: &str) -> Vec<PublishStatus> {
        let now = now_ms() as u64;
        self.publishes_of(session_id)
            .iter()
            .map(|p| p.status(now))
            .collect()
    }

    /// Answers a WHIP offer for `session`: the seat (`kind`) is taken for the
    /// whole negotiation, so a second camera, a second screen share or a
    /// student past the stage's size gets 409 rather than a race. The
    /// negotiation runs on a task of its own: a client hanging up mid-way
    /// neither cancels it half-done nor leaves the seat taken.
    pub async fn start(
        &self,
        session: &Session,
        who: &Claims,
        kind: PublishKind,
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
        let max_stage = self.inner.config.max_stage_publishes;
        let seat = self
            .inner
            .slots
            .reserve(&session.id, &who.sub, Seat::Publish(kind), |all| {
                let taken: Vec<(&str, PublishKind)> = all
                    .get(session.id.as_str())
                    .map(|s| {
                        s.values()
                            .filter_map(|e| match e.seat {
                                Seat::Publish(k) => Some((e.owner.as_str(), k)),
                                Seat::View { .. } => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                admit_publish(&taken, &who.sub, kind, max_stage)?;
                if held_by(all, &who.sub, None) >= max {
                    return Err(IngestError::from(RtcError::PerUserLimit {
                        max,
                        what: "WHIP publishes",
                    }));
                }
                Ok(())
            })?;
        let ingest = self.clone();
        let undo = self.clone();
        let (session, who) = (session.clone(), who.clone());
        let session_id = session.id.clone();
        answer_owned(
            async move {
                ingest
                    .start_publisher(seat, &session, &who, kind, offer, plan)
                    .await
            },
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
        kind: PublishKind,
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
        let announcer = self.clone();
        let on_ready: OnMediaReady = Box::new(move |producers| {
            let _ = events.send(IngestEvent::MediaReady {
                session_id: ready_session.clone(),
                resource_id: ready_resource.clone(),
                producers,
            });
            announcer.announce_main(&ready_session);
        });
        let (publisher, sdp) = Publisher::negotiate(
            &self.inner.config,
            event.clone(),
            kind,
            offer,
            plan,
            on_ready,
        )
        .await?;
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
            kind = kind.as_str(),
            video = ?event.video_codec,
            audio = ?event.audio_codec,
            "publish started"
        );
        watchdog::spawn(self.clone(), &publisher);
        let _ = self.inner.events.send(IngestEvent::Started {
            session_id: session.id.as_str().into(),
            resource_id: resource_id.clone(),
            kind,
        });
        // Media may have flowed before the seat was promoted.
        self.announce_main(&session.id);
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
        self.announce_main(session_id);
        publisher.shutdown().await;
        self.inner
            .db
            .stop_publish(publisher.event_id(), reason)
            .await?;
        Ok(())
    }

    /// Stops every publish of a session (it ended), the main one last so
    /// the broadcast does not hop to another publish on its way out.
    pub async fn stop_session(&self, session_id: &str, reason: &str) {
        let main = self.publisher(session_id);
        let mut all = self.publishes_of(session_id);
        all.sort_by_key(|p| main.as_ref().is_some_and(|m| Arc::ptr_eq(m, p)));
        for p in all {
            if let Err(e) = self.stop(session_id, Some(p.resource_id()), reason).await {
                if !matches!(e, IngestError::NotFound) {
                    tracing::warn!(session = %session_id, "stopping publish: {e}");
                }
            }
        }
    }

    /// Stops every publish (server shutdown).
    pub async fn stop_all(&self, reason: &str) {
        for session in self.inner.slots.sessions() {
            self.stop_session(&session, reason).await;
        }
    }
}

/// The main publish among a session's live ones (oldest first): the
/// instructor's camera, else the first student on stage; one whose media
/// flows before one still starting (a camera that is connecting does not
/// take the broadcast from a student on air).
fn main_of(publishes: Vec<Arc<Publisher>>) -> Option<Arc<Publisher>> {
    let first = |kind, ready: bool| {
        publishes
            .iter()
            .find(|p| p.kind() == kind && (!ready || p.ready_producers().is_some()))
            .cloned()
    };
    first(PublishKind::Camera, true)
        .or_else(|| first(PublishKind::Stage, true))
        .or_else(|| first(PublishKind::Camera, false))
        .or_else(|| first(PublishKind::Stage, false))
}

/// Whether `who` may take a `kind` seat beside the session's other publishes
/// (`taken`: owner and kind of each, negotiating ones included).
fn admit_publish(
    taken: &[(&str, PublishKind)],
    who: &str,
    kind: PublishKind,
    max_stage: usize,
) -> Result<(), IngestError> {
    if taken.iter().any(|(owner, k)| *owner == who && *k == kind) {
        return Err(IngestError::Taken(format!(
            "you already publish your {} in this class; DELETE that WHIP resource first",
            kind.as_str()
        )));
    }
    let of_kind = taken.iter().filter(|(_, k)| *k == kind).count();
    match kind {
        PublishKind::Camera if of_kind > 0 => Err(IngestError::Taken(
            "the class's camera is already live; DELETE its WHIP resource first".into(),
        )),
        PublishKind::Screen if of_kind > 0 => Err(IngestError::Taken(
            "a screen is already shared in this class; stop it first".into(),
        )),
        PublishKind::Stage if of_kind >= max_stage => {
            Err(IngestError::StageFull { max: max_stage })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_has_one_camera_one_screen_and_a_stage_of_bounded_size() {
        use PublishKind::*;
        let ok =
            |taken: &[(&str, PublishKind)], who, kind| admit_publish(taken, who, kind, 2).is_ok();
        assert!(ok(&[], "alice", Camera));
        assert!(ok(&[("alice", Camera)], "alice", Screen));
        assert!(ok(&[("alice", Camera), ("alice", Screen)], "bob", Stage));
        assert!(
            !ok(&[("alice", Camera)], "alice", Camera),
            "the same camera twice"
        );
        assert!(!ok(&[("alice", Camera)], "carl", Camera), "a second camera");
        assert!(!ok(&[("alice", Screen)], "alice", Screen));
        assert!(!ok(&[("bob", Stage)], "bob", Stage), "one stage seat each");
        assert!(ok(&[("bob", Stage)], "carol", Stage));
        assert!(matches!(
            admit_publish(&[("bob", Stage), ("carol", Stage)], "dan", Stage, 2),
            Err(IngestError::StageFull { max: 2 })
        ));
    }
}
