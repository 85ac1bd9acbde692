//! WHIP ingest timings: POST to 201 and offer to first video frame, over
//! repeated publishes of the GStreamer test publisher into a local server.
//! Run with `make bench`; prints a table and writes it into BENCHMARKS.md.

use std::time::Duration;

#[path = "common/report.rs"]
mod report;

use classcast::client::{WhipClient, WhipClientOptions};
use classcast::media::VideoCodecPref;

const RUNS: usize = 10;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, mut xs: Vec<f64>) -> String {
    xs.sort_by(|a, b| a.total_cmp(b));
    format!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
        percentile(&xs, 0.5),
        percentile(&xs, 0.95),
        xs[0],
        xs[xs.len() - 1]
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    report::serve_in_process(port, data.path(), &[]);
    let http = reqwest::Client::new();
    let (token, id) = report::bench_session(&http, &base).await?;

    let mut post = Vec::new();
    let mut first_frame = Vec::new();
    for run in 0..RUNS {
        let client = WhipClient::publish(&WhipClientOptions {
            whip_url: format!("{base}/whip/{id}"),
            token: token.clone(),
            codec: VideoCodecPref::H264,
            width: 1280,
            height: 720,
            fps: 30,
        })
        .await?;
        post.push(client.post_to_answer.as_secs_f64() * 1000.0);
        let mut ms = None;
        for _ in 0..200 {
            let v = report::session_view(&http, &base, &token, &id).await?;
            if let Some(t) = v["media"]["first_video_frame_ms"].as_f64() {
                ms = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let ms = ms.ok_or("no video frame within 5 s")?;
        first_frame.push(ms);
        eprintln!(
            "run {run}: POST→201 {:.0} ms, offer→first frame {ms:.0} ms",
            post[run]
        );
        client.stop().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let table = format!(
        "| metric (ms, {RUNS} publishes, 1280x720 H.264 + Opus, loopback) | p50 | p95 | min | max |\n\
         |---|---|---|---|---|\n{}\n{}\n",
        summary("WHIP POST → 201 (answer with all host candidates)", post),
        summary("offer received → first complete video frame", first_frame),
    );
    println!("{table}");
    report::write_section("WHIP ingest", "make bench", &table)?;
    Ok(())
}
