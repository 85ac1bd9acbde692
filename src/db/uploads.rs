use sqlx::any::AnyRow;

use super::columns::{columns, from_row, Column};
use super::exec::{args, bound};
use super::{get, Db, DbError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// A file on local disk (segment, recording): uploaded from `local_path`.
    File,
    /// A playlist snapshot in `body`: waits for the files enqueued before it.
    Playlist,
    /// A CDN invalidation of the paths in `body` (JSON list): waits for the
    /// playlists and files enqueued before it.
    Invalidation,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadKind::File => "file",
            UploadKind::Playlist => "playlist",
            UploadKind::Invalidation => "invalidation",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "file" => UploadKind::File,
            "playlist" => UploadKind::Playlist,
            "invalidation" => UploadKind::Invalidation,
            other => return Err(DbError::Corrupt(format!("upload kind {other:?}"))),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub storage_key: String,
    pub seq: i64,
    pub group_id: String,
    pub kind: UploadKind,
    pub local_path: Option<String>,
    pub body: Option<String>,
    pub content_type: String,
    pub cache_control: String,
    pub recording_id: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// How much waits to be uploaded.
#[derive(Debug, Clone, Default)]
pub struct UploadBacklog {
    pub pending: i64,
    pub oldest_created_at: Option<i64>,
    pub retried: i64,
    /// Given up (see `upload_failed`); not counted in `pending`.
    pub failed: i64,
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Tried again at the given time.
    Retry,
    /// Reached the limit of strikes: no more attempts until a restart.
    GaveUp,
}

const COLUMNS: &str = "storage_key, seq, group_id, kind, local_path, body, content_type, \
                       cache_control, recording_id, attempts, last_error, created_at";

impl Column for UploadKind {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        UploadKind::parse(&get::<String>(row, name)?)
    }
}

from_row! { Upload {
    storage_key, seq, group_id, kind, local_path, body, content_type, cache_control,
    recording_id, attempts, last_error, created_at,
} }

impl Db {
    /// Queues an upload; a newer version of the same key (a playlist that
    /// changed again) replaces the waiting one and moves to the back.
    pub async fn enqueue_upload(&self, u: &Upload) -> Result<(), DbError> {
        self.run(
            "INSERT INTO uploads (storage_key, seq, group_id, kind, local_path, body, content_type, \
             cache_control, recording_id, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) \
             ON CONFLICT (storage_key) DO UPDATE SET seq = excluded.seq, \
             group_id = excluded.group_id, kind = excluded.kind, local_path = excluded.local_path, \
             body = excluded.body, content_type = excluded.content_type, \
             cache_control = excluded.cache_control, recording_id = excluded.recording_id, \
             next_attempt_at = 0, strikes = 0, failed_at = NULL",
            args![
                &u.storage_key,
                u.seq,
                &u.group_id,
                u.kind.as_str(),
                &u.local_path,
                &u.body,
                &u.content_type,
                &u.cache_control,
                &u.recording_id,
                u.created_at
            ],
        )
        .await
    }

    /// The oldest uploads due at `now_ms` (not waiting out a backoff, not
    /// given up), in enqueue order.
    pub async fn next_uploads(&self, limit: i64, now_ms: i64) -> Result<Vec<Upload>, DbError> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM uploads WHERE failed_at IS NULL AND next_attempt_at <= $1 \
                 ORDER BY seq LIMIT $2"
            ),
            args![now_ms, limit],
        )
        .await
    }

    /// Per group and kind, the oldest waiting sequence number: what ordered
    /// uploads wait behind. Given-up uploads hold nothing up.
    pub async fn upload_barriers(&self) -> Result<Vec<(String, UploadKind, i64)>, DbError> {
        let rows = self
            .rows(
                "SELECT group_id, kind, MIN(seq) AS first_seq FROM uploads \
                 WHERE failed_at IS NULL GROUP BY group_id, kind",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| columns(r, ["group_id", "kind", "first_seq"]))
            .collect()
    }

    /// Removes the upload unless a newer version was queued meanwhile.
    pub async fn upload_done(&self, key: &str, seq: i64) -> Result<(), DbError> {
        self.run(
            "DELETE FROM uploads WHERE storage_key = $1 AND seq = $2",
            args![key, seq],
        )
        .await
    }

    /// Notes a failed attempt of this version of the upload: next try not
    /// before `retry_at_ms`; a `strike` (the store worked for others, so the
    /// fault is this upload's) counts toward `max_strikes`, after which it is
    /// given up.
    pub async fn upload_failed(
        &self,
        key: &str,
        seq: i64,
        error: &str,
        retry_at_ms: i64,
        strike: bool,
        max_strikes: i64,
    ) -> Result<FailureOutcome, DbError> {
        self.write(
            "UPDATE uploads SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
             strikes = strikes + $3 WHERE storage_key = $4 AND seq = $5",
            args![error, retry_at_ms, strike, key, seq],
        )
        .await?;
        let gave_up = self
            .write(
                "UPDATE uploads SET failed_at = $1 WHERE storage_key = $2 AND seq = $3 \
                 AND failed_at IS NULL AND strikes >= $4",
                args![crate::time::now_ms(), key, seq, max_strikes],
            )
            .await?;
        Ok(if gave_up > 0 {
            FailureOutcome::GaveUp
        } else {
            FailureOutcome::Retry
        })
    }

    /// The store is reachable again: what waited out a backoff because of
    /// the outage goes now.
    pub async fn clear_upload_backoff(&self) -> Result<u64, DbError> {
        self.write(
            "UPDATE uploads SET next_attempt_at = 0 \
             WHERE failed_at IS NULL AND next_attempt_at > 0",
            args![],
        )
        .await
    }

    /// Given-up uploads are tried again (at start-up: the operator may have
    /// fixed the cause); how many.
    pub async fn retry_failed_uploads(&self) -> Result<u64, DbError> {
        self.write(
            "UPDATE uploads SET failed_at = NULL, strikes = 0, next_attempt_at = 0 \
             WHERE failed_at IS NOT NULL",
            args![],
        )
        .await
    }

    /// Given-up uploads, oldest first: (key, local file, last error).
    pub async fn failed_uploads(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>, Option<String>)>, DbError> {
        let rows = self
            .rows(
                "SELECT storage_key, local_path, last_error FROM uploads \
                 WHERE failed_at IS NOT NULL ORDER BY seq LIMIT $1",
                args![limit],
            )
            .await?;
        rows.iter()
            .map(|r| columns(r, ["storage_key", "local_path", "last_error"]))
            .collect()
    }

    pub async fn upload_backlog(&self) -> Result<UploadBacklog, DbError> {
        let row = bound(
            "SELECT COALESCE(SUM(CASE WHEN failed_at IS NULL THEN 1 ELSE 0 END), 0) AS pending, \
             MIN(CASE WHEN failed_at IS NULL THEN created_at END) AS oldest, \
             COALESCE(SUM(CASE WHEN attempts > 0 AND failed_at IS NULL THEN 1 ELSE 0 END), 0) \
             AS retried, \
             COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS failed \
             FROM uploads",
            args![],
        )
        .fetch_one(self.pool())
        .await?;
        Ok(UploadBacklog {
            pending: get(&row, "pending")?,
            oldest_created_at: get(&row, "oldest")?,
            retried: get(&row, "retried")?,
            failed: get(&row, "failed")?,
        })
    }

    pub async fn max_upload_seq(&self) -> Result<i64, DbError> {
        let row = bound("SELECT COALESCE(MAX(seq), 0) AS top FROM uploads", args![])
            .fetch_one(self.pool())
            .await?;
        get(&row, "top")
    }

    /// Drops the waiting uploads of `group` whose keys start with `prefix`
    /// (their files are being deleted); how many.
    pub async fn drop_uploads_under(&self, group: &str, prefix: &str) -> Result<u64, DbError> {
        let rows = self
            .rows(
                "SELECT storage_key FROM uploads WHERE group_id = $1",
                args![group],
            )
            .await?;
        let mut dropped = 0;
        for row in &rows {
            let key: String = get(row, "storage_key")?;
            if key.starts_with(prefix) {
                dropped += self
                    .write("DELETE FROM uploads WHERE storage_key = $1", args![&key])
                    .await?;
            }
        }
        Ok(dropped)
    }
}
