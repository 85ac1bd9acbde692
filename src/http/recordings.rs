//! Recordings and recording consent: listing with playback URLs (server URLs
//! for local storage, CloudFront signed or S3 presigned URLs otherwise), the
//! instructor's record switch, participants' consent, and the local files.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::access::authorize;
use super::attachment::attachment;
use super::sessions::owned_session;
use super::ApiError;
use crate::auth::policy::{Capability, Denied};
use crate::auth::{Claims, Role};
use crate::db::{Layout, Participant, Recording, RecordingState, Session};
use crate::http::state::AppState;
use crate::http::{ApiCall, AuthUser, PlayerAuth};
use crate::time::{now_ms, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions/{id}/recordings", get(list))
        .route("/api/sessions/{id}/record", put(set_record))
        .route("/api/recordings/{id}", get(show))
        .route("/api/sessions/{id}/consent", put(set_consent))
        .route("/api/sessions/{id}/participants", get(participants))
        .route("/api/storage", get(storage_status))
        .route("/recordings/{session}/{file}", get(serve_file))
}

#[derive(Debug, Serialize)]
pub struct RecordingView {
    id: String,
    session_id: String,
    /// 1 for the first publish, 2 after a reconnect, …
    part: i64,
    state: RecordingState,
    duration_seconds: Option<f64>,
    size_bytes: Option<i64>,
    /// The title of its session (the library lists recordings of many).
    session_title: String,
    created_at: String,
    created_at_ms: i64,
    stopped_at: Option<String>,
    ready_at: Option<String>,
    error: Option<String>,
    /// Where to play it, while `ready`; time-limited.
    url: Option<String>,
    url_expires_at: Option<String>,
    /// Where to download it, while `ready` and if the session allows
    /// downloads; time-limited like `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
    /// The layouts the broadcast showed (speaker, stage, screen share), as
    /// chapter marks from the recording's start.
    chapters: Vec<ChapterView>,
}

#[derive(Debug, Serialize)]
pub struct ChapterView {
    at_seconds: f64,
    layout: Layout,
    title: &'static str,
}

/// The recording's chapters: the layouts the broadcast showed while it ran.
async fn chapters(state: &AppState, rec: &Recording) -> Result<Vec<ChapterView>, ApiError> {
    let end = rec.stopped_at.unwrap_or_else(now_ms);
    let marks = state
        .db
        .chapters(&rec.session_id, rec.created_at, end)
        .await?;
    Ok(marks
        .into_iter()
        .map(|c| ChapterView {
            at_seconds: (c.at - rec.created_at).max(0) as f64 / 1000.0,
            layout: c.layout,
            title: c.layout.title(),
        })
        .collect())
}

/// Who may see a session's recordings: anyone who may see the session, and
/// students also after the join window closed (replay); a replay token too.
pub(super) async fn recordings_session(
    state: &AppState,
    who: &Claims,
    id: &str,
) -> Result<Session, ApiError> {
    Ok(authorize(state, who, id, Capability::Replay).await?.0)
}

/// The recording as callers see it; `session` is its session.
pub(super) async fn view(
    state: &AppState,
    who: &Claims,
    session: &Session,
    rec: Recording,
) -> Result<RecordingView, ApiError> {
    let (url, expires) = match (&rec.storage_key, rec.state) {
        (Some(key), RecordingState::Ready) => playback_url(state, who, &rec, key).await?,
        _ => (None, None),
    };
    let download_url = url
        .as_deref()
        .filter(|_| session.allow_download)
        .map(|url| download_url(state, url));
    let chapters = chapters(state, &rec).await?;
    Ok(RecordingView {
        chapters,
        session_title: session.title.clone(),
        created_at_ms: rec.created_at,
        download_url,
        id: rec.id,
        session_id: rec.session_id,
        part: rec.part,
        state: rec.state,
        duration_seconds: rec.duration_ms.map(|d| d as f64 / 1000.0),
        size_bytes: rec.size_bytes,
        created_at: rfc3339(rec.created_at),
        stopped_at: rec.stopped_at.map(rfc3339),
        ready_at: rec.ready_at.map(rfc3339),
        error: rec.error,
        url,
        url_expires_at: expires.map(rfc3339),
    })
}

/// Local storage's files download when asked with `download=1`; a store's
/// or CDN's URL is the same as for playing (the page's link says download).
fn download_url(state: &AppState, url: &str) -> String {
    if !url.starts_with(&state.url("/recordings/")) {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}download=1")
}

/// Replay tokens live at most this long (and never past the caller's own).
const REPLAY_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

async fn playback_url(
    state: &AppState,
    who: &Claims,
    rec: &Recording,
    key: &str,
) -> Result<(Option<String>, Option<i64>), ApiError> {
    // A playback URL never outlives the token that asked for it: listing
    // recordings must not renew a short join token.
    let caller_left_ms = (who.exp as i64).saturating_mul(1000) - now_ms();
    let ttl_ms = (state.delivery.ttl.as_millis() as i64)
        .min(caller_left_ms)
        .max(0);
    let expires_ms = now_ms() + ttl_ms;
    if let Some(url) = state.delivery.url(&state.storage, key, expires_ms).await? {
        return Ok((Some(url), Some(expires_ms)));
    }
    // Local storage: served here, with a replay token of the same user for
    // this session in the URL (a <video> element sends no headers). It
    // plays recordings and nothing else.
    let url = state.url(&format!("/recordings/{}/{}.mp4", rec.session_id, rec.id));
    let ttl = REPLAY_TOKEN_TTL.min(std::time::Duration::from_millis(ttl_ms as u64));
    let mut claims = Claims::new(
        &who.sub,
        &who.name,
        who.role,
        Some(rec.session_id.clone()),
        ttl,
    );
    claims.replay = true;
    let expires_ms = claims.exp as i64 * 1000;
    match state.keys.sign(&claims) {
        Ok(token) => Ok((Some(format!("{url}?token={token}")), Some(expires_ms))),
        // Verify-only keys (RS256 without the private key): the caller's own
        // token or cookie has to come along.
        Err(_) => Ok((Some(url), None)),
    }
}

#[derive(Debug, Serialize)]
struct RecordingList {
    session_id: String,
    record: bool,
    recordings: Vec<RecordingView>,
}

async fn list(call: ApiCall) -> Result<Json<RecordingList>, ApiError> {
    let ApiCall { state, who, id } = call;
    let (session, role) = authorize(&state, &who, &id, Capability::Replay).await?;
    let mut recordings = Vec::new();
    for rec in state.db.session_recordings(&id).await? {
        if rec.state == RecordingState::Deleted && role != Role::Instructor {
            continue;
        }
        recordings.push(view(&state, &who, &session, rec).await?);
    }
    Ok(Json(RecordingList {
        session_id: id,
        record: session.record,
        recordings,
    }))
}

async fn show(call: ApiCall) -> Result<Json<RecordingView>, ApiError> {
    let ApiCall { state, who, id } = call;
    let Some(rec) = state.db.recording(&id).await? else {
        // A token for one session must not learn which other ids exist: it
        // gets the same answer as for another session's recording.
        if who.session.is_some() || who.role != Role::Instructor {
            return Err(Denied::OtherSession.into());
        }
        return Err(ApiError::not_found(format!("no recording {id:?}")));
    };
    let session = recordings_session(&state, &who, &rec.session_id).await?;
    Ok(Json(view(&state, &who, &session, rec).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordSwitch {
    record: bool,
}

#[derive(Debug, Serialize)]
struct RecordSwitchView {
    record: bool,
    /// The recording started or stopped by this call, if any.
    recording: Option<RecordingView>,
}

/// The instructor starts or stops recording (also for later publishes).
async fn set_record(
    call: ApiCall,
    body: Result<Json<RecordSwitch>, JsonRejection>,
) -> Result<Json<RecordSwitchView>, ApiError> {
    let ApiCall { state, who, id } = call;
    let session = owned_session(&state, &who, &id).await?;
    let Json(switch) = body?;
    let rec = if switch.record {
        state.recorder.start_now(&id).await
    } else {
        state.recorder.stop_now(&id).await
    }?;
    let recording = match rec {
        Some(r) => Some(view(&state, &who, &session, r).await?),
        None => None,
    };
    tracing::info!(session = %id, record = switch.record, "recording switched by the instructor");
    Ok(Json(RecordSwitchView {
        record: switch.record,
        recording,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Consent {
    consent: bool,
}

async fn set_consent(
    call: ApiCall,
    body: Result<Json<Consent>, JsonRejection>,
) -> Result<Json<Participant>, ApiError> {
    let ApiCall { state, who, id } = call;
    authorize(&state, &who, &id, Capability::See).await?;
    let Json(consent) = body?;
    let p = state
        .db
        .set_recording_consent(&id, &who.sub, &who.name, who.role.as_str(), consent.consent)
        .await?;
    tracing::info!(session = %id, user = %who.sub, consent = consent.consent, "recording consent");
    // Their tile in the composed broadcast shows them, or stops showing them.
    state.composer.refresh(&id);
    Ok(Json(p))
}

#[derive(Debug, Serialize)]
struct ParticipantList {
    participants: Vec<Participant>,
    /// Students and guests who have not agreed to be recorded (refused or
    /// not answered yet).
    without_recording_consent: Vec<Participant>,
}

async fn participants(call: ApiCall) -> Result<Json<ParticipantList>, ApiError> {
    let ApiCall { state, who, id } = call;
    let session = owned_session(&state, &who, &id).await?;
    let participants = state.db.participants(&id).await?;
    let without_recording_consent = participants
        .iter()
        .filter(|p| p.user_id != session.instructor_id && p.consent.recording_consent != Some(true))
        .cloned()
        .collect();
    Ok(Json(ParticipantList {
        participants,
        without_recording_consent,
    }))
}

/// The upload backlog (instructors and operators).
async fn storage_status(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
) -> Result<Json<crate::storage::Backlog>, ApiError> {
    if who.role != Role::Instructor {
        return Err(ApiError::forbidden("instructors only"));
    }
    Ok(Json(state.backlog().await))
}

/// Local storage's MP4s, with Range support for seeking.
async fn serve_file(
    State(state): State<AppState>,
    Path((session_id, file)): Path<(String, String)>,
    Query(query): Query<FileQuery>,
    auth: PlayerAuth,
    request: Request,
) -> Result<Response, ApiError> {
    let session = recordings_session(&state, &auth.claims, &session_id).await?;
    let Some(id) = file
        .strip_suffix(".mp4")
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
    else {
        return Err(ApiError::not_found("no such recording"));
    };
    let rec = state
        .db
        .recording(id)
        .await?
        .filter(|r| r.session_id == session_id && r.state == RecordingState::Ready)
        .ok_or_else(|| ApiError::not_found("no such recording"))?;
    let Some(key) = rec.storage_key else {
        return Err(ApiError::not_found("no such recording"));
    };
    let path = state.data_dir().join(key);
    let mut response = match ServeFile::new(path).oneshot(request).await {
        Ok(r) => r.into_response(),
        Err(e) => match e {},
    };
    if query.download.as_deref() == Some("1") && session.allow_download {
        let name = format!("{} (part {}).mp4", session.title.trim(), rec.part);
        if let Ok(value) = HeaderValue::from_str(&attachment(&name)) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct FileQuery {
    /// `1`: as a download (when the session allows downloads).
    download: Option<String>,
}
