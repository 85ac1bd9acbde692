use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::Keys;
use crate::db::Db;
use crate::hls::Hls;
use crate::ingest::Ingest;

/// Settings the HTTP layer needs, fixed at start-up.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Base URL clients use to reach us, without a trailing slash.
    pub public_url: String,
    pub max_sdp_bytes: usize,
    pub default_max_webrtc_viewers: i64,
    pub player_dir: PathBuf,
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub ingest: Ingest,
    pub hls: Hls,
    pub settings: Arc<HttpSettings>,
}

impl AppState {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url)
    }
}
