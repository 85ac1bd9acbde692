use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};
use crate::time::now_ms;

/// One publish into a session: who, when, with what, and why it stopped.
#[derive(Debug, Clone, Serialize)]
pub struct PublishEvent {
    pub id: String,
    pub session_id: String,
    pub resource_id: String,
    pub publisher_id: String,
    pub publisher_name: String,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    pub stop_reason: Option<String>,
}

fn from_row(row: &AnyRow) -> Result<PublishEvent, DbError> {
    Ok(PublishEvent {
        id: get(row, "id")?,
        session_id: get(row, "session_id")?,
        resource_id: get(row, "resource_id")?,
        publisher_id: get(row, "publisher_id")?,
        publisher_name: get(row, "publisher_name")?,
        video_codec: get(row, "video_codec")?,
        audio_codec: get(row, "audio_codec")?,
        started_at: get(row, "started_at")?,
        stopped_at: get(row, "stopped_at")?,
        stop_reason: get(row, "stop_reason")?,
    })
}

impl Db {
    /// Records a publish and marks the session live, in one transaction.
    pub async fn start_publish(&self, event: &PublishEvent) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO publish_events (id, session_id, resource_id, publisher_id, publisher_name, \
             video_codec, audio_codec, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&event.id)
        .bind(&event.session_id)
        .bind(&event.resource_id)
        .bind(&event.publisher_id)
        .bind(&event.publisher_name)
        .bind(&event.video_codec)
        .bind(&event.audio_codec)
        .bind(event.started_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sessions SET state = 'live', updated_at = $1 WHERE id = $2 AND state <> 'ended'",
        )
        .bind(now_ms())
        .bind(&event.session_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a publish (first reason wins) and takes the session out of `live`.
    pub async fn stop_publish(&self, event_id: &str, reason: &str) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE publish_events SET stopped_at = $1, stop_reason = $2 \
             WHERE id = $3 AND stopped_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sessions SET state = 'scheduled', updated_at = $1 WHERE state = 'live' \
             AND id = (SELECT session_id FROM publish_events WHERE id = $2)",
        )
        .bind(now)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Publishes still open after a crash get closed with `reason`.
    pub async fn close_open_publishes(&self, reason: &str) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE publish_events SET stopped_at = $1, stop_reason = $2 WHERE stopped_at IS NULL",
        )
        .bind(now_ms())
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn publish_events(&self, session_id: &str) -> Result<Vec<PublishEvent>, DbError> {
        let rows = sqlx::query(
            "SELECT id, session_id, resource_id, publisher_id, publisher_name, video_codec, \
             audio_codec, started_at, stopped_at, stop_reason FROM publish_events \
             WHERE session_id = $1 ORDER BY started_at DESC LIMIT 50",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
