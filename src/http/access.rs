//! The access policy (`auth::policy`) applied to a request: checks the
//! token's scope before looking anything up, then gathers the live facts
//! (the session, a ban, the stage) and asks the policy.

use crate::auth::policy::{self, Capability, SessionFacts, Standing};
use crate::auth::{Claims, Role};
use crate::db::Session;
use crate::http::state::AppState;
use crate::time::now_ms;

use super::ApiError;

/// The session, if `who` may do `capability` with it, and the role they act in.
pub async fn authorize(
    state: &AppState,
    who: &Claims,
    session_id: &str,
    capability: Capability,
) -> Result<(Session, Role), ApiError> {
    // A token for another session learns nothing, not even whether the id exists.
    policy::scope(who, session_id, capability)?;
    let session = state
        .db
        .session(session_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {session_id:?}")))?;
    let facts = facts(&session);
    let standing = standing(state, who, &facts, capability).await?;
    let role = policy::decide(who, &facts, standing, capability, now_ms())?;
    Ok((session, role))
}

pub fn facts(session: &Session) -> SessionFacts<'_> {
    SessionFacts {
        id: &session.id,
        instructor_id: &session.instructor_id,
        scheduled_end: session.scheduled_end,
        guests_webrtc: session.guests_webrtc,
    }
}

/// What is true of a participant now: only looked up when it can matter.
async fn standing(
    state: &AppState,
    who: &Claims,
    session: &SessionFacts<'_>,
    capability: Capability,
) -> Result<Standing, ApiError> {
    if who.role == Role::Instructor || capability == Capability::Own {
        return Ok(Standing::default());
    }
    Ok(Standing {
        banned: state.db.is_banned(session.id, &who.sub).await?,
        on_stage: capability == Capability::Publish && state.egress.on_stage(session.id, &who.sub),
    })
}
