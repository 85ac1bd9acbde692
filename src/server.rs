//! Start-up and shutdown of `classcast serve`, and the demo publisher.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AuthError, Claims, Keys, Role};
use crate::cli::{ServeArgs, VideoCodecPref};
use crate::client::{WhipClient, WhipClientOptions};
use crate::control::broker::{Broker, BrokerConfig};
use crate::control::Hub;
use crate::db::{Db, DbError, NewSession};
use crate::egress::{Egress, EgressConfig};
use crate::hls::{Audience, Hls, HlsError, LadderConfig};
use crate::http::media_control::MediaPlanes;
use crate::http::serve::ConnLimits;
use crate::http::state::{AppState, HttpSettings};
use crate::http::{RateConfig, RateLimits};
use crate::ingest::{Ingest, IngestConfig};
use crate::media::ice::{IceServer, IceServerError};
use crate::media::MediaError;
use crate::recording::{retention, Recorder, RecordingError};
use crate::storage::{StorageError, Uploads};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Ice(#[from] IceServerError),
    #[error(transparent)]
    Hls(#[from] HlsError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error(transparent)]
    Broker(#[from] crate::control::broker::BrokerError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

const DEMO_SESSION: &str = "demo";
const DEMO_INSTRUCTOR: &str = "demo-instructor";
/// How often retention runs inside the server.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for recordings to be remuxed and uploads to finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

pub async fn serve(args: ServeArgs) -> Result<(), ServerError> {
    crate::media::init()?;
    if crate::cli::secret_on_command_line() {
        tracing::warn!(
            "--jwt-secret on the command line is visible to every user of this host \
             (ps, /proc): set CLASSCAST_JWT_SECRET instead"
        );
    }
    let data_dir = &args.store.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ServerError::Io(data_dir.display().to_string(), e))?;
    let keys = Arc::new(Keys::from_args(&args.auth, data_dir)?);
    if !keys.can_verify() {
        return Err(AuthError::Config(
            "the server needs --jwt-public-key-file to verify RS256 tokens".into(),
        )
        .into());
    }
    let db = Db::connect(&args.store.database_url()).await?;
    db.migrate().await?;
    // Nothing survives a restart live: close what a crash left open.
    let closed = db.close_open_publishes("server-restart").await?;
    let reset = db.reset_live_sessions().await?;
    if closed + reset > 0 {
        tracing::warn!(
            closed,
            reset,
            "closed publishes left open by a previous run"
        );
    }
    let ice_servers = args
        .ice_servers
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| IceServer::parse(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let egress_config = EgressConfig {
        ice_servers: ice_servers.clone(),
        rtcp_timeout: args.viewer_rtcp_timeout,
        connect_timeout: args.connect_timeout,
        adapt: args.viewer_adaptation,
        max_views_per_user: args.max_views_per_user,
        ..EgressConfig::default()
    };
    let ingest = Ingest::new(
        IngestConfig {
            ice_servers,
            ice_gather_timeout: args.ice_gather_timeout,
            media_timeout: args.media_timeout,
            connect_timeout: args.connect_timeout,
            prefer_video_codec: args.prefer_video_codec,
            max_publishes_per_user: args.max_publishes_per_user,
        },
        db.clone(),
    );
    let ladder_path = args.ladder.clone().or_else(|| {
        let default = std::path::PathBuf::from("pipelines/ladder.toml");
        default.exists().then_some(default)
    });
    let setup = crate::storage::setup::from_args(&args.storage, data_dir).await?;
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
    let hls = Hls::with_uploads(
        LadderConfig::load(ladder_path.as_deref())?,
        data_dir.join("hls"),
        uploads.clone(),
    );
    let recorder = Recorder::new(
        db.clone(),
        hls.clone(),
        setup.storage.clone(),
        uploads.clone(),
        data_dir.clone(),
    )
    .with_disk_guard(crate::storage::DiskGuard::new(
        data_dir.clone(),
        args.storage.min_free_disk_mb.saturating_mul(1024 * 1024),
    ));
    let disk = recorder.disk_status();
    if disk.low {
        tracing::warn!(
            ?disk,
            "low disk space in the data directory: new recordings are refused"
        );
    }
    recorder.recover().await?;
    let recorder_task = recorder.follow();
    let follower = (!args.disable_hls).then(|| hls.follow(&ingest));
    let egress = Egress::new(egress_config, ingest.clone(), hls.clone());
    let egress_follower = egress.follow(&ingest);
    let broker = Broker::connect(&BrokerConfig::from_url(&args.broker)?).await?;
    tracing::info!(broker = broker.name(), "session events");
    let instance = args
        .instance
        .clone()
        .unwrap_or_else(|| default_instance(args.listen));
    let closed_attendance = db
        .close_open_attendance(&instance, crate::time::now_ms())
        .await?;
    if closed_attendance > 0 {
        tracing::info!(
            closed_attendance,
            "closed attendance left open by a previous run"
        );
    }
    let pruner = spawn_pruner(
        db.clone(),
        setup.storage.clone(),
        uploads.clone(),
        data_dir.clone(),
        args.storage.recording_retention,
        args.storage.unrecorded_hls_ttl,
    );
    tracing::info!(
        storage = setup.storage.name(),
        cdn = ?args.storage.cdn_url,
        signed_urls = setup.delivery.signer.is_some(),
        invalidations = setup.invalidator.is_some(),
        "storage"
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| ServerError::Io(args.listen.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Io(args.listen.to_string(), e))?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    let state = AppState {
        db: db.clone(),
        keys: keys.clone(),
        ingest: ingest.clone(),
        egress: egress.clone(),
        hub: Hub::new(
            broker,
            db.clone(),
            keys.clone(),
            Arc::new(MediaPlanes::new(ingest.clone(), egress.clone())),
            public_url.clone(),
            instance,
        ),
        hls: hls.clone(),
        hls_audience: Audience::default(),
        storage: setup.storage.clone(),
        uploads: uploads.clone(),
        recorder: recorder.clone(),
        delivery: Arc::new(setup.delivery),
        settings: Arc::new(HttpSettings {
            public_url: public_url.clone(),
            max_sdp_bytes: args.max_sdp_bytes,
            default_max_webrtc_viewers: args.max_webrtc_viewers,
            max_sessions_per_instructor: args.max_sessions_per_instructor,
            player_dir: args.player_dir.clone(),
            data_dir: data_dir.clone(),
            metrics_token: args.metrics_token.clone().filter(|t| !t.is_empty()),
        }),
    };
    tracing::info!(%local, %public_url, "listening");
    // Tests and scripts read this line to learn the port.
    println!("classcast listening on {public_url}");
    if args.demo {
        start_demo(&state).await?;
    }
    let limits = RateLimits::new(
        RateConfig {
            per_ip: args.rate_limit_ip,
            per_user: args.rate_limit_user,
            auth_failures: args.rate_limit_auth_failures,
            trust_forwarded_for: args.trust_forwarded_for,
        },
        keys.clone(),
    );
    let app = crate::http::app_with_limits(state, Some(Arc::new(limits)));
    let conn_limits = ConnLimits {
        header_timeout: args.http_header_timeout,
        body_timeout: args.http_body_timeout,
        max_connections: args.max_connections,
        max_per_ip: args.max_connections_per_ip,
    };
    crate::http::serve::serve(listener, app, conn_limits, shutdown_signal()).await;
    egress.stop_all("server-shutdown").await;
    egress_follower.abort();
    ingest.stop_all("server-shutdown").await;
    hls.stop_all().await;
    if let Some(f) = follower {
        f.abort();
    }
    // Let the last recordings be remuxed and the spool empty; what does not
    // finish in time is picked up by the next start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    recorder.wait_idle(SHUTDOWN_DRAIN).await;
    if let Some(u) = &uploads {
        if !u.drain(SHUTDOWN_DRAIN).await {
            tracing::warn!("uploads still pending at shutdown; they resume on the next start");
        }
    }
    recorder_task.abort();
    pruner.abort();
    if let Some(u) = uploader {
        u.abort();
    }
    db.close().await;
    Ok(())
}

fn spawn_pruner(
    db: Db,
    storage: crate::storage::Storage,
    uploads: Option<Uploads>,
    data_dir: std::path::PathBuf,
    retention: Duration,
    unrecorded_hls_ttl: Duration,
) -> tokio::task::JoinHandle<()> {
    // Unrecorded HLS is due within a fraction of its grace, not an hour late.
    let tick = (unrecorded_hls_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                match retention::prune(&db, &storage, &data_dir, retention, false).await {
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
            if let Err(e) = retention::expire_unrecorded_hls(
                &db,
                &storage,
                uploads.as_ref(),
                &data_dir,
                unrecorded_hls_ttl,
            )
            .await
            {
                tracing::warn!("unrecorded HLS expiry: {e}");
            }
            tokio::time::sleep(tick).await;
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// `make run`: a session `demo` with a test pattern published into it over real
/// WHIP, and the URLs and a token to try things with.
async fn start_demo(state: &AppState) -> Result<(), ServerError> {
    if state.db.session(DEMO_SESSION).await?.is_none() {
        state
            .db
            .create_session(NewSession {
                id: DEMO_SESSION.into(),
                title: "Demo class (test pattern)".into(),
                instructor_id: DEMO_INSTRUCTOR.into(),
                instructor_name: "Demo Instructor".into(),
                scheduled_start: None,
                scheduled_end: None,
                max_webrtc_viewers: state.settings.default_max_webrtc_viewers,
                record: false,
                guests_webrtc: true,
            })
            .await?;
    }
    let token = state.keys.sign(&Claims::new(
        DEMO_INSTRUCTOR,
        "Demo Instructor",
        Role::Instructor,
        None,
        Duration::from_secs(12 * 3600),
    ))?;
    let base = &state.settings.public_url;
    println!(
        "\n  Demo session (test pattern):  {base}/api/sessions/{DEMO_SESSION}\n  \
         Publish from your browser:    {base}/player/publish.html#token={token}\n  \
         Watch the demo over HLS:      {base}/player/watch.html#token={token}&session={DEMO_SESSION}\n  \
         Health:                       {base}/healthz\n\n  \
         Instructor token (12 h):\n  {token}\n\n  \
         Try: curl -H 'Authorization: Bearer <token>' {base}/api/sessions/{DEMO_SESSION}\n"
    );
    let options = WhipClientOptions {
        whip_url: format!("{base}/whip/{DEMO_SESSION}"),
        token,
        codec: VideoCodecPref::H264,
        width: 1280,
        height: 720,
        fps: 30,
    };
    tokio::spawn(async move {
        loop {
            match WhipClient::publish(&options).await {
                Ok(mut client) => {
                    tracing::info!("demo publisher live");
                    let err = client.wait_failed().await;
                    tracing::warn!("demo publisher stopped: {err}");
                }
                Err(e) => tracing::warn!("demo publisher: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    });
    Ok(())
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
