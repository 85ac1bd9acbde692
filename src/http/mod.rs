//! HTTP: one router per resource, merged here.

mod access;
mod attachment;
mod error;
mod extract;
mod health;
mod hls;
mod invites;
mod limits;
pub mod media_control;
pub mod pages;
mod recordings;
mod replay;
mod report;
pub mod serve;
mod sessions;
mod socket;
pub mod state;
mod tokens;
mod webrtc;
mod whep;
mod whip;

pub use error::ApiError;
pub use limits::{RateConfig, RateLimits, RateSpec};

pub use access::authorize;
pub use extract::{request_token, verify_token, ApiCall, AuthUser, PlayerAuth};
pub use state::{AppState, HttpSettings};

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::middleware;
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// The whole application, ready to serve or to call in tests.
pub fn app(state: AppState) -> Router {
    app_with_limits(state, None)
}

/// The application with rate limits (the server's; tests in-process go without).
pub fn app_with_limits(state: AppState, limits: Option<Arc<RateLimits>>) -> Router {
    // The SDP limit is the largest body any route takes.
    let body_limit = state.settings.max_sdp_bytes.max(16 * 1024);
    let router = Router::new()
        .merge(health::router())
        .merge(sessions::router().layer(cors()))
        .merge(hls::router().layer(cors()))
        .merge(recordings::router().layer(cors()))
        .merge(replay::router().layer(cors()))
        .merge(invites::router().layer(cors()))
        .merge(report::router().layer(cors()))
        .merge(tokens::router().layer(cors()))
        .merge(whip::advertise(whip::router().layer(cors())))
        .merge(whip::advertise(whep::router().layer(cors())))
        .merge(socket::router())
        .merge(pages::router(&state))
        .layer(DefaultBodyLimit::max(body_limit));
    // Inside the trace layer, so refusals are traced like other answers.
    let router = match limits {
        Some(limits) => router.layer(middleware::from_fn_with_state(limits, limits::limit)),
        None => router,
    };
    router
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The request's span: method and path, never the query, which may carry a
/// token (`?token=` for players that cannot send headers).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Browsers on other origins (players, publisher pages) may call us with a
/// bearer token; they need to read the WHIP headers.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::RANGE,
        ])
        .expose_headers([
            header::LOCATION,
            header::LINK,
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("accept-post"),
            HeaderName::from_static("accept-patch"),
        ])
}
