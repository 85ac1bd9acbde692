//! Retention: recordings older than the configured period leave storage (the
//! MP4, and the session's HLS VOD once none of its recordings remain) and are
//! marked `deleted`. Run by `classcast recordings prune` and hourly by the
//! server. Both also sweep remux leftovers (`.part`, `.moov`) a crash or a
//! failed remux left behind.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::RecordingError;
use crate::db::{Db, RecordingState, SessionState};
use crate::storage::{hls_prefix, Storage, Uploads};
use crate::time::now_ms;

#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub recordings_deleted: Vec<String>,
    pub sessions_cleared: Vec<String>,
    /// Recordings that could not be deleted now (store down); tried next time.
    pub failed: Vec<String>,
    /// Remux leftovers deleted (paths under the data directory).
    pub partials_swept: Vec<String>,
}

/// A remux leftover untouched this long is abandoned: a running remux writes
/// its `.part` continuously.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(3600);

/// The remux's temporary files (see `remux::sibling`).
fn is_partial(name: &str) -> bool {
    name.ends_with(".mp4.part") || name.ends_with(".mp4.moov")
}

/// Deletes remux leftovers under `<data-dir>/recordings/` not modified for
/// `min_age` (all of them with `Duration::ZERO`, at start-up, before any remux
/// runs); the paths found (and deleted, unless `dry_run`).
pub async fn sweep_partials(data_dir: &Path, min_age: Duration, dry_run: bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![data_dir.join("recordings")];
    while let Some(dir) = stack.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let age = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            if !is_partial(&name.to_string_lossy()) || age < min_age {
                continue;
            }
            let path = entry.path();
            let shown = path
                .strip_prefix(data_dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            if !dry_run {
                if let Err(e) = tokio::fs::remove_file(&path).await {
                    tracing::warn!("cannot delete the remux leftover {shown}: {e}");
                    continue;
                }
                tracing::info!(file = %shown, "remux leftover deleted");
            }
            found.push(shown);
        }
    }
    found
}

pub async fn prune(
    db: &Db,
    storage: &Storage,
    data_dir: &Path,
    retention: Duration,
    dry_run: bool,
) -> Result<PruneReport, RecordingError> {
    let cutoff = now_ms() - retention.as_millis().min(i64::MAX as u128) as i64;
    let mut report = PruneReport {
        partials_swept: sweep_partials(data_dir, PARTIAL_MAX_AGE, dry_run).await,
        ..PruneReport::default()
    };
    let mut sessions = std::collections::BTreeSet::new();
    for rec in db.recordings_older_than(cutoff).await? {
        if dry_run {
            report.recordings_deleted.push(rec.id);
            continue;
        }
        if let Some(key) = &rec.storage_key {
            if let Err(e) = storage.delete(key).await {
                tracing::warn!(recording = %rec.id, "cannot delete {key}: {e}");
                report.failed.push(rec.id);
                continue;
            }
            // With S3 a local copy may remain (the spool): it goes too.
            let _ = tokio::fs::remove_file(data_dir.join(key)).await;
        }
        db.recording_deleted(&rec.id).await?;
        tracing::info!(recording = %rec.id, session = %rec.session_id, "recording deleted (retention)");
        sessions.insert(rec.session_id.clone());
        report.recordings_deleted.push(rec.id);
    }
    for session_id in sessions {
        let remaining = db
            .session_recordings(&session_id)
            .await?
            .iter()
            .any(|r| r.state != RecordingState::Deleted);
        let live = db
            .session(&session_id)
            .await?
            .is_some_and(|s| s.state == SessionState::Live);
        if remaining || live {
            continue;
        }
        let prefix = hls_prefix(&session_id);
        match storage.delete_prefix(&prefix).await {
            Ok(_) => {
                let _ = tokio::fs::remove_dir_all(data_dir.join(&prefix)).await;
                report.sessions_cleared.push(session_id);
            }
            Err(e) => tracing::warn!(session = %session_id, "cannot delete {prefix}: {e}"),
        }
    }
    Ok(report)
}

/// Deletes the HLS (local files, bucket objects, waiting uploads; the CDN's
/// copies are invalidated) of sessions nobody chose to record, `grace` after
/// their last publish ended; the sessions cleared. A session published again
/// later gets a new HLS, expired in turn.
pub async fn expire_unrecorded_hls(
    db: &Db,
    storage: &Storage,
    uploads: Option<&Uploads>,
    data_dir: &Path,
    grace: Duration,
) -> Result<Vec<String>, RecordingError> {
    let cutoff = now_ms() - grace.as_millis().min(i64::MAX as u128) as i64;
    let mut cleared = Vec::new();
    for session_id in db.unrecorded_hls_to_expire(cutoff).await? {
        let prefix = hls_prefix(&session_id);
        // Nothing of it may reach the bucket after the deletion.
        db.drop_uploads_under(&session_id, &prefix).await?;
        if let Err(e) = storage.delete_prefix(&prefix).await {
            tracing::warn!(session = %session_id, "cannot delete {prefix}, tried again later: {e}");
            continue;
        }
        if let Err(e) = tokio::fs::remove_dir_all(data_dir.join(&prefix)).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(session = %session_id, "cannot delete local {prefix}: {e}");
                continue;
            }
        }
        if let Some(uploads) = uploads {
            let paths = vec![format!("/{}*", storage.object_path(&prefix))];
            if let Err(e) = uploads.enqueue_invalidation(&session_id, paths).await {
                tracing::warn!(session = %session_id, "CDN invalidation not queued: {e}");
            }
        }
        db.mark_hls_expired(&session_id).await?;
        tracing::info!(session = %session_id, ?grace, "HLS of an unrecorded class deleted");
        cleared.push(session_id);
    }
    Ok(cleared)
}
