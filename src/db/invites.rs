//! Invite links: created, listed and revoked by a session's instructor,
//! redeemed by whoever holds the code. Uses are counted by the redeeming
//! UPDATE itself, so two redeems of the last use cannot both win.

use super::columns::from_row;
use super::exec::args;
use super::{Db, DbError};

/// An invite as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: String,
    pub session_id: String,
    /// The secret in the link.
    pub code: String,
    /// `student` or `guest`.
    pub role: String,
    pub expires_at: i64,
    /// `None`: unlimited.
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// What the instructor asks for.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: String,
    pub session_id: String,
    pub code: String,
    pub role: String,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
}

const COLUMNS: &str =
    "id, session_id, code, role, expires_at, max_uses, uses, revoked_at, created_at";

from_row! { Invite {
    id, session_id, code, role, expires_at, max_uses, uses, revoked_at, created_at,
} }

/// The condition of an invite that can still be redeemed (not revoked, not
/// expired, not used up), with the time as parameter `now`.
fn redeemable(now: &str) -> String {
    format!("revoked_at IS NULL AND expires_at > {now} AND (max_uses IS NULL OR uses < max_uses)")
}

impl Db {
    /// Stores the invite, unless its session already has `max_live` invites
    /// that can still be redeemed: `None` then.
    pub async fn create_invite(
        &self,
        new: &NewInvite,
        max_live: i64,
        now: i64,
    ) -> Result<Option<Invite>, DbError> {
        let sql = format!(
            "INSERT INTO invites (id, session_id, code, role, expires_at, max_uses, uses, \
             created_at) SELECT $1, $2, $3, $4, $5, $6, 0, $7 \
             WHERE (SELECT COUNT(*) FROM invites WHERE session_id = $8 AND {}) < $10",
            redeemable("$9")
        );
        let created = self
            .changed(
                &sql,
                args![
                    &new.id,
                    &new.session_id,
                    &new.code,
                    &new.role,
                    new.expires_at,
                    new.max_uses,
                    now,
                    &new.session_id,
                    now,
                    max_live
                ],
            )
            .await?;
        if !created {
            return Ok(None);
        }
        self.invite(&new.session_id, &new.id).await
    }

    /// One of the session's invites (another session's is `None`).
    pub async fn invite(&self, session_id: &str, id: &str) -> Result<Option<Invite>, DbError> {
        self.first(
            &format!("SELECT {COLUMNS} FROM invites WHERE id = $1 AND session_id = $2"),
            args![id, session_id],
        )
        .await
    }

    pub async fn invite_by_code(&self, code: &str) -> Result<Option<Invite>, DbError> {
        self.first(
            &format!("SELECT {COLUMNS} FROM invites WHERE code = $1"),
            args![code],
        )
        .await
    }

    /// The session's latest `limit` invites, newest first (revoked, expired
    /// and used-up ones too).
    pub async fn session_invites(
        &self,
        session_id: &str,
        limit: i64,
    ) -> Result<Vec<Invite>, DbError> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM invites WHERE session_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            args![session_id, limit],
        )
        .await
    }

    /// Revokes one of the session's invites; false when it is not the
    /// session's, unknown, or already revoked.
    pub async fn revoke_invite(
        &self,
        session_id: &str,
        id: &str,
        at: i64,
    ) -> Result<bool, DbError> {
        self.changed(
            "UPDATE invites SET revoked_at = $1 \
             WHERE id = $2 AND session_id = $3 AND revoked_at IS NULL",
            args![at, id, session_id],
        )
        .await
    }

    /// Counts one use of the invite if it can still be redeemed at `now`, in
    /// one statement: of two redeems racing for the last use, one changes the
    /// row and the other finds `uses = max_uses`. Whether this one won.
    pub async fn use_invite(&self, code: &str, now: i64) -> Result<bool, DbError> {
        let sql = format!(
            "UPDATE invites SET uses = uses + 1 WHERE code = $1 AND {}",
            redeemable("$2")
        );
        self.changed(&sql, args![code, now]).await
    }
}
