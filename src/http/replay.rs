//! Replay: the library (recordings across a course's sessions), where each
//! user left off in a recording (Resume on any device), and a session's
//! chat as it was written, to show beside the video.

use std::collections::HashMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::access::authorize;
use super::recordings::{recordings_session, view, RecordingView};
use super::ApiError;
use crate::auth::policy::{self, Capability, Denied, Listing};
use crate::auth::{Claims, Role};
use crate::db::{Recording, RecordingState, Session};
use crate::http::state::AppState;
use crate::http::{ApiCall, AuthUser};
use crate::time::{now_ms, rfc3339};

/// Recordings a library lists at most.
const LIBRARY_LIMIT: i64 = 200;
/// A position may pass the recording's end by this much (players report
/// the last frame's time a little late).
const POSITION_SLACK_MS: i64 = 5_000;
const CHAT_DEFAULT_LIMIT: i64 = 200;
const CHAT_MAX_LIMIT: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/recordings", get(library))
        .route(
            "/api/recordings/{id}/position",
            get(position).put(set_position),
        )
        .route("/api/sessions/{id}/chat", get(chat))
}

#[derive(Debug, Deserialize)]
struct LibraryQuery {
    course: Option<String>,
}

#[derive(Debug, Serialize)]
struct Library {
    course: Option<String>,
    /// Newest first.
    recordings: Vec<RecordingView>,
}

/// Recordings the caller may replay, newest first: an instructor's own
/// sessions' (of one course, if asked), or the one session a scoped token
/// names (if it is of that course). Deleted ones are left out.
async fn library(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    query: Result<Query<LibraryQuery>, QueryRejection>,
) -> Result<Json<Library>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let course = query
        .course
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let recordings = match library_listing(&who)? {
        Listing::InstructorsOwn(me) => {
            state
                .db
                .instructor_recordings(&me, course.as_deref(), LIBRARY_LIMIT)
                .await?
        }
        Listing::One(id) => {
            // Exactly what showing the session's recordings would give:
            // nothing when refused.
            let session = match recordings_session(&state, &who, &id).await {
                Ok(s) => s,
                Err(ApiError::Denied(_)) | Err(ApiError::Status(StatusCode::NOT_FOUND, _)) => {
                    return Ok(Json(Library {
                        course,
                        recordings: Vec::new(),
                    }))
                }
                Err(e) => return Err(e),
            };
            let of_course = course.is_none() || session.course == course;
            let recordings = if of_course {
                state.db.session_recordings(&id).await?
            } else {
                Vec::new()
            };
            sessions.insert(id, session);
            let mut recordings: Vec<Recording> = recordings
                .into_iter()
                .filter(|r| r.state != RecordingState::Deleted)
                .collect();
            recordings.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.part)));
            recordings
        }
    };
    let mut views = Vec::with_capacity(recordings.len());
    for rec in recordings {
        if !sessions.contains_key(&rec.session_id) {
            if let Some(s) = state.db.session(&rec.session_id).await? {
                sessions.insert(rec.session_id.clone(), s);
            }
        }
        let Some(session) = sessions.get(&rec.session_id) else {
            continue;
        };
        views.push(view(&state, &who, session, rec).await?);
    }
    Ok(Json(Library {
        course,
        recordings: views,
    }))
}

/// Like `policy::listing`, but a replay token (which a playback URL
/// carries) lists its own session's recordings.
fn library_listing(who: &Claims) -> Result<Listing, Denied> {
    match (&who.session, who.replay) {
        (Some(id), true) => Ok(Listing::One(id.clone())),
        _ => policy::listing(who),
    }
}

/// The recording, if the caller may replay it; the same refusals as
/// `GET /api/recordings/{id}` (a scoped token learns nothing of other ids).
async fn replayable(state: &AppState, who: &Claims, id: &str) -> Result<Recording, ApiError> {
    let unknown = || -> ApiError {
        if who.session.is_some() || who.role != Role::Instructor {
            Denied::OtherSession.into()
        } else {
            ApiError::not_found(format!("no recording {id:?}"))
        }
    };
    let rec = state.db.recording(id).await?.ok_or_else(unknown)?;
    let (_, role) = authorize(state, who, &rec.session_id, Capability::Replay).await?;
    if rec.state == RecordingState::Deleted && role != Role::Instructor {
        return Err(ApiError::not_found(format!("no recording {id:?}")));
    }
    Ok(rec)
}

#[derive(Debug, Serialize)]
struct PositionView {
    position_s: Option<f64>,
    updated_at: Option<String>,
}

async fn position(call: ApiCall) -> Result<Json<PositionView>, ApiError> {
    let ApiCall { state, who, id } = call;
    replayable(&state, &who, &id).await?;
    let stored = state.db.replay_position(&who.sub, &id).await?;
    Ok(Json(PositionView {
        position_s: stored.map(|(ms, _)| ms as f64 / 1000.0),
        updated_at: stored.map(|(_, at)| rfc3339(at)),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPosition {
    position_s: f64,
}

async fn set_position(
    call: ApiCall,
    body: Result<Json<SetPosition>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let ApiCall { state, who, id } = call;
    let rec = replayable(&state, &who, &id).await?;
    let Json(req) = body?;
    let now = now_ms();
    // While a recording is still being made its length is how long it has run.
    let length_ms = rec
        .duration_ms
        .unwrap_or_else(|| rec.stopped_at.unwrap_or(now) - rec.created_at)
        .max(0);
    let max_s = (length_ms + POSITION_SLACK_MS) as f64 / 1000.0;
    if !req.position_s.is_finite() || req.position_s < 0.0 || req.position_s > max_s {
        return Err(ApiError::unprocessable(format!(
            "position_s must be between 0 and {max_s:.3} (the recording's length)"
        )));
    }
    let position_ms = (req.position_s * 1000.0).round() as i64;
    state
        .db
        .set_replay_position(&who.sub, &id, position_ms, now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ChatQuery {
    since_ms: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ChatPage {
    /// Oldest first.
    messages: Vec<ChatLine>,
    /// Where the next page starts (`since_ms`), when there are more.
    next_since_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
struct ChatLine {
    id: String,
    sender_name: String,
    text: String,
    at: String,
    at_ms: i64,
    reply_to: Option<String>,
}

/// The session's chat from `since_ms` on, a page at a time.
async fn chat(
    call: ApiCall,
    query: Result<Query<ChatQuery>, QueryRejection>,
) -> Result<Json<ChatPage>, ApiError> {
    let ApiCall { state, who, id } = call;
    authorize(&state, &who, &id, Capability::Replay).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(CHAT_DEFAULT_LIMIT);
    if !(1..=CHAT_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {CHAT_MAX_LIMIT}"
        )));
    }
    let since_ms = query.since_ms.unwrap_or(0).max(0);
    // One more than asked tells whether there is a next page.
    let mut rows = state.db.chat_since(&id, since_ms, limit + 1).await?;
    let next_since_ms = page_end(&mut rows, limit as usize, |m| m.created_at);
    Ok(Json(ChatPage {
        messages: rows
            .into_iter()
            .map(|m| ChatLine {
                at: rfc3339(m.created_at),
                at_ms: m.created_at,
                id: m.id,
                sender_name: m.sender_name,
                text: m.text,
                reply_to: m.reply_to,
            })
            .collect(),
        next_since_ms,
    }))
}

/// Cuts `rows` (oldest first, up to `limit + 1`) to a page, and says where
/// the next starts. The cursor is a time, so a page never ends inside a
/// millisecond: the messages of the first time left over all move to the
/// next page. Only a page that is one millisecond throughout keeps `limit`
/// of them and moves on a millisecond (what else that millisecond held is
/// skipped; a chat does not send `limit` messages in one).
fn page_end<T>(rows: &mut Vec<T>, limit: usize, at: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() <= limit {
        return None;
    }
    let next = at(&rows[limit]);
    let keep = rows.iter().take(limit).take_while(|r| at(r) < next).count();
    if keep == 0 {
        rows.truncate(limit);
        return Some(next + 1);
    }
    rows.truncate(keep);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::page_end;

    fn page(times: &[i64], limit: usize) -> (Vec<i64>, Option<i64>) {
        let mut rows = times.to_vec();
        let next = page_end(&mut rows, limit, |t| *t);
        (rows, next)
    }

    #[test]
    fn a_short_page_is_the_last() {
        assert_eq!(page(&[1, 2, 3], 3), (vec![1, 2, 3], None));
        assert_eq!(page(&[], 3), (vec![], None));
    }

    #[test]
    fn a_full_page_ends_before_the_next_time() {
        assert_eq!(page(&[1, 2, 3, 4], 3), (vec![1, 2, 3], Some(4)));
        // 3 continues past the page: all of 3 goes to the next page.
        assert_eq!(page(&[1, 2, 3, 3], 3), (vec![1, 2], Some(3)));
        assert_eq!(page(&[1, 3, 3, 3], 3), (vec![1], Some(3)));
    }

    #[test]
    fn a_page_of_one_millisecond_moves_on() {
        assert_eq!(page(&[5, 5, 5, 5], 3), (vec![5, 5, 5], Some(6)));
    }
}
