//! Recording end to end: a live publish into the `classcast` binary becomes an
//! MP4 in local storage or in an S3 bucket (moto on loopback), with the HLS
//! VOD beside it, through store outages and a SIGKILL. One at a time (see
//! .config/nextest.toml).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::{WhipClient, WhipClientOptions};
use common::s3::{
    assert_faststart, aws_test_env, create_bucket, create_distribution, get, invalidated_paths,
    keys, probe_mp4, s3_client, BUCKET,
};
use common::{http, token, wait_for, ClientProcess, MotoServer, ServerProcess};
use serde_json::Value;

const CDN: &str = "https://cdn.classcast.test";

fn publisher(base: &str, id: &str, tok: &str) -> WhipClientOptions {
    common::test_pattern(base, id, tok, 640, 360)
}

async fn recorded_session(base: &str, tok: &str, title: &str) -> String {
    let r = http()
        .post(format!("{base}/api/sessions"))
        .bearer_auth(tok)
        .json(&serde_json::json!({ "title": title, "record": true }))
        .send()
        .await
        .expect("POST /api/sessions");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").to_owned()
}

async fn get_json(url: &str, tok: &str) -> Value {
    let r = http().get(url).bearer_auth(tok).send().await.expect("GET");
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.expect("json")
}

async fn recordings(base: &str, tok: &str, id: &str) -> Vec<Value> {
    get_json(&format!("{base}/api/sessions/{id}/recordings"), tok).await["recordings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The session's recordings once all are `ready` (fails on `failed`).
async fn wait_ready(base: &str, tok: &str, id: &str, limit: Duration) -> Vec<Value> {
    wait_for(limit, "recording ready", || async {
        let all = recordings(base, tok, id).await;
        for r in &all {
            assert_ne!(r["state"], "failed", "{r}");
        }
        (!all.is_empty() && all.iter().all(|r| r["state"] == "ready")).then_some(all)
    })
    .await
}

fn s3_args(moto: &MotoServer) -> Vec<String> {
    [
        "--storage",
        "s3",
        "--s3-bucket",
        BUCKET,
        "--s3-endpoint",
        &moto.endpoint,
        "--s3-path-style",
        "--upload-retry-max",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// An RSA key for CloudFront signing, made by openssl.
fn cloudfront_key(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("cf.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl")
        .status
        .success();
    assert!(ok, "openssl genrsa");
    key
}

/// Publishes from headless Chromium (its fake camera ramps up in resolution)
/// for `seconds`; the publish's duration as the browser saw it, and when it
/// ended (the page's DELETE answered).
fn chromium_publish(base: &str, tok: &str, id: &str, seconds: u32) -> (f64, Instant) {
    let page = format!("{base}/player/publish.html#token={tok}&session={id}");
    let mut browser = ClientProcess::chromium(&page, seconds, "auto");
    browser.expect_event("live", Duration::from_secs(30));
    let live_at = Instant::now();
    browser.expect_event("stopped", Duration::from_secs(u64::from(seconds) + 30));
    let ended = Instant::now();
    let published = ended.duration_since(live_at).as_secs_f64();
    browser.wait_success(Duration::from_secs(20));
    (published, ended)
}

/// (video, audio) start times of an MP4's first streams of each kind, in s.
fn stream_starts(path: &Path) -> (f64, f64) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_entries",
            "stream=codec_type,start_time",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let start = |kind: &str| {
        v["streams"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["codec_type"] == kind))
            .and_then(|s| s["start_time"].as_str()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {kind} start time: {v}"))
    };
    (start("video"), start("audio"))
}

async fn check_mp4(bytes: &[u8], published: f64) -> f64 {
    assert_faststart(bytes);
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), bytes).expect("write");
    let (codecs, duration) = probe_mp4(file.path());
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");
    assert!(codecs.contains(&"aac".to_owned()), "{codecs:?}");
    assert_recorded_length(duration, published);
    duration
}

/// A recording is never longer than the publish (give or take a segment's
/// rounding), and short of it by at most the ladder's start: it begins after
/// the publish does and then waits for the publisher's next keyframe, 1.5 to
/// 2.5 s on a busy 2-core machine. (Until the ladder's videorate stopped
/// filling that wait with copies of the first frame, recordings came out
/// longer than their publish instead: 16.8 s of 14.0 s.)
fn assert_recorded_length(duration: f64, published: f64) {
    const LADDER_START: f64 = 3.5;
    assert!(
        duration <= published + 2.0 && duration >= published - LADDER_START,
        "recording {duration:.2} s for a {published:.2} s publish"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chromium_publish_is_recorded_to_s3_with_the_vod_ladder_and_a_signed_cdn_url() {
    aws_test_env();
    let moto = MotoServer::start();
    let s3 = s3_client(&moto.endpoint);
    create_bucket(&s3).await;
    let distribution = create_distribution(&moto.endpoint).await;
    let keydir = tempfile::tempdir().expect("tmp");
    let key = cloudfront_key(keydir.path());
    let mut args = s3_args(&moto);
    args.extend(
        [
            "--cdn-url",
            CDN,
            "--cloudfront-key-pair-id",
            "KTESTPAIR",
            "--cloudfront-private-key-file",
            &key.display().to_string(),
            "--cloudfront-distribution-id",
            &distribution,
            "--cloudfront-endpoint",
            &moto.endpoint,
        ]
        .map(str::to_owned),
    );
    let server = ServerProcess::start(&refs(&args));
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = recorded_session(base, &alice, "s3 recording").await;

    let (published, ended) = chromium_publish(base, &alice, &id, 20);
    let recs = wait_ready(base, &alice, &id, Duration::from_secs(10)).await;
    eprintln!(
        "recording ready {:.2} s after the publish ended",
        ended.elapsed().as_secs_f64()
    );
    assert_eq!(recs.len(), 1, "{recs:?}");
    let rec = &recs[0];
    let rid = rec["id"].as_str().expect("id");

    // The MP4 in the bucket.
    let (mp4, content_type, cache) = get(&s3, &format!("recordings/{id}/{rid}.mp4")).await;
    assert_eq!(content_type.as_deref(), Some("video/mp4"));
    assert!(cache.unwrap_or_default().contains("immutable"));
    let duration = check_mp4(&mp4, published).await;
    eprintln!(
        "published {published:.2} s, recorded {duration:.2} s, {} bytes",
        mp4.len()
    );
    assert_eq!(rec["size_bytes"].as_u64(), Some(mp4.len() as u64));

    // Its playback URL: CloudFront, signed (verified in tests/signed_url.rs).
    let url = rec["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{CDN}/recordings/{id}/{rid}.mp4?Expires=")),
        "{url}"
    );
    assert!(
        url.contains("&Signature=") && url.ends_with("&Key-Pair-Id=KTESTPAIR"),
        "{url}"
    );

    // The HLS VOD ladder: final playlists, every listed segment present.
    let stored = keys(&s3, &format!("hls/{id}/")).await;
    assert!(
        stored.contains(&format!("hls/{id}/master.m3u8")),
        "{stored:?}"
    );
    let master =
        String::from_utf8(get(&s3, &format!("hls/{id}/master.m3u8")).await.0).expect("utf8");
    let rungs: Vec<&str> = master
        .lines()
        .filter(|l| l.ends_with("/index.m3u8"))
        .filter_map(|l| l.split('/').next())
        .collect();
    assert!(rungs.len() >= 2, "{master}");
    for rung in rungs {
        let (body, _, cache) = get(&s3, &format!("hls/{id}/{rung}/index.m3u8")).await;
        let text = String::from_utf8(body).expect("utf8");
        assert!(text.contains("#EXT-X-ENDLIST"), "{rung}: not final\n{text}");
        assert_eq!(cache.as_deref(), Some(classcast::storage::FINAL_PLAYLIST));
        let segments: Vec<&str> = text.lines().filter(|l| l.ends_with(".ts")).collect();
        assert!(segments.len() >= 8, "{rung}: {text}");
        for s in segments {
            assert!(
                stored.contains(&format!("hls/{id}/{rung}/{s}")),
                "{rung}/{s} not uploaded"
            );
        }
    }

    // The CDN was told to drop its cached live playlists.
    let paths = wait_for(Duration::from_secs(10), "invalidation", || async {
        let p = invalidated_paths(&moto.endpoint, &distribution).await;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(paths, vec![format!("/hls/{id}/*")]);
    let backlog = get_json(&format!("{base}/api/storage"), &alice).await;
    assert_eq!(backlog["pending"], 0, "{backlog}");
    eprintln!(
        "uploads: {} files, {} bytes, {} bytes/s",
        backlog["uploaded_files"], backlog["uploaded_bytes"], backlog["throughput_bytes_per_s"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chromium_publish_is_recorded_locally_and_served_by_classcast() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = recorded_session(base, &alice, "local recording").await;
    let (published, ended) = chromium_publish(base, &alice, &id, 20);
    let recs = wait_ready(base, &alice, &id, Duration::from_secs(10)).await;
    eprintln!(
        "recording ready {:.2} s after the publish ended",
        ended.elapsed().as_secs_f64()
    );
    let rec = &recs[0];
    // A student of the session gets a URL too (their own short-lived token).
    let bob = token(Role::Student, "bob", Some(&id));
    let seen = recordings(base, &bob, &id).await;
    let url = seen[0]["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{base}/recordings/{id}/")),
        "{url}"
    );
    let r = http().get(&url).send().await.expect("GET mp4");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let mp4 = r.bytes().await.expect("body");
    check_mp4(&mp4, published).await;
    assert_eq!(rec["size_bytes"].as_u64(), Some(mp4.len() as u64));
    // Seeking: byte ranges.
    let r = http()
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.expect("body")[..], mp4[100..200]);
    // Without a token: refused.
    let bare = url.split('?').next().expect("path");
    assert_eq!(http().get(bare).send().await.expect("GET").status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_outage_during_the_publish_loses_nothing() {
    aws_test_env();
    let mut moto = MotoServer::start();
    let s3 = s3_client(&moto.endpoint);
    create_bucket(&s3).await;
    let server = ServerProcess::start(&refs(&s3_args(&moto)));
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = recorded_session(base, &alice, "outage").await;
    let client = WhipClient::publish(&publisher(base, &id, &alice))
        .await
        .expect("publish");
    let live_at = Instant::now();
    // Counted segments, not seconds: a slow machine writes them later.
    let all = server.data_dir.join("hls").join(&id).join("720p/all.m3u8");
    let segments = || {
        std::fs::read_to_string(&all)
            .unwrap_or_default()
            .matches(".ts")
            .count()
    };
    wait_for(Duration::from_secs(30), "2 segments", || async {
        (segments() >= 2).then_some(())
    })
    .await;
    moto.stop(); // the store goes down mid-publish
    let at_outage = segments();
    wait_for(
        Duration::from_secs(40),
        "5 segments during the outage",
        || async { (segments() >= at_outage + 5).then_some(()) },
    )
    .await;
    client.stop().await.expect("DELETE");
    let published = live_at.elapsed().as_secs_f64();

    // Spooled, not lost: the recording waits, the backlog shows.
    let backlog = wait_for(Duration::from_secs(20), "recording spooled", || async {
        let recs = recordings(base, &alice, &id).await;
        let spooled = recs
            .first()
            .is_some_and(|r| r["state"] == "processing" && r["size_bytes"].as_u64().is_some());
        let b = get_json(&format!("{base}/api/storage"), &alice).await;
        (spooled && b["pending"].as_i64().unwrap_or(0) > 0).then_some(b)
    })
    .await;
    eprintln!("backlog while the store is down: {backlog}");
    assert!(backlog["failures"].as_u64().unwrap_or(0) > 0, "{backlog}");
    let metrics = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("classcast_uploads_pending"), "{metrics}");

    // The store comes back (moto starts empty: the bucket is made again).
    moto.restart();
    create_bucket(&s3).await;
    let back = Instant::now();
    let recs = wait_ready(base, &alice, &id, Duration::from_secs(30)).await;
    eprintln!(
        "recording ready {:.2} s after the store came back",
        back.elapsed().as_secs_f64()
    );
    let rid = recs[0]["id"].as_str().expect("id");
    let (mp4, _, _) = get(&s3, &format!("recordings/{id}/{rid}.mp4")).await;
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), &mp4).expect("write");
    assert_faststart(&mp4);
    let (codecs, duration) = probe_mp4(file.path());
    assert!(
        codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
        "{codecs:?}"
    );
    let listed = std::fs::read_to_string(&all).unwrap_or_default();
    eprintln!("recorded {duration:.2} s of {published:.2} s\n{listed}");
    assert_recorded_length(duration, published);
    // Picture and sound start together: the ladder used to fill the time
    // before the publisher's first keyframe with copies of that frame, a
    // frozen lead-in as long as the publish took to connect.
    let (video, audio) = stream_starts(file.path());
    assert!(
        (video - audio).abs() < 0.5,
        "video starts at {video:.2} s, audio at {audio:.2} s"
    );
    // Everything spooled during the outage reached the store, and the final
    // playlists went after their segments.
    wait_for(Duration::from_secs(30), "spool drained", || async {
        let b = get_json(&format!("{base}/api/storage"), &alice).await;
        (b["pending"] == 0).then_some(())
    })
    .await;
    let stored = keys(&s3, &format!("hls/{id}/")).await;
    let (body, _, _) = get(&s3, &format!("hls/{id}/360p/index.m3u8")).await;
    let text = String::from_utf8(body).expect("utf8");
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let outage_segments: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .skip(3)
        .collect();
    assert!(outage_segments.len() >= 4, "{text}");
    for s in outage_segments {
        assert!(
            stored.contains(&format!("hls/{id}/360p/{s}")),
            "{s} not uploaded after the outage"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_a_recorded_publish_uploads_what_it_had_after_restart() {
    aws_test_env();
    let moto = MotoServer::start();
    let s3 = s3_client(&moto.endpoint);
    create_bucket(&s3).await;
    let args = s3_args(&moto);
    let mut server = ServerProcess::start(&refs(&args));
    let data = server.keep_data_dir();
    let alice = token(Role::Instructor, "alice", None);
    let id = recorded_session(&server.url, &alice, "crash").await;
    let client = WhipClient::publish(&publisher(&server.url, &id, &alice))
        .await
        .expect("publish");
    let all = data.path().join("hls").join(&id).join("720p/all.m3u8");
    wait_for(Duration::from_secs(30), "4 segments", || async {
        let text = std::fs::read_to_string(&all).unwrap_or_default();
        (text.matches(".ts").count() >= 4).then_some(())
    })
    .await;
    server.kill(); // SIGKILL
    drop(client);
    let text = std::fs::read_to_string(&all).expect("all.m3u8");
    let on_disk: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| {
            l.trim_end_matches(',')
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();

    let server = ServerProcess::start_in(data.path(), &refs(&args));
    let recs = wait_ready(&server.url, &alice, &id, Duration::from_secs(30)).await;
    let rid = recs[0]["id"].as_str().expect("id");
    let (mp4, _, _) = get(&s3, &format!("recordings/{id}/{rid}.mp4")).await;
    assert_faststart(&mp4);
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), &mp4).expect("write");
    let (codecs, duration) = probe_mp4(file.path());
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");
    assert!(
        (duration - on_disk).abs() <= 1.0,
        "recorded {duration:.2} s, segments before the kill {on_disk:.2} s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_starts_and_stops_recording_during_a_publish() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = common::create_session(base, &alice, "switch").await;
    let client = WhipClient::publish(&publisher(base, &id, &alice))
        .await
        .expect("publish");
    let switch = |record: bool| {
        let url = format!("{base}/api/sessions/{id}/record");
        let alice = alice.clone();
        async move {
            let r = http()
                .put(url)
                .bearer_auth(&alice)
                .json(&serde_json::json!({ "record": record }))
                .send()
                .await
                .expect("PUT record");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    let all = server.data_dir.join("hls").join(&id).join("720p/all.m3u8");
    let segments = || {
        std::fs::read_to_string(&all)
            .unwrap_or_default()
            .matches(".ts")
            .count()
    };
    wait_for(Duration::from_secs(30), "2 segments", || async {
        (segments() >= 2).then_some(())
    })
    .await;
    let started = switch(true).await;
    assert_eq!(started["recording"]["state"], "recording", "{started}");
    let on_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let stopped = switch(false).await;
    let recorded_for = on_at.elapsed().as_secs_f64();
    assert_eq!(stopped["recording"]["state"], "processing", "{stopped}");
    // The publish goes on past the switch: two more segments, however long
    // a busy machine takes to write them.
    let at_stop = segments();
    wait_for(
        Duration::from_secs(30),
        "2 segments after the stop",
        || async { (segments() >= at_stop + 2).then_some(()) },
    )
    .await;
    client.stop().await.expect("DELETE");

    let recs = wait_ready(base, &alice, &id, Duration::from_secs(20)).await;
    assert_eq!(recs.len(), 1, "{recs:?}");
    let duration = recs[0]["duration_seconds"].as_f64().expect("duration");
    // Whole 2 s segments: the one in progress at each switch is included.
    assert!(
        duration >= recorded_for - 0.5 && duration <= recorded_for + 4.5,
        "recorded {duration:.2} s for a switch on for {recorded_for:.2} s"
    );
    let v = get_json(&format!("{base}/api/sessions/{id}"), &alice).await;
    assert_eq!(v["record"], false);
}
