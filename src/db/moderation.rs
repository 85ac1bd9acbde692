//! What the instructor controls in a classroom: the lobby setting, bans,
//! and the raised hands the report counts.

use super::exec::args;
use super::{get, Db, DbError};

impl Db {
    pub async fn record_hand(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<(), DbError> {
        self.run(
            "INSERT INTO hand_raises (session_id, participant_id, raised_at) VALUES ($1, $2, $3)",
            args![session_id, participant_id, at_ms],
        )
        .await
    }

    /// Refuses the participant's rejoin; false when already banned.
    pub async fn ban(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        self.changed(
            "INSERT INTO session_bans (session_id, participant_id, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id, participant_id) DO NOTHING",
            args![session_id, participant_id, at_ms],
        )
        .await
    }

    /// The participants banned from the session, by id.
    pub async fn bans(&self, session_id: &str) -> Result<Vec<String>, DbError> {
        let rows = self
            .rows(
                "SELECT participant_id FROM session_bans WHERE session_id = $1 \
                 ORDER BY participant_id",
                args![session_id],
            )
            .await?;
        rows.iter().map(|row| get(row, "participant_id")).collect()
    }

    pub async fn is_banned(&self, session_id: &str, participant_id: &str) -> Result<bool, DbError> {
        let row = self
            .row(
                "SELECT 1 AS one FROM session_bans WHERE session_id = $1 AND participant_id = $2",
                args![session_id, participant_id],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Turns the session's lobby on or off as of `at_ms`; a write older than
    /// the stored one changes nothing (false).
    pub async fn set_lobby(
        &self,
        session_id: &str,
        enabled: bool,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        self.changed(
            "INSERT INTO classroom_settings (session_id, lobby_enabled, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id) DO UPDATE \
             SET lobby_enabled = excluded.lobby_enabled, updated_at = excluded.updated_at \
             WHERE classroom_settings.updated_at <= excluded.updated_at",
            args![session_id, enabled, at_ms],
        )
        .await
    }

    /// Whether the session's lobby is on (off when never set).
    pub async fn lobby_enabled(&self, session_id: &str) -> Result<bool, DbError> {
        let row = self
            .row(
                "SELECT lobby_enabled FROM classroom_settings WHERE session_id = $1",
                args![session_id],
            )
            .await?;
        match row {
            Some(row) => Ok(get::<i64>(&row, "lobby_enabled")? != 0),
            None => Ok(false),
        }
    }
}
