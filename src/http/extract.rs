use axum::extract::{FromRequestParts, Path};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::state::AppState;
use super::ApiError;
use crate::auth::{AuthError, Claims};

/// A call on one thing the path names by `{id}` (a session, a recording),
/// with a valid bearer token: the token is checked first, then the path.
pub struct ApiCall {
    pub state: AppState,
    pub who: Claims,
    pub id: String,
}

impl FromRequestParts<AppState> for ApiCall {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let AuthUser(who) = AuthUser::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ApiCall {
            state: state.clone(),
            who,
            id,
        })
    }
}

/// A request with a valid bearer token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(AuthError::Missing)?;
        Ok(AuthUser(verify_token(state, token).await?))
    }
}

/// A token's claims, if its signature, times and issuer hold and its user
/// has not revoked it since it was issued (one primary-key read).
pub async fn verify_token(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    let claims = state.keys.verify(token)?;
    if let Some(before) = state.db.tokens_revoked_before(&claims.sub).await? {
        if claims.iat as i64 <= before {
            return Err(AuthError::Revoked.into());
        }
    }
    Ok(claims)
}

/// A player's token: the bearer header, or (for players that cannot send
/// headers) a `token` query parameter or a `classcast_token` cookie.
#[derive(Debug, Clone)]
pub struct PlayerAuth {
    pub claims: Claims,
    /// Set when the token came in the query, so playlists can pass it on.
    pub query_token: Option<String>,
}

impl FromRequestParts<AppState> for PlayerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(parts) {
            return Ok(PlayerAuth {
                claims: verify_token(state, token).await?,
                query_token: None,
            });
        }
        if let Some(token) = query_token(parts) {
            return Ok(PlayerAuth {
                claims: verify_token(state, &token).await?,
                query_token: Some(token),
            });
        }
        let token = cookie_token(parts).ok_or(AuthError::Missing)?;
        Ok(PlayerAuth {
            claims: verify_token(state, token).await?,
            query_token: None,
        })
    }
}

/// The token a request carries, wherever it is (rate limits key on its user).
pub fn request_token(parts: &Parts) -> Option<String> {
    bearer_token(parts)
        .map(str::to_owned)
        .or_else(|| query_token(parts))
        .or_else(|| cookie_token(parts).map(str::to_owned))
}

fn query_token(parts: &Parts) -> Option<String> {
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "classcast_token")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}
