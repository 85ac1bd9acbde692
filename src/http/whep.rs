//! WHEP (IETF draft, the viewing twin of WHIP): `POST /whep/{session}` with a
//! recvonly offer creates a viewer resource; `PATCH` trickles ICE into it;
//! `DELETE` leaves. `GET /api/sessions/{id}/viewers` shows the figures.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::access::authorize;
use super::sessions::owned_session;
use super::whip::{require_content_type, value, SDP};
use super::ApiError;
use crate::auth::policy::{Capability, Denied};
use crate::auth::{Claims, Role};
use crate::db::{Session, SessionState};
use crate::egress::SessionViewers;
use crate::http::state::AppState;
use crate::http::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/whep/{session}", post(offer))
        .route("/whep/{session}/{resource}", patch(trickle).delete(leave))
        .route("/api/sessions/{id}/viewers", get(viewers))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewOptions {
    /// `1`/`true`: no video is sent.
    audio_only: Option<String>,
}

fn flag(value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("0") | Some("false") | Some("no") => Ok(false),
        Some("1") | Some("true") | Some("yes") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "audio_only must be 1/true or 0/false, not {other:?}"
        ))),
    }
}

/// The session, if `who` may watch it over WebRTC (not banned; guests only
/// where the session lets them).
async fn viewable_session(
    state: &AppState,
    who: &Claims,
    session_id: &str,
) -> Result<Session, ApiError> {
    match authorize(state, who, session_id, Capability::Watch).await {
        Ok((session, _)) => Ok(session),
        Err(ApiError::Denied(Denied::GuestsUseHls)) => Err(ApiError::forbidden(format!(
            "guests watch this session over HLS: {}",
            hls_url(state, session_id)
        ))),
        Err(e) => Err(e),
    }
}

fn hls_url(state: &AppState, session_id: &str) -> String {
    state.url(&format!("/hls/{session_id}/master.m3u8"))
}

async fn offer(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    options: Result<Query<ViewOptions>, axum::extract::rejection::QueryRejection>,
    auth: Result<AuthUser, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let AuthUser(who) = auth?;
    let session = viewable_session(&state, &who, &session_id).await?;
    let Query(options) = options.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let audio_only = flag(options.audio_only.as_deref())?;
    require_content_type(&headers, SDP)?;
    let body = body?;
    if session.state == SessionState::Ended {
        return Err(ApiError::conflict("the session has ended"));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the SDP offer is not UTF-8"))?;
    let hls = hls_url(&state, &session_id);
    let answer = state
        .egress
        .view(&session, &who, text, audio_only, hls)
        .await?;

    let location = state.url(&format!("/whep/{session_id}/{}", answer.resource_id));
    let mut response = (StatusCode::CREATED, answer.sdp).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, value(SDP)?);
    h.insert(header::LOCATION, value(&location)?);
    h.insert(header::ETAG, value(&answer.etag)?);
    for server in &state.egress.config().ice_servers {
        h.append(header::LINK, value(&server.link_header())?);
    }
    Ok(response)
}

/// The resource's viewer, or the session's instructor, may change it.
async fn may_change(
    state: &AppState,
    who: &Claims,
    session_id: &str,
    resource_id: &str,
) -> Result<(), ApiError> {
    let (_, role) = authorize(state, who, session_id, Capability::See).await?;
    let owner = state
        .egress
        .owner_of(session_id, resource_id)
        .ok_or_else(|| ApiError::not_found("no such WHEP resource"))?;
    if owner != who.sub && role != Role::Instructor {
        return Err(ApiError::forbidden(
            "this WHEP resource belongs to another viewer",
        ));
    }
    Ok(())
}

async fn trickle(
    State(state): State<AppState>,
    Path((session_id, resource_id)): Path<(String, String)>,
    auth: Result<AuthUser, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let AuthUser(who) = auth?;
    may_change(&state, &who, &session_id, &resource_id).await?;
    let (text, if_match) = super::whip::trickle_request(&headers, body)?;
    state
        .egress
        .patch(&session_id, &resource_id, if_match, &text)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn leave(
    State(state): State<AppState>,
    Path((session_id, resource_id)): Path<(String, String)>,
    auth: Result<AuthUser, ApiError>,
) -> Result<StatusCode, ApiError> {
    let AuthUser(who) = auth?;
    may_change(&state, &who, &session_id, &resource_id).await?;
    state
        .egress
        .stop(&session_id, &resource_id, "deleted")
        .await?;
    Ok(StatusCode::OK)
}

/// Every WebRTC viewer's figures: the instructor's view of the room.
async fn viewers(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    auth: Result<AuthUser, ApiError>,
) -> Result<Json<SessionViewers>, ApiError> {
    let AuthUser(who) = auth?;
    let session = owned_session(&state, &who, &session_id).await?;
    Ok(Json(state.egress.session_viewers(&session)))
}
