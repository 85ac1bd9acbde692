//! Recording and object storage, against moto's S3 on loopback:
//! 1. upload throughput of the spool (segment-sized files, 4 in flight) and of
//!    one large file (multipart), with boto3's transfer manager on the same
//!    file as the peer;
//! 2. a recorded 720p publish into the server: time from the publish's end
//!    (WHIP DELETE) to the recording being `ready` in the bucket.
//!
//! Run with `make bench` (after `scripts/install-deps.sh test`); writes BENCHMARKS.md.

#[path = "common/report.rs"]
mod report;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use classcast::client::{WhipClient, WhipClientOptions};
use classcast::media::VideoCodecPref;
use classcast::storage::{
    ObjectMeta, Payload, S3Settings, S3Store, Storage, Uploads, UploadsSettings,
};

type Error = Box<dyn std::error::Error>;

const BUCKET: &str = "bench";
const SEGMENTS: usize = 120;
const SEGMENT_BYTES: usize = 1 << 20;
const LARGE_BYTES: usize = 256 << 20;
const PUBLISH_SECONDS: u64 = 30;
const RUNS: usize = 3;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_moto(port: u16) -> Result<Moto, Error> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/moto_server");
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e} (scripts/install-deps.sh test)", bin.display()))?;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Moto(child));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("moto_server did not start".into())
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }
    classcast::media::init()?;
    let moto_port = free_port()?;
    let _moto = start_moto(moto_port)?;
    let endpoint = format!("http://127.0.0.1:{moto_port}");
    let settings = S3Settings {
        bucket: BUCKET.into(),
        endpoint: Some(endpoint.clone()),
        path_style: true,
        ..S3Settings::default()
    };
    let store = Arc::new(S3Store::new(&settings).await?);
    let sdk = classcast::storage::aws::sdk_config(None).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await?;

    // 1a. The spool: segment-sized files, as a live ladder produces them.
    let work = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let db = classcast::db::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        data.path().join("bench.db").display()
    ))
    .await?;
    db.migrate().await?;
    let payload: Vec<u8> = (0..SEGMENT_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let uploads = Uploads::new(
        db.clone(),
        Storage::S3(store.clone()),
        None,
        UploadsSettings::default(),
    )
    .await?;
    let worker = uploads.start();
    let started = Instant::now();
    for i in 0..SEGMENTS {
        let path = work.path().join(format!("seg_{i:05}.ts"));
        std::fs::write(&path, &payload)?;
        let key = format!("hls/bench/720p/seg_{i:05}.ts");
        uploads
            .enqueue_file(
                "bench",
                &key,
                &path,
                &ObjectMeta::for_key(&key, false),
                None,
            )
            .await?;
    }
    if !uploads.drain(Duration::from_secs(300)).await {
        return Err("the spool did not drain".into());
    }
    let spool_took = started.elapsed();
    worker.abort();
    let spool_rate = mb_per_s(SEGMENTS * SEGMENT_BYTES, spool_took);
    let files_per_s = SEGMENTS as f64 / spool_took.as_secs_f64();
    println!("spool: {SEGMENTS} x 1 MiB in {spool_took:.2?}: {spool_rate:.1} MB/s, {files_per_s:.0} files/s");

    // 1b. One large file (a long recording): multipart, then boto3 on the same file.
    let large = work.path().join("large.mp4");
    std::fs::write(&large, vec![7u8; LARGE_BYTES])?;
    let storage = Storage::S3(store.clone());
    let started = Instant::now();
    storage
        .put(
            "recordings/bench/large.mp4",
            Payload::File(&large),
            &ObjectMeta::for_key("x.mp4", false),
        )
        .await?;
    let ours = mb_per_s(LARGE_BYTES, started.elapsed());
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    let script = format!(
        "import boto3,time\n\
         s3=boto3.client('s3',endpoint_url='{endpoint}',region_name='us-east-1')\n\
         t=time.time();s3.upload_file('{}','{BUCKET}','peer/large.mp4');print(time.time()-t)",
        large.display()
    );
    let out = Command::new(&python).args(["-c", &script]).output()?;
    let boto_seconds: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    let peer = LARGE_BYTES as f64 / 1e6 / boto_seconds;
    println!("large file: classcast {ours:.1} MB/s, boto3 {peer:.1} MB/s");

    // 2. Session end → recording ready, through the server.
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let server_data = tempfile::tempdir()?;
    report::serve_in_process(
        port,
        server_data.path(),
        &[
            "--storage",
            "s3",
            "--s3-bucket",
            BUCKET,
            "--s3-endpoint",
            &endpoint,
            "--s3-path-style",
        ],
    );
    let http = reqwest::Client::new();
    let (token, _) = report::bench_session(&http, &base).await?;
    let mut rows = Vec::new();
    for run in 0..RUNS {
        let session: serde_json::Value = http
            .post(format!("{base}/api/sessions"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "title": format!("bench {run}"), "record": true }))
            .send()
            .await?
            .json()
            .await?;
        let id = session["id"].as_str().ok_or("no id")?.to_owned();
        let client = WhipClient::publish(&WhipClientOptions {
            whip_url: format!("{base}/whip/{id}"),
            token: token.clone(),
            codec: VideoCodecPref::H264,
            width: 1280,
            height: 720,
            fps: 30,
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(PUBLISH_SECONDS)).await;
        client.stop().await?;
        let ended = Instant::now();
        let rec = loop {
            let v: serde_json::Value = http
                .get(format!("{base}/api/sessions/{id}/recordings"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            let rec = v["recordings"][0].clone();
            if rec["state"] == "ready" || rec["state"] == "failed" {
                break rec;
            }
            if ended.elapsed() > Duration::from_secs(60) {
                return Err("recording not ready within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let to_ready = ended.elapsed();
        println!("run {run}: ready in {to_ready:.2?}: {rec}");
        rows.push((
            to_ready,
            rec["duration_seconds"].as_f64().unwrap_or(0.0),
            rec["size_bytes"].as_u64().unwrap_or(0),
        ));
    }
    let mut table = String::from("| measure | classcast | peer |\n|---|---|---|\n");
    table.push_str(&format!(
        "| spool: {SEGMENTS} segment-sized files (1 MiB) to S3, 4 in flight | {spool_rate:.1} MB/s ({files_per_s:.0} files/s) | – |\n"
    ));
    table.push_str(&format!(
        "| one {} MiB file (multipart, 16 MiB parts) | {ours:.1} MB/s | boto3 `upload_file`: {peer:.1} MB/s |\n",
        LARGE_BYTES >> 20
    ));
    for (i, (took, duration, size)) in rows.iter().enumerate() {
        table.push_str(&format!(
            "| recorded 720p publish #{}: {duration:.1} s, {:.1} MB; WHIP DELETE → `ready` in the bucket | {:.0} ms | – |\n",
            i + 1,
            *size as f64 / 1e6,
            took.as_secs_f64() * 1000.0
        ));
    }
    table.push_str(
        "\nThe S3 server is moto on loopback (Python, in-memory): its own speed bounds the \
         figures; boto3 against the same server is the yardstick. End → ready covers the \
         ladder's flush of the last segment, the remux into a faststart MP4 and its upload.\n",
    );
    report::write_section(
        "Recording and storage",
        "cargo run --release --example recording_bench",
        &table,
    )?;
    println!("{table}");
    Ok(())
}
