//! Metadata in SQLite (embedded default) or PostgreSQL, through sqlx's `Any`
//! driver with runtime queries so one code path serves both.

mod attendance;
mod chat;
mod columns;
mod exec;
mod invites;
mod layouts;
mod moderation;
mod participants;
mod polls;
mod positions;
mod publish_events;
mod recordings;
mod report;
mod sessions;
mod tokens;
mod uploads;

pub use chat::ChatRow;
pub use invites::{Invite, NewInvite};
pub use layouts::{Chapter, Layout};
pub use participants::Participant;
pub use polls::{AnswerRow, PollRow, ResultsRow};
pub use publish_events::PublishEvent;
pub use recordings::{Recording, RecordingState};
pub use report::{CountRow, ReportRows, SenderRow, StayRow};
pub use sessions::{NewSession, Session, SessionState};
pub use uploads::{FailureOutcome, Upload, UploadBacklog, UploadKind};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Creates a new SQLite file readable by its owner only (SQLite would make it
/// 0644; its -wal and -shm files copy the file's mode).
fn create_private(url: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        // sqlx reports what is wrong with the path.
        Err(e) => tracing::debug!("{path}: {e}"),
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
}

impl Db {
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        if !is_sqlite && !url.starts_with("postgres:") && !url.starts_with("postgresql:") {
            return Err(DbError::UnsupportedUrl);
        }
        if is_sqlite {
            create_private(url);
        }
        let options = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 10 })
            .acquire_timeout(std::time::Duration::from_secs(10));
        let options = if is_sqlite {
            // WAL lets readers proceed during writes; the busy timeout turns lock
            // contention between pool connections into a short wait, not an error.
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        Ok(Db {
            pool: options.connect(url).await?,
        })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(column)
        .map_err(|e| DbError::Corrupt(format!("{column}: {e}")))
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt(format!("{column}: {e}")))
}
