//! Issue 17's composed broadcast, end to end: the instructor's camera (red),
//! a consenting student on stage (green), a student on stage who refused the
//! recording (yellow) and the instructor's screen share (blue) publish into a
//! recorded session at once. Frames decoded (ffmpeg) from the HLS top rung
//! and from the recording's MP4 show each colour in its tile for the *stage*
//! and *screen* layouts, the refusing student only as a grey placeholder;
//! the instructor's layout choice over the classroom socket changes the
//! picture and lands in the recording's chapters; a plain WHEP client (aiortc,
//! no classroom socket) still plays the instructor's camera. One at a time
//! (see .config/nextest.toml).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use classcast::auth::Role;
use classcast::client::{TestPattern, WhipClient};
use classcast::media::VideoCodecPref;
use common::{http, token, wait_for, ClientProcess, ServerProcess};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const W: usize = 1280;
const H: usize = 720;

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const YELLOW: [u8; 3] = [255, 255, 0];
/// The placeholder of pipelines/compose-placeholder.gst.
const GREY: [u8; 3] = [0x3c, 0x40, 0x47];

/// A WHIP publish of one solid colour (and a tone), `width`x`height` at `fps`.
async fn coloured(url: &str, tok: &str, rgb: [u8; 3], size: (u32, u32), fps: u32) -> WhipClient {
    let argb =
        0xff00_0000u32 | u32::from(rgb[0]) << 16 | u32::from(rgb[1]) << 8 | u32::from(rgb[2]);
    let pattern = format!("solid-color foreground-color={argb}");
    publish_pattern(url, tok, &pattern, size, fps, 600).await
}

/// A WHIP publish of videotestsrc's `pattern` at `kbps` (and a tone).
async fn publish_pattern(
    url: &str,
    tok: &str,
    pattern: &str,
    size: (u32, u32),
    fps: u32,
    kbps: u32,
) -> WhipClient {
    let test = TestPattern {
        pattern: pattern.to_owned(),
        width: size.0,
        height: size.1,
        fps,
        kbps,
    };
    WhipClient::publish_pattern(url, tok, VideoCodecPref::H264, &test)
        .await
        .unwrap_or_else(|e| panic!("publishing {pattern} to {url}: {e}"))
}

async fn consent(base: &str, id: &str, tok: &str, yes: bool) {
    let r = http()
        .put(format!("{base}/api/sessions/{id}/consent"))
        .bearer_auth(tok)
        .json(&json!({ "consent": yes }))
        .send()
        .await
        .expect("PUT consent");
    assert!(r.status().is_success(), "consent: {}", r.status());
}

/// One RGB frame as ffmpeg decodes it (scaled to the canvas).
struct Frame(Vec<u8>);

impl Frame {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * W + x) * 3;
        [self.0[i], self.0[i + 1], self.0[i + 2]]
    }

    /// Whether the pixels around (x, y) are `rgb` (codec noise allowed).
    fn is(&self, x: usize, y: usize, rgb: [u8; 3]) -> bool {
        [(0, 0), (-8, -8), (8, 8), (-8, 8), (8, -8)]
            .iter()
            .all(|(dx, dy)| {
                let p = self.at((x as i64 + dx) as usize, (y as i64 + dy) as usize);
                close(p, rgb)
            })
    }

    /// How many pixels (on a 4-pixel grid) look like `rgb`.
    fn count(&self, rgb: [u8; 3]) -> usize {
        (0..H)
            .step_by(4)
            .flat_map(|y| (0..W).step_by(4).map(move |x| (x, y)))
            .filter(|&(x, y)| close(self.at(x, y), rgb))
            .count()
    }
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (i32::from(*x) - i32::from(y)).abs() < 48)
}

/// Every frame ffmpeg decodes from `input` at `fps`, as RGB at the canvas size.
fn frames(input: &Path, fps: &str) -> Vec<Frame> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args([
            "-vf",
            &format!("fps={fps},scale={W}:{H}"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg on {}: {}",
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(W * H * 3)
        .map(|c| Frame(c.to_vec()))
        .collect()
}

/// The stage grid: camera, the consenting student, the placeholder.
fn shows_stage(f: &Frame) -> bool {
    // The placeholder's words are in its middle: look beside them.
    f.is(320, 180, RED) && f.is(960, 180, GREEN) && f.is(420, 420, GREY)
}

/// The screen large, the cameras along its bottom right (instructor last).
fn shows_screen(f: &Frame) -> bool {
    // compose::plan: tiles W/5 wide, 16:9, W/64 apart and from the edges.
    let (pip_w, pip_h, margin) = (256, 144, 20);
    let centre = |from_right: usize| {
        (
            W - from_right * (pip_w + margin) + pip_w / 2,
            H - margin - pip_h / 2,
        )
    };
    let (cx, cy) = centre(1);
    let (ax, ay) = centre(3);
    let (bx, by) = centre(2);
    f.is(640, 300, BLUE) && f.is(cx, cy, RED) && f.is(ax, ay, GREEN) && f.is(bx - 90, by - 45, GREY)
}

/// The top rung's segments, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    all.retain(|p| p.extension().is_some_and(|e| e == "ts"));
    all.sort();
    all
}

/// Waits until a finished HLS segment's frames satisfy `check`; the frame.
async fn segment_showing(dir: &Path, what: &str, check: fn(&Frame) -> bool) {
    let dir = dir.to_path_buf();
    wait_for(Duration::from_secs(40), what, || {
        let dir = dir.clone();
        async move {
            let all = segments(&dir);
            // The newest is still being written.
            let done = all.len().checked_sub(2).map(|i| all[i].clone())?;
            let found = tokio::task::spawn_blocking(move || {
                let frames = frames(&done, "2");
                assert!(
                    frames.iter().all(|f| f.count(YELLOW) == 0),
                    "the student who refused the recording is in the broadcast ({})",
                    done.display()
                );
                if let Some(last) = frames.last() {
                    // What the broadcast showed last, for a person to look at.
                    let mut ppm = format!("P6 {W} {H} 255\n").into_bytes();
                    ppm.extend_from_slice(&last.0);
                    let _ =
                        std::fs::write(std::env::temp_dir().join("compose-last-frame.ppm"), ppm);
                }
                frames.iter().any(check)
            })
            .await
            .expect("decoding");
            found.then_some(())
        }
    })
    .await
}

/// A classroom socket, authenticated and welcomed.
async fn classroom(base: &str, id: &str, tok: &str) -> Socket {
    let url = format!("{}/ws/sessions/{id}", base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
    send(&mut ws, json!({ "type": "auth", "token": tok })).await;
    expect_message(&mut ws, "welcome").await;
    ws
}

/// Reads a socket until it closes (its pings answered).
async fn drain(mut ws: Socket) {
    while let Some(Ok(_)) = ws.next().await {}
}

async fn send(ws: &mut Socket, message: Value) {
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        message.to_string(),
    ))
    .await
    .expect("send");
}

/// `student` raises a hand and the instructor calls them onto the stage:
/// their publish token.
async fn on_stage(teacher: &mut Socket, student: &mut Socket, id: &str) -> String {
    send(student, json!({ "type": "raise_hand" })).await;
    send(
        teacher,
        json!({ "type": "call_on", "participant_id": id, "stage": true }),
    )
    .await;
    let called = expect_message(student, "called_on").await;
    called["publish_token"]
        .as_str()
        .expect("publish token")
        .to_owned()
}

async fn expect_message(ws: &mut Socket, kind: &str) -> Value {
    let wait = async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Ok(text) = frame.to_text() {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if v["type"] == kind {
                    return v;
                }
            }
        }
        panic!("the socket closed before {kind}");
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} message within 10 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadcast_and_the_recording_show_the_layout_without_who_refused() {
    let server = ServerProcess::start(&[]);
    let base = server.url.clone();
    let teacher = token(Role::Instructor, "grace", None);
    let id = common::session_with(
        &base,
        &teacher,
        json!({ "title": "Optics", "record": true }),
    )
    .await;
    let whip = format!("{base}/whip/{id}");
    consent(&base, &id, &token(Role::Student, "ada", Some(&id)), true).await;
    consent(&base, &id, &token(Role::Student, "bob", Some(&id)), false).await;

    // One publish: the ladder takes it as it comes (no composition yet).
    // Small, slow sources: the picture is the server's canvas whatever they
    // are, and a 2-core machine running the whole suite has room for them.
    let camera = coloured(&whip, &teacher, RED, (320, 180), 15).await;
    let rung = server.data_dir.join("hls").join(&id).join("720p");
    wait_for(Duration::from_secs(30), "the first segments", || async {
        (segments(&rung).len() >= 2).then_some(())
    })
    .await;

    // Two students called on stage: the auto layout is the stage grid.
    let mut socket = classroom(&base, &id, &teacher).await;
    let (ada_t, bob_t) = (
        token(Role::Student, "ada", Some(&id)),
        token(Role::Student, "bob", Some(&id)),
    );
    let mut ada_socket = classroom(&base, &id, &ada_t).await;
    let mut bob_socket = classroom(&base, &id, &bob_t).await;
    let ada_stage = on_stage(&mut socket, &mut ada_socket, "ada").await;
    let bob_stage = on_stage(&mut socket, &mut bob_socket, "bob").await;
    // Sockets that nobody reads stop answering pings and are dropped after a
    // minute, and a student who leaves is off the stage: keep them read.
    for ws in [socket, ada_socket, bob_socket] {
        tokio::spawn(drain(ws));
    }
    let ada = coloured(&whip, &ada_stage, GREEN, (320, 180), 15).await;
    let bob = coloured(&whip, &bob_stage, YELLOW, (320, 180), 15).await;
    segment_showing(&rung, "the stage grid in HLS", shows_stage).await;

    // A plain WHEP client, with no classroom socket, plays the instructor.
    let viewer = ClientProcess::aiortc_viewer(&format!("{base}/whep/{id}"), &teacher, 3, &[]);
    let done = viewer.expect_event("done", Duration::from_secs(30));
    assert!(
        done["video"]["frames_decoded"].as_u64().unwrap_or(0) > 20,
        "a plain WHEP client plays the main broadcast: {done}"
    );
    assert_eq!(
        done["video"]["width"], 320,
        "the instructor's camera, not the composition: {done}"
    );

    // The screen share: the auto layout puts it large.
    let screen = coloured(
        &format!("{whip}?source=screen"),
        &teacher,
        BLUE,
        (1280, 720),
        5,
    )
    .await;
    segment_showing(&rung, "the screen layout in HLS", shows_screen).await;

    // A participant views the screen share itself (its own WHEP resource).
    let session = common::get_session(&base, &teacher, &id).await;
    let shared = session["publishes"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["kind"] == "screen"))
        .and_then(|p| p["id"].as_str())
        .expect("the screen share is listed")
        .to_owned();
    let viewer = ClientProcess::aiortc_viewer(
        &format!("{base}/whep/{id}?publish={shared}"),
        &teacher,
        3,
        &[],
    );
    let done = viewer.expect_event("done", Duration::from_secs(30));
    assert_eq!(
        done["video"]["width"], 1280,
        "the screen share, not the camera: {done}"
    );

    // The instructor chooses the stage while still sharing.
    let mut socket = classroom(&base, &id, &teacher).await;
    send(
        &mut socket,
        json!({ "type": "set_layout", "layout": "stage" }),
    )
    .await;
    let told = expect_message(&mut socket, "layout").await;
    assert_eq!(told["layout"], "stage");
    segment_showing(&rung, "the chosen stage layout in HLS", shows_stage).await;

    for publish in [screen, bob, ada, camera] {
        publish.stop().await.expect("stop");
    }

    // The recording: one MP4 that shows both layouts and never the refusal.
    let recordings = wait_for(Duration::from_secs(60), "the recording", || async {
        let v: Value = http()
            .get(format!("{base}/api/sessions/{id}/recordings"))
            .bearer_auth(&teacher)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let all = v["recordings"].as_array()?.clone();
        (!all.is_empty() && all.iter().all(|r| r["state"] == "ready")).then_some(all)
    })
    .await;
    let mut seen_stage = false;
    let mut seen_screen = false;
    let mut chapters = Vec::new();
    for r in &recordings {
        let url = r["url"].as_str().expect("url");
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{base}{url}")
        };
        let bytes = http()
            .get(&url)
            .bearer_auth(&teacher)
            .send()
            .await
            .expect("GET mp4")
            .bytes()
            .await
            .expect("mp4");
        let file = server
            .data_dir
            .join(format!("check-{}.mp4", r["id"].as_str().unwrap_or("r")));
        std::fs::write(&file, &bytes).expect("write");
        let frames = tokio::task::spawn_blocking(move || frames(&file, "1"))
            .await
            .expect("decode");
        assert!(
            frames.iter().all(|f| f.count(YELLOW) == 0),
            "the refusing student is in the recording"
        );
        seen_stage |= frames.iter().any(shows_stage);
        seen_screen |= frames.iter().any(shows_screen);
        chapters.extend(r["chapters"].as_array().cloned().unwrap_or_default());
    }
    assert!(
        seen_stage && seen_screen,
        "the recording shows the stage ({seen_stage}) and the screen ({seen_screen})"
    );
    let titles: Vec<&str> = chapters
        .iter()
        .filter_map(|c| c["title"].as_str())
        .collect();
    for layout in ["Stage", "Screen share"] {
        assert!(titles.contains(&layout), "chapter {layout} in {chapters:?}");
    }
}

/// A viewer on a 600 kbit/s downlink watching the instructor's camera and
/// screen share (two WHEP resources through one policer): the screen keeps
/// its full size at a few frames a second, the camera steps down a rung.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrow_link_keeps_the_screen_full_size_and_steps_the_camera_down() {
    let server = ServerProcess::start(&[]);
    let base = server.url.clone();
    let teacher = token(Role::Instructor, "grace", None);
    let id = common::create_session(&base, &teacher, "Slides").await;
    let whip = format!("{base}/whip/{id}");
    // Noise: every frame costs bits, as a moving camera and a busy screen do.
    let camera = publish_pattern(&whip, &teacher, "snow", (1280, 720), 30, 1500).await;
    let screen = publish_pattern(
        &format!("{whip}?source=screen"),
        &teacher,
        "snow",
        (1280, 720),
        15,
        1200,
    )
    .await;
    let publishes = wait_for(
        Duration::from_secs(20),
        "both publishes flowing",
        || async {
            let session = common::get_session(&base, &teacher, &id).await;
            let all = session["publishes"].as_array()?.clone();
            (all.len() == 2 && all.iter().all(|p| p["ready"] == true)).then_some(all)
        },
    )
    .await;
    let of = |kind: &str| {
        let p = publishes
            .iter()
            .find(|p| p["kind"] == kind)
            .expect("listed");
        format!("{base}/whep/{id}?publish={}", p["id"].as_str().expect("id"))
    };
    // The composition (two publishes) makes the lighter encodings.
    wait_for(Duration::from_secs(20), "the composition", || async {
        let dir = server.data_dir.join("hls").join(&id).join("720p");
        (segments(&dir).len() >= 2).then_some(())
    })
    .await;
    let viewer = ClientProcess::aiortc_viewer(
        &of("camera"),
        &teacher,
        30,
        &["--url", &of("screen"), "--police", "600@4-"],
    );
    let done = viewer.expect_event("done", Duration::from_secs(60));
    let views = done["views"].as_array().expect("views");
    let (cam, scr) = (&views[0]["video"], &views[1]["video"]);
    eprintln!(
        "600 kbit/s: camera {cam}\nscreen {scr}\npolice {}",
        done["police"]
    );
    // Judged over the whole run, not its last moment: an adapter may probe a
    // better level now and then.
    let widths = |v: &Value| -> Vec<u64> {
        v["sizes"]
            .as_array()
            .map(|s| s.iter().filter_map(|e| e["width"].as_u64()).collect())
            .unwrap_or_default()
    };
    assert!(
        widths(scr).iter().all(|&w| w == 1280) && scr["width"] == 1280,
        "the screen share keeps its size: {done}"
    );
    // 30 s of a 15 fps share: about 450 frames at the source's rate, about
    // 150 at 5 fps.
    let frames = scr["frames_decoded"].as_u64().unwrap_or(0);
    assert!(
        (40..300).contains(&frames),
        "the screen share mostly at a few frames a second: {frames} frames ({done})"
    );
    assert!(
        widths(cam).contains(&640),
        "the camera steps down to a rung: {done}"
    );
    assert!(
        cam["fps_5s"].as_f64().unwrap_or(0.0) > 1.0,
        "the camera still moves: {done}"
    );
    camera.stop().await.expect("stop");
    screen.stop().await.expect("stop");
}
