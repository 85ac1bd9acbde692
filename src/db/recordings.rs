use serde::Serialize;
use sqlx::any::AnyRow;

use super::columns::{from_row, Column};
use super::exec::args;
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

impl Column for RecordingState {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        RecordingState::parse(&get::<String>(row, name)?)
    }
}

from_row! { Recording {
    id, session_id, part, state, rung, first_segment, last_segment, storage_key, duration_ms,
    size_bytes, error, created_at, stopped_at, ready_at, deleted_at,
} }

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
        self.write(
            "INSERT INTO recordings (id, session_id, part, state, rung, first_segment, \
             created_at) SELECT $1, $2, COALESCE(MAX(part), 0) + 1, 'recording', $3, $4, $5 \
             FROM recordings WHERE session_id = $6",
            args![
                id,
                session_id,
                rung,
                first_segment as i64,
                now_ms(),
                session_id
            ],
        )
        .await?;
        self.recording(id)
            .await?
            .ok_or_else(|| DbError::Corrupt("inserted recording vanished".into()))
    }

    pub async fn recording(&self, id: &str) -> Result<Option<Recording>, DbError> {
        self.first(
            &format!("SELECT {COLUMNS} FROM recordings WHERE id = $1"),
            args![id],
        )
        .await
    }

    pub async fn session_recordings(&self, session_id: &str) -> Result<Vec<Recording>, DbError> {
        self.all(
            &format!("SELECT {COLUMNS} FROM recordings WHERE session_id = $1 ORDER BY part"),
            args![session_id],
        )
        .await
    }

    /// The recordings, not deleted, of an instructor's sessions (of one
    /// course, when given), newest first: the library.
    pub async fn instructor_recordings(
        &self,
        instructor_id: &str,
        course: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Recording>, DbError> {
        let select = |sessions: &str| {
            format!(
                "SELECT {COLUMNS} FROM recordings WHERE session_id IN ({sessions}) \
                 AND state <> 'deleted' ORDER BY created_at DESC, part DESC LIMIT $1"
            )
        };
        match course {
            Some(course) => {
                let sql =
                    select("SELECT id FROM sessions WHERE instructor_id = $2 AND course = $3");
                self.all(&sql, args![limit, instructor_id, course]).await
            }
            None => {
                let sql = select("SELECT id FROM sessions WHERE instructor_id = $2");
                self.all(&sql, args![limit, instructor_id]).await
            }
        }
    }

    /// The session's recording still taking segments, if any.
    pub async fn active_recording(&self, session_id: &str) -> Result<Option<Recording>, DbError> {
        self.first(
            &format!(
                "SELECT {COLUMNS} FROM recordings WHERE session_id = $1 AND state = 'recording' \
                 ORDER BY part DESC LIMIT 1"
            ),
            args![session_id],
        )
        .await
    }

    pub async fn recordings_in_state(
        &self,
        state: RecordingState,
    ) -> Result<Vec<Recording>, DbError> {
        self.all(
            &format!("SELECT {COLUMNS} FROM recordings WHERE state = $1 ORDER BY created_at"),
            args![state.as_str()],
        )
        .await
    }

    /// Recordings created before `cutoff_ms` and not yet deleted.
    pub async fn recordings_older_than(&self, cutoff_ms: i64) -> Result<Vec<Recording>, DbError> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM recordings WHERE created_at < $1 AND state <> 'deleted' \
                 AND state <> 'recording' ORDER BY created_at"
            ),
            args![cutoff_ms],
        )
        .await
    }

    /// `recording` → `processing`: no more segments; `last_segment` is the
    /// last one taken (None: up to the end of the publish).
    pub async fn stop_recording(
        &self,
        id: &str,
        last_segment: Option<u64>,
    ) -> Result<bool, DbError> {
        self.changed(
            "UPDATE recordings SET state = 'processing', stopped_at = $1, \
             last_segment = COALESCE(last_segment, $2) WHERE id = $3 AND state = 'recording'",
            args![now_ms(), last_segment.map(|s| s as i64), id],
        )
        .await
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
        self.run(
            "UPDATE recordings SET last_segment = $1, storage_key = $2, duration_ms = $3, \
             size_bytes = $4, state = $5, ready_at = $6, error = NULL WHERE id = $7",
            args![
                last_segment as i64,
                storage_key,
                duration_ms as i64,
                size_bytes as i64,
                if ready { "ready" } else { "processing" },
                ready.then_some(now),
                id
            ],
        )
        .await
    }

    /// The upload finished: the recording can be played.
    pub async fn recording_uploaded(&self, id: &str) -> Result<(), DbError> {
        self.run(
            "UPDATE recordings SET state = 'ready', ready_at = $1 \
             WHERE id = $2 AND state = 'processing'",
            args![now_ms(), id],
        )
        .await
    }

    pub async fn recording_failed(&self, id: &str, error: &str) -> Result<(), DbError> {
        self.run(
            "UPDATE recordings SET state = 'failed', error = $1 WHERE id = $2",
            args![error, id],
        )
        .await
    }

    pub async fn recording_deleted(&self, id: &str) -> Result<(), DbError> {
        self.run(
            "UPDATE recordings SET state = 'deleted', deleted_at = $1 WHERE id = $2",
            args![now_ms(), id],
        )
        .await
    }

    /// Test and retention helper: moves a recording's creation time.
    pub async fn set_recording_created_at(&self, id: &str, created_at: i64) -> Result<(), DbError> {
        self.run(
            "UPDATE recordings SET created_at = $1 WHERE id = $2",
            args![created_at, id],
        )
        .await
    }

    pub async fn set_session_record(&self, id: &str, record: bool) -> Result<(), DbError> {
        self.run(
            "UPDATE sessions SET record = $1, updated_at = $2 WHERE id = $3",
            args![record, now_ms(), id],
        )
        .await
    }

    /// Sessions nobody chose to record (no `record` flag, no recording left)
    /// whose HLS outlived the grace: not live, published at least once, every
    /// publish stopped before `cutoff_ms`, not expired since the last publish.
    pub async fn unrecorded_hls_to_expire(&self, cutoff_ms: i64) -> Result<Vec<String>, DbError> {
        let rows = self
            .rows(
                "SELECT s.id FROM sessions s WHERE s.record = 0 AND s.state <> 'live' \
                 AND EXISTS (SELECT 1 FROM publish_events p WHERE p.session_id = s.id) \
                 AND NOT EXISTS (SELECT 1 FROM publish_events p WHERE p.session_id = s.id \
                     AND (p.stopped_at IS NULL OR p.stopped_at > $1)) \
                 AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.session_id = s.id \
                     AND r.state <> 'deleted') \
                 AND (s.hls_expired_at IS NULL OR s.hls_expired_at < \
                     (SELECT MAX(p.started_at) FROM publish_events p WHERE p.session_id = s.id)) \
                 ORDER BY s.id",
                args![cutoff_ms],
            )
            .await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    pub async fn mark_hls_expired(&self, session_id: &str) -> Result<(), DbError> {
        self.run(
            "UPDATE sessions SET hls_expired_at = $1 WHERE id = $2",
            args![now_ms(), session_id],
        )
        .await
    }

    /// Whether the session's HLS was deleted as unrecorded (and nothing was
    /// published since).
    pub async fn hls_expired(&self, session_id: &str) -> Result<bool, DbError> {
        let row = self
            .row(
                "SELECT s.hls_expired_at AS expired, \
                 (SELECT MAX(p.started_at) FROM publish_events p WHERE p.session_id = s.id) AS last \
                 FROM sessions s WHERE s.id = $1",
                args![session_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let expired: Option<i64> = get(&row, "expired")?;
        let last: Option<i64> = get(&row, "last")?;
        Ok(matches!((expired, last), (Some(e), l) if l.is_none_or(|l| l <= e)))
    }
}
