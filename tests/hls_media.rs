//! The HLS ladder end to end: a live publish into the `classcast` binary,
//! checked with ffprobe/ffmpeg and played with hls.js in headless Chromium.
//! These run one at a time (see .config/nextest.toml).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use classcast::auth::Role;
use classcast::client::WhipClient;
use common::{create_session, get_session, http, token, wait_for, ClientProcess, ServerProcess};
use serde_json::Value;

use common::test_pattern as publisher;

fn hls_dir(server: &ServerProcess, id: &str) -> PathBuf {
    server.data_dir.join("hls").join(id)
}

/// Segment URIs and durations of a media playlist on disk.
fn playlist(path: &Path) -> (String, Vec<(String, f64)>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut segments = Vec::new();
    let mut duration = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d.trim_end_matches(',').parse::<f64>().ok();
        } else if !line.starts_with('#') && !line.is_empty() {
            segments.push((line.to_owned(), duration.take().unwrap_or(0.0)));
        }
    }
    (text, segments)
}

async fn wait_segments(server: &ServerProcess, id: &str, rungs: &[&str], n: usize) {
    let dir = hls_dir(server, id);
    wait_for(
        Duration::from_secs(40),
        &format!("{n} segments in every rung"),
        || async {
            rungs
                .iter()
                .all(|r| playlist(&dir.join(r).join("all.m3u8")).1.len() >= n)
                .then_some(())
        },
    )
    .await;
}

/// Waits until every rung's `index.m3u8` in `dir` is final (EXT-X-ENDLIST).
async fn wait_vod(dir: &Path, rungs: &[&str]) {
    wait_for(Duration::from_secs(15), "VOD playlists", || async {
        rungs
            .iter()
            .all(|r| {
                playlist(&dir.join(r).join("index.m3u8"))
                    .0
                    .contains("#EXT-X-ENDLIST")
            })
            .then_some(())
    })
    .await;
}

fn ffprobe_json(args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .output()
        .expect("ffprobe (scripts/install-deps.sh test)");
    assert!(
        out.status.success(),
        "ffprobe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

/// (width, height, first frame is a keyframe) of a segment.
fn segment_video(path: &Path) -> (u64, u64, bool) {
    let p = path.to_str().expect("utf8 path");
    let v = ffprobe_json(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height:frame=key_frame,pict_type",
        "-read_intervals",
        "%+#1",
        p,
    ]);
    let key = v["frames"][0]["key_frame"] == 1 && v["frames"][0]["pict_type"] == "I";
    (
        v["streams"][0]["width"].as_u64().unwrap_or(0),
        v["streams"][0]["height"].as_u64().unwrap_or(0),
        key,
    )
}

/// Mean U and V of the top-left corner of a segment's first picture: the test
/// pattern's white bar there is neutral (128, 128); a picture whose top slice
/// went missing decodes dark green there (about 106, 100).
fn top_left_chroma(path: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-vf",
            "crop=iw/8:ih/8:0:ih/8,signalstats,metadata=print:file=-",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("lavfi.signalstats.{key}=")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    (value("UAVG"), value("VAVG"))
}

/// Every rung's media playlist decodes, one run between discontinuities at a
/// time. A restarted server continues the playlists with
/// EXT-X-DISCONTINUITY and its segments' timestamps start again (HLS allows
/// this; players reset there), but ffmpeg plays across such a jump back only
/// when it is longer than its `dts_delta_threshold`: how long the first run
/// lasted decided the test.
fn assert_each_run_decodes(dir: &Path) {
    let mut checked = 0;
    for rung in std::fs::read_dir(dir).expect("hls dir").flatten() {
        let index = rung.path().join("index.m3u8");
        let Ok(text) = std::fs::read_to_string(&index) else {
            continue;
        };
        let header: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("#EXTINF") && !l.starts_with("#EXT-X-DISCONTINUITY"))
            .filter(|l| {
                l.starts_with("#EXTM3U")
                    || l.starts_with("#EXT-X-VERSION")
                    || l.starts_with("#EXT-X-TARGETDURATION")
            })
            .collect();
        let mut runs: Vec<Vec<&str>> = vec![Vec::new()];
        for line in text.lines() {
            if line.starts_with("#EXT-X-DISCONTINUITY") && !line.contains("SEQUENCE") {
                runs.push(Vec::new());
            } else if line.starts_with("#EXTINF") || (!line.starts_with('#') && !line.is_empty()) {
                runs.last_mut().expect("a run").push(line);
            }
        }
        for (n, run) in runs.iter().filter(|r| !r.is_empty()).enumerate() {
            let path = rung.path().join(format!("run{n}.m3u8"));
            let body = format!(
                "{}\n#EXT-X-PLAYLIST-TYPE:VOD\n{}\n#EXT-X-ENDLIST\n",
                header.join("\n"),
                run.join("\n")
            );
            std::fs::write(&path, body).expect("run playlist");
            assert_decodes(&path);
            checked += 1;
        }
    }
    assert!(checked >= 2, "no runs to decode in {}", dir.display());
}

/// ffmpeg decodes the whole playlist without a single error.
fn assert_decodes(playlist: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "ffmpeg on {}: {errors}",
        playlist.display()
    );
}

async fn session_view(base: &str, tok: &str, id: &str) -> Value {
    get_session(base, tok, id).await
}

/// The test servers run `pipelines/ladder-test.toml` (see
/// `common::test_ladder`): it must stay `ladder.toml` with faster presets
/// only, so what these tests check about the ladder holds for the real one.
#[test]
fn the_test_ladder_is_the_default_ladder_with_faster_presets() {
    let load = |name: &str| {
        classcast::hls::LadderConfig::load(Some(&common::repo_root().join("pipelines").join(name)))
            .expect("ladder")
    };
    let (real, test) = (load("ladder.toml"), load("ladder-test.toml"));
    let without_presets = |l: &classcast::hls::LadderConfig| {
        let mut l = l.clone();
        l.rungs.iter_mut().for_each(|r| r.preset.clear());
        l
    };
    assert_eq!(without_presets(&real), without_presets(&test));
    for (r, t) in real.rungs.iter().zip(&test.rungs) {
        assert!(
            matches!(t.preset.as_str(), "superfast" | "ultrafast"),
            "{}: {}",
            t.name,
            t.preset
        );
        // High needs CABAC, which ultrafast turns off.
        if r.profile == "high" {
            assert_eq!(t.preset, "superfast", "{}", t.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_720p_publish_makes_an_aligned_three_rung_ladder_then_a_vod() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "ladder").await;
    let guest = token(Role::Guest, "guest", Some(&id));
    let client = WhipClient::publish(&publisher(base, &id, &alice, 1280, 720))
        .await
        .expect("publish");
    let rungs = ["720p", "480p", "360p"];
    wait_segments(&server, &id, &rungs, 3).await;

    // While the ladder runs, ingest keeps its frame rate and the ladder keeps up.
    // Over a 5 s window, not per second: one second's sample on a busy
    // machine dips (23.8) and the next catches up (30.2); a ladder that
    // starves ingest lowers the average.
    let frames = |v: &Value| v["media"]["video"]["frames"].as_u64().unwrap_or(0);
    let mut rates = Vec::new();
    let window = std::time::Instant::now();
    let frames_before = frames(&session_view(base, &alice, &id).await);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let v = session_view(base, &alice, &id).await;
        rates.push(v["media"]["video"]["rate"].as_f64().unwrap_or(0.0));
    }
    let frames_after = frames(&session_view(base, &alice, &id).await);
    let average = (frames_after - frames_before) as f64 / window.elapsed().as_secs_f64();
    eprintln!("ingest video fps while the ladder runs: {average:.1} (each second: {rates:?})");
    assert!(
        average >= 25.0,
        "ingest stalled: {average:.1} fps ({rates:?})"
    );
    assert!(rates.iter().all(|&r| r > 0.0), "ingest stopped: {rates:?}");
    wait_segments(&server, &id, &rungs, 8).await;
    let v = session_view(base, &alice, &id).await;
    eprintln!("ladder status: {}", v["hls"]);
    assert_eq!(v["hls"]["state"], "live");
    assert_eq!(
        v["hls"]["passthrough"], true,
        "an H.264 1280x720 publish is the 720p rung as it came"
    );
    assert_eq!(v["hls"]["dropped_input_frames"], 0, "{}", v["hls"]);
    for r in v["hls"]["rungs"].as_array().expect("rungs") {
        assert!(r["frames_out"].as_u64().unwrap_or(0) > 200, "{r}");
        assert!(r["lag_ms"].as_u64().unwrap_or(u64::MAX) < 2000, "{r}");
    }

    // The master playlist, as a player sees it.
    let master_url = format!("{base}/hls/{id}/master.m3u8?token={guest}");
    let probe = ffprobe_json(&[
        "-show_entries",
        "stream=codec_type,codec_name,width,height",
        &master_url,
    ]);
    let streams = probe["streams"].as_array().expect("streams");
    let mut sizes: Vec<(u64, u64)> = streams
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .map(|s| {
            (
                s["width"].as_u64().unwrap_or(0),
                s["height"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert_eq!(
        sizes,
        vec![(640, 360), (854, 480), (1280, 720)],
        "no 1080p from a 720p source"
    );
    assert!(streams
        .iter()
        .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"));
    let master = http().get(&master_url).send().await.expect("master");
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(master.headers()["cache-control"], "no-cache");
    let text = master.text().await.expect("text");
    // The 720p rung is the publisher's constrained-baseline stream, level 3.1
    // (read from its SPS); the encoded rungs are main profile.
    let variant = |name: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines
            .windows(2)
            .find(|w| w[1].starts_with(name))
            .map(|w| w[0].to_owned())
            .unwrap_or_default()
    };
    assert!(
        variant("720p/").contains("CODECS=\"avc1.42e01f,mp4a.40.2\""),
        "{text}"
    );
    assert!(!variant("480p/").is_empty(), "{text}");
    assert!(
        text.contains("AVERAGE-BANDWIDTH=") && text.contains("FRAME-RATE=30"),
        "{text}"
    );

    // Segments: immutable, and a player without a token is refused.
    let seg = http()
        .get(format!("{base}/hls/{id}/720p/seg_00002.ts?token={guest}"))
        .send()
        .await
        .expect("segment");
    assert_eq!(seg.status(), 200);
    assert_eq!(seg.headers()["content-type"], "video/mp2t");
    assert!(seg.headers()["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("immutable"));
    let r = http()
        .get(format!("{base}/hls/{id}/master.m3u8"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    let r = http()
        .get(format!(
            "{base}/hls/{id}/720p/..%2F..%2Fjwt-secret?token={guest}"
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 404);

    // The live window slides over the configured 6 segments.
    let (live, listed) = playlist(&hls_dir(&server, &id).join("720p/index.m3u8"));
    assert_eq!(listed.len(), 6, "{live}");
    assert!(!live.contains("#EXT-X-ENDLIST"));

    // End of publish: every rung becomes a complete VOD.
    client.stop().await.expect("DELETE");
    let dir = hls_dir(&server, &id);
    wait_vod(&dir, &rungs).await;
    let lists: Vec<Vec<(String, f64)>> = rungs
        .iter()
        .map(|r| {
            let (text, segments) = playlist(&dir.join(r).join("index.m3u8"));
            assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
            segments
        })
        .collect();
    let uris = |l: &Vec<(String, f64)>| l.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert!(lists[0].len() >= 9, "{:?}", lists[0]);
    assert_eq!(
        uris(&lists[0]),
        uris(&lists[1]),
        "same segments in every rung"
    );
    assert_eq!(uris(&lists[0]), uris(&lists[2]));
    assert_eq!(lists[0][0].0, "seg_00000.ts", "every segment kept");
    for (r, list) in rungs.iter().zip(&lists) {
        let last = list.len() - 1;
        for (i, (uri, duration)) in list.iter().enumerate() {
            if i < last {
                assert!((1.5..=2.5).contains(duration), "{r}/{uri}: {duration} s");
            }
            let path = dir.join(r).join(uri);
            let (w, h, key) = segment_video(&path);
            assert!(key, "{r}/{uri} does not start with a keyframe");
            let want = match *r {
                "720p" => (1280, 720),
                "480p" => (854, 480),
                _ => (640, 360),
            };
            assert_eq!((w, h), want, "{r}/{uri}");
            let (u, v) = top_left_chroma(&path);
            assert!(
                (118.0..138.0).contains(&u) && (118.0..138.0).contains(&v),
                "{r}/{uri}: picture damaged (U {u}, V {v})"
            );
        }
    }
    // Durations agree across rungs too (the cuts are on the same frames).
    for i in 0..lists[0].len() - 1 {
        let d: Vec<f64> = lists.iter().map(|l| l[i].1).collect();
        assert!(
            d.iter().all(|x| (x - d[0]).abs() < 0.05),
            "segment {i}: {d:?}"
        );
    }
    assert_decodes(&dir.join("master.m3u8"));
    let v = session_view(base, &alice, &id).await;
    assert_eq!(v["hls"]["state"], "ended");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_continues_the_playlists_with_a_discontinuity() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "reconnect").await;
    let rungs = ["720p", "480p", "360p"];
    let dir = hls_dir(&server, &id);
    for _round in 1..=2 {
        // Counted from what is on disk, not assumed: a ladder that ran behind
        // flushes more than 3 segments when the first publish ends.
        let before = rungs
            .iter()
            .map(|r| playlist(&dir.join(r).join("all.m3u8")).1.len())
            .max()
            .unwrap_or(0);
        let client = WhipClient::publish(&publisher(base, &id, &alice, 640, 360))
            .await
            .expect("publish");
        wait_segments(&server, &id, &rungs, before + 3).await;
        let v = session_view(base, &alice, &id).await;
        assert_eq!(
            v["hls"]["passthrough"], false,
            "a 640x360 source is not the 720p rung: every rung is encoded"
        );
        client.stop().await.expect("DELETE");
        wait_for(Duration::from_secs(15), "VOD", || async {
            let (text, segs) = playlist(&dir.join("360p/index.m3u8"));
            (text.contains("#EXT-X-ENDLIST") && segs.len() >= before + 3).then_some(())
        })
        .await;
        wait_vod(&dir, &rungs).await;
    }
    let (text, segments) = playlist(&dir.join("360p/index.m3u8"));
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    let indices: Vec<u64> = segments
        .iter()
        .filter_map(|(u, _)| classcast::hls::playlist::segment_index(u))
        .collect();
    let expected: Vec<u64> = (0..indices.len() as u64).collect();
    assert_eq!(indices, expected, "sequence numbers continue");
    assert_decodes(&dir.join("360p/index.m3u8"));
}

/// A 1280x720 H.264 publisher whose encoder ignores keyframe requests and
/// puts an IDR only every 10 s: the passed-through 720p rung cannot be cut
/// every 2 s, so the ladder hands over to one that encodes it; the segments
/// go on in every rung with the same names and the VOD decodes.
#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_that_ignores_keyframe_requests_gets_its_top_rung_encoded() {
    use gst::prelude::*;
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "stubborn").await;
    classcast::media::init().expect("gstreamer");
    let text = classcast::media::fill(
        &classcast::media::description("test-publisher").expect("description"),
        &[
            (
                "VIDEO_ENCODER",
                "x264enc name=enc tune=zerolatency sliced-threads=false speed-preset=ultrafast \
                 bitrate=2000 key-int-max=300 ! video/x-h264,profile=constrained-baseline"
                    .into(),
            ),
            (
                "VIDEO_PAY",
                "rtph264pay pt=96 mtu=1200 config-interval=-1 aggregate-mode=zero-latency \
                 ! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,\
                 packetization-mode=(string)1"
                    .into(),
            ),
            ("PATTERN", "smpte".into()),
            ("WIDTH", "1280".into()),
            ("HEIGHT", "720".into()),
            ("FPS", "30".into()),
        ],
    );
    let pipeline = classcast::media::launch("stubborn-publisher", &text).expect("pipeline");
    let encoder_out = pipeline
        .by_name("enc")
        .and_then(|e| e.static_pad("src"))
        .expect("encoder");
    // PLIs arrive as force-key-unit events from upstream. The encoder answers
    // them until the ladder has started with the 720p rung passed through
    // (the keyframe its start needs: the first IDR went out before the
    // connection was up), then never again.
    let stubborn = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ignoring = stubborn.clone();
    encoder_out.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        let request = info
            .event()
            .is_some_and(|e| gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok());
        if request && ignoring.load(std::sync::atomic::Ordering::Relaxed) {
            drop(info.take_event());
            gst::PadProbeReturn::Handled
        } else {
            gst::PadProbeReturn::Ok
        }
    });
    let client = WhipClient::publish_pipeline(pipeline, &format!("{base}/whip/{id}"), &alice)
        .await
        .expect("publish");
    let hls = || async { session_view(base, &alice, &id).await["hls"].clone() };
    wait_for(
        Duration::from_secs(30),
        "the ladder to pass the 720p rung through",
        || async { (hls().await["passthrough"] == true).then_some(()) },
    )
    .await;
    stubborn.store(true, std::sync::atomic::Ordering::Relaxed);
    wait_for(
        Duration::from_secs(30),
        "the ladder to encode the top rung",
        || async { (hls().await["passthrough"] == false).then_some(()) },
    )
    .await;
    let rungs = ["720p", "480p", "360p"];
    let dir = hls_dir(&server, &id);
    let before = playlist(&dir.join("720p/all.m3u8")).1.len();
    wait_segments(&server, &id, &rungs, before + 3).await;
    let status = hls().await;
    eprintln!("ladder status: {status}");
    assert_eq!(status["state"], "live");
    client.stop().await.expect("DELETE");
    wait_vod(&dir, &rungs).await;
    let lists: Vec<Vec<String>> = rungs
        .iter()
        .map(|r| {
            playlist(&dir.join(r).join("index.m3u8"))
                .1
                .into_iter()
                .map(|s| s.0)
                .collect()
        })
        .collect();
    assert_eq!(lists[0], lists[1], "same segments in every rung");
    assert_eq!(lists[0], lists[2]);
    let (text, _) = playlist(&dir.join("720p/index.m3u8"));
    assert!(text.contains("#EXT-X-DISCONTINUITY"), "{text}");
    for list in &lists[..1] {
        for uri in list {
            let (w, h, key) = segment_video(&dir.join("720p").join(uri));
            assert!(key, "720p/{uri} does not start with a keyframe");
            assert_eq!((w, h), (1280, 720), "720p/{uri}");
        }
    }
    assert_each_run_decodes(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn hls_js_plays_and_switches_levels() {
    let server = ServerProcess::start(&["--demo"]);
    let guest = token(Role::Guest, "viewer", Some("demo"));
    wait_segments(&server, "demo", &["720p", "480p", "360p"], 4).await;
    let page = format!(
        "{}/player/watch.html#token={guest}&session=demo",
        server.url
    );
    let mut browser = ClientProcess::watcher(&page);
    let playing = browser.expect_event("playing", Duration::from_secs(40));
    assert_eq!(
        playing["levels"].as_array().map(Vec::len),
        Some(3),
        "{playing}"
    );
    for _ in 0..3 {
        let switched = browser.expect_event("switched", Duration::from_secs(30));
        assert!(
            switched["advanced"].as_f64().unwrap_or(0.0) > 1.5,
            "{switched}"
        );
    }
    let done = browser.expect_event("done", Duration::from_secs(30));
    assert_eq!(
        done["droppedErrors"].as_array().map(Vec::len),
        Some(0),
        "{done}"
    );
    browser.wait_success(Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_ramping_up_never_changes_rung_sizes() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "ramp").await;
    let page = format!("{base}/player/publish.html#token={alice}&session={id}");
    let mut browser = ClientProcess::chromium(&page, 24, "auto");
    browser.expect_event("live", Duration::from_secs(30));
    let mut widths = Vec::new();
    loop {
        let v = session_view(base, &alice, &id).await;
        if let Some(w) = v["media"]["video"]["width"].as_u64() {
            if widths.last() != Some(&w) {
                widths.push(w);
            }
        }
        if v["live"] == false && !widths.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("source widths seen: {widths:?}");
    assert!(
        widths.len() >= 2,
        "the browser's resolution did not change: {widths:?}"
    );
    browser.wait_success(Duration::from_secs(20));
    let dir = hls_dir(&server, &id);
    wait_vod(&dir, &["360p"]).await;
    for (rung, want) in [
        ("720p", (1280, 720)),
        ("480p", (854, 480)),
        ("360p", (640, 360)),
    ] {
        let (_, segments) = playlist(&dir.join(rung).join("index.m3u8"));
        assert!(segments.len() >= 8, "{rung}: {segments:?}");
        for (uri, _) in &segments {
            let (w, h, key) = segment_video(&dir.join(rung).join(uri));
            assert_eq!((w, h), want, "{rung}/{uri}");
            assert!(key, "{rung}/{uri}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_that_drops_leaves_a_playable_vod() {
    let server = ServerProcess::start(&["--media-timeout", "2s"]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "drop").await;
    let client = WhipClient::publish(&publisher(base, &id, &alice, 640, 360))
        .await
        .expect("publish");
    wait_segments(&server, &id, &["360p"], 3).await;
    drop(client); // gone without a DELETE
    let dir = hls_dir(&server, &id);
    wait_vod(&dir, &["360p"]).await;
    assert_decodes(&dir.join("master.m3u8"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_publish_keeps_its_segments_and_continues() {
    let mut server = ServerProcess::start(&[]);
    let data = server.keep_data_dir();
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(&server.url, &alice, "crash").await;
    let client = WhipClient::publish(&publisher(&server.url, &id, &alice, 640, 360))
        .await
        .expect("publish");
    wait_segments(&server, &id, &["720p", "480p", "360p"], 3).await;
    server.kill(); // SIGKILL: no finalization at all
    drop(client);
    let before = playlist(&hls_dir(&server, &id).join("360p/all.m3u8")).1;
    assert!(before.len() >= 3);

    let server = ServerProcess::start_in(data.path(), &[]);
    let client = WhipClient::publish(&publisher(&server.url, &id, &alice, 640, 360))
        .await
        .expect("publish after restart");
    wait_segments(&server, &id, &["720p", "480p", "360p"], before.len() + 3).await;
    client.stop().await.expect("DELETE");
    let dir = hls_dir(&server, &id);
    wait_vod(&dir, &["360p"]).await;
    let (text, after) = playlist(&dir.join("360p/index.m3u8"));
    assert_eq!(
        after[..before.len()],
        before[..],
        "what was written before the crash is kept"
    );
    assert!(text.contains("#EXT-X-DISCONTINUITY"), "{text}");
    assert_each_run_decodes(&dir);
}
