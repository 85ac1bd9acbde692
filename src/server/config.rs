//! What `Services::start` needs, in each layer's own terms. `classcast serve`
//! fills it from its flags (`cli`); tests and benchmarks build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthConfig;
use crate::control::broker::BrokerConfig;
use crate::egress::EgressConfig;
use crate::http::serve::ConnLimits;
use crate::http::RateConfig;
use crate::ingest::IngestConfig;
use crate::storage::StorageConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file (by default), the generated JWT secret and media files.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    /// `None`: no retention task (in-process tests prune by hand).
    pub retention: Option<Retention>,
    /// New recordings are refused below this much free disk, in bytes; 0: no check.
    pub min_free_disk: u64,
    pub ingest: IngestConfig,
    pub egress: EgressConfig,
    pub hls: HlsSetup,
    /// Where session events cross server processes.
    pub broker: BrokerConfig,
    pub site: Site,
    /// A session `demo` with a test pattern published into it.
    pub demo: bool,
    pub http: HttpConfig,
}

/// Where this server listens, how clients reach it, what it is called.
#[derive(Debug, Clone)]
pub struct Site {
    pub listen: SocketAddr,
    /// Base URL clients use to reach this server; `None`: `http://<listen>`.
    pub public_url: Option<String>,
    /// Names this server among several sharing a database; `None`: the host
    /// and the listen address.
    pub instance: Option<String>,
}

/// Whether publishes are transcoded into HLS, and into which ladder.
#[derive(Debug, Clone)]
pub struct HlsSetup {
    /// `false`: WebRTC only.
    pub enabled: bool,
    /// The ladder definition; `None`: `pipelines/ladder.toml` when present,
    /// else the built-in copy.
    pub ladder: Option<PathBuf>,
}

/// How long stored media is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Recordings older than this are deleted from storage.
    pub recordings: Duration,
    /// HLS of a class nobody recorded is deleted this long after its last publish.
    pub unrecorded_hls_ttl: Duration,
}

/// What the HTTP layer enforces and serves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_sdp_bytes: usize,
    /// Default cap on WebRTC viewers for new sessions.
    pub max_webrtc_viewers: i64,
    pub max_sessions_per_instructor: i64,
    /// The built web app (pages at /, /studio/…, assets, /player/…).
    pub player_dir: PathBuf,
    /// The operator's bearer token for `/metrics` and `/healthz` details.
    pub metrics_token: Option<String>,
    pub rate: RateConfig,
    pub connections: ConnLimits,
}
