//! TS segments → one MP4 with `moov` in front: the fixed graph in
//! `pipelines/recording-remux.gst`, tsdemux's pads linked here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use crate::hls::playlist::segment_uri;
use crate::media::{
    bin_from_file, description, launch, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline,
};

/// A contiguous range of one rung's segments.
#[derive(Debug, Clone)]
pub struct RemuxInput {
    /// The rung's directory, holding `seg_NNNNN.ts`.
    pub rung_dir: PathBuf,
    pub first_index: u64,
    /// Inclusive.
    pub last_index: u64,
}

#[derive(Debug, Clone)]
pub struct RemuxReport {
    /// The media's length: from the first to the end of the last sample.
    pub duration_ms: u64,
    pub size_bytes: u64,
    pub has_audio: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RemuxError {
    #[error("segment {} is missing", .0.display())]
    MissingSegment(PathBuf),
    #[error("empty segment range {0}..={1}")]
    EmptyRange(u64, u64),
    #[error("segment index {0} is out of range")]
    IndexOutOfRange(u64),
    #[error("remux pipeline: {0}")]
    Pipeline(String),
    #[error("remux did not finish within {0:?}")]
    Timeout(Duration),
    #[error("no H.264 video in the segments (not MPEG-TS, or audio only)")]
    NoVideo,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
}

/// Time allowed for any remux, on top of the per-byte allowance.
const TIMEOUT_BASE: Duration = Duration::from_secs(30);
/// The slowest remux speed tolerated before giving up. Measured speed is two
/// orders of magnitude above this (no decoding); a stalled pipeline must
/// still fail in bounded time.
const MIN_BYTES_PER_SEC: u64 = 4 * 1024 * 1024;
/// Setting the pipeline to Null can block on a stuck streaming thread; the
/// caller gets its error instead of waiting for ever.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a remux of `bytes` of segments may take.
fn timeout_for(bytes: u64) -> Duration {
    TIMEOUT_BASE + Duration::from_millis(bytes.saturating_mul(1000) / MIN_BYTES_PER_SEC)
}

/// `name` + `suffix` next to `path` (`a.mp4` → `a.mp4.part`): same directory,
/// so the final rename is atomic and the temporary data on the same disk.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The printf-style pattern multifilesrc expands to `segment_uri(index)`
/// inside `dir`; a `%` in the directory itself must not be read as a format.
fn location_pattern(dir: &Path) -> String {
    let dir = dir.display().to_string().replace('%', "%%");
    format!("{}/seg_%05d.ts", dir.trim_end_matches('/'))
}

/// Earliest start and latest end of the buffers seen on a pad.
#[derive(Debug, Default, Clone)]
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

    fn has_data(&self) -> bool {
        self.start.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Video,
    Audio,
}

/// What the pad-added handler found, shared with the probes.
#[derive(Default)]
struct Found {
    streams: Vec<(Kind, Arc<Mutex<Span>>)>,
    link_error: Option<String>,
}

/// The media's length (its longest stream) and which kinds carried data.
fn media_span(streams: &[(Kind, Span)]) -> (u64, bool, bool) {
    let length = streams
        .iter()
        .map(|(_, s)| s.length_ns())
        .max()
        .unwrap_or(0);
    let has = |kind| streams.iter().any(|(k, s)| *k == kind && s.has_data());
    (length, has(Kind::Video), has(Kind::Audio))
}

/// Remuxes `input` into `out` (written as `<out>.part`, renamed when complete,
/// so a crash never leaves a half file under the final name).
pub async fn remux_to_mp4(input: &RemuxInput, out: &Path) -> Result<RemuxReport, RemuxError> {
    if input.last_index < input.first_index {
        return Err(RemuxError::EmptyRange(input.first_index, input.last_index));
    }
    // multifilesrc's indices are C ints.
    let index = |i: u64| i32::try_from(i).map_err(|_| RemuxError::IndexOutOfRange(i));
    let (first, last) = (index(input.first_index)?, index(input.last_index)?);
    let mut input_bytes = 0u64;
    for i in input.first_index..=input.last_index {
        let path = input.rung_dir.join(segment_uri(i));
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => input_bytes += m.len(),
            Ok(_) => return Err(RemuxError::MissingSegment(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RemuxError::MissingSegment(path))
            }
            Err(e) => return Err(RemuxError::Io(path, e)),
        }
    }

    let part = sibling(out, ".part");
    let moov_tmp = sibling(out, ".moov");
    let result = run(input, first, last, input_bytes, &part, &moov_tmp).await;
    let _ = tokio::fs::remove_file(&moov_tmp).await;
    let result = match result {
        Ok(found) => finish(found, &part, out).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    result
}

/// Builds and runs the pipeline to EOS; what was found in the input.
async fn run(
    input: &RemuxInput,
    first: i32,
    last: i32,
    input_bytes: u64,
    part: &Path,
    moov_tmp: &Path,
) -> Result<Found, RemuxError> {
    let pipeline = launch("recording-remux", &description("recording-remux")?)?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| RemuxError::Pipeline(format!("no element {name}")))
    };
    let segments = by_name("segments")?;
    segments.set_property("location", location_pattern(&input.rung_dir));
    segments.set_property("index", first);
    segments.set_property("stop-index", last);
    by_name("out")?.set_property("location", part.display().to_string());
    let mux = by_name("mux")?;
    mux.set_property("faststart-file", moov_tmp.display().to_string());

    let found = Arc::new(Mutex::new(Found::default()));
    let demux = by_name("demux")?;
    link_streams(&pipeline, &demux, &mux, found.clone());
    // Input without a single stream (not MPEG-TS) would leave mp4mux waiting
    // for ever: the end of the input with nothing linked is a failure.
    let (no_streams_tx, mut no_streams) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Some(sink) = demux.static_pad("sink") {
        let found = found.clone();
        sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            let eos = matches!(info.event().map(|e| e.type_()), Some(gst::EventType::Eos));
            if eos && found.lock().map(|f| f.streams.is_empty()).unwrap_or(false) {
                let _ = no_streams_tx.send(());
            }
            gst::PadProbeReturn::Ok
        });
    }

    let mut bus = spawn_bus_watch(&pipeline, format!("remux {}", part.display()));
    let owned = OwnedPipeline::new(pipeline);
    let limit = timeout_for(input_bytes);
    let outcome = tokio::time::timeout(limit, async {
        owned.set_state(gst::State::Playing).await?;
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
    .await
    .unwrap_or(Err(RemuxError::Timeout(limit)));
    // Closed before the file is looked at or removed. On failure, a teardown
    // that does not finish is left to OwnedPipeline's drop (its own thread).
    let teardown = tokio::time::timeout(TEARDOWN_TIMEOUT, owned.set_state(gst::State::Null)).await;
    outcome?;
    match teardown {
        Ok(r) => r?,
        Err(_) => return Err(RemuxError::Timeout(TEARDOWN_TIMEOUT)),
    }
    drop(owned);
    let mut found = found
        .lock()
        .map_err(|_| RemuxError::Pipeline("poisoned".into()))?;
    Ok(std::mem::take(&mut *found))
}

/// Checks what was muxed, moves the file into place, reports.
async fn finish(found: Found, part: &Path, out: &Path) -> Result<RemuxReport, RemuxError> {
    if let Some(e) = found.link_error {
        return Err(RemuxError::Pipeline(e));
    }
    let spans: Vec<(Kind, Span)> = found
        .streams
        .iter()
        .map(|(kind, span)| {
            let span = span.lock().map(|s| s.clone()).unwrap_or_default();
            (*kind, span)
        })
        .collect();
    let (duration_ns, has_video, has_audio) = media_span(&spans);
    if !has_video {
        return Err(RemuxError::NoVideo);
    }
    tokio::fs::rename(part, out)
        .await
        .map_err(|e| RemuxError::Io(out.to_path_buf(), e))?;
    let size = tokio::fs::metadata(out)
        .await
        .map_err(|e| RemuxError::Io(out.to_path_buf(), e))?
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
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        let (branch, template, kind) = match name.as_str() {
            "video/x-h264" => ("recording-video", "video_%u", Kind::Video),
            "audio/mpeg" => ("recording-audio", "audio_%u", Kind::Audio),
            // Other streams (metadata, another codec) are not recorded; an
            // unlinked tsdemux pad does not stop the others.
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
                f.streams.push((kind, span));
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!("remux: cannot record a {name} stream: {e}");
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
        assert!(!s.has_data());
        s.add(Some(1_000), Some(500));
        s.add(Some(500), Some(100));
        s.add(None, Some(100));
        assert_eq!(s.length_ns(), 1_000);
        assert!(s.has_data());
    }

    #[test]
    fn the_longest_stream_is_the_duration_and_empty_streams_do_not_count() {
        let span = |start, end| Span {
            start: Some(start),
            end: Some(end),
        };
        let (length, video, audio) = media_span(&[
            (Kind::Video, span(2_000, 8_000)),
            (Kind::Audio, span(2_005, 8_010)),
        ]);
        assert_eq!((length, video, audio), (6_005, true, true));
        let (length, video, audio) = media_span(&[
            (Kind::Video, span(0, 4_000)),
            (Kind::Audio, Span::default()),
        ]);
        assert_eq!((length, video, audio), (4_000, true, false));
        assert_eq!(media_span(&[]), (0, false, false));
    }

    #[test]
    fn the_location_pattern_names_the_playlists_segments() {
        // multifilesrc fills `%05d` like segment_uri does, to 5 digits and beyond.
        assert_eq!(segment_uri(7), "seg_00007.ts");
        assert_eq!(segment_uri(123_456), "seg_123456.ts");
        assert_eq!(
            location_pattern(Path::new("/data/hls/s1/720p/")),
            "/data/hls/s1/720p/seg_%05d.ts"
        );
        assert_eq!(
            location_pattern(Path::new("/data/50%/720p")),
            "/data/50%%/720p/seg_%05d.ts"
        );
    }

    #[test]
    fn temporary_files_sit_next_to_the_output() {
        let out = Path::new("/rec/s1/r1.mp4");
        assert_eq!(sibling(out, ".part"), Path::new("/rec/s1/r1.mp4.part"));
        assert_eq!(sibling(out, ".moov"), Path::new("/rec/s1/r1.mp4.moov"));
    }

    #[test]
    fn the_timeout_grows_with_the_input() {
        assert_eq!(timeout_for(0), TIMEOUT_BASE);
        assert_eq!(
            timeout_for(40 * MIN_BYTES_PER_SEC),
            TIMEOUT_BASE + Duration::from_secs(40)
        );
        assert!(timeout_for(u64::MAX) > timeout_for(1 << 40));
    }
}
