use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};
use crate::time::now_ms;

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

fn from_row(row: &AnyRow) -> Result<Participant, DbError> {
    Ok(Participant {
        session_id: get(row, "session_id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        role: get(row, "role")?,
        recording_consent: get::<Option<i64>>(row, "recording_consent")?.map(|c| c != 0),
        consent_at: get(row, "consent_at")?,
        first_seen_at: get(row, "first_seen_at")?,
        last_seen_at: get(row, "last_seen_at")?,
    })
}

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
        sqlx::query(
            "INSERT INTO participants (session_id, user_id, name, role, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, user_id) \
             DO UPDATE SET name = excluded.name, role = excluded.role, last_seen_at = excluded.last_seen_at",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(name)
        .bind(role)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
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
        sqlx::query(
            "UPDATE participants SET recording_consent = $1, consent_at = $2 \
             WHERE session_id = $3 AND user_id = $4",
        )
        .bind(i64::from(consent))
        .bind(now_ms())
        .bind(session_id)
        .bind(user_id)
        .execute(self.pool())
        .await?;
        let row = sqlx::query(
            "SELECT session_id, user_id, name, role, recording_consent, consent_at, first_seen_at, \
             last_seen_at FROM participants WHERE session_id = $1 AND user_id = $2",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        from_row(&row)
    }

    pub async fn participants(&self, session_id: &str) -> Result<Vec<Participant>, DbError> {
        let rows = sqlx::query(
            "SELECT session_id, user_id, name, role, recording_consent, consent_at, first_seen_at, \
             last_seen_at FROM participants WHERE session_id = $1 ORDER BY first_seen_at",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
