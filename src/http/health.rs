//! `/healthz` and `/metrics`. Anyone may ask whether the server is up; what
//! went wrong (store error texts) and which sessions run are for the operator:
//! shown only with the `--metrics-token` as a bearer token, otherwise only in
//! the log.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::state::AppState;
use crate::storage::Backlog;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// Whether the request carries the operator's metrics token.
fn is_operator(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return false;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(given.as_bytes(), expected.as_bytes())
}

/// Compares without stopping at the first difference (no timing oracle).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The spool as anyone may see it: how it goes, not why.
fn public_storage(b: &Backlog) -> Value {
    let status = if b.failed > 0 {
        "degraded"
    } else if b.consecutive_failures > 0 {
        "retrying"
    } else {
        "ok"
    };
    json!({
        "backend": b.backend,
        "status": status,
        "pending": b.pending,
        "failed": b.failed,
    })
}

async fn healthz(State(state): State<AppState>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    match state.db.ping().await {
        Ok(()) => {
            let backlog = state.backlog().await;
            let disk = state.recorder.disk_status();
            let operator = is_operator(&state, &headers);
            let storage = if operator {
                json!(backlog)
            } else {
                public_storage(&backlog)
            };
            let disk = if operator {
                json!(disk)
            } else {
                json!({ "status": if disk.low { "low" } else { "ok" } })
            };
            (
                StatusCode::OK,
                Json(json!({
                    "status": "ok",
                    "gstreamer": gst::version_string().to_string(),
                    "storage": storage,
                    "disk": disk,
                })),
            )
        }
        Err(e) => {
            tracing::error!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
    }
}

/// Prometheus text format: the upload spool, which operators alert on, and
/// the audience. Per-session series only for the operator (with
/// `--metrics-token`, which then guards the whole page); otherwise sums.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let operator = is_operator(&state, &headers);
    if state.settings.metrics_token.is_some() && !operator {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "metrics need the operator's token (Authorization: Bearer <--metrics-token>)\n",
        )
            .into_response();
    }
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
        (
            "classcast_uploads_failed",
            "gauge",
            "Uploads given up after --upload-max-attempts (their files are kept; retried at the next start).",
            b.failed as f64,
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    text.push_str(&viewer_metrics(&state, operator));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Viewers by tier, and the WebRTC viewers' traffic: per session for the
/// operator (label values are session ids: hex, no escaping needed), else
/// summed over sessions.
fn viewer_metrics(state: &AppState, per_session: bool) -> String {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Sums {
        viewers: u64,
        bytes: u64,
        nacks: u64,
        plis: u64,
        dropped: u64,
    }
    let label = |session: &str| {
        if per_session {
            format!("{{session=\"{session}\"}}")
        } else {
            String::new()
        }
    };
    let mut sessions: BTreeMap<String, Sums> = BTreeMap::new();
    for (session, v) in state.egress.all_viewers() {
        let s = sessions.entry(label(&session)).or_default();
        s.viewers += 1;
        s.bytes += v.bytes_sent;
        s.nacks += v.nacks_received;
        s.plis += v.plis_received;
        s.dropped += v.frames_dropped;
    }
    if !per_session {
        // Sums read 0, not absent, when nobody watches.
        sessions.entry(String::new()).or_default();
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
            .map(|(labels, s)| (labels.clone(), f(s) as f64))
            .collect()
    };
    // Name, help, and the figure summed per session.
    type Gauge = (&'static str, &'static str, fn(&Sums) -> u64);
    let gauges: [Gauge; 5] = [
        (
            "classcast_webrtc_viewers",
            "WebRTC (WHEP) viewers connected or connecting.",
            |s| s.viewers,
        ),
        (
            "classcast_webrtc_viewer_bytes_sent",
            "Bytes sent to the session's current WebRTC viewers.",
            |s| s.bytes,
        ),
        (
            "classcast_webrtc_viewer_nacks",
            "NACKs received from the session's current WebRTC viewers.",
            |s| s.nacks,
        ),
        (
            "classcast_webrtc_viewer_plis",
            "PLIs received from the session's current WebRTC viewers.",
            |s| s.plis,
        ),
        (
            "classcast_webrtc_viewer_frames_dropped",
            "Video frames the session's WebRTC viewers' queues dropped.",
            |s| s.dropped,
        ),
    ];
    for (name, help, field) in gauges {
        family(name, "gauge", help, per(&field));
    }
    family(
        "classcast_hls_viewers",
        "gauge",
        "Distinct viewers fetching HLS playlists from this server in the last 30 s.",
        {
            let mut rows: BTreeMap<String, f64> = BTreeMap::new();
            if !per_session {
                rows.insert(String::new(), 0.0);
            }
            for (id, n) in state.hls_audience.counts() {
                *rows.entry(label(&id)).or_default() += n as f64;
            }
            rows.into_iter().collect()
        },
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
        (
            "classcast_webrtc_frames_dropped_total",
            "Frames the WebRTC forwarding engine had no room for (it fell behind).",
            totals.frames_dropped_in_engine,
        ),
        (
            "classcast_webrtc_datagrams_dropped_total",
            "WebRTC datagrams dropped because a socket's send buffer was full.",
            totals.datagrams_dropped,
        ),
    ] {
        family(name, "counter", help, vec![(String::new(), value as f64)]);
    }
    text
}
