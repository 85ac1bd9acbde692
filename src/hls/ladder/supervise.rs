//! Runs a built ladder: reads its bus as a stream until the publish ends or
//! the pipeline fails, flushes and finalizes, and samples its counters into
//! the status the API shows.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Ladder, LadderStatus, RungStatus};
use crate::hls::playlist::RungPlaylist;
use crate::hls::HlsError;
use crate::media::BusEvent;
use crate::time::rfc3339;

/// How long the end of a publish may take to flush the last segments.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(8);
/// An encoder this far behind its input is falling behind real time.
const LAG_WARNING_MS: u64 = 2_000;

/// How long a ladder that lost its passthrough waits for the publisher's
/// next keyframe, where its successor starts, before closing anyway.
const HANDOVER_WAIT: Duration = Duration::from_secs(30);

/// How a ladder's run ended.
pub enum RunEnd {
    /// The publish ended: the playlists are final.
    Stopped,
    /// The passed-through publisher stopped keeping the segment cadence (or
    /// changed its picture size): a ladder that encodes the top rung must
    /// take over (see [`Handover`]).
    PassthroughLost(Box<Handover>),
}

/// A ladder whose passthrough was lost, still running until its successor
/// (started with `first_index` = [`Handover::next_index`]) has its first
/// keyframe: nothing between the two is lost.
pub struct Handover {
    ladder: Ladder,
    next_index: u64,
}

impl Handover {
    /// The index the successor's first segment takes (after the one this
    /// ladder still has open).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The successor is linked to the publisher: lets this ladder run to the
    /// publisher's next keyframe (the successor's first frame), then closes
    /// its segments and hands over its playlists (not final). Also returns
    /// whether `stop` fired meanwhile.
    pub async fn finish(
        self,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<(Vec<RungPlaylist>, bool), HlsError> {
        let mut ladder = self.ladder;
        let Some(state) = ladder.passthrough.clone() else {
            return Ok((ladder.close(Ok(()), false).await?, false));
        };
        state.successor_ready.store(true, Ordering::Relaxed);
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        let deadline = tokio::time::sleep(HANDOVER_WAIT);
        tokio::pin!(deadline);
        let mut stopped = false;
        let result = loop {
            tokio::select! {
                _ = &mut *stop => {
                    stopped = true;
                    break Ok(());
                }
                _ = &mut deadline => break Ok(()),
                _ = poll.tick() => if state.handed_over.load(Ordering::Relaxed) {
                    break Ok(());
                },
                event = ladder.bus.recv() => match event {
                    Some(BusEvent::Element { source, structure }) => ladder.on_element(&source, &structure).await?,
                    Some(BusEvent::Error { source, message, .. }) => break Err(HlsError::Pipeline(format!("{source}: {message}"))),
                    Some(BusEvent::Eos) | None => break Ok(()),
                },
            }
        };
        Ok((ladder.close(result, false).await?, stopped))
    }
}

impl Ladder {
    /// Runs until `stop` fires (the publish ended), the pipeline fails or a
    /// passed-through publisher loses the cadence; then flushes the last
    /// segments and makes the playlists final, or hands over.
    pub async fn run(mut self, stop: &mut oneshot::Receiver<()>) -> Result<RunEnd, HlsError> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let result = loop {
            tokio::select! {
                _ = &mut *stop => break Ok(()),
                _ = tick.tick() => {
                    self.sample();
                    if self.passthrough.as_ref().is_some_and(|p| p.lost.load(Ordering::Relaxed)) {
                        tracing::warn!(dir = %self.dir.display(), "the publisher does not keep keyframes on the segment boundaries (or changed size): encoding the top rung from its next keyframe");
                        // The top rung's open segment is the last one cut
                        // since: no cut happens once the cadence is lost.
                        let next_index = self.rungs.first().map_or(self.first_segment, |r| r.playlist.next_index()) + 1;
                        return Ok(RunEnd::PassthroughLost(Box::new(Handover { ladder: self, next_index })));
                    }
                }
                event = self.bus.recv() => match event {
                    Some(BusEvent::Element { source, structure }) => self.on_element(&source, &structure).await?,
                    Some(BusEvent::Error { source, message, debug: details }) => {
                        tracing::warn!(dir = %self.dir.display(), %source, ?details, "ladder failed: {message}");
                        break Err(HlsError::Pipeline(format!("{source}: {message}")));
                    }
                    Some(BusEvent::Eos) | None => break Ok(()),
                },
            }
        };
        self.close(result, true).await?;
        Ok(RunEnd::Stopped)
    }

    /// Flushes (EOS from the sources closes every rung's last segment),
    /// writes the playlists (final unless another ladder continues them) and
    /// stops the pipeline. Returns the playlists, or the run's error.
    async fn close(
        mut self,
        result: Result<(), HlsError>,
        last: bool,
    ) -> Result<Vec<RungPlaylist>, HlsError> {
        self.links.clear();
        for src in &self.sources {
            let _ = src.end_of_stream();
        }
        let deadline = tokio::time::sleep(FINALIZE_TIMEOUT);
        tokio::pin!(deadline);
        if result.is_ok() {
            loop {
                tokio::select! {
                    _ = &mut deadline => {
                        tracing::warn!(dir = %self.dir.display(), "ladder did not flush in time");
                        break;
                    }
                    event = self.bus.recv() => match event {
                        Some(BusEvent::Element { source, structure }) => self.on_element(&source, &structure).await?,
                        Some(BusEvent::Eos) | None | Some(BusEvent::Error { .. }) => break,
                    },
                }
            }
        }
        if last {
            for r in &mut self.rungs {
                r.playlist.end();
            }
        }
        self.write_playlists().await?;
        if !self.master_written && self.rungs.iter().any(|r| r.segments > 0) {
            self.write_master().await?;
        }
        if let (Some(uploader), true) = (&self.uploader, last) {
            uploader.ended().await;
        }
        self.pipeline.set_state(gst::State::Null).await?;
        if let Ok(mut s) = self.status.lock() {
            s.state = match (&result, last) {
                (Err(_), _) => "failed",
                (Ok(()), true) => "ended",
                (Ok(()), false) => "live",
            }
            .into();
            if let Err(e) = &result {
                s.error = Some(e.to_string());
            }
        }
        result?;
        Ok(std::mem::take(&mut self.rungs)
            .into_iter()
            .map(|r| r.playlist)
            .collect())
    }

    /// Once a second: encode speed and lag per rung; a warning when behind.
    fn sample(&mut self) {
        if self.skipped_until_keyframe.is_none() && self.input.frames.load(Ordering::Relaxed) > 0 {
            self.skipped_until_keyframe = Some(self.input_drops());
        }
        let input_rt = self.input.running_time_ns().unwrap_or(0);
        let now = Instant::now();
        let mut worst_lag = 0;
        for r in &mut self.rungs {
            let out = r.tap.progress.running_time_ns().unwrap_or(0);
            if let Some((then, media)) = r.sampled {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    r.speed = out.saturating_sub(media) as f64 / 1e9 / wall;
                }
            }
            r.sampled = Some((now, out));
            if out > 0 {
                worst_lag = worst_lag.max(input_rt.saturating_sub(out) / 1_000_000);
            }
        }
        if worst_lag > LAG_WARNING_MS {
            let since = *self.lagging_since.get_or_insert(now);
            if now.duration_since(since) > Duration::from_secs(5) {
                tracing::warn!(dir = %self.dir.display(), lag_ms = worst_lag, "HLS ladder is falling behind real time");
                self.lagging_since = Some(now);
            }
        } else {
            self.lagging_since = None;
        }
        let state = self
            .status
            .lock()
            .map(|s| s.state.clone())
            .unwrap_or_default();
        self.publish_status(&state);
    }

    fn input_drops(&self) -> u64 {
        self.links.first().map(|l| l.dropped()).unwrap_or(0)
    }

    pub(super) fn publish_status(&self, state: &str) {
        let input_rt = self.input.running_time_ns().unwrap_or(0);
        let status = LadderStatus {
            state: state.to_owned(),
            input_codec: self.input_codec.name().into(),
            passthrough: self.passthrough.is_some(),
            input_frames: self.input.frames.load(Ordering::Relaxed),
            dropped_input_frames: self
                .input_drops()
                .saturating_sub(self.skipped_until_keyframe.unwrap_or(u64::MAX)),
            skipped_until_keyframe: self.skipped_until_keyframe.unwrap_or(0),
            next_segment: self
                .rungs
                .first()
                .map(|r| r.playlist.next_index())
                .unwrap_or(self.first_segment),
            rungs: self
                .rungs
                .iter()
                .map(|r| {
                    let out = r.tap.progress.running_time_ns();
                    RungStatus {
                        name: r.rung.name.clone(),
                        width: r.rung.width,
                        height: r.rung.height,
                        frames_out: r.tap.progress.frames.load(Ordering::Relaxed),
                        segments: r.segments,
                        speed: (r.speed * 100.0).round() / 100.0,
                        lag_ms: out
                            .map(|o| input_rt.saturating_sub(o) / 1_000_000)
                            .unwrap_or(0),
                        last_segment_at: r.last_segment_at.map(rfc3339),
                        last_segment_latency_ms: r.last_segment_latency_ms,
                    }
                })
                .collect(),
            error: None,
        };
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}
