//! The classroom control socket end to end: the `classcast` binary on a
//! loopback port, and WebSocket clients (instructor, student, guest) speaking
//! the JSON protocol of docs/protocol.md. Also two processes sharing a
//! PostgreSQL database and a broker (Redis, then PostgreSQL LISTEN/NOTIFY),
//! and random frames thrown at a live server.
//!
//! The stage test publishes over WHIP with GStreamer, so this binary runs in
//! the `media` group, one test at a time (.config/nextest.toml).

mod common;

use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::{WhipClient, WhipClientOptions};
use classcast::control::protocol::{ClientMessage, MAX_FRAME_BYTES};
use classcast::media::VideoCodecPref;
use common::{
    create_session, get_session, http, pg_admin_url, token, wait_for, Backend, ServerProcess,
    TestDb, SECRET,
};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a message may take to arrive.
const T: Duration = Duration::from_secs(5);

fn ws_url(base: &str, session: &str) -> String {
    format!(
        "{}/ws/sessions/{session}",
        base.replacen("http://", "ws://", 1)
    )
}

/// What the reader task hands over.
#[derive(Debug)]
enum Event {
    Msg(Value),
    /// The close frame's code and reason; `None` when the connection ended
    /// without one (reset, EOF).
    Closed(Option<u16>, String),
}

/// Why a wait ended without the message.
#[derive(Debug)]
enum Stop {
    Closed(Option<u16>, String),
    Timeout,
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// A control-socket client: a task reads every frame into a queue; `expect`
/// takes from it, skipping other messages, and `log` keeps everything taken.
struct Ws {
    who: String,
    sink: Sink,
    events: mpsc::UnboundedReceiver<Event>,
    /// Every message received so far (that a wait took from the queue).
    log: Vec<Value>,
    /// The subprotocol the server agreed to.
    protocol: Option<String>,
    closed: Option<(Option<u16>, String)>,
}

impl Ws {
    /// Connects without authenticating.
    async fn open(base: &str, session: &str, who: &str, subprotocol: Option<&str>) -> Ws {
        let mut request = ws_url(base, session)
            .into_client_request()
            .expect("request");
        if let Some(p) = subprotocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(p).expect("header"),
            );
        }
        let (stream, response) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("{who}: WebSocket upgrade failed: {e}"));
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (sink, mut read) = stream.split();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match read.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let v = serde_json::from_str::<Value>(&t)
                            .unwrap_or_else(|_| json!({ "type": "<not json>", "raw": t.as_str() }));
                        if tx.send(Event::Msg(v)).is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = match frame {
                            Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                            None => (None, "close without a code".into()),
                        };
                        let _ = tx.send(Event::Closed(code, reason));
                        // Reading on sends our close reply and sees the end.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = read.next().await {}
                        })
                        .await;
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        let _ = tx.send(Event::Closed(None, e.to_string()));
                        return;
                    }
                    None => {
                        let _ = tx.send(Event::Closed(None, "end of stream".into()));
                        return;
                    }
                }
            }
        });
        Ws {
            who: who.to_owned(),
            sink,
            events,
            log: Vec::new(),
            protocol,
            closed: None,
        }
    }

    /// Connects and sends `auth` (the room's answer is left to `expect`).
    async fn auth(base: &str, session: &str, who: &str, token: &str) -> Ws {
        let mut ws = Ws::open(base, session, who, None).await;
        ws.send(json!({ "type": "auth", "token": token })).await;
        ws
    }

    /// Connects, authenticates and waits for `welcome`.
    async fn join(base: &str, session: &str, who: &str, token: &str) -> (Ws, Value) {
        let mut ws = Ws::auth(base, session, who, token).await;
        let welcome = ws.expect("welcome", |_| true, T).await;
        (ws, welcome)
    }

    async fn send(&mut self, v: Value) {
        let who = self.who.clone();
        assert!(
            self.send_frame(Message::text(v.to_string())).await,
            "{who}: cannot send {v}"
        );
    }

    /// Sends a frame; whether the connection took it.
    async fn send_frame(&mut self, m: Message) -> bool {
        self.sink.send(m).await.is_ok()
    }

    /// The next message of type `ty` that `pred` accepts; others are skipped
    /// (and kept in `log`).
    async fn next(
        &mut self,
        ty: &str,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Value, Stop> {
        self.next_where(|v| v["type"] == ty && pred(v), limit).await
    }

    /// The next message that `pred` accepts; others are skipped.
    async fn next_where(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Value, Stop> {
        if let Some((code, reason)) = &self.closed {
            return Err(Stop::Closed(*code, reason.clone()));
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Event::Msg(v))) => {
                    self.log.push(v.clone());
                    if pred(&v) {
                        return Ok(v);
                    }
                }
                Ok(Some(Event::Closed(code, reason))) => {
                    self.closed = Some((code, reason.clone()));
                    return Err(Stop::Closed(code, reason));
                }
                Ok(None) => {
                    self.closed = Some((None, "reader gone".into()));
                    return Err(Stop::Closed(None, "reader gone".into()));
                }
                Err(_) => return Err(Stop::Timeout),
            }
        }
    }

    async fn expect(&mut self, ty: &str, pred: impl Fn(&Value) -> bool, limit: Duration) -> Value {
        match self.next(ty, pred, limit).await {
            Ok(v) => v,
            Err(stop) => panic!(
                "{}: no matching {ty:?} ({stop:?} after {limit:?}); last received:\n{}",
                self.who,
                self.recent()
            ),
        }
    }

    /// The close code and reason (messages before it go to `log`).
    async fn expect_close(&mut self, limit: Duration) -> (Option<u16>, String) {
        match self.next("<never>", |_| false, limit).await {
            Err(Stop::Closed(code, reason)) => (code, reason),
            other => panic!(
                "{}: not closed within {limit:?} ({other:?}); last received:\n{}",
                self.who,
                self.recent()
            ),
        }
    }

    /// Takes whatever arrives for `d` into `log`.
    async fn drain(&mut self, d: Duration) {
        let _ = self.next("<never>", |_| false, d).await;
    }

    fn recent(&self) -> String {
        let skip = self.log.len().saturating_sub(15);
        self.log[skip..]
            .iter()
            .map(|v| {
                let s = v.to_string();
                let cut = s.char_indices().nth(300).map_or(s.len(), |(i, _)| i);
                format!("  {}", &s[..cut])
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|p| {
            p["id"]
                .as_str()
                .or(p["participant_id"].as_str())
                .expect("id")
                .to_owned()
        })
        .collect()
}

fn about(v: &Value, id: &str) -> bool {
    v["participant"]["id"] == id || v["participant_id"] == id
}

async fn report(base: &str, tok: &str, id: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{base}/api/sessions/{id}/report"))
        .bearer_auth(tok)
        .send()
        .await
        .expect("GET report");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn person<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["participants"]
        .as_array()?
        .iter()
        .find(|p| p["participant_id"] == id)
}

/// A rejoin after a kick is refused: close 4004 with a reason that says
/// so (from the stored ban at authentication, or from the room's own list
/// while the ban is being stored), never a welcome.
async fn assert_rejoin_refused(base: &str, id: &str, who: &str, tok: &str) {
    let mut again = Ws::auth(base, id, who, tok).await;
    let (code, reason) = again.expect_close(T).await;
    assert_eq!(code, Some(4004), "{who}'s rejoin: {reason:?}");
    assert!(
        reason.to_lowercase().contains("removed"),
        "{who}'s rejoin reason: {reason:?}"
    );
    assert!(
        !again.log.iter().any(|v| v["type"] == "welcome"),
        "{who} was welcomed back: {:?}",
        again.log
    );
}

// ---------------------------------------------------------------------------
// One process, three clients.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn instructor_student_and_guest_run_a_class() {
    let started = Instant::now();
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice_t, "Control class").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let gina_t = token(Role::Guest, "gina", Some(&id));

    // Join: each gets the room; the others see the newcomer.
    let (mut alice, w) = Ws::join(base, &id, "alice", &alice_t).await;
    assert_eq!(w["you"]["id"], "alice");
    assert_eq!(w["you"]["role"], "instructor");
    assert_eq!(ids(&w["room"]["participants"]), ["alice"]);
    assert_eq!(w["room"]["lobby_enabled"], false);

    let (mut bob, w) = Ws::join(base, &id, "bob", &bob_t).await;
    assert_eq!(w["you"]["role"], "student");
    assert_eq!(ids(&w["room"]["participants"]), ["alice", "bob"]);
    let j = alice
        .expect("participant_joined", |v| about(v, "bob"), T)
        .await;
    assert_eq!(j["participant"]["role"], "student");
    assert_eq!(j["participant"]["hand_raised"], false);

    let (mut gina, w) = Ws::join(base, &id, "gina", &gina_t).await;
    assert_eq!(w["you"]["role"], "guest");
    assert_eq!(ids(&w["room"]["participants"]), ["alice", "bob", "gina"]);
    for c in [&mut alice, &mut bob] {
        c.expect("participant_joined", |v| about(v, "gina"), T)
            .await;
    }

    // Chat with an @mention: everyone receives it, the mention resolved.
    alice
        .send(json!({"type": "chat", "text": "Welcome! @bob, you start."}))
        .await;
    let mut first = Value::Null;
    for c in [&mut alice, &mut bob, &mut gina] {
        let m = c
            .expect("chat", |v| v["message"]["sender_id"] == "alice", T)
            .await;
        assert_eq!(m["message"]["text"], "Welcome! @bob, you start.");
        assert_eq!(m["message"]["mentions"], json!(["bob"]));
        assert_eq!(m["message"]["sender_name"], "alice");
        assert!(m["message"]["at"].as_str().is_some_and(|t| t.len() >= 20));
        first = m["message"].clone();
    }
    let m1 = first["id"].as_str().expect("message id").to_owned();
    assert!(!m1.is_empty());

    // A guest only receives.
    gina.send(json!({"type": "chat", "text": "hello from the back"}))
        .await;
    let e = gina.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "forbidden", "{e}");
    gina.send(json!({"type": "raise_hand"})).await;
    let e = gina.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "forbidden", "{e}");

    // A student may not use instructor messages.
    bob.send(json!({"type": "mute_all"})).await;
    let e = bob.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "forbidden", "{e}");

    // React: everyone sees the message's reactions.
    bob.send(json!({"type": "react", "message_id": m1, "emoji": "👍"}))
        .await;
    for c in [&mut alice, &mut bob, &mut gina] {
        let r = c.expect("reactions", |v| v["message_id"] == m1, T).await;
        assert_eq!(r["reactions"], json!({"👍": ["bob"]}), "{}", c.who);
    }

    // Reply in the thread, mentioning the instructor.
    bob.send(json!({"type": "chat", "text": "@Alice why 4?", "reply_to": m1}))
        .await;
    let mut m2 = String::new();
    for c in [&mut alice, &mut bob, &mut gina] {
        let m = c
            .expect("chat", |v| v["message"]["sender_id"] == "bob", T)
            .await;
        assert_eq!(m["message"]["reply_to"], m1.as_str());
        assert_eq!(m["message"]["mentions"], json!(["alice"]));
        m2 = m["message"]["id"].as_str().expect("id").to_owned();
    }
    assert_ne!(m2, m1);

    // Raise hand: the queue goes to everyone.
    bob.send(json!({"type": "raise_hand"})).await;
    for c in [&mut alice, &mut bob, &mut gina] {
        let h = c
            .expect(
                "hands",
                |v| !v["hands"].as_array().expect("hands").is_empty(),
                T,
            )
            .await;
        assert_eq!(ids(&h["hands"]), ["bob"]);
        assert_eq!(h["hands"][0]["name"], "bob");
    }

    // A student's own token does not publish.
    let r = http()
        .post(format!("{base}/whip/{id}"))
        .bearer_auth(&bob_t)
        .header("content-type", "application/sdp")
        .body("v=0\r\n")
        .send()
        .await
        .expect("POST /whip");
    assert_eq!(r.status(), 403, "a student published without the stage");

    // Call on, to the stage: the student gets a publish token for WHIP.
    alice
        .send(json!({"type": "call_on", "participant_id": "bob", "stage": true}))
        .await;
    // The room's messages come first; the token follows from the call's effect.
    for c in [&mut alice, &mut bob, &mut gina] {
        c.expect("hands", |v| v["hands"] == json!([]), T).await;
        c.expect(
            "participant_updated",
            |v| about(v, "bob") && v["participant"]["on_stage"] == true,
            T,
        )
        .await;
    }
    let called = bob.expect("called_on", |_| true, T).await;
    let publish_token = called["publish_token"]
        .as_str()
        .expect("publish_token")
        .to_owned();
    let whip_url = called["whip_url"].as_str().expect("whip_url").to_owned();
    assert_eq!(whip_url, format!("{base}/whip/{id}"));
    assert!(
        !alice
            .log
            .iter()
            .chain(&gina.log)
            .any(|v| v["type"] == "called_on"),
        "the publish token went to someone else"
    );
    let publish_started = Instant::now();
    let client = WhipClient::publish(&WhipClientOptions {
        whip_url: whip_url.clone(),
        token: publish_token.clone(),
        codec: VideoCodecPref::H264,
        width: 320,
        height: 240,
        fps: 15,
    })
    .await
    .expect("WHIP with the stage token answers 201");
    assert!(
        client.location.starts_with(&format!("{base}/whip/{id}/")),
        "{}",
        client.location
    );
    wait_for(Duration::from_secs(10), "the student's publish", || async {
        let v = get_session(base, &alice_t, &id).await;
        (v["live"] == true).then_some(())
    })
    .await;
    eprintln!(
        "stage: student live {:?} after the publish began",
        publish_started.elapsed()
    );
    client.stop().await.expect("DELETE the student's publish");
    wait_for(Duration::from_secs(10), "the publish to end", || async {
        let v = get_session(base, &alice_t, &id).await;
        (v["live"] == false).then_some(())
    })
    .await;

    // The class on stage (issue 17): the instructor's camera, the
    // instructor's screen share and the student, live at the same time.
    let options = |url: String, tok: &str, width| WhipClientOptions {
        whip_url: url,
        token: tok.to_owned(),
        codec: VideoCodecPref::H264,
        width,
        height: 240,
        fps: 15,
    };
    let camera = WhipClient::publish(&options(whip_url.clone(), &alice_t, 320))
        .await
        .expect("the instructor's camera");
    let screen = WhipClient::publish(&options(format!("{whip_url}?source=screen"), &alice_t, 480))
        .await
        .expect("the instructor's screen share beside the camera");
    let student = WhipClient::publish(&options(whip_url.clone(), &publish_token, 320))
        .await
        .expect("the student publishes while the instructor teaches");
    let sam_t = token(Role::Student, "sam", Some(&id));
    let publishes = wait_for(Duration::from_secs(10), "three publishes", || async {
        let v = get_session(base, &sam_t, &id).await;
        let list = v["publishes"].as_array().cloned().unwrap_or_default();
        (list.len() == 3 && list.iter().all(|p| p["ready"] == true))
            .then_some(v["publishes"].clone())
    })
    .await;
    let kinds: Vec<&str> = publishes
        .as_array()
        .expect("publishes")
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["camera", "screen", "stage"], "{publishes}");
    // Everyone in the room is told, without asking (within 2 s).
    let all_three = |v: &Value| {
        let list = v["publishes"].as_array().cloned().unwrap_or_default();
        list.len() == 3 && list.iter().all(|p| p["ready"] == true)
    };
    for c in [&mut alice, &mut bob, &mut gina] {
        let m = c
            .expect("publishes", all_three, Duration::from_secs(2))
            .await;
        assert_eq!(m["publishes"][2]["participant_id"], "bob", "{m}");
        assert_eq!(m["publishes"][0]["main"], true, "{m}");
    }
    assert_eq!(publishes[0]["main"], true, "the camera is the broadcast");
    assert_eq!(publishes[2]["participant_id"], "bob");
    assert!(
        publishes.to_string().find(&student.location).is_none(),
        "a WHIP resource (the key to ending a publish) is listed"
    );
    // Refused with words: a second camera, a second screen, a student's screen.
    let offer =
        std::fs::read_to_string(common::repo_root().join("tests/fixtures/chrome-offer.sdp"))
            .expect("fixture");
    for (url, tok, status, words) in [
        (
            whip_url.clone(),
            &alice_t,
            409,
            "already publish your camera",
        ),
        (
            format!("{whip_url}?source=screen"),
            &alice_t,
            409,
            "already publish your screen",
        ),
        (
            format!("{whip_url}?source=screen"),
            &publish_token,
            403,
            "only the instructor shares a screen",
        ),
        (
            format!("{whip_url}?source=window"),
            &alice_t,
            400,
            "source must be camera or screen",
        ),
    ] {
        let r = http()
            .post(&url)
            .bearer_auth(tok)
            .header("content-type", "application/sdp")
            .body(offer.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), status, "{url}");
        let body = r.text().await.expect("body");
        assert!(body.contains(words), "{url}: {body}");
    }
    // A viewer of the student's publish alone (WHEP ?publish=).
    let student_publish = publishes[2]["id"].as_str().expect("id").to_owned();
    let missing = http()
        .post(format!("{base}/whep/{id}?publish=missing"))
        .bearer_auth(&sam_t)
        .header("content-type", "application/sdp")
        .body(offer.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), 404, "a publish that is not live");
    let viewer = common::ClientProcess::aiortc_viewer(
        &format!("{base}/whep/{id}?publish={student_publish}"),
        &sam_t,
        4,
        &[],
    );
    let done = viewer.expect_event("done", Duration::from_secs(30));
    assert!(
        done["video"]["frames_decoded"].as_u64().unwrap_or(0) > 20,
        "the student's video reached a viewer of that publish: {done}"
    );
    // Demote ends the student's publish within a second; the instructor's stay.
    let demoted_at = Instant::now();
    alice
        .send(json!({"type": "demote", "participant_id": "bob"}))
        .await;
    wait_for(
        Duration::from_secs(1),
        "the student's publish to end",
        || async {
            let v = get_session(base, &alice_t, &id).await;
            let kinds: Vec<String> = v["publishes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p["kind"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (kinds == ["camera", "screen"]).then_some(())
        },
    )
    .await;
    eprintln!(
        "stage: demote ended the student's publish in {:?}",
        demoted_at.elapsed()
    );
    let two = |v: &Value| v["publishes"].as_array().is_some_and(|l| l.len() == 2);
    for c in [&mut alice, &mut gina] {
        let m = c.expect("publishes", two, Duration::from_secs(2)).await;
        assert!(
            m["publishes"]
                .as_array()
                .expect("list")
                .iter()
                .all(|p| p["participant_id"] == "alice"),
            "{m}"
        );
    }
    drop(student);
    screen.stop().await.expect("DELETE the screen share");
    camera.stop().await.expect("DELETE the camera");

    // Poll: live results to the instructor, one answer per student.
    alice
        .send(json!({
            "type": "create_poll", "question": "2 + 2 = ?", "options": ["3", "4", "5"]
        }))
        .await;
    let mut poll_id = String::new();
    for c in [&mut alice, &mut bob, &mut gina] {
        let p = c.expect("poll_opened", |_| true, T).await;
        assert_eq!(p["poll"]["options"], json!(["3", "4", "5"]));
        assert_eq!(p["poll"]["closed"], false);
        poll_id = p["poll"]["id"].as_str().expect("poll id").to_owned();
    }
    bob.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [1]}))
        .await;
    let r = alice.expect("poll_results", |_| true, T).await;
    assert_eq!(r["results"]["poll_id"], poll_id.as_str());
    assert_eq!(r["results"]["counts"], json!([0, 1, 0]));
    assert_eq!(r["results"]["percentages"], json!([0.0, 100.0, 0.0]));
    assert_eq!(r["results"]["respondents"], 1);
    bob.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [2]}))
        .await;
    let e = bob.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "already_answered", "{e}");
    gina.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [0]}))
        .await;
    let e = gina.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "forbidden", "{e}");
    alice
        .send(json!({"type": "close_poll", "poll_id": poll_id}))
        .await;
    for c in [&mut alice, &mut bob, &mut gina] {
        let p = c.expect("poll_closed", |_| true, T).await;
        assert_eq!(p["poll"]["closed"], true);
        assert_eq!(p["results"]["counts"], json!([0, 1, 0]));
    }
    // Results of an unshared poll were the instructor's until it closed.
    assert!(
        !bob.log
            .iter()
            .chain(&gina.log)
            .any(|v| v["type"] == "poll_results"),
        "live results of an unshared poll reached a student or guest"
    );

    // Kick: the student is told and closed with 4003; the rejoin is refused.
    alice
        .send(json!({"type": "kick", "participant_id": "bob", "reason": "Disruptive."}))
        .await;
    let k = bob.expect("kicked", |_| true, T).await;
    assert_eq!(k["reason"], "Disruptive.");
    let (code, _) = bob.expect_close(T).await;
    assert_eq!(code, Some(4003));
    for c in [&mut alice, &mut gina] {
        c.expect("participant_left", |v| about(v, "bob"), T).await;
    }
    assert_rejoin_refused(base, &id, "bob", &bob_t).await;
    // Once the ban is stored, authentication itself refuses.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_rejoin_refused(base, &id, "bob", &bob_t).await;

    // The guest's refused chat never reached anyone.
    assert!(!alice
        .log
        .iter()
        .any(|v| v["type"] == "chat" && v["message"]["sender_id"] == "gina"));

    // The report: attendance, chat, hands and polls of the student.
    let (status, _) = report(base, &bob_t, &id).await;
    assert_eq!(status, 403, "a student read the report");
    let r = wait_for(T, "the student's engagement in the report", || async {
        let (status, r) = report(base, &alice_t, &id).await;
        assert_eq!(status, 200, "{r}");
        let b = person(&r, "bob")?;
        (b["polls_answered"] == 1 && b["hand_raises"] == 1 && b["last_leave"].is_string())
            .then_some(r)
    })
    .await;
    let b = person(&r, "bob").expect("bob");
    assert_eq!(b["role"], "student");
    assert_eq!(b["chat_messages"], 1, "{b}");
    assert_eq!(b["reactions"], 1, "{b}");
    assert_eq!(b["present"], false, "{b}");
    assert!(b["joins"].as_u64().is_some_and(|j| j >= 1), "{b}");
    assert!(b["first_join"].is_string(), "{b}");
    assert!(
        b["attendance_minutes"].as_f64().is_some_and(|m| m > 0.0),
        "{b}"
    );
    let a = person(&r, "alice").expect("alice");
    assert_eq!(a["chat_messages"], 1);
    assert_eq!(a["present"], true);
    let g = person(&r, "gina").expect("gina");
    assert_eq!(g["chat_messages"], 0);
    assert_eq!(r["totals"]["chat_messages"], 2);
    assert_eq!(r["totals"]["hand_raises"], 1);
    assert_eq!(r["totals"]["poll_participation"], 1.0);
    let polls = r["totals"]["polls"].as_array().expect("polls");
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0]["respondents"], 1);
    assert_eq!(polls[0]["closed"], true);
    eprintln!("class: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_and_reconnection() {
    let server = ServerProcess::start(&[]);
    let base = server.url.clone();
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&base, &alice_t, "Auth").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let other = create_session(&base, &alice_t, "Another class").await;

    // Silence after the upgrade: closed after 5 s (runs alongside the rest).
    let silent = {
        let (base, id) = (base.clone(), id.clone());
        tokio::spawn(async move {
            let mut ws = Ws::open(&base, &id, "silent", None).await;
            let t0 = Instant::now();
            let (code, reason) = ws.expect_close(Duration::from_secs(10)).await;
            (code, reason, t0.elapsed())
        })
    };

    // The token as a subprotocol: echoed back, no auth message needed.
    let offered = format!("classcast.jwt.{alice_t}");
    let mut alice = Ws::open(&base, &id, "alice", Some(&offered)).await;
    assert_eq!(alice.protocol.as_deref(), Some(offered.as_str()));
    let w = alice.expect("welcome", |_| true, T).await;
    assert_eq!(w["you"]["id"], "alice");
    alice.send(json!({"type": "ping", "id": 7})).await;
    let p = alice.expect("pong", |_| true, T).await;
    assert_eq!(p["id"], 7);
    // A second auth on an authenticated socket is an error, not a close.
    alice
        .send(json!({"type": "auth", "token": alice_t.clone()}))
        .await;
    let e = alice.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "bad_message");

    // Bad tokens and a wrong first message: 4401 with a reason.
    let forged = {
        let keys = classcast::auth::Keys::hs256(b"not-the-server-secret-0123456789");
        keys.sign(&classcast::auth::Claims::new(
            "mallory",
            "mallory",
            Role::Instructor,
            None,
            Duration::from_secs(60),
        ))
        .expect("sign")
    };
    let elsewhere = token(Role::Student, "carl", Some(&other));
    for (what, first) in [
        ("garbage", json!({"type": "auth", "token": "not-a-jwt"})),
        ("forged", json!({"type": "auth", "token": forged})),
        (
            "another session's",
            json!({"type": "auth", "token": elsewhere}),
        ),
        ("chat first", json!({"type": "chat", "text": "hi"})),
    ] {
        let mut ws = Ws::open(&base, &id, what, None).await;
        ws.send(first).await;
        let (code, reason) = ws.expect_close(T).await;
        assert_eq!(code, Some(4401), "{what}: {reason}");
        assert!(!reason.is_empty(), "{what}: no reason");
    }
    // A bad subprotocol token is refused the same way.
    let mut ws = Ws::open(&base, &id, "bad subprotocol", Some("classcast.jwt.nope")).await;
    let (code, _) = ws.expect_close(T).await;
    assert_eq!(code, Some(4401));

    // Reconnection replaces the old socket; the others see no flicker.
    let (mut bob1, _) = Ws::join(&base, &id, "bob#1", &bob_t).await;
    alice
        .expect("participant_joined", |v| about(v, "bob"), T)
        .await;
    bob1.send(json!({"type": "raise_hand"})).await;
    alice
        .expect("hands", |v| ids(&v["hands"]) == ["bob"], T)
        .await;
    let mark = alice.log.len();
    let (mut bob2, w) = Ws::join(&base, &id, "bob#2", &bob_t).await;
    assert_eq!(w["you"]["hand_raised"], true, "the hand survives: {w}");
    assert_eq!(ids(&w["room"]["hands"]), ["bob"]);
    let (code, reason) = bob1.expect_close(T).await;
    assert_eq!(code, Some(4001), "{reason}");
    bob2.send(json!({"type": "chat", "text": "still here"}))
        .await;
    alice
        .expect("chat", |v| v["message"]["text"] == "still here", T)
        .await;
    alice.drain(Duration::from_millis(500)).await;
    let flicker: Vec<&Value> = alice.log[mark..]
        .iter()
        .filter(|v| v["type"] == "participant_left" || v["type"] == "participant_joined")
        .collect();
    assert!(flicker.is_empty(), "presence flicker: {flicker:?}");

    let (code, reason, waited) = silent.await.expect("silent task");
    assert_eq!(code, Some(4401), "{reason}");
    assert!(
        waited >= Duration::from_millis(4500) && waited < Duration::from_secs(8),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lobby_mute_all_abuse_and_oversized_frames() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice_t, "Moderation").await;
    let (mut alice, _) = Ws::join(base, &id, "alice", &alice_t).await;
    let (mut bob, _) = Ws::join(base, &id, "bob", &token(Role::Student, "bob", Some(&id))).await;
    let (mut gina, _) = Ws::join(base, &id, "gina", &token(Role::Guest, "gina", Some(&id))).await;

    // Lobby: joiners wait until admitted (or denied).
    alice
        .send(json!({"type": "set_lobby", "enabled": true}))
        .await;
    alice
        .expect(
            "lobby",
            |v| v["enabled"] == true && v["waiting"] == json!([]),
            T,
        )
        .await;
    let mut carol = Ws::auth(
        base,
        &id,
        "carol",
        &token(Role::Student, "carol", Some(&id)),
    )
    .await;
    carol.expect("waiting", |_| true, T).await;
    let l = alice
        .expect(
            "lobby",
            |v| !v["waiting"].as_array().expect("waiting").is_empty(),
            T,
        )
        .await;
    assert_eq!(ids(&l["waiting"]), ["carol"]);
    carol
        .send(json!({"type": "chat", "text": "let me in"}))
        .await;
    let e = carol.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "forbidden");
    let mut dave = Ws::auth(base, &id, "dave", &token(Role::Student, "dave", Some(&id))).await;
    dave.expect("waiting", |_| true, T).await;
    alice
        .expect("lobby", |v| ids(&v["waiting"]) == ["carol", "dave"], T)
        .await;
    alice
        .send(json!({"type": "admit", "participant_id": "carol"}))
        .await;
    let w = carol.expect("welcome", |_| true, T).await;
    assert_eq!(w["room"]["lobby_enabled"], true);
    bob.expect("participant_joined", |v| about(v, "carol"), T)
        .await;
    alice
        .expect("lobby", |v| ids(&v["waiting"]) == ["dave"], T)
        .await;
    alice
        .send(json!({"type": "deny", "participant_id": "dave"}))
        .await;
    dave.expect("denied", |_| true, T).await;
    let (code, reason) = dave.expect_close(T).await;
    assert_eq!(code, Some(4004), "{reason}");
    alice
        .send(json!({"type": "set_lobby", "enabled": false}))
        .await;
    alice
        .expect("lobby", |v| v["waiting"] == json!([]), T)
        .await;

    // Mute all: every student is asked to mute; the instructor is not.
    alice.send(json!({"type": "mute_all"})).await;
    for c in [&mut bob, &mut carol] {
        c.expect("mute_requested", |_| true, T).await;
    }
    alice.send(json!({"type": "ping", "id": 1})).await;
    alice.expect("pong", |_| true, T).await;
    assert!(!alice.log.iter().any(|v| v["type"] == "mute_requested"));

    // An abusive client: closed with 4400, the others chat on.
    let t0 = Instant::now();
    for i in 0..25 {
        let _ = carol
            .send_frame(Message::text(format!(
                "{{\"type\": \"chat\", \"text\": {i}"
            )))
            .await;
    }
    let (code, reason) = carol.expect_close(T).await;
    assert_eq!(code, Some(4400), "{reason}");
    let errors = carol
        .log
        .iter()
        .filter(|v| v["type"] == "error" && v["code"] == "bad_message")
        .count();
    assert_eq!(errors, 20, "an error per bad frame until the close");
    eprintln!("abusive client closed after {:?}", t0.elapsed());
    alice
        .expect("participant_left", |v| about(v, "carol"), T)
        .await;
    bob.send(json!({"type": "chat", "text": "after the abuse"}))
        .await;
    for c in [&mut alice, &mut bob, &mut gina] {
        c.expect("chat", |v| v["message"]["text"] == "after the abuse", T)
            .await;
    }

    // An oversized frame (over 16 KiB) is refused with an error and the
    // socket stays open; a huge one (over 1 MiB) ends that socket only.
    let (mut erin, _) = Ws::join(base, &id, "erin", &token(Role::Student, "erin", Some(&id))).await;
    alice
        .expect("participant_joined", |v| about(v, "erin"), T)
        .await;
    let big = json!({"type": "chat", "text": "x".repeat(20 * 1024)}).to_string();
    assert!(big.len() > MAX_FRAME_BYTES);
    erin.send_frame(Message::text(big)).await;
    let e = erin.expect("error", |_| true, T).await;
    assert_eq!(e["code"], "too_large", "{e}");
    erin.send(json!({"type": "chat", "text": "sorry, shorter"}))
        .await;
    for c in [&mut alice, &mut erin] {
        c.expect("chat", |v| v["message"]["text"] == "sorry, shorter", T)
            .await;
    }
    assert!(
        !alice.log.iter().any(|v| v["type"] == "chat"
            && v["message"]["text"]
                .as_str()
                .is_some_and(|t| t.len() > 2000)),
        "the oversized chat was delivered"
    );
    let huge = "y".repeat(1024 * 1024 + 1);
    erin.send_frame(Message::text(huge)).await;
    let (code, reason) = erin.expect_close(T).await;
    eprintln!("a frame over 1 MiB: closed with {code:?} {reason:?}");
    alice
        .expect("participant_left", |v| about(v, "erin"), T)
        .await;
    alice
        .send(json!({"type": "chat", "text": "carry on"}))
        .await;
    for c in [&mut alice, &mut bob, &mut gina] {
        c.expect("chat", |v| v["message"]["text"] == "carry on", T)
            .await;
    }
}

// ---------------------------------------------------------------------------
// Two processes, one database and one broker.
// ---------------------------------------------------------------------------

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn two_processes(broker: &str) {
    let started = Instant::now();
    let db = TestDb::new(Backend::Postgres).await;
    let args = [
        "--database-url",
        db.url.as_str(),
        "--broker",
        broker,
        "--jwt-secret",
        SECRET,
    ];
    let a = ServerProcess::start(&args);
    let b = ServerProcess::start(&args);
    assert_ne!(a.url, b.url);
    eprintln!("two servers up after {:?}", started.elapsed());
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&a.url, &alice_t, "Two processes").await;
    let bob_t = token(Role::Student, "bob", Some(&id));

    // The instructor on A, the student on B: each sees the other.
    let (mut alice, _) = Ws::join(&a.url, &id, "alice@A", &alice_t).await;
    let (mut bob, w) = Ws::join(&b.url, &id, "bob@B", &bob_t).await;
    assert_eq!(ids(&w["room"]["participants"]), ["alice", "bob"], "{w}");
    alice
        .expect("participant_joined", |v| about(v, "bob"), T)
        .await;

    // Chat both ways (one after the other: concurrent inputs from two
    // processes have no set order).
    alice.send(json!({"type": "chat", "text": "from A"})).await;
    for c in [&mut alice, &mut bob] {
        c.expect("chat", |v| v["message"]["text"] == "from A", T)
            .await;
    }
    bob.send(json!({"type": "chat", "text": "from B"})).await;
    for c in [&mut alice, &mut bob] {
        c.expect("chat", |v| v["message"]["text"] == "from B", T)
            .await;
    }

    // A hand raised on B reaches the instructor on A.
    bob.send(json!({"type": "raise_hand"})).await;
    alice
        .expect("hands", |v| ids(&v["hands"]) == ["bob"], T)
        .await;

    // A poll from A, answered on B, live results at A.
    alice
        .send(json!({
            "type": "create_poll", "question": "Which broker?",
            "options": ["Redis", "PostgreSQL"], "multiple": true
        }))
        .await;
    let p = bob.expect("poll_opened", |_| true, T).await;
    let poll_id = p["poll"]["id"].as_str().expect("poll id").to_owned();
    bob.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [0, 1]}))
        .await;
    let r = alice.expect("poll_results", |_| true, T).await;
    assert_eq!(r["results"]["counts"], json!([1, 1]));
    assert_eq!(r["results"]["percentages"], json!([100.0, 100.0]));
    assert_eq!(r["results"]["respondents"], 1);

    // A kick from A closes the student's socket on B; B refuses the rejoin.
    alice
        .send(json!({"type": "kick", "participant_id": "bob"}))
        .await;
    bob.expect("kicked", |_| true, T).await;
    let (code, _) = bob.expect_close(T).await;
    assert_eq!(code, Some(4003));
    alice
        .expect("participant_left", |v| about(v, "bob"), T)
        .await;
    assert_rejoin_refused(&b.url, &id, "bob", &bob_t).await;

    // Both processes stored one history: the report (from B) has it all.
    let r = wait_for(T, "the report from B", || async {
        let (status, r) = report(&b.url, &alice_t, &id).await;
        assert_eq!(status, 200, "{r}");
        let bob = person(&r, "bob")?;
        (bob["polls_answered"] == 1 && bob["last_leave"].is_string()).then_some(r)
    })
    .await;
    assert_eq!(r["totals"]["chat_messages"], 2, "{r}");
    assert_eq!(r["totals"]["hand_raises"], 1, "{r}");
    drop((alice, bob, a, b));
    db.cleanup().await;
    eprintln!("two processes ({broker}): {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_through_redis() {
    two_processes(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_through_postgres() {
    two_processes(&pg_admin_url()).await;
}

/// A redis-server of this test's own (the gap test changes its password).
struct PrivateRedis {
    child: std::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/install-deps.sh test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        wait_for(T, "the private redis-server", || async {
            let client = redis::Client::open(url.as_str()).ok()?;
            client
                .get_multiplexed_async_connection()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        PrivateRedis { child, url }
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ids of the Redis clients subscribed to something.
async fn pubsub_clients(admin: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(admin)
        .await
        .expect("CLIENT LIST");
    list.lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

/// One process's Redis subscriber is down while the instructor (on the
/// other) opens a poll: that process's copy of the room misses it, notices
/// the gap when it reconnects, and takes a fresh copy from the other
/// process, so its student can answer the poll.
#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_missed_events_resyncs_its_room() {
    let redis = PrivateRedis::start().await;
    let mut admin = redis.admin().await;
    let db = TestDb::new(Backend::Postgres).await;
    let args = [
        "--database-url",
        db.url.as_str(),
        "--broker",
        redis.url.as_str(),
        "--jwt-secret",
        SECRET,
    ];
    let a = ServerProcess::start(&args);
    let b = ServerProcess::start(&args);
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&a.url, &alice_t, "Broker gap").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let (mut alice, _) = Ws::join(&a.url, &id, "alice@A", &alice_t).await;
    let only_a = wait_for(T, "A subscribed", || async {
        let ids = pubsub_clients(&mut redis.admin().await).await;
        (ids.len() == 1).then_some(ids)
    })
    .await;
    let (mut bob, _) = Ws::join(&b.url, &id, "bob@B", &bob_t).await;
    alice
        .expect("participant_joined", |v| about(v, "bob"), T)
        .await;
    let b_subscriber = pubsub_clients(&mut admin)
        .await
        .into_iter()
        .find(|c| !only_a.contains(c))
        .expect("B's subscriber connection");

    // B's subscriber goes, and cannot come back while a password is set
    // (connections already open, A's among them, stay authenticated).
    let config = |value: &str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg(value)
            .to_owned()
    };
    let _: () = config("gap-test")
        .query_async(&mut admin)
        .await
        .expect("set a password");
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&b_subscriber)
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice
        .send(json!({
            "type": "create_poll", "question": "Missed?",
            "options": ["yes", "no"]
        }))
        .await;
    let p = alice.expect("poll_opened", |_| true, T).await;
    let poll_id = p["poll"]["id"].as_str().expect("poll id").to_owned();
    let missed = bob
        .next("poll_opened", |_| true, Duration::from_millis(500))
        .await;
    assert!(missed.is_err(), "B was cut off, yet: {missed:?}");
    let _: () = config("")
        .query_async(&mut admin)
        .await
        .expect("clear the password");

    // B reconnects, takes a fresh copy of the room from A, and gives its
    // members the room again: the poll they missed is in it.
    let has_poll = |v: &Value| {
        v["room"]["polls"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["id"] == poll_id.as_str()))
    };
    bob.expect("welcome", has_poll, Duration::from_secs(15))
        .await;
    // B's copy now takes the answer (it would say not_found otherwise).
    bob.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [0]}))
        .await;
    let r = alice.expect("poll_results", |_| true, T).await;
    assert_eq!(r["results"]["counts"], json!([1, 0]));
    let refused = bob
        .next("error", |_| true, Duration::from_millis(500))
        .await;
    assert!(refused.is_err(), "B refused the answer: {refused:?}");
    // And the room goes on across both processes.
    bob.send(json!({"type": "chat", "text": "back"})).await;
    alice
        .expect("chat", |v| v["message"]["text"] == "back", T)
        .await;
}

// ---------------------------------------------------------------------------
// Random frames.
// ---------------------------------------------------------------------------

/// Known ids the random client draws from (never the chatter's).
#[derive(Default)]
struct Pool {
    messages: Vec<String>,
    polls: Vec<String>,
}

fn random_string(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => String::new(),
        1 => " \t\n".into(),
        2 => "Zoë 👋🏽 שלום 你好 \u{202e}txet".into(),
        3 => "\u{0}\u{1}\u{7f}".into(),
        4 => "x".repeat(rng.gen_range(1..3000)),
        5 => "@fuzz @chatter @@ @".into(),
        6 => (0..rng.gen_range(0..40))
            .map(|_| rng.gen::<char>())
            .collect(),
        7 => "fuzz".into(),
        8 => "nobody".into(),
        _ => format!("{:x}", rng.gen::<u64>()),
    }
}

fn random_id(rng: &mut StdRng, known: &[String]) -> String {
    if !known.is_empty() && rng.gen_bool(0.6) {
        return known[rng.gen_range(0..known.len())].clone();
    }
    random_string(rng)
}

fn random_number(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..8) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(-1),
        3 => json!(u64::MAX),
        4 => json!(i64::MIN),
        5 => json!(1.5),
        6 => json!(1e300),
        _ => json!(rng.gen::<u32>()),
    }
}

/// Any JSON value, sometimes nested.
fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => random_number(rng),
        3 | 4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.gen_range(0..4))
                .map(|_| (random_string(rng), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// One of the client messages, with random (mostly well-typed) fields.
fn random_message(rng: &mut StdRng, pool: &Pool) -> Value {
    let people: Vec<String> = ["fuzz", "nobody", ""].map(String::from).to_vec();
    let choices: Vec<Value> = (0..rng.gen_range(0..4))
        .map(|_| match rng.gen_range(0..4) {
            0 => json!(usize::MAX),
            _ => json!(rng.gen_range(0..7)),
        })
        .collect();
    let mut m = match rng.gen_range(0..21) {
        0 => json!({"type": "auth", "token": random_string(rng)}),
        1 => json!({"type": "ping", "id": random_number(rng)}),
        2 => {
            json!({"type": "media_state", "mic": rng.gen::<bool>(), "camera": rng.gen::<bool>(), "screen": rng.gen::<bool>()})
        }
        3 | 4 => {
            let mut m = json!({"type": "chat", "text": random_string(rng)});
            if rng.gen_bool(0.5) {
                m["reply_to"] = json!(random_id(rng, &pool.messages));
            }
            m
        }
        5 => {
            json!({"type": "react", "message_id": random_id(rng, &pool.messages), "emoji": random_string(rng)})
        }
        6 => json!({"type": "raise_hand"}),
        7 => json!({"type": "lower_hand"}),
        8 => {
            json!({"type": "answer_poll", "poll_id": random_id(rng, &pool.polls), "choices": choices})
        }
        9 => json!({"type": "set_lobby", "enabled": rng.gen::<bool>()}),
        10 => json!({"type": "admit", "participant_id": random_id(rng, &people)}),
        11 => json!({"type": "deny", "participant_id": random_id(rng, &people)}),
        12 => json!({"type": "delete_message", "message_id": random_id(rng, &pool.messages)}),
        13 => {
            json!({"type": "mute_chat", "participant_id": random_id(rng, &people), "muted": rng.gen::<bool>()})
        }
        14 => {
            json!({"type": "call_on", "participant_id": random_id(rng, &people), "stage": rng.gen::<bool>()})
        }
        15 => json!({"type": "demote", "participant_id": random_id(rng, &people)}),
        16 => json!({"type": "mute_all"}),
        17 => json!({"type": "mute", "participant_id": random_id(rng, &people)}),
        18 => {
            json!({"type": "kick", "participant_id": random_id(rng, &people), "reason": random_string(rng)})
        }
        19 => json!({"type": "spotlight", "participant_id": random_id(rng, &people)}),
        _ => {
            if rng.gen_bool(0.3) {
                json!({"type": "close_poll", "poll_id": random_id(rng, &pool.polls)})
            } else {
                json!({
                    "type": "create_poll",
                    "question": random_string(rng),
                    "options": (0..rng.gen_range(0..8)).map(|_| random_string(rng)).collect::<Vec<_>>(),
                    "multiple": rng.gen::<bool>(),
                    "duration_s": random_number(rng),
                    "share_results": rng.gen::<bool>(),
                })
            }
        }
    };
    // Sometimes a wrong shape: a field dropped, retyped or added.
    if rng.gen_bool(0.25) {
        let obj = m.as_object_mut().expect("object");
        let keys: Vec<String> = obj.keys().filter(|k| *k != "type").cloned().collect();
        match rng.gen_range(0..3) {
            0 if !keys.is_empty() => {
                obj.remove(&keys[rng.gen_range(0..keys.len())]);
            }
            1 if !keys.is_empty() => {
                let k = keys[rng.gen_range(0..keys.len())].clone();
                obj.insert(k, random_value(rng, 0));
            }
            _ => {
                obj.insert(random_string(rng), random_value(rng, 0));
            }
        }
    }
    m
}

/// A frame, and what the server owes for it.
enum Expect {
    /// A well-formed message: the room answers or not.
    Nothing,
    /// Not a message, or over 16 KiB: an `error` (`bad_message`,
    /// `too_large`) from the socket layer, or the 4400 close.
    Error,
    /// Over the 1 MiB the server reads at all: the socket is closed.
    Closed,
}

fn random_frame(rng: &mut StdRng, pool: &Pool) -> (Message, Expect) {
    let text = match rng.gen_range(0..20) {
        0 => {
            let bytes: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            return (Message::binary(bytes), Expect::Error);
        }
        1 => {
            let bytes: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        2 => {
            let full = random_message(rng, pool).to_string();
            let cut = rng.gen_range(0..full.len());
            full.char_indices()
                .map(|(i, _)| i)
                .take_while(|&i| i <= cut)
                .last()
                .map_or(String::new(), |i| full[..i].to_owned())
        }
        3 => random_value(rng, 0).to_string(),
        4 => format!(
            "{{\"type\": \"ping\", \"id\": {}}}",
            [
                "1e400",
                "18446744073709551616",
                "-0",
                "99999999999999999999999999"
            ][rng.gen_range(0..4)]
        ),
        5 => json!({"type": random_string(rng)}).to_string(),
        6 if rng.gen_bool(0.2) => {
            json!({"type": "chat", "text": "y".repeat(17 * 1024)}).to_string()
        }
        6 if rng.gen_bool(0.05) => {
            return (Message::text("z".repeat(1024 * 1024 + 1)), Expect::Closed);
        }
        7 => {
            return (
                Message::Ping(rng.gen::<[u8; 8]>().to_vec().into()),
                Expect::Nothing,
            )
        }
        _ => random_message(rng, pool).to_string(),
    };
    // The protocol decides: anything that is not a client message (or is a
    // second `auth`) is answered with an error by the socket layer.
    let expect = match serde_json::from_str::<ClientMessage>(&text) {
        _ if text.len() > MAX_FRAME_BYTES => Expect::Error,
        Ok(ClientMessage::Auth { .. }) | Err(_) => Expect::Error,
        Ok(_) => Expect::Nothing,
    };
    (Message::text(text), expect)
}

/// Joins (or waits in the lobby) as the random client in a random role.
async fn fuzz_connect(base: &str, id: &str, rng: &mut StdRng) -> Ws {
    let role = [Role::Instructor, Role::Student, Role::Guest][rng.gen_range(0..3)];
    // Students and guests need a token for this session; an instructor
    // token acts as instructor only in its own session (alice's).
    let tok = match role {
        Role::Instructor => token(role, "alice", None),
        _ => token(role, "fuzz", Some(id)),
    };
    let mut ws = Ws::auth(base, id, "fuzz", &tok).await;
    // Welcome, or waiting when a random instructor turned the lobby on.
    let first = ws
        .next_where(
            |v| v["type"] == "welcome" || v["type"] == "waiting" || v["type"] == "denied",
            T,
        )
        .await;
    let kicked = match &first {
        Ok(v) => v["type"] == "denied",
        Err(Stop::Closed(Some(4004), _)) => true,
        Err(_) => false,
    };
    if role != Role::Instructor && kicked {
        // The fuzzing instructor kicked "fuzz" earlier (random frames aim
        // `kick` at it): refusing the kicked student is right. Go on as the
        // instructor.
        let mut ws = Ws::auth(base, id, "fuzz", &token(Role::Instructor, "alice", None)).await;
        let first = ws.next_where(|v| v["type"] == "welcome", T).await;
        assert!(
            first.is_ok(),
            "fuzz (instructor after a kick): {first:?}: {:?}",
            ws.log
        );
        return ws;
    }
    assert!(
        first.is_ok(),
        "fuzz ({role:?}): neither welcome nor waiting ({first:?}): {:?}",
        ws.log
    );
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn random_frames_never_break_the_server_or_other_clients() {
    let seed: u64 = std::env::var("CONTROL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("random frames: seed {seed} (CONTROL_FUZZ_SEED={seed} repeats this run)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = ServerProcess::start(&[]);
    let base = server.url.clone();
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&base, &alice_t, "Fuzz").await;

    // The chatter: a student who chats once a second and must get every
    // one of its messages back.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let chatter = {
        let (base, id) = (base.clone(), id.clone());
        let tok = token(Role::Student, "chatter", Some(&id));
        tokio::spawn(async move {
            let (mut ws, _) = Ws::join(&base, &id, "chatter", &tok).await;
            let mut sent = 0u32;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        sent += 1;
                        ws.send(json!({"type": "chat", "text": format!("chatter #{sent}")})).await;
                    }
                    _ = &mut stop_rx => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        let _ = ws.next("<never>", |_| false, Duration::from_millis(1)).await;
                        if let Some(c) = &ws.closed {
                            panic!("the chatter was closed: {c:?}");
                        }
                    }
                }
            }
            // Every one came back (some were taken while polling above).
            let deadline = Instant::now() + T;
            loop {
                let got: Vec<String> = ws
                    .log
                    .iter()
                    .filter(|v| v["type"] == "chat" && v["message"]["sender_id"] == "chatter")
                    .filter_map(|v| v["message"]["text"].as_str().map(str::to_owned))
                    .collect();
                let want: Vec<String> = (1..=sent).map(|n| format!("chatter #{n}")).collect();
                if got == want {
                    break;
                }
                assert!(
                    Instant::now() < deadline && ws.closed.is_none(),
                    "the chatter sent {want:?} and got back {got:?} ({:?})",
                    ws.closed
                );
                ws.drain(Duration::from_millis(100)).await;
            }
            let errors: Vec<&Value> = ws.log.iter().filter(|v| v["type"] == "error").collect();
            assert!(errors.is_empty(), "the chatter got errors: {errors:?}");
            sent
        })
    };

    let started = Instant::now();
    let mut pool = Pool::default();
    let mut ws = fuzz_connect(&base, &id, &mut rng).await;
    let (mut connections, mut bad, mut answered, mut abusive, mut huge) = (1, 0, 0, 0, 0);
    for n in 0..500 {
        // Learn ids to aim at (the chatter's stay out of reach).
        for v in &ws.log {
            if v["type"] == "chat" && v["message"]["sender_id"] != "chatter" {
                if let Some(m) = v["message"]["id"].as_str() {
                    if !pool.messages.iter().any(|x| x == m) {
                        pool.messages.push(m.to_owned());
                    }
                }
            }
            if let Some(p) = v["poll"]["id"].as_str() {
                if !pool.polls.iter().any(|x| x == p) {
                    pool.polls.push(p.to_owned());
                }
            }
        }
        let (frame, expect) = random_frame(&mut rng, &pool);
        let shown = match &frame {
            Message::Text(t) => t.chars().take(120).collect::<String>(),
            other => format!("{other:?}").chars().take(120).collect(),
        };
        let took = ws.send_frame(frame).await;
        let outcome = match expect {
            Expect::Nothing => {
                // The room's answers, if any, arrive in their own time.
                let _ = ws
                    .next("<never>", |_| false, Duration::from_millis(8))
                    .await;
                ws.closed.clone().map(|c| (c, false))
            }
            Expect::Error => {
                bad += 1;
                match ws
                    .next(
                        "error",
                        |v| v["code"] == "bad_message" || v["code"] == "too_large",
                        T,
                    )
                    .await
                {
                    Ok(_) => {
                        answered += 1;
                        None
                    }
                    Err(Stop::Closed(code, reason)) => Some(((code, reason), true)),
                    Err(Stop::Timeout) => panic!(
                        "frame {n}: no error for a bad frame within {T:?} (sent: {took}): {shown}"
                    ),
                }
            }
            Expect::Closed => {
                huge += 1;
                let (code, reason) = ws.expect_close(T).await;
                Some(((code, reason), false))
            }
        };
        if let Some(((code, reason), after_bad)) = outcome {
            match code {
                Some(4400) if after_bad => abusive += 1,
                // Messages the room refuses count toward the abuse limit
                // too (issue 13, M3): a well-formed frame may be the 21st.
                Some(4400) if matches!(expect, Expect::Nothing) => abusive += 1,
                _ if matches!(expect, Expect::Closed) => {}
                _ => panic!("frame {n}: closed with {code:?} {reason:?} after {shown}"),
            }
            ws = fuzz_connect(&base, &id, &mut rng).await;
            connections += 1;
        }
    }
    let fuzz_time = started.elapsed();
    // Let the chatter's last message go round.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let sent = chatter.await.expect("the chatter's checks");
    eprintln!(
        "random frames: 500 in {fuzz_time:?} over {connections} connections; \
         {bad} bad ({answered} answered with an error, {abusive} abusive closes), \
         {huge} over 1 MiB (closed); the chatter sent and got back {sent}"
    );
    assert!(sent >= 3, "the chatter only chatted {sent} times");
    assert!(answered > 0);

    // The server lives on, and serves a new client.
    assert!(server.is_running(), "the server exited");
    let r = http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let (mut alice, w) = Ws::join(&base, &id, "alice", &alice_t).await;
    assert!(ids(&w["room"]["participants"]).contains(&"alice".to_owned()));
    alice
        .send(json!({"type": "chat", "text": "after the storm"}))
        .await;
    alice
        .expect("chat", |v| v["message"]["text"] == "after the storm", T)
        .await;
    assert!(server.is_running(), "the server exited");
}

// ---------------------------------------------------------------------------
// Hostile clients and room state from storage (issue 13).
// ---------------------------------------------------------------------------

/// L1: an auth error longer than a close frame can carry (here the session
/// id, quoted in "no session ...") still reaches the client as 4401, with
/// the reason cut at a character boundary.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_auth_error_still_closes_with_4401() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    // 12 bytes of "no session \"" then two-byte characters: 123 bytes falls
    // inside one.
    let long_id = "é".repeat(150);
    let bob_t = token(Role::Student, "bob", Some(&long_id));
    let encoded: String = long_id.bytes().map(|b| format!("%{b:02X}")).collect();
    let mut ws = Ws::auth(base, &encoded, "bob", &bob_t).await;
    let (code, reason) = ws.expect_close(T).await;
    assert_eq!(code, Some(4401), "{reason:?}");
    assert!(
        reason.len() <= 123 && reason.starts_with("no session"),
        "{reason:?}"
    );
    // A token that is long garbage: the same.
    let id = create_session(base, &token(Role::Instructor, "alice", None), "Long").await;
    let mut ws = Ws::auth(base, &id, "bob", &"x.".repeat(4000)).await;
    let (code, reason) = ws.expect_close(T).await;
    assert_eq!(code, Some(4401), "{reason:?}");
}

/// Classroom state 3: `bad_message`, `too_large` and 4401 refusals are
/// logged at info with the session and the participant, never the token.
#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_is_logged_without_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_logged(&[], &log);
    let base = &server.url;
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice_t, "Logged").await;
    let bob_t = token(Role::Student, "bob-logged", Some(&id));
    let (mut bob, _) = Ws::join(base, &id, "bob", &bob_t).await;
    bob.send(json!({"type": "no_such_thing"})).await;
    bob.expect("error", |v| v["code"] == "bad_message", T).await;
    bob.send_frame(Message::text("x".repeat(MAX_FRAME_BYTES + 1)))
        .await;
    bob.expect("error", |v| v["code"] == "too_large", T).await;
    let bad_t = format!("{bob_t}tampered");
    let mut bad = Ws::auth(base, &id, "mallory", &bad_t).await;
    assert_eq!(bad.expect_close(T).await.0, Some(4401));
    let text = wait_for(T, "the refusals in the log", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let refused: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("control message refused") && l.contains(&id))
            .collect();
        let has = |code: &str| refused.iter().any(|l| l.contains(code));
        let bob_logged = refused.iter().filter(|l| l.contains("bob-logged")).count();
        (has("bad_message") && has("too_large") && has("unauthenticated") && bob_logged >= 2)
            .then_some(text)
    })
    .await;
    for t in [&bob_t, &alice_t, &bad_t] {
        let signature = t.rsplit('.').next().expect("signature");
        assert!(!text.contains(signature), "a token in the log");
    }
}

/// Classroom state 2: a kicked student who comes back gets `denied` and
/// close 4004 every time, whether the ban is stored yet or not.
#[tokio::test(flavor = "multi_thread")]
async fn a_kicked_student_is_denied_the_same_way_every_time() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice_t, "Kick").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let (mut alice, _) = Ws::join(base, &id, "alice", &alice_t).await;
    let (mut bob, _) = Ws::join(base, &id, "bob", &bob_t).await;
    alice
        .send(json!({"type": "kick", "participant_id": "bob"}))
        .await;
    assert_eq!(bob.expect_close(T).await.0, Some(4003));
    // While the ban is being stored, the room's own list refuses the rejoin.
    let mut racing = Ws::auth(base, &id, "bob", &bob_t).await;
    racing.expect("denied", |_| true, T).await;
    assert_eq!(racing.expect_close(T).await.0, Some(4004));
    // Effects are stored in order: once a later chat is in the report, the
    // ban is stored, and the rejoin is refused at authentication.
    alice
        .send(json!({"type": "chat", "text": "after the kick"}))
        .await;
    wait_for(T, "the chat stored", || async {
        let (_, r) = report(base, &alice_t, &id).await;
        (r["totals"]["chat_messages"] == 1).then_some(())
    })
    .await;
    for attempt in 0..3 {
        let mut again = Ws::auth(base, &id, "bob", &bob_t).await;
        let denied = again.next("denied", |_| true, T).await;
        assert!(
            denied.is_ok(),
            "rejoin {attempt}: no denied ({denied:?}); got {:?}",
            again.log
        );
        assert_eq!(
            again.expect_close(T).await.0,
            Some(4004),
            "rejoin {attempt}"
        );
    }
}

/// M3: raising and lowering a hand (and media state) in a loop is rate
/// limited: the room broadcasts a bounded number of updates, the rest are
/// refused, and the refusals close the socket as abusive.
#[tokio::test(flavor = "multi_thread")]
async fn hand_and_media_floods_are_limited_and_close_the_socket() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice_t, "Flood").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let (mut alice, _) = Ws::join(base, &id, "alice", &alice_t).await;
    let (mut bob, _) = Ws::join(base, &id, "bob", &bob_t).await;
    alice
        .expect("participant_joined", |v| about(v, "bob"), T)
        .await;
    let started = Instant::now();
    for i in 0..200 {
        let msg = match i % 3 {
            0 => json!({"type": "raise_hand"}),
            1 => json!({"type": "lower_hand"}),
            _ => json!({"type": "media_state", "mic": i % 2 == 0, "camera": false}),
        };
        if !bob.send_frame(Message::text(msg.to_string())).await {
            break;
        }
    }
    let (code, reason) = bob.expect_close(T).await;
    assert_eq!(code, Some(4400), "{reason:?}");
    assert!(
        bob.log
            .iter()
            .any(|v| v["type"] == "error" && v["code"] == "rate_limited"),
        "{:?}",
        bob.log
    );
    // What reached the instructor: within the bucket (a burst of 10 and 5 a
    // second), each accepted message making at most two broadcasts.
    alice
        .expect("participant_left", |v| about(v, "bob"), T)
        .await;
    let secs = started.elapsed().as_secs_f64();
    let updates = alice
        .log
        .iter()
        .filter(|v| v["type"] == "hands" || (v["type"] == "participant_updated" && about(v, "bob")))
        .count();
    let bound = 2.0 * (10.0 + 5.0 * secs) + 2.0;
    assert!(
        (updates as f64) <= bound,
        "{updates} updates in {secs:.1} s (bound {bound:.0})"
    );
    // Pings are limited too (answered by the socket itself).
    let (mut carl, _) = Ws::join(base, &id, "carl", &token(Role::Student, "carl", Some(&id))).await;
    for i in 0..15 {
        carl.send(json!({"type": "ping", "id": i})).await;
    }
    carl.expect("error", |v| v["code"] == "rate_limited", T)
        .await;
}

/// Classroom state 1: after a restart the room comes back with its polls
/// (open ones still answerable, once per student; closed ones with their
/// results) and its lobby setting.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_server_restores_polls_and_the_lobby() {
    let mut first = ServerProcess::start(&[]);
    let data = first.keep_data_dir();
    let base = first.url.clone();
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&base, &alice_t, "Restart").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let carl_t = token(Role::Student, "carl", Some(&id));
    let (mut alice, _) = Ws::join(&base, &id, "alice", &alice_t).await;
    let (mut bob, _) = Ws::join(&base, &id, "bob", &bob_t).await;
    let mut poll_ids = Vec::new();
    for question in ["Open?", "Closed?"] {
        alice
            .send(json!({
                "type": "create_poll", "question": question,
                "options": ["yes", "no"], "share_results": false
            }))
            .await;
        let p = bob
            .expect("poll_opened", |v| v["poll"]["question"] == question, T)
            .await;
        poll_ids.push(p["poll"]["id"].as_str().expect("id").to_owned());
    }
    for poll_id in &poll_ids {
        bob.send(json!({"type": "answer_poll", "poll_id": poll_id, "choices": [1]}))
            .await;
        alice
            .expect("poll_results", |v| v["results"]["poll_id"] == *poll_id, T)
            .await;
    }
    alice
        .send(json!({"type": "close_poll", "poll_id": poll_ids[1]}))
        .await;
    bob.expect("poll_closed", |_| true, T).await;
    alice
        .send(json!({"type": "set_lobby", "enabled": true}))
        .await;
    alice.expect("lobby", |v| v["enabled"] == true, T).await;
    // The effects are stored in order: a chat after them, seen in the
    // report, means they are stored too.
    alice.send(json!({"type": "chat", "text": "stored?"})).await;
    wait_for(T, "the chat stored", || async {
        let (_, r) = report(&base, &alice_t, &id).await;
        (r["totals"]["chat_messages"] == 1).then_some(())
    })
    .await;
    drop((alice, bob));
    first.kill();

    let second = ServerProcess::start_in(data.path(), &[]);
    let base = &second.url;
    let (mut alice, w) = Ws::join(base, &id, "alice", &alice_t).await;
    let room = &w["room"];
    assert_eq!(room["lobby_enabled"], true, "{w}");
    let polls: Vec<(Value, Value)> = room["polls"]
        .as_array()
        .expect("polls")
        .iter()
        .map(|p| (p["id"].clone(), p["closed"].clone()))
        .collect();
    assert_eq!(
        polls,
        [
            (json!(poll_ids[0]), json!(false)),
            (json!(poll_ids[1]), json!(true))
        ],
        "{w}"
    );
    for poll_id in &poll_ids {
        let r = alice
            .expect("poll_results", |v| v["results"]["poll_id"] == *poll_id, T)
            .await;
        assert_eq!(r["results"]["counts"], json!([0, 1]), "{r}");
    }
    // The lobby holds: students wait until admitted.
    let mut bob = Ws::auth(base, &id, "bob", &bob_t).await;
    bob.expect("waiting", |_| true, T).await;
    let mut carl = Ws::auth(base, &id, "carl", &carl_t).await;
    carl.expect("waiting", |_| true, T).await;
    alice.send(json!({"type": "admit"})).await;
    bob.expect("welcome", |_| true, T).await;
    carl.expect("welcome", |_| true, T).await;
    // Bob answered before the restart; Carl answers now; nobody answers the
    // closed poll.
    let answer = |poll: &str| json!({"type": "answer_poll", "poll_id": poll, "choices": [0]});
    bob.send(answer(&poll_ids[0])).await;
    bob.expect("error", |v| v["code"] == "already_answered", T)
        .await;
    carl.send(answer(&poll_ids[0])).await;
    let r = alice
        .expect("poll_results", |v| v["results"]["respondents"] == 2, T)
        .await;
    assert_eq!(r["results"]["counts"], json!([1, 1]), "{r}");
    carl.send(answer(&poll_ids[1])).await;
    carl.expect("error", |v| v["code"] == "invalid", T).await;
    drop((alice, bob, carl, second, data));
}

/// L2: a chat the room accepts crosses the broker, however its characters
/// grow in JSON (2000 four-byte emoji: 8000 bytes; 2000 quotes: 4000 bytes
/// escaped twice), and a process that joins later gets it in its copy.
async fn long_chats_cross_the_broker(broker: &str) {
    let db = TestDb::new(Backend::Postgres).await;
    let args = ["--database-url", db.url.as_str(), "--broker", broker];
    let a = ServerProcess::start(&args);
    let alice_t = token(Role::Instructor, "alice", None);
    let id = create_session(&a.url, &alice_t, "Long chats").await;
    let bob_t = token(Role::Student, "bob", Some(&id));
    let carl_t = token(Role::Student, "carl", Some(&id));
    let (mut alice, _) = Ws::join(&a.url, &id, "alice", &alice_t).await;
    let (mut bob, _) = Ws::join(&a.url, &id, "bob", &bob_t).await;
    let texts = ["😀".repeat(2000), "\"".repeat(2000), "\u{1}\\".repeat(1000)];
    for text in &texts {
        bob.send(json!({"type": "chat", "text": text})).await;
        for c in [&mut alice, &mut bob] {
            c.expect("chat", |v| v["message"]["text"] == *text, T).await;
        }
    }
    // A second process copies the room (its history holds them all).
    let b = ServerProcess::start(&args);
    let (_carl, w) = Ws::join(&b.url, &id, "carl", &carl_t).await;
    let chat: Vec<&str> = w["room"]["chat"]
        .as_array()
        .expect("chat")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(chat, texts.iter().map(String::as_str).collect::<Vec<_>>());
    drop((alice, bob, a, b));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn long_chats_cross_the_redis_broker() {
    long_chats_cross_the_broker(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn long_chats_cross_the_postgres_broker() {
    long_chats_cross_the_broker(&pg_admin_url()).await;
}
