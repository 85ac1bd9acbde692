//! The composition's pipeline (`pipelines/compose.gst`): inputs added and
//! removed as publishes come and go, tiles placed by setting the
//! compositor's pad properties. Every method may block on GStreamer: the
//! composer calls them off the async workers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;

use super::plan::Tile;
use crate::ingest::MediaProducers;
use crate::media::keyframes;
use crate::media::sdp::Codec;
use crate::media::{
    description, fill, launch, MediaError, OwnedPipeline, PublishKind, RungOutput, StreamCounters,
};

/// How late an input's frames may arrive and still make their frame of the
/// broadcast: the publishers' jitter buffers (200 ms) and decoders.
const INPUT_LATENCY: Duration = Duration::from_millis(400);
/// The shortest time between two keyframes the ladder's requests force.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// The encoded picture: the ladder's top rung, passed through.
#[derive(Debug, Clone)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub max_bitrate_kbps: u32,
    pub profile: String,
    pub preset: String,
    /// Frames between keyframes when the ladder asks for none.
    pub keyframe_interval: u32,
}

/// One input branch: a bin linked to a request pad of an aggregator.
struct Branch {
    bin: gst::Bin,
    pad: gst::Pad,
    /// Feeds the bin's appsrc from the publish (none for a placeholder).
    link: Option<gst_utils::ConsumptionLink>,
}

/// What one publish puts into the composition.
#[derive(Default)]
struct Input {
    video: Option<Branch>,
    /// The video branch is a placeholder (no consent), not the picture.
    placeholder: bool,
    audio: Option<Branch>,
    /// The publish's lighter encoding, made from the decoded picture.
    alternate: Option<RungOutput>,
}

/// A camera's lighter encoding: 360p at 15 fps.
const CAMERA_ALTERNATE: Alternate = Alternate {
    name: "360p",
    // Not videorate's drop-only mode: GStreamer 1.22 aborts on its
    // assertion when decoded frames come without a duration.
    filter: "videoscale add-borders=true ! videorate skip-to-first=true \
             ! video/x-raw,width=640,height=360,pixel-aspect-ratio=1/1,framerate=15/1",
    size: Some((640, 360)),
    kbps: 200,
    fps: 15,
};
/// A screen share's: its own size at 5 fps.
const SCREEN_ALTERNATE: Alternate = Alternate {
    name: "5fps",
    filter: "videorate skip-to-first=true ! video/x-raw,framerate=5/1",
    size: None,
    kbps: 250,
    fps: 5,
};

/// How a publish's lighter encoding is made (`@ALTERNATE@` and its rate).
struct Alternate {
    name: &'static str,
    filter: &'static str,
    /// None: the source's own size.
    size: Option<(u32, u32)>,
    kbps: u32,
    fps: u32,
}

pub struct Mixer {
    pipeline: OwnedPipeline,
    mix: gst::Element,
    amix: gst::Element,
    inputs: HashMap<String, Input>,
    output: MediaProducers,
}

impl Mixer {
    /// Builds the composition and starts it (blocking).
    pub fn start(canvas: &Canvas) -> Result<Mixer, MediaError> {
        crate::media::init()?;
        let text = fill(
            &description("compose")?,
            &[
                ("WIDTH", canvas.width.to_string()),
                ("HEIGHT", canvas.height.to_string()),
                ("FPS", canvas.fps.to_string()),
                ("BITRATE", canvas.bitrate_kbps.to_string()),
                ("MAXRATE", canvas.max_bitrate_kbps.to_string()),
                ("PROFILE", canvas.profile.clone()),
                ("PRESET", canvas.preset.clone()),
                ("KEYINT", canvas.keyframe_interval.to_string()),
                ("LATENCY_NS", (INPUT_LATENCY.as_nanos() as u64).to_string()),
            ],
        );
        let pipeline = launch("compose", &text)?;
        let by_name = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| MediaError::Gst(format!("compose: no {name}")))
        };
        let mix = by_name("mix")?;
        let amix = by_name("amix")?;
        // The clock-keeping background is not to be seen.
        for pad in mix.sink_pads() {
            pad.set_property("alpha", 0.0f64);
        }
        let appsink = |name: &str| {
            by_name(name)?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| MediaError::Gst(format!("compose: {name} is not an appsink")))
        };
        let video = gst_utils::StreamProducer::from(&appsink("video_out")?);
        let audio = gst_utils::StreamProducer::from(&appsink("audio_out")?);
        let counters = Arc::new(StreamCounters::default());
        counters.set_codec(Codec::H264.name());
        counters.set_size(canvas.width, canvas.height);
        let keyframe_requests = keyframes::rate_limit(&video, KEYFRAME_REQUEST_INTERVAL);
        let output = MediaProducers {
            video: Some((Codec::H264, video)),
            audio: Some((Codec::Opus, audio)),
            video_counters: Some(counters),
            keyframe_requests: Some(keyframe_requests),
        };
        pipeline.set_state(gst::State::Playing)?;
        Ok(Mixer {
            pipeline: OwnedPipeline::new(pipeline),
            mix,
            amix,
            inputs: HashMap::new(),
            output,
        })
    }

    /// The composed picture and sound, for the ladder.
    pub fn output(&self) -> &MediaProducers {
        &self.output
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        self.pipeline.pipeline()
    }

    /// The publishes that have an input.
    pub fn inputs(&self) -> impl Iterator<Item = &String> {
        self.inputs.keys()
    }

    /// Makes publish `id`'s input what it should be: its picture (or, when
    /// not `shown`, a placeholder) and, when shown, its sound. Unchanged
    /// parts are left running.
    pub fn set_input(
        &mut self,
        id: &str,
        kind: PublishKind,
        producers: &MediaProducers,
        shown: bool,
    ) -> Result<(), MediaError> {
        let mut input = self.inputs.remove(id).unwrap_or_default();
        let result = self.update_input(&mut input, kind, producers, shown);
        self.inputs.insert(id.to_owned(), input);
        result
    }

    fn update_input(
        &self,
        input: &mut Input,
        kind: PublishKind,
        producers: &MediaProducers,
        shown: bool,
    ) -> Result<(), MediaError> {
        let wants_placeholder = !shown && producers.video.is_some();
        if input.video.is_some() && input.placeholder != wants_placeholder {
            if let Some(branch) = input.video.take() {
                self.remove_branch(branch, &self.mix);
            }
            input.alternate = None;
        }
        if input.video.is_none() {
            if wants_placeholder {
                input.video = Some(self.placeholder_branch()?);
                input.placeholder = true;
            } else if let Some((codec, producer)) = &producers.video {
                let alternate = match kind {
                    PublishKind::Screen => &SCREEN_ALTERNATE,
                    PublishKind::Camera | PublishKind::Stage => &CAMERA_ALTERNATE,
                };
                let text = fill(
                    &description("compose-video-in")?,
                    &[
                        ("DECODER", codec.decoder().to_owned()),
                        ("ALTERNATE", alternate.filter.to_owned()),
                        ("ALTERNATE_KBPS", alternate.kbps.to_string()),
                        ("ALTERNATE_KEYINT", (alternate.fps * 2).to_string()),
                    ],
                );
                let branch = self.feed_branch(&text, producer, &self.mix, true)?;
                input.alternate = alternate_output(&branch.bin, alternate);
                input.video = Some(branch);
                input.placeholder = false;
            }
        }
        match (&producers.audio, shown) {
            (Some((Codec::Opus, producer)), true) if input.audio.is_none() => {
                let text = description("compose-audio-in")?;
                input.audio = Some(self.feed_branch(&text, producer, &self.amix, false)?);
            }
            (_, false) => {
                if let Some(branch) = input.audio.take() {
                    self.remove_branch(branch, &self.amix);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Publish `id`'s lighter encoding, while it is decoded here.
    pub fn alternate(&self, id: &str) -> Option<RungOutput> {
        self.inputs.get(id)?.alternate.clone()
    }

    /// Takes publish `id` out of the composition.
    pub fn remove(&mut self, id: &str) {
        if let Some(input) = self.inputs.remove(id) {
            if let Some(branch) = input.video {
                self.remove_branch(branch, &self.mix);
            }
            if let Some(branch) = input.audio {
                self.remove_branch(branch, &self.amix);
            }
        }
    }

    /// Puts each tile's picture in its place; inputs without a tile are
    /// hidden (still decoded, so a layout switch shows them at once).
    pub fn arrange(&self, tiles: &[Tile]) {
        for (id, input) in &self.inputs {
            let Some(branch) = &input.video else {
                continue;
            };
            let pad = &branch.pad;
            match tiles.iter().find(|t| &t.id == id) {
                Some(tile) => {
                    pad.set_property("xpos", tile.rect.x);
                    pad.set_property("ypos", tile.rect.y);
                    pad.set_property("width", tile.rect.width);
                    pad.set_property("height", tile.rect.height);
                    // Above the background (zorder 0).
                    pad.set_property("zorder", tile.z + 1);
                    pad.set_property("alpha", 1.0f64);
                }
                None => pad.set_property("alpha", 0.0f64),
            }
        }
    }

    /// A bin from `text` whose appsrc the publish's `producer` feeds, linked
    /// to a new pad of `aggregator`.
    fn feed_branch(
        &self,
        text: &str,
        producer: &gst_utils::StreamProducer,
        aggregator: &gst::Element,
        video: bool,
    ) -> Result<Branch, MediaError> {
        let bin =
            gst::parse::bin_from_description(text, true).map_err(|e| MediaError::Description {
                name: "compose input".into(),
                message: e.to_string(),
            })?;
        let src = bin
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| MediaError::Gst("compose input: no appsrc".into()))?;
        gst_utils::StreamProducer::configure_consumer(&src);
        src.set_max_time(gst::ClockTime::from_seconds(1));
        // The publish's timestamps are its own pipeline's running time:
        // shifted into this one's, so the compositor lines them up.
        if let (Some(theirs), Some(ours), Some(pad)) = (
            producer.appsink().base_time(),
            self.pipeline().base_time(),
            src.static_pad("src"),
        ) {
            let offset = theirs.nseconds() as i64 - ours.nseconds() as i64;
            pad.set_offset(offset);
        }
        let pad = self.link_bin(&bin, aggregator)?;
        if video {
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
            pad.set_property("alpha", 0.0f64);
        }
        let link = producer
            .add_consumer(&src)
            .map_err(|e| MediaError::Gst(format!("compose: subscribing: {e:?}")))?;
        Ok(Branch {
            bin,
            pad,
            link: Some(link),
        })
    }

    fn placeholder_branch(&self) -> Result<Branch, MediaError> {
        // Only the picture is ghosted: textoverlay's text pad, ghosted and
        // so linked, would make it wait for text that never comes.
        let bin = gst::parse::bin_from_description(&description("compose-placeholder")?, false)
            .map_err(|e| MediaError::Description {
                name: "compose-placeholder".into(),
                message: e.to_string(),
            })?;
        let label = bin
            .by_name("label")
            .and_then(|l| l.static_pad("src"))
            .ok_or_else(|| MediaError::Gst("compose-placeholder: no label".into()))?;
        bin.add_pad(&gst::GhostPad::with_target(&label)?)?;
        // A live test source counts its time from when it starts, not from
        // the pipeline's start: its first frame is moved to now.
        if let Some(src) = bin.static_pad("src") {
            let pipeline = self.pipeline().downgrade();
            src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let (Some(pipeline), Some(pts)) =
                    (pipeline.upgrade(), info.buffer().and_then(|b| b.pts()))
                else {
                    return gst::PadProbeReturn::Ok;
                };
                if let Some(now) = pipeline.current_running_time() {
                    pad.set_offset(now.nseconds() as i64 - pts.nseconds() as i64);
                }
                gst::PadProbeReturn::Remove
            });
        }
        let pad = self.link_bin(&bin, &self.mix)?;
        pad.set_property("alpha", 0.0f64);
        Ok(Branch {
            bin,
            pad,
            link: None,
        })
    }

    /// Adds `bin` to the running pipeline on a new pad of `aggregator`.
    fn link_bin(&self, bin: &gst::Bin, aggregator: &gst::Element) -> Result<gst::Pad, MediaError> {
        let pipeline = self.pipeline();
        pipeline.add(bin)?;
        let pad = aggregator
            .request_pad_simple("sink_%u")
            .ok_or_else(|| MediaError::Gst("compose: no pad on the mixer".into()))?;
        let src = bin
            .static_pad("src")
            .ok_or_else(|| MediaError::Gst("compose input: no src pad".into()))?;
        // Every input answers the mixer's latency query itself, live: one
        // that fails it (a publish not flowing yet) would make the mixer stop
        // timing out and wait for every input, and one stalled publish would
        // freeze the broadcast. How late inputs may be is the mixer's own
        // `latency`.
        src.add_probe(gst::PadProbeType::QUERY_UPSTREAM, |_, info| {
            match info.query_mut().map(|q| q.view_mut()) {
                Some(gst::QueryViewMut::Latency(q)) => {
                    q.set(true, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                    gst::PadProbeReturn::Handled
                }
                _ => gst::PadProbeReturn::Ok,
            }
        });
        if let Err(e) = src.link(&pad) {
            aggregator.release_request_pad(&pad);
            let _ = pipeline.remove(bin);
            return Err(MediaError::Gst(format!("compose: linking an input: {e:?}")));
        }
        bin.sync_state_with_parent()?;
        Ok(pad)
    }

    fn remove_branch(&self, branch: Branch, aggregator: &gst::Element) {
        // Nothing more is pushed in; then the branch's threads stop.
        drop(branch.link);
        let _ = branch.bin.set_state(gst::State::Null);
        aggregator.release_request_pad(&branch.pad);
        let _ = self.pipeline().remove(&branch.bin);
    }
}

impl Drop for Mixer {
    fn drop(&mut self) {
        // The links go first: the publishes stop pushing into a pipeline
        // that is going away (OwnedPipeline sets it to Null).
        for input in self.inputs.values_mut() {
            for branch in [input.video.as_mut(), input.audio.as_mut()]
                .into_iter()
                .flatten()
            {
                branch.link.take();
            }
        }
    }
}

/// The lighter encoding's output in a video input's bin.
fn alternate_output(bin: &gst::Bin, alternate: &Alternate) -> Option<RungOutput> {
    let sink = bin
        .by_name("alternate")?
        .downcast::<gst_app::AppSink>()
        .ok()?;
    let producer = gst_utils::StreamProducer::from(&sink);
    let keyframe_requests = keyframes::rate_limit(&producer, KEYFRAME_REQUEST_INTERVAL);
    let (width, height) = alternate.size.unwrap_or((0, 0));
    Some(RungOutput {
        name: alternate.name.to_owned(),
        width,
        height,
        bitrate_bps: u64::from(alternate.kbps) * 1000,
        keeps_size: alternate.size.is_none(),
        producer,
        keyframe_requests,
    })
}
