//! One session's ladder: a GStreamer pipeline fed by the ingest producers, and
//! the task that turns its closed segments into playlists. `graph` builds the
//! pipeline; `supervise` runs it (bus, stats, stop) and `segments` writes what
//! it produces.

pub(super) mod cadence;
mod graph;
mod segments;
mod supervise;

pub use graph::describe;
pub use supervise::{Handover, RunEnd};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

use super::config::{LadderConfig, Rung};
use super::playlist::RungPlaylist;
use super::probes::{Boundaries, Progress};
use super::upload::HlsUploader;
use super::HlsError;
use crate::ingest::MediaProducers;
use crate::media::sdp::Codec;
use crate::media::{spawn_bus_watch, BusEvent, OwnedPipeline};

#[derive(Debug, Clone, Copy, Default)]
pub struct LadderOptions {
    /// Block the producer instead of dropping when the ladder is slower than
    /// its input (file sources in benchmarks); live input always drops.
    pub lossless_input: bool,
    /// The first rung is the publisher's H.264 passed through, cut on the
    /// keyframes the ladder asks it for (the caller checked that the source
    /// is H.264 at exactly that rung's size).
    pub passthrough: bool,
    /// The first segment's index (a ladder taking over from another);
    /// otherwise the one after those found on disk.
    pub first_index: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct LadderStatus {
    /// starting | live | ended | failed
    pub state: String,
    pub input_codec: String,
    /// The top rung is the publisher's video passed through, not re-encoded.
    pub passthrough: bool,
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
    tap: graph::RungTap,
    playlist: RungPlaylist,
    opened_at_ns: Option<u64>,
    segments: u64,
    last_segment_at: Option<i64>,
    /// From a segment's last frame entering the ladder to its playlist entry.
    last_segment_latency_ms: Option<i64>,
    speed: f64,
    sampled: Option<(Instant, u64)>,
    /// A passed-through rung's bit rate as its first segments measured it
    /// (the publisher's, not one we chose), for the master playlist.
    measured_bps: Option<u64>,
}

pub use crate::media::RungOutput;

/// A publish's ladder: built by `start`, then driven by `run`.
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
    /// A passed-through top rung's state (None: every rung is encoded).
    passthrough: Option<Arc<super::probes::Passthrough>>,
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

        let playlists = recover_playlists(dir, config, &rungs).await?;
        let start_index = options.first_index.unwrap_or_else(|| {
            playlists
                .iter()
                .map(RungPlaylist::next_index)
                .max()
                .unwrap_or(0)
        });
        let master_written = tokio::fs::try_exists(dir.join("master.m3u8"))
            .await
            .unwrap_or(false);

        let publisher = gst::prelude::ElementExt::static_pad(video_producer.appsink(), "sink");
        let graph = graph::build(
            dir,
            &rungs,
            graph::Input {
                video: video_codec,
                audio: audio.as_ref().map(|a| a.0),
                start_index,
                passthrough: options.passthrough.then_some(publisher),
                config,
            },
        )?;
        let bus = spawn_bus_watch(&graph.pipeline, format!("ladder-{}", dir.display()));
        let owned = OwnedPipeline::new(graph.pipeline);
        owned.set_state(gst::State::Playing).await?;

        let producers = std::iter::once(&video_producer).chain(audio.as_ref().map(|(_, p)| p));
        let links = producers
            .zip(&graph.sources)
            .map(|(producer, src)| graph::link(producer, src, options.lossless_input))
            .collect::<Result<Vec<_>, _>>()?;

        let runtimes = rungs
            .into_iter()
            .zip(graph.taps)
            .zip(playlists)
            .map(|((rung, tap), playlist)| RungRuntime {
                rung,
                tap,
                playlist,
                opened_at_ns: None,
                segments: 0,
                last_segment_at: None,
                last_segment_latency_ms: None,
                speed: 0.0,
                sampled: None,
                measured_bps: None,
            })
            .collect();
        let status = Arc::new(Mutex::new(LadderStatus {
            state: "starting".into(),
            input_codec: video_codec.name().into(),
            passthrough: options.passthrough,
            ..LadderStatus::default()
        }));
        Ok(Ladder {
            dir: dir.to_path_buf(),
            outputs: graph.outputs,
            config: config.clone(),
            pipeline: owned,
            sources: graph.sources,
            links,
            input: graph.input,
            boundaries: graph.boundaries,
            input_codec: video_codec,
            rungs: runtimes,
            passthrough: graph.passthrough,
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

    /// The encoded rungs' live outputs, best first (a passed-through top rung
    /// has none: it is the source).
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

    /// Continues the playlists another ladder of this publish wrote (a
    /// handover); the master playlist is written again for this ladder's rungs.
    pub fn adopt(&mut self, playlists: Vec<RungPlaylist>) {
        for (rung, mut playlist) in self.rungs.iter_mut().zip(playlists) {
            playlist.continue_elsewhere();
            rung.playlist = playlist;
        }
        self.master_written = false;
    }

    /// Also push every segment and playlist to object storage.
    pub fn upload_with(&mut self, uploader: HlsUploader) {
        self.uploader = Some(uploader);
    }
}

/// Each rung's playlist as an earlier publish into `dir` left it, or a new one.
async fn recover_playlists(
    dir: &Path,
    config: &LadderConfig,
    rungs: &[Rung],
) -> Result<Vec<RungPlaylist>, HlsError> {
    let mut playlists = Vec::new();
    for r in rungs {
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
    Ok(playlists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::config::DEFAULT_LADDER;
    use gst::prelude::*;

    #[test]
    fn the_described_pipeline_parses() {
        crate::media::init().expect("gstreamer");
        let config = LadderConfig::parse(DEFAULT_LADDER).expect("config");
        for (video, audio) in [
            (Codec::H264, Some(Codec::Opus)),
            (Codec::Vp8, None),
            (Codec::H264, Some(Codec::Aac)),
        ] {
            let text = describe(&config, &config.select(Some(720)), video, audio, 7, false)
                .expect("describe");
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
        assert!(describe(&config, &config.rungs, Codec::Opus, None, 0, false).is_err());
        assert!(describe(&config, &config.rungs, Codec::Vp8, None, 0, true).is_err());
        let text = describe(
            &config,
            &config.select(Some(720)),
            Codec::H264,
            Some(Codec::Opus),
            0,
            true,
        )
        .expect("passthrough");
        let pipeline = gst::parse::launch(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let bin = pipeline.downcast::<gst::Bin>().expect("bin");
        assert!(bin.by_name("mux_720p").is_some() && bin.by_name("parse_720p").is_some());
        assert!(bin.by_name("enc_720p").is_none() && bin.by_name("live_720p").is_none());
        assert!(bin.by_name("enc_480p").is_some() && bin.by_name("live_480p").is_some());
    }
}
