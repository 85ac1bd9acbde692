//! The remux on its own: TS segments shaped like a ladder rung's (x264 with
//! forced keyframes, AAC, splitmuxsink + mpegtsmux, 2 s) into a faststart MP4;
//! a range, the whole, video only, and the failures.

mod common;

use std::path::Path;
use std::process::Command;

use classcast::recording::remux::{remux_to_mp4, RemuxError, RemuxInput};
use common::s3::{assert_faststart, probe_mp4};

/// ~10 s of 320x180 video (and AAC unless `video_only`) as seg_00000.ts…
fn make_segments(dir: &Path, video_only: bool) -> usize {
    let location = dir.join("seg_%05d.ts");
    let mut pipeline = format!(
        "videotestsrc num-buffers=300 ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=60 \
         ! h264parse ! splitmuxsink name=m muxer=mpegtsmux max-size-time=2000000000 location={}",
        location.display()
    );
    if !video_only {
        pipeline.push_str(
            " audiotestsrc num-buffers=469 ! audio/x-raw,rate=48000,channels=2 \
             ! audioconvert ! avenc_aac ! aacparse ! m.audio_0",
        );
    }
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .status()
        .expect("gst-launch-1.0")
        .success();
    assert!(ok, "making segments");
    std::fs::read_dir(dir).expect("dir").count()
}

#[tokio::test]
async fn segments_become_one_faststart_mp4() {
    classcast::media::init().expect("gstreamer");
    let dir = tempfile::tempdir().expect("tmp");
    let count = make_segments(dir.path(), false) as u64;
    assert!(count >= 5, "{count} segments");

    // The whole run.
    let out = dir.path().join("all.mp4");
    let started = std::time::Instant::now();
    let report = remux_to_mp4(
        &RemuxInput {
            rung_dir: dir.path().to_path_buf(),
            first_index: 0,
            last_index: count - 1,
        },
        &out,
    )
    .await
    .expect("remux");
    eprintln!(
        "remuxed {count} segments in {:?}: {report:?}",
        started.elapsed()
    );
    assert!(report.has_audio);
    assert!(
        (report.duration_ms as i64 - 10_000).abs() <= 300,
        "{report:?}"
    );
    let bytes = std::fs::read(&out).expect("mp4");
    assert_eq!(report.size_bytes, bytes.len() as u64);
    assert_faststart(&bytes);
    let (codecs, duration) = probe_mp4(&out);
    assert_eq!(codecs, ["h264", "aac"]);
    assert!((duration - 10.0).abs() <= 0.3, "{duration}");
    assert!(!dir.path().join("all.mp4.part").exists(), "no leftovers");

    // A range in the middle: 3 segments of 2 s.
    let out = dir.path().join("range.mp4");
    let report = remux_to_mp4(
        &RemuxInput {
            rung_dir: dir.path().to_path_buf(),
            first_index: 1,
            last_index: 3,
        },
        &out,
    )
    .await
    .expect("remux range");
    let (_, duration) = probe_mp4(&out);
    assert!((duration - 6.0).abs() <= 0.3, "{duration} {report:?}");
}

#[tokio::test]
async fn video_only_works_and_failures_are_clear() {
    classcast::media::init().expect("gstreamer");
    let dir = tempfile::tempdir().expect("tmp");
    let count = make_segments(dir.path(), true) as u64;
    let out = dir.path().join("v.mp4");
    let input = |first, last| RemuxInput {
        rung_dir: dir.path().to_path_buf(),
        first_index: first,
        last_index: last,
    };
    let report = remux_to_mp4(&input(0, count - 1), &out)
        .await
        .expect("video only");
    assert!(!report.has_audio);
    let (codecs, _) = probe_mp4(&out);
    assert_eq!(codecs, ["h264"]);

    // A missing segment is named.
    match remux_to_mp4(&input(0, count + 2), &dir.path().join("x.mp4")).await {
        Err(RemuxError::MissingSegment(path)) => {
            assert!(path.ends_with(&format!("seg_{:05}.ts", count)), "{path}")
        }
        other => panic!(
            "expected a missing segment, got {:?}",
            other.map(|r| r.duration_ms)
        ),
    }
    assert!(matches!(
        remux_to_mp4(&input(3, 2), &dir.path().join("x.mp4")).await,
        Err(RemuxError::EmptyRange(3, 2))
    ));

    // Garbage in: an error, not a hang, and no output file.
    let junk = tempfile::tempdir().expect("tmp");
    std::fs::write(junk.path().join("seg_00000.ts"), vec![0x42u8; 100_000]).expect("junk");
    let out = junk.path().join("junk.mp4");
    let r = remux_to_mp4(
        &RemuxInput {
            rung_dir: junk.path().to_path_buf(),
            first_index: 0,
            last_index: 0,
        },
        &out,
    )
    .await;
    assert!(
        r.is_err(),
        "garbage remuxed into {:?}",
        r.map(|r| r.size_bytes)
    );
    assert!(!out.exists() && !junk.path().join("junk.mp4.part").exists());
}
