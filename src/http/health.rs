use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "gstreamer": gst::version_string().to_string(),
                "storage": state.backlog().await,
            })),
        ),
        Err(e) => {
            tracing::error!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
    }
}

/// Prometheus text format: the upload spool, which operators alert on.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let b = state.backlog().await;
    let lines = [
        (
            "classcast_uploads_pending",
            "gauge",
            "Files waiting for object storage.",
            b.pending as f64,
        ),
        (
            "classcast_uploads_retried",
            "gauge",
            "Pending uploads that failed at least once.",
            b.retried as f64,
        ),
        (
            "classcast_uploads_oldest_pending_seconds",
            "gauge",
            "Age of the oldest pending upload.",
            b.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0,
        ),
        (
            "classcast_uploads_in_flight",
            "gauge",
            "Uploads in progress.",
            b.in_flight as f64,
        ),
        (
            "classcast_uploaded_files_total",
            "counter",
            "Files uploaded since start.",
            b.uploaded_files as f64,
        ),
        (
            "classcast_uploaded_bytes_total",
            "counter",
            "Bytes uploaded since start.",
            b.uploaded_bytes as f64,
        ),
        (
            "classcast_upload_failures_total",
            "counter",
            "Failed upload attempts since start.",
            b.failures as f64,
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
