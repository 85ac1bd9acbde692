//! The composition root: every long-lived part of the server built in one
//! place, every task it spawns owned here and stopped in one order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{Config, Retention, ServerError};
use crate::auth::{AuthError, Keys};
use crate::compose::Composer;
use crate::control::broker::Broker;
use crate::control::Hub;
use crate::db::Db;
use crate::egress::Egress;
use crate::hls::{Audience, Hls, LadderConfig};
use crate::http::media_control::MediaPlanes;
use crate::http::state::{AppState, HttpSettings};
use crate::http::RateLimits;
use crate::ingest::Ingest;
use crate::recording::{retention, Recorder};
use crate::storage::{DiskGuard, Storage, Uploads};

/// How often retention runs inside the server.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for recordings to be remuxed and uploads to finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// The running server minus its listener.
pub struct Services {
    /// What the HTTP handlers share.
    pub state: AppState,
    rate_limits: Arc<RateLimits>,
    egress_follower: JoinHandle<()>,
    /// The composer and the ladders, following the publishes.
    followers: Option<(JoinHandle<()>, JoinHandle<()>)>,
    recorder_follower: JoinHandle<()>,
    uploader: Option<JoinHandle<()>>,
    pruner: Option<JoinHandle<()>>,
    demo: Option<JoinHandle<()>>,
}

impl Services {
    /// Opens the database (migrated, with what a previous run left open
    /// closed), storage and every media stage, and starts their tasks.
    pub async fn start(config: &Config) -> Result<Services, ServerError> {
        crate::media::init()?;
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ServerError::Io(data_dir.display().to_string(), e))?;
        let keys = Arc::new(Keys::from_config(&config.auth, data_dir)?);
        if !keys.can_verify() {
            return Err(AuthError::Config(
                "the server needs --jwt-public-key-file to verify RS256 tokens".into(),
            )
            .into());
        }
        let db = open_db(&config.database_url).await?;
        let ingest = Ingest::new(config.ingest.clone(), db.clone());
        let ladder_path = config.hls.ladder.clone().or_else(|| {
            let default = PathBuf::from("pipelines/ladder.toml");
            default.exists().then_some(default)
        });
        let setup = crate::storage::setup::from_config(&config.storage, data_dir).await?;
        let uploads = if setup.storage.is_local() {
            None
        } else {
            Some(
                Uploads::new(
                    db.clone(),
                    setup.storage.clone(),
                    setup.invalidator.clone(),
                    setup.uploads.clone(),
                )
                .await?,
            )
        };
        let uploader = uploads.as_ref().map(Uploads::start);
        let ladder = LadderConfig::load(ladder_path.as_deref())?;
        let composer = Composer::new(ladder.canvas(), db.clone(), ingest.clone());
        let hls = Hls::with_uploads(ladder, data_dir.join("hls"), uploads.clone());
        let recorder = Recorder::new(
            db.clone(),
            hls.clone(),
            setup.storage.clone(),
            uploads.clone(),
            data_dir.clone(),
        )
        .with_disk_guard(DiskGuard::new(data_dir.clone(), config.min_free_disk));
        let disk = recorder.disk_status();
        if disk.low {
            tracing::warn!(
                ?disk,
                "low disk space in the data directory: new recordings are refused"
            );
        }
        recorder.recover().await?;
        let recorder_follower = recorder.follow();
        // Without HLS nothing carries the broadcast: nothing is composed.
        let followers = config
            .hls
            .enabled
            .then(|| (composer.follow(), hls.follow(&composer)));
        let egress = Egress::new(
            config.egress.clone(),
            ingest.clone(),
            hls.clone(),
            composer.clone(),
        );
        let egress_follower = egress.follow(&ingest);
        let broker = Broker::connect(&config.broker).await?;
        tracing::info!(broker = broker.name(), "session events");
        let site = &config.site;
        let instance = site
            .instance
            .clone()
            .unwrap_or_else(|| default_instance(site.listen));
        let closed_attendance = db
            .close_open_attendance(&instance, crate::time::now_ms())
            .await?;
        if closed_attendance > 0 {
            tracing::info!(
                closed_attendance,
                "closed attendance left open by a previous run"
            );
        }
        let pruner = config.retention.map(|retention| {
            spawn_pruner(
                db.clone(),
                setup.storage.clone(),
                uploads.clone(),
                data_dir.clone(),
                retention,
            )
        });
        tracing::info!(
            storage = setup.storage.name(),
            cdn = ?config.storage.cdn.url,
            signed_urls = setup.delivery.signer.is_some(),
            invalidations = setup.invalidator.is_some(),
            "storage"
        );
        let public_url = site
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", site.listen))
            .trim_end_matches('/')
            .to_owned();
        let http = &config.http;
        let state = AppState {
            db: db.clone(),
            keys: keys.clone(),
            ingest: ingest.clone(),
            egress: egress.clone(),
            hub: Hub::new(
                broker,
                db,
                keys.clone(),
                Arc::new(MediaPlanes::new(ingest, egress, composer.clone())),
                public_url.clone(),
                instance,
            ),
            hls,
            composer,
            hls_audience: Audience::default(),
            storage: setup.storage,
            uploads,
            recorder,
            delivery: Arc::new(setup.delivery),
            settings: Arc::new(HttpSettings {
                public_url,
                max_sdp_bytes: http.max_sdp_bytes,
                default_max_webrtc_viewers: http.max_webrtc_viewers,
                max_sessions_per_instructor: http.max_sessions_per_instructor,
                player_dir: http.player_dir.clone(),
                data_dir: data_dir.clone(),
                metrics_token: http.metrics_token.clone(),
            }),
        };
        Ok(Services {
            rate_limits: Arc::new(RateLimits::new(http.rate, keys)),
            state,
            egress_follower,
            followers,
            recorder_follower,
            uploader,
            pruner,
            demo: None,
        })
    }

    /// Publishes a test pattern into a session `demo` (`--demo`).
    pub async fn start_demo(&mut self) -> Result<(), ServerError> {
        self.demo = Some(super::demo::start(&self.state).await?);
        Ok(())
    }

    /// The HTTP application, with the configured rate limits.
    pub fn router(&self) -> axum::Router {
        crate::http::app_with_limits(self.state.clone(), Some(self.rate_limits.clone()))
    }

    /// Stops media first (viewers, then publishers, then ladders), lets the
    /// last recordings be remuxed and uploads drain, then stops the
    /// background tasks and closes the database.
    pub async fn shutdown(self) {
        let state = self.state;
        if let Some(demo) = self.demo {
            demo.abort();
        }
        state.egress.stop_all("server-shutdown").await;
        self.egress_follower.abort();
        state.ingest.stop_all("server-shutdown").await;
        if let Some((composer, ladders)) = self.followers {
            composer.abort();
            ladders.abort();
        }
        state.composer.stop_all().await;
        state.hls.stop_all().await;
        // Let the last recordings be remuxed and the spool empty; what does not
        // finish in time is picked up by the next start.
        tokio::time::sleep(Duration::from_millis(200)).await;
        state.recorder.wait_idle(SHUTDOWN_DRAIN).await;
        if let Some(u) = &state.uploads {
            if !u.drain(SHUTDOWN_DRAIN).await {
                tracing::warn!("uploads still pending at shutdown; they resume on the next start");
            }
        }
        self.recorder_follower.abort();
        if let Some(p) = self.pruner {
            p.abort();
        }
        if let Some(u) = self.uploader {
            u.abort();
        }
        state.db.close().await;
    }
}

/// Connects and migrates; nothing survives a restart live, so what a crash
/// left open is closed.
async fn open_db(url: &str) -> Result<Db, ServerError> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let closed = db.close_open_publishes("server-restart").await?;
    let reset = db.reset_live_sessions().await?;
    if closed + reset > 0 {
        tracing::warn!(
            closed,
            reset,
            "closed publishes left open by a previous run"
        );
    }
    Ok(db)
}

fn spawn_pruner(
    db: Db,
    storage: Storage,
    uploads: Option<Uploads>,
    data_dir: PathBuf,
    keep: Retention,
) -> JoinHandle<()> {
    let ttl = keep.unrecorded_hls_ttl;
    // Unrecorded HLS is due within a fraction of its grace, not an hour late.
    let tick = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                match retention::prune(&db, &storage, &data_dir, keep.recordings, false).await {
                    Ok(r) if !r.recordings_deleted.is_empty() => {
                        tracing::info!(
                            deleted = r.recordings_deleted.len(),
                            "retention pruned recordings"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("retention: {e}"),
                }
            }
            if let Err(e) =
                retention::expire_unrecorded_hls(&db, &storage, uploads.as_ref(), &data_dir, ttl)
                    .await
            {
                tracing::warn!("unrecorded HLS expiry: {e}");
            }
            tokio::time::sleep(tick).await;
        }
    })
}

/// This server's name among several sharing a database: the host and the
/// configured listen address, the same at every restart.
fn default_instance(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{listen}")
}
