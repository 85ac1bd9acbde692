//! What WHIP and WHEP share: the content types, the SDP offer of a POST,
//! the 201 answer, and the resource's trickle-ICE `PATCH` and `DELETE`
//! (the same steps for both; `Resources` says who may change a resource and
//! which side, ingest or egress, holds it).

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::access::authorize;
use super::ApiError;
use crate::auth::policy::Capability;
use crate::auth::{Claims, Role};
use crate::db::{Session, SessionState};
use crate::http::state::AppState;
use crate::http::AuthUser;
use crate::media::ice::IceServer;

pub(super) const SDP: &str = "application/sdp";
pub(super) const TRICKLE: &str = "application/trickle-ice-sdpfrag";

/// Whether the request body is of `expected` type (parameters ignored).
pub(super) fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let actual = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match actual {
        Some(t) if t == expected => Ok(()),
        Some(t) => Err(ApiError::unsupported_media_type(format!(
            "expected Content-Type {expected}, got {t}"
        ))),
        None => Err(ApiError::unsupported_media_type(format!(
            "expected Content-Type {expected}"
        ))),
    }
}

pub(super) fn value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s)
        .map_err(|_| ApiError::bad_request(format!("cannot send header value {s:?}")))
}

/// The SDP offer of a POST into `session`, checked in this order: content
/// type, body, the session not ended, UTF-8.
pub(super) fn offer_text(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    session: &Session,
) -> Result<String, ApiError> {
    require_content_type(headers, SDP)?;
    let body = body?;
    if session.state == SessionState::Ended {
        return Err(ApiError::conflict("the session has ended"));
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the SDP offer is not UTF-8"))
}

/// Which side of the media pipeline holds a kind of resource.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    /// WHIP publishes.
    Ingest,
    /// WHEP viewers.
    Egress,
}

impl Side {
    /// Where its resources live.
    fn path(self) -> &'static str {
        match self {
            Side::Ingest => "/whip",
            Side::Egress => "/whep",
        }
    }

    /// What a POST of an offer needs.
    fn offer_capability(self) -> Capability {
        match self {
            Side::Ingest => Capability::Publish,
            Side::Egress => Capability::Watch,
        }
    }

    /// What a PATCH or DELETE needs, before `Resources::may_change`.
    fn change_capability(self) -> Capability {
        match self {
            Side::Ingest => Capability::Publish,
            Side::Egress => Capability::See,
        }
    }

    fn ice_servers(self, state: &AppState) -> &[IceServer] {
        match self {
            Side::Ingest => &state.ingest.config().peer.ice_servers,
            Side::Egress => &state.egress.config().peer.ice_servers,
        }
    }
}

/// One WHIP or WHEP resource, as a request names it.
pub(super) struct Resource<'a> {
    pub(super) state: &'a AppState,
    pub(super) session_id: &'a str,
    pub(super) resource_id: &'a str,
}

/// What differs between WHIP and WHEP beyond the side.
pub(super) trait Resources: Send + 'static {
    const SIDE: Side;

    /// A refused offer, as the endpoint words it.
    fn offer_refused(_state: &AppState, _session_id: &str, refusal: ApiError) -> ApiError {
        refusal
    }

    /// Whether `who`, allowed into the session as `role`, may trickle into
    /// or end the resource.
    fn may_change(r: &Resource<'_>, who: &Claims, role: Role) -> Result<(), ApiError>;
}

/// The path's ids and the bearer token's user, in that order (as the
/// handlers had them: a bad path first, then a bad token).
async fn caller<T>(parts: &mut Parts, state: &AppState) -> Result<(T, Claims), Response>
where
    T: DeserializeOwned + Send,
{
    let Path(ids) = Path::<T>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let AuthUser(who) = AuthUser::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((ids, who))
}

/// A POST of an offer by a user who may make one into the path's session.
pub(super) struct Offering<R> {
    pub(super) who: Claims,
    pub(super) session: Session,
    /// As the path has it.
    pub(super) session_id: String,
    kind: PhantomData<R>,
}

impl<R: Resources> Offering<R> {
    /// `201 Created` with the SDP answer: the new resource's `Location`, its
    /// `ETag`, and a `Link` per ICE server.
    pub(super) fn created(
        &self,
        state: &AppState,
        resource_id: &str,
        sdp: String,
        etag: &str,
    ) -> Result<Response, ApiError> {
        let path = R::SIDE.path();
        let location = state.url(&format!("{path}/{}/{resource_id}", self.session_id));
        let mut response = (StatusCode::CREATED, sdp).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP));
        h.insert(header::LOCATION, value(&location)?);
        h.insert(header::ETAG, value(etag)?);
        for server in R::SIDE.ice_servers(state) {
            h.append(header::LINK, value(&server.link_header())?);
        }
        Ok(response)
    }
}

impl<R: Resources> FromRequestParts<AppState> for Offering<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (session_id, who) = caller::<String>(parts, state).await?;
        let session = match authorize(state, &who, &session_id, R::SIDE.offer_capability()).await {
            Ok((session, _)) => session,
            Err(e) => return Err(R::offer_refused(state, &session_id, e).into_response()),
        };
        Ok(Offering {
            who,
            session,
            session_id,
            kind: PhantomData,
        })
    }
}

/// A resource that the request's user may change.
pub(super) struct Changeable<R> {
    session_id: String,
    resource_id: String,
    kind: PhantomData<R>,
}

impl<R: Resources> FromRequestParts<AppState> for Changeable<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ((session_id, resource_id), who) = caller::<(String, String)>(parts, state).await?;
        let resource = Resource {
            state,
            session_id: &session_id,
            resource_id: &resource_id,
        };
        let capability = R::SIDE.change_capability();
        let check = match authorize(state, &who, &session_id, capability).await {
            Ok((_, role)) => R::may_change(&resource, &who, role),
            Err(e) => Err(e),
        };
        check.map_err(IntoResponse::into_response)?;
        Ok(Changeable {
            session_id,
            resource_id,
            kind: PhantomData,
        })
    }
}

/// `PATCH` on a resource: a trickle-ICE SDP fragment, with `If-Match`.
pub(super) async fn trickle<R: Resources>(
    State(state): State<AppState>,
    resource: Changeable<R>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    require_content_type(&headers, TRICKLE)?;
    let body = body?;
    let fragment = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the SDP fragment is not UTF-8"))?;
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let (session, resource) = (resource.session_id.as_str(), resource.resource_id.as_str());
    match R::SIDE {
        Side::Ingest => state.ingest.patch(session, resource, if_match, &fragment)?,
        Side::Egress => state.egress.patch(session, resource, if_match, &fragment)?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE` on a resource.
pub(super) async fn delete<R: Resources>(
    State(state): State<AppState>,
    resource: Changeable<R>,
) -> Result<StatusCode, ApiError> {
    let (session, resource) = (resource.session_id.as_str(), resource.resource_id.as_str());
    match R::SIDE {
        Side::Ingest => {
            state
                .ingest
                .stop(session, Some(resource), "deleted")
                .await?
        }
        Side::Egress => state.egress.stop(session, resource, "deleted").await?,
    }
    Ok(StatusCode::OK)
}
