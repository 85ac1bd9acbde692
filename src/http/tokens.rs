//! `POST /api/tokens/revoke`: the caller's tokens, this one included, stop
//! working (sign out everywhere, or a token that leaked).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

use super::ApiError;
use crate::http::state::AppState;
use crate::http::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/tokens/revoke", post(revoke))
}

async fn revoke(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
) -> Result<StatusCode, ApiError> {
    // Tokens are void up to this second; newer ones are issued after it.
    let now_s = crate::time::now_ms() / 1000;
    state.db.revoke_tokens(&who.sub, now_s).await?;
    tracing::info!(user = %who.sub, "tokens revoked");
    Ok(StatusCode::NO_CONTENT)
}
