//! The session's attendance and engagement report, for its instructor.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::sessions::owned_session;
use super::ApiError;
use crate::control::report::{session_report, SessionReport};
use crate::http::state::AppState;
use crate::http::AuthUser;
use crate::time::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/sessions/{id}/report", get(report))
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
