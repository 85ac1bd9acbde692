//! `/hls/{session}/…`: the ladder's playlists and segments, for hls.js, Safari,
//! VLC, ffplay and the CDN in front of us.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::access::authorize;
use super::ApiError;
use crate::auth::policy::Capability;
use crate::auth::Claims;
use crate::http::state::AppState;
use crate::http::PlayerAuth;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hls/{session}/master.m3u8", get(master))
        .route("/hls/{session}/{rung}/{file}", get(rung_file))
}

async fn master(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    auth: PlayerAuth,
) -> Result<Response, ApiError> {
    authorize(&state, &auth.claims, &session_id, Capability::See).await?;
    let path = state.hls.session_dir(&session_id).join("master.m3u8");
    let Ok(bytes) = tokio::fs::read(&path).await else {
        expired(&state, &session_id).await?;
        return Err(ApiError::not_found(
            "no HLS yet: the session has not been live long enough",
        ));
    };
    let token = passed_on_token(&state, &auth, &session_id);
    Ok(playlist_response(bytes, token.as_deref()))
}

/// 410 when the session's HLS was deleted because nobody recorded it.
async fn expired(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    if state.db.hls_expired(session_id).await? {
        return Err(ApiError::gone(
            "this class was not recorded: its stream was deleted after it ended",
        ));
    }
    Ok(())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

async fn rung_file(
    State(state): State<AppState>,
    Path((session_id, rung, file)): Path<(String, String, String)>,
    auth: PlayerAuth,
) -> Result<Response, ApiError> {
    authorize(&state, &auth.claims, &session_id, Capability::See).await?;
    if !valid_name(&rung) || !valid_name(&file) {
        return Err(ApiError::not_found("no such file"));
    }
    let is_playlist = file == "index.m3u8" || file == "all.m3u8";
    if !is_playlist && crate::hls::playlist::segment_index(&file).is_none() {
        return Err(ApiError::not_found("no such file"));
    }
    let path = state.hls.session_dir(&session_id).join(&rung).join(&file);
    let Ok(bytes) = tokio::fs::read(&path).await else {
        expired(&state, &session_id).await?;
        return Err(ApiError::not_found("no such file"));
    };
    if is_playlist {
        // Players poll their media playlist every segment: a head count.
        state.hls_audience.record(&session_id, &auth.claims.sub);
        let token = passed_on_token(&state, &auth, &session_id);
        return Ok(playlist_response(bytes, token.as_deref()));
    }
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SEGMENT_TYPE));
    // A segment never changes once listed.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}

/// Passed-on tokens live at most this long (and never past the player's own).
const PASSED_ON_TTL_S: u64 = 3600;

/// The token a playlist passes on to its URIs: none unless the player came
/// with one in the query (players with a header or the cookie carry it
/// themselves); then a short token scoped to this session, never outliving
/// the player's, rather than the player's own (which may reach further).
fn passed_on_token(state: &AppState, auth: &PlayerAuth, session_id: &str) -> Option<String> {
    let given = auth.query_token.as_ref()?;
    let who = &auth.claims;
    let now = crate::time::now_ms().max(0) as u64 / 1000;
    let left = who.exp.saturating_sub(now);
    if who.session.as_deref() == Some(session_id) && left <= PASSED_ON_TTL_S {
        return Some(given.clone());
    }
    let claims = Claims::new(
        &who.sub,
        &who.name,
        who.role,
        Some(session_id.to_owned()),
        std::time::Duration::from_secs(left.min(PASSED_ON_TTL_S)),
    );
    // Verify-only keys cannot mint one: the player's own goes on.
    Some(state.keys.sign(&claims).unwrap_or_else(|_| given.clone()))
}

/// Playlists change every segment: never cached. A token that came in the
/// query is passed on to every URI, since players do not carry it over.
fn playlist_response(bytes: Vec<u8>, query_token: Option<&str>) -> Response {
    let body = match query_token {
        Some(token) => with_token(&String::from_utf8_lossy(&bytes), token).into_bytes(),
        None => bytes,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn with_token(playlist: &str, token: &str) -> String {
    let token: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%'))
        .collect();
    playlist
        .lines()
        .map(|line| {
            if line.is_empty() || line.starts_with('#') {
                line.to_owned()
            } else {
                let sep = if line.contains('?') { '&' } else { '?' };
                format!("{line}{sep}token={token}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_token_on() {
        let p = "#EXTM3U\n#EXTINF:2,\nseg_00001.ts\n720p/index.m3u8\n";
        assert_eq!(
            with_token(p, "a.b-c"),
            "#EXTM3U\n#EXTINF:2,\nseg_00001.ts?token=a.b-c\n720p/index.m3u8?token=a.b-c\n"
        );
        assert!(!with_token(p, "x\ny").contains("x\ny"), "no injection");
        assert!(valid_name("seg_00001.ts") && !valid_name("..") && !valid_name("a/b"));
    }
}
