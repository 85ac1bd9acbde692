//! WHEP egress: interactive viewers get the publisher's media over WebRTC,
//! forwarded without re-encoding (depayloaded frames re-payloaded per
//! viewer), or a ladder rung's encoded video when their link needs less.

pub mod adapt;
mod feedback;
mod following;
pub mod forward;
mod monitor;
mod sources;
mod viewer;

pub use sources::{Sources, VideoLevel};
pub use viewer::{Viewer, ViewerInfo, ViewerStats};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::auth::{Claims, Role};
use crate::compose::Composer;
use crate::db::Session;
use crate::hls::Hls;
use crate::ids::{ParticipantId, ResourceId, SessionId};
use crate::ingest::Ingest;
use crate::media::sdp;
use crate::media::{MediaError, RungOutput};
use crate::rtc::{self, answer_owned, held_by, PeerConfig, Registry, Reservation, RtcError, Seat};

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error(transparent)]
    Rtc(#[from] RtcError),
    #[error("the session is not live; try again when the instructor publishes")]
    NotLive,
    #[error("the session's interactive (WebRTC) seats are taken ({max}); watch the HLS broadcast")]
    Full { max: i64, hls_url: String },
    #[error("no such WHEP resource")]
    NotFound,
    #[error("that publish is not live in this class (it ended, or never began)")]
    NoSuchPublish,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Forward(#[from] forward::ForwardError),
}

#[derive(Debug, Clone)]
pub struct EgressConfig {
    pub peer: PeerConfig,
    /// A connected viewer from whom no RTCP came this long is gone.
    pub rtcp_timeout: Duration,
    /// Per-viewer bandwidth adaptation (rung switching).
    pub adapt: bool,
    /// WHEP resources (negotiating or live) one user may hold in a session.
    pub max_views_per_user: usize,
    /// Viewers in the shared forwarding engine (str0m), or (None) each in a
    /// webrtcbin pipeline of its own.
    pub forward: Option<forward::ForwardConfig>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            peer: PeerConfig {
                ice_servers: Vec::new(),
                ice_gather_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(15),
            },
            rtcp_timeout: Duration::from_secs(10),
            adapt: true,
            max_views_per_user: 2,
            forward: Some(forward::ForwardConfig::default()),
        }
    }
}

/// What a WHEP offer asks to view.
#[derive(Debug, Clone, Default)]
pub struct ViewOf {
    /// Audio only (no video m-line answered active).
    pub audio_only: bool,
    /// One publish of the class by its WHIP resource id; None: the main
    /// broadcast (what a WHEP client that knows nothing of classcast gets).
    pub publish: Option<String>,
}

/// The answer to a successful WHEP POST.
pub type ViewAnswer = rtc::Answer;

/// A session's viewers, as the API shows them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SessionViewers {
    /// WebRTC viewers connected or connecting.
    pub webrtc: usize,
    /// Of those, the ones counted against the cap.
    pub webrtc_capped: usize,
    pub max_webrtc_viewers: i64,
    /// Viewers by what they receive ("source", a rung, "audio-only").
    pub by_level: HashMap<String, usize>,
    pub viewers: Vec<ViewerStats>,
}

/// Server-wide counters for the metrics.
#[derive(Debug, Default, Serialize, Clone)]
pub struct EgressTotals {
    pub viewers_started: u64,
    pub viewers_reaped: u64,
    pub refused_full: u64,
    /// The forwarding engine's losses for want of room (0 when it is off).
    pub frames_dropped_in_engine: u64,
    pub datagrams_dropped: u64,
}

/// Protocol name in errors and the registry.
const KIND: &str = "WHEP";

#[derive(Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

struct Inner {
    config: EgressConfig,
    ingest: Ingest,
    hls: Hls,
    composer: Composer,
    /// session → resource → viewer (pending while negotiating)
    viewers: Registry<Viewer>,
    /// session → participants on stage (called on by the instructor):
    /// like the instructor, they always get a WebRTC seat.
    promoted: Mutex<HashMap<SessionId, std::collections::HashSet<ParticipantId>>>,
    /// The forwarding engine, started with the first viewer that needs it.
    forwarder: std::sync::OnceLock<Result<forward::Forwarder, String>>,
    started: AtomicU64,
    reaped: AtomicU64,
    refused_full: AtomicU64,
}

impl Egress {
    pub fn new(config: EgressConfig, ingest: Ingest, hls: Hls, composer: Composer) -> Self {
        Egress {
            inner: Arc::new(Inner {
                config,
                ingest,
                hls,
                composer,
                viewers: Registry::default(),
                promoted: Mutex::new(HashMap::new()),
                forwarder: std::sync::OnceLock::new(),
                started: AtomicU64::new(0),
                reaped: AtomicU64::new(0),
                refused_full: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &EgressConfig {
        &self.inner.config
    }

    /// The classroom put a participant on stage, or took them off.
    pub fn set_promoted(&self, session_id: &str, user_id: &str, promoted: bool) {
        let mut all = self
            .inner
            .promoted
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if promoted {
            all.entry(session_id.into())
                .or_default()
                .insert(user_id.into());
        } else if let Some(users) = all.get_mut(session_id) {
            users.remove(user_id);
            if users.is_empty() {
                all.remove(session_id);
            }
        }
    }

    /// Whether the classroom has `user_id` on stage in this session now
    /// (called on, not demoted or kicked since), as this process heard it.
    pub fn on_stage(&self, session_id: &str, user_id: &str) -> bool {
        self.inner
            .promoted
            .lock()
            .map(|all| all.get(session_id).is_some_and(|u| u.contains(user_id)))
            .unwrap_or(false)
    }

    /// Whether `who` views past the cap: the session's instructor, and
    /// participants on stage (their stage token, or promoted in the room).
    fn exempt_from_cap(&self, session: &Session, who: &Claims) -> bool {
        if who.role == Role::Instructor && who.sub == session.instructor_id {
            return true;
        }
        if who.stage && who.session.as_deref() == Some(session.id.as_str()) {
            return true;
        }
        self.on_stage(&session.id, &who.sub)
    }

    fn viewers(&self) -> std::sync::MutexGuard<'_, rtc::Sessions<Viewer>> {
        self.inner.viewers.lock()
    }

    /// What the session's viewers can be fed from, if it is live.
    pub fn sources(&self, session_id: &str) -> Option<Sources> {
        // Not before every offered track flows: a viewer that came in the
        // first moments of a publish was planned without the video that had
        // not arrived yet, and stayed audio-only (they get 409 and retry).
        let publisher = self.inner.ingest.publisher(session_id)?;
        self.sources_of_resource(session_id, publisher.resource_id())
    }

    /// What viewers of one publish (its WHIP resource) are fed from, while
    /// its media flows.
    pub(crate) fn sources_of_resource(
        &self,
        session_id: &str,
        resource_id: &str,
    ) -> Option<Sources> {
        let publisher = self.inner.ingest.publish(session_id, resource_id)?;
        let producers = publisher.ready_producers()?;
        Some(Sources::new(
            resource_id.into(),
            producers,
            self.lighter(session_id, resource_id),
        ))
    }

    /// What a viewer of a publish steps down to on a narrow link: the HLS
    /// ladder's rungs while it encodes this publish alone, else the
    /// composition's lighter encoding of it (a camera smaller, a screen
    /// share at a few frames a second), else nothing.
    fn lighter(&self, session_id: &str, resource_id: &str) -> Vec<RungOutput> {
        let rungs = self.inner.hls.rung_outputs_of(session_id, resource_id);
        if !rungs.is_empty() {
            return rungs;
        }
        self.inner
            .composer
            .alternate(session_id, resource_id)
            .into_iter()
            .collect()
    }

    /// What a viewer of one publish of the session (by its public id, as
    /// the session lists it) is fed from: the main one with its rungs, any
    /// other (a screen share, a student on stage) as it comes.
    /// Not live: 404; live but its media not flowing yet: 409 (retry).
    pub fn sources_of(&self, session_id: &str, publish_id: &str) -> Result<Sources, EgressError> {
        let publisher = self
            .inner
            .ingest
            .publishes_of(session_id)
            .into_iter()
            .find(|p| p.event_id() == publish_id)
            .ok_or(EgressError::NoSuchPublish)?;
        let main = self.inner.ingest.publisher(session_id);
        if main.is_some_and(|m| Arc::ptr_eq(&m, &publisher)) {
            return self.sources(session_id).ok_or(EgressError::NotLive);
        }
        self.sources_of_resource(session_id, publisher.resource_id())
            .ok_or(EgressError::NotLive)
    }

    /// Answers a WHEP offer. `hls_url` is where viewers past the cap go.
    pub async fn view(
        &self,
        session: &Session,
        who: &Claims,
        offer_text: &str,
        view: ViewOf,
        hls_url: String,
    ) -> Result<ViewAnswer, EgressError> {
        let ViewOf {
            audio_only,
            publish,
        } = view;
        let mut offer = sdp::parse(offer_text).map_err(RtcError::from)?;
        sdp::unbundle_if_mixed_credentials(&mut offer);
        let sources = match publish.as_deref() {
            None => self.sources(&session.id).ok_or(EgressError::NotLive)?,
            Some(id) => self.sources_of(&session.id, id)?,
        };
        let codecs = sources.video_codecs();
        let audio_only = audio_only || codecs.is_empty();
        // An audio-only viewer still gets a (silent) video m-line when there
        // is video: an inactive m-line in the bundle leaves some clients
        // (aiortc) never connecting, and the player can switch back by
        // offering again.
        let plan =
            sdp::plan_view_offer(&offer, &codecs, codecs.is_empty()).map_err(RtcError::from)?;

        let capped = !self.exempt_from_cap(session, who);
        let max_per_user = self.inner.config.max_views_per_user;
        let seat =
            self.inner
                .viewers
                .reserve(&session.id, &who.sub, Seat::View { capped }, |all| {
                    let slots = all.get(session.id.as_str());
                    // A participant views each publish of the class (camera,
                    // screen, stage) with a resource of its own.
                    let publishes = self.inner.ingest.publish_count(&session.id).max(1);
                    let max_per_user = max_per_user * publishes;
                    if held_by(all, &who.sub, Some(&session.id)) >= max_per_user {
                        return Err(RtcError::PerUserLimit {
                            max: max_per_user,
                            what: "WebRTC views of this session",
                        }
                        .into());
                    }
                    // The cap counts participants: one who already holds a seat
                    // views the class's other publishes on it.
                    let seated: std::collections::HashSet<&str> = slots
                        .map(|s| {
                            s.values()
                                .filter(|e| e.capped())
                                .map(|e| e.owner.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    let taken = seated.len() as i64;
                    if capped
                        && !seated.contains(who.sub.as_str())
                        && taken >= session.max_webrtc_viewers
                    {
                        self.inner.refused_full.fetch_add(1, Ordering::Relaxed);
                        return Err(EgressError::Full {
                            max: session.max_webrtc_viewers,
                            hls_url,
                        });
                    }
                    Ok(())
                })?;
        let info = ViewerInfo {
            resource_id: seat.resource_id().into(),
            session_id: session.id.as_str().into(),
            publish_id: sources.publish_id.clone(),
            user_id: who.sub.as_str().into(),
            user_name: who.name.clone(),
            role: who.role,
            audio_only,
            capped,
        };
        let egress = self.clone();
        let undo = self.clone();
        let session_id = session.id.clone();
        let offer_owned = offer_text.to_owned();
        answer_owned(
            async move {
                egress
                    .start_viewer(seat, info, offer, &offer_owned, plan)
                    .await
            },
            move |answer| async move {
                tracing::debug!(session = %session_id, resource = %answer.resource_id, "WHEP client left before its answer");
                let _ = undo
                    .stop(&session_id, &answer.resource_id, "abandoned")
                    .await;
            },
        )
        .await
    }

    async fn start_viewer(
        &self,
        seat: Reservation<Viewer>,
        info: ViewerInfo,
        offer: gst_sdp::SDPMessage,
        offer_text: &str,
        plan: sdp::OfferPlan,
    ) -> Result<ViewAnswer, EgressError> {
        let (session_id, user_id, audio_only) = (
            info.session_id.clone(),
            info.user_id.clone(),
            info.audio_only,
        );
        let resource_id = ResourceId::from(seat.resource_id());
        let (viewer, sdp) = match &self.inner.config.forward {
            Some(config) => {
                let forwarder = self.forwarder(config)?;
                let (v, sdp) =
                    viewer::ForwardedViewer::negotiate(forwarder, info, offer_text, plan)?;
                (Viewer::Forwarded(v), sdp)
            }
            None => {
                let (v, sdp) =
                    viewer::PipelineViewer::negotiate(&self.inner.config, info, offer, plan)
                        .await?;
                (Viewer::Pipeline(v), sdp)
            }
        };
        let viewer = Arc::new(viewer);
        let etag = viewer.etag();
        if !seat.promote(viewer.clone(), etag.clone()) {
            viewer.shutdown().await;
            return Err(RtcError::Abandoned.into());
        }
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            session = %session_id,
            resource = %resource_id,
            viewer = %user_id,
            audio_only,
            "viewer joined"
        );
        monitor::spawn(self.clone(), &viewer);
        Ok(ViewAnswer {
            resource_id,
            etag,
            sdp,
        })
    }

    fn forwarder(
        &self,
        config: &forward::ForwardConfig,
    ) -> Result<&forward::Forwarder, EgressError> {
        self.inner
            .forwarder
            .get_or_init(|| forward::Forwarder::start(config).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| EgressError::Media(MediaError::Gst(e.clone())))
    }

    /// Whose the resource is: its viewer (`may_change` also lets the
    /// session's instructor act on it).
    pub fn owner_of(&self, session_id: &str, resource_id: &str) -> Option<String> {
        self.inner
            .viewers
            .owner_of(session_id, resource_id)
            .map(String::from)
    }

    pub fn patch(
        &self,
        session_id: &str,
        resource_id: &str,
        if_match: Option<&str>,
        fragment: &str,
    ) -> Result<(), EgressError> {
        rtc::trickle(
            &self.inner.viewers,
            session_id,
            resource_id,
            (KIND, "view"),
            if_match,
            fragment,
        )?;
        Ok(())
    }

    /// Ends one viewer (DELETE, reaping, the publisher leaving).
    pub async fn stop(
        &self,
        session_id: &str,
        resource_id: &str,
        reason: &str,
    ) -> Result<(), EgressError> {
        let viewer = self
            .inner
            .viewers
            .remove_live(session_id, resource_id)
            .ok_or(EgressError::NotFound)?;
        if reason != "deleted" {
            self.inner.reaped.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(session = %session_id, resource = %resource_id, reason, "viewer left");
        viewer.shutdown().await;
        Ok(())
    }

    /// Ends every viewer of a session (its publisher left).
    pub async fn stop_session(&self, session_id: &str, reason: &str) {
        for id in self.inner.viewers.live_ids(session_id, |_| true) {
            let _ = self.stop(session_id, &id, reason).await;
        }
    }

    /// Ends the viewers of one publish (it ended): their tracks end, and
    /// players offer again for what is live then.
    pub async fn stop_publish_viewers(&self, session_id: &str, publish_id: &str, reason: &str) {
        let ids: Vec<String> = self
            .viewers()
            .get(session_id)
            .map(|slots| {
                slots
                    .iter()
                    .filter(|(_, e)| e.live().is_some_and(|v| v.info().publish_id == publish_id))
                    .map(|(id, _)| id.to_string())
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            let _ = self.stop(session_id, &id, reason).await;
        }
    }

    /// Ends every viewer of one user in a session (kicked).
    pub async fn stop_user(&self, session_id: &str, user_id: &str, reason: &str) {
        for id in self
            .inner
            .viewers
            .live_ids(session_id, |e| e.owner == user_id)
        {
            let _ = self.stop(session_id, &id, reason).await;
        }
    }

    pub async fn stop_all(&self, reason: &str) {
        for s in self.inner.viewers.sessions() {
            self.stop_session(&s, reason).await;
        }
    }

    /// The session's viewers and their figures.
    pub fn session_viewers(&self, session: &Session) -> SessionViewers {
        let slots: Vec<(bool, Option<ViewerStats>)> = self
            .viewers()
            .get(session.id.as_str())
            .map(|s| {
                s.values()
                    .map(|e| (e.capped(), e.live().map(|v| v.stats())))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = SessionViewers {
            webrtc: slots.len(),
            webrtc_capped: slots.iter().filter(|(c, _)| *c).count(),
            max_webrtc_viewers: session.max_webrtc_viewers,
            ..SessionViewers::default()
        };
        for stats in slots.into_iter().filter_map(|(_, s)| s) {
            let level = if stats.audio_only {
                "audio-only".to_owned()
            } else {
                stats.level.clone()
            };
            *out.by_level.entry(level).or_default() += 1;
            out.viewers.push(stats);
        }
        out.viewers.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        out
    }

    /// One user's viewer figures in a session (their latest connection).
    pub fn user_stats(&self, session_id: &str, user_id: &str) -> Option<ViewerStats> {
        self.viewers()
            .get(session_id)?
            .values()
            .filter(|e| e.owner == user_id)
            .filter_map(|e| e.live().map(|v| v.stats()))
            .max_by(|a, b| a.started_at.cmp(&b.started_at))
    }

    /// Every live viewer's figures, by session (for the metrics).
    pub fn all_viewers(&self) -> Vec<(SessionId, ViewerStats)> {
        self.viewers()
            .iter()
            .flat_map(|(session, slots)| {
                slots
                    .values()
                    .filter_map(move |e| e.live().map(|v| (session.clone(), v.stats())))
            })
            .collect()
    }

    pub fn totals(&self) -> EgressTotals {
        let engine = self
            .inner
            .forwarder
            .get()
            .and_then(|f| f.as_ref().ok())
            .map(|f| f.counters());
        EgressTotals {
            viewers_started: self.inner.started.load(Ordering::Relaxed),
            viewers_reaped: self.inner.reaped.load(Ordering::Relaxed),
            refused_full: self.inner.refused_full.load(Ordering::Relaxed),
            frames_dropped_in_engine: engine
                .map_or(0, |c| c.frames_dropped.load(Ordering::Relaxed)),
            datagrams_dropped: engine.map_or(0, |c| c.datagrams_dropped.load(Ordering::Relaxed)),
        }
    }
}
