//! The composed broadcast's cost (issue 17): the release server's CPU while
//! one instructor publishes 720p (the ladder passes it through), then while
//! three publish at once and the broadcast is composed: the instructor's
//! 720p camera, a 1080p screen share at 5 fps and a student on stage at
//! 480p, composed at 720p into the 3-rung ladder (720p passed through,
//! 480p and 360p encoded), each composed publish also encoded lighter for
//! WebRTC viewers on narrow links. The publishers are GStreamer test
//! patterns in this process; only the server's CPU is counted.
//!
//! Run with `make bench`; writes BENCHMARKS.md.

#[path = "common/bench.rs"]
mod bench;
#[path = "common/report.rs"]
mod report;

use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::{TestPattern, WhipClient};
use classcast::media::VideoCodecPref;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error>;

const SETTLE: Duration = Duration::from_secs(8);
const MEASURE: Duration = Duration::from_secs(20);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A moving test pattern (SMPTE bars under a running clock) over WHIP.
async fn publish(
    url: &str,
    token: &str,
    size: (u32, u32),
    fps: u32,
    kbps: u32,
) -> Result<WhipClient, Error> {
    let pattern = TestPattern {
        pattern: "smpte horizontal-speed=4".into(),
        width: size.0,
        height: size.1,
        fps,
        kbps,
    };
    Ok(WhipClient::publish_pattern(url, token, VideoCodecPref::H264, &pattern).await?)
}

async fn classroom(base: &str, id: &str, token: &str) -> Result<Socket, Error> {
    let url = format!("{}/ws/sessions/{id}", base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    send(&mut ws, json!({ "type": "auth", "token": token })).await?;
    expect(&mut ws, "welcome").await?;
    Ok(ws)
}

async fn send(ws: &mut Socket, message: Value) -> Result<(), Error> {
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        message.to_string(),
    ))
    .await?;
    Ok(())
}

async fn expect(ws: &mut Socket, kind: &str) -> Result<Value, Error> {
    let wait = async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Ok(text) = frame.to_text() {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if v["type"] == kind {
                    return Ok(v);
                }
            }
        }
        Err(format!("the socket closed before {kind}").into())
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| format!("no {kind} within 10 s"))?
}

/// The server's CPU (% of one core) over `MEASURE`, after `SETTLE`; checks
/// the ladder passes its top rung through.
async fn measure(
    server: &bench::Server,
    http: &reqwest::Client,
    token: &str,
    id: &str,
) -> Result<f64, Error> {
    tokio::time::sleep(SETTLE).await;
    let cpu0 = report::cpu_seconds(&server.pid);
    let t0 = Instant::now();
    let seconds = std::env::var("COMPOSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    tokio::time::sleep(seconds.map_or(MEASURE, Duration::from_secs)).await;
    let cpu = (report::cpu_seconds(&server.pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let view = report::session_view(http, &server.base, token, id).await?;
    if view["hls"]["passthrough"] != true {
        return Err(format!("the top rung is not passed through: {}", view["hls"]).into());
    }
    Ok(cpu)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    classcast::media::init()?;
    let bin = bench::classcast_bin(None)?;
    let log_level = std::env::var("COMPOSE_BENCH_LOG").unwrap_or_else(|_| "warn".into());
    let server = bench::Server::start(&bin, &[], &[("RUST_LOG", &log_level)])?;
    let http = reqwest::Client::new();
    let (teacher, id) = report::bench_session(&http, &server.base).await?;
    let whip = format!("{}/whip/{id}", server.base);

    eprintln!("one publisher: the instructor's 720p camera…");
    let camera = publish(&whip, &teacher, (1280, 720), 30, 2500).await?;
    let alone = measure(&server, &http, &teacher, &id).await?;

    eprintln!("three publishers, composed…");
    let mut teacher_socket = classroom(&server.base, &id, &teacher).await?;
    let student = report::token("ada", Role::Student, Some(&id))?;
    let mut student_socket = classroom(&server.base, &id, &student).await?;
    send(&mut student_socket, json!({ "type": "raise_hand" })).await?;
    send(
        &mut teacher_socket,
        json!({ "type": "call_on", "participant_id": "ada", "stage": true }),
    )
    .await?;
    let called = expect(&mut student_socket, "called_on").await?;
    let stage_token = called["publish_token"].as_str().ok_or("no publish token")?;
    let screen = publish(
        &format!("{whip}?source=screen"),
        &teacher,
        (1920, 1080),
        5,
        1500,
    )
    .await?;
    let on_stage = publish(&whip, stage_token, (854, 480), 30, 1200).await?;
    let composed = measure(&server, &http, &teacher, &id).await?;
    let view = report::session_view(&http, &server.base, &teacher, &id).await?;
    let live = view["publishes"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["ready"] == true).count());
    if live != Some(3) {
        return Err(format!("three publishes should be live: {}", view["publishes"]).into());
    }

    if std::env::var_os("COMPOSE_BENCH_LOG").is_some() {
        eprintln!("{}", server.log());
    }
    if composed <= alone {
        return Err(format!(
            "composing cost nothing ({composed:.0} % vs {alone:.0} %): it did not run\n{}",
            server.log()
        )
        .into());
    }
    for p in [on_stage, screen, camera] {
        p.stop().await?;
    }
    let table = format!(
        "Publishers: GStreamer test patterns over WHIP (H.264 + Opus), in the bench's own process: the instructor's camera 1280x720 at 30 fps, a screen share 1920x1080 at 5 fps, a student on stage 854x480 at 30 fps. Server: the release binary, shipped ladder (720p top rung passed through, 480p and 360p encoded, veryfast), SQLite. CPU over {} s after {} s to settle.\n\n\
| live publishers | what HLS and the recording carry | server CPU (% of one core) |\n|---|---|---|\n\
| the instructor's camera alone | the camera as it comes, 720p passed through | {alone:.0} |\n\
| camera + 1080p screen at 5 fps + 480p student | the composition (screen layout, 720p) encoded once, passed through | **{composed:.0}** |\n\
| the composition's cost | decoding 3 publishes, compositing, one 720p encode, the mix, and each publish's lighter encoding for narrow links | **{:.0}** |\n",
        MEASURE.as_secs(),
        SETTLE.as_secs(),
        composed - alone,
    );
    println!("{table}");
    report::write_section(
        "Composed broadcast",
        "make bench (target/release/examples/compose_bench)",
        &table,
    )?;
    Ok(())
}
