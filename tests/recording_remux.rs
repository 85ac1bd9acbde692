//! The remux on its own: TS segments shaped like a ladder rung's (x264 with
//! 2 s keyframes and no B-frames, AAC, splitmuxsink + mpegtsmux, 2 s) into a
//! faststart MP4; a range, the whole, video only, and the failures.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use classcast::recording::remux::*;
use common::s3::{assert_faststart, probe_mp4};
use gst::prelude::*;

/// Seconds of media the fixture makes, and of one segment.
const MEDIA_S: f64 = 10.0;
const SEGMENT_S: f64 = 2.0;

/// ~10 s of 320x180 H.264 (and AAC unless `video_only`) as seg_00000.ts…;
/// the number of segments.
fn make_segments(dir: &Path, video_only: bool) -> u64 {
    classcast::media::init().expect("gstreamer");
    let mut text = format!(
        "videotestsrc num-buffers=300 ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=60 option-string=scenecut=0 \
         ! video/x-h264,profile=main ! h264parse \
         ! splitmuxsink name=m muxer=mpegtsmux max-size-time=2000000000 location={}",
        dir.join("seg_%05d.ts").display()
    );
    if !video_only {
        // 500 × 960 samples = 10 s exactly.
        text.push_str(
            " audiotestsrc num-buffers=500 samplesperbuffer=960 \
             ! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=128000 ! aacparse ! m.audio_0",
        );
    }
    let pipeline = gst::parse::launch(&text)
        .expect("fixture pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let mux = pipeline.by_name("m").expect("splitmuxsink");

    // splitmuxsink in GStreamer 1.22.0 can close the last fragment and never
    // let the pipeline's EOS through (gst-launch-1.0 hung in ~1 run of 10).
    // The end is also known without it: every input has ended and the
    // fragment that closes then reaches the last video frame (the earlier
    // ones close at keyframes).
    let inputs = mux.sink_pads();
    let ended = Arc::new(AtomicUsize::new(0));
    let last_video = Arc::new(AtomicU64::new(0));
    for pad in &inputs {
        let video = pad.name().starts_with("video");
        let (ended, last_video) = (ended.clone(), last_video.clone());
        // x264enc's timestamps start at 1000 h: compared in running time.
        let segment = Mutex::new(gst::FormattedSegment::<gst::ClockTime>::new());
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let Ok(mut segment) = segment.lock() else {
                    return gst::PadProbeReturn::Ok;
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) if video => {
                        if let Some(t) = segment.to_running_time(b.pts()) {
                            last_video.fetch_max(t.nseconds(), Ordering::SeqCst);
                        }
                    }
                    Some(gst::PadProbeData::Event(e)) => match e.view() {
                        gst::EventView::Segment(s) => {
                            if let Some(s) = s.segment().downcast_ref::<gst::ClockTime>() {
                                *segment = s.clone();
                            }
                        }
                        gst::EventView::Eos(_) => {
                            ended.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    },
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().expect("bus");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "making segments did not finish");
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("making segments: {} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                let last_closed = e.structure().is_some_and(|s| {
                    s.name() == "splitmuxsink-fragment-closed"
                        && ended.load(Ordering::SeqCst) == inputs.len()
                        && s.get::<u64>("running-time")
                            .is_ok_and(|t| t >= last_video.load(Ordering::SeqCst))
                });
                if last_closed {
                    break;
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("null");
    std::fs::read_dir(dir).expect("dir").count() as u64
}

fn input(dir: &Path, first_index: u64, last_index: u64) -> RemuxInput {
    RemuxInput {
        rung_dir: dir.to_path_buf(),
        first_index,
        last_index,
    }
}

/// A playable faststart MP4 with these codecs, about this long; no leftovers.
fn check_mp4(out: &Path, report: &RemuxReport, codecs: &[&str], seconds: f64) {
    let bytes = std::fs::read(out).expect("mp4");
    assert_eq!(report.size_bytes, bytes.len() as u64);
    assert_faststart(&bytes);
    // ffprobe and a full decode by ffmpeg, both silent.
    let (found, duration) = probe_mp4(out);
    assert_eq!(found, codecs);
    assert!((duration - seconds).abs() <= 0.5, "ffprobe: {duration} s");
    let reported = report.duration_ms as f64 / 1000.0;
    assert!((reported - seconds).abs() <= 0.5, "{report:?}");
    assert_eq!(report.has_audio, codecs.contains(&"aac"));
    let name = out.file_name().expect("name").to_string_lossy();
    for leftover in [format!("{name}.part"), format!("{name}.moov")] {
        assert!(!out.with_file_name(&leftover).exists(), "{leftover} left");
    }
}

#[tokio::test]
async fn segments_become_one_faststart_mp4() {
    let dir = tempfile::tempdir().expect("tmp");
    let count = make_segments(dir.path(), false);
    assert_eq!(count, (MEDIA_S / SEGMENT_S) as u64, "segments");
    let out_dir = tempfile::tempdir().expect("tmp");

    // The whole run.
    let out = out_dir.path().join("all.mp4");
    let started = Instant::now();
    let report = remux_to_mp4(&input(dir.path(), 0, count - 1), &out)
        .await
        .expect("remux");
    eprintln!(
        "remuxed {count} segments in {:?}: {report:?}",
        started.elapsed()
    );
    check_mp4(&out, &report, &["h264", "aac"], MEDIA_S);

    // A range in the middle: its timestamps start at 2 s, the MP4's at 0.
    let out = out_dir.path().join("range.mp4");
    let report = remux_to_mp4(&input(dir.path(), 1, 3), &out)
        .await
        .expect("remux range");
    check_mp4(&out, &report, &["h264", "aac"], 3.0 * SEGMENT_S);

    // One segment, the last.
    let out = out_dir.path().join("one.mp4");
    let report = remux_to_mp4(&input(dir.path(), count - 1, count - 1), &out)
        .await
        .expect("remux one");
    check_mp4(&out, &report, &["h264", "aac"], SEGMENT_S);
}

#[tokio::test]
async fn video_only_works_and_failures_are_clear() {
    let dir = tempfile::tempdir().expect("tmp");
    let count = make_segments(dir.path(), true);
    let out = dir.path().join("v.mp4");
    let report = remux_to_mp4(&input(dir.path(), 0, count - 1), &out)
        .await
        .expect("video only");
    check_mp4(&out, &report, &["h264"], MEDIA_S);

    // A missing segment is named, and nothing is written.
    let x = dir.path().join("x.mp4");
    match remux_to_mp4(&input(dir.path(), 0, count + 2), &x).await {
        Err(e @ RemuxError::MissingSegment(_)) => {
            let missing = format!("seg_{count:05}.ts");
            assert!(e.to_string().contains(&missing), "{e}");
        }
        other => panic!("expected a missing segment, got {other:?}"),
    }
    assert!(matches!(
        remux_to_mp4(&input(dir.path(), 3, 2), &x).await,
        Err(RemuxError::EmptyRange(3, 2))
    ));
    assert!(!x.exists());

    // Garbage in: an error, quickly (not a hang, not a panic), and no output.
    let junk = tempfile::tempdir().expect("tmp");
    std::fs::write(junk.path().join("seg_00000.ts"), vec![0x42u8; 100_000]).expect("junk");
    std::fs::write(junk.path().join("seg_00001.ts"), b"").expect("empty");
    for last in [0, 1] {
        let out = junk.path().join("junk.mp4");
        let started = Instant::now();
        let r = remux_to_mp4(&input(junk.path(), 0, last), &out).await;
        assert!(r.is_err(), "garbage remuxed into {r:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{r:?}");
        eprintln!("garbage 0..={last}: {:?}", r.err());
        let leftovers = std::fs::read_dir(junk.path()).expect("dir").count();
        assert_eq!(leftovers, 2, "only the two inputs remain");
    }
}
