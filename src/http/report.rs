//! The session's attendance and engagement report, for its instructor: as
//! JSON, and as a CSV file to download.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::attachment::attachment;
use super::sessions::owned_session;
use super::ApiError;
use crate::control::report::csv::attendance_csv;
use crate::control::report::{session_report, SessionReport};
use crate::http::state::AppState;
use crate::http::AuthUser;
use crate::time::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions/{id}/report", get(report))
        .route("/api/sessions/{id}/report.csv", get(report_csv))
}

async fn report(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<SessionReport>, ApiError> {
    owned_session(&state, &who, &id).await?;
    let now = now_ms();
    let rows = state.db.report_rows(&id).await?;
    Ok(Json(session_report(&id, rows, now)))
}

async fn report_csv(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = owned_session(&state, &who, &id).await?;
    let rows = state.db.report_rows(&id).await?;
    let report = session_report(&id, rows, now_ms());
    let consent: HashMap<String, Option<bool>> = state
        .db
        .participants(&id)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p.consent.recording_consent))
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{}-attendance.csv", session.title.trim())),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        attendance_csv(&report, &consent),
    )
        .into_response())
}
