//! Attendance: a row per stay (join to leave) of a participant in a session.

use super::exec::args;
use super::{Db, DbError};

impl Db {
    /// A participant joined (was admitted); the new attendance row's id.
    pub async fn attendance_join(
        &self,
        session_id: &str,
        participant_id: &str,
        name: &str,
        role: &str,
        instance: &str,
        at_ms: i64,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.write(
            "INSERT INTO attendance (id, session_id, participant_id, name, role, joined_at, \
             instance) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![&id, session_id, participant_id, name, role, at_ms, instance],
        )
        .await?;
        Ok(id)
    }

    /// A participant left: closes their open stays (never before they began);
    /// how many were open.
    pub async fn attendance_leave(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<u64, DbError> {
        self.write(
            "UPDATE attendance SET left_at = CASE WHEN joined_at > $1 THEN joined_at ELSE $2 END \
             WHERE session_id = $3 AND participant_id = $4 AND left_at IS NULL",
            args![at_ms, at_ms, session_id, participant_id],
        )
        .await
    }

    /// Closes the open stays this server instance held (at start-up: its
    /// sockets are gone). Stays held by other processes sharing the database
    /// stay open; rows from before instances were recorded are closed too.
    pub async fn close_open_attendance(&self, instance: &str, at_ms: i64) -> Result<u64, DbError> {
        self.write(
            "UPDATE attendance SET left_at = CASE WHEN joined_at > $1 THEN joined_at ELSE $2 END \
             WHERE left_at IS NULL AND (instance = $3 OR instance IS NULL)",
            args![at_ms, at_ms, instance],
        )
        .await
    }
}
