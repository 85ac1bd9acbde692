//! WHEP (IETF draft, the viewing twin of WHIP): `POST /whep/{session}` with a
//! recvonly offer creates a viewer resource; `PATCH` trickles ICE into it;
//! `DELETE` leaves. `GET /api/sessions/{id}/viewers` shows the figures.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::sessions::owned_session;
use super::webrtc::{delete, offer_text, trickle, Offering, Resource, Resources, Side};
use super::ApiError;
use crate::auth::policy::Denied;
use crate::auth::{Claims, Role};
use crate::egress::{SessionViewers, ViewOf};
use crate::http::state::AppState;
use crate::http::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/whep/{session}", post(offer))
        .route(
            "/whep/{session}/{resource}",
            patch(trickle::<Whep>).delete(delete::<Whep>),
        )
        .route("/api/sessions/{id}/viewers", get(viewers))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewOptions {
    /// `1`/`true`: no video is sent.
    audio_only: Option<String>,
    /// One publish of the class (its id in the session's `publishes`);
    /// absent: the main broadcast.
    publish: Option<String>,
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

fn hls_url(state: &AppState, session_id: &str) -> String {
    state.url(&format!("/hls/{session_id}/master.m3u8"))
}

async fn offer(
    State(state): State<AppState>,
    offering: Offering<Whep>,
    options: Result<Query<ViewOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (who, session) = (&offering.who, &offering.session);
    let Query(options) = options.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let audio_only = flag(options.audio_only.as_deref())?;
    let text = offer_text(&headers, body, session)?;
    let hls = hls_url(&state, &offering.session_id);
    let publish = options.publish.filter(|p| !p.is_empty());
    if publish.as_ref().is_some_and(|p| p.len() > 64) {
        return Err(ApiError::bad_request(
            "publish must be a publish id from the session",
        ));
    }
    let view = ViewOf {
        audio_only,
        publish,
    };
    let answer = state.egress.view(session, who, &text, view, hls).await?;
    offering.created(&state, &answer.resource_id, answer.sdp, &answer.etag)
}

/// WHEP resources: the egress side holds them.
struct Whep;

/// Offers: anyone who may watch the session over WebRTC (not banned;
/// guests only where the session lets them).
impl Resources for Whep {
    const SIDE: Side = Side::Egress;

    fn offer_refused(state: &AppState, session_id: &str, refusal: ApiError) -> ApiError {
        match refusal {
            ApiError::Denied(Denied::GuestsUseHls) => ApiError::forbidden(format!(
                "guests watch this session over HLS: {}",
                hls_url(state, session_id)
            )),
            other => other,
        }
    }

    /// The resource's viewer, or the session's instructor.
    fn may_change(r: &Resource<'_>, who: &Claims, role: Role) -> Result<(), ApiError> {
        let owner = r
            .state
            .egress
            .owner_of(r.session_id, r.resource_id)
            .ok_or_else(|| ApiError::not_found("no such WHEP resource"))?;
        if owner != who.sub && role != Role::Instructor {
            return Err(ApiError::forbidden(
                "this WHEP resource belongs to another viewer",
            ));
        }
        Ok(())
    }
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
