//! WHIP and WHEP against hostile clients (issue 13: C1, H1, H6, L3, L4, M4
//! and the resource-lifecycle soak): offers abandoned mid-negotiation, offers
//! past the limits, one token taking many seats. The `classcast` binary on a
//! loopback port with a live GStreamer publish; one at a time (see
//! .config/nextest.toml).

mod common;

use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::{WhipClient, WhipClientOptions};
use classcast::media::VideoCodecPref;
use common::{get_session, http, session_with, token, wait_for, ClientProcess, ServerProcess};
use serde_json::{json, Value};
use std::io::{Read, Write};

const CHROME_OFFER: &str = include_str!("fixtures/chrome-offer.sdp");

fn recvonly_offer() -> String {
    CHROME_OFFER.replace("a=sendonly", "a=recvonly")
}

/// Short timeouts so viewers that never connect are reaped within the test.
const SERVER_ARGS: &[&str] = &[
    "--disable-hls",
    "--connect-timeout",
    "3s",
    "--ice-gather-timeout",
    "1s",
];

fn start_server() -> ServerProcess {
    ServerProcess::start(SERVER_ARGS)
}

/// A server whose stderr (GStreamer's own warnings included) goes to a file.
fn start_logged_server() -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start_logged(SERVER_ARGS, &dir.path().join("server.log"));
    (server, dir)
}

/// GStreamer's sign of the C1 race: a pipeline disposed while a state change
/// left it playing (then a streaming thread touched freed memory).
fn assert_no_disposal_while_playing(log_dir: &tempfile::TempDir) {
    let log = std::fs::read_to_string(log_dir.path().join("server.log")).expect("server log");
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Trying to dispose element"))
        .take(3)
        .collect();
    assert!(bad.is_empty(), "pipelines disposed while playing: {bad:?}");
}

async fn publish_small(base: &str, id: &str, tok: &str) -> WhipClient {
    let client = WhipClient::publish(&WhipClientOptions {
        whip_url: format!("{base}/whip/{id}"),
        token: tok.to_owned(),
        codec: VideoCodecPref::H264,
        width: 320,
        height: 240,
        fps: 15,
    })
    .await
    .expect("publish");
    wait_for(
        Duration::from_secs(20),
        "the publish to be live",
        || async {
            let v = get_session(base, tok, id).await;
            // Every offered track flowing: WHEP answers 409 before that.
            let flowing = |kind: &str| {
                v["media"][kind].is_null() || v["media"][kind]["frames"].as_u64().unwrap_or(0) > 0
            };
            (v["live"] == true && flowing("video") && flowing("audio")).then_some(())
        },
    )
    .await;
    client
}

/// Where a hostile client drops its connection.
#[derive(Debug, Clone, Copy)]
enum HangUp {
    /// Headers sent, body never.
    BeforeBody,
    /// The whole request sent, closed this many ms later.
    AfterBody(u64),
    /// Closed once the first bytes of the answer arrive.
    MidAnswer,
}

/// Sends an SDP POST over a raw socket and hangs up at `when`.
async fn hang_up(base: &str, path: &str, tok: &str, body: &str, when: HangUp) {
    let addr = base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {tok}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let body = body.to_owned();
    // A plain blocking socket: exact control of what is sent before the close.
    tokio::task::spawn_blocking(move || {
        let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
            return;
        };
        let _ = stream.write_all(head.as_bytes());
        match when {
            HangUp::BeforeBody => {}
            HangUp::AfterBody(ms) => {
                let _ = stream.write_all(body.as_bytes());
                std::thread::sleep(Duration::from_millis(ms));
            }
            HangUp::MidAnswer => {
                let _ = stream.write_all(body.as_bytes());
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut first = [0u8; 16];
                let _ = stream.read(&mut first);
            }
        }
        drop(stream);
    })
    .await
    .expect("hang-up task");
}

async fn post_sdp(url: &str, tok: &str, body: String) -> reqwest::Response {
    http()
        .post(url)
        .bearer_auth(tok)
        .header("content-type", "application/sdp")
        .body(body)
        .send()
        .await
        .expect("POST")
}

use common::get_viewers as viewers;

async fn wait_no_viewers(base: &str, tok: &str, id: &str, limit: Duration) {
    wait_for(limit, "every WebRTC seat to be free", || async {
        let v = viewers(base, tok, id).await;
        (v["webrtc"] == 0).then_some(())
    })
    .await;
}

async fn healthz(base: &str) -> u16 {
    http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A real viewer (aiortc) connects and decodes video.
fn assert_a_viewer_decodes(base: &str, id: &str, who: &str) {
    let tok = token(Role::Student, who, Some(id));
    let viewer = ClientProcess::aiortc_viewer(&format!("{base}/whep/{id}"), &tok, 6, &[]);
    let answer = viewer.expect_event("answer", Duration::from_secs(20));
    assert_eq!(answer["status"], 201, "{answer}");
    viewer.expect_event("first-frame", Duration::from_secs(20));
}

/// The session's publish is live and its frame count still grows.
async fn assert_still_publishing(base: &str, tok: &str, id: &str) {
    let before = get_session(base, tok, id).await["media"]["video"]["frames"]
        .as_u64()
        .unwrap_or(0);
    wait_for(Duration::from_secs(10), "the publish to go on", || async {
        let v = get_session(base, tok, id).await;
        (v["live"] == true && v["media"]["video"]["frames"].as_u64().unwrap_or(0) > before)
            .then_some(())
    })
    .await;
}

/// C1 and H1: offers whose clients hang up 0–5 ms after the body neither
/// crash the process nor keep their seats.
#[tokio::test(flavor = "multi_thread")]
async fn hung_up_offers_neither_crash_nor_leak() {
    let (mut server, log) = start_logged_server();
    let base = server.url.clone();
    let base = base.as_str();
    let alice = token(Role::Instructor, "alice", None);
    let live = session_with(
        base,
        &alice,
        json!({ "title": "live", "max_webrtc_viewers": 3 }),
    )
    .await;
    let spare = session_with(base, &alice, json!({ "title": "spare" })).await;
    let publisher = publish_small(base, &live, &alice).await;

    let viewer_offer = recvonly_offer();
    for i in 0..40u64 {
        let student = token(Role::Student, &format!("s{i}"), Some(&live));
        hang_up(
            base,
            &format!("/whep/{live}"),
            &student,
            &viewer_offer,
            HangUp::AfterBody(i % 6),
        )
        .await;
        if i % 4 == 0 {
            hang_up(
                base,
                &format!("/whip/{spare}"),
                &alice,
                CHROME_OFFER,
                HangUp::AfterBody(i % 6),
            )
            .await;
        }
    }
    assert!(server.is_running(), "the server process died");
    assert_eq!(healthz(base).await, 200);

    // H1: the hung-up publish does not keep the spare session taken: a real
    // publish gets in once the abandoned negotiation has ended.
    let started = Instant::now();
    let second = wait_for(
        Duration::from_secs(15),
        "the spare session to be publishable",
        || async {
            WhipClient::publish(&WhipClientOptions {
                whip_url: format!("{base}/whip/{spare}"),
                token: alice.clone(),
                codec: VideoCodecPref::H264,
                width: 320,
                height: 240,
                fps: 15,
            })
            .await
            .ok()
        },
    )
    .await;
    eprintln!(
        "spare session publishable {:?} after the hang-ups",
        started.elapsed()
    );
    second.stop().await.expect("DELETE");

    // H1: hung-up viewers did not fill the cap of 3.
    wait_no_viewers(base, &alice, &live, Duration::from_secs(15)).await;
    assert_a_viewer_decodes(base, &live, "after-hangups");
    assert!(server.is_running(), "the server process died");
    assert_still_publishing(base, &alice, &live).await;
    publisher.stop().await.expect("DELETE");
    assert_no_disposal_while_playing(&log);
}

/// A minimal unbundled offer with `n` audio m-lines.
fn offer_with_mlines(n: usize, direction: &str) -> String {
    let mut text = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned();
    for i in 0..n {
        text.push_str(&format!(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:{i}\r\n\
             a=ice-ufrag:u{i}\r\na=ice-pwd:p{i}xxxxxxxxxxxxxxxxxxxxxx\r\n\
             a=fingerprint:sha-256 00:00\r\na=setup:actpass\r\na={direction}\r\n\
             a=rtpmap:111 opus/48000/2\r\n"
        ));
    }
    text
}

fn error_text(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// H6, L3, L4, M4: offers and trickles past the limits are refused quickly,
/// with words, and cost no threads.
#[tokio::test(flavor = "multi_thread")]
async fn offers_past_the_limits_are_refused_with_words() {
    let mut server = start_server();
    let base = server.url.clone();
    let base = base.as_str();
    let pid = server.pid();
    let alice = token(Role::Instructor, "alice", None);
    let live = session_with(base, &alice, json!({ "title": "live" })).await;
    let spare = session_with(base, &alice, json!({ "title": "spare" })).await;
    let publisher = publish_small(base, &live, &alice).await;
    let sam = token(Role::Student, "sam", Some(&live));

    // H6: hundreds of m-lines, several at once.
    let threads_before = threads(pid);
    let started = Instant::now();
    let mut refusals = Vec::new();
    for i in 0..6 {
        let (url, tok, offer) = if i % 2 == 0 {
            (
                format!("{base}/whip/{spare}"),
                alice.clone(),
                offer_with_mlines(300, "sendonly"),
            )
        } else {
            (
                format!("{base}/whep/{live}"),
                sam.clone(),
                offer_with_mlines(300, "recvonly"),
            )
        };
        refusals.push(tokio::spawn(async move {
            let r = post_sdp(&url, &tok, offer).await;
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }));
    }
    let mut peak = threads_before;
    for r in refusals {
        let (status, body) = r.await.expect("join");
        peak = peak.max(threads(pid));
        assert_eq!(status, 422, "{body}");
        assert!(error_text(&body).contains("at most 4"), "{body}");
    }
    eprintln!(
        "6 offers of 300 m-lines refused in {:?}; threads {threads_before} → peak {peak}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        peak <= threads_before + 10,
        "threads grew {threads_before} → {peak}"
    );

    // L3: payload types out of range.
    for (from, to) in [
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:300 opus/48000/2"),
        ("UDP/TLS/RTP/SAVPF 111 63", "UDP/TLS/RTP/SAVPF 111 63 999"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/0/2"),
    ] {
        let whep = post_sdp(
            &format!("{base}/whep/{live}"),
            &sam,
            recvonly_offer().replacen(from, to, 1),
        )
        .await;
        assert_eq!(whep.status(), 422, "{to}");
        let text = error_text(&whep.text().await.unwrap_or_default());
        assert!(text.contains("m-line 0"), "{text}");
        let whip = post_sdp(
            &format!("{base}/whip/{spare}"),
            &alice,
            CHROME_OFFER.replacen(from, to, 1),
        )
        .await;
        assert_eq!(whip.status(), 422, "{to}");
    }

    // M4: one token, two seats, then a clear refusal.
    let mut resources = Vec::new();
    for _ in 0..2 {
        let r = post_sdp(&format!("{base}/whep/{live}"), &sam, recvonly_offer()).await;
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let etag = r.headers()["etag"].to_str().expect("etag").to_owned();
        resources.push((location, etag));
    }
    let third = post_sdp(&format!("{base}/whep/{live}"), &sam, recvonly_offer()).await;
    assert_eq!(third.status(), 429);
    let text = error_text(&third.text().await.unwrap_or_default());
    assert!(text.contains("you already hold 2 WebRTC views"), "{text}");

    // L4: trickle to loopback only (no traffic leaves this machine); past
    // the limit, and to a broadcast address, refused.
    let (location, etag) = &resources[0];
    let patch = |body: String| {
        http()
            .patch(location.as_str())
            .bearer_auth(&sam)
            .header("content-type", "application/trickle-ice-sdpfrag")
            .header("if-match", etag.as_str())
            .body(body)
            .send()
    };
    let candidate =
        |port: u32| format!("a=candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host\r\n");
    let forty: String = (0..40).map(|i| candidate(40000 + i)).collect();
    assert_eq!(
        patch(format!("a=mid:0\r\n{forty}"))
            .await
            .expect("PATCH")
            .status(),
        204
    );
    let broadcast = "a=mid:0\r\na=candidate:1 1 udp 2122260223 255.255.255.255 9 typ host\r\n";
    let r = patch(broadcast.to_owned()).await.expect("PATCH");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap_or_default().contains("unicast"));
    let eleven: String = (0..11).map(|i| candidate(41000 + i)).collect();
    let r = patch(format!("a=mid:0\r\n{eleven}")).await.expect("PATCH");
    assert_eq!(r.status(), 422);
    let text = error_text(&r.text().await.unwrap_or_default());
    assert!(text.contains("at most 50"), "{text}");
    assert_eq!(
        patch(format!("a=mid:0\r\n{}", candidate(42000)))
            .await
            .expect("PATCH")
            .status(),
        204
    );
    let many: String = (0..51).map(|i| candidate(43000 + i)).collect();
    let r = patch(format!("a=mid:0\r\n{many}")).await.expect("PATCH");
    assert_eq!(r.status(), 400, "51 in one fragment");

    // WHIP per-user limit: alice holds one publish; a second session is
    // fine, a third is refused.
    let third_session = session_with(base, &alice, json!({ "title": "third" })).await;
    let second = publish_small(base, &spare, &alice).await;
    let r = post_sdp(
        &format!("{base}/whip/{third_session}"),
        &alice,
        CHROME_OFFER.to_owned(),
    )
    .await;
    assert_eq!(r.status(), 429);
    let text = error_text(&r.text().await.unwrap_or_default());
    assert!(text.contains("WHIP publishes"), "{text}");
    second.stop().await.expect("DELETE");

    assert!(server.is_running());
    assert_still_publishing(base, &alice, &live).await;
    publisher.stop().await.expect("DELETE");
}

/// The soak: 1,000 offers (WHEP mostly, some WHIP) abandoned at
/// random points, ten at a time, against a live session. Afterwards nothing
/// is leaked and the class still plays.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_abandoned_offers_leave_nothing_behind() {
    const OFFERS: usize = 1000;
    const CONCURRENCY: usize = 10;
    let (mut server, log) = start_logged_server();
    let base = server.url.clone();
    let pid = server.pid();
    let alice = token(Role::Instructor, "alice", None);
    let live = session_with(
        &base,
        &alice,
        json!({ "title": "live", "max_webrtc_viewers": 1000 }),
    )
    .await;
    let spare = session_with(&base, &alice, json!({ "title": "spare" })).await;
    let publisher = publish_small(&base, &live, &alice).await;
    assert_a_viewer_decodes(&base, &live, "before-soak");
    wait_no_viewers(&base, &alice, &live, Duration::from_secs(20)).await;
    let (threads_before, fds_before) = (threads(pid), fds(pid));

    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, base, live, spare, alice) = (
            next.clone(),
            base.clone(),
            live.clone(),
            spare.clone(),
            alice.clone(),
        );
        workers.push(tokio::spawn(async move {
            let viewer_offer = recvonly_offer();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= OFFERS {
                    break;
                }
                let when = match rand::random::<u8>() % 8 {
                    0 => HangUp::BeforeBody,
                    1 => HangUp::MidAnswer,
                    _ => HangUp::AfterBody(rand::random::<u64>() % 40),
                };
                if i % 10 == 0 {
                    hang_up(&base, &format!("/whip/{spare}"), &alice, CHROME_OFFER, when).await;
                } else {
                    let student = token(Role::Student, &format!("soak{i}"), Some(&live));
                    hang_up(
                        &base,
                        &format!("/whep/{live}"),
                        &student,
                        &viewer_offer,
                        when,
                    )
                    .await;
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let peak_threads = threads(pid);
    eprintln!(
        "{OFFERS} abandoned offers in {elapsed:?} ({:.1}/s); threads {threads_before} → {peak_threads} at the end of the burst",
        OFFERS as f64 / elapsed.as_secs_f64()
    );
    assert!(server.is_running(), "the server process died");
    assert_eq!(healthz(&base).await, 200);

    // No leaked seat: viewers that got an answer nobody read are reaped by
    // the connect timeout (3 s here), the rest were released at once.
    wait_no_viewers(&base, &alice, &live, Duration::from_secs(30)).await;
    wait_for(
        Duration::from_secs(15),
        "the spare session to be free",
        || async {
            let v = get_session(&base, &alice, &spare).await;
            (v["live"] == false).then_some(())
        },
    )
    .await;
    let again = publish_small(&base, &spare, &alice).await;
    again.stop().await.expect("DELETE");

    // Threads and fds settle back near where they were.
    let settled = wait_for(
        Duration::from_secs(20),
        "threads and fds to settle",
        || async {
            let (t, f) = (threads(pid), fds(pid));
            (t <= threads_before + 16 && f <= fds_before + 32).then_some((t, f))
        },
    )
    .await;
    eprintln!(
        "after the soak: threads {threads_before} → {}, fds {fds_before} → {}",
        settled.0, settled.1
    );

    assert_still_publishing(&base, &alice, &live).await;
    assert_a_viewer_decodes(&base, &live, "after-soak");
    assert!(server.is_running(), "the server process died");
    publisher.stop().await.expect("DELETE");
    assert_no_disposal_while_playing(&log);
}
