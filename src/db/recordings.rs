use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};
use crate::time::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    Recording,
    Processing,
    Ready,
    Failed,
    Deleted,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Recording => "recording",
            RecordingState::Processing => "processing",
            RecordingState::Ready => "ready",
            RecordingState::Failed => "failed",
            RecordingState::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "recording" => RecordingState::Recording,
            "processing" => RecordingState::Processing,
            "ready" => RecordingState::Ready,
            "failed" => RecordingState::Failed,
            "deleted" => RecordingState::Deleted,
            other => return Err(DbError::Corrupt(format!("recording state {other:?}"))),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Recording {
    pub id: String,
    pub session_id: String,
    pub part: i64,
    pub state: RecordingState,
    pub rung: String,
    pub first_segment: i64,
    pub last_segment: Option<i64>,
    pub storage_key: Option<String>,
    pub duration_ms: Option<i64>,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub stopped_at: Option<i64>,
    pub ready_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

const COLUMNS: &str = "id, session_id, part, state, rung, first_segment, last_segment, \
                       storage_key, duration_ms, size_bytes, error, created_at, stopped_at, \
                       ready_at, deleted_at";

fn from_row(row: &AnyRow) -> Result<Recording, DbError> {
    Ok(Recording {
        id: get(row, "id")?,
        session_id: get(row, "session_id")?,
        part: get(row, "part")?,
        state: RecordingState::parse(&get::<String>(row, "state")?)?,
        rung: get(row, "rung")?,
        first_segment: get(row, "first_segment")?,
        last_segment: get(row, "last_segment")?,
        storage_key: get(row, "storage_key")?,
        duration_ms: get(row, "duration_ms")?,
        size_bytes: get(row, "size_bytes")?,
        error: get(row, "error")?,
        created_at: get(row, "created_at")?,
        stopped_at: get(row, "stopped_at")?,
        ready_at: get(row, "ready_at")?,
        deleted_at: get(row, "deleted_at")?,
    })
}

impl Db {
    /// Starts a recording of `session_id` at `first_segment` of `rung`: the
    /// next part number of the session.
    pub async fn create_recording(
        &self,
        id: &str,
        session_id: &str,
        rung: &str,
        first_segment: u64,
    ) -> Result<Recording, DbError> {
        sqlx::query(
            "INSERT INTO recordings (id, session_id, part, state, rung, first_segment, created_at) \
             SELECT $1, $2, COALESCE(MAX(part), 0) + 1, 'recording', $3, $4, $5 \
             FROM recordings WHERE session_id = $6",
        )
        .bind(id)
        .bind(session_id)
        .bind(rung)
        .bind(first_segment as i64)
        .bind(now_ms())
        .bind(session_id)
        .execute(self.pool())
        .await?;
        self.recording(id)
            .await?
            .ok_or_else(|| DbError::Corrupt("inserted recording vanished".into()))
    }

    pub async fn recording(&self, id: &str) -> Result<Option<Recording>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM recordings WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn session_recordings(&self, session_id: &str) -> Result<Vec<Recording>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE session_id = $1 ORDER BY part"
        ))
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The session's recording still taking segments, if any.
    pub async fn active_recording(&self, session_id: &str) -> Result<Option<Recording>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE session_id = $1 AND state = 'recording' \
             ORDER BY part DESC LIMIT 1"
        ))
        .bind(session_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn recordings_in_state(
        &self,
        state: RecordingState,
    ) -> Result<Vec<Recording>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE state = $1 ORDER BY created_at"
        ))
        .bind(state.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Recordings created before `cutoff_ms` and not yet deleted.
    pub async fn recordings_older_than(&self, cutoff_ms: i64) -> Result<Vec<Recording>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE created_at < $1 AND state <> 'deleted' \
             AND state <> 'recording' ORDER BY created_at"
        ))
        .bind(cutoff_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `recording` → `processing`: no more segments; `last_segment` is the
    /// last one taken (None: up to the end of the publish).
    pub async fn stop_recording(
        &self,
        id: &str,
        last_segment: Option<u64>,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE recordings SET state = 'processing', stopped_at = $1, \
             last_segment = COALESCE(last_segment, $2) WHERE id = $3 AND state = 'recording'",
        )
        .bind(now_ms())
        .bind(last_segment.map(|s| s as i64))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The MP4 exists: where, how long, how big; `ready` when it is already
    /// where viewers get it (local storage), else still `processing` (upload).
    pub async fn recording_produced(
        &self,
        id: &str,
        last_segment: u64,
        storage_key: &str,
        duration_ms: u64,
        size_bytes: u64,
        ready: bool,
    ) -> Result<(), DbError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE recordings SET last_segment = $1, storage_key = $2, duration_ms = $3, \
             size_bytes = $4, state = $5, ready_at = $6, error = NULL WHERE id = $7",
        )
        .bind(last_segment as i64)
        .bind(storage_key)
        .bind(duration_ms as i64)
        .bind(size_bytes as i64)
        .bind(if ready { "ready" } else { "processing" })
        .bind(ready.then_some(now))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The upload finished: the recording can be played.
    pub async fn recording_uploaded(&self, id: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE recordings SET state = 'ready', ready_at = $1 \
             WHERE id = $2 AND state = 'processing'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn recording_failed(&self, id: &str, error: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE recordings SET state = 'failed', error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn recording_deleted(&self, id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE recordings SET state = 'deleted', deleted_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Test and retention helper: moves a recording's creation time.
    pub async fn set_recording_created_at(&self, id: &str, created_at: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE recordings SET created_at = $1 WHERE id = $2")
            .bind(created_at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_session_record(&self, id: &str, record: bool) -> Result<(), DbError> {
        sqlx::query("UPDATE sessions SET record = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(record))
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sessions nobody chose to record (no `record` flag, no recording left)
    /// whose HLS outlived the grace: not live, published at least once, every
    /// publish stopped before `cutoff_ms`, not expired since the last publish.
    pub async fn unrecorded_hls_to_expire(&self, cutoff_ms: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT s.id FROM sessions s WHERE s.record = 0 AND s.state <> 'live' \
             AND EXISTS (SELECT 1 FROM publish_events p WHERE p.session_id = s.id) \
             AND NOT EXISTS (SELECT 1 FROM publish_events p WHERE p.session_id = s.id \
                 AND (p.stopped_at IS NULL OR p.stopped_at > $1)) \
             AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.session_id = s.id \
                 AND r.state <> 'deleted') \
             AND (s.hls_expired_at IS NULL OR s.hls_expired_at < \
                 (SELECT MAX(p.started_at) FROM publish_events p WHERE p.session_id = s.id)) \
             ORDER BY s.id",
        )
        .bind(cutoff_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    pub async fn mark_hls_expired(&self, session_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE sessions SET hls_expired_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(session_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether the session's HLS was deleted as unrecorded (and nothing was
    /// published since).
    pub async fn hls_expired(&self, session_id: &str) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT s.hls_expired_at AS expired, \
             (SELECT MAX(p.started_at) FROM publish_events p WHERE p.session_id = s.id) AS last \
             FROM sessions s WHERE s.id = $1",
        )
        .bind(session_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let expired: Option<i64> = get(&row, "expired")?;
        let last: Option<i64> = get(&row, "last")?;
        Ok(matches!((expired, last), (Some(e), l) if l.is_none_or(|l| l <= e)))
    }
}
