//! One session's ladder: a GStreamer pipeline fed by the ingest producers, and
//! the task that turns its closed segments into playlists.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use super::config::{codecs_attribute, LadderConfig, Rung};
use super::playlist::{self, RungPlaylist, Variant};
use super::probes::{align_keyframes, watch_output, Boundaries, Progress};
use super::upload::HlsUploader;
use super::HlsError;
use crate::ingest::MediaProducers;
use crate::media::sdp::Codec;
use crate::media::{description, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline};
use crate::time::{now_ms, rfc3339};

/// How long the end of a publish may take to flush the last segments.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(8);
/// An encoder this far behind its input is falling behind real time.
const LAG_WARNING_MS: u64 = 2_000;

#[derive(Debug, Clone, Copy, Default)]
pub struct LadderOptions {
    /// Block the producer instead of dropping when the ladder is slower than
    /// its input (file sources in benchmarks); live input always drops.
    pub lossless_input: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct LadderStatus {
    /// starting | live | ended | failed
    pub state: String,
    pub input_codec: String,
    pub input_frames: u64,
    /// Frames the ladder could not take in time (dropped before decoding).
    pub dropped_input_frames: u64,
    /// Frames skipped at the start while waiting for the first keyframe.
    pub skipped_until_keyframe: u64,
    pub rungs: Vec<RungStatus>,
    /// The index the top rung's next segment gets (the same in every rung).
    pub next_segment: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct RungStatus {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub frames_out: u64,
    pub segments: u64,
    /// Media time encoded per wall-clock time over the last second.
    pub speed: f64,
    /// How far the encoder's output trails the decoded input.
    pub lag_ms: u64,
    pub last_segment_at: Option<String>,
    /// From the segment's last frame entering the ladder to the segment
    /// being listed in the playlist.
    pub last_segment_latency_ms: Option<i64>,
}

struct RungRuntime {
    rung: Rung,
    progress: Arc<Progress>,
    /// (profile, level) from the encoder's output caps, for CODECS.
    profile_level: Arc<Mutex<Option<(String, String)>>>,
    playlist: RungPlaylist,
    opened_at_ns: Option<u64>,
    segments: u64,
    last_segment_at: Option<i64>,
    /// From a segment's last frame entering the ladder to its playlist entry.
    last_segment_latency_ms: Option<i64>,
    speed: f64,
    sampled: Option<(Instant, u64)>,
}

/// One rung's encoded output, live, for WebRTC viewers that need less than
/// the source.
#[derive(Clone)]
pub struct RungOutput {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u64,
    pub producer: gst_utils::StreamProducer,
    /// Keyframes forced by viewers switching in, let through and held back.
    pub keyframe_requests: Arc<crate::media::keyframes::KeyframeRequests>,
}

/// The shortest time between two IDRs forced into a rung by viewers: each
/// costs the HLS output bits too.
const RUNG_KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

pub struct Ladder {
    dir: PathBuf,
    outputs: Vec<RungOutput>,
    config: LadderConfig,
    pipeline: OwnedPipeline,
    sources: Vec<gst_app::AppSrc>,
    links: Vec<gst_utils::ConsumptionLink>,
    input: Arc<Progress>,
    boundaries: Arc<Boundaries>,
    input_codec: Codec,
    rungs: Vec<RungRuntime>,
    has_audio: bool,
    master_written: bool,
    bus: UnboundedReceiver<BusEvent>,
    status: Arc<Mutex<LadderStatus>>,
    lagging_since: Option<Instant>,
    /// Input drops counted before the first frame was decoded: the producer
    /// skipping to a keyframe, not the ladder falling behind.
    skipped_until_keyframe: Option<u64>,
    first_segment: u64,
    uploader: Option<HlsUploader>,
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("@{k}@"), v)
    })
}

/// The whole pipeline description for `rungs`, from the files in `pipelines/`.
pub fn describe(
    config: &LadderConfig,
    rungs: &[Rung],
    video: Codec,
    audio: Option<Codec>,
    start_index: u64,
) -> Result<String, HlsError> {
    let video_decoder = match video {
        Codec::H264 => "h264parse ! avdec_h264",
        Codec::Vp8 => "vp8dec",
        other => {
            return Err(HlsError::Unsupported(format!(
                "video codec {}",
                other.name()
            )))
        }
    };
    let mut parts = vec![fill(
        &description("ladder-video")?,
        &[
            ("DECODER", video_decoder.into()),
            ("FPS", config.frame_rate.to_string()),
        ],
    )];
    if let Some(audio) = audio {
        let decoder = match audio {
            Codec::Opus => "opusdec",
            Codec::Aac => "aacparse ! avdec_aac",
            other => {
                return Err(HlsError::Unsupported(format!(
                    "audio codec {}",
                    other.name()
                )))
            }
        };
        parts.push(fill(
            &description("ladder-audio")?,
            &[
                ("DECODER", decoder.into()),
                ("RATE", config.audio.rate.to_string()),
                ("CHANNELS", config.audio.channels.to_string()),
                ("BITRATE", config.audio.bitrate.to_string()),
            ],
        ));
    }
    // Only the forced keyframes cut segments; this just bounds a lost one.
    let keyint = config.segment_seconds * config.frame_rate * 4;
    for r in rungs {
        let values = [
            ("NAME", r.name.clone()),
            ("WIDTH", r.width.to_string()),
            ("HEIGHT", r.height.to_string()),
            ("BITRATE", r.bitrate_kbps.to_string()),
            ("MAXRATE", r.max_bitrate_kbps.to_string()),
            ("PRESET", r.preset.clone()),
            ("PROFILE", r.profile.clone()),
            ("KEYINT", keyint.to_string()),
            ("SEGMENT_NS", config.segment_ns().to_string()),
            ("START", start_index.to_string()),
        ];
        parts.push(fill(&description("ladder-rung")?, &values));
        if audio.is_some() {
            parts.push(fill(&description("ladder-rung-audio")?, &values));
        }
    }
    Ok(parts.join("\n"))
}

impl Ladder {
    /// Builds and starts the ladder for one publish into `dir`, continuing
    /// playlists found there (a reconnect or a restart).
    pub async fn start(
        dir: &Path,
        config: &LadderConfig,
        rungs: Vec<Rung>,
        producers: &MediaProducers,
        options: LadderOptions,
    ) -> Result<Self, HlsError> {
        let (video_codec, video_producer) = producers
            .video
            .clone()
            .ok_or_else(|| HlsError::Unsupported("the publish has no video".into()))?;
        let audio = producers.audio.clone();

        let mut playlists = Vec::new();
        for r in &rungs {
            let rung_dir = dir.join(&r.name);
            tokio::fs::create_dir_all(&rung_dir)
                .await
                .map_err(|e| HlsError::Io(rung_dir.display().to_string(), e))?;
            let playlist = match tokio::fs::read(rung_dir.join("all.m3u8")).await {
                Ok(text) => RungPlaylist::recover(
                    &text,
                    config.live_window,
                    config.keep_segments,
                    config.segment_seconds,
                )?,
                Err(_) => RungPlaylist::new(
                    config.live_window,
                    config.keep_segments,
                    config.segment_seconds,
                ),
            };
            playlists.push(playlist);
        }
        let start_index = playlists
            .iter()
            .map(RungPlaylist::next_index)
            .max()
            .unwrap_or(0);
        let master_written = tokio::fs::try_exists(dir.join("master.m3u8"))
            .await
            .unwrap_or(false);

        let text = describe(
            config,
            &rungs,
            video_codec,
            audio.as_ref().map(|a| a.0),
            start_index,
        )?;
        let pipeline = gst::parse::launch(&text)
            .map_err(|e| MediaError::Description {
                name: "ladder".into(),
                message: e.to_string(),
            })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| MediaError::Gst("the ladder is not a pipeline".into()))?;
        let by_name = |name: &str| {
            pipeline.by_name(name).ok_or_else(|| {
                HlsError::Media(MediaError::Gst(format!("ladder: no element {name}")))
            })
        };

        let input = Arc::new(Progress::default());
        let boundaries = Arc::new(Boundaries::default());
        align_keyframes(
            &by_name("keyframer")?,
            config.segment_ns(),
            input.clone(),
            boundaries.clone(),
        )?;

        let mut runtimes = Vec::new();
        let mut outputs = Vec::new();
        for (r, playlist) in rungs.into_iter().zip(playlists) {
            let live = by_name(&format!("live_{}", r.name))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| HlsError::Media(MediaError::Gst("live_ is not an appsink".into())))?;
            let producer = gst_utils::StreamProducer::from(&live);
            outputs.push(RungOutput {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                bitrate_bps: u64::from(r.bitrate_kbps) * 1000,
                keyframe_requests: crate::media::keyframes::rate_limit(
                    &producer,
                    RUNG_KEYFRAME_INTERVAL,
                ),
                producer,
            });
            // Set here rather than in the description: paths need no quoting.
            let pattern = dir.join(&r.name).join("seg_%05d.ts");
            by_name(&format!("mux_{}", r.name))?
                .set_property("location", pattern.display().to_string());
            let progress = Arc::new(Progress::default());
            let profile_level = Arc::new(Mutex::new(None));
            watch_output(
                &by_name(&format!("parse_{}", r.name))?,
                progress.clone(),
                profile_level.clone(),
            )?;
            runtimes.push(RungRuntime {
                rung: r,
                progress,
                profile_level,
                playlist,
                opened_at_ns: None,
                segments: 0,
                last_segment_at: None,
                last_segment_latency_ms: None,
                speed: 0.0,
                sampled: None,
            });
        }

        let appsrc = |name: &str| -> Result<gst_app::AppSrc, HlsError> {
            by_name(name)?
                .downcast::<gst_app::AppSrc>()
                .map_err(|_| HlsError::Media(MediaError::Gst(format!("{name} is not an appsrc"))))
        };
        let video_src = appsrc("video_in")?;
        let mut sources = vec![video_src.clone()];
        let audio_src = match &audio {
            Some(_) => Some(appsrc("audio_in")?),
            None => None,
        };
        sources.extend(audio_src.clone());
        // Live, time-format sources from the start: a format change after
        // PLAYING makes appsrc refuse the producer's segments.
        for src in &sources {
            gst_utils::StreamProducer::configure_consumer(src);
        }

        let bus = spawn_bus_watch(&pipeline, format!("ladder-{}", dir.display()));
        let owned = OwnedPipeline::new(pipeline);
        owned.set_state(gst::State::Playing).await?;

        let mut links = Vec::new();
        let link = |producer: &gst_utils::StreamProducer, src: &gst_app::AppSrc| {
            let link = producer
                .add_consumer(src)
                .map_err(|e| HlsError::Media(MediaError::Gst(format!("subscribing: {e:?}"))))?;
            if options.lossless_input {
                src.set_leaky_type(gst_app::AppLeakyType::None);
                src.set_block(true);
                // A full queue blocks the producer; nothing is skipped.
                link.set_wait_for_keyframe(false);
            }
            // Room for the encoders' start-up: a full queue drops frames and
            // waits for the publisher's next keyframe, seconds away.
            src.set_max_time(gst::ClockTime::from_seconds(2));
            Ok::<_, HlsError>(link)
        };
        links.push(link(&video_producer, &video_src)?);
        if let (Some((_, producer)), Some(src)) = (&audio, &audio_src) {
            links.push(link(producer, src)?);
        }

        let status = Arc::new(Mutex::new(LadderStatus {
            state: "starting".into(),
            input_codec: video_codec.name().into(),
            ..LadderStatus::default()
        }));
        Ok(Ladder {
            dir: dir.to_path_buf(),
            outputs,
            config: config.clone(),
            pipeline: owned,
            sources,
            links,
            input,
            boundaries,
            input_codec: video_codec,
            rungs: runtimes,
            has_audio: audio.is_some(),
            master_written,
            bus,
            status,
            lagging_since: None,
            skipped_until_keyframe: None,
            first_segment: start_index,
            uploader: None,
        })
    }

    pub fn status(&self) -> Arc<Mutex<LadderStatus>> {
        self.status.clone()
    }

    /// The rungs' live encoded outputs, best first.
    pub fn outputs(&self) -> Vec<RungOutput> {
        self.outputs.clone()
    }

    /// Index of this publish's first segment.
    pub fn first_segment(&self) -> u64 {
        self.first_segment
    }

    /// The highest rung (the recording's source).
    pub fn top_rung(&self) -> Option<&str> {
        self.rungs.first().map(|r| r.rung.name.as_str())
    }

    /// Also push every segment and playlist to object storage.
    pub fn upload_with(&mut self, uploader: HlsUploader) {
        self.uploader = Some(uploader);
    }

    /// Runs until `stop` fires (the publish ended) or the pipeline fails, then
    /// flushes the last segments and makes the playlists final.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Result<(), HlsError> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let result = loop {
            tokio::select! {
                _ = &mut stop => break Ok(()),
                _ = tick.tick() => self.sample(),
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
        // Flush: EOS from the sources closes every rung's last segment.
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
        for r in &mut self.rungs {
            r.playlist.end();
        }
        self.write_playlists().await?;
        if !self.master_written && self.rungs.iter().any(|r| r.segments > 0) {
            self.write_master().await?;
        }
        if let Some(uploader) = &self.uploader {
            uploader.ended().await;
        }
        self.pipeline.set_state(gst::State::Null).await?;
        if let Ok(mut s) = self.status.lock() {
            s.state = if result.is_ok() { "ended" } else { "failed" }.into();
            if let Err(e) = &result {
                s.error = Some(e.to_string());
            }
        }
        result
    }

    async fn on_element(&mut self, source: &str, s: &gst::StructureRef) -> Result<(), HlsError> {
        let Some(name) = source.strip_prefix("mux_") else {
            return Ok(());
        };
        let Some(i) = self.rungs.iter().position(|r| r.rung.name == name) else {
            return Ok(());
        };
        let running_time = s.get::<u64>("running-time").ok();
        match s.name().as_str() {
            "splitmuxsink-fragment-opened" => self.rungs[i].opened_at_ns = running_time,
            "splitmuxsink-fragment-closed" => {
                let location = s.get::<String>("location").unwrap_or_default();
                let Some(index) = playlist::segment_index(&location) else {
                    return Ok(());
                };
                let rung = &mut self.rungs[i];
                let duration = match (rung.opened_at_ns, running_time) {
                    (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
                    _ => f64::from(self.config.segment_seconds),
                };
                for old in rung.playlist.push(index, duration) {
                    let path = self.dir.join(&rung.rung.name).join(old);
                    if let Err(e) = tokio::fs::remove_file(&path).await {
                        tracing::debug!(path = %path.display(), "deleting old segment: {e}");
                    }
                }
                if let Some(uploader) = &self.uploader {
                    let relative = format!("{}/{}", rung.rung.name, playlist::segment_uri(index));
                    uploader.segment(&relative, &self.dir.join(&relative)).await;
                }
                rung.segments += 1;
                rung.last_segment_at = Some(now_ms());
                rung.last_segment_latency_ms = running_time
                    .and_then(|rt| self.boundaries.entered_at(rt))
                    .map(|entered| now_ms() - entered);
                self.write_rung(i).await?;
                if !self.master_written && self.rungs.iter().all(|r| r.segments > 0) {
                    self.write_master().await?;
                }
                self.publish_status("live");
            }
            _ => {}
        }
        Ok(())
    }

    async fn write_rung(&self, i: usize) -> Result<(), HlsError> {
        let rung = &self.rungs[i];
        let dir = self.dir.join(&rung.rung.name);
        // all.m3u8 first: it is what a restart reads back.
        write_atomic(
            &dir.join("all.m3u8"),
            &playlist::render_media(&rung.playlist.all()),
        )
        .await?;
        let live = playlist::render_media(&rung.playlist.live());
        write_atomic(&dir.join("index.m3u8"), &live).await?;
        if let Some(uploader) = &self.uploader {
            let relative = format!("{}/index.m3u8", rung.rung.name);
            uploader
                .playlist(&relative, &live, !rung.playlist.is_ended())
                .await;
        }
        Ok(())
    }

    async fn write_playlists(&self) -> Result<(), HlsError> {
        for i in 0..self.rungs.len() {
            self.write_rung(i).await?;
        }
        Ok(())
    }

    async fn write_master(&mut self) -> Result<(), HlsError> {
        let audio_bps = if self.has_audio {
            u64::from(self.config.audio.bitrate)
        } else {
            0
        };
        let variants: Vec<Variant> = self
            .rungs
            .iter()
            .map(|r| {
                let (profile, level) = r
                    .profile_level
                    .lock()
                    .ok()
                    .and_then(|p| p.clone())
                    .unwrap_or_else(|| (r.rung.profile.clone(), "4.0".into()));
                // MPEG-TS adds roughly 10% on top of the elementary streams.
                let peak = (u64::from(r.rung.max_bitrate_kbps) * 1000 + audio_bps) * 11 / 10;
                let average = (u64::from(r.rung.bitrate_kbps) * 1000 + audio_bps) * 11 / 10;
                Variant {
                    name: r.rung.name.clone(),
                    width: r.rung.width,
                    height: r.rung.height,
                    bandwidth: peak,
                    average_bandwidth: average,
                    frame_rate: f64::from(self.config.frame_rate),
                    codecs: codecs_attribute(&profile, &level, self.has_audio),
                }
            })
            .collect();
        let master = playlist::render_master(&playlist::master(&variants));
        write_atomic(&self.dir.join("master.m3u8"), &master).await?;
        if let Some(uploader) = &self.uploader {
            uploader.playlist("master.m3u8", &master, false).await;
        }
        self.master_written = true;
        Ok(())
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
            let out = r.progress.running_time_ns().unwrap_or(0);
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

    fn publish_status(&self, state: &str) {
        let input_rt = self.input.running_time_ns().unwrap_or(0);
        let status = LadderStatus {
            state: state.to_owned(),
            input_codec: self.input_codec.name().into(),
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
                    let out = r.progress.running_time_ns();
                    RungStatus {
                        name: r.rung.name.clone(),
                        width: r.rung.width,
                        height: r.rung.height,
                        frames_out: r.progress.frames.load(Ordering::Relaxed),
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

async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HlsError> {
    let tmp = path.with_extension("tmp");
    let io = |e| HlsError::Io(path.display().to_string(), e);
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::config::DEFAULT_LADDER;

    #[test]
    fn the_described_pipeline_parses() {
        crate::media::init().expect("gstreamer");
        let config = LadderConfig::parse(DEFAULT_LADDER).expect("config");
        for (video, audio) in [
            (Codec::H264, Some(Codec::Opus)),
            (Codec::Vp8, None),
            (Codec::H264, Some(Codec::Aac)),
        ] {
            let text =
                describe(&config, &config.select(Some(720)), video, audio, 7).expect("describe");
            assert!(text.contains("start-index=7"));
            let pipeline = gst::parse::launch(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let bin = pipeline.downcast::<gst::Bin>().expect("bin");
            for name in [
                "video_in",
                "keyframer",
                "mux_720p",
                "mux_480p",
                "mux_360p",
                "parse_360p",
            ] {
                assert!(bin.by_name(name).is_some(), "{name}");
            }
            assert!(bin.by_name("mux_1080p").is_none());
            assert_eq!(bin.by_name("audio_in").is_some(), audio.is_some());
        }
        assert!(describe(&config, &config.rungs, Codec::Opus, None, 0).is_err());
    }
}
