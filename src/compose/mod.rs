//! The class's broadcast (what HLS and the recording carry): while one
//! person publishes, their publish as it comes, with nothing in the path;
//! once several do, a composition of them (`compositor`, `audiomixer`) in
//! the layout the instructor chose, encoded once at the ladder's top-rung
//! size. A session that started composing stays composed until nobody
//! publishes, so the recording is not cut into parts each time a student
//! steps on or off the stage.
//!
//! Participants who have not consented to a session that records are not in
//! it: their tile is a neutral placeholder and their sound is left out.

mod mixer;
pub mod plan;

pub use mixer::{Canvas, Mixer};
pub use plan::{Rect, Seat, Tile};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::db::{Db, Layout};
use crate::ids::{ResourceId, SessionId};
use crate::ingest::{Ingest, MediaProducers, Publisher};
use crate::media::follow::{self, Heard};
use crate::media::{MediaError, RungOutput};
use crate::time::now_ms;

/// How often every session is looked at again: consent given or withdrawn,
/// the record switch, a layout chosen on another process.
const REVIEW_EVERY: Duration = Duration::from_secs(2);

/// What the broadcast's followers (HLS, and through it the recording) hear.
#[derive(Debug, Clone)]
pub enum ComposeEvent {
    /// The session's broadcast is now `source` (a publish, or the
    /// composition under an id of its own), or (None) nothing.
    BroadcastChanged {
        session_id: SessionId,
        source: Option<(ResourceId, MediaProducers)>,
    },
}

/// What a session's broadcast is.
enum Broadcast {
    /// One publish, as it comes.
    Single(ResourceId),
    Composed {
        id: ResourceId,
        mixer: Arc<Mutex<Mixer>>,
        output: MediaProducers,
    },
}

struct SessionBroadcast {
    broadcast: Broadcast,
    /// The layout last written as a chapter mark.
    chapter: Option<Layout>,
}

#[derive(Clone)]
pub struct Composer {
    inner: Arc<Inner>,
}

struct Inner {
    canvas: Canvas,
    db: Db,
    ingest: Ingest,
    sessions: tokio::sync::Mutex<HashMap<SessionId, SessionBroadcast>>,
    /// The instructor's layout per session, as last told or read.
    layouts: Mutex<HashMap<SessionId, Layout>>,
    /// The composed publishes' lighter encodings, by session and resource.
    alternates: Mutex<HashMap<SessionId, HashMap<String, RungOutput>>>,
    events: broadcast::Sender<ComposeEvent>,
    /// Sessions to look at again now (a layout chosen, consent given).
    review: mpsc::UnboundedSender<SessionId>,
    review_rx: Mutex<Option<mpsc::UnboundedReceiver<SessionId>>>,
}

impl Composer {
    pub fn new(canvas: Canvas, db: Db, ingest: Ingest) -> Self {
        let (review, review_rx) = mpsc::unbounded_channel();
        Composer {
            inner: Arc::new(Inner {
                canvas,
                db,
                ingest,
                sessions: tokio::sync::Mutex::new(HashMap::new()),
                layouts: Mutex::new(HashMap::new()),
                alternates: Mutex::new(HashMap::new()),
                events: broadcast::channel(256).0,
                review,
                review_rx: Mutex::new(Some(review_rx)),
            }),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ComposeEvent> {
        self.inner.events.subscribe()
    }

    /// The broadcast of every session that has one now.
    pub async fn broadcasts(&self) -> Vec<(SessionId, ResourceId, MediaProducers)> {
        let sessions = self.inner.sessions.lock().await;
        sessions
            .iter()
            .filter_map(|(session, s)| match &s.broadcast {
                Broadcast::Single(id) => {
                    let publish = self.inner.ingest.publish(session, id)?;
                    let producers = publish.ready_producers()?;
                    Some((session.clone(), id.clone(), producers))
                }
                Broadcast::Composed { id, output, .. } => {
                    Some((session.clone(), id.clone(), output.clone()))
                }
            })
            .collect()
    }

    /// Publish `resource_id`'s lighter encoding (see
    /// `pipelines/compose-video-in.gst`), while the session is composed.
    pub fn alternate(&self, session_id: &str, resource_id: &str) -> Option<RungOutput> {
        let alternates = self.inner.alternates.lock().ok()?;
        alternates.get(session_id)?.get(resource_id).cloned()
    }

    fn keep_alternates(&self, session: &SessionId, alternates: HashMap<String, RungOutput>) {
        if let Ok(mut all) = self.inner.alternates.lock() {
            if alternates.is_empty() {
                all.remove(session);
            } else {
                all.insert(session.clone(), alternates);
            }
        }
    }

    /// The instructor chose a layout (already stored).
    pub fn set_layout(&self, session_id: &str, layout: Layout) {
        if let Ok(mut layouts) = self.inner.layouts.lock() {
            layouts.insert(session_id.into(), layout);
        }
        let _ = self.inner.review.send(session_id.into());
    }

    /// Something the composition depends on changed (consent, the record
    /// switch): look at the session again now rather than at the next review.
    pub fn refresh(&self, session_id: &str) {
        let _ = self.inner.review.send(session_id.into());
    }

    /// Follows the ingest: every publish that starts, flows or stops makes
    /// the composer look at its session again.
    pub fn follow(&self) -> JoinHandle<()> {
        let composer = self.clone();
        let mut events = self.inner.ingest.subscribe();
        let review = self.inner.review_rx.lock().ok().and_then(|mut r| r.take());
        tokio::spawn(async move {
            let Some(mut review) = review else {
                tracing::error!("the composer follows the ingest once");
                return;
            };
            let mut every = tokio::time::interval(REVIEW_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    heard = follow::next(&mut events) => match heard {
                        Some(Heard::Event(event)) => composer.update(event_session(&event)).await,
                        Some(Heard::Lagged { missed }) => {
                            tracing::warn!("the composer missed {missed} ingest events; reviewing");
                            composer.review_all().await;
                        }
                        None => break,
                    },
                    Some(session) = review.recv() => composer.update(&session).await,
                    _ = every.tick() => composer.review_all().await,
                }
            }
        })
    }

    /// Every session that publishes or has a broadcast, looked at again.
    async fn review_all(&self) {
        let mut sessions: HashSet<SessionId> = self
            .inner
            .ingest
            .publishers()
            .iter()
            .map(|p| SessionId::from(p.session_id()))
            .collect();
        sessions.extend(self.inner.sessions.lock().await.keys().cloned());
        for session in sessions {
            self.update(&session).await;
        }
    }

    /// Brings the session's broadcast in line with its publishes, consent
    /// and layout.
    pub async fn update(&self, session_id: &str) {
        if let Err(e) = self.try_update(session_id).await {
            tracing::error!(session = %session_id, "composing the broadcast: {e}");
        }
    }

    async fn try_update(&self, session_id: &str) -> Result<(), MediaError> {
        let session = SessionId::from(session_id);
        let ready: Vec<(Arc<Publisher>, MediaProducers)> = self
            .inner
            .ingest
            .publishes_of(session_id)
            .into_iter()
            .filter_map(|p| p.ready_producers().map(|m| (p, m)))
            .collect();
        let mut sessions = self.inner.sessions.lock().await;
        if ready.is_empty() {
            if let Some(gone) = sessions.remove(&session) {
                self.announce(&session, None);
                self.keep_alternates(&session, HashMap::new());
                if let Broadcast::Composed { mixer, .. } = gone.broadcast {
                    drop_off_runtime(mixer);
                }
            }
            return Ok(());
        }
        let composed = sessions
            .get(&session)
            .is_some_and(|s| matches!(s.broadcast, Broadcast::Composed { .. }));
        let alone = !composed && ready.len() == 1;
        // Consent matters only to a composition (one publish as it comes is
        // the instructor's, or a student's whose own broadcast it is).
        let seats = if alone {
            seats_shown(&ready)
        } else {
            self.seats(session_id, &ready).await
        };
        let chosen = self.layout(session_id).await;
        let layout = plan::effective(chosen, &seats);

        if alone {
            let (publish, producers) = &ready[0];
            let id = ResourceId::from(publish.resource_id());
            let current = sessions.get(&session).map(|s| &s.broadcast);
            if !matches!(current, Some(Broadcast::Single(same)) if *same == id) {
                let chapter = sessions.get(&session).and_then(|s| s.chapter);
                sessions.insert(
                    session.clone(),
                    SessionBroadcast {
                        broadcast: Broadcast::Single(id.clone()),
                        chapter,
                    },
                );
                self.announce(&session, Some((id, producers.clone())));
            }
        } else {
            let (id, mixer, output, chapter) = match sessions.remove(&session) {
                Some(SessionBroadcast {
                    broadcast: Broadcast::Composed { id, mixer, output },
                    chapter,
                }) => (id, mixer, output, chapter),
                previous => {
                    let canvas = self.inner.canvas.clone();
                    let mixer = tokio::task::spawn_blocking(move || Mixer::start(&canvas))
                        .await
                        .map_err(|e| MediaError::Gst(format!("starting the composition: {e}")))??;
                    let output = mixer.output().clone();
                    tracing::info!(session = %session_id, publishes = ready.len(), "composing the broadcast");
                    let id =
                        ResourceId::from(format!("composed-{}", uuid::Uuid::new_v4().simple()));
                    let chapter = previous.and_then(|p| p.chapter);
                    (id, Arc::new(Mutex::new(mixer)), output, chapter)
                }
            };
            let tiles = plan::tiles(
                layout,
                &seats,
                self.inner.canvas.width as i32,
                self.inner.canvas.height as i32,
            );
            let inputs: Vec<(Seat, MediaProducers)> = seats
                .iter()
                .cloned()
                .zip(ready.iter().map(|(_, m)| m.clone()))
                .collect();
            let arranged = {
                let mixer = mixer.clone();
                tokio::task::spawn_blocking(move || arrange(&mixer, &inputs, &tiles)).await
            };
            if let Ok(Ok(alternates)) = &arranged {
                self.keep_alternates(&session, alternates.clone());
            }
            sessions.insert(
                session.clone(),
                SessionBroadcast {
                    broadcast: Broadcast::Composed {
                        id: id.clone(),
                        mixer,
                        output: output.clone(),
                    },
                    chapter,
                },
            );
            // Announced once its inputs are in: the ladder starts on pictures.
            if !composed {
                self.announce(&session, Some((id, output)));
            }
            arranged.map_err(|e| MediaError::Gst(format!("arranging the composition: {e}")))??;
        }
        let entry = sessions.get_mut(&session);
        if let Some(entry) = entry.filter(|e| e.chapter != Some(layout)) {
            entry.chapter = Some(layout);
            if let Err(e) = self
                .inner
                .db
                .add_chapter(session_id, layout, now_ms())
                .await
            {
                tracing::warn!(session = %session_id, "storing a chapter mark: {e}");
            }
        }
        Ok(())
    }

    /// The publishes as seats: who may be seen and heard in the broadcast.
    async fn seats(
        &self,
        session_id: &str,
        ready: &[(Arc<Publisher>, MediaProducers)],
    ) -> Vec<Seat> {
        let unconsented = self.unconsented(session_id).await;
        let mut seats = seats_shown(ready);
        for (seat, (p, _)) in seats.iter_mut().zip(ready) {
            seat.shown = !unconsented.contains(p.publisher_id());
        }
        seats
    }

    /// Participants kept out of the broadcast: the session records and they
    /// have not said yes (the instructor records by choosing to).
    async fn unconsented(&self, session_id: &str) -> HashSet<String> {
        let db = &self.inner.db;
        let session = match db.session(session_id).await {
            Ok(Some(s)) => s,
            Ok(None) => return HashSet::new(),
            Err(e) => {
                // Unknown consent keeps the students on stage out.
                tracing::warn!(session = %session_id, "reading the session for consent: {e}");
                return self.stage_publishers(session_id);
            }
        };
        if !session.record {
            return HashSet::new();
        }
        let consented: HashSet<String> = match db.participants(session_id).await {
            Ok(all) => all
                .into_iter()
                .filter(|p| p.consent.recording_consent == Some(true))
                .map(|p| p.user_id)
                .collect(),
            Err(e) => {
                tracing::warn!(session = %session_id, "reading consent: {e}");
                HashSet::new()
            }
        };
        self.inner
            .ingest
            .publishes_of(session_id)
            .iter()
            .map(|p| p.publisher_id().to_owned())
            .filter(|id| *id != session.instructor_id && !consented.contains(id))
            .collect()
    }

    fn stage_publishers(&self, session_id: &str) -> HashSet<String> {
        self.inner
            .ingest
            .publishes_of(session_id)
            .iter()
            .filter(|p| p.kind() == crate::media::PublishKind::Stage)
            .map(|p| p.publisher_id().to_owned())
            .collect()
    }

    async fn layout(&self, session_id: &str) -> Layout {
        if let Some(layout) = self
            .inner
            .layouts
            .lock()
            .ok()
            .and_then(|l| l.get(session_id).copied())
        {
            return layout;
        }
        let layout = match self.inner.db.layout(session_id).await {
            Ok(layout) => layout,
            Err(e) => {
                tracing::warn!(session = %session_id, "reading the layout: {e}");
                return Layout::Auto;
            }
        };
        if let Ok(mut layouts) = self.inner.layouts.lock() {
            layouts.insert(session_id.into(), layout);
        }
        layout
    }

    fn announce(&self, session: &SessionId, source: Option<(ResourceId, MediaProducers)>) {
        let _ = self.inner.events.send(ComposeEvent::BroadcastChanged {
            session_id: session.clone(),
            source,
        });
    }

    /// Ends every composition (server shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<SessionBroadcast> = self
            .inner
            .sessions
            .lock()
            .await
            .drain()
            .map(|(_, s)| s)
            .collect();
        if let Ok(mut alternates) = self.inner.alternates.lock() {
            alternates.clear();
        }
        for s in all {
            if let Broadcast::Composed { mixer, .. } = s.broadcast {
                drop_off_runtime(mixer);
            }
        }
    }
}

/// The publishes as seats, everyone shown.
fn seats_shown(ready: &[(Arc<Publisher>, MediaProducers)]) -> Vec<Seat> {
    ready
        .iter()
        .map(|(p, _)| Seat {
            id: p.resource_id().to_owned(),
            kind: p.kind(),
            shown: true,
        })
        .collect()
}

/// The session an ingest event is about.
fn event_session(event: &crate::ingest::IngestEvent) -> &str {
    use crate::ingest::IngestEvent as E;
    match event {
        E::Started { session_id, .. }
        | E::MediaReady { session_id, .. }
        | E::Stopped { session_id, .. }
        | E::MainChanged { session_id, .. } => session_id,
    }
}

/// The mixer's inputs made `inputs` and its tiles `tiles` (blocking); the
/// publishes' lighter encodings by WHIP resource.
fn arrange(
    mixer: &Mutex<Mixer>,
    inputs: &[(Seat, MediaProducers)],
    tiles: &[Tile],
) -> Result<HashMap<String, RungOutput>, MediaError> {
    let mut mixer = mixer
        .lock()
        .map_err(|_| MediaError::Gst("the composition's lock is poisoned".into()))?;
    let gone: Vec<String> = mixer
        .inputs()
        .filter(|id| !inputs.iter().any(|(seat, _)| seat.id == **id))
        .cloned()
        .collect();
    for id in gone {
        mixer.remove(&id);
    }
    let mut first_error = None;
    for (seat, producers) in inputs {
        if let Err(e) = mixer.set_input(&seat.id, seat.kind, producers, seat.shown) {
            tracing::warn!(publish = %seat.id, "adding a publish to the composition: {e}");
            first_error.get_or_insert(e);
        }
    }
    mixer.arrange(tiles);
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(inputs
        .iter()
        .filter_map(|(seat, _)| Some((seat.id.clone(), mixer.alternate(&seat.id)?)))
        .collect())
}

/// Drops a composition on a blocking thread (its teardown waits for
/// streaming threads).
fn drop_off_runtime(mixer: Arc<Mutex<Mixer>>) {
    let _ = std::thread::Builder::new()
        .name("compose-teardown".into())
        .spawn(move || drop(mixer));
}
