//! The HLS ladder against ffmpeg, side by side in one run:
//! 1. a generated 1080p30 H.264 + AAC file (moving pattern with noise) through
//!    the same ladder code the live path uses (producers → `hls::Ladder`), and
//!    through the equivalent ffmpeg command; speed (x realtime) and CPU;
//! 2. a live 720p publish into the server binary: the server's CPU with its
//!    3-rung ladder, and glass-to-HLS latency.
//!
//! Run with `make bench`; writes BENCHMARKS.md.

#[path = "common/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use classcast::hls::{Ladder, LadderConfig, LadderOptions};
use classcast::ingest::MediaProducers;
use classcast::media::sdp::Codec;
use futures::StreamExt;
use gst::prelude::*;

const SECONDS: u32 = 20;
use report::SECRET;

type Error = Box<dyn std::error::Error>;

fn run(cmd: &mut Command) -> Result<(), Error> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

fn make_source(path: &Path) -> Result<(), Error> {
    if path.exists() {
        return Ok(());
    }
    eprintln!("generating {SECONDS} s of 1080p30 test input…");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &SECONDS.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "12M",
            "-g",
            "60",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
        ])
        .arg(path))
}

/// Our ladder: the file demuxed into producers, as ingest would feed them.
async fn our_ladder(
    source: &Path,
    out: &Path,
    config: &LadderConfig,
    passthrough: bool,
) -> Result<(f64, f64), Error> {
    let producer = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! tsdemux name=d \
         d. ! queue ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=video sync=false \
         d. ! queue ! aacparse ! appsink name=audio sync=false",
        source.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink = |name: &str| -> Result<gst_app::AppSink, Error> {
        Ok(producer
            .by_name(name)
            .ok_or("no sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "not an appsink")?)
    };
    let producers = MediaProducers {
        video: Some((
            Codec::H264,
            gst_utils::StreamProducer::from(&sink("video")?),
        )),
        audio: Some((Codec::Aac, gst_utils::StreamProducer::from(&sink("audio")?))),
        video_counters: None,
        keyframe_requests: None,
    };
    let rungs = config.select(Some(1080));
    let cpu0 = report::cpu_seconds("self");
    let start = Instant::now();
    let ladder = Ladder::start(
        out,
        config,
        rungs,
        &producers,
        LadderOptions {
            lossless_input: true,
            passthrough,
            ..LadderOptions::default()
        },
    )
    .await?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let done = tokio::spawn(async move { ladder.run(&mut stopped).await.map(|_| ()) });
    producer.set_state(gst::State::Playing)?;
    let bus = producer.bus().ok_or("no bus")?;
    let mut messages = bus.stream();
    while let Some(msg) = messages.next().await {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(e.error().to_string().into()),
            _ => {}
        }
    }
    let _ = stop.send(());
    done.await??;
    let wall = start.elapsed().as_secs_f64();
    let cpu = report::cpu_seconds("self") - cpu0;
    producer.set_state(gst::State::Null)?;
    Ok((f64::from(SECONDS) / wall, cpu / wall * 100.0))
}

/// The same ladder with ffmpeg: one decode, split, 4 × libx264, HLS muxer.
fn ffmpeg_ladder(
    source: &Path,
    out: &Path,
    config: &LadderConfig,
    passthrough: bool,
) -> Result<(f64, f64, String), Error> {
    let rungs = config.select(Some(1080));
    let n = rungs.len();
    // With passthrough the top rung is the source's video stream copied.
    let first_encoded = usize::from(passthrough);
    let mut filter = format!("[0:v]split={}", n - first_encoded);
    for i in first_encoded..n {
        filter.push_str(&format!("[s{i}]"));
    }
    for (i, r) in rungs.iter().enumerate().skip(first_encoded) {
        filter.push_str(&format!(";[s{i}]scale={}:{}[o{i}]", r.width, r.height));
    }
    let gop = config.segment_seconds * config.frame_rate;
    let mut args: Vec<String> = vec![
        "-v".into(),
        "error".into(),
        "-y".into(),
        "-i".into(),
        source.display().to_string(),
    ];
    args.extend(["-filter_complex".into(), filter]);
    for i in 0..n {
        let video = if i < first_encoded {
            "0:v".into()
        } else {
            format!("[o{i}]")
        };
        args.extend(["-map".into(), video, "-map".into(), "0:a".into()]);
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-tune",
            "zerolatency",
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
            "-b:a",
            &config.audio.bitrate.to_string(),
            "-ac",
            "2",
            "-ar",
            "48000",
        ]
        .map(String::from),
    );
    if passthrough {
        args.extend(["-c:v:0".into(), "copy".into()]);
    }
    for (i, r) in rungs.iter().enumerate().skip(first_encoded) {
        args.extend([
            format!("-r:v:{i}"),
            config.frame_rate.to_string(),
            format!("-preset:v:{i}"),
            r.preset.clone(),
            format!("-profile:v:{i}"),
            r.profile.clone(),
            format!("-b:v:{i}"),
            format!("{}k", r.bitrate_kbps),
            format!("-maxrate:v:{i}"),
            format!("{}k", r.max_bitrate_kbps),
            format!("-bufsize:v:{i}"),
            format!("{}k", r.max_bitrate_kbps),
        ]);
    }
    let map: Vec<String> = (0..n)
        .map(|i| format!("v:{i},a:{i},name:{}", rungs[i].name))
        .collect();
    args.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &config.segment_seconds.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "mpegts",
            "-master_pl_name",
            "master.m3u8",
            "-var_stream_map",
        ]
        .map(String::from),
    );
    args.push(map.join(" "));
    args.extend([
        "-hls_segment_filename".into(),
        out.join("%v/seg_%05d.ts").display().to_string(),
        out.join("%v/index.m3u8").display().to_string(),
    ]);
    let shown = format!(
        "ffmpeg {}",
        args.iter()
            .map(|a| if a.contains(' ') || a.contains(';') {
                format!("'{a}'")
            } else {
                a.clone()
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    // bash's `time` reports the child's CPU without extra tools.
    let script = format!("TIMEFORMAT='%R %U %S'; time {shown} >/dev/null");
    let out = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let times: Vec<f64> = stderr
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    if !out.status.success() || times.len() != 3 {
        return Err(format!("ffmpeg failed: {stderr}").into());
    }
    let (wall, cpu) = (times[0], times[1] + times[2]);
    Ok((f64::from(SECONDS) / wall, cpu / wall * 100.0, shown))
}

/// How the live server runs its HLS.
#[derive(Clone, Copy, PartialEq)]
enum LiveLadder {
    Off,
    /// Every rung encoded (`passthrough_top_rung = false`): the design before.
    Encoded,
    /// The default: an H.264 source at the top rung's size passed through.
    Passthrough,
}

/// A live 720p30 publish into the release server: its CPU without the
/// ladder, with every rung encoded and with the top rung passed through, and
/// how long after capture each segment becomes available (passthrough).
async fn live(work: &Path) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let server_bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/classcast");
    let encoded_ladder = work.join("ladder-encoded.toml");
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/ladder.toml"),
    )?;
    let encoded = shipped.replace(
        "passthrough_top_rung = true",
        "passthrough_top_rung = false",
    );
    if encoded == shipped {
        return Err("pipelines/ladder.toml has no `passthrough_top_rung = true`".into());
    }
    std::fs::write(&encoded_ladder, encoded)?;
    let mut measure = Vec::new();
    let mut latencies = Vec::new();
    for mode in [
        LiveLadder::Off,
        LiveLadder::Encoded,
        LiveLadder::Passthrough,
    ] {
        let data = work.join(match mode {
            LiveLadder::Off => "live-nohls",
            LiveLadder::Encoded => "live-encoded",
            LiveLadder::Passthrough => "live-passthrough",
        });
        let _ = std::fs::remove_dir_all(&data);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(&server_bin);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--jwt-secret",
            SECRET,
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
        match mode {
            LiveLadder::Off => {
                cmd.arg("--disable-hls");
            }
            LiveLadder::Encoded => {
                cmd.arg("--ladder").arg(&encoded_ladder);
            }
            LiveLadder::Passthrough => {}
        }
        let mut server = cmd.spawn()?;
        let pid = server.id().to_string();
        let http = reqwest::Client::new();
        let (token, id) = report::bench_session(&http, &base).await?;
        let mut publisher = Command::new(&server_bin)
            .args([
                "publish",
                "--whip-url",
                &format!("{base}/whip/{id}"),
                "--token",
                &token,
                "--width",
                "1280",
                "--height",
                "720",
            ])
            .stdout(Stdio::null())
            .spawn()?;
        // Let it settle, then measure the server over 20 s.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let cpu0 = report::cpu_seconds(&pid);
        let t0 = Instant::now();
        let mut seen = 0;
        while t0.elapsed() < Duration::from_secs(20) {
            if mode == LiveLadder::Passthrough {
                let v = report::session_view(&http, &base, &token, &id).await?;
                if v["hls"]["passthrough"] != true {
                    return Err(format!("the 720p rung is not passed through: {}", v["hls"]).into());
                }
                let rungs = v["hls"]["rungs"].as_array().cloned().unwrap_or_default();
                let segments = rungs
                    .iter()
                    .filter_map(|r| r["segments"].as_u64())
                    .min()
                    .unwrap_or(0);
                if segments > seen {
                    // The slowest rung decides when a segment is there for every player.
                    if let Some(worst) = rungs
                        .iter()
                        .filter_map(|r| r["last_segment_latency_ms"].as_f64())
                        .reduce(f64::max)
                    {
                        latencies.push(worst);
                    }
                    seen = segments;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        measure.push((report::cpu_seconds(&pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0);
        let _ = publisher.kill();
        let _ = publisher.wait();
        let _ = server.kill();
        let _ = server.wait();
    }
    Ok((measure, latencies))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    classcast::media::init()?;
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&work)?;
    let source = work.join("source-1080p30.ts");
    make_source(&source)?;
    let config = LadderConfig::load(Some(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/ladder.toml"),
    ))?;

    // (speed, CPU) of classcast and ffmpeg, every rung encoded then the top
    // rung passed through; ffmpeg's command lines for the table.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut commands = Vec::new();
    for passthrough in [false, true] {
        let tag = if passthrough { "-passthrough" } else { "" };
        let ours_dir = work.join(format!("ours{tag}"));
        let theirs_dir = work.join(format!("ffmpeg{tag}"));
        for d in [&ours_dir, &theirs_dir] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d)?;
        }
        eprintln!("classcast ladder (passthrough {passthrough})…");
        ours.push(our_ladder(&source, &ours_dir, &config, passthrough).await?);
        eprintln!("ffmpeg ladder (passthrough {passthrough})…");
        let (speed, cpu, command) = ffmpeg_ladder(&source, &theirs_dir, &config, passthrough)?;
        theirs.push((speed, cpu));
        commands.push(command);
    }
    eprintln!("live 720p publish…");
    let (live_cpu, mut latencies) = live(&work).await?;
    let (ingest_cpu, encoded_cpu, passthrough_cpu) = (live_cpu[0], live_cpu[1], live_cpu[2]);
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };

    let rungs: Vec<String> = config
        .select(Some(1080))
        .iter()
        .map(|r| format!("{} {}k {}", r.name, r.bitrate_kbps, r.preset))
        .collect();
    let row =
        |what: &str, (speed, cpu): (f64, f64)| format!("| {what} | {speed:.2} | {cpu:.0} |\n");
    let table = format!(
        "Input: {SECONDS} s of 1080p30 testsrc2 with temporal noise, H.264 (2 s GOP) + AAC (generated by the bench). \
         Ladder: {} (x264 zerolatency, {} s GOP/segments, AAC {} kb/s). \
         \"Top rung passed through\": the source's H.264 is the 1080p rung as it is (classcast: \
         `passthrough_top_rung`, cut on the source's keyframes; ffmpeg: `-c:v:0 copy`), the other rungs encoded.\n\n\
         | 4-rung ladder from the file | speed (x realtime) | CPU (% of one core) |\n|---|---|---|\n\
         {}{}{}{}\
         | ratio classcast / ffmpeg, every rung encoded | **{:.2}** | |\n\
         | ratio classcast / ffmpeg, top rung passed through | **{:.2}** | |\n\n\
         | live 720p30 publish (GStreamer test publisher over WHIP, H.264 1280x720) | server CPU (% of one core) |\n|---|---|\n\
         | ingest only (`--disable-hls`) | {ingest_cpu:.0} |\n\
         | ingest + 3-rung ladder, every rung encoded (`passthrough_top_rung = false`) | {encoded_cpu:.0} |\n\
         | ingest + 3-rung ladder, 720p passed through (the default) | **{passthrough_cpu:.0}** |\n\
         | the ladder alone, passed through / encoded | **{:.0} %** |\n\n\
         Glass-to-HLS (passed through): a segment is listed in every rung's live playlist p50 {:.0} ms / p95 {:.0} ms after its last \
         frame entered the ladder, over {} segments. Nearly all of it is splitmuxsink, which closes a segment only \
         once it has queued the next GOP. Before that: the publisher's capture and encode, the network, and \
         the WebRTC jitter buffer (200 ms); after it, a player's own buffering (hls.js holds 3 segments). For the \
         segment's first frame add the {} s segment duration.\n\n\
         The ffmpeg commands:\n\n```\n{}\n```\n\n```\n{}\n```\n\
         (ffmpeg encodes the AAC once per variant, as its HLS muxer needs; classcast encodes it once.)\n",
        rungs.join(", "),
        config.segment_seconds,
        config.audio.bitrate / 1000,
        row("classcast (`hls::Ladder`, the live code path, fed by producers), every rung encoded", ours[0]),
        row("ffmpeg (same rungs, presets, bitrates, GOP), every rung encoded", theirs[0]),
        row("classcast, top rung passed through", ours[1]),
        row("ffmpeg, top rung copied", theirs[1]),
        ours[0].0 / theirs[0].0,
        ours[1].0 / theirs[1].0,
        (passthrough_cpu - ingest_cpu) / (encoded_cpu - ingest_cpu).max(1e-9) * 100.0,
        pct(0.5),
        pct(0.95),
        latencies.len(),
        config.segment_seconds,
        commands[0],
        commands[1],
    );
    println!("{table}");
    report::write_section("HLS ladder", "make bench", &table)?;
    Ok(())
}
