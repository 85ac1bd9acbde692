use serde::Serialize;
use sqlx::any::AnyRow;

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
}

const COLUMNS: &str = "id, title, instructor_id, instructor_name, scheduled_start, scheduled_end, \
                       state, max_webrtc_viewers, record, guests_webrtc, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Session, DbError> {
    Ok(Session {
        id: get(row, "id")?,
        title: get(row, "title")?,
        instructor_id: get(row, "instructor_id")?,
        instructor_name: get(row, "instructor_name")?,
        scheduled_start: get(row, "scheduled_start")?,
        scheduled_end: get(row, "scheduled_end")?,
        state: SessionState::parse(&get::<String>(row, "state")?)?,
        max_webrtc_viewers: get(row, "max_webrtc_viewers")?,
        record: get::<i64>(row, "record")? != 0,
        guests_webrtc: get::<i64>(row, "guests_webrtc")? != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

impl Db {
    pub async fn create_session(&self, new: NewSession) -> Result<Session, DbError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (id, title, instructor_id, instructor_name, scheduled_start, \
             scheduled_end, state, max_webrtc_viewers, record, guests_webrtc, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, $11)",
        )
        .bind(&new.id)
        .bind(&new.title)
        .bind(&new.instructor_id)
        .bind(&new.instructor_name)
        .bind(new.scheduled_start)
        .bind(new.scheduled_end)
        .bind(new.max_webrtc_viewers)
        .bind(i64::from(new.record))
        .bind(i64::from(new.guests_webrtc))
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.session(&new.id)
            .await?
            .ok_or_else(|| DbError::Corrupt("inserted session vanished".into()))
    }

    /// How many of an instructor's sessions have not ended.
    pub async fn open_sessions_of(&self, instructor_id: &str) -> Result<i64, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM sessions WHERE instructor_id = $1 AND state <> 'ended'",
        )
        .bind(instructor_id)
        .fetch_one(self.pool())
        .await?;
        super::get(&row, "n")
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Sessions of one instructor, or all sessions when `instructor` is `None`;
    /// newest first.
    pub async fn sessions(
        &self,
        instructor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Session>, DbError> {
        let rows = match instructor {
            Some(who) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM sessions WHERE instructor_id = $1 \
                     ORDER BY created_at DESC LIMIT $2"
                ))
                .bind(who)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM sessions ORDER BY created_at DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// Moves a session to `state`, unless it has already ended (ended is final).
    /// Returns whether a row changed.
    pub async fn set_session_state(&self, id: &str, state: SessionState) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE sessions SET state = $1, updated_at = $2 WHERE id = $3 AND state <> 'ended'",
        )
        .bind(state.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// After a crash or restart nothing is live: sessions left `live` go back to
    /// `scheduled`. Returns how many were reset.
    pub async fn reset_live_sessions(&self) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE sessions SET state = 'scheduled', updated_at = $1 WHERE state = 'live'",
        )
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
