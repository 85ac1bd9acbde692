//! The upload spool: files bound for object storage wait on local disk, listed
//! in the database, until the store has them. Playlists and CDN invalidations
//! go after the files enqueued before them, so a CDN never lists a segment the
//! bucket does not have. A store that is down pauses the queue with backoff;
//! a restarted server picks up where it stopped.
//!
//! One upload that keeps failing while others go through (a file the store
//! refuses, a file that cannot be read) waits out its own backoff and holds up
//! only the playlists of its own session; after `max_attempts` such failures it
//! is given up: counted in the backlog (`/healthz`, `/metrics`), its file kept
//! on disk, and tried again at the next start.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::{Invalidate, ObjectMeta, Payload, Storage, StorageError};
use crate::db::{Db, DbError, FailureOutcome, Upload, UploadKind};
use crate::inflight::InFlight;
use crate::time::now_ms;

#[derive(Debug, Clone)]
pub struct UploadsSettings {
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Longest pause between retries while the store is down.
    pub retry_max: Duration,
    /// Failures of one upload while the store works for others, after which
    /// it is given up (until the next start).
    pub max_attempts: u32,
}

impl Default for UploadsSettings {
    fn default() -> Self {
        UploadsSettings {
            concurrency: 4,
            retry_max: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

/// Given-up uploads listed in the backlog, at most.
const FAILED_LISTED: i64 = 20;

/// First pause after a failure; doubles up to `retry_max`.
const RETRY_MIN: Duration = Duration::from_millis(500);
/// How often the queue is looked at without being woken.
const POLL: Duration = Duration::from_secs(1);

/// What waits and how uploads are going: for the API, metrics and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    pub backend: String,
    pub pending: i64,
    /// Uploads given up after too many attempts while the store worked; their
    /// files stay on disk.
    pub failed: i64,
    /// Pending uploads that failed at least once.
    pub retried: i64,
    pub oldest_pending_age_ms: Option<i64>,
    pub in_flight: usize,
    pub uploaded_files: u64,
    pub uploaded_bytes: u64,
    /// Bytes per second while uploading (total bytes / total upload time).
    pub throughput_bytes_per_s: Option<u64>,
    pub failures: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// The given-up uploads (the first few): key, local file, last error.
    pub failed_uploads: Vec<FailedUpload>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedUpload {
    pub key: String,
    pub local_path: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Stats {
    uploaded_files: u64,
    uploaded_bytes: u64,
    upload_time: Duration,
    failures: u64,
    consecutive_failures: u32,
    paused_until: Option<Instant>,
    last_error: Option<String>,
    /// Uploads done since start: a failure after another upload succeeded is
    /// the failing upload's fault, not the store's.
    successes: u64,
    /// Per failing key, `successes` at its last failure.
    last_failure_at: HashMap<String, u64>,
    /// Distinct keys failing since the last success: two or more mean the
    /// store is down, and the whole queue pauses.
    failing_keys: HashSet<String>,
}

#[derive(Clone)]
pub struct Uploads {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    storage: Storage,
    invalidator: Option<Arc<dyn Invalidate>>,
    settings: UploadsSettings,
    seq: AtomicI64,
    wake: Notify,
    in_flight: InFlight<String>,
    stats: Mutex<Stats>,
}

impl Uploads {
    pub async fn new(
        db: Db,
        storage: Storage,
        invalidator: Option<Arc<dyn Invalidate>>,
        settings: UploadsSettings,
    ) -> Result<Self, DbError> {
        let top = db.max_upload_seq().await?;
        let retried = db.retry_failed_uploads().await?;
        if retried > 0 {
            tracing::warn!(
                retried,
                "uploads given up by the previous run are tried again"
            );
        }
        // Sequence numbers also order work across restarts: start above the
        // spool's highest and above the clock, whichever is larger.
        let seq = top.max(now_ms() * 1000);
        Ok(Uploads {
            inner: Arc::new(Inner {
                db,
                storage,
                invalidator,
                settings,
                seq: AtomicI64::new(seq),
                wake: Notify::new(),
                in_flight: InFlight::default(),
                stats: Mutex::new(Stats::default()),
            }),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn has_invalidator(&self) -> bool {
        self.inner.invalidator.is_some()
    }

    fn next_seq(&self) -> i64 {
        self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    async fn enqueue(&self, upload: Upload) -> Result<(), DbError> {
        self.inner.db.enqueue_upload(&upload).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// A file written locally, to be copied to `key`. `recording` marks the
    /// recording ready once it is up.
    pub async fn enqueue_file(
        &self,
        group: &str,
        key: &str,
        path: &Path,
        meta: &ObjectMeta,
        recording: Option<&str>,
    ) -> Result<(), DbError> {
        self.enqueue(Upload {
            storage_key: key.into(),
            seq: self.next_seq(),
            group_id: group.into(),
            kind: UploadKind::File,
            local_path: Some(path.display().to_string()),
            body: None,
            content_type: meta.content_type.clone(),
            cache_control: meta.cache_control.clone(),
            recording_id: recording.map(str::to_owned),
            attempts: 0,
            last_error: None,
            created_at: now_ms(),
        })
        .await
    }

    /// A playlist as it is now (a snapshot: the file on disk moves on).
    pub async fn enqueue_playlist(
        &self,
        group: &str,
        key: &str,
        body: String,
        meta: &ObjectMeta,
    ) -> Result<(), DbError> {
        self.enqueue(Upload {
            storage_key: key.into(),
            seq: self.next_seq(),
            group_id: group.into(),
            kind: UploadKind::Playlist,
            local_path: None,
            body: Some(body),
            content_type: meta.content_type.clone(),
            cache_control: meta.cache_control.clone(),
            recording_id: None,
            attempts: 0,
            last_error: None,
            created_at: now_ms(),
        })
        .await
    }

    /// A CDN invalidation of `paths`, once everything queued before it is up.
    /// Nothing happens without a configured distribution.
    pub async fn enqueue_invalidation(
        &self,
        group: &str,
        paths: Vec<String>,
    ) -> Result<(), DbError> {
        if self.inner.invalidator.is_none() {
            tracing::debug!(
                group,
                "no CloudFront distribution configured: no invalidation"
            );
            return Ok(());
        }
        self.enqueue(Upload {
            storage_key: format!("invalidation:{group}"),
            seq: self.next_seq(),
            group_id: group.into(),
            kind: UploadKind::Invalidation,
            local_path: None,
            body: Some(serde_json::to_string(&paths).unwrap_or_else(|_| "[]".into())),
            content_type: String::new(),
            cache_control: String::new(),
            recording_id: None,
            attempts: 0,
            last_error: None,
            created_at: now_ms(),
        })
        .await
    }

    pub async fn backlog(&self) -> Backlog {
        let queued = self.inner.db.upload_backlog().await.unwrap_or_default();
        let in_flight = self.inner.in_flight.len();
        let mut b = Backlog {
            backend: self.inner.storage.name().into(),
            pending: queued.pending,
            retried: queued.retried,
            oldest_pending_age_ms: queued.oldest_created_at.map(|t| (now_ms() - t).max(0)),
            failed: queued.failed,
            in_flight,
            ..Backlog::default()
        };
        if queued.failed > 0 {
            b.failed_uploads = self
                .inner
                .db
                .failed_uploads(FAILED_LISTED)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|(key, local_path, error)| FailedUpload {
                    key,
                    local_path,
                    error,
                })
                .collect();
        }
        let stats = self.inner.stats.lock();
        if let Ok(s) = stats {
            b.uploaded_files = s.uploaded_files;
            b.uploaded_bytes = s.uploaded_bytes;
            b.throughput_bytes_per_s = (s.upload_time.as_secs_f64() > 0.0)
                .then(|| (s.uploaded_bytes as f64 / s.upload_time.as_secs_f64()) as u64);
            b.failures = s.failures;
            b.consecutive_failures = s.consecutive_failures;
            b.last_error = s.last_error.clone();
        }
        b
    }

    /// Waits until nothing is pending, up to `limit`; whether it got there.
    pub async fn drain(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.backlog().await.pending == 0 {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The worker: runs until the task is aborted. Whatever it did not finish
    /// stays in the spool for the next run.
    pub fn start(&self) -> JoinHandle<()> {
        let uploads = self.clone();
        tokio::spawn(async move { uploads.work().await })
    }

    async fn work(self) {
        let permits = Arc::new(Semaphore::new(self.inner.settings.concurrency.max(1)));
        loop {
            let paused = self.inner.stats.lock().ok().and_then(|s| s.paused_until);
            if let Some(until) = paused {
                tokio::time::sleep_until(until.into()).await;
            }
            match self.dispatch(&permits).await {
                Ok(()) => {}
                Err(e) => tracing::warn!("upload spool: {e}"),
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Starts the uploads that may go now.
    async fn dispatch(&self, permits: &Arc<Semaphore>) -> Result<(), DbError> {
        let busy = self.inner.in_flight.len();
        let batch = (self.inner.settings.concurrency * 4 + busy) as i64;
        let jobs = self.inner.db.next_uploads(batch, now_ms()).await?;
        if jobs.is_empty() {
            return Ok(());
        }
        let barriers = if jobs.iter().any(|j| j.kind != UploadKind::File) {
            self.inner.db.upload_barriers().await?
        } else {
            Vec::new()
        };
        for job in jobs {
            if self.is_paused() {
                break;
            }
            let waits_behind = |kind: UploadKind| {
                barriers
                    .iter()
                    .any(|(g, k, first)| g == &job.group_id && *k == kind && *first < job.seq)
            };
            let blocked = match job.kind {
                UploadKind::File => false,
                UploadKind::Playlist => waits_behind(UploadKind::File),
                UploadKind::Invalidation => {
                    waits_behind(UploadKind::File) || waits_behind(UploadKind::Playlist)
                }
            };
            if blocked {
                continue;
            }
            let Some(claim) = self.inner.in_flight.claim(job.storage_key.clone()) else {
                continue;
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return Ok(());
            };
            let uploads = self.clone();
            tokio::spawn(async move {
                uploads.run_one(job).await;
                drop(claim);
                drop(permit);
                uploads.inner.wake.notify_one();
            });
        }
        Ok(())
    }

    fn is_paused(&self) -> bool {
        self.inner
            .stats
            .lock()
            .ok()
            .and_then(|s| s.paused_until)
            .is_some_and(|t| t > Instant::now())
    }

    async fn run_one(&self, job: Upload) {
        let started = Instant::now();
        let result = self.perform(&job).await;
        let db = &self.inner.db;
        match result {
            Ok(bytes) => {
                let mut was_down = false;
                if let Ok(mut s) = self.inner.stats.lock() {
                    s.uploaded_files += 1;
                    s.uploaded_bytes += bytes;
                    s.upload_time += started.elapsed();
                    s.successes += 1;
                    was_down = s.failing_keys.len() >= 2;
                    if s.consecutive_failures > 0 {
                        tracing::info!(
                            failures = s.consecutive_failures,
                            "object store reachable again; uploading the backlog"
                        );
                    }
                    s.consecutive_failures = 0;
                    s.paused_until = None;
                    s.failing_keys.clear();
                    s.last_failure_at.remove(&job.storage_key);
                }
                // What backed off during the outage need not wait any longer.
                if was_down {
                    if let Err(e) = db.clear_upload_backoff().await {
                        tracing::warn!("upload backoffs not cleared: {e}");
                    }
                }
                if let Err(e) = db.upload_done(&job.storage_key, job.seq).await {
                    tracing::warn!(key = %job.storage_key, "upload done but not recorded: {e}");
                }
                if let Some(recording) = &job.recording_id {
                    self.recording_uploaded(recording, &job).await;
                }
            }
            Err(Failure::Permanent(e)) => {
                tracing::error!(key = %job.storage_key, "upload dropped: {e}");
                let _ = db.upload_done(&job.storage_key, job.seq).await;
                if let Some(recording) = &job.recording_id {
                    let _ = db.recording_failed(recording, &e.to_string()).await;
                }
            }
            Err(Failure::Retry(e)) => self.retry_later(&job, &e).await,
        }
    }

    /// A failed attempt: this upload backs off; the whole queue pauses only
    /// when several keys fail with no success between (the store is down).
    async fn retry_later(&self, job: &Upload, e: &StorageError) {
        let message = e.to_string();
        let retry_max = self.inner.settings.retry_max;
        let backoff = |n: u32| (RETRY_MIN * 2u32.pow(n.min(16))).min(retry_max);
        let delay = backoff(u32::try_from(job.attempts).unwrap_or(u32::MAX));
        // A file we cannot read is never the store's fault.
        let local = matches!(e, StorageError::Io(..));
        let mut strike = local;
        if let Ok(mut s) = self.inner.stats.lock() {
            s.failures += 1;
            let successes = s.successes;
            strike |= s
                .last_failure_at
                .insert(job.storage_key.clone(), successes)
                .is_some_and(|at| successes > at);
            if !local {
                s.consecutive_failures += 1;
                s.failing_keys.insert(job.storage_key.clone());
            }
            if s.failing_keys.len() >= 2 {
                let pause = backoff(s.consecutive_failures.saturating_sub(1));
                s.paused_until = Some(Instant::now() + pause);
                if s.consecutive_failures == 2 || s.consecutive_failures % 20 == 0 {
                    tracing::warn!(
                        key = %job.storage_key,
                        failures = s.consecutive_failures,
                        "object store failing, spooling and retrying in {pause:?}: {message}"
                    );
                }
            }
            s.last_error = Some(message.clone());
        }
        tracing::debug!(key = %job.storage_key, ?delay, strike, "upload failed: {message}");
        let retry_at = now_ms() + delay.as_millis().min(i64::MAX as u128) as i64;
        let outcome = db_outcome(
            self.inner
                .db
                .upload_failed(
                    &job.storage_key,
                    job.seq,
                    &message,
                    retry_at,
                    strike,
                    i64::from(self.inner.settings.max_attempts.max(1)),
                )
                .await,
        );
        if outcome == FailureOutcome::GaveUp {
            if let Ok(mut s) = self.inner.stats.lock() {
                s.last_failure_at.remove(&job.storage_key);
                s.failing_keys.remove(&job.storage_key);
            }
            tracing::error!(
                key = %job.storage_key,
                file = job.local_path.as_deref().unwrap_or("-"),
                attempts = job.attempts + 1,
                "upload given up while the store takes others; the file stays, \
                 the next start tries again: {message}"
            );
        }
    }

    async fn perform(&self, job: &Upload) -> Result<u64, Failure> {
        let storage = &self.inner.storage;
        let meta = ObjectMeta {
            content_type: job.content_type.clone(),
            cache_control: job.cache_control.clone(),
        };
        let payload = match job.kind {
            UploadKind::File => {
                let path = job.local_path.as_deref().unwrap_or_default();
                if !Path::new(path).exists() {
                    return Err(Failure::Permanent(StorageError::Config(format!(
                        "spooled file {path} is gone"
                    ))));
                }
                Payload::File(Path::new(path))
            }
            UploadKind::Playlist => {
                Payload::Bytes(job.body.clone().unwrap_or_default().into_bytes())
            }
            UploadKind::Invalidation => {
                let Some(invalidator) = &self.inner.invalidator else {
                    return Ok(0);
                };
                let paths: Vec<String> =
                    serde_json::from_str(job.body.as_deref().unwrap_or("[]")).unwrap_or_default();
                let reference = format!("{}-{}", job.group_id, job.seq);
                let id = invalidator
                    .invalidate(&paths, &reference)
                    .await
                    .map_err(Failure::Retry)?;
                tracing::info!(group = %job.group_id, invalidation = %id, ?paths, "CDN invalidation requested");
                return Ok(0);
            }
        };
        storage
            .put(&job.storage_key, payload, &meta)
            .await
            .map_err(Failure::classify)
    }

    async fn recording_uploaded(&self, recording: &str, job: &Upload) {
        if let Err(e) = self.inner.db.recording_uploaded(recording).await {
            tracing::warn!(recording, "recording uploaded but not marked ready: {e}");
            return;
        }
        tracing::info!(recording, key = %job.storage_key, "recording uploaded: ready");
        // The bucket has it now; the local copy was only the spool.
        if let Some(path) = &job.local_path {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

fn db_outcome(r: Result<FailureOutcome, DbError>) -> FailureOutcome {
    r.unwrap_or_else(|e| {
        tracing::warn!("upload failure not recorded: {e}");
        FailureOutcome::Retry
    })
}

enum Failure {
    /// Will never succeed (the spooled file is gone, the key is invalid).
    Permanent(StorageError),
    /// The store may be down: keep the file and try again later.
    Retry(StorageError),
}

impl Failure {
    fn classify(e: StorageError) -> Self {
        match e {
            StorageError::Key(_) | StorageError::Config(_) => Failure::Permanent(e),
            _ => Failure::Retry(e),
        }
    }
}
