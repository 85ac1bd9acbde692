use serde::Serialize;
use sqlx::any::AnyRow;

use super::columns::{from_row, Column};
use super::exec::{args, bound};
use super::{get, Db, DbError};
use crate::time::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Scheduled,
    Live,
    Ended,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Scheduled => "scheduled",
            SessionState::Live => "live",
            SessionState::Ended => "ended",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "scheduled" => Ok(SessionState::Scheduled),
            "live" => Ok(SessionState::Live),
            "ended" => Ok(SessionState::Ended),
            other => Err(DbError::Corrupt(format!("session state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub title: String,
    pub instructor_id: String,
    pub instructor_name: String,
    pub scheduled_start: Option<i64>,
    pub scheduled_end: Option<i64>,
    pub state: SessionState,
    pub max_webrtc_viewers: i64,
    pub record: bool,
    /// Guests may take WebRTC seats (else they watch HLS).
    pub guests_webrtc: bool,
    /// The course it belongs to (the library groups recordings by it).
    pub course: Option<String>,
    /// Its ready recordings may be downloaded (a download URL beside the player's).
    pub allow_download: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub title: String,
    pub instructor_id: String,
    pub instructor_name: String,
    pub scheduled_start: Option<i64>,
    pub scheduled_end: Option<i64>,
    pub max_webrtc_viewers: i64,
    pub record: bool,
    pub guests_webrtc: bool,
    pub course: Option<String>,
    pub allow_download: bool,
}

const COLUMNS: &str = "id, title, instructor_id, instructor_name, scheduled_start, scheduled_end, \
                       state, max_webrtc_viewers, record, guests_webrtc, course, allow_download, \
                       created_at, updated_at";

impl Column for SessionState {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        SessionState::parse(&get::<String>(row, name)?)
    }
}

/// Listings: the latest class first, a class's time being its scheduled
/// start, else its creation.
const NEWEST_FIRST: &str = "COALESCE(scheduled_start, created_at) DESC, created_at DESC, id";

from_row! { Session {
    id, title, instructor_id, instructor_name, scheduled_start, scheduled_end, state,
    max_webrtc_viewers, record, guests_webrtc, course, allow_download, created_at, updated_at,
} }

impl Db {
    pub async fn create_session(&self, new: NewSession) -> Result<Session, DbError> {
        let now = now_ms();
        self.write(
            "INSERT INTO sessions (id, title, instructor_id, instructor_name, scheduled_start, \
             scheduled_end, state, max_webrtc_viewers, record, guests_webrtc, course, \
             allow_download, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, $11, $12, $13)",
            args![
                &new.id,
                &new.title,
                &new.instructor_id,
                &new.instructor_name,
                new.scheduled_start,
                new.scheduled_end,
                new.max_webrtc_viewers,
                new.record,
                new.guests_webrtc,
                &new.course,
                new.allow_download,
                now,
                now
            ],
        )
        .await?;
        self.session(&new.id)
            .await?
            .ok_or_else(|| DbError::Corrupt("inserted session vanished".into()))
    }

    /// How many of an instructor's sessions have not ended.
    pub async fn open_sessions_of(&self, instructor_id: &str) -> Result<i64, DbError> {
        let row = bound(
            "SELECT COUNT(*) AS n FROM sessions WHERE instructor_id = $1 AND state <> 'ended'",
            args![instructor_id],
        )
        .fetch_one(self.pool())
        .await?;
        get(&row, "n")
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
        self.first(&sql, args![id]).await
    }

    /// Sessions of one instructor, or all sessions when `instructor` is `None`;
    /// newest first: by scheduled start, else by creation.
    pub async fn sessions(
        &self,
        instructor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Session>, DbError> {
        match instructor {
            Some(who) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM sessions WHERE instructor_id = $1 \
                     ORDER BY {NEWEST_FIRST} LIMIT $2"
                );
                self.all(&sql, args![who, limit]).await
            }
            None => {
                let sql =
                    format!("SELECT {COLUMNS} FROM sessions ORDER BY {NEWEST_FIRST} LIMIT $1");
                self.all(&sql, args![limit]).await
            }
        }
    }

    /// Moves a session to `state`, unless it has already ended (ended is final).
    /// Returns whether a row changed.
    pub async fn set_session_state(&self, id: &str, state: SessionState) -> Result<bool, DbError> {
        self.changed(
            "UPDATE sessions SET state = $1, updated_at = $2 WHERE id = $3 AND state <> 'ended'",
            args![state.as_str(), now_ms(), id],
        )
        .await
    }

    /// After a crash or restart nothing is live: sessions left `live` go back to
    /// `scheduled`. Returns how many were reset.
    pub async fn reset_live_sessions(&self) -> Result<u64, DbError> {
        self.write(
            "UPDATE sessions SET state = 'scheduled', updated_at = $1 WHERE state = 'live'",
            args![now_ms()],
        )
        .await
    }
}
