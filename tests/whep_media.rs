//! WHEP viewing end to end: the `classcast` binary on a loopback port, a
//! publisher (headless Chromium or our GStreamer test publisher), and viewers
//! nobody here wrote (headless Chromium, aiortc). One at a time (see
//! .config/nextest.toml).

mod common;

use std::time::{Duration, Instant};

use classcast::auth::{Claims, Role};
use classcast::client::WhipClient;
use common::{get_session, http, session_with, token, wait_for, ClientProcess, ServerProcess};
use serde_json::{json, Value};

use common::get_viewers as viewers;

/// Our GStreamer test publisher at 720p: the ladder gives 480p and 360p below it.
async fn publish_720p(base: &str, id: &str, tok: &str) -> WhipClient {
    let client = WhipClient::publish(&common::test_pattern(base, id, tok, 1280, 720))
        .await
        .expect("publish");
    wait_for(Duration::from_secs(20), "the ladder's rungs", || async {
        let v = get_session(base, tok, id).await;
        let rungs = v["hls"]["rungs"].as_array().map(|r| r.len()).unwrap_or(0);
        (v["live"] == true && rungs >= 2 && v["hls"]["state"] == "live").then_some(())
    })
    .await;
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_and_aiortc_view_a_chromium_publish() {
    // Everyone on the source: adaptation has a test of its own. No ladder
    // either: its three encodes competed with the browsers and aiortc for the
    // 2 cores, and the viewers stalled; this test is about WebRTC viewing.
    let server = ServerProcess::start(&["--viewer-adaptation", "false", "--disable-hls"]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(base, &alice, json!({ "title": "WHEP class" })).await;
    let page = format!("{base}/player/publish.html#token={alice}&session={id}");
    let mut publisher = ClientProcess::chromium(&page, 40, "auto");
    publisher.expect_event("live", Duration::from_secs(30));
    // Viewers come once the publisher's video and audio flow (until then
    // WHEP answers 409 and a player retries; these clients do not).
    wait_for(Duration::from_secs(20), "the publisher's media", || async {
        let v = get_session(base, &alice, &id).await;
        let flowing = |kind: &str| v["media"][kind]["frames"].as_u64().unwrap_or(0) > 0;
        (flowing("video") && flowing("audio")).then_some(())
    })
    .await;

    let whep = format!("{base}/whep/{id}");
    let bob = token(Role::Student, "bob", Some(&id));
    let carol = token(Role::Student, "carol", Some(&id));
    let browser = ClientProcess::chromium_viewer(&whep, &bob, &["--seconds", "15"]);
    let aiortc = ClientProcess::aiortc_viewer(&whep, &carol, 15, &[]);

    let answer = browser.expect_event("answer", Duration::from_secs(20));
    assert_eq!(answer["status"], 201, "{answer}");
    let first = browser.expect_event("first-frame", Duration::from_secs(10));
    eprintln!(
        "chromium viewer: first frame {} ms after the POST",
        first["ms"]
    );

    // Both viewers connected, and the instructor sees them.
    let list = wait_for(Duration::from_secs(10), "two viewers", || async {
        let v = viewers(base, &alice, &id).await;
        (v["webrtc"] == 2).then_some(v)
    })
    .await;
    let users: Vec<&str> = list["viewers"]
        .as_array()
        .expect("viewers")
        .iter()
        .filter_map(|v| v["user_id"].as_str())
        .collect();
    assert!(users.contains(&"bob") && users.contains(&"carol"), "{list}");

    let done = browser.expect_event("done", Duration::from_secs(30));
    eprintln!("chromium viewer: {done}");
    let decoded = done["framesDecoded"].as_u64().unwrap_or(0);
    assert!(
        decoded > 100,
        "chromium decoded {decoded} frames in 15 s: {done}"
    );
    assert!(done["audioBytes"].as_u64().unwrap_or(0) > 10_000, "{done}");
    let done = aiortc.expect_event("done", Duration::from_secs(30));
    eprintln!("aiortc viewer: {done}");
    assert!(
        done["video"]["frames_decoded"].as_u64().unwrap_or(0) > 100,
        "{done}"
    );
    assert!(
        done["audio"]["packets"].as_u64().unwrap_or(0) > 100,
        "{done}"
    );
    publisher.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_constrained_viewer_steps_down_a_rung_and_back_up() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(base, &alice, json!({ "title": "Adaptation" })).await;
    let client = publish_720p(base, &id, &alice).await;

    // 600 kb/s from 4 s to 24 s after the answer, then the link is free.
    let bob = token(Role::Student, "bob", Some(&id));
    let viewer = ClientProcess::aiortc_viewer(
        &format!("{base}/whep/{id}"),
        &bob,
        75,
        &["--police", "600@4-24"],
    );
    // A second viewer on a free link: the policed one must not slow it.
    let dave = token(Role::Student, "dave", Some(&id));
    let free = ClientProcess::aiortc_viewer(&format!("{base}/whep/{id}"), &dave, 40, &[]);
    viewer.expect_event("first-frame", Duration::from_secs(15));
    let started = Instant::now();
    let bob_of = |v: &Value| {
        v["viewers"]
            .as_array()
            .and_then(|vs| vs.iter().find(|x| x["user_id"] == "bob").cloned())
            .unwrap_or(Value::Null)
    };
    let level = |v: &Value| bob_of(v)["level"].as_str().unwrap_or("").to_owned();
    let low = wait_for(Duration::from_secs(30), "a lower rung", || async {
        let v = viewers(base, &alice, &id).await;
        (level(&v) == "360p").then_some(v)
    })
    .await;
    eprintln!(
        "down to 360p {:?} after the first frame: {}",
        started.elapsed(),
        bob_of(&low)
    );
    let freed = started + Duration::from_secs(24);
    let up = wait_for(Duration::from_secs(75), "back to the source", || async {
        let v = viewers(base, &alice, &id).await;
        (Instant::now() > freed && level(&v) == "source").then_some(v)
    })
    .await;
    let after = Instant::now().saturating_duration_since(freed);
    eprintln!(
        "back on the source {after:?} after the link was freed: {}",
        bob_of(&up)
    );
    assert!(after < Duration::from_secs(35), "upgrade took {after:?}");
    assert!(bob_of(&up)["level_switches"].as_u64().unwrap_or(0) >= 2);
    // Meanwhile the free viewer got every frame, on the source: 40 s at the
    // publisher's 30 fps, less its first keyframe wait.
    let done = free.expect_event("done", Duration::from_secs(60));
    eprintln!("the free viewer beside it: {done}");
    let frames = done["video"]["frames_decoded"].as_u64().unwrap_or(0);
    assert!(
        frames > 40 * 25,
        "the free viewer decoded {frames} frames in 40 s: {done}"
    );
    assert_eq!(done["video"]["lost"].as_u64(), Some(0), "{done}");
    drop(viewer);
    client.stop().await.expect("DELETE");
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_cap_viewers_get_503_and_the_hls_pointer_and_a_killed_viewer_is_reaped() {
    // Per-session metrics are the operator's: behind --metrics-token.
    const OPERATOR: &str = "operator-token-0123456789";
    let server =
        ServerProcess::start(&["--viewer-adaptation", "false", "--metrics-token", OPERATOR]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(
        base,
        &alice,
        json!({ "title": "Small room", "max_webrtc_viewers": 2 }),
    )
    .await;
    let client = publish_720p(base, &id, &alice).await;
    let whep = format!("{base}/whep/{id}");

    // Two seats: one viewer stays, one is killed mid-stream (no DELETE).
    let stays =
        ClientProcess::aiortc_viewer(&whep, &token(Role::Student, "s1", Some(&id)), 40, &[]);
    let killed = ClientProcess::aiortc_viewer(
        &whep,
        &token(Role::Student, "s2", Some(&id)),
        40,
        &["--kill-after", "8"],
    );
    stays.expect_event("first-frame", Duration::from_secs(15));
    killed.expect_event("first-frame", Duration::from_secs(15));

    // The third gets 503, the HLS playlist in the body and a Link header.
    let offer =
        std::fs::read_to_string(common::repo_root().join("tests/fixtures/chrome-offer.sdp"))
            .expect("fixture")
            .replace("a=sendonly", "a=recvonly");
    let r = http()
        .post(&whep)
        .bearer_auth(token(Role::Student, "s3", Some(&id)))
        .header("content-type", "application/sdp")
        .body(offer.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "30");
    let link = r.headers()["link"].to_str().expect("link").to_owned();
    let body: Value = r.json().await.expect("json");
    let hls = format!("{base}/hls/{id}/master.m3u8");
    assert_eq!(body["hls"], hls.as_str(), "{body}");
    assert!(
        link.contains(&hls) && link.contains("rel=\"alternate\""),
        "{link}"
    );
    // The instructor always fits, and so does a student on stage (with the
    // stage token the classroom gave them).
    let mut stage = Claims::new(
        "s4",
        "s4",
        Role::Student,
        Some(id.clone()),
        Duration::from_secs(600),
    );
    stage.stage = true;
    let on_stage = common::keys().sign(&stage).expect("sign");
    for who in [&alice, &on_stage] {
        let r = http()
            .post(&whep)
            .bearer_auth(who)
            .header("content-type", "application/sdp")
            .body(offer.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let r = http()
            .delete(&location)
            .bearer_auth(who)
            .send()
            .await
            .expect("DELETE");
        assert_eq!(r.status(), 200);
    }

    // The killed viewer goes within 15 s; the other keeps its frame rate,
    // and so does the publisher.
    killed.expect_event("killed", Duration::from_secs(15));
    let killed_at = Instant::now();
    let forwarded = |v: &Value, user: &str| {
        v["viewers"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["user_id"] == user).cloned())
            .map(|x| x["frames_forwarded"].as_u64().unwrap_or(0))
    };
    let published = |s: &Value| s["media"]["video"]["frames"].as_u64().unwrap_or(0);
    let published_before = published(&get_session(base, &alice, &id).await);
    let before = forwarded(&viewers(base, &alice, &id).await, "s1").expect("s1");
    wait_for(
        Duration::from_secs(15),
        "the killed viewer reaped",
        || async {
            let v = viewers(base, &alice, &id).await;
            (v["webrtc"] == 1).then_some(())
        },
    )
    .await;
    eprintln!("reaped {:?} after the kill", killed_at.elapsed());
    let elapsed = killed_at.elapsed().as_secs_f64();
    let v = viewers(base, &alice, &id).await;
    let after = forwarded(&v, "s1").expect("s1");
    let rate = (after - before) as f64 / elapsed;
    eprintln!(
        "the other viewer got {rate:.1} frames/s meanwhile: {}",
        v["viewers"][0]
    );
    // Measured against the publisher over the same seconds, not against a
    // fixed frame rate: the machine's load sets the publisher's own pace.
    let s = get_session(base, &alice, &id).await;
    let published_frames = published(&s).saturating_sub(published_before);
    let publisher_rate = published_frames as f64 / elapsed;
    eprintln!("the publisher sent {publisher_rate:.1} frames/s meanwhile");
    assert!(publisher_rate > 15.0, "the publisher stalled: {s}");
    assert!(
        (after - before) as f64 >= 0.9 * published_frames as f64,
        "the other viewer got {} of the publisher's {published_frames} frames",
        after - before
    );
    // The viewer's own view of the same seconds (its lines are read in order).
    let stats = loop {
        let s = stays.expect_event("stats", Duration::from_secs(5));
        if s["t"].as_f64().unwrap_or(0.0) > 10.0 {
            break s;
        }
    };
    assert!(
        stats["video"]["fps"].as_f64().unwrap_or(0.0) > 15.0,
        "{stats}"
    );

    // The same figures in the metrics.
    let metrics = http()
        .get(format!("{base}/metrics"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!("classcast_webrtc_viewers{{session=\"{id}\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains("classcast_webrtc_viewers_reaped_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("classcast_webrtc_viewers_refused_full_total 1"),
        "{metrics}"
    );

    // A seat is free again.
    let again = ClientProcess::aiortc_viewer(&whep, &token(Role::Student, "s4", Some(&id)), 5, &[]);
    again.expect_event("first-frame", Duration::from_secs(15));

    // The publisher leaves: viewers are closed, and offers get 409 until it is back.
    client.stop().await.expect("DELETE");
    wait_for(Duration::from_secs(10), "viewers closed", || async {
        let v = viewers(base, &alice, &id).await;
        (v["webrtc"] == 0).then_some(())
    })
    .await;
    let r = http()
        .post(&whep)
        .bearer_auth(token(Role::Student, "s5", Some(&id)))
        .header("content-type", "application/sdp")
        .body(
            std::fs::read_to_string(common::repo_root().join("tests/fixtures/chrome-offer.sdp"))
                .expect("fixture")
                .replace("a=sendonly", "a=recvonly"),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["retry-after"], "5");
}

#[tokio::test(flavor = "multi_thread")]
async fn audio_only_viewers_get_no_video() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(base, &alice, json!({ "title": "Audio only" })).await;
    let client = publish_720p(base, &id, &alice).await;
    let bob = token(Role::Student, "bob", Some(&id));
    let viewer =
        ClientProcess::aiortc_viewer(&format!("{base}/whep/{id}?audio_only=1"), &bob, 6, &[]);
    let done = viewer.expect_event("done", Duration::from_secs(30));
    assert_eq!(done["video"]["packets"].as_u64().unwrap_or(0), 0, "{done}");
    assert!(
        done["audio"]["packets"].as_u64().unwrap_or(0) > 100,
        "{done}"
    );
    client.stop().await.expect("DELETE");
}
