//! The one place where errors become HTTP status codes.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::policy::Denied;
use crate::auth::AuthError;
use crate::db::DbError;
use crate::egress::{self, EgressError};
use crate::ingest::IngestError;
use crate::media::sdp::SdpError;
use crate::media::MediaError;
use crate::recording::RecordingError;
use crate::rtc::RtcError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    Status(StatusCode, String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The access policy refused.
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// A rate limit (see `limits`): how long until the client may try again.
    #[error("too many requests: try again in {} s", retry_after_secs(*.0))]
    RateLimited(std::time::Duration),
}

/// Whole seconds, rounded up, at least 1 (what `Retry-After` carries).
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// The `ApiError::Status` constructors, one per status the handlers refuse
/// with: `ApiError::not_found("no such …")`.
macro_rules! status_constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            pub fn $name(msg: impl Into<String>) -> Self {
                ApiError::Status(StatusCode::$code, msg.into())
            }
        )*
    };
}

impl ApiError {
    status_constructors! {
        bad_request => BAD_REQUEST,
        forbidden => FORBIDDEN,
        not_found => NOT_FOUND,
        conflict => CONFLICT,
        unsupported_media_type => UNSUPPORTED_MEDIA_TYPE,
        unprocessable => UNPROCESSABLE_ENTITY,
        gone => GONE,
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Status(code, _) => *code,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Auth(AuthError::Config(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // The object store or CDN did not answer: try again later.
            ApiError::Storage(StorageError::Remote(_) | StorageError::CloudFront(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Said to the instructor: free space is the operator's to fix.
            ApiError::Recording(RecordingError::LowDisk(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(_) | ApiError::Recording(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Egress(e) => match e {
                EgressError::Rtc(e) => rtc_status(e),
                EgressError::NotLive => StatusCode::CONFLICT,
                EgressError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
                EgressError::NotFound | EgressError::NoSuchPublish => StatusCode::NOT_FOUND,
                EgressError::Media(e) => media_status(e),
                EgressError::Forward(egress::forward::ForwardError::Offer(_)) => {
                    StatusCode::BAD_REQUEST
                }
                EgressError::Forward(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Ingest(e) => match e {
                IngestError::Rtc(e) => rtc_status(e),
                IngestError::Taken(_) | IngestError::StageFull { .. } => StatusCode::CONFLICT,
                IngestError::NotFound => StatusCode::NOT_FOUND,
                IngestError::Media(e) => media_status(e),
                IngestError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

/// An offer the server could not read (400) or cannot take (422), alike for
/// WHIP and WHEP.
fn sdp_status(e: &SdpError) -> StatusCode {
    match e {
        SdpError::Parse(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The media pipeline's failures, alike for WHIP and WHEP.
fn media_status(e: &MediaError) -> StatusCode {
    match e {
        MediaError::Negotiation(_) => StatusCode::BAD_REQUEST,
        MediaError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The WebRTC-resource core's refusals, alike for WHIP and WHEP.
fn rtc_status(e: &RtcError) -> StatusCode {
    match e {
        RtcError::Offer(e) => sdp_status(e),
        RtcError::NotFound(_) => StatusCode::NOT_FOUND,
        RtcError::EtagMismatch => StatusCode::PRECONDITION_FAILED,
        RtcError::IceRestartUnsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RtcError::Fragment(_) => StatusCode::BAD_REQUEST,
        RtcError::TooManyCandidates { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        RtcError::PerUserLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
        RtcError::Saturated | RtcError::Abandoned => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            // Internals are for the log, not for the client.
            tracing::error!(error = %self, "request failed");
            "internal error".to_owned()
        } else {
            tracing::debug!(status = status.as_u16(), error = %self, "request refused");
            self.to_string()
        };
        let mut body = json!({ "error": message, "status": status.as_u16() });
        // Past the WebRTC cap: where to watch instead (also as a Link).
        let hls = match &self {
            ApiError::Egress(EgressError::Full { hls_url, .. }) => Some(hls_url.clone()),
            _ => None,
        };
        if let Some(url) = &hls {
            body["hls"] = json!(url);
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        let retry_after = match &self {
            // Seats free up as viewers leave; the player watches HLS meanwhile.
            ApiError::Egress(EgressError::Full { .. }) => Some(30),
            // Publishers come back within seconds of a reconnect.
            ApiError::Egress(EgressError::NotLive) => Some(5),
            ApiError::RateLimited(wait) => Some(retry_after_secs(*wait)),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(2),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        if let Some(link) = hls
            .map(|url| {
                format!("<{url}>; rel=\"alternate\"; type=\"application/vnd.apple.mpegurl\"")
            })
            .and_then(|l| axum::http::HeaderValue::from_str(&l).ok())
        {
            response
                .headers_mut()
                .insert(axum::http::header::LINK, link);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::Status(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&r);
        while let Some(e) = cause {
            if e.is::<super::serve::BodyTimeout>() {
                return ApiError::Status(StatusCode::REQUEST_TIMEOUT, e.to_string());
            }
            cause = e.source();
        }
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::Status(r.status(), "request body is too large".into())
        } else {
            ApiError::Status(r.status(), r.body_text())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_rate_limit_is_a_429_with_retry_after_in_whole_seconds() {
        let response = ApiError::RateLimited(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "2");
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
