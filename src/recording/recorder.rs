//! Follows the ladders: a session with `record` set gets a recording when its
//! publish starts; the recording ends with the publish (or when the instructor
//! stops it) and becomes one MP4, uploaded through the spool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::remux::{remux_to_mp4, RemuxInput};
use super::RecordingError;
use crate::db::{Db, Recording, RecordingState};
use crate::hls::playlist::segment_index;
use crate::hls::{Hls, HlsEvent, LadderRun};
use crate::ids::SessionId;
use crate::inflight::InFlight;
use crate::media::follow::{self, Heard, Reconcile};
use crate::storage::{recording_key, DiskGuard, DiskStatus, ObjectMeta, Storage, Uploads};

/// How long a stop waits for the segment in progress to be closed.
const LAST_SEGMENT_WAIT: Duration = Duration::from_secs(12);

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    hls: Hls,
    storage: Storage,
    uploads: Option<Uploads>,
    /// `<data-dir>`: recordings are written to `<data-dir>/<recording key>`.
    data_dir: PathBuf,
    finalizing: InFlight<String>,
    disk: DiskGuard,
}

/// One segment of a recording's range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSegment {
    pub index: u64,
    pub duration: f64,
}

/// The segments of a recording in a rung's `all.m3u8`: from `first`, up to
/// `last` (inclusive) or the end of that publish (the next discontinuity).
pub fn recorded_range(all_m3u8: &[u8], first: u64, last: Option<u64>) -> Vec<RangeSegment> {
    let Ok(playlist) = m3u8_rs::parse_media_playlist_res(all_m3u8) else {
        return Vec::new();
    };
    let mut out: Vec<RangeSegment> = Vec::new();
    for s in &playlist.segments {
        let Some(index) = segment_index(&s.uri) else {
            continue;
        };
        if index < first || last.is_some_and(|l| index > l) {
            continue;
        }
        if s.discontinuity && !out.is_empty() {
            break;
        }
        // Within one publish indices are consecutive; a gap means a later one.
        if out.last().is_some_and(|p| index != p.index + 1) {
            break;
        }
        out.push(RangeSegment {
            index,
            duration: f64::from(s.duration),
        });
    }
    out
}

/// The ladder run a recording belongs to, as (session, the run's first
/// segment): the session's running ladder if the recording started within
/// it, else a run of its own that is over (segment indices only grow).
fn run_of((session, first): &(SessionId, u64), runs: &[LadderRun]) -> (SessionId, u64) {
    let current = runs
        .iter()
        .find(|r| r.session_id == *session && *first >= r.first_segment);
    (session.clone(), current.map_or(*first, |r| r.first_segment))
}

/// Which ladder runs need a recording started and which recordings (by
/// their run) must be finalized, from the runs now and the active
/// recordings as (session, first segment).
fn plan_recordings(
    runs: &[LadderRun],
    recordings: &[(SessionId, u64)],
) -> Reconcile<(SessionId, u64)> {
    follow::reconcile(
        runs.iter().map(|r| (r.session_id.clone(), r.first_segment)),
        recordings.iter().map(|rec| run_of(rec, runs)),
    )
}

impl Recorder {
    pub fn new(
        db: Db,
        hls: Hls,
        storage: Storage,
        uploads: Option<Uploads>,
        data_dir: PathBuf,
    ) -> Self {
        Recorder {
            inner: Arc::new(Inner {
                db,
                hls,
                storage,
                uploads,
                disk: DiskGuard::off(data_dir.clone()),
                data_dir,
                finalizing: InFlight::default(),
            }),
        }
    }

    /// Refuses new recordings while the data directory's disk is low.
    pub fn with_disk_guard(self, disk: DiskGuard) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.disk = disk;
                Recorder {
                    inner: Arc::new(inner),
                }
            }
            // Already shared: keep it as it is (set the guard at construction).
            Err(inner) => Recorder { inner },
        }
    }

    pub fn disk_status(&self) -> DiskStatus {
        self.inner.disk.status()
    }

    /// Starts and ends recordings as ladders come and go.
    pub fn follow(&self) -> JoinHandle<()> {
        let recorder = self.clone();
        let mut events = self.inner.hls.subscribe();
        tokio::spawn(async move {
            while let Some(heard) = follow::next(&mut events).await {
                let result = match heard {
                    Heard::Event(HlsEvent::Started {
                        session_id,
                        top_rung,
                        first_segment,
                    }) => {
                        recorder
                            .on_started(&session_id, &top_rung, first_segment)
                            .await
                    }
                    Heard::Event(HlsEvent::Ended { session_id }) => {
                        recorder.on_ended(&session_id).await
                    }
                    Heard::Lagged { missed } => {
                        tracing::warn!("recorder missed {missed} ladder events; reconciling");
                        recorder.reconcile().await
                    }
                };
                if let Err(e) = result {
                    tracing::error!("recorder: {e}");
                }
            }
        })
    }

    /// After missed ladder events: recordings whose ladder run is over are
    /// finalized, and runs without one get one (if their session records),
    /// as the missed `Ended` and `Started` would have done.
    async fn reconcile(&self) -> Result<(), RecordingError> {
        let runs = self.inner.hls.runs().await;
        let active = self
            .inner
            .db
            .recordings_in_state(RecordingState::Recording)
            .await?;
        let keys: Vec<(SessionId, u64)> = active
            .iter()
            .map(|r| (r.session_id.as_str().into(), r.first_segment.max(0) as u64))
            .collect();
        let plan = plan_recordings(&runs, &keys);
        for (rec, key) in active.into_iter().zip(&keys) {
            if plan.stop.contains(&run_of(key, &runs)) {
                self.stop_and_finalize(rec, None).await?;
            }
        }
        for run in runs {
            if plan
                .start
                .contains(&(run.session_id.clone(), run.first_segment))
            {
                self.on_started(&run.session_id, &run.top_rung, run.first_segment)
                    .await?;
            }
        }
        Ok(())
    }

    async fn on_started(
        &self,
        session_id: &str,
        rung: &str,
        first: u64,
    ) -> Result<(), RecordingError> {
        let db = &self.inner.db;
        let Some(session) = db.session(session_id).await? else {
            return Ok(());
        };
        if !session.record {
            return Ok(());
        }
        if let Err(why) = self.inner.disk.check() {
            tracing::error!(session = %session_id, "recording not started: {why}");
            return Ok(());
        }
        if let Some(stale) = db.active_recording(session_id).await? {
            if stale.first_segment.max(0) as u64 >= first {
                // Already recording this run (a reconcile after missed
                // events got here before this event).
                return Ok(());
            }
            // A ladder restarted without ending (should not happen): close it.
            self.stop_and_finalize(stale, None).await?;
        }
        let rec = db
            .create_recording(&uuid::Uuid::new_v4().to_string(), session_id, rung, first)
            .await?;
        tracing::info!(session = %session_id, recording = %rec.id, part = rec.part, rung, first, "recording started");
        Ok(())
    }

    async fn on_ended(&self, session_id: &str) -> Result<(), RecordingError> {
        if let Some(rec) = self.inner.db.active_recording(session_id).await? {
            self.stop_and_finalize(rec, None).await?;
        }
        Ok(())
    }

    /// The instructor turns recording on: from the next segment if live, and
    /// for every later publish.
    pub async fn start_now(&self, session_id: &str) -> Result<Option<Recording>, RecordingError> {
        self.inner.disk.check().map_err(|why| {
            tracing::warn!(session = %session_id, "record switch refused: {why}");
            RecordingError::LowDisk(why)
        })?;
        let db = &self.inner.db;
        db.set_session_record(session_id, true).await?;
        if let Some(active) = db.active_recording(session_id).await? {
            return Ok(Some(active));
        }
        let live = self.inner.hls.is_running(session_id).await;
        let status = self.inner.hls.status(session_id);
        let (Some(status), true) = (status, live) else {
            return Ok(None);
        };
        let Some(top) = status.rungs.first() else {
            return Ok(None);
        };
        let rec = db
            .create_recording(
                &uuid::Uuid::new_v4().to_string(),
                session_id,
                &top.name,
                status.next_segment,
            )
            .await?;
        tracing::info!(session = %session_id, recording = %rec.id, first = status.next_segment, "recording started by the instructor");
        Ok(Some(rec))
    }

    /// The instructor turns recording off: the segment in progress is the
    /// last one.
    pub async fn stop_now(&self, session_id: &str) -> Result<Option<Recording>, RecordingError> {
        let db = &self.inner.db;
        db.set_session_record(session_id, false).await?;
        let Some(active) = db.active_recording(session_id).await? else {
            return Ok(None);
        };
        let last = self
            .inner
            .hls
            .status(session_id)
            .map(|s| s.next_segment)
            .unwrap_or(active.first_segment as u64)
            .max(active.first_segment as u64);
        let id = active.id.clone();
        self.stop_and_finalize(active, Some(last)).await?;
        Ok(db.recording(&id).await?)
    }

    async fn stop_and_finalize(
        &self,
        rec: Recording,
        last: Option<u64>,
    ) -> Result<(), RecordingError> {
        self.inner.db.stop_recording(&rec.id, last).await?;
        let rec = self.inner.db.recording(&rec.id).await?.unwrap_or(rec);
        self.spawn_finalize(rec);
        Ok(())
    }

    fn spawn_finalize(&self, rec: Recording) {
        let Some(claim) = self.inner.finalizing.claim(rec.id.clone()) else {
            return;
        };
        let recorder = self.clone();
        tokio::spawn(async move {
            let id = rec.id.clone();
            if let Err(e) = recorder.finalize(&rec).await {
                tracing::error!(recording = %id, "recording failed: {e}");
                let _ = recorder
                    .inner
                    .db
                    .recording_failed(&id, &e.to_string())
                    .await;
            }
            drop(claim);
        });
    }

    /// Segments → MP4 → storage.
    async fn finalize(&self, rec: &Recording) -> Result<(), RecordingError> {
        let started = std::time::Instant::now();
        let rung_dir = self.inner.hls.session_dir(&rec.session_id).join(&rec.rung);
        let first = rec.first_segment.max(0) as u64;
        let last = rec.last_segment.map(|l| l.max(0) as u64);
        let range = self.wait_for_range(&rung_dir, first, last).await?;
        let (Some(head), Some(tail)) = (range.first(), range.last()) else {
            return Err(RecordingError::Empty);
        };
        let key = recording_key(&rec.session_id, &rec.id);
        let out = self.inner.data_dir.join(&key);
        if let Some(parent) = out.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| RecordingError::Io(parent.display().to_string(), e))?;
        }
        let report = remux_to_mp4(
            &RemuxInput {
                rung_dir,
                first_index: head.index,
                last_index: tail.index,
            },
            &out,
        )
        .await?;
        let local = self.inner.storage.is_local();
        self.inner
            .db
            .recording_produced(
                &rec.id,
                tail.index,
                &key,
                report.duration_ms,
                report.size_bytes,
                local,
            )
            .await?;
        tracing::info!(
            recording = %rec.id,
            segments = range.len(),
            duration_ms = report.duration_ms,
            size = report.size_bytes,
            took_ms = started.elapsed().as_millis() as u64,
            "recording remuxed"
        );
        if !local {
            self.upload(&rec.session_id, &rec.id, &key, &out).await?;
        }
        Ok(())
    }

    async fn upload(
        &self,
        session_id: &str,
        id: &str,
        key: &str,
        path: &std::path::Path,
    ) -> Result<(), RecordingError> {
        let Some(uploads) = &self.inner.uploads else {
            return Err(RecordingError::Config(
                "object storage without an upload spool".into(),
            ));
        };
        uploads
            .enqueue_file(
                session_id,
                key,
                path,
                &ObjectMeta::for_key(key, false),
                Some(id),
            )
            .await?;
        Ok(())
    }

    /// The recording's segments once its last one is written (a stop waits
    /// for the segment in progress).
    async fn wait_for_range(
        &self,
        rung_dir: &std::path::Path,
        first: u64,
        last: Option<u64>,
    ) -> Result<Vec<RangeSegment>, RecordingError> {
        let all = rung_dir.join("all.m3u8");
        let deadline = tokio::time::Instant::now() + LAST_SEGMENT_WAIT;
        loop {
            let text = tokio::fs::read(&all).await.unwrap_or_default();
            let range = recorded_range(&text, first, last);
            let complete = match last {
                None => true,
                Some(l) => range.last().is_some_and(|s| s.index >= l),
            };
            if complete || tokio::time::Instant::now() > deadline {
                return Ok(range);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until no recording is being finalized, up to `limit`.
    pub async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let busy = !self.inner.finalizing.is_empty();
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!(
            "recordings still being finalized at shutdown; the next start finishes them"
        );
    }

    /// After a restart: remux leftovers are swept, recordings a crash
    /// interrupted are finalized from the segments on disk, finished ones
    /// waiting for upload are queued again.
    pub async fn recover(&self) -> Result<(), RecordingError> {
        let db = &self.inner.db;
        // No remux runs yet: every leftover is from a run that died.
        super::retention::sweep_partials(&self.inner.data_dir, Duration::ZERO, false).await;
        for rec in db.recordings_in_state(RecordingState::Recording).await? {
            tracing::warn!(recording = %rec.id, session = %rec.session_id, "finalizing a recording interrupted by a restart");
            self.stop_and_finalize(rec, None).await?;
        }
        for rec in db.recordings_in_state(RecordingState::Processing).await? {
            let mp4 = rec
                .storage_key
                .as_deref()
                .map(|k| self.inner.data_dir.join(k))
                .filter(|p| p.exists());
            match (mp4, rec.storage_key.as_deref()) {
                (Some(path), Some(key)) if !self.inner.storage.is_local() => {
                    self.upload(&rec.session_id, &rec.id, key, &path).await?;
                }
                (Some(_), Some(_)) => db.recording_uploaded(&rec.id).await?,
                _ => self.spawn_finalize(rec),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &str =
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
        #EXTINF:2,\nseg_00000.ts\n#EXTINF:2,\nseg_00001.ts\n#EXTINF:1.5,\nseg_00002.ts\n\
        #EXT-X-DISCONTINUITY\n#EXTINF:2,\nseg_00003.ts\n#EXTINF:2,\nseg_00004.ts\n";

    fn indices(r: &[RangeSegment]) -> Vec<u64> {
        r.iter().map(|s| s.index).collect()
    }

    #[test]
    fn a_recording_ends_with_its_publish() {
        assert_eq!(indices(&recorded_range(ALL.as_bytes(), 0, None)), [0, 1, 2]);
        assert_eq!(indices(&recorded_range(ALL.as_bytes(), 1, None)), [1, 2]);
        assert_eq!(indices(&recorded_range(ALL.as_bytes(), 3, None)), [3, 4]);
        assert_eq!(indices(&recorded_range(ALL.as_bytes(), 0, Some(1))), [0, 1]);
        assert!(recorded_range(ALL.as_bytes(), 9, None).is_empty());
        assert!(recorded_range(b"garbage", 0, None).is_empty());
        assert_eq!(recorded_range(ALL.as_bytes(), 2, None)[0].duration, 1.5);
    }

    fn run(session: &str, first_segment: u64) -> LadderRun {
        LadderRun {
            session_id: session.into(),
            top_rung: "720p".into(),
            first_segment,
        }
    }

    fn rec(session: &str, first: u64) -> (SessionId, u64) {
        (session.into(), first)
    }

    #[test]
    fn recordings_follow_the_runs_after_missed_events() {
        // In step: a recording from the run's start, one started later by
        // the instructor.
        let runs = [run("a", 10), run("b", 0)];
        let plan = plan_recordings(&runs, &[rec("a", 10), rec("b", 7)]);
        assert!(plan.start.is_empty() && plan.stop.is_empty(), "{plan:?}");
        // A missed start, and a missed end.
        let plan = plan_recordings(&[run("a", 10)], &[rec("c", 3)]);
        assert_eq!(plan.start, [rec("a", 10)]);
        assert_eq!(plan.stop, [rec("c", 3)]);
        // A missed restart: the recording is from the run before.
        let plan = plan_recordings(&[run("a", 20)], &[rec("a", 10)]);
        assert_eq!(plan.start, [rec("a", 20)]);
        assert_eq!(plan.stop, [rec("a", 10)]);
    }
}
