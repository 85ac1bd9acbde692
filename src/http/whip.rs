//! WHIP (RFC 9725): `POST /whip/{session}` with an SDP offer creates a publish
//! resource; `PATCH` trickles ICE into it; `DELETE` ends it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::access::authorize;
use super::ApiError;
use crate::auth::policy::Capability;
use crate::auth::{Claims, Role};
use crate::db::{Session, SessionState};
use crate::http::state::AppState;
use crate::http::AuthUser;

pub(super) const SDP: &str = "application/sdp";
pub(super) const TRICKLE: &str = "application/trickle-ice-sdpfrag";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/whip/{session}", post(offer))
        .route("/whip/{session}/{resource}", patch(trickle).delete(stop))
}

/// CORS answers OPTIONS itself; these headers ride on every WHIP response so a
/// preflight learns what the endpoint takes (RFC 9725 §4.1).
pub fn advertise<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("accept-post"),
            HeaderValue::from_static(SDP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("accept-patch"),
            HeaderValue::from_static(TRICKLE),
        ))
}

/// Whether the request body is of `expected` type (parameters ignored).
pub(super) fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let actual = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match actual {
        Some(t) if t == expected => Ok(()),
        Some(t) => Err(ApiError::unsupported_media_type(format!(
            "expected Content-Type {expected}, got {t}"
        ))),
        None => Err(ApiError::unsupported_media_type(format!(
            "expected Content-Type {expected}"
        ))),
    }
}

/// The session, if `who` may publish into it: its instructor, or a student
/// while the classroom has them on stage and has not banned them (checked
/// live on every request: a stage token outlives the stage).
async fn publishable_session(
    state: &AppState,
    who: &Claims,
    session_id: &str,
) -> Result<Session, ApiError> {
    Ok(authorize(state, who, session_id, Capability::Publish)
        .await?
        .0)
}

/// The session, if `who` may change or end the WHIP resource `resource_id`:
/// the instructor any of the session's; a student on stage only their own.
async fn publish_resource_session(
    state: &AppState,
    who: &Claims,
    session_id: &str,
    resource_id: &str,
) -> Result<Session, ApiError> {
    let (session, role) = authorize(state, who, session_id, Capability::Publish).await?;
    if role == Role::Instructor {
        return Ok(session);
    }
    let own = state
        .ingest
        .publisher(session_id)
        .is_some_and(|p| p.publisher_id() == who.sub && p.resource_id() == resource_id);
    if !own {
        return Err(ApiError::forbidden("this WHIP resource is not yours"));
    }
    Ok(session)
}

async fn offer(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    auth: Result<AuthUser, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let AuthUser(who) = auth?;
    let session = publishable_session(&state, &who, &session_id).await?;
    require_content_type(&headers, SDP)?;
    let body = body?;
    if session.state == SessionState::Ended {
        return Err(ApiError::conflict("the session has ended"));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the SDP offer is not UTF-8"))?;
    // A session has one publish: a student on stage takes it only while the
    // instructor is not publishing (both at once is not supported yet).
    if who.stage {
        if let Some(p) = state.ingest.publisher(&session_id) {
            if p.publisher_id() != who.sub {
                return Err(ApiError::conflict(
                    "the instructor is publishing: a student on stage can publish once the instructor stops",
                ));
            }
        }
    }
    let answer = state.ingest.publish(&session, &who, text).await?;

    let location = state.url(&format!("/whip/{session_id}/{}", answer.resource_id));
    let mut response = (StatusCode::CREATED, answer.sdp).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP));
    h.insert(header::LOCATION, value(&location)?);
    h.insert(header::ETAG, value(&answer.etag)?);
    for server in &state.ingest.config().ice_servers {
        h.append(header::LINK, value(&server.link_header())?);
    }
    Ok(response)
}

pub(super) fn value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s)
        .map_err(|_| ApiError::bad_request(format!("cannot send header value {s:?}")))
}

async fn trickle(
    State(state): State<AppState>,
    Path((session_id, resource_id)): Path<(String, String)>,
    auth: Result<AuthUser, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let AuthUser(who) = auth?;
    publish_resource_session(&state, &who, &session_id, &resource_id).await?;
    let (text, if_match) = trickle_request(&headers, body)?;
    state
        .ingest
        .patch(&session_id, &resource_id, if_match, &text)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A trickle-ICE PATCH (WHIP and WHEP): the SDP fragment and `If-Match`.
pub(super) fn trickle_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Option<&str>), ApiError> {
    require_content_type(headers, TRICKLE)?;
    let body = body?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the SDP fragment is not UTF-8"))?;
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    Ok((text, if_match))
}

async fn stop(
    State(state): State<AppState>,
    Path((session_id, resource_id)): Path<(String, String)>,
    auth: Result<AuthUser, ApiError>,
) -> Result<StatusCode, ApiError> {
    let AuthUser(who) = auth?;
    publish_resource_session(&state, &who, &session_id, &resource_id).await?;
    state
        .ingest
        .stop(&session_id, Some(&resource_id), "deleted")
        .await?;
    Ok(StatusCode::OK)
}
