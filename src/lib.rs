//! classcast: a live-class broadcast server. Instructors publish over WHIP; the
//! server fans the stream out over WebRTC and HLS and records it.
//!
//! Layers, from the outside in:
//! - [`http`]: axum routers (sessions API, WHIP, health, static player) and the
//!   one place where errors become status codes.
//! - [`auth`]: JWT keys, claims and the extractors that check them.
//! - [`ingest`]: one WHIP publisher per session, feeding [`media`] producers.
//! - [`media`]: GStreamer glue (init, pipeline descriptions, SDP analysis,
//!   producers that later stages subscribe to).
//! - [`rtc`]: the WebRTC-resource lifecycle WHIP and WHEP share (registry,
//!   owned negotiation, trickle, limits).
//! - [`db`]: sessions and publish events in SQLite or PostgreSQL.
//! - [`client`]: a WHIP publisher built on webrtcbin (demo and tests).

pub mod auth;
pub mod cli;
pub mod client;
pub mod control;
pub mod db;
pub mod egress;
pub mod hls;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod media;
pub mod recording;
pub mod rtc;
pub mod server;
pub mod storage;
pub mod time;

pub use http::app;
pub use http::AppState;
