use super::columns::from_row;
use super::exec::{args, bound};
use super::{Db, DbError};
use crate::time::now_ms;
use serde::Serialize;

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

from_row! { PublishEvent {
    id, session_id, resource_id, publisher_id, publisher_name, video_codec, audio_codec,
    started_at, stopped_at, stop_reason,
} }

impl Db {
    /// Records a publish and marks the session live, in one transaction.
    pub async fn start_publish(&self, event: &PublishEvent) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        bound(
            "INSERT INTO publish_events (id, session_id, resource_id, publisher_id, publisher_name, \
             video_codec, audio_codec, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                &event.id,
                &event.session_id,
                &event.resource_id,
                &event.publisher_id,
                &event.publisher_name,
                &event.video_codec,
                &event.audio_codec,
                event.started_at
            ],
        )
        .execute(&mut *tx)
        .await?;
        bound(
            "UPDATE sessions SET state = 'live', updated_at = $1 WHERE id = $2 AND state <> 'ended'",
            args![now_ms(), &event.session_id],
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a publish (first reason wins) and takes the session out of `live`.
    pub async fn stop_publish(&self, event_id: &str, reason: &str) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        bound(
            "UPDATE publish_events SET stopped_at = $1, stop_reason = $2 \
             WHERE id = $3 AND stopped_at IS NULL",
            args![now, reason, event_id],
        )
        .execute(&mut *tx)
        .await?;
        bound(
            "UPDATE sessions SET state = 'scheduled', updated_at = $1 WHERE state = 'live' \
             AND id = (SELECT session_id FROM publish_events WHERE id = $2)",
            args![now, event_id],
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Publishes still open after a crash get closed with `reason`.
    pub async fn close_open_publishes(&self, reason: &str) -> Result<u64, DbError> {
        self.write(
            "UPDATE publish_events SET stopped_at = $1, stop_reason = $2 WHERE stopped_at IS NULL",
            args![now_ms(), reason],
        )
        .await
    }

    pub async fn publish_events(&self, session_id: &str) -> Result<Vec<PublishEvent>, DbError> {
        self.all(
            "SELECT id, session_id, resource_id, publisher_id, publisher_name, video_codec, \
             audio_codec, started_at, stopped_at, stop_reason FROM publish_events \
             WHERE session_id = $1 ORDER BY started_at DESC LIMIT 50",
            args![session_id],
        )
        .await
    }
}
