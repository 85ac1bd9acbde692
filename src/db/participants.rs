use super::columns::from_row;
use super::exec::args;
use super::{Db, DbError};
use crate::time::now_ms;
use serde::Serialize;

/// Someone who joined a session, and their answer about being recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub session_id: String,
    pub user_id: String,
    pub name: String,
    pub role: String,
    /// `None`: not answered yet.
    pub recording_consent: Option<bool>,
    pub consent_at: Option<i64>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

from_row! { Participant {
    session_id, user_id, name, role, recording_consent, consent_at, first_seen_at, last_seen_at,
} }

const COLUMNS: &str = "session_id, user_id, name, role, recording_consent, consent_at, \
                       first_seen_at, last_seen_at";

impl Db {
    /// Notes that a user is in the session (first and last seen).
    pub async fn touch_participant(
        &self,
        session_id: &str,
        user_id: &str,
        name: &str,
        role: &str,
    ) -> Result<(), DbError> {
        let now = now_ms();
        self.run(
            "INSERT INTO participants (session_id, user_id, name, role, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, user_id) \
             DO UPDATE SET name = excluded.name, role = excluded.role, last_seen_at = excluded.last_seen_at",
            args![session_id, user_id, name, role, now, now],
        )
        .await
    }

    pub async fn set_recording_consent(
        &self,
        session_id: &str,
        user_id: &str,
        name: &str,
        role: &str,
        consent: bool,
    ) -> Result<Participant, DbError> {
        self.touch_participant(session_id, user_id, name, role)
            .await?;
        self.write(
            "UPDATE participants SET recording_consent = $1, consent_at = $2 \
             WHERE session_id = $3 AND user_id = $4",
            args![consent, now_ms(), session_id, user_id],
        )
        .await?;
        let sql =
            format!("SELECT {COLUMNS} FROM participants WHERE session_id = $1 AND user_id = $2");
        self.first(&sql, args![session_id, user_id])
            .await?
            .ok_or_else(|| DbError::Sqlx(sqlx::Error::RowNotFound))
    }

    pub async fn participants(&self, session_id: &str) -> Result<Vec<Participant>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM participants WHERE session_id = $1 ORDER BY first_seen_at"
        );
        self.all(&sql, args![session_id]).await
    }
}
