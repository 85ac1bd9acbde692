//! WHIP (RFC 9725): `POST /whip/{session}` with an SDP offer creates a publish
//! resource; `PATCH` trickles ICE into it; `DELETE` ends it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::webrtc::{
    delete, offer_text, trickle, Offering, Resource, Resources, Side, SDP, TRICKLE,
};
use super::ApiError;
use crate::auth::{Claims, Role};
use crate::http::state::AppState;

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
            .publisher(r.session_id)
            .is_some_and(|p| p.publisher_id() == who.sub && p.resource_id() == r.resource_id);
        if !own {
            return Err(ApiError::forbidden("this WHIP resource is not yours"));
        }
        Ok(())
    }
}

async fn offer(
    State(state): State<AppState>,
    offering: Offering<Whip>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (who, session) = (&offering.who, &offering.session);
    let text = offer_text(&headers, body, session)?;
    // A session has one publish: a student on stage takes it only while the
    // instructor is not publishing (both at once is not supported yet).
    if who.stage {
        if let Some(p) = state.ingest.publisher(&offering.session_id) {
            if p.publisher_id() != who.sub {
                return Err(ApiError::conflict(
                    "the instructor is publishing: a student on stage can publish once the instructor stops",
                ));
            }
        }
    }
    let answer = state.ingest.publish(session, who, &text).await?;
    offering.created(&state, &answer.resource_id, answer.sdp, &answer.etag)
}
