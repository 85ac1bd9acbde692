//! The adaptive HLS ladder: while an instructor publishes, the session's video
//! is decoded once and encoded into the rungs of `pipelines/ladder.toml`,
//! segmented in step across rungs, and described by playlists written with
//! m3u8-rs under `<data-dir>/hls/<session>/`.

mod audience;
pub mod config;
mod ladder;
pub mod playlist;
mod probes;
mod upload;

pub use audience::Audience;
pub use config::{LadderConfig, Rung};
pub use ladder::{
    describe, Handover, Ladder, LadderOptions, LadderStatus, RunEnd, RungOutput, RungStatus,
};
pub use upload::HlsUploader;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::compose::{ComposeEvent, Composer};
use crate::ids::{ResourceId, SessionId};
use crate::ingest::MediaProducers;
use crate::media::follow::{self, Heard};
use crate::media::sdp::Codec;
use crate::media::MediaError;
use crate::storage::Uploads;

#[derive(Debug, thiserror::Error)]
pub enum HlsError {
    #[error("ladder configuration: {0}")]
    Config(String),
    #[error("cannot build the ladder: {0}")]
    Unsupported(String),
    #[error("playlist: {0}")]
    Playlist(String),
    #[error("ladder pipeline: {0}")]
    Pipeline(String),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// How long a new publish waits to learn the source's picture size.
const SIZE_WAIT: Duration = Duration::from_secs(3);
/// How long shutdown waits for ladders to finish their playlists.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A ladder's life, for the recorder.
#[derive(Debug, Clone)]
pub enum HlsEvent {
    /// A publish's ladder runs; its segments start at `first_segment`.
    Started {
        session_id: SessionId,
        top_rung: String,
        first_segment: u64,
    },
    /// The ladder finished: its last segments and playlists are written.
    Ended { session_id: SessionId },
}

/// A running ladder as its followers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderRun {
    pub session_id: SessionId,
    pub top_rung: String,
    /// Index of the run's first segment: a later run starts higher.
    pub first_segment: u64,
}

struct Running {
    run: LadderRun,
    /// The publish the ladder encodes.
    publish: ResourceId,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<()>,
    events: broadcast::Sender<HlsEvent>,
}

#[derive(Clone)]
pub struct Hls {
    inner: Arc<Inner>,
}

struct Inner {
    config: LadderConfig,
    root: PathBuf,
    ladders: tokio::sync::Mutex<HashMap<SessionId, Running>>,
    statuses: Mutex<HashMap<SessionId, Arc<Mutex<LadderStatus>>>>,
    /// The live rungs of each session's ladder, with the broadcast they
    /// encode (a publish, or the composition).
    outputs: Mutex<HashMap<SessionId, (ResourceId, Vec<RungOutput>)>>,
    uploads: Option<Uploads>,
    events: broadcast::Sender<HlsEvent>,
}

impl Hls {
    pub fn new(config: LadderConfig, root: PathBuf) -> Self {
        Self::with_uploads(config, root, None)
    }

    /// A ladder whose files also go to object storage through `uploads`.
    pub fn with_uploads(config: LadderConfig, root: PathBuf, uploads: Option<Uploads>) -> Self {
        Hls {
            inner: Arc::new(Inner {
                config,
                root,
                ladders: tokio::sync::Mutex::new(HashMap::new()),
                statuses: Mutex::new(HashMap::new()),
                outputs: Mutex::new(HashMap::new()),
                uploads,
                events: broadcast::channel(256).0,
            }),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HlsEvent> {
        self.inner.events.subscribe()
    }

    /// Whether a ladder is running for the session.
    pub async fn is_running(&self, session_id: &str) -> bool {
        self.inner.ladders.lock().await.contains_key(session_id)
    }

    pub fn config(&self) -> &LadderConfig {
        &self.inner.config
    }

    pub fn session_dir(&self, session_id: &str) -> PathBuf {
        self.inner.root.join(session_id)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The ladder's counters for the session's current or last publish.
    pub fn status(&self, session_id: &str) -> Option<LadderStatus> {
        let statuses = self.inner.statuses.lock().ok()?;
        let status = statuses.get(session_id)?.lock().ok()?.clone();
        Some(status)
    }

    /// The live rungs of the session's ladder if it encodes `publish` (not
    /// a composition of it with others): empty otherwise.
    pub fn rung_outputs_of(&self, session_id: &str, publish: &str) -> Vec<RungOutput> {
        self.inner
            .outputs
            .lock()
            .ok()
            .and_then(|o| {
                let (encoded, rungs) = o.get(session_id)?;
                (encoded.as_str() == publish).then(|| rungs.clone())
            })
            .unwrap_or_default()
    }

    /// The ladders running now that announced a start (have a top rung).
    pub async fn runs(&self) -> Vec<LadderRun> {
        let ladders = self.inner.ladders.lock().await;
        ladders
            .values()
            .map(|r| r.run.clone())
            .filter(|run| !run.top_rung.is_empty())
            .collect()
    }

    /// Starts and stops ladders as the sessions' broadcasts (one publish,
    /// or a composition) come and go.
    pub fn follow(&self, composer: &Composer) -> JoinHandle<()> {
        let hls = self.clone();
        let composer = composer.clone();
        let mut events = composer.subscribe();
        tokio::spawn(async move {
            while let Some(heard) = follow::next(&mut events).await {
                match heard {
                    Heard::Event(ComposeEvent::BroadcastChanged {
                        session_id,
                        source: Some((resource_id, producers)),
                    }) => {
                        hls.start_logged(&session_id, &resource_id, &producers)
                            .await
                    }
                    Heard::Event(ComposeEvent::BroadcastChanged {
                        session_id,
                        source: None,
                    }) => hls.stop(&session_id).await,
                    Heard::Lagged { missed } => {
                        tracing::warn!("HLS missed {missed} broadcast changes; reconciling");
                        hls.reconcile(&composer).await;
                    }
                }
            }
        })
    }

    /// Runs a ladder for exactly the broadcasts with video now.
    async fn reconcile(&self, composer: &Composer) {
        let mut ready = HashMap::new();
        for (session, resource, producers) in composer.broadcasts().await {
            if producers.video.is_some() {
                ready.insert((session, resource), producers);
            }
        }
        let running: Vec<(SessionId, ResourceId)> = {
            let ladders = self.inner.ladders.lock().await;
            ladders
                .values()
                .map(|r| (r.run.session_id.clone(), r.publish.clone()))
                .collect()
        };
        let plan = follow::reconcile(ready.keys().cloned(), running);
        for (session_id, _) in &plan.stop {
            self.stop(session_id).await;
        }
        for key in &plan.start {
            if let Some(producers) = ready.get(key) {
                self.start_logged(&key.0, &key.1, producers).await;
            }
        }
    }

    async fn start_logged(&self, session_id: &str, resource_id: &str, producers: &MediaProducers) {
        if let Err(e) = self.start(session_id, resource_id, producers).await {
            tracing::error!(session = %session_id, "HLS ladder did not start: {e}");
        }
    }

    /// Starts the ladder for a publish (`resource_id`) whose media is flowing.
    pub async fn start(
        &self,
        session_id: &str,
        resource_id: &str,
        producers: &MediaProducers,
    ) -> Result<(), HlsError> {
        if producers.video.is_none() {
            tracing::info!(session = %session_id, "audio-only publish: no HLS ladder");
            return Ok(());
        }
        let mut ladders = self.inner.ladders.lock().await;
        // Already encoding this publish (a reconcile after a lag got here
        // before the event did).
        if ladders
            .get(session_id)
            .is_some_and(|r| r.publish == resource_id)
        {
            return Ok(());
        }
        // A reconnect: the previous ladder must have finished its playlists.
        if let Some(previous) = ladders.remove(session_id) {
            finish(previous).await;
        }
        let dir = self.session_dir(session_id);
        let size = source_size(producers).await;
        let rungs = match existing_rungs(&dir, &self.inner.config).await {
            Some(rungs) => rungs,
            None => self.inner.config.select(size.map(|(_, h)| h)),
        };
        let passthrough = self.inner.config.passthrough_top_rung
            && producers.video.as_ref().map(|v| v.0) == Some(Codec::H264)
            && size.is_some()
            && size == rungs.first().map(|r| (r.width, r.height));
        tracing::info!(
            session = %session_id,
            rungs = ?rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            passthrough,
            "starting HLS ladder"
        );
        let session = SessionId::from(session_id);
        let options = LadderOptions {
            passthrough,
            ..LadderOptions::default()
        };
        let ladder = self
            .start_ladder(
                &session,
                resource_id,
                &dir,
                rungs.clone(),
                producers,
                options,
            )
            .await?;
        let run = LadderRun {
            session_id: session.clone(),
            top_rung: ladder.top_rung().unwrap_or_default().to_owned(),
            first_segment: ladder.first_segment(),
        };
        let started = ladder.top_rung().map(|_| HlsEvent::Started {
            session_id: run.session_id.clone(),
            top_rung: run.top_rung.clone(),
            first_segment: run.first_segment,
        });
        let (stop, mut stopped) = oneshot::channel();
        let events = self.inner.events.clone();
        let hls = self.clone();
        let producers = producers.clone();
        let publish = ResourceId::from(resource_id);
        let done = tokio::spawn(async move {
            let mut ladder = ladder;
            loop {
                match ladder.run(&mut stopped).await {
                    Ok(RunEnd::Stopped) => break,
                    Ok(RunEnd::PassthroughLost(handover)) => {
                        // Linked before the old ladder lets go, so the
                        // publisher's next keyframe starts it: nothing is
                        // lost between the two. The same segment names and
                        // playlists go on (the recorder follows the top
                        // rung's directory, unchanged).
                        let options = LadderOptions {
                            first_index: Some(handover.next_index()),
                            ..LadderOptions::default()
                        };
                        let next = hls
                            .start_ladder(
                                &session,
                                &publish,
                                &dir,
                                rungs.clone(),
                                &producers,
                                options,
                            )
                            .await;
                        let finished = handover.finish(&mut stopped).await;
                        let (mut next, (playlists, stop_now)) = match (next, finished) {
                            (Ok(next), Ok(finished)) => (next, finished),
                            (Err(e), _) | (_, Err(e)) => {
                                tracing::error!(session = %session, "HLS ladder could not hand the top rung over to an encoder: {e}");
                                break;
                            }
                        };
                        next.adopt(playlists);
                        // The encoded top rung's timestamps start again
                        // (a new pipeline): the recorder closes the part so
                        // far and starts the next, as for a reconnect.
                        let _ = events.send(HlsEvent::Ended {
                            session_id: session.clone(),
                        });
                        // try_lock: a reconnect may hold the map while it
                        // waits for this task; it replaces the entry anyway.
                        if let Ok(mut ladders) = hls.inner.ladders.try_lock() {
                            if let Some(running) = ladders.get_mut(&session) {
                                running.run.first_segment = next.first_segment();
                            }
                        }
                        if let Some(top_rung) = next.top_rung() {
                            let _ = events.send(HlsEvent::Started {
                                session_id: session.clone(),
                                top_rung: top_rung.to_owned(),
                                first_segment: next.first_segment(),
                            });
                        }
                        ladder = next;
                        if stop_now {
                            let (stop, fired) = oneshot::channel();
                            let _ = stop.send(());
                            stopped = fired;
                        }
                    }
                    Err(e) => {
                        tracing::error!(session = %session, "HLS ladder: {e}");
                        break;
                    }
                }
            }
            let _ = events.send(HlsEvent::Ended {
                session_id: session,
            });
        });
        if let Some(started) = started {
            let _ = self.inner.events.send(started);
        }
        ladders.insert(
            run.session_id.clone(),
            Running {
                run,
                publish: resource_id.into(),
                stop: Some(stop),
                done,
                events: self.inner.events.clone(),
            },
        );
        Ok(())
    }

    /// Starts a ladder into `dir` and makes its status and live rungs the
    /// session's.
    async fn start_ladder(
        &self,
        session: &SessionId,
        publish: &str,
        dir: &Path,
        rungs: Vec<Rung>,
        producers: &MediaProducers,
        options: LadderOptions,
    ) -> Result<Ladder, HlsError> {
        let mut ladder = Ladder::start(dir, &self.inner.config, rungs, producers, options).await?;
        if let Some(uploads) = &self.inner.uploads {
            ladder.upload_with(HlsUploader::new(uploads.clone(), session));
        }
        if let Ok(mut statuses) = self.inner.statuses.lock() {
            statuses.insert(session.clone(), ladder.status());
        }
        if let Ok(mut outputs) = self.inner.outputs.lock() {
            outputs.insert(session.clone(), (publish.into(), ladder.outputs()));
        }
        Ok(ladder)
    }

    /// Ends the session's ladder: its playlists become VOD.
    pub async fn stop(&self, session_id: &str) {
        if let Ok(mut outputs) = self.inner.outputs.lock() {
            outputs.remove(session_id);
        }
        let running = self.inner.ladders.lock().await.remove(session_id);
        if let Some(running) = running {
            finish(running).await;
        }
    }

    pub async fn stop_all(&self) {
        let all: Vec<Running> = self
            .inner
            .ladders
            .lock()
            .await
            .drain()
            .map(|(_, r)| r)
            .collect();
        futures::future::join_all(all.into_iter().map(finish)).await;
    }
}

async fn finish(mut running: Running) {
    if let Some(stop) = running.stop.take() {
        let _ = stop.send(());
    }
    if tokio::time::timeout(STOP_WAIT, &mut running.done)
        .await
        .is_err()
    {
        tracing::warn!(session = %running.run.session_id, "an HLS ladder did not finish in time");
        running.done.abort();
        // The recorder still closes the recording with what was written.
        let _ = running.events.send(HlsEvent::Ended {
            session_id: running.run.session_id.clone(),
        });
    }
}

/// The source's picture size, once the ingest has parsed a keyframe.
async fn source_size(producers: &MediaProducers) -> Option<(u32, u32)> {
    let counters = producers.video_counters.as_ref()?;
    let deadline = tokio::time::Instant::now() + SIZE_WAIT;
    loop {
        let stats = counters.stats(0);
        if let (Some(w), Some(h)) = (stats.width, stats.height) {
            return Some((w, h));
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The rungs of an earlier publish into this session (its master playlist),
/// so a reconnect continues the same ladder.
async fn existing_rungs(dir: &Path, config: &LadderConfig) -> Option<Vec<Rung>> {
    let text = tokio::fs::read(dir.join("master.m3u8")).await.ok()?;
    let master = m3u8_rs::parse_master_playlist_res(&text).ok()?;
    let rungs: Vec<Rung> = master
        .variants
        .iter()
        .filter_map(|v| {
            let name = v.uri.split('/').next()?;
            config.rungs.iter().find(|r| r.name == name).cloned()
        })
        .collect();
    (!rungs.is_empty() && rungs.len() == master.variants.len()).then_some(rungs)
}
