//! `/api/sessions`: create, read, list and end class sessions.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::access::authorize;
use super::ApiError;
use crate::auth::policy::{self, Capability, Listing};
use crate::auth::{Claims, Role};
use crate::db::{NewSession, PublishEvent, Session, SessionState};
use crate::http::state::AppState;
use crate::http::{ApiCall, AuthUser};
use crate::ingest::PublishStatus;
use crate::time::{parse_rfc3339, rfc3339};

const MAX_TITLE_CHARS: usize = 200;
const MAX_COURSE_CHARS: usize = 120;
const LIST_LIMIT: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", post(create).get(list))
        .route("/api/sessions/{id}", get(show))
        .route("/api/sessions/{id}/end", post(end))
        .route("/api/sessions/{id}/publishes", get(publishes))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSession {
    title: String,
    scheduled_start: Option<String>,
    scheduled_end: Option<String>,
    max_webrtc_viewers: Option<i64>,
    record: Option<bool>,
    /// Guests may watch over WebRTC (default: HLS only).
    guests_webrtc: Option<bool>,
    /// The course (the library groups recordings by it); blank is none.
    course: Option<String>,
    /// Its recordings may be downloaded (default: play only).
    allow_download: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    id: String,
    title: String,
    instructor: Person,
    state: SessionState,
    live: bool,
    scheduled_start: Option<String>,
    scheduled_end: Option<String>,
    max_webrtc_viewers: i64,
    record: bool,
    guests_webrtc: bool,
    course: Option<String>,
    allow_download: bool,
    created_at: String,
    updated_at: String,
    whip_url: String,
    whep_url: String,
    hls_url: String,
    ws_url: String,
    /// The live publish with its media counters, while there is one (its
    /// `resource_id` for the instructor only).
    media: Option<serde_json::Value>,
    /// Every live publish of the class (camera, screen share, students on
    /// stage), oldest first; `id` is what WHEP's `?publish=` takes.
    publishes: Vec<crate::control::protocol::Publish>,
    /// The HLS ladder of the current or last publish.
    hls: Option<crate::hls::LadderStatus>,
    /// Viewers by tier.
    viewers: ViewerCounts,
}

#[derive(Debug, Serialize)]
struct ViewerCounts {
    webrtc: usize,
    /// Distinct viewers fetching HLS playlists from this server (not the CDN's).
    hls: usize,
    by_level: std::collections::HashMap<String, usize>,
}

#[derive(Debug, Serialize)]
struct Person {
    id: String,
    name: String,
}

fn view(state: &AppState, who: &Claims, s: Session) -> SessionView {
    let owner = policy::owns(who, &super::access::facts(&s));
    let media: Option<PublishStatus> = state.ingest.status(&s.id);
    let webrtc = state.egress.session_viewers(&s);
    let viewers = ViewerCounts {
        webrtc: webrtc.webrtc,
        hls: state.hls_audience.count(&s.id),
        by_level: webrtc.by_level,
    };
    let ws_base = state
        .settings
        .public_url
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    SessionView {
        whip_url: state.url(&format!("/whip/{}", s.id)),
        whep_url: state.url(&format!("/whep/{}", s.id)),
        hls_url: state.url(&format!("/hls/{}/master.m3u8", s.id)),
        ws_url: format!("{ws_base}/ws/sessions/{}", s.id),
        live: media.is_some(),
        publishes: super::media_control::publishes(&state.ingest, &s.id),
        media: media.map(|m| without_resource_id(&m, owner)),
        hls: state.hls.status(&s.id),
        viewers,
        instructor: Person {
            id: s.instructor_id,
            name: s.instructor_name,
        },
        scheduled_start: s.scheduled_start.map(rfc3339),
        scheduled_end: s.scheduled_end.map(rfc3339),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
        id: s.id,
        title: s.title,
        state: s.state,
        max_webrtc_viewers: s.max_webrtc_viewers,
        record: s.record,
        guests_webrtc: s.guests_webrtc,
        course: s.course,
        allow_download: s.allow_download,
    }
}

/// The session, if this token is its instructor's.
pub(super) async fn owned_session(
    state: &AppState,
    who: &Claims,
    id: &str,
) -> Result<Session, ApiError> {
    Ok(authorize(state, who, id, Capability::Own).await?.0)
}

/// A publish's resource id lets its holder stop or change it: only the
/// session's instructor sees it.
fn without_resource_id<T: Serialize>(value: &T, owner: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if !owner {
        if let Some(fields) = value.as_object_mut() {
            fields.remove("resource_id");
        }
    }
    value
}

/// The course as stored: trimmed, blank as none, at most `MAX_COURSE_CHARS`.
fn course(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(course) = value.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if course.chars().count() > MAX_COURSE_CHARS || course.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(format!(
            "course must be at most {MAX_COURSE_CHARS} characters, without control characters"
        )));
    }
    Ok(Some(course.to_owned()))
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            parse_rfc3339(v).ok_or_else(|| {
                ApiError::unprocessable(format!("{field}: expected an RFC 3339 time, got {v:?}"))
            })
        })
        .transpose()
}

async fn create(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    body: Result<Json<CreateSession>, JsonRejection>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    if who.role != Role::Instructor {
        return Err(ApiError::forbidden("only instructors create sessions"));
    }
    let Json(req) = body?;
    if who.replay {
        return Err(policy::Denied::ReplayOnly.into());
    }
    let cap = state.settings.max_sessions_per_instructor;
    if state.db.open_sessions_of(&who.sub).await? >= cap {
        return Err(ApiError::conflict(format!(
            "an instructor may have at most {cap} sessions that have not ended: end one first"
        )));
    }
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::unprocessable(format!(
            "title must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    let course = course(req.course.as_deref())?;
    let start = parse_time("scheduled_start", req.scheduled_start.as_deref())?;
    let end = parse_time("scheduled_end", req.scheduled_end.as_deref())?;
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(ApiError::unprocessable(
                "scheduled_end must be after scheduled_start",
            ));
        }
    }
    let max_viewers = req
        .max_webrtc_viewers
        .unwrap_or(state.settings.default_max_webrtc_viewers);
    if !(0..=100_000).contains(&max_viewers) {
        return Err(ApiError::unprocessable(
            "max_webrtc_viewers must be between 0 and 100000",
        ));
    }
    let session = state
        .db
        .create_session(NewSession {
            id: uuid::Uuid::new_v4().simple().to_string(),
            title: title.to_owned(),
            instructor_id: who.sub.clone(),
            instructor_name: who.name.clone(),
            scheduled_start: start,
            scheduled_end: end,
            max_webrtc_viewers: max_viewers,
            record: req.record.unwrap_or(false),
            guests_webrtc: req.guests_webrtc.unwrap_or(false),
            course,
            allow_download: req.allow_download.unwrap_or(false),
        })
        .await?;
    tracing::info!(session = %session.id, instructor = %who.sub, "session created");
    Ok((StatusCode::CREATED, Json(view(&state, &who, session))))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = match policy::listing(&who)? {
        // Exactly what showing it would give: nothing when refused.
        Listing::One(id) => match authorize(&state, &who, &id, Capability::See).await {
            Ok((s, _)) => vec![s],
            Err(ApiError::Denied(_)) | Err(ApiError::Status(StatusCode::NOT_FOUND, _)) => vec![],
            Err(e) => return Err(e),
        },
        Listing::InstructorsOwn(me) => state.db.sessions(Some(&me), LIST_LIMIT).await?,
    };
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| view(&state, &who, s))
            .collect(),
    ))
}

async fn show(call: ApiCall) -> Result<Json<SessionView>, ApiError> {
    let ApiCall { state, who, id } = call;
    let (session, role) = authorize(&state, &who, &id, Capability::See).await?;
    if role != Role::Instructor {
        // Opening the session is joining it: the instructor sees who is here
        // (and who has not answered the recording-consent question). Only
        // participants the policy let in get a row.
        state
            .db
            .touch_participant(&id, &who.sub, &who.name, role.as_str())
            .await?;
    }
    Ok(Json(view(&state, &who, session)))
}

async fn end(call: ApiCall) -> Result<Json<SessionView>, ApiError> {
    let ApiCall { state, who, id } = call;
    let session = owned_session(&state, &who, &id).await?;
    if session.state != SessionState::Ended {
        // Stop the publishes first so their events close before the session does.
        state.ingest.stop_session(&id, "session-ended").await;
        state.db.set_session_state(&id, SessionState::Ended).await?;
        tracing::info!(session = %id, "session ended");
    }
    let (session, _) = authorize(&state, &who, &id, Capability::See).await?;
    Ok(Json(view(&state, &who, session)))
}

#[derive(Debug, Serialize)]
struct PublishView {
    /// The stored event (its `resource_id` for the instructor only).
    #[serde(flatten)]
    event: serde_json::Map<String, serde_json::Value>,
    started: String,
    stopped: Option<String>,
}

async fn publishes(call: ApiCall) -> Result<Json<Vec<PublishView>>, ApiError> {
    let ApiCall { state, who, id } = call;
    let (_, role) = authorize(&state, &who, &id, Capability::See).await?;
    let events: Vec<PublishEvent> = state.db.publish_events(&id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|event| PublishView {
                started: rfc3339(event.started_at),
                stopped: event.stopped_at.map(rfc3339),
                event: match without_resource_id(&event, role == Role::Instructor) {
                    serde_json::Value::Object(fields) => fields,
                    _ => serde_json::Map::new(),
                },
            })
            .collect(),
    ))
}
