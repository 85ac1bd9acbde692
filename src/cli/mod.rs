//! Command-line interface. Every flag is also an environment variable, so the
//! same settings work from a shell, docker-compose or Kubernetes. The only
//! module that knows clap: `config` turns these arguments into each layer's
//! own configuration.

mod config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::Role;
use crate::http::RateSpec;

#[derive(Debug, Parser)]
#[command(
    name = "classcast",
    version,
    about = "Live-class broadcast server: WHIP in, WebRTC and HLS out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print a signed JWT for local use.
    Token(TokenArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Publish a test pattern to a WHIP endpoint (a GStreamer WHIP client).
    Publish(PublishArgs),
    /// Manage recordings.
    #[command(subcommand)]
    Recordings(RecordingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum RecordingsCommand {
    /// Delete recordings older than the retention period from storage and
    /// mark them deleted (the server also does this every hour).
    Prune(PruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `storage::Backend` as a flag value.
/// How WebRTC viewers are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebrtcEgress {
    Forward,
    Pipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    /// The data directory, served by classcast.
    Local,
    /// An S3 bucket (or S3-compatible store), served through a CDN.
    S3,
}

/// Object storage, the CDN in front of it, and recording retention.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Where HLS and recordings are stored for viewers.
    #[arg(long, env = "CLASSCAST_STORAGE", value_enum, default_value_t = StorageBackend::Local)]
    pub storage: StorageBackend,
    #[arg(long, env = "CLASSCAST_S3_BUCKET", default_value = "")]
    pub s3_bucket: String,
    /// Key prefix inside the bucket, e.g. `classcast/`.
    #[arg(long, env = "CLASSCAST_S3_PREFIX", default_value = "")]
    pub s3_prefix: String,
    /// Region (default: from the AWS configuration chain).
    #[arg(long, env = "CLASSCAST_S3_REGION")]
    pub s3_region: Option<String>,
    /// Custom endpoint for S3-compatible stores (MinIO, moto, …).
    #[arg(long, env = "CLASSCAST_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), needed by most S3-compatible stores.
    #[arg(long, env = "CLASSCAST_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Uploads in flight at once.
    #[arg(long, env = "CLASSCAST_UPLOAD_CONCURRENCY", default_value_t = 4)]
    pub upload_concurrency: usize,
    /// Longest pause between upload retries while the store is down.
    #[arg(long, env = "CLASSCAST_UPLOAD_RETRY_MAX", default_value = "30s", value_parser = humantime::parse_duration)]
    pub upload_retry_max: Duration,
    /// Base URL of the CDN (CloudFront distribution) in front of the bucket.
    /// Without it, playback URLs are S3 presigned URLs.
    #[arg(long, env = "CLASSCAST_CDN_URL")]
    pub cdn_url: Option<String>,
    /// CloudFront key pair (public key) id for signed URLs.
    #[arg(long, env = "CLASSCAST_CLOUDFRONT_KEY_PAIR_ID")]
    pub cloudfront_key_pair_id: Option<String>,
    /// PEM private key of that key pair.
    #[arg(long, env = "CLASSCAST_CLOUDFRONT_PRIVATE_KEY_FILE")]
    pub cloudfront_private_key_file: Option<PathBuf>,
    /// CloudFront distribution to invalidate when a publish ends (optional).
    #[arg(long, env = "CLASSCAST_CLOUDFRONT_DISTRIBUTION_ID")]
    pub cloudfront_distribution_id: Option<String>,
    /// Custom CloudFront API endpoint (tests: moto).
    #[arg(long, env = "CLASSCAST_CLOUDFRONT_ENDPOINT")]
    pub cloudfront_endpoint: Option<String>,
    /// Lifetime of playback URLs (signed, presigned or token-carrying).
    #[arg(long, env = "CLASSCAST_PLAYBACK_URL_TTL", default_value = "6h", value_parser = humantime::parse_duration)]
    pub playback_url_ttl: Duration,
    /// Recordings older than this are deleted from storage.
    #[arg(long, env = "CLASSCAST_RECORDING_RETENTION", default_value = "90days", value_parser = humantime::parse_duration)]
    pub recording_retention: Duration,
    /// The CDN in `--cdn-url` is meant to be public: playback URLs through it
    /// are unsigned and never expire. Without this flag `--cdn-url` needs a
    /// CloudFront key pair.
    #[arg(long, env = "CLASSCAST_CDN_UNSIGNED")]
    pub cdn_unsigned: bool,
    /// An upload that fails this many times while the store takes others is
    /// given up (its file stays on disk; the next start tries it again).
    #[arg(long, env = "CLASSCAST_UPLOAD_MAX_ATTEMPTS", default_value_t = 10)]
    pub upload_max_attempts: u32,
    /// HLS of a class nobody chose to record (`record` off, no recording) is
    /// deleted (locally and in the bucket) this long after its last publish
    /// ended, and answered 410 from then on.
    #[arg(long, env = "CLASSCAST_UNRECORDED_HLS_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub unrecorded_hls_ttl: Duration,
    /// New recordings are refused (and `/healthz` says `low`) while the data
    /// directory's disk has less free space than this, in MB; 0: no check.
    #[arg(long, env = "CLASSCAST_MIN_FREE_DISK_MB", default_value_t = 1024)]
    pub min_free_disk_mb: u64,
}

/// Whether `--jwt-secret` was given as an argument (any process can read
/// arguments; the environment is private to the user).
pub fn secret_on_command_line() -> bool {
    std::env::args_os().any(|a| {
        a.to_str()
            .is_some_and(|a| a == "--jwt-secret" || a.starts_with("--jwt-secret="))
    })
}

/// Where state lives: the data directory and the database.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the SQLite file, the generated JWT secret and media files.
    #[arg(long, env = "CLASSCAST_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// How tokens are signed and checked.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// HS256 shared secret. Without it (and without a key file) a secret is
    /// generated once and kept in `<data-dir>/jwt-secret`.
    #[arg(long, env = "CLASSCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256: PEM private key, used to sign tokens (`classcast token`, stage tokens).
    #[arg(long, env = "CLASSCAST_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// RS256: PEM public key, used to verify tokens. Required with `--jwt-key-file`
    /// when the server must verify them.
    #[arg(long, env = "CLASSCAST_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Longest token lifetime accepted (`exp - iat` and `exp - now`).
    #[arg(long, env = "CLASSCAST_JWT_MAX_LIFETIME", default_value = "24h", value_parser = humantime::parse_duration)]
    pub jwt_max_lifetime: Duration,
    /// When set, tokens must carry this `iss` (the server's own are signed with it).
    #[arg(long, env = "CLASSCAST_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud` (the server's own are signed with it).
    #[arg(long, env = "CLASSCAST_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "CLASSCAST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL clients use to reach this server (for whip_url, Location, …).
    /// Default: `http://<listen>`.
    #[arg(long, env = "CLASSCAST_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// STUN/TURN server for WebRTC, repeatable: `stun://host:port` or
    /// `turn://user:password@host:port?transport=udp`. Default: none.
    #[arg(
        long = "ice-server",
        env = "CLASSCAST_ICE_SERVERS",
        value_delimiter = ','
    )]
    pub ice_servers: Vec<String>,
    /// Largest accepted SDP body, in bytes.
    #[arg(long, env = "CLASSCAST_MAX_SDP_BYTES", default_value_t = 64 * 1024)]
    pub max_sdp_bytes: usize,
    /// How long a WHIP answer may wait for ICE candidate gathering.
    #[arg(long, env = "CLASSCAST_ICE_GATHER_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub ice_gather_timeout: Duration,
    /// A publisher whose media stops for this long is considered gone.
    #[arg(long, env = "CLASSCAST_MEDIA_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub media_timeout: Duration,
    /// A publisher whose ICE/DTLS does not connect within this time is dropped.
    #[arg(long, env = "CLASSCAST_CONNECT_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Preferred video codec when a publisher offers several.
    #[arg(long, env = "CLASSCAST_PREFER_VIDEO_CODEC", value_enum, default_value_t = VideoCodec::H264)]
    pub prefer_video_codec: VideoCodec,
    /// A connected WebRTC viewer from whom no RTCP came this long is reaped
    /// (a closed tab or a dead network sends no DELETE).
    #[arg(long, env = "CLASSCAST_VIEWER_RTCP_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub viewer_rtcp_timeout: Duration,
    /// Switch each WebRTC viewer between the source and the ladder's rungs
    /// by its bandwidth (`false`: everyone gets the source).
    #[arg(long, env = "CLASSCAST_VIEWER_ADAPTATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub viewer_adaptation: bool,
    /// How WebRTC viewers are served: `forward` (one shared engine, str0m,
    /// all viewers on one UDP port) or `pipeline` (a webrtcbin each).
    #[arg(long, env = "CLASSCAST_WEBRTC_EGRESS", value_enum, default_value_t = WebrtcEgress::Forward)]
    pub webrtc_egress: WebrtcEgress,
    /// The UDP port of the `forward` viewers' media (0: any free port;
    /// open it in the firewall when set).
    #[arg(long, env = "CLASSCAST_WEBRTC_UDP_PORT", default_value_t = 0)]
    pub webrtc_udp_port: u16,
    /// Addresses offered to `forward` viewers (repeat; default: the
    /// host's interface addresses).
    #[arg(
        long = "webrtc-address",
        env = "CLASSCAST_WEBRTC_ADDRESSES",
        value_delimiter = ','
    )]
    pub webrtc_addresses: Vec<std::net::IpAddr>,
    /// Where session events cross server processes: `local` (one process),
    /// `redis://127.0.0.1:6379`, or a `postgres://` URL (LISTEN/NOTIFY).
    #[arg(long, env = "CLASSCAST_BROKER", default_value = "local")]
    pub broker: String,
    /// Names this server among several sharing a database; at start-up it
    /// closes only the attendance its own previous run left open.
    /// Default: `<hostname>/<listen address>`.
    #[arg(long, env = "CLASSCAST_INSTANCE")]
    pub instance: Option<String>,
    /// Default cap on WebRTC viewers for new sessions.
    #[arg(long, env = "CLASSCAST_MAX_WEBRTC_VIEWERS", default_value_t = 50)]
    pub max_webrtc_viewers: i64,
    /// WHEP resources (negotiating or live) one user may hold in one session.
    #[arg(long, env = "CLASSCAST_MAX_VIEWS_PER_USER", default_value_t = 2)]
    pub max_views_per_user: usize,
    /// WHIP publishes (negotiating or live) one user may hold across sessions.
    #[arg(long, env = "CLASSCAST_MAX_PUBLISHES_PER_USER", default_value_t = 2)]
    pub max_publishes_per_user: usize,
    /// Students publishing on one class's stage at once.
    #[arg(long, env = "CLASSCAST_MAX_STAGE_PUBLISHES", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub max_stage_publishes: u16,
    /// Sessions one instructor may have that have not ended (more: 409).
    #[arg(
        long,
        env = "CLASSCAST_MAX_SESSIONS_PER_INSTRUCTOR",
        default_value_t = 50
    )]
    pub max_sessions_per_instructor: i64,
    /// The built web app (`make build` writes it): pages, assets, and the
    /// plain publish/watch pages under /player/.
    #[arg(long, env = "CLASSCAST_PLAYER_DIR", default_value = "player/dist")]
    pub player_dir: PathBuf,
    /// The HLS ladder definition (rungs, segment length, live window).
    /// Default: `pipelines/ladder.toml` when present, else the built-in copy.
    #[arg(long, env = "CLASSCAST_LADDER")]
    pub ladder: Option<PathBuf>,
    /// Do not transcode publishes into HLS (WebRTC-only nodes).
    #[arg(long, env = "CLASSCAST_DISABLE_HLS")]
    pub disable_hls: bool,
    /// Create a session `demo` and publish a test pattern into it over WHIP.
    #[arg(long, env = "CLASSCAST_DEMO")]
    pub demo: bool,
    /// A connection must send each request head within this time, counted
    /// from when it opened or from its previous response (so it also closes
    /// idle keep-alive connections).
    #[arg(long, env = "CLASSCAST_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_timeout: Duration,
    /// A request body must arrive whole within this time of its head (408).
    #[arg(long, env = "CLASSCAST_HTTP_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub http_body_timeout: Duration,
    /// Open HTTP connections at most (WebSockets included); past it a new
    /// connection waits up to 1 s for one to close, then is closed. 0: no cap.
    #[arg(long, env = "CLASSCAST_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open HTTP connections per client address (the TCP peer). 0: no cap.
    #[arg(long, env = "CLASSCAST_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Costly requests (WHIP/WHEP offers, session creation, recordings
    /// listing) per client address: `BURST/PERIOD`, or `off`.
    #[arg(long, env = "CLASSCAST_RATE_LIMIT_IP", default_value = "600/1m")]
    pub rate_limit_ip: RateSpec,
    /// Costly requests per user (the token's `sub`): `BURST/PERIOD`, or `off`.
    #[arg(long, env = "CLASSCAST_RATE_LIMIT_USER", default_value = "30/1m")]
    pub rate_limit_user: RateSpec,
    /// Failed authentications (401) per client address; past it, requests
    /// from there with a token that does not verify get 429. `off` disables.
    #[arg(
        long,
        env = "CLASSCAST_RATE_LIMIT_AUTH_FAILURES",
        default_value = "20/1m"
    )]
    pub rate_limit_auth_failures: RateSpec,
    /// Invite redeems (`POST /api/invites/{code}/redeem`) per client
    /// address: `BURST/PERIOD`, or `off`.
    #[arg(
        long,
        env = "CLASSCAST_RATE_LIMIT_INVITE_REDEEMS",
        default_value = "10/1m"
    )]
    pub rate_limit_invite_redeems: RateSpec,
    /// Replay position writes (`PUT /api/recordings/{id}/position`) per
    /// user: `BURST/PERIOD`, or `off`.
    #[arg(
        long,
        env = "CLASSCAST_RATE_LIMIT_POSITION_WRITES",
        default_value = "2/1s"
    )]
    pub rate_limit_position_writes: RateSpec,
    /// Take the client address for rate limits from the last entry of
    /// `X-Forwarded-For` (only behind a proxy that sets it).
    #[arg(long, env = "CLASSCAST_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// The operator's bearer token for `/metrics` (then required) and for the
    /// details in `/healthz` (store errors). Without it `/metrics` shows only
    /// sums, no session ids, and error texts go only to the log.
    #[arg(long, env = "CLASSCAST_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// `media::VideoCodecPref` as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VideoCodec {
    H264,
    Vp8,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[arg(long, value_enum)]
    pub role: Role,
    /// Subject: the user's id.
    #[arg(long)]
    pub user: String,
    /// Display name (default: the user id).
    #[arg(long)]
    pub name: Option<String>,
    /// Restrict the token to one session.
    #[arg(long)]
    pub session: Option<String>,
    /// Lifetime, e.g. `1h`, `30m`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// WHIP endpoint, e.g. http://127.0.0.1:8080/whip/<session>.
    #[arg(long)]
    pub whip_url: String,
    /// Bearer token of the session's instructor.
    #[arg(long, env = "CLASSCAST_TOKEN", hide_env_values = true)]
    pub token: String,
    #[arg(long, value_enum, default_value_t = VideoCodec::H264)]
    pub codec: VideoCodec,
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Stop after this long (default: until interrupted).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}
