//! classcast: a live-class broadcast server. Instructors publish over WHIP; the
//! server fans the stream out over WebRTC and HLS and records it.
//!
//! Layers, from the top down (a module imports only from layers below it):
//! - `main`, then [`cli`]: the flags (the only module that knows clap), turned
//!   into each layer's own configuration.
//! - [`server`]: the composition root. [`server::Services`] builds and stops
//!   everything below; `serve` binds and serves it; the demo publisher.
//! - [`http`]: axum routers (sessions API, WHIP/WHEP, HLS, recordings, health,
//!   static player), the classroom socket handler, `AppState`, the auth
//!   extractors, rate and connection limits, and the one place where errors
//!   become status codes.
//! - Side by side below http, neither importing the other:
//!   - [`control`]: the classroom (rooms, hub, protocol, cross-process broker).
//!   - the media group, each importing only those after it: [`egress`] (WHEP
//!     viewers) → [`recording`] → [`hls`] (the ladder) → [`compose`] (the
//!     class's broadcast: one publish as it comes, or several composed) →
//!     [`ingest`] (WHIP publishers) → [`rtc`] (the WebRTC-resource lifecycle WHIP and WHEP
//!     share) → [`media`] (GStreamer glue: pipelines, SDP, producers).
//! - [`storage`]: local disk or S3, the CDN, the upload spool.
//! - [`db`]: sessions, publishes, recordings and the classroom in SQLite or
//!   PostgreSQL.
//! - [`auth`]: JWT keys, claims and the access policy.
//! - [`ids`], [`inflight`] and [`time`]: typed ids, once-at-a-time claims
//!   and clocks, used by every layer.
//!
//! [`client`] stands beside [`server`]: a WHIP publisher built on webrtcbin
//! (demo, tests, benchmarks), importing only [`media`] and below.

pub mod auth;
pub mod cli;
pub mod client;
pub mod compose;
pub mod control;
pub mod db;
pub mod egress;
pub mod hls;
pub mod http;
pub mod ids;
pub mod inflight;
pub mod ingest;
pub mod media;
pub mod recording;
pub mod rtc;
pub mod server;
pub mod storage;
pub mod time;

pub use http::app;
pub use http::AppState;
