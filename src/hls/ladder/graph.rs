//! The ladder's GStreamer graph: the description assembled from the files in
//! `pipelines/`, launched, and the elements the supervision needs picked out
//! of it (sources, rung outputs, progress probes).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::RungOutput;
use crate::hls::config::{LadderConfig, Rung};
use crate::hls::probes::{
    align_keyframes, follow_source_keyframes, watch_output, Boundaries, Cuts, KeyframePlan,
    Passthrough, Progress,
};
use crate::hls::HlsError;
use crate::media::keyframes::{self, KeyframeRequests};
use crate::media::sdp::Codec;
use crate::media::{description, fill, launch, MediaError};

/// The shortest time between two IDRs forced into a rung by viewers: each
/// costs the HLS output bits too.
const RUNG_KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

/// The whole pipeline description for `rungs`, from the files in `pipelines/`;
/// with `passthrough` the first rung is the publisher's H.264 as it came.
pub fn describe(
    config: &LadderConfig,
    rungs: &[Rung],
    video: Codec,
    audio: Option<Codec>,
    start_index: u64,
    passthrough: bool,
) -> Result<String, HlsError> {
    if passthrough && video != Codec::H264 {
        return Err(HlsError::Unsupported(format!(
            "passing {} through to HLS",
            video.name()
        )));
    }
    let mut parts = vec![fill(
        &description("ladder-video")?,
        &[
            (
                "DECODER",
                decoder(video, &[Codec::H264, Codec::Vp8], "video")?,
            ),
            ("FPS", config.frame_rate.to_string()),
        ],
    )];
    if let Some(audio) = audio {
        parts.push(fill(
            &description("ladder-audio")?,
            &[
                (
                    "DECODER",
                    decoder(audio, &[Codec::Opus, Codec::Aac], "audio")?,
                ),
                ("RATE", config.audio.rate.to_string()),
                ("CHANNELS", config.audio.channels.to_string()),
                ("BITRATE", config.audio.bitrate.to_string()),
            ],
        ));
    }
    // Only the forced keyframes cut segments; this just bounds a lost one.
    let keyint = config.segment_seconds * config.frame_rate * 4;
    // Passed through, the publisher's keyframes cut every rung (code asks).
    let segment_ns = if passthrough { 0 } else { config.segment_ns() };
    for (i, r) in rungs.iter().enumerate() {
        let values = [
            ("NAME", r.name.clone()),
            ("WIDTH", r.width.to_string()),
            ("HEIGHT", r.height.to_string()),
            ("BITRATE", r.bitrate_kbps.to_string()),
            ("MAXRATE", r.max_bitrate_kbps.to_string()),
            ("PRESET", r.preset.clone()),
            ("PROFILE", r.profile.clone()),
            ("KEYINT", keyint.to_string()),
            ("SEGMENT_NS", segment_ns.to_string()),
            ("START", start_index.to_string()),
        ];
        let rung = if passthrough && i == 0 {
            "ladder-passthrough"
        } else {
            "ladder-rung"
        };
        parts.push(fill(&description(rung)?, &values));
        if audio.is_some() {
            parts.push(fill(&description("ladder-rung-audio")?, &values));
        }
    }
    Ok(parts.join("\n"))
}

/// The decoding elements for `codec`, if it is one of `supported`.
fn decoder(codec: Codec, supported: &[Codec], kind: &str) -> Result<String, HlsError> {
    if !supported.contains(&codec) {
        return Err(HlsError::Unsupported(format!(
            "{kind} codec {}",
            codec.name()
        )));
    }
    Ok(codec.decoder().into())
}

/// Where one rung's encoder reports what it produced.
pub(super) struct RungTap {
    pub(super) progress: Arc<Progress>,
    /// (profile, level) from the encoder's output caps, for CODECS.
    pub(super) profile_level: Arc<Mutex<Option<(String, String)>>>,
}

/// A built, not yet playing ladder graph and its handles.
pub(super) struct Graph {
    pub(super) pipeline: gst::Pipeline,
    /// The video source first, then audio when the publish has it.
    pub(super) sources: Vec<gst_app::AppSrc>,
    pub(super) input: Arc<Progress>,
    pub(super) boundaries: Arc<Boundaries>,
    /// In the order of the rungs given to `build`.
    pub(super) taps: Vec<RungTap>,
    /// The encoded rungs' live outputs (not the passed-through one).
    pub(super) outputs: Vec<RungOutput>,
    /// A passed-through top rung's state.
    pub(super) passthrough: Option<Arc<Passthrough>>,
}

/// What the graph is built for.
pub(super) struct Input<'a> {
    pub(super) video: Codec,
    pub(super) audio: Option<Codec>,
    pub(super) start_index: u64,
    /// Pass the publisher's H.264 through as the first rung; the pad keyframe
    /// requests go up to (its producer's appsink).
    pub(super) passthrough: Option<Option<gst::Pad>>,
    pub(super) config: &'a LadderConfig,
}

/// Launches the ladder for `rungs`, its segments written under `dir`
/// starting at `start_index`, and installs the probes.
pub(super) fn build(dir: &Path, rungs: &[Rung], input: Input<'_>) -> Result<Graph, HlsError> {
    let Input {
        video,
        audio,
        start_index,
        passthrough,
        config,
    } = input;
    let text = describe(
        config,
        rungs,
        video,
        audio,
        start_index,
        passthrough.is_some(),
    )?;
    let pipeline = launch("ladder", &text)?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| MediaError::Gst(format!("ladder: no element {name}")))
    };
    let input = Arc::new(Progress::default());
    let boundaries = Arc::new(Boundaries::default());
    let mut passthrough_state = None;
    let plan = match (&passthrough, rungs.first()) {
        (Some(publisher), Some(top)) => {
            let cuts = Arc::new(Cuts::default());
            let state = Arc::new(Passthrough::default());
            follow_source_keyframes(
                &by_name("source_watch")?,
                publisher.clone(),
                by_name(&format!("mux_{}", top.name))?,
                config.segment_ns(),
                (top.width, top.height),
                cuts.clone(),
                state.clone(),
            )?;
            passthrough_state = Some(state);
            KeyframePlan::Follow {
                cuts,
                muxes: rungs[1..]
                    .iter()
                    .map(|r| by_name(&format!("mux_{}", r.name)))
                    .collect::<Result<_, _>>()?,
                frame_ns: 1_000_000_000 / u64::from(config.frame_rate.max(1)),
            }
        }
        _ => KeyframePlan::Clock,
    };
    align_keyframes(
        &by_name("keyframer")?,
        config.segment_ns(),
        plan,
        input.clone(),
        boundaries.clone(),
    )?;

    let mut taps = Vec::new();
    let mut outputs = Vec::new();
    for (i, r) in rungs.iter().enumerate() {
        if passthrough.is_none() || i > 0 {
            let live = by_name(&format!("live_{}", r.name))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| MediaError::Gst("live_ is not an appsink".into()))?;
            outputs.push(rung_output(r, gst_utils::StreamProducer::from(&live)));
        }
        // Set here rather than in the description: paths need no quoting.
        let pattern = dir.join(&r.name).join("seg_%05d.ts");
        by_name(&format!("mux_{}", r.name))?
            .set_property("location", pattern.display().to_string());
        let tap = RungTap {
            progress: Arc::new(Progress::default()),
            profile_level: Arc::new(Mutex::new(None)),
        };
        watch_output(
            &by_name(&format!("parse_{}", r.name))?,
            tap.progress.clone(),
            tap.profile_level.clone(),
        )?;
        taps.push(tap);
    }

    let mut sources = Vec::new();
    for name in std::iter::once("video_in").chain(audio.map(|_| "audio_in")) {
        let src = by_name(name)?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| MediaError::Gst(format!("{name} is not an appsrc")))?;
        // Live, time-format sources from the start: a format change after
        // PLAYING makes appsrc refuse the producer's segments.
        gst_utils::StreamProducer::configure_consumer(&src);
        sources.push(src);
    }
    Ok(Graph {
        pipeline,
        sources,
        input,
        boundaries,
        taps,
        outputs,
        passthrough: passthrough_state,
    })
}

fn rung_output(r: &Rung, producer: gst_utils::StreamProducer) -> RungOutput {
    let keyframe_requests: Arc<KeyframeRequests> =
        keyframes::rate_limit(&producer, RUNG_KEYFRAME_INTERVAL);
    RungOutput {
        name: r.name.clone(),
        width: r.width,
        height: r.height,
        bitrate_bps: u64::from(r.bitrate_kbps) * 1000,
        keeps_size: false,
        producer,
        keyframe_requests,
    }
}

/// Feeds `src` from `producer`. Lossless input blocks the producer when the
/// ladder is slower (file sources in benchmarks); live input drops.
pub(super) fn link(
    producer: &gst_utils::StreamProducer,
    src: &gst_app::AppSrc,
    lossless_input: bool,
) -> Result<gst_utils::ConsumptionLink, HlsError> {
    let link = producer
        .add_consumer(src)
        .map_err(|e| MediaError::Gst(format!("subscribing: {e:?}")))?;
    if lossless_input {
        src.set_leaky_type(gst_app::AppLeakyType::None);
        src.set_block(true);
        // A full queue blocks the producer; nothing is skipped.
        link.set_wait_for_keyframe(false);
    }
    // Room for the encoders' start-up: a full queue drops frames and
    // waits for the publisher's next keyframe, seconds away.
    src.set_max_time(gst::ClockTime::from_seconds(2));
    Ok(link)
}
