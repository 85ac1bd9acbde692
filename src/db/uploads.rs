use sqlx::any::AnyRow;

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
}

const COLUMNS: &str = "storage_key, seq, group_id, kind, local_path, body, content_type, \
                       cache_control, recording_id, attempts, last_error, created_at";

fn from_row(row: &AnyRow) -> Result<Upload, DbError> {
    Ok(Upload {
        storage_key: get(row, "storage_key")?,
        seq: get(row, "seq")?,
        group_id: get(row, "group_id")?,
        kind: UploadKind::parse(&get::<String>(row, "kind")?)?,
        local_path: get(row, "local_path")?,
        body: get(row, "body")?,
        content_type: get(row, "content_type")?,
        cache_control: get(row, "cache_control")?,
        recording_id: get(row, "recording_id")?,
        attempts: get(row, "attempts")?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
    })
}

impl Db {
    /// Queues an upload; a newer version of the same key (a playlist that
    /// changed again) replaces the waiting one and moves to the back.
    pub async fn enqueue_upload(&self, u: &Upload) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO uploads (storage_key, seq, group_id, kind, local_path, body, content_type, \
             cache_control, recording_id, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) \
             ON CONFLICT (storage_key) DO UPDATE SET seq = excluded.seq, \
             group_id = excluded.group_id, kind = excluded.kind, local_path = excluded.local_path, \
             body = excluded.body, content_type = excluded.content_type, \
             cache_control = excluded.cache_control, recording_id = excluded.recording_id",
        )
        .bind(&u.storage_key)
        .bind(u.seq)
        .bind(&u.group_id)
        .bind(u.kind.as_str())
        .bind(&u.local_path)
        .bind(&u.body)
        .bind(&u.content_type)
        .bind(&u.cache_control)
        .bind(&u.recording_id)
        .bind(u.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The oldest waiting uploads, in enqueue order.
    pub async fn next_uploads(&self, limit: i64) -> Result<Vec<Upload>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM uploads ORDER BY seq LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Per group and kind, the oldest waiting sequence number: what ordered
    /// uploads wait behind.
    pub async fn upload_barriers(&self) -> Result<Vec<(String, UploadKind, i64)>, DbError> {
        let rows = sqlx::query(
            "SELECT group_id, kind, MIN(seq) AS first_seq FROM uploads GROUP BY group_id, kind",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "group_id")?,
                    UploadKind::parse(&get::<String>(r, "kind")?)?,
                    get(r, "first_seq")?,
                ))
            })
            .collect()
    }

    /// Removes the upload unless a newer version was queued meanwhile.
    pub async fn upload_done(&self, key: &str, seq: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM uploads WHERE storage_key = $1 AND seq = $2")
            .bind(key)
            .bind(seq)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn upload_failed(&self, key: &str, error: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE uploads SET attempts = attempts + 1, last_error = $1 WHERE storage_key = $2",
        )
        .bind(error)
        .bind(key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn upload_backlog(&self) -> Result<UploadBacklog, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest, \
             COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS retried FROM uploads",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(UploadBacklog {
            pending: get(&row, "pending")?,
            oldest_created_at: get(&row, "oldest")?,
            retried: get(&row, "retried")?,
        })
    }

    pub async fn max_upload_seq(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS top FROM uploads")
            .fetch_one(self.pool())
            .await?;
        get(&row, "top")
    }
}
