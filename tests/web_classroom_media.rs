//! The classroom page in headless Chromium against a real publish: the first
//! student watches live over WebRTC, the second (past a cap of one seat)
//! the HLS broadcast through hls.js; audio only, recording consent, a token
//! for another class, the publish dropping and coming back, accessibility
//! and screenshots
//! (tests/browser/web/classroom.mjs).

mod common;

use std::time::Duration;

use classcast::auth::Role;
use classcast::client::WhipClient;
use common::{get_session, session_with, token, wait_for, ClientProcess, ServerProcess};
use serde_json::json;

/// Two small rungs: the quality menu has something to offer, and the
/// 2-core machine keeps the ladder, the publisher and two browsers in real time.
const SMALL_LADDER: &str = r#"
segment_seconds = 2
live_window = 6
keep_segments = false
frame_rate = 30
min_top_height = 0

[audio]
bitrate = 96000
channels = 2
rate = 48000

[[rungs]]
name = "360p"
width = 640
height = 360
bitrate_kbps = 730
max_bitrate_kbps = 800
profile = "main"
preset = "ultrafast"

[[rungs]]
name = "240p"
width = 426
height = 240
bitrate_kbps = 400
max_bitrate_kbps = 450
profile = "main"
preset = "ultrafast"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn students_watch_live_then_the_broadcast_past_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ladder = dir.path().join("ladder.toml");
    std::fs::write(&ladder, SMALL_LADDER).expect("ladder");
    let ladder = ladder.to_str().expect("utf-8 path");
    let server = ServerProcess::start(&["--ladder", ladder]);
    let base = server.url.clone();
    let alice = token(Role::Instructor, "alice", None);
    let live = session_with(
        &base,
        &alice,
        json!({ "title": "Cell biology", "max_webrtc_viewers": 1 }),
    )
    .await;
    let recorded = session_with(
        &base,
        &alice,
        json!({ "title": "Recorded seminar", "record": true }),
    )
    .await;

    let publisher = publish(&base, &live, &alice).await;
    wait_for(Duration::from_secs(30), "the broadcast's rungs", || async {
        let v = get_session(&base, &alice, &live).await;
        (v["live"] == true && v["hls"]["state"] == "live").then_some(())
    })
    .await;

    let (s1, s2) = (
        token(Role::Student, "Ada Lovelace", Some(&live)),
        token(Role::Student, "Grace Hopper", Some(&live)),
    );
    let other = token(Role::Student, "Alan Turing", Some(&recorded));
    let flags = [
        ("session", live.as_str()),
        ("recorded", recorded.as_str()),
        ("student1", s1.as_str()),
        ("student2", s2.as_str()),
        ("other", other.as_str()),
    ];
    let scenario = ClientProcess::web_scenario("classroom.mjs", &base, &flags);
    let scenario = expect(scenario, "publisher-restart-ready", 150).await;
    publisher.stop().await.expect("DELETE");
    let scenario = expect(scenario, "saw-stopped", 40).await;
    let publisher = publish(&base, &live, &alice).await;
    tokio::task::spawn_blocking(move || scenario.finish(Duration::from_secs(120)))
        .await
        .expect("scenario");
    publisher.stop().await.expect("DELETE");
}

/// The instructor's publish: a small test pattern.
async fn publish(base: &str, session: &str, token: &str) -> WhipClient {
    WhipClient::publish(&common::test_pattern(base, session, token, 640, 360))
        .await
        .expect("publish")
}

/// Waits (off the runtime) for the scenario's `event`.
async fn expect(scenario: ClientProcess, event: &'static str, limit_s: u64) -> ClientProcess {
    tokio::task::spawn_blocking(move || {
        scenario.expect_event(event, Duration::from_secs(limit_s));
        scenario
    })
    .await
    .expect("scenario")
}
