use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::Keys;
use crate::db::Db;
use crate::egress::Egress;
use crate::hls::{Audience, Hls};
use crate::ingest::Ingest;
use crate::recording::Recorder;
use crate::storage::{Backlog, Delivery, Storage, Uploads};

/// Settings the HTTP layer needs, fixed at start-up.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Base URL clients use to reach us, without a trailing slash.
    pub public_url: String,
    pub max_sdp_bytes: usize,
    pub default_max_webrtc_viewers: i64,
    /// Sessions one instructor may have that have not ended.
    pub max_sessions_per_instructor: i64,
    /// The built web app.
    pub player_dir: PathBuf,
    /// Where media files live (HLS, recordings); local storage's root.
    pub data_dir: PathBuf,
    /// The operator's token for `/metrics` and `/healthz` details.
    pub metrics_token: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub ingest: Ingest,
    pub egress: Egress,
    /// The classroom rooms (session WebSockets).
    pub hub: crate::control::Hub,
    pub hls: Hls,
    /// The class's broadcast (one publish, or several composed).
    pub composer: crate::compose::Composer,
    /// Who fetched HLS playlists from us lately (the HLS tier's head count).
    pub hls_audience: Audience,
    pub storage: Storage,
    /// The upload spool; `None` with local storage (nothing to upload).
    pub uploads: Option<Uploads>,
    pub recorder: Recorder,
    pub delivery: Arc<Delivery>,
    pub settings: Arc<HttpSettings>,
}

impl AppState {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url)
    }

    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    pub async fn backlog(&self) -> Backlog {
        match &self.uploads {
            Some(u) => u.backlog().await,
            None => Backlog {
                backend: self.storage.name().into(),
                ..Backlog::default()
            },
        }
    }
}
