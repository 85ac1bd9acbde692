//! WHIP (RFC 9725): `POST /whip/{session}` with an SDP offer creates a publish
//! resource; `PATCH` trickles ICE into it; `DELETE` ends it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::webrtc::{
    delete, offer_text, trickle, Offering, Resource, Resources, Side, SDP, TRICKLE,
};
use super::ApiError;
use serde::Deserialize;

use crate::auth::{Claims, Role};
use crate::http::state::AppState;
use crate::media::PublishKind;

pub fn router() -> Router<AppState> {
    Router::new().route("/whip/{session}", post(offer)).route(
        "/whip/{session}/{resource}",
        patch(trickle::<Whip>).delete(delete::<Whip>),
    )
}

/// CORS answers OPTIONS itself; these headers ride on every WHIP response so a
/// preflight learns what the endpoint takes (RFC 9725 §4.1).
pub fn advertise<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("accept-post"),
            HeaderValue::from_static(SDP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("accept-patch"),
            HeaderValue::from_static(TRICKLE),
        ))
}

/// WHIP resources: the ingest side holds them.
struct Whip;

/// Offers: the session's instructor, or a student while the classroom has
/// them on stage and has not banned them (checked live on every request: a
/// stage token outlives the stage).
impl Resources for Whip {
    const SIDE: Side = Side::Ingest;

    /// The instructor may change any of the session's; a student on stage
    /// only their own.
    fn may_change(r: &Resource<'_>, who: &Claims, role: Role) -> Result<(), ApiError> {
        if role == Role::Instructor {
            return Ok(());
        }
        let own = r
            .state
            .ingest
            .publish(r.session_id, r.resource_id)
            .is_some_and(|p| p.publisher_id() == who.sub);
        if !own {
            return Err(ApiError::forbidden("this WHIP resource is not yours"));
        }
        Ok(())
    }
}

/// `?source=screen`: the instructor's screen share, a publish of its own
/// beside the camera (OBS and browsers alike: a second WHIP URL).
#[derive(Debug, Deserialize)]
struct PublishOptions {
    source: Option<String>,
}

/// What this publish is to the class: a student's is always the stage.
fn publish_kind(who: &Claims, source: Option<&str>) -> Result<PublishKind, ApiError> {
    let screen = match source.map(str::trim) {
        None | Some("") | Some("camera") => false,
        Some("screen") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "source must be camera or screen, not {:?}",
                other.chars().take(32).collect::<String>()
            )))
        }
    };
    if who.role == Role::Instructor && !who.stage {
        return Ok(if screen {
            PublishKind::Screen
        } else {
            PublishKind::Camera
        });
    }
    if screen {
        return Err(ApiError::forbidden(
            "only the instructor shares a screen in this class",
        ));
    }
    Ok(PublishKind::Stage)
}

async fn offer(
    State(state): State<AppState>,
    offering: Offering<Whip>,
    options: Result<Query<PublishOptions>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (who, session) = (&offering.who, &offering.session);
    let Query(options) = options.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = publish_kind(who, options.source.as_deref())?;
    let text = offer_text(&headers, body, session)?;
    let answer = state.ingest.start(session, who, kind, &text).await?;
    offering.created(&state, &answer.resource_id, answer.sdp, &answer.etag)
}
