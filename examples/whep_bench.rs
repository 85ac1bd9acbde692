//! WebRTC viewing (WHEP), on one machine, all on loopback addresses:
//! 1. glass-to-glass latency: a GStreamer WHIP publisher writes its capture
//!    time (µs since the epoch) into every raw frame as a row of 16x16
//!    black/white blocks (and the complement row under it) before x264; a
//!    GStreamer WHEP viewer decodes, reads the blocks back and compares them
//!    with its own wall clock (same process, same clock);
//! 2. time to first frame: repeated joins, POST to the first decoded frame;
//! 3. fan-out: CPU and memory per viewer of classcast and of Janus (the peer)
//!    for N count-only viewers (../shared/tools/janus-fanout), the same H.264
//!    720p 2.5 Mb/s bitstream into both.
//!
//! Run as `make bench` does: `benches/netns.sh target/release/examples/whep_bench`
//! (a network namespace whose candidates are 127.x). Writes BENCHMARKS.md.
//! Knobs (environment): WHEP_BENCH_PARTS (latency,joins,fanout), WHEP_BENCH_SECONDS
//! (latency window, 40), WHEP_BENCH_JOINS (20), WHEP_BENCH_NS ("0 25 50 100 200"),
//! WHEP_BENCH_WINDOW (fan-out window, 30 s), FANOUT_TOOLS, PY.

#[path = "common/report.rs"]
mod report;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gst::prelude::*;
use gst_video::prelude::*;
use gst_webrtc::WebRTCRTPTransceiverDirection;

use classcast::auth::Role;
use classcast::client::WhipClient;
use classcast::media::webrtc::{apply_answer, create_offer, set_ice_servers};
use classcast::media::OwnedPipeline;

type Error = Box<dyn std::error::Error>;

/// The stamp: BITS blocks of BLOCK x BLOCK pixels in the top rows, then the
/// same bits inverted in the next row of blocks (a read is valid only when
/// every block is clearly black or white and the two rows disagree everywhere).
const BLOCK: usize = 16;
const BITS: usize = 56;
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u32 = 30;
const VIDEO_KBPS: u32 = 2500;
/// Where source.sh sends its RTP for the relay into classcast.
const RELAY_VIDEO_PORT: u16 = 5014;
const RELAY_AUDIO_PORT: u16 = 5012;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs
}

/// `| name | p50 | p95 | min | max | n |`
fn summary_row(name: &str, xs: &[f64]) -> String {
    let xs = sorted(xs.to_vec());
    format!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
        percentile(&xs, 0.5),
        percentile(&xs, 0.95),
        xs.first().copied().unwrap_or(f64::NAN),
        xs.last().copied().unwrap_or(f64::NAN),
        xs.len()
    )
}

// ---------------------------------------------------------------- the stamp

fn stamp_frame(buffer: &mut gst::BufferRef, info: &gst_video::VideoInfo, us: u64) {
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info) else {
        return;
    };
    let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
    if let Ok(y) = frame.plane_data_mut(0) {
        for row in 0..2 * BLOCK {
            let line = &mut y[row * strides[0]..row * strides[0] + BITS * BLOCK];
            for bit in 0..BITS {
                let one = (us >> (BITS - 1 - bit)) & 1 == 1;
                let white = one != (row >= BLOCK);
                line[bit * BLOCK..(bit + 1) * BLOCK].fill(if white { 235 } else { 16 });
            }
        }
    }
    // Neutral chroma under the blocks (I420: half size).
    for plane in 1..3 {
        if let Ok(c) = frame.plane_data_mut(plane) {
            for row in 0..BLOCK {
                let start = row * strides[plane as usize];
                c[start..start + BITS * BLOCK / 2].fill(128);
            }
        }
    }
}

/// Mean luma of the centre 8x8 of block `bit` in block row `row`.
fn block_mean(y: &[u8], stride: usize, bit: usize, row: usize) -> i32 {
    let mut sum = 0i32;
    for dy in 4..12 {
        let start = (row * BLOCK + dy) * stride + bit * BLOCK + 4;
        sum += y[start..start + 8]
            .iter()
            .map(|v| i32::from(*v))
            .sum::<i32>();
    }
    sum / 64
}

fn read_stamp(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Option<u64> {
    if (info.width() as usize) < BITS * BLOCK || (info.height() as usize) < 2 * BLOCK {
        return None;
    }
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).ok()?;
    let stride = frame.plane_stride()[0] as usize;
    let y = frame.plane_data(0).ok()?;
    let mut value = 0u64;
    for bit in 0..BITS {
        let (a, b) = (block_mean(y, stride, bit, 0), block_mean(y, stride, bit, 1));
        if (a - 128).abs() < 40 || (b - 128).abs() < 40 || (a > 128) == (b > 128) {
            return None;
        }
        value = (value << 1) | u64::from(a > 128);
    }
    Some(value)
}

// ---------------------------------------------------------------- WHIP / WHEP

/// DELETEs a WHIP/WHEP resource and stops its pipeline.
async fn end_resource(
    http: &reqwest::Client,
    location: &str,
    token: &str,
    pipeline: &OwnedPipeline,
) {
    let _ = http.delete(location).bearer_auth(token).send().await;
    let _ = pipeline.set_state(gst::State::Null).await;
}

/// Offer → POST → answer on `webrtcbin` (already in a playing pipeline).
/// Returns the resource URL, when the POST was sent, and how long it took.
async fn negotiate(
    webrtcbin: &gst::Element,
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(String, Instant, Duration), Error> {
    // No ICE servers; this also turns off UPnP (SSDP on a loopback netns).
    set_ice_servers(webrtcbin, &[]);
    let sdp = create_offer(webrtcbin, Duration::from_secs(5)).await?;
    let posted = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await?;
    let took = posted.elapsed();
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("{url} answered {status}: {body}").into());
    }
    let location = reqwest::Url::parse(url)?
        .join(&location.ok_or("no Location")?)?
        .to_string();
    apply_answer(webrtcbin, &body).await?;
    Ok((location, posted, took))
}

fn make_pipeline(text: &str) -> Result<(gst::Pipeline, gst::Element), Error> {
    let pipeline = gst::parse::launch(text)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let webrtcbin = pipeline.by_name("webrtc").ok_or("no webrtcbin")?;
    Ok((pipeline, webrtcbin))
}

const OPUS_OUT: &str = "rtpopuspay pt=111 mtu=1200 \
    ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! webrtc.";
const H264_OUT: &str = "rtph264pay pt=96 mtu=1200 config-interval=-1 aggregate-mode=zero-latency \
    ! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,\
packetization-mode=(string)1 ! webrtc.";

/// Publishes `pipeline` over WHIP with the crate's client, without ICE
/// servers (which also turns off UPnP: SSDP on a loopback netns).
async fn whip_publish(
    pipeline: gst::Pipeline,
    url: &str,
    token: &str,
) -> Result<WhipClient, Error> {
    let webrtcbin = pipeline.by_name("webrtc").ok_or("no webrtcbin")?;
    set_ice_servers(&webrtcbin, &[]);
    Ok(WhipClient::publish_pipeline(pipeline, url, token).await?)
}

/// Capture times by PTS, and capture → encoded delays, of the stamp publisher.
#[derive(Default)]
struct EncodeClock {
    /// Capture time by PTS, from the stamp to the encoder's input.
    captured: HashMap<u64, u64>,
    /// Capture times of the frames inside x264 (which shifts PTS by 1000 h,
    /// so its output is matched in order: no B-frames, one out per one in).
    encoding: VecDeque<u64>,
    delays_ms: Vec<(u64, f64)>,
}

/// The latency publisher: 720p30 test pattern (moving), stamped before x264.
async fn stamp_publisher(
    url: &str,
    token: &str,
    threads: u32,
) -> Result<(WhipClient, Arc<Mutex<EncodeClock>>), Error> {
    let text = format!(
        "webrtcbin name=webrtc bundle-policy=max-bundle \
         videotestsrc is-live=true pattern=smpte horizontal-speed=4 \
         ! video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1 \
         ! identity name=stamp \
         ! queue max-size-buffers=2 leaky=downstream \
         ! x264enc name=enc tune=zerolatency sliced-threads=false threads={threads} speed-preset=ultrafast \
           bitrate={VIDEO_KBPS} key-int-max={gop} \
         ! video/x-h264,profile=constrained-baseline ! identity name=encoded ! {H264_OUT} \
         audiotestsrc is-live=true wave=sine freq=440 volume=0.2 \
         ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
         ! opusenc bitrate=64000 ! {OPUS_OUT}",
        gop = FPS * 2
    );
    let (pipeline, _) = make_pipeline(&text)?;
    let clock = Arc::new(Mutex::new(EncodeClock::default()));
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, WIDTH, HEIGHT).build()?;
    let stamp = pipeline.by_name("stamp").ok_or("no stamp")?;
    let c = clock.clone();
    stamp.static_pad("src").ok_or("no stamp pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |_, probe| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_mut() {
                let us = now_us();
                let buffer = buffer.make_mut();
                stamp_frame(buffer, &info, us);
                if let (Some(pts), Ok(mut c)) = (buffer.pts(), c.lock()) {
                    if c.captured.len() > 600 {
                        c.captured.clear();
                    }
                    c.captured.insert(pts.nseconds(), us);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    let enc = pipeline.by_name("enc").ok_or("no enc")?;
    let c = clock.clone();
    enc.static_pad("sink").ok_or("no enc pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |_, probe| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_ref() {
                if let (Some(pts), Ok(mut c)) = (buffer.pts(), c.lock()) {
                    if let Some(at) = c.captured.remove(&pts.nseconds()) {
                        c.encoding.push_back(at);
                    }
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    let encoded = pipeline.by_name("encoded").ok_or("no encoded")?;
    let c = clock.clone();
    encoded
        .static_pad("src")
        .ok_or("no encoded pad")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if let Ok(mut c) = c.lock() {
                if let Some(at) = c.encoding.pop_front() {
                    let now = now_us();
                    c.delays_ms
                        .push((now, (now.saturating_sub(at)) as f64 / 1000.0));
                }
            }
            gst::PadProbeReturn::Ok
        });
    Ok((whip_publish(pipeline, url, token).await?, clock))
}

/// One decoded frame at the viewer.
struct Frame {
    at: Instant,
    now_us: u64,
    stamp_us: Option<u64>,
}

/// A GStreamer WHEP viewer: recvonly H.264 + Opus, video decoded (avdec_h264,
/// one thread: no frame-threading delay) into an appsink that reads the stamp.
struct Viewer {
    pipeline: OwnedPipeline,
    location: String,
    token: String,
    http: reqwest::Client,
    posted: Instant,
    post_to_201: Duration,
    /// When webrtcbin reported the connection (ICE + DTLS) up.
    connected: Arc<Mutex<Option<Instant>>>,
    frames: tokio::sync::mpsc::UnboundedReceiver<Frame>,
}

impl Viewer {
    async fn join(url: &str, token: &str) -> Result<Self, Error> {
        let pipeline = gst::Pipeline::new();
        // webrtcbin's jitter buffer (default 200 ms) holds the first packets
        // for its latency; in-order packets after that pass at once.
        let latency: u32 = env_or("WHEP_BENCH_VIEWER_LATENCY_MS", 200);
        let webrtcbin = gst::ElementFactory::make("webrtcbin")
            .name("webrtc")
            .property_from_str("bundle-policy", "max-bundle")
            .property("latency", latency)
            .build()?;
        pipeline.add(&webrtcbin)?;
        let video: gst::Caps =
            "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,\
             packetization-mode=(string)1,profile-level-id=(string)42e01f,\
             rtcp-fb-nack=(boolean)true,rtcp-fb-nack-pli=(boolean)true"
                .parse()?;
        let audio: gst::Caps =
            "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,\
             encoding-params=(string)2"
                .parse()?;
        for caps in [&video, &audio] {
            let t = webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                "add-transceiver",
                &[&WebRTCRTPTransceiverDirection::Recvonly, caps],
            );
            t.set_property("do-nack", true);
        }
        let (tx, frames) = tokio::sync::mpsc::unbounded_channel();
        let bin_parent = pipeline.downgrade();
        webrtcbin.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .and_then(|s| s.get::<&str>("media").ok())
                .is_some_and(|m| m == "video");
            let description = if is_video {
                "rtph264depay request-keyframe=true wait-for-keyframe=true ! h264parse \
                 ! avdec_h264 max-threads=1 ! videoconvert ! video/x-raw,format=I420 \
                 ! appsink name=frames sync=false max-buffers=4 drop=true"
            } else {
                "rtpopusdepay ! opusdec ! fakesink sync=false async=false"
            };
            let Ok(bin) = gst::parse::bin_from_description(description, true) else {
                return;
            };
            if let Some(sink) = bin
                .by_name("frames")
                .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
            {
                let tx = tx.clone();
                sink.set_callbacks(
                    gst_app::AppSinkCallbacks::builder()
                        .new_sample(move |sink| {
                            let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                            let (at, now) = (Instant::now(), now_us());
                            let stamp = match (sample.buffer(), sample.caps()) {
                                (Some(buffer), Some(caps)) => gst_video::VideoInfo::from_caps(caps)
                                    .ok()
                                    .and_then(|info| read_stamp(buffer, &info)),
                                _ => None,
                            };
                            let _ = tx.send(Frame {
                                at,
                                now_us: now,
                                stamp_us: stamp,
                            });
                            Ok(gst::FlowSuccess::Ok)
                        })
                        .build(),
                );
            }
            let Some(parent) = bin_parent.upgrade() else {
                return;
            };
            if parent.add(&bin).is_err() {
                return;
            }
            let _ = bin.sync_state_with_parent();
            if let Some(sink) = bin.static_pad("sink") {
                let _ = pad.link(&sink);
            }
        });
        let connected = Arc::new(Mutex::new(None));
        let c = connected.clone();
        webrtcbin.connect_notify(Some("connection-state"), move |w, _| {
            let state = w.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
            if state == gst_webrtc::WebRTCPeerConnectionState::Connected {
                if let Ok(mut c) = c.lock() {
                    c.get_or_insert_with(Instant::now);
                }
            }
        });
        let owned = OwnedPipeline::new(pipeline);
        owned.set_state(gst::State::Playing).await?;
        let http = reqwest::Client::new();
        let (location, posted, post_to_201) = negotiate(&webrtcbin, &http, url, token).await?;
        Ok(Viewer {
            pipeline: owned,
            location,
            token: token.to_owned(),
            http,
            posted,
            post_to_201,
            connected,
            frames,
        })
    }

    async fn next_frame(&mut self, limit: Duration) -> Option<Frame> {
        tokio::time::timeout(limit, self.frames.recv())
            .await
            .ok()
            .flatten()
    }

    fn resource_id(&self) -> String {
        self.location
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    async fn leave(self) {
        end_resource(&self.http, &self.location, &self.token, &self.pipeline).await;
    }
}

// ---------------------------------------------------------------- the server

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `target/release/classcast serve` as a child process (its CPU is its own).
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    instructor: String,
    /// Started with --disable-hls.
    no_hls: bool,
}

impl Server {
    async fn start(data: &Path, extra: &[&str]) -> Result<Self, Error> {
        let bin = report::manifest().join("target/release/classcast");
        let port = free_port()?;
        let _ = std::fs::remove_dir_all(data);
        std::fs::create_dir_all(data)?;
        let log = std::fs::File::create(data.join("server.log"))?;
        let child = Command::new(&bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--jwt-secret", report::SECRET, "--data-dir"])
            .arg(data)
            // The bench's viewers share one student token.
            .args(["--max-views-per-user", "100000"])
            .args(extra)
            // Every viewer is 127.0.0.1 (or the bench's namespace): the
            // server's per-address and per-user limits would stop the load.
            .env("CLASSCAST_MAX_CONNECTIONS_PER_IP", "0")
            .env("CLASSCAST_RATE_LIMIT_IP", "off")
            .env("CLASSCAST_RATE_LIMIT_USER", "off")
            .current_dir(report::manifest())
            // The default log filter, as deployed (RUST_LOG=warn writes a
            // GStreamer warning per RTP packet per viewer: ~100 MB a run).
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e} (cargo build --release)", bin.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            base,
            http,
            instructor: report::token("bench-instructor", Role::Instructor, None)?,
            no_hls: extra.contains(&"--disable-hls"),
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    async fn create_session(&self) -> Result<String, Error> {
        let session: serde_json::Value = self
            .http
            .post(format!("{}/api/sessions", self.base))
            .bearer_auth(&self.instructor)
            .json(&serde_json::json!({ "title": "whep bench", "max_webrtc_viewers": 500 }))
            .send()
            .await?
            .json()
            .await?;
        Ok(session["id"].as_str().ok_or("no session id")?.to_owned())
    }

    async fn get(&self, path: &str) -> Result<serde_json::Value, Error> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.instructor)
            .send()
            .await?
            .json()
            .await?)
    }

    /// Waits until the session is live and every ladder rung has a segment.
    async fn wait_ladder(&self, id: &str, limit: Duration) -> Result<Vec<String>, Error> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            let v = self.get(&format!("/api/sessions/{id}")).await?;
            if self.no_hls && v["media"]["first_video_frame_ms"].is_number() {
                return Ok(vec!["none (--disable-hls)".into()]);
            }
            let rungs = v["hls"]["rungs"].as_array().cloned().unwrap_or_default();
            if v["live"].as_bool() == Some(true)
                && !rungs.is_empty()
                && rungs
                    .iter()
                    .all(|r| r["segments"].as_u64().unwrap_or(0) >= 1)
            {
                return Ok(rungs
                    .iter()
                    .map(|r| r["name"].as_str().unwrap_or("?").to_owned())
                    .collect());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!("session {id}: the ladder did not start within {limit:?}").into())
    }

    /// An error if the server process has exited.
    fn alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("classcast exited: {status}").into()),
        }
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after 5 s (in `drop`).
    fn stop(mut self) {
        let pid = self.pid();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------- 1 + 2

struct LatencyResult {
    /// Machine busy (% of one core) before the server started.
    background: f64,
    glass_ms: Vec<f64>,
    encode_ms: Vec<f64>,
    unreadable: usize,
    frames: usize,
    seconds: f64,
    server_cpu: f64,
    viewer_stats: serde_json::Value,
    rungs: Vec<String>,
}

struct JoinsResult {
    first_frame_ms: Vec<f64>,
    post_ms: Vec<f64>,
    connected_ms: Vec<f64>,
    server_first_frame_ms: Vec<f64>,
    /// The same joins from headless Chromium (tests/browser/view.mjs).
    browser_first_frame_ms: Vec<f64>,
    browser_post_ms: Vec<f64>,
}

/// One join from headless Chromium: (POST → 201, POST → first decoded
/// frame) in ms, as the page measured them (framesDecoded polled every 50 ms).
fn browser_join(url: &str, token: &str) -> Result<(f64, f64), Error> {
    let out = std::process::Command::new("node")
        .current_dir(report::manifest().join("tests/browser"))
        .args(["view.mjs", "--url", url, "--token", token])
        .args(["--until-frames", "1", "--seconds", "10"])
        .output()?;
    let (mut post, mut first) = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v["event"].as_str() {
            Some("answer") => post = v["ms_to_201"].as_f64(),
            Some("first-frame") => first = v["ms"].as_f64(),
            _ => {}
        }
    }
    match (post, first) {
        (Some(p), Some(f)) => Ok((p, f)),
        _ => Err(format!(
            "Chromium viewer: no first frame ({})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )
        .into()),
    }
}

async fn latency_and_joins(
    work: &Path,
    seconds: u64,
    joins: usize,
) -> Result<(Option<LatencyResult>, Option<JoinsResult>), Error> {
    let background = wait_quiet();
    let server = Server::start(&work.join("latency"), &[]).await?;
    let id = server.create_session().await?;
    let threads: u32 = env_or("WHEP_BENCH_X264_THREADS", 1);
    let (publish, clock) = stamp_publisher(
        &format!("{}/whip/{id}", server.base),
        &server.instructor,
        threads,
    )
    .await?;
    let rungs = server.wait_ladder(&id, Duration::from_secs(30)).await?;
    eprintln!("latency: publishing, ladder {rungs:?} running");
    let whep = format!("{}/whep/{id}", server.base);
    let student = report::token("bench-viewer", Role::Student, Some(&id))?;

    let mut latency = None;
    if seconds > 0 {
        let mut viewer = Viewer::join(&whep, &student).await?;
        // First frame, then 3 s to settle, then the window.
        viewer
            .next_frame(Duration::from_secs(10))
            .await
            .ok_or("the latency viewer got no frame in 10 s")?;
        let settle = Instant::now() + Duration::from_secs(3);
        while Instant::now() < settle {
            viewer.next_frame(Duration::from_secs(1)).await;
        }
        let cpu0 = report::cpu_seconds(&server.pid());
        let (t0, t0_us) = (Instant::now(), now_us());
        let (mut glass, mut unreadable, mut frames) = (Vec::new(), 0, 0);
        while t0.elapsed() < Duration::from_secs(seconds) {
            let Some(f) = viewer.next_frame(Duration::from_secs(2)).await else {
                continue;
            };
            frames += 1;
            match f.stamp_us {
                Some(s) if s <= f.now_us && f.now_us - s < 60_000_000 => {
                    glass.push((f.now_us - s) as f64 / 1000.0)
                }
                _ => unreadable += 1,
            }
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let server_cpu = (report::cpu_seconds(&server.pid()) - cpu0) / elapsed * 100.0;
        let encode_ms: Vec<f64> = clock
            .lock()
            .map(|c| {
                c.delays_ms
                    .iter()
                    .filter(|(at, _)| *at >= t0_us)
                    .map(|(_, d)| *d)
                    .collect()
            })
            .unwrap_or_default();
        let viewers = server.get(&format!("/api/sessions/{id}/viewers")).await?;
        let rid = viewer.resource_id();
        let viewer_stats = viewers["viewers"]
            .as_array()
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v["resource_id"] == rid.as_str())
                    .cloned()
            })
            .unwrap_or_default();
        viewer.leave().await;
        eprintln!(
            "latency: {} frames, {} read, p50 {:.0} ms",
            frames,
            glass.len(),
            percentile(&sorted(glass.clone()), 0.5)
        );
        latency = Some(LatencyResult {
            background,
            glass_ms: glass,
            encode_ms,
            unreadable,
            frames,
            seconds: elapsed,
            server_cpu,
            viewer_stats,
            rungs: rungs.clone(),
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let mut result = None;
    if joins > 0 {
        let mut r = JoinsResult {
            first_frame_ms: Vec::new(),
            post_ms: Vec::new(),
            connected_ms: Vec::new(),
            server_first_frame_ms: Vec::new(),
            browser_first_frame_ms: Vec::new(),
            browser_post_ms: Vec::new(),
        };
        for join in 0..joins {
            let mut viewer = Viewer::join(&whep, &student).await?;
            let first = viewer
                .next_frame(Duration::from_secs(10))
                .await
                .ok_or(format!("join {join}: no decoded frame in 10 s"))?;
            let ms = first.at.duration_since(viewer.posted).as_secs_f64() * 1000.0;
            r.first_frame_ms.push(ms);
            r.post_ms.push(viewer.post_to_201.as_secs_f64() * 1000.0);
            if let Some(at) = viewer.connected.lock().ok().and_then(|c| *c) {
                r.connected_ms
                    .push(at.duration_since(viewer.posted).as_secs_f64() * 1000.0);
            }
            let rid = viewer.resource_id();
            // The server refreshes a viewer's figures once a second.
            for _ in 0..15 {
                let viewers = server.get(&format!("/api/sessions/{id}/viewers")).await?;
                if let Some(s) = viewers["viewers"]
                    .as_array()
                    .and_then(|vs| vs.iter().find(|v| v["resource_id"] == rid.as_str()))
                    .and_then(|v| v["first_frame_ms"].as_f64())
                {
                    r.server_first_frame_ms.push(s);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            eprintln!(
                "join {join}: POST→201 {:.0} ms, POST→first decoded frame {ms:.0} ms",
                r.post_ms[join]
            );
            viewer.leave().await;
            // Joins at random points of the 2 s GOP.
            let pause = 700 + u64::from(rand::random::<u16>() % 1300);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        let browser_joins: usize = env_or("WHEP_BENCH_BROWSER_JOINS", joins);
        for join in 0..browser_joins {
            let (url, token) = (whep.clone(), student.clone());
            match tokio::task::spawn_blocking(move || {
                browser_join(&url, &token).map_err(|e| e.to_string())
            })
            .await?
            {
                Ok((post, first)) => {
                    eprintln!("Chromium join {join}: POST→201 {post:.0} ms, POST→first decoded frame {first:.0} ms");
                    r.browser_post_ms.push(post);
                    r.browser_first_frame_ms.push(first);
                }
                Err(e) => eprintln!("Chromium join {join}: {e}"),
            }
            let pause = 700 + u64::from(rand::random::<u16>() % 1300);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        result = Some(r);
    }
    // The bench measured what it came for; a failed DELETE changes nothing.
    let _ = publish.stop().await;
    server.stop();
    Ok((latency, result))
}

// ---------------------------------------------------------------- 3: fan-out

/// Machine busy over `secs`, % of one core.
fn machine_busy(secs: f64) -> f64 {
    let read = || -> (f64, f64) {
        let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<f64> = s
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 8 {
            return (0.0, 0.0);
        }
        let total: f64 = v.iter().sum();
        (total - v[3] - v[4], total)
    };
    let (b0, t0) = read();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (b1, t1) = read();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    if t1 > t0 {
        100.0 * cores * (b1 - b0) / (t1 - t0)
    } else {
        0.0
    }
}

/// Waits (WHEP_BENCH_QUIET_WAIT s, 300) until the machine is below
/// WHEP_BENCH_QUIET_PCT (20 %) busy; returns the last reading.
fn wait_quiet() -> f64 {
    let (limit, wait): (f64, u64) = (
        env_or("WHEP_BENCH_QUIET_PCT", 20.0),
        env_or("WHEP_BENCH_QUIET_WAIT", 300),
    );
    let t0 = Instant::now();
    loop {
        let busy = machine_busy(3.0);
        if busy < limit || t0.elapsed() > Duration::from_secs(wait) {
            return busy;
        }
        eprintln!("fan-out: machine {busy:.0}% busy with other work; waiting");
        std::thread::sleep(Duration::from_secs(10));
    }
}

struct FanoutTools {
    dir: PathBuf,
    python: PathBuf,
    run: PathBuf,
    ice_ip: String,
    /// The measured window of each viewers.py run, seconds.
    window: u64,
}

impl FanoutTools {
    fn script(&self, name: &str, arg: &str, env: &[(&str, &str)]) -> Result<(), Error> {
        let status = Command::new(self.dir.join(name))
            .arg(arg)
            .env("FANOUT_RUN", &self.run)
            .env("JANUS_ICE_ENFORCE", &self.ice_ip)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("{name} {arg} failed").into());
        }
        Ok(())
    }

    fn pid(&self, name: &str) -> Result<String, Error> {
        Ok(
            std::fs::read_to_string(self.run.join(format!("{name}.pid")))?
                .trim()
                .to_owned(),
        )
    }
}

#[derive(Clone)]
struct FanoutRow {
    server: &'static str,
    n: usize,
    result: serde_json::Value,
    background: f64,
    levels: String,
}

impl FanoutRow {
    fn cpu(&self, who: &str) -> Option<f64> {
        self.result["cpu_pct"][who].as_f64()
    }
    fn rss(&self) -> Option<f64> {
        self.result["rss_mb"]["server"].as_f64()
    }
}

/// Runs viewers.py (MODE URL N WINDOW) against a started server.
fn run_viewers(
    tools: &FanoutTools,
    out: &Path,
    mode: &str,
    url: &str,
    n: usize,
    pids: &[(&str, String)],
    token: Option<&str>,
) -> Result<serde_json::Value, Error> {
    let json = out.with_extension("json");
    let mut cmd = Command::new(&tools.python);
    cmd.arg(tools.dir.join("viewers.py"))
        .args([mode, url, &n.to_string(), &tools.window.to_string()])
        .args(["--warmup", "5", "--local-ip", &tools.ice_ip, "--json-out"])
        .arg(&json)
        .stdout(std::fs::File::create(out.with_extension("stdout"))?)
        .stderr(std::fs::File::create(out.with_extension("stderr"))?);
    for (name, pid) in pids {
        cmd.args(["--pid", &format!("{name}={pid}")]);
    }
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    // WHEP_BENCH_PERF=N: a CPU profile of the server while N viewers run
    // (perf record -g, 15 s from 20 s after the start), as <out>.perf.txt.
    let profile = std::env::var("WHEP_BENCH_PERF")
        .ok()
        .filter(|v| v.split_whitespace().any(|x| x == n.to_string()))
        .and_then(|_| pids.iter().find(|(name, _)| *name == "server"))
        .map(|(_, pid)| {
            let data = out.with_extension("perf.data");
            let pid = pid.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(20));
                let _ = Command::new("perf")
                    .args(["record", "-F", "499", "-g", "-p", &pid, "-o"])
                    .arg(&data)
                    .args(["--", "sleep", "15"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                data
            })
        });
    let status = cmd.status()?;
    if let Some(data) = profile.and_then(|h| h.join().ok()) {
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "dso,symbol",
                "-i",
            ])
            .arg(&data)
            .stderr(Stdio::null())
            .output()?;
        std::fs::write(out.with_extension("perf.txt"), report.stdout)?;
    }
    let text = std::fs::read_to_string(&json)
        .map_err(|e| format!("viewers.py exited {status} without {}: {e}", json.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn relay_pipeline(video_port: u16, audio_port: u16) -> String {
    format!(
        "webrtcbin name=webrtc bundle-policy=max-bundle \
         udpsrc address=127.0.0.1 port={video_port} \
           caps=\"application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000\" \
         ! rtph264depay ! h264parse ! {H264_OUT} \
         udpsrc address=127.0.0.1 port={audio_port} \
           caps=\"application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000\" \
         ! rtpopusdepay ! {OPUS_OUT}"
    )
}

/// The fan-out's servers, in the order they run for each N: Janus with a
/// thread per peer (its default) and with two shared event loops, classcast
/// with its forwarding engine and with a webrtcbin per viewer (before).
const FANOUT_SERVERS: [&str; 4] = ["janus", "janus-el2", "classcast", "classcast-pipeline"];

async fn fanout(
    work: &Path,
    ns: &[usize],
    window: u64,
) -> Result<(Vec<FanoutRow>, Vec<String>), Error> {
    let tools = FanoutTools {
        dir: report::fanout_tools()?,
        python: std::env::var_os("PY")
            .map(PathBuf::from)
            .unwrap_or_else(|| report::manifest().join("target/pyenv/bin/python")),
        run: work.join("fanout-run"),
        ice_ip: std::env::var("BENCH_ICE_IP").unwrap_or_else(|_| "127.0.0.2".into()),
        window,
    };
    if !tools.dir.join("viewers.py").exists() {
        return Err(format!(
            "{}: no viewers.py (set FANOUT_TOOLS to the janus-fanout folder)",
            tools.dir.display()
        )
        .into());
    }
    std::fs::create_dir_all(&tools.run)?;
    // Leftovers of an interrupted run.
    let _ = tools.script("source.sh", "stop", &[]);
    let _ = tools.script("janus.sh", "stop", &[]);
    let results = work.join("fanout");
    std::fs::create_dir_all(&results)?;
    let me = std::process::id().to_string();
    let (vport, aport) = (RELAY_VIDEO_PORT.to_string(), RELAY_AUDIO_PORT.to_string());
    let mut rows = Vec::new();
    let mut rungs = Vec::new();
    for &n in ns {
        let servers = std::env::var("WHEP_BENCH_SERVERS")
            .unwrap_or_else(|_| "janus janus-el2 classcast classcast-pipeline".into());
        for server_name in FANOUT_SERVERS {
            if !servers.split_whitespace().any(|s| s == server_name) {
                continue;
            }
            // The webrtcbin viewers filled the machine at 50 (the before figure).
            if server_name == "classcast-pipeline" && n > 50 {
                continue;
            }
            let background = wait_quiet();
            eprintln!("fan-out: {server_name} N={n} (machine {background:.0}% busy before)");
            let out = results.join(format!("{server_name}-n{n}"));
            let (result, levels) = if server_name.starts_with("janus") {
                // janus-el2: two shared event loops instead of a thread per peer.
                let loops = if server_name == "janus-el2" { "2" } else { "0" };
                tools.script("janus.sh", "start", &[("JANUS_EVENT_LOOPS", loops)])?;
                tools.script("source.sh", "start", &[])?;
                tokio::time::sleep(Duration::from_secs(5)).await;
                let pids = [
                    ("server", tools.pid("janus")?),
                    ("source", tools.pid("source")?),
                ];
                let r = tokio::task::block_in_place(|| {
                    run_viewers(
                        &tools,
                        &out,
                        "janus",
                        "http://127.0.0.1:8088/janus",
                        n,
                        &pids,
                        None,
                    )
                });
                let _ = tools.script("source.sh", "stop", &[]);
                let _ = tools.script("janus.sh", "stop", &[]);
                (r?, String::new())
            } else {
                // The RTP that Janus takes from source.sh, relayed over WHIP.
                // The count-only viewers send no RTCP: with the default
                // --viewer-rtcp-timeout (10 s) classcast reaps them mid-window.
                let rtcp_timeout =
                    std::env::var("WHEP_BENCH_RTCP_TIMEOUT").unwrap_or_else(|_| "1h".into());
                // WHEP_BENCH_CLASSCAST_ARGS: more flags (e.g. --disable-hls).
                let more = std::env::var("WHEP_BENCH_CLASSCAST_ARGS").unwrap_or_default();
                let egress = if server_name == "classcast-pipeline" {
                    "pipeline"
                } else {
                    "forward"
                };
                let mut args = vec![
                    "--viewer-rtcp-timeout",
                    &rtcp_timeout,
                    "--webrtc-egress",
                    egress,
                ];
                args.extend(more.split_whitespace());
                let mut server =
                    Server::start(&work.join(format!("fanout-classcast-{n}")), &args).await?;
                let id = server.create_session().await?;
                let publish = whip_publish(
                    make_pipeline(&relay_pipeline(RELAY_VIDEO_PORT, RELAY_AUDIO_PORT))?.0,
                    &format!("{}/whip/{id}", server.base),
                    &server.instructor,
                )
                .await?;
                tools.script(
                    "source.sh",
                    "start",
                    &[
                        ("VIDEO_PORT", vport.as_str()),
                        ("AUDIO_PORT", aport.as_str()),
                    ],
                )?;
                let ladder = server.wait_ladder(&id, Duration::from_secs(30)).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
                let ladder = ladder.and_then(|names| server.alive().map(|_| names));
                let r = match ladder {
                    Ok(names) => {
                        rungs = names;
                        let pids = [
                            ("server", server.pid()),
                            ("source", tools.pid("source")?),
                            ("relay", me.clone()),
                        ];
                        let student = report::token("bench-viewer", Role::Student, Some(&id))?;
                        let url = format!("{}/whep/{id}", server.base);
                        // Sample the server's view of its viewers while they run.
                        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
                        let path = format!("/api/sessions/{id}/viewers");
                        let poll_http = server.http.clone();
                        let poll_base = server.base.clone();
                        let poll_token = server.instructor.clone();
                        let poller = tokio::spawn(async move {
                            let mut best = serde_json::Value::Null;
                            loop {
                                tokio::select! {
                                    _ = &mut done_rx => break,
                                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                                }
                                let Ok(r) = poll_http
                                    .get(format!("{poll_base}{path}"))
                                    .bearer_auth(&poll_token)
                                    .send()
                                    .await
                                else {
                                    continue;
                                };
                                if let Ok(v) = r.json::<serde_json::Value>().await {
                                    if v["webrtc"].as_u64() >= best["webrtc"].as_u64() {
                                        best = v;
                                    }
                                }
                            }
                            best
                        });
                        let r = tokio::task::block_in_place(|| {
                            run_viewers(&tools, &out, "whep", &url, n, &pids, Some(&student))
                        });
                        let _ = done_tx.send(());
                        let r = r.and_then(|r| server.alive().map(|_| r));
                        let seen = poller.await.unwrap_or_default();
                        let dropped: u64 = seen["viewers"]
                            .as_array()
                            .map(|vs| vs.iter().filter_map(|v| v["frames_dropped"].as_u64()).sum())
                            .unwrap_or(0);
                        let levels = format!(
                            "{} (frames dropped in the server: {dropped})",
                            seen["by_level"]
                        );
                        r.map(|r| (r, levels))
                    }
                    Err(e) => Err(e),
                };
                let _ = tools.script(
                    "source.sh",
                    "stop",
                    &[
                        ("VIDEO_PORT", vport.as_str()),
                        ("AUDIO_PORT", aport.as_str()),
                    ],
                );
                let _ = publish.stop().await;
                server.stop();
                r?
            };
            let row = FanoutRow {
                server: server_name,
                n,
                result,
                background,
                levels,
            };
            eprintln!(
                "fan-out: {server_name} N={n}: connected {} (at end {}), server {:?}% CPU, {:?} MB, loadgen {:?}%, machine {:?}% {}",
                row.result["viewers_connected"],
                row.result["viewers_connected_at_end"],
                row.cpu("server"),
                row.rss(),
                row.cpu("loadgen"),
                row.result["cpu_pct"]["machine_busy"].as_f64(),
                row.levels
            );
            rows.push(row);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    Ok((rows, rungs))
}

/// Least-squares slope and intercept of y over x.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    Some((b, my - b * mx))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

const FANOUT_SETUP: &str = "Fan-out: N receive-only viewers from \
`../shared/tools/janus-fanout/viewers.py` (aiortc, `--rx count`: SRTP datagrams are counted at the \
socket and dropped; nothing is decrypted or decoded, and no RTCP, NACK, PLI or REMB goes back), \
against Janus 1.1.2 (Debian package, streaming plugin) in both of its modes — `janus`: its default \
`event_loops=0`, a thread per PeerConnection; `janus-el2`: `JANUS_EVENT_LOOPS=2`, two shared event \
loops — and classcast (WHEP) with its forwarding engine (`classcast`, the default: one str0m \
engine thread, one UDP port) and with a webrtcbin per viewer (`classcast-pipeline`, \
`--webrtc-egress pipeline`, the design before; run up to N = 50, where it filled the machine), \
in the same run, one server at a time, a fresh server for every N. All get the same bitstream: \
`source.sh`'s x264 1280x720 30 fps 2.5 Mb/s (ultrafast, 2 s GOP) and Opus over RTP; Janus takes it \
as plain RTP, classcast over WHIP from a relay in the bench process (depayload and re-payload, no \
re-encode; its CPU is the \"relay\" figure). What differs: classcast decodes the publisher's video \
once and runs its HLS ladder for the whole run (the 720p rung passed through, 480p and 360p x264 \
veryfast, plus AAC: the rungs a 720p H.264 source gets), which is its N = 0 row; Janus transcodes nothing. classcast's viewers \
all got the forwarded source (level `source`: no per-viewer encode). classcast runs with \
`--viewer-rtcp-timeout 1h` (the count-only viewers send no RTCP; Janus does not reap on missing \
RTCP). ICE runs on 127.0.0.x inside a network namespace (`benches/netns.sh`); HTTP on \
127.0.0.1.\n\n";

fn fanout_table(rows: &[FanoutRow], rungs: &[String], window: u64) -> String {
    let mut t = String::from(
        "| server | N | viewers receiving (at end) | server CPU % | (CPU − CPU at N=0) / N | server RSS MB | (RSS − RSS at N=0) / N, MB | video Mb/s per viewer (median) | video loss % | load generator CPU % | source CPU % | machine busy % (of 200) | busy before |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut notes = Vec::new();
    for server in FANOUT_SERVERS {
        let mine: Vec<&FanoutRow> = rows.iter().filter(|r| r.server == server).collect();
        let idle = mine.iter().find(|r| r.n == 0);
        let idle_cpu = idle.and_then(|r| r.cpu("server"));
        let idle_rss = idle.and_then(|r| r.rss());
        for r in &mine {
            let per = |v: Option<f64>, base: Option<f64>| match (v, base) {
                (Some(v), Some(b)) if r.n > 0 => Some((v - b) / r.n as f64),
                _ => None,
            };
            let source = match (r.cpu("source"), r.cpu("relay")) {
                (Some(s), Some(relay)) => format!("{s:.1} + relay {relay:.1}"),
                (s, _) => opt(s, 1),
            };
            t += &format!(
                "| {server} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {source} | {} | {:.0} |\n",
                r.n,
                r.result["viewers_connected"],
                r.result["viewers_connected_at_end"],
                opt(r.cpu("server"), 1),
                opt(per(r.cpu("server"), idle_cpu), 2),
                opt(r.rss(), 1),
                opt(per(r.rss(), idle_rss), 2),
                opt(r.result["video_mbps_per_viewer_median"].as_f64(), 2),
                opt(r.result["video_loss_pct"].as_f64(), 2),
                opt(r.cpu("loadgen"), 1),
                opt(r.result["cpu_pct"]["machine_busy"].as_f64(), 0),
                r.background,
            );
        }
        // Rows where the machine was saturated (≥ 180 % of 200) say what the
        // machine had left, not what the server needs: no fit through them.
        let saturated =
            |r: &FanoutRow| r.n > 0 && r.result["cpu_pct"]["machine_busy"].as_f64() >= Some(180.0);
        let good: Vec<&&FanoutRow> = mine
            .iter()
            .filter(|r| r.result["viewers_connected_at_end"].as_u64() == Some(r.n as u64))
            .filter(|r| !saturated(r))
            .collect();
        let left_out: Vec<String> = mine
            .iter()
            .filter(|r| saturated(r))
            .map(|r| r.n.to_string())
            .collect();
        if !left_out.is_empty() {
            notes.push(format!(
                "- {server}: the machine was saturated at N = {} (not in the fit)",
                left_out.join(", ")
            ));
        }
        let cpu: Vec<(f64, f64)> = good
            .iter()
            .filter_map(|r| r.cpu("server").map(|c| (r.n as f64, c)))
            .collect();
        let rss: Vec<(f64, f64)> = good
            .iter()
            .filter_map(|r| r.rss().map(|m| (r.n as f64, m)))
            .collect();
        let lg: Vec<(f64, f64)> = good
            .iter()
            .filter_map(|r| r.cpu("loadgen").map(|c| (r.n as f64, c)))
            .collect();
        if let (Some((cb, ca)), Some((mb, ma))) = (fit(&cpu), fit(&rss)) {
            notes.push(format!(
                "- {server}: CPU ≈ {ca:.1} % + **{cb:.2} % of a core per viewer**, RSS ≈ {ma:.0} MB + **{mb:.2} MB per viewer** (least squares over N = {}){}",
                good.iter().map(|r| r.n.to_string()).collect::<Vec<_>>().join(", "),
                fit(&lg)
                    .map(|(b, a)| format!("; load generator ≈ {a:.1} % + {b:.2} % per viewer"))
                    .unwrap_or_default()
            ));
        }
        for r in &mine {
            if !r.levels.is_empty() && r.n > 0 {
                notes.push(format!(
                    "- {server} N={}: viewers by level {}",
                    r.n, r.levels
                ));
            }
            if let Some(errors) = r.result["errors"].as_array().filter(|e| !e.is_empty()) {
                notes.push(format!("- {server} N={}: viewer errors {errors:?}", r.n));
            }
        }
    }
    format!(
        "{FANOUT_SETUP}{t}\nCPU is % of one core over a {window} s window (all threads, /proc), RSS at the window's end; a fresh server for every N. classcast's ladder for this 720p source: {}.\n\n{}\n",
        rungs.join(", "),
        notes.join("\n")
    )
}

// ---------------------------------------------------------------- main

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    classcast::media::init()?;
    let parts = std::env::var("WHEP_BENCH_PARTS").unwrap_or_else(|_| "latency,joins,fanout".into());
    let has = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let seconds: u64 = if has("latency") {
        env_or("WHEP_BENCH_SECONDS", 40)
    } else {
        0
    };
    let joins: usize = if has("joins") {
        env_or("WHEP_BENCH_JOINS", 20)
    } else {
        0
    };
    let window: u64 = env_or("WHEP_BENCH_WINDOW", 30);
    let ns: Vec<usize> = std::env::var("WHEP_BENCH_NS")
        .unwrap_or_else(|_| "0 25 50 100 200".into())
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let work = report::manifest().join("target/bench/whep");
    std::fs::create_dir_all(&work)?;

    let (latency, joined) = if seconds > 0 || joins > 0 {
        latency_and_joins(&work, seconds, joins).await?
    } else {
        (None, None)
    };
    let fan = if has("fanout") {
        Some(fanout(&work, &ns, window).await?)
    } else {
        None
    };

    let mut text = String::new();
    if let Some(l) = &latency {
        let s = &l.viewer_stats;
        text += &format!(
            "Glass-to-glass: a GStreamer WHIP publisher (1280x720 {FPS} fps test pattern, x264 ultrafast zerolatency \
             one thread, {VIDEO_KBPS} kb/s, 2 s GOP, Opus) writes its wall-clock capture time into each raw frame as \
             16x16 black/white blocks; a GStreamer WHEP viewer (webrtcbin, avdec_h264, one thread) decodes and \
             reads them back against the same clock. {:.0} s window, {} frames decoded, {} stamps read ({} unreadable). \
             The HLS ladder ({}) runs in the server meanwhile; server CPU {:.0} % of a core (machine {:.0} % busy \
             with other work before the start). The viewer got `{}` (frames forwarded {}, dropped {}).\n\n\
             | ms | p50 | p95 | min | max | frames |\n|---|---|---|---|---|---|\n{}\n{}\n\n",
            l.seconds,
            l.frames,
            l.glass_ms.len(),
            l.unreadable,
            l.rungs.join(", "),
            l.server_cpu,
            l.background,
            s["level"].as_str().unwrap_or("?"),
            s["frames_forwarded"],
            s["frames_dropped"],
            summary_row("**capture → decoded at the viewer (glass-to-glass)**", &l.glass_ms),
            summary_row("of which capture → encoded (publisher's x264)", &l.encode_ms),
        );
    }
    if let Some(j) = &joined {
        text += &format!(
            "Time to first frame: {} joins of a new viewer (same publisher, joins spread over the GOP); each \
             viewer DELETEs before the next joins.\n\n\
             | ms | p50 | p95 | min | max | joins |\n|---|---|---|---|---|---|\n{}\n{}\n{}\n{}\n{}\n{}\n\n",
            j.first_frame_ms.len(),
            summary_row("**headless Chromium: WHEP POST → first decoded frame** (`view.mjs`)", &j.browser_first_frame_ms),
            summary_row("headless Chromium: WHEP POST → 201", &j.browser_post_ms),
            summary_row("GStreamer viewer (webrtcbin, 200 ms jitter buffer): WHEP POST → first decoded frame", &j.first_frame_ms),
            summary_row("WHEP POST → 201 (answer with candidates)", &j.post_ms),
            summary_row("WHEP POST → viewer connected (ICE + DTLS)", &j.connected_ms),
            summary_row(
                "server's `first_frame_ms` (its answer ready → first video frame into the viewer's pipeline)",
                &j.server_first_frame_ms
            ),
        );
    }
    if let Some((rows, rungs)) = &fan {
        text += &fanout_table(rows, rungs, window);
    }
    println!("{text}");
    if latency.is_some() && joined.is_some() && fan.is_some() {
        report::write_section(
            "WebRTC viewing (WHEP)",
            "benches/netns.sh target/release/examples/whep_bench",
            &text,
        )?;
    }
    Ok(())
}
