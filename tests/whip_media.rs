//! WHIP ingest end to end: the `classcast` binary on a loopback port, published
//! to by clients we did not write (headless Chromium, aiortc) and by GStreamer.
//! These run one at a time (see .config/nextest.toml).

mod common;

use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::{WhipClient, WhipClientError, WhipClientOptions};
use classcast::media::VideoCodecPref;
use common::{create_session, get_session, http, token, wait_for, ClientProcess, ServerProcess};
use serde_json::Value;

fn frames(v: &Value, kind: &str) -> u64 {
    v["media"][kind]["frames"].as_u64().unwrap_or(0)
}

async fn wait_frames(
    base: &str,
    tok: &str,
    id: &str,
    video: u64,
    audio: u64,
    limit: Duration,
) -> Value {
    wait_for(
        limit,
        &format!("{video} video and {audio} audio frames"),
        || async {
            let v = get_session(base, tok, id).await;
            (frames(&v, "video") > video && frames(&v, "audio") > audio).then_some(v)
        },
    )
    .await
}

async fn wait_not_live(base: &str, tok: &str, id: &str, limit: Duration) -> Value {
    wait_for(limit, "the session to leave live", || async {
        let v = get_session(base, tok, id).await;
        (v["live"] == false && v["state"] == "scheduled").then_some(v)
    })
    .await
}

async fn last_publish(base: &str, tok: &str, id: &str) -> Value {
    let list: Value = http()
        .get(format!("{base}/api/sessions/{id}/publishes"))
        .bearer_auth(tok)
        .send()
        .await
        .expect("GET publishes")
        .json()
        .await
        .expect("json");
    list[0].clone()
}

fn gst_options(base: &str, id: &str, tok: &str, codec: VideoCodecPref) -> WhipClientOptions {
    WhipClientOptions {
        whip_url: format!("{base}/whip/{id}"),
        token: tok.to_owned(),
        codec,
        width: 640,
        height: 360,
        fps: 30,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_then_republishes_until_the_session_ends() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "Chromium class").await;

    let page = format!("{base}/player/publish.html#token={alice}&session={id}");
    let mut browser = ClientProcess::chromium(&page, 14, "auto");
    browser.expect_event("live", Duration::from_secs(30));
    let live_at = Instant::now();
    let v = wait_frames(base, &alice, &id, 100, 100, Duration::from_secs(15)).await;
    eprintln!(
        "chromium: >100 video and audio frames after {:?}",
        live_at.elapsed()
    );
    assert_eq!(v["state"], "live");
    assert_eq!(v["live"], true);
    assert_eq!(v["media"]["connection_state"], "connected");
    assert_eq!(v["media"]["video"]["codec"], "H264");
    assert_eq!(v["media"]["audio"]["codec"], "OPUS");
    assert!(
        v["media"]["video"]["width"].as_u64().unwrap_or(0) >= 160,
        "{v}"
    );
    assert!(v["media"]["video"]["keyframes"].as_u64().unwrap_or(0) >= 1);

    // The page's Stop button DELETEs the resource.
    browser.expect_event("stopped", Duration::from_secs(30));
    browser.wait_success(Duration::from_secs(15));
    wait_not_live(base, &alice, &id, Duration::from_secs(5)).await;
    let event = last_publish(base, &alice, &id).await;
    assert_eq!(event["stop_reason"], "deleted");
    assert_eq!(event["video_codec"], "H264");

    // The instructor may publish again until the session is ended.
    let client = WhipClient::publish(&gst_options(base, &id, &alice, VideoCodecPref::Vp8))
        .await
        .expect("second publish");
    let v = wait_frames(base, &alice, &id, 30, 30, Duration::from_secs(15)).await;
    assert_eq!(v["media"]["video"]["codec"], "VP8");
    client.stop().await.expect("DELETE");
    wait_not_live(base, &alice, &id, Duration::from_secs(5)).await;

    let r = http()
        .post(format!("{base}/api/sessions/{id}/end"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 200);
    match WhipClient::publish(&gst_options(base, &id, &alice, VideoCodecPref::H264)).await {
        Err(WhipClientError::Refused { status: 409, .. }) => {}
        Err(e) => panic!("expected 409, got {e}"),
        Ok(_) => panic!("publishing into an ended session succeeded"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aiortc_publishes_h264_and_vp8() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    for (codec, name) in [("h264", "H264"), ("vp8", "VP8")] {
        let id = create_session(base, &alice, name).await;
        let mut client = ClientProcess::aiortc(&format!("{base}/whip/{id}"), &alice, codec, 6, &[]);
        let published = client.expect_event("published", Duration::from_secs(20));
        assert_eq!(published["status"], 201);
        let location = published["location"].as_str().expect("location");
        assert!(
            location.starts_with(&format!("{base}/whip/{id}/")),
            "{location}"
        );
        assert!(published["etag"].is_string(), "{published}");
        let v = wait_frames(base, &alice, &id, 60, 100, Duration::from_secs(15)).await;
        assert_eq!(v["media"]["video"]["codec"], name);
        let deleted = client.expect_event("deleted", Duration::from_secs(20));
        assert_eq!(deleted["status"], 200);
        client.wait_success(Duration::from_secs(10));
        wait_not_live(base, &alice, &id, Duration::from_secs(5)).await;
        assert_eq!(last_publish(base, &alice, &id).await["video_codec"], name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whip_resource_conflict_trickle_etag_and_delete() {
    let server = ServerProcess::start(&[
        "--ice-server",
        "stun://127.0.0.1:3478,turn://user:p%40ss@127.0.0.1:3478?transport=udp",
        "--ice-gather-timeout",
        "1s",
    ]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "rules").await;
    let opts = gst_options(base, &id, &alice, VideoCodecPref::H264);
    let client = WhipClient::publish(&opts).await.expect("publish");
    let location = client.location.clone();
    let etag = client.etag.clone().expect("ETag");

    // A second publisher while one is live.
    match WhipClient::publish(&opts).await {
        Err(WhipClientError::Refused { status: 409, body }) => {
            assert!(body.contains("already publish your camera"), "{body}")
        }
        Err(e) => panic!("expected 409, got {e}"),
        Ok(_) => panic!("second publisher accepted"),
    }
    // A raw offer while live is refused the same way.
    let r = http()
        .post(format!("{base}/whip/{id}"))
        .bearer_auth(&alice)
        .header("content-type", "application/sdp")
        .body(include_str!("fixtures/chrome-offer.sdp"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 409);

    let patch = |if_match: Option<&str>, body: &str| {
        let mut req = http()
            .patch(&location)
            .bearer_auth(&alice)
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body(body.to_owned());
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    let candidate = "a=mid:video0\r\na=candidate:1 1 UDP 2015363327 192.0.2.77 40000 typ host\r\na=end-of-candidates\r\n";
    assert_eq!(
        patch(Some("\"stale\""), candidate)
            .await
            .expect("PATCH")
            .status(),
        412
    );
    assert_eq!(
        patch(Some(&etag), candidate).await.expect("PATCH").status(),
        204
    );
    assert_eq!(patch(None, candidate).await.expect("PATCH").status(), 204);
    let restart = "a=ice-ufrag:newufrag\r\na=ice-pwd:newpasswordnewpasswordxx\r\n";
    assert_eq!(
        patch(Some(&etag), restart).await.expect("PATCH").status(),
        422
    );
    assert_eq!(
        patch(Some(&etag), "garbage").await.expect("PATCH").status(),
        400
    );
    let student = token(Role::Student, "sam", Some(&id));
    let r = http()
        .delete(&location)
        .bearer_auth(&student)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 403);

    client.stop().await.expect("DELETE 200");
    let r = http()
        .delete(&location)
        .bearer_auth(&alice)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 404);
    assert_eq!(
        patch(Some(&etag), candidate).await.expect("PATCH").status(),
        404
    );
    wait_not_live(base, &alice, &id, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn link_headers_carry_the_ice_servers() {
    let server = ServerProcess::start(&[
        "--ice-server",
        "stun://127.0.0.1:3478,turn://user:secret@127.0.0.1:3478?transport=udp",
        "--ice-gather-timeout",
        "1s",
    ]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "links").await;
    let client = ClientProcess::aiortc(&format!("{base}/whip/{id}"), &alice, "h264", 2, &[]);
    let published = client.expect_event("published", Duration::from_secs(20));
    let links: Vec<String> = serde_json::from_value(published["links"].clone()).expect("links");
    assert!(
        links.contains(&"<stun:127.0.0.1:3478>; rel=\"ice-server\"".to_owned()),
        "{links:?}"
    );
    assert!(
        links.contains(
            &"<turn:127.0.0.1:3478?transport=udp>; rel=\"ice-server\"; username=\"user\"; credential=\"secret\"; credential-type=\"password\""
                .to_owned()
        ),
        "{links:?}"
    );
    client.expect_event("deleted", Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_that_vanishes_is_reaped() {
    let server = ServerProcess::start(&["--media-timeout", "2s"]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "vanishing").await;
    let mut client = ClientProcess::aiortc(&format!("{base}/whip/{id}"), &alice, "vp8", 60, &[]);
    client.expect_event("published", Duration::from_secs(20));
    wait_frames(base, &alice, &id, 30, 30, Duration::from_secs(15)).await;
    client.kill(); // SIGKILL: no DELETE, no goodbye.
    let killed = Instant::now();
    wait_not_live(base, &alice, &id, Duration::from_secs(10)).await;
    eprintln!("reaped {:?} after the publisher died", killed.elapsed());
    assert_eq!(
        last_publish(base, &alice, &id).await["stop_reason"],
        "media-timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_restart_closes_the_open_publish() {
    let mut server = ServerProcess::start(&[]);
    let data = server.keep_data_dir();
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(&server.url, &alice, "restart").await;
    let client = WhipClient::publish(&gst_options(&server.url, &id, &alice, VideoCodecPref::H264))
        .await
        .expect("publish");
    wait_frames(&server.url, &alice, &id, 30, 30, Duration::from_secs(15)).await;
    server.kill(); // SIGKILL mid-publish
    drop(client);

    let server = ServerProcess::start_in(data.path(), &[]);
    let v = get_session(&server.url, &alice, &id).await;
    assert_eq!(v["state"], "scheduled", "{v}");
    assert_eq!(v["live"], false);
    let event = last_publish(&server.url, &alice, &id).await;
    assert_eq!(event["stop_reason"], "server-restart");
    assert!(event["stopped_at"].is_i64());

    // The same session takes a new publish.
    let client = WhipClient::publish(&gst_options(&server.url, &id, &alice, VideoCodecPref::H264))
        .await
        .expect("publish after restart");
    wait_frames(&server.url, &alice, &id, 30, 30, Duration::from_secs(15)).await;
    client.stop().await.expect("DELETE");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_shutdown_records_why_the_publish_ended() {
    let mut server = ServerProcess::start(&[]);
    let data = server.keep_data_dir();
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(&server.url, &alice, "shutdown").await;
    let client = WhipClient::publish(&gst_options(&server.url, &id, &alice, VideoCodecPref::Vp8))
        .await
        .expect("publish");
    wait_frames(&server.url, &alice, &id, 30, 30, Duration::from_secs(15)).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    assert!(
        server.wait_exit(Duration::from_secs(10)),
        "the server did not exit on SIGTERM"
    );
    drop(client);

    let server = ServerProcess::start_in(data.path(), &[]);
    let event = last_publish(&server.url, &alice, &id).await;
    assert_eq!(event["stop_reason"], "server-shutdown");
    assert_eq!(
        get_session(&server.url, &alice, &id).await["state"],
        "scheduled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_mode_publishes_a_test_pattern() {
    let server = ServerProcess::start(&["--demo"]);
    let tok = token(Role::Guest, "viewer", Some("demo"));
    let v = wait_frames(&server.url, &tok, "demo", 60, 60, Duration::from_secs(20)).await;
    assert_eq!(v["media"]["video"]["width"], 1280);
    assert_eq!(v["media"]["video"]["height"], 720);
}

#[tokio::test(flavor = "multi_thread")]
async fn info_logs_carry_no_tokens_or_sdp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_logged(&[], &log);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "logs").await;
    let client = ClientProcess::aiortc(&format!("{base}/whip/{id}"), &alice, "h264", 3, &[]);
    client.expect_event("published", Duration::from_secs(20));
    client.expect_event("deleted", Duration::from_secs(20));
    // A refused request with a bad token is logged without the token either.
    let r = http()
        .post(format!("{base}/whip/{id}"))
        .bearer_auth("secret-looking-token")
        .header("content-type", "application/sdp")
        .body("v=0")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401);
    drop(server);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("publish started"),
        "the log is being read: {text}"
    );
    for secret in [
        alice.as_str(),
        "secret-looking-token",
        "a=candidate",
        "a=fingerprint",
        "v=0",
    ] {
        assert!(!text.contains(secret), "{secret:?} appears in the info log");
    }
}
