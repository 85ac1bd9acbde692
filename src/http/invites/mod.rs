//! Invite links: the session's instructor creates, lists and revokes them;
//! anyone holding a link previews it and redeems it with a display name for
//! a token scoped to that session in the invite's role (the same token
//! `classcast token --session` mints, so the access policy treats it alike).

mod rules;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::sessions::owned_session;
use super::ApiError;
use crate::auth::{Claims, Role};
use crate::db::{Invite, NewInvite, Session, SessionState};
use crate::http::state::AppState;
use crate::http::{ApiCall, AuthUser};
use crate::time::{now_ms, rfc3339};

use rules::{Unusable, EXPIRES_IN_S, MAX_LIVE_INVITES, MAX_USES};

/// The invites a listing shows at most (newest first).
const LIST_LIMIT: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions/{id}/invites", post(create).get(list))
        .route("/api/sessions/{id}/invites/{invite_id}", delete(revoke))
        .route("/api/invites/{code}", get(preview))
        .route("/api/invites/{code}/redeem", post(redeem))
}

/// The roles an invite may give (never instructor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum InviteRole {
    Student,
    Guest,
}

impl InviteRole {
    fn role(self) -> Role {
        match self {
            InviteRole::Student => Role::Student,
            InviteRole::Guest => Role::Guest,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInvite {
    role: InviteRole,
    expires_in_s: Option<i64>,
    /// `None` (absent or null): unlimited.
    max_uses: Option<i64>,
}

#[derive(Debug, Serialize)]
struct InviteView {
    id: String,
    code: String,
    role: String,
    /// The join page of the link.
    url: String,
    expires_at: String,
    max_uses: Option<i64>,
    uses: i64,
    revoked: bool,
    created_at: String,
}

fn view(state: &AppState, invite: Invite) -> InviteView {
    InviteView {
        url: state.url(&format!("/join/{}", invite.code)),
        expires_at: rfc3339(invite.expires_at),
        revoked: invite.revoked_at.is_some(),
        created_at: rfc3339(invite.created_at),
        id: invite.id,
        code: invite.code,
        role: invite.role,
        max_uses: invite.max_uses,
        uses: invite.uses,
    }
}

async fn create(
    call: ApiCall,
    body: Result<Json<CreateInvite>, JsonRejection>,
) -> Result<(StatusCode, Json<InviteView>), ApiError> {
    let ApiCall { state, who, id } = call;
    let session = owned_session(&state, &who, &id).await?;
    let Json(req) = body?;
    if session.state == SessionState::Ended {
        return Err(ApiError::conflict(Unusable::Ended.to_string()));
    }
    let expires_in_s = req.expires_in_s.unwrap_or(rules::DEFAULT_EXPIRES_IN_S);
    if !EXPIRES_IN_S.contains(&expires_in_s) {
        return Err(ApiError::unprocessable(format!(
            "expires_in_s must be between {} and {} seconds",
            EXPIRES_IN_S.start(),
            EXPIRES_IN_S.end()
        )));
    }
    if req.max_uses.is_some_and(|n| !MAX_USES.contains(&n)) {
        return Err(ApiError::unprocessable(format!(
            "max_uses must be between {} and {}, or null for unlimited",
            MAX_USES.start(),
            MAX_USES.end()
        )));
    }
    let now = now_ms();
    let new = NewInvite {
        id: uuid::Uuid::new_v4().simple().to_string(),
        session_id: id.clone(),
        code: rules::new_code(),
        role: req.role.role().as_str().to_owned(),
        expires_at: now + expires_in_s * 1000,
        max_uses: req.max_uses,
    };
    let Some(invite) = state.db.create_invite(&new, MAX_LIVE_INVITES, now).await? else {
        return Err(ApiError::conflict(format!(
            "a session may have at most {MAX_LIVE_INVITES} invites that still work: revoke some first"
        )));
    };
    tracing::info!(session = %id, invite = %invite.id, role = %invite.role, "invite created");
    Ok((StatusCode::CREATED, Json(view(&state, invite))))
}

async fn list(call: ApiCall) -> Result<Json<Vec<InviteView>>, ApiError> {
    let ApiCall { state, who, id } = call;
    owned_session(&state, &who, &id).await?;
    let invites = state.db.session_invites(&id, LIST_LIMIT).await?;
    Ok(Json(invites.into_iter().map(|i| view(&state, i)).collect()))
}

async fn revoke(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    Path((id, invite_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owned_session(&state, &who, &id).await?;
    if state.db.invite(&id, &invite_id).await?.is_none() {
        return Err(ApiError::not_found("no such invite in this session"));
    }
    // Revoking twice is the same as once.
    if state.db.revoke_invite(&id, &invite_id, now_ms()).await? {
        tracing::info!(session = %id, invite = %invite_id, "invite revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
struct Preview {
    role: String,
    expires_at: String,
    session: SessionSummary,
}

/// What the join page shows of the class before anyone has a token.
#[derive(Debug, Serialize)]
struct SessionSummary {
    id: String,
    title: String,
    state: SessionState,
    scheduled_start: Option<String>,
    scheduled_end: Option<String>,
    instructor_name: String,
    record: bool,
}

/// The invite and its session, if the invite can be redeemed now; else
/// 404 (no such code) or 410 with why, in words.
async fn usable_invite(state: &AppState, code: &str) -> Result<(Invite, Session), ApiError> {
    let not_valid = || ApiError::not_found("This invite link is not valid.");
    if !rules::plausible_code(code) {
        return Err(not_valid());
    }
    let invite = state.db.invite_by_code(code).await?.ok_or_else(not_valid)?;
    let session = state
        .db
        .session(&invite.session_id)
        .await?
        .ok_or_else(not_valid)?;
    match rules::unusable(&invite, &session, now_ms()) {
        Some(why) => Err(ApiError::gone(why.to_string())),
        None => Ok((invite, session)),
    }
}

async fn preview(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Preview>, ApiError> {
    let (invite, s) = usable_invite(&state, &code).await?;
    Ok(Json(Preview {
        role: invite.role,
        expires_at: rfc3339(invite.expires_at),
        session: SessionSummary {
            id: s.id,
            title: s.title,
            state: s.state,
            scheduled_start: s.scheduled_start.map(rfc3339),
            scheduled_end: s.scheduled_end.map(rfc3339),
            instructor_name: s.instructor_name,
            record: s.record,
        },
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Redeem {
    name: String,
}

#[derive(Debug, Serialize)]
struct Redeemed {
    token: String,
    session_id: String,
    role: String,
    name: String,
    expires_at: String,
}

/// A token for the invite's session and role, under a new user id, if the
/// invite has a use left: the use is counted by the same statement that
/// checks it (two redeems of the last use: one gets 410).
async fn redeem(
    State(state): State<AppState>,
    Path(code): Path<String>,
    body: Result<Json<Redeem>, JsonRejection>,
) -> Result<Json<Redeemed>, ApiError> {
    let Json(req) = body?;
    let name = rules::display_name(&req.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (invite, session) = usable_invite(&state, &code).await?;
    let role = match invite.role.as_str() {
        "guest" => Role::Guest,
        _ => Role::Student,
    };
    let now = now_ms();
    let ttl = rules::token_ttl(&session, now, state.keys.rules().max_lifetime);
    let sub = format!("inv-{}", uuid::Uuid::new_v4().simple());
    let claims = Claims::new(&sub, &name, role, Some(session.id.clone()), ttl);
    // Signed before the use is counted: a server that cannot sign spends none.
    let token = state.keys.sign(&claims)?;
    if !state.db.use_invite(&code, now).await? {
        // Another redeem took the last use (or the invite changed meanwhile).
        let why = state
            .db
            .invite_by_code(&code)
            .await?
            .and_then(|i| rules::unusable(&i, &session, now_ms()))
            .unwrap_or(Unusable::UsedUp);
        return Err(ApiError::gone(why.to_string()));
    }
    tracing::info!(session = %session.id, invite = %invite.id, user = %sub, role = role.as_str(), "invite redeemed");
    Ok(Json(Redeemed {
        token,
        session_id: session.id,
        role: role.as_str().to_owned(),
        name,
        expires_at: rfc3339(claims.exp as i64 * 1000),
    }))
}
