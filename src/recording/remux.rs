//! TS segments → one MP4 with `moov` in front: the fixed graph in
//! `pipelines/recording-remux.gst`, tsdemux's pads linked here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use crate::hls::playlist::segment_uri;
use crate::media::{
    bin_from_file, description, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline,
};

pub struct RemuxInput {
    /// The rung's directory, holding `seg_NNNNN.ts`.
    pub rung_dir: PathBuf,
    pub first_index: u64,
    /// Inclusive.
    pub last_index: u64,
}

#[derive(Debug, Clone)]
pub struct RemuxReport {
    pub duration_ms: u64,
    pub size_bytes: u64,
    pub has_audio: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RemuxError {
    #[error("segment {0} is missing")]
    MissingSegment(String),
    #[error("empty segment range {0}..={1}")]
    EmptyRange(u64, u64),
    #[error("remux pipeline: {0}")]
    Pipeline(String),
    #[error("remux did not finish within {0:?}")]
    Timeout(Duration),
    #[error("the input has no H.264 video")]
    NoVideo,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Earliest start and latest end of the buffers seen on a pad.
#[derive(Debug, Default)]
struct Span {
    start: Option<u64>,
    end: Option<u64>,
}

impl Span {
    fn add(&mut self, pts: Option<u64>, duration: Option<u64>) {
        let Some(pts) = pts else { return };
        self.start = Some(self.start.map_or(pts, |s| s.min(pts)));
        let end = pts + duration.unwrap_or(0);
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    fn length_ns(&self) -> u64 {
        match (self.start, self.end) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => 0,
        }
    }
}

#[derive(Default)]
struct Found {
    video: bool,
    audio: bool,
    spans: Vec<Arc<Mutex<Span>>>,
    link_error: Option<String>,
}

/// Remuxes `input` into `out` (written as `<out>.part`, renamed when complete,
/// so a crash never leaves a half file under the final name).
pub async fn remux_to_mp4(input: &RemuxInput, out: &Path) -> Result<RemuxReport, RemuxError> {
    if input.last_index < input.first_index {
        return Err(RemuxError::EmptyRange(input.first_index, input.last_index));
    }
    for index in input.first_index..=input.last_index {
        let path = input.rung_dir.join(segment_uri(index));
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(RemuxError::MissingSegment(path.display().to_string()));
        }
    }
    let part = out.with_extension("mp4.part");
    let moov_tmp = out.with_extension("mp4.moov");
    let pipeline = gst::parse::launch(&description("recording-remux")?)
        .map_err(|e| MediaError::Description {
            name: "recording-remux".into(),
            message: e.to_string(),
        })?
        .downcast::<gst::Pipeline>()
        .map_err(|_| RemuxError::Pipeline("not a pipeline".into()))?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| RemuxError::Pipeline(format!("no element {name}")))
    };
    let segments = by_name("segments")?;
    segments.set_property(
        "location",
        input.rung_dir.join("seg_%05d.ts").display().to_string(),
    );
    segments.set_property(
        "index",
        i32::try_from(input.first_index).unwrap_or(i32::MAX),
    );
    segments.set_property(
        "stop-index",
        i32::try_from(input.last_index).unwrap_or(i32::MAX),
    );
    by_name("out")?.set_property("location", part.display().to_string());
    by_name("mux")?.set_property("faststart-file", moov_tmp.display().to_string());

    let found = Arc::new(Mutex::new(Found::default()));
    let demux = by_name("demux")?;
    link_streams(&pipeline, &demux, &by_name("mux")?, found.clone());
    // Input that holds no stream (not MPEG-TS) would leave mp4mux waiting
    // forever: the end of the input with nothing linked is a failure.
    let (no_streams_tx, mut no_streams) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Some(sink) = demux.static_pad("sink") {
        let found = found.clone();
        sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            let eos = matches!(info.event().map(|e| e.type_()), Some(gst::EventType::Eos));
            if eos && found.lock().map(|f| f.spans.is_empty()).unwrap_or(false) {
                let _ = no_streams_tx.send(());
            }
            gst::PadProbeReturn::Ok
        });
    }

    let mut bus = spawn_bus_watch(&pipeline, format!("remux {}", out.display()));
    let owned = OwnedPipeline::new(pipeline);
    owned.set_state(gst::State::Playing).await?;
    let count = input.last_index - input.first_index + 1;
    let limit = Duration::from_secs(30) + Duration::from_millis(500) * count as u32;
    let outcome = tokio::time::timeout(limit, async {
        loop {
            let event = tokio::select! {
                event = bus.recv() => event,
                Some(()) = no_streams.recv() => return Err(RemuxError::NoVideo),
            };
            match event {
                Some(BusEvent::Eos) => return Ok(()),
                Some(BusEvent::Error {
                    source,
                    message,
                    debug,
                }) => {
                    return Err(RemuxError::Pipeline(format!(
                        "{source}: {message} ({})",
                        debug.unwrap_or_default()
                    )))
                }
                Some(BusEvent::Element { .. }) => {}
                None => return Err(RemuxError::Pipeline("bus closed".into())),
            }
        }
    })
    .await;
    owned.set_state(gst::State::Null).await?;
    drop(owned);
    let _ = tokio::fs::remove_file(&moov_tmp).await;
    let failed = |e: RemuxError| async {
        let _ = tokio::fs::remove_file(&part).await;
        Err(e)
    };
    match outcome {
        Err(_) => return failed(RemuxError::Timeout(limit)).await,
        Ok(Err(e)) => return failed(e).await,
        Ok(Ok(())) => {}
    }
    let (has_video, has_audio, duration_ns, link_error) = {
        let f = found
            .lock()
            .map_err(|_| RemuxError::Pipeline("poisoned".into()))?;
        let duration = f
            .spans
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.length_ns()))
            .max()
            .unwrap_or(0);
        (f.video, f.audio, duration, f.link_error.clone())
    };
    if let Some(e) = link_error {
        return failed(RemuxError::Pipeline(e)).await;
    }
    if !has_video {
        return failed(RemuxError::NoVideo).await;
    }
    tokio::fs::rename(&part, out)
        .await
        .map_err(|e| RemuxError::Io(out.display().to_string(), e))?;
    let size = tokio::fs::metadata(out)
        .await
        .map_err(|e| RemuxError::Io(out.display().to_string(), e))?
        .len();
    Ok(RemuxReport {
        duration_ms: duration_ns / 1_000_000,
        size_bytes: size,
        has_audio,
    })
}

/// Links each elementary stream tsdemux finds to a parser and a new mp4mux
/// pad, and measures the media's time span on the way.
fn link_streams(
    pipeline: &gst::Pipeline,
    demux: &gst::Element,
    mux: &gst::Element,
    found: Arc<Mutex<Found>>,
) {
    let pipeline = pipeline.downgrade();
    let mux = mux.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(mux)) = (pipeline.upgrade(), mux.upgrade()) else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(kind) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        let (branch, template) = match kind.as_str() {
            "video/x-h264" => ("recording-video", "video_%u"),
            "audio/mpeg" => ("recording-audio", "audio_%u"),
            // Other streams (metadata, another codec) are not recorded.
            _ => return,
        };
        let result = (|| -> Result<(), String> {
            let bin = bin_from_file(branch).map_err(|e| e.to_string())?;
            pipeline.add(&bin).map_err(|e| e.to_string())?;
            bin.sync_state_with_parent().map_err(|e| e.to_string())?;
            let sink = bin.static_pad("sink").ok_or("branch without sink pad")?;
            pad.link(&sink).map_err(|e| format!("{e:?}"))?;
            let src = bin.static_pad("src").ok_or("branch without src pad")?;
            let mux_pad = mux
                .request_pad_simple(template)
                .ok_or_else(|| format!("mp4mux refused a {template} pad"))?;
            src.link(&mux_pad).map_err(|e| format!("{e:?}"))?;
            let span = Arc::new(Mutex::new(Span::default()));
            let probe_span = span.clone();
            src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    if let Ok(mut s) = probe_span.lock() {
                        s.add(
                            buffer.pts().map(|t| t.nseconds()),
                            buffer.duration().map(|t| t.nseconds()),
                        );
                    }
                }
                gst::PadProbeReturn::Ok
            });
            if let Ok(mut f) = found.lock() {
                f.spans.push(span);
                if template.starts_with("video") {
                    f.video = true;
                } else {
                    f.audio = true;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!("remux: cannot record a {kind} stream: {e}");
            if let Ok(mut f) = found.lock() {
                f.link_error.get_or_insert(e);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_covers_every_buffer() {
        let mut s = Span::default();
        assert_eq!(s.length_ns(), 0);
        s.add(Some(1_000), Some(500));
        s.add(Some(500), Some(100));
        s.add(None, Some(100));
        assert_eq!(s.length_ns(), 1_000);
    }
}
