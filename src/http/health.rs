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
    text.push_str(&viewer_metrics(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Viewers by tier and session, and the WebRTC viewers' traffic summed per
/// session (label values are session ids: hex, no escaping needed).
fn viewer_metrics(state: &AppState) -> String {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Sums {
        viewers: u64,
        bytes: u64,
        nacks: u64,
        plis: u64,
        dropped: u64,
    }
    let mut sessions: BTreeMap<String, Sums> = BTreeMap::new();
    for (session, v) in state.egress.all_viewers() {
        let s = sessions.entry(session).or_default();
        s.viewers += 1;
        s.bytes += v.bytes_sent;
        s.nacks += v.nacks_received;
        s.plis += v.plis_received;
        s.dropped += v.frames_dropped;
    }
    let mut text = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in rows {
            text.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let per = |f: &dyn Fn(&Sums) -> u64| -> Vec<(String, f64)> {
        sessions
            .iter()
            .map(|(id, s)| (format!("{{session=\"{id}\"}}"), f(s) as f64))
            .collect()
    };
    family(
        "classcast_webrtc_viewers",
        "gauge",
        "WebRTC (WHEP) viewers connected or connecting.",
        per(&|s| s.viewers),
    );
    family(
        "classcast_webrtc_viewer_bytes_sent",
        "gauge",
        "Bytes sent to the session's current WebRTC viewers.",
        per(&|s| s.bytes),
    );
    family(
        "classcast_webrtc_viewer_nacks",
        "gauge",
        "NACKs received from the session's current WebRTC viewers.",
        per(&|s| s.nacks),
    );
    family(
        "classcast_webrtc_viewer_plis",
        "gauge",
        "PLIs received from the session's current WebRTC viewers.",
        per(&|s| s.plis),
    );
    family(
        "classcast_webrtc_viewer_frames_dropped",
        "gauge",
        "Video frames the session's WebRTC viewers' queues dropped.",
        per(&|s| s.dropped),
    );
    family(
        "classcast_hls_viewers",
        "gauge",
        "Distinct viewers fetching HLS playlists from this server in the last 30 s.",
        state
            .hls_audience
            .counts()
            .into_iter()
            .map(|(id, n)| (format!("{{session=\"{id}\"}}"), n as f64))
            .collect(),
    );
    let totals = state.egress.totals();
    for (name, help, value) in [
        (
            "classcast_webrtc_viewers_started_total",
            "WebRTC viewers answered since start.",
            totals.viewers_started,
        ),
        (
            "classcast_webrtc_viewers_reaped_total",
            "WebRTC viewers ended by the server (ICE failure, RTCP timeout, publisher gone).",
            totals.viewers_reaped,
        ),
        (
            "classcast_webrtc_viewers_refused_full_total",
            "WHEP offers refused because the session's seats were taken.",
            totals.refused_full,
        ),
    ] {
        family(name, "counter", help, vec![(String::new(), value as f64)]);
    }
    text
}
