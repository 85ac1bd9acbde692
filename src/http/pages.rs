//! The web app: the pages built from `player/` (home, join, studio,
//! classroom, replay) and their assets, under a Content-Security-Policy that
//! allows no inline script and no origin but ours (and the CDN's or the
//! bucket's for media, where recordings and HLS are delivered from there).

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

use crate::http::state::AppState;

/// Page routes and the HTML shell each serves; the page reads its ids from
/// the path.
const PAGES: [(&str, &str); 6] = [
    ("/", "index.html"),
    ("/join/{code}", "join.html"),
    ("/studio/{id}", "studio.html"),
    ("/class/{id}", "classroom.html"),
    ("/replay/{id}", "replay.html"),
    ("/library", "replay.html"),
];

pub fn router(state: &AppState) -> Router<AppState> {
    let dir = &state.settings.player_dir;
    let mut router = Router::new();
    for (route, file) in PAGES {
        router = router.route_service(route, ServeFile::new(dir.join(file)));
    }
    router
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
        // The plain publisher and watch pages (OBS-less instructors, tests).
        .nest_service("/player", ServeDir::new(dir.join("player")))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            secure_headers,
        ))
}

/// Whether the built pages are there: `make run` builds them; a server
/// started from a bare checkout says so instead of serving 404s.
pub fn built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}

async fn secure_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(
        state.delivery.cdn_url.as_deref(),
        !state.storage.is_local(),
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Scripts, styles, fonts and frames only from us; media and media fetches
/// (hls.js loads segments with XHR) also from the CDN, or from any HTTPS
/// origin when recordings come straight from a bucket's presigned URLs.
pub fn content_security_policy(cdn_url: Option<&str>, remote_storage: bool) -> String {
    let media = match (cdn_url.and_then(origin_of), remote_storage) {
        (Some(cdn), _) => format!(" {cdn}"),
        (None, true) => " https:".to_owned(),
        (None, false) => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self'; media-src 'self' blob:{media}; connect-src 'self'{media}; \
         worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `https://d111.cloudfront.net/prefix` → `https://d111.cloudfront.net`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_cdn_origin_only_for_media() {
        let csp = content_security_policy(Some("https://d111.cloudfront.net/class/"), true);
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("media-src 'self' blob: https://d111.cloudfront.net;"));
        assert!(csp.contains("connect-src 'self' https://d111.cloudfront.net;"));
        let local = content_security_policy(None, false);
        assert!(local.contains("connect-src 'self';"));
        assert!(!local.contains("unsafe-inline"));
        let bucket = content_security_policy(None, true);
        assert!(bucket.contains("media-src 'self' blob: https:;"));
    }
}
