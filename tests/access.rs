//! The access policy as clients meet it (issue 13: H2, H3, H4, M1, M2, M4,
//! L6, L8, L9): a route × role × session matrix over REST, WHIP, WHEP, HLS
//! and the classroom socket, and one regression test per finding.

#[macro_use]
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use classcast::auth::{Claims, Keys, Role, TokenRules};
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const SDP: Option<&str> = Some("application/sdp");
const TRICKLE: Option<&str> = Some("application/trickle-ice-sdpfrag");
/// Not an offer: whoever passes the policy gets the parser's answer (400/409),
/// whoever does not gets 401/403. No media is needed to tell them apart.
const NOT_SDP: &str = "v=0\r\nnot an offer\r\n";
const CANDIDATE: &str = "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n";

/// The people in the matrix. Session "A" is alice's; "B" is mallory's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// alice, instructor of A.
    Owner,
    /// mallory, instructor of B, with an unscoped instructor token.
    OtherInstructor,
    /// bob, a student with a token for A.
    Student,
    /// gina, a guest with a token for A.
    Guest,
    /// sam, a student of A whom the room has on stage.
    OnStage,
    /// kim, a student of A who was kicked (banned).
    Banned,
    /// olga, a student with a token for B.
    ScopedToB,
    /// uma, a student with a token that names no session.
    Unscoped,
    Nobody,
}

use Who::*;

const EVERYONE: [Who; 9] = [
    Owner,
    OtherInstructor,
    Student,
    Guest,
    OnStage,
    Banned,
    ScopedToB,
    Unscoped,
    Nobody,
];

struct Sessions {
    a: String,
    b: String,
}

impl Who {
    fn token(self, s: &Sessions) -> Option<String> {
        let a = Some(s.a.as_str());
        Some(match self {
            Owner => token(Role::Instructor, "alice", None),
            OtherInstructor => token(Role::Instructor, "mallory", None),
            Student => token(Role::Student, "bob", a),
            Guest => token(Role::Guest, "gina", a),
            OnStage => token(Role::Student, "sam", a),
            Banned => token(Role::Student, "kim", a),
            ScopedToB => token(Role::Student, "olga", Some(s.b.as_str())),
            Unscoped => token(Role::Student, "uma", None),
            Nobody => return None,
        })
    }
}

/// Sessions A and B, sam on stage in A, kim banned from A, and HLS files of A
/// to fetch.
async fn setup(app: &TestApp) -> Sessions {
    let a = app
        .create_session(&token(Role::Instructor, "alice", None), "A")
        .await;
    let b = app
        .create_session(&token(Role::Instructor, "mallory", None), "B")
        .await;
    // What the classroom does on every process when sam is called on.
    app.state.egress.set_promoted(&a, "sam", true);
    app.state.db.ban(&a, "kim", 1).await.expect("ban");
    let dir = app.state.hls.session_dir(&a);
    std::fs::create_dir_all(dir.join("360p")).expect("mkdir");
    std::fs::write(dir.join("master.m3u8"), "#EXTM3U\n360p/index.m3u8\n").expect("master");
    std::fs::write(
        dir.join("360p/index.m3u8"),
        "#EXTM3U\n#EXTINF:2,\nseg_00001.ts\n",
    )
    .expect("media");
    std::fs::write(dir.join("360p/seg_00001.ts"), b"ts").expect("segment");
    Sessions { a, b }
}

/// One request of the matrix.
#[derive(Debug, Clone, Copy)]
struct Route {
    name: &'static str,
    method: &'static str,
    /// `{s}` is replaced by the session id.
    path: &'static str,
    content_type: Option<&'static str>,
    body: &'static str,
}

const fn route(name: &'static str, method: &'static str, path: &'static str) -> Route {
    Route {
        name,
        method,
        path,
        content_type: None,
        body: "",
    }
}

const SHOW: Route = route("show", "GET", "/api/sessions/{s}");
const LIST: Route = route("list", "GET", "/api/sessions");
const PUBLISHES: Route = route("publishes", "GET", "/api/sessions/{s}/publishes");
const REPORT: Route = route("report", "GET", "/api/sessions/{s}/report");
const RECORDINGS: Route = route("recordings", "GET", "/api/sessions/{s}/recordings");
const VIEWERS: Route = route("viewers", "GET", "/api/sessions/{s}/viewers");
const PARTICIPANTS: Route = route("participants", "GET", "/api/sessions/{s}/participants");
const WHIP_POST: Route = Route {
    content_type: SDP,
    body: NOT_SDP,
    ..route("whip post", "POST", "/whip/{s}")
};
const WHIP_PATCH: Route = Route {
    content_type: TRICKLE,
    body: CANDIDATE,
    ..route("whip patch", "PATCH", "/whip/{s}/r0")
};
const WHIP_DELETE: Route = route("whip delete", "DELETE", "/whip/{s}/r0");
const WHEP_POST: Route = Route {
    content_type: SDP,
    body: NOT_SDP,
    ..route("whep post", "POST", "/whep/{s}")
};
const WHEP_PATCH: Route = Route {
    content_type: TRICKLE,
    body: CANDIDATE,
    ..route("whep patch", "PATCH", "/whep/{s}/r0")
};
const WHEP_DELETE: Route = route("whep delete", "DELETE", "/whep/{s}/r0");
const HLS_MASTER: Route = route("hls master", "GET", "/hls/{s}/master.m3u8");
const HLS_MEDIA: Route = route("hls media", "GET", "/hls/{s}/360p/index.m3u8");
const HLS_SEGMENT: Route = route("hls segment", "GET", "/hls/{s}/360p/seg_00001.ts");
const END: Route = route("end", "POST", "/api/sessions/{s}/end");

/// Which session a row asks about.
#[derive(Debug, Clone, Copy)]
enum Target {
    A,
    B,
    /// An id that does not exist.
    Missing,
}

const OK: u16 = 200;
const NO: u16 = 403;
const ANON: u16 = 401;

/// The expected status of every route for everyone, on session A. What the
/// routes answer past the policy without media: WHIP POST 422 (not an
/// offer), WHEP POST 409 (not live), PATCH/DELETE of an unknown resource 404.
fn expected_on_a(route: &Route, who: Who) -> u16 {
    if who == Nobody {
        return ANON;
    }
    let participant = matches!(who, Student | Guest | OnStage);
    match route.name {
        "show" | "publishes" | "hls master" | "hls media" | "hls segment" => {
            if who == Owner || participant {
                OK
            } else {
                NO
            }
        }
        "recordings" => {
            if who == Owner || participant {
                OK
            } else {
                NO
            }
        }
        "report" | "viewers" | "participants" => {
            if who == Owner {
                OK
            } else {
                NO
            }
        }
        // Publishing: the owner, or a student while on stage.
        "whip post" => match who {
            Owner | OnStage => 422,
            _ => NO,
        },
        // A student on stage changes only their own resource (r0 is not).
        "whip patch" | "whip delete" => match who {
            Owner => 404,
            _ => NO,
        },
        // Guests watch A over HLS only (guests_webrtc is off).
        "whep post" => match who {
            Owner | Student | OnStage => 409,
            _ => NO,
        },
        "whep patch" | "whep delete" => match who {
            Owner | Student | Guest | OnStage => 404,
            _ => NO,
        },
        "end" => {
            if who == Owner {
                OK
            } else {
                NO
            }
        }
        other => panic!("no expectation for {other}"),
    }
}

async fn call(app: &TestApp, route: &Route, session: &str, token: Option<&str>) -> (u16, String) {
    let method = Method::from_bytes(route.method.as_bytes()).expect("method");
    let path = route.path.replace("{s}", session);
    let r = app
        .request(method, &path, token, route.content_type, route.body)
        .await;
    (r.status.as_u16(), r.text())
}

async fn check_the_matrix(app: &TestApp) {
    let s = setup(app).await;
    let routes = [
        SHOW,
        PUBLISHES,
        REPORT,
        RECORDINGS,
        VIEWERS,
        PARTICIPANTS,
        WHIP_POST,
        WHIP_PATCH,
        WHIP_DELETE,
        WHEP_POST,
        WHEP_PATCH,
        WHEP_DELETE,
        HLS_MASTER,
        HLS_MEDIA,
        HLS_SEGMENT,
    ];
    let mut failures = Vec::new();
    let mut rows = 0;
    for route in routes.iter().chain([&END]) {
        for who in EVERYONE {
            let token = who.token(&s);
            for target in [Target::A, Target::B, Target::Missing] {
                let (session, expected) = match target {
                    Target::A => (s.a.clone(), expected_on_a(route, who)),
                    // B is mallory's: everyone else is refused,
                    // and a missing id answers exactly like B (no probing),
                    // except to an unscoped instructor token.
                    Target::B => (s.b.clone(), if who == Nobody { ANON } else { NO }),
                    Target::Missing => (
                        "0123456789abcdef0123456789abcdef".to_owned(),
                        match who {
                            Nobody => ANON,
                            Owner | OtherInstructor => 404,
                            _ => NO,
                        },
                    ),
                };
                // B is mallory's and olga's own session: their rows there are
                // A's owner and student rows again.
                if matches!(who, OtherInstructor | ScopedToB) && matches!(target, Target::B) {
                    continue;
                }
                let (status, body) = call(app, route, &session, token.as_deref()).await;
                rows += 1;
                if status != expected {
                    failures.push(format!(
                        "{:<12} {:<16} on {target:?}: expected {expected}, got {status} {body}",
                        route.name,
                        format!("{who:?}")
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.cleanup_hls(&s.a);
}

trait HlsCleanup {
    fn cleanup_hls(&self, session: &str);
}

impl HlsCleanup for TestApp {
    fn cleanup_hls(&self, session: &str) {
        let _ = std::fs::remove_dir_all(self.state.hls.session_dir(session));
    }
}

/// Listing: a scoped token sees its session only (none if refused there),
/// an instructor their own, students and guests without a scope nothing.
async fn check_listing(app: &TestApp) {
    let s = setup(app).await;
    let ids = |r: &Reply| -> Vec<String> {
        r.json()
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let cases = [
        (Owner, 200, vec![s.a.clone()]),
        (OtherInstructor, 200, vec![s.b.clone()]),
        (Student, 200, vec![s.a.clone()]),
        (Banned, 200, vec![]),
        (ScopedToB, 200, vec![s.b.clone()]),
        (Unscoped, 403, vec![]),
        (Nobody, 401, vec![]),
    ];
    for (who, status, expected) in cases {
        let r = app
            .call(Method::GET, LIST.path, who.token(&s).as_deref())
            .await;
        assert_eq!(r.status.as_u16(), status, "{who:?}: {}", r.text());
        if status == 200 {
            assert_eq!(ids(&r), expected, "{who:?}");
        }
    }
}

on_both_databases! {
    matrix => check_the_matrix;
    listing => check_listing;
}

/// The classroom socket over the same roles: joins as what, or refused how.
mod socket {
    use super::*;

    enum Outcome {
        Joined(String),
        Closed(u16),
    }

    async fn join(base: &str, session: &str, token: Option<&str>) -> Outcome {
        let url = format!("{}/ws/sessions/{session}", base.replacen("http", "ws", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("upgrade");
        let first = json!({ "type": "auth", "token": token.unwrap_or("none") });
        ws.send(Message::text(first.to_string()))
            .await
            .expect("send");
        let deadline = Duration::from_secs(10);
        loop {
            let frame = tokio::time::timeout(deadline, ws.next())
                .await
                .expect("an answer within 10 s");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("welcome") => {
                            return Outcome::Joined(
                                v["you"]["role"].as_str().expect("role").to_owned(),
                            )
                        }
                        Some("waiting") => return Outcome::Joined("waiting".into()),
                        _ => continue,
                    }
                }
                Some(Ok(Message::Close(Some(f)))) => return Outcome::Closed(u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close code: {other:?}"),
            }
        }
    }

    async fn check_socket_roles(app: &TestApp) {
        let s = setup(app).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server =
            tokio::spawn(axum::serve(listener, classcast::app(app.state.clone())).into_future());
        let cases: [(Who, Result<&str, u16>); 9] = [
            (Owner, Ok("instructor")),
            // H3: an instructor token moderates only its own class.
            (OtherInstructor, Err(4401)),
            (Student, Ok("student")),
            (Guest, Ok("guest")),
            (OnStage, Ok("student")),
            // H4: the kicked stay out.
            (Banned, Err(4004)),
            (ScopedToB, Err(4401)),
            (Unscoped, Err(4401)),
            (Nobody, Err(4401)),
        ];
        for (who, expected) in cases {
            let got = join(&base, &s.a, who.token(&s).as_deref()).await;
            match (expected, got) {
                (Ok(role), Outcome::Joined(r)) => assert_eq!(r, role, "{who:?}"),
                (Err(code), Outcome::Closed(c)) => assert_eq!(c, code, "{who:?}"),
                (Ok(role), Outcome::Closed(c)) => {
                    panic!("{who:?}: expected to join as {role}, closed {c}")
                }
                (Err(code), Outcome::Joined(r)) => {
                    panic!("{who:?}: expected close {code}, joined as {r}")
                }
            }
        }
        server.abort();
    }

    on_both_databases! {
        roles => check_socket_roles;
    }
}

use std::future::IntoFuture;

/// H2: the stage ends with the demote, whatever the token says.
async fn check_stage_rights_are_live(app: &TestApp) {
    let s = setup(app).await;
    // The room's stage token: scoped, with the stage claim, 15 minutes.
    let mut claims = Claims::new(
        "sam",
        "sam",
        Role::Student,
        Some(s.a.clone()),
        Duration::from_secs(900),
    );
    claims.stage = true;
    let stage_token = keys().sign(&claims).expect("sign");
    let post = |t: String| {
        let a = s.a.clone();
        async move {
            app.request(Method::POST, &format!("/whip/{a}"), Some(&t), SDP, NOT_SDP)
                .await
                .status
        }
    };
    assert_eq!(
        post(stage_token.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "on stage: past the policy"
    );
    // Demoted (what the hub does on every process).
    app.state.egress.set_promoted(&s.a, "sam", false);
    assert_eq!(
        post(stage_token.clone()).await,
        StatusCode::FORBIDDEN,
        "demoted"
    );
    // Called on again, then kicked: banned beats the stage.
    app.state.egress.set_promoted(&s.a, "sam", true);
    app.state.db.ban(&s.a, "sam", 2).await.expect("ban");
    assert_eq!(post(stage_token).await, StatusCode::FORBIDDEN, "kicked");
}

/// H2: the instructor's resource id is for the instructor only.
async fn check_resource_ids_are_hidden(app: &TestApp) {
    let s = setup(app).await;
    app.state
        .db
        .start_publish(&classcast::db::PublishEvent {
            id: uuid::Uuid::new_v4().to_string(),
            session_id: s.a.clone(),
            resource_id: "the-instructors-resource".into(),
            publisher_id: "alice".into(),
            publisher_name: "alice".into(),
            video_codec: Some("H264".into()),
            audio_codec: None,
            started_at: 1,
            stopped_at: None,
            stop_reason: None,
        })
        .await
        .expect("event");
    let path = format!("/api/sessions/{}/publishes", s.a);
    let owner = app
        .call(Method::GET, &path, Owner.token(&s).as_deref())
        .await;
    assert_eq!(owner.json()[0]["resource_id"], "the-instructors-resource");
    for who in [Student, Guest, OnStage] {
        let r = app.call(Method::GET, &path, who.token(&s).as_deref()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()[0]["publisher_id"], "alice", "{who:?}");
        assert!(
            !r.text().contains("the-instructors-resource"),
            "{who:?} sees the resource id: {}",
            r.text()
        );
    }
}

/// L9: opening a session writes a participants row only for those let in.
async fn check_only_participants_are_recorded(app: &TestApp) {
    let s = setup(app).await;
    for who in EVERYONE {
        app.call(
            Method::GET,
            &format!("/api/sessions/{}", s.a),
            who.token(&s).as_deref(),
        )
        .await;
    }
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{}/participants", s.a),
            Owner.token(&s).as_deref(),
        )
        .await;
    let mut ids: Vec<String> = r.json()["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["user_id"].as_str().expect("user_id").to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["bob", "gina", "sam"]);
}

/// M4: an instructor's open sessions are capped.
async fn check_sessions_per_instructor_are_capped(app: &TestApp) {
    let mut state = app.state.clone();
    let mut settings = (*state.settings).clone();
    settings.max_sessions_per_instructor = 2;
    state.settings = std::sync::Arc::new(settings);
    let capped = TestAppView(state);
    let alice = token(Role::Instructor, "alice", None);
    let first = capped.create(&alice).await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(capped.create(&alice).await.0, StatusCode::CREATED);
    let third = capped.create(&alice).await;
    assert_eq!(third.0, StatusCode::CONFLICT, "{}", third.1);
    assert!(third.1.contains("at most 2"), "{}", third.1);
    // Another instructor has their own allowance.
    let mallory = token(Role::Instructor, "mallory", None);
    assert_eq!(capped.create(&mallory).await.0, StatusCode::CREATED);
    // Ending one makes room.
    let id = serde_json::from_str::<serde_json::Value>(&first.1).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let end = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&alice),
        )
        .await;
    assert_eq!(end.status, StatusCode::OK);
    assert_eq!(capped.create(&alice).await.0, StatusCode::CREATED);
}

/// The app with other settings.
struct TestAppView(classcast::http::state::AppState);

impl TestAppView {
    async fn create(&self, token: &str) -> (StatusCode, String) {
        use tower::ServiceExt;
        let request = axum::http::Request::post("/api/sessions")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(json!({ "title": "t" }).to_string()))
            .expect("request");
        let response = classcast::app(self.0.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

on_both_databases! {
    stage_rights_are_live => check_stage_rights_are_live;
    resource_ids_are_hidden => check_resource_ids_are_hidden;
    only_participants_are_recorded => check_only_participants_are_recorded;
    sessions_per_instructor_are_capped => check_sessions_per_instructor_are_capped;
}

fn signed(claims: &Claims) -> String {
    keys().sign(claims).expect("sign")
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// M1: lifetime, not-before, issuer and audience, revocation.
async fn check_token_rules(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "A").await;
    let show = format!("/api/sessions/{id}");
    let status = |t: String| {
        let show = show.clone();
        async move { app.call(Method::GET, &show, Some(&t)).await.status }
    };
    let base = Claims::new(
        "alice",
        "alice",
        Role::Instructor,
        None,
        Duration::from_secs(600),
    );
    assert_eq!(status(signed(&base)).await, StatusCode::OK);

    let mut forever = base.clone();
    forever.exp = u64::MAX;
    assert_eq!(
        status(signed(&forever)).await,
        StatusCode::UNAUTHORIZED,
        "exp = 2^64-1"
    );
    let mut long = base.clone();
    long.iat = now_s() - 3600;
    long.exp = now_s() + 24 * 3600;
    assert_eq!(
        status(signed(&long)).await,
        StatusCode::UNAUTHORIZED,
        "25 h lifetime"
    );
    let mut later = base.clone();
    later.nbf = Some(now_s() + 600);
    assert_eq!(
        status(signed(&later)).await,
        StatusCode::UNAUTHORIZED,
        "nbf in 10 min"
    );
    let mut now_valid = base.clone();
    now_valid.nbf = Some(now_s() - 1);
    assert_eq!(
        status(signed(&now_valid)).await,
        StatusCode::OK,
        "nbf passed"
    );

    // Revocation: the user's tokens up to now stop working, newer ones work.
    let bob = token(Role::Student, "bob", Some(&id));
    assert_eq!(status(bob.clone()).await, StatusCode::OK);
    let r = app
        .call(Method::POST, "/api/tokens/revoke", Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        status(bob.clone()).await,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    let hls = app
        .call(
            Method::GET,
            &format!("/hls/{id}/master.m3u8?token={bob}"),
            None,
        )
        .await;
    assert_eq!(
        hls.status,
        StatusCode::UNAUTHORIZED,
        "revoked in the query too"
    );
    let mut newer = Claims::new(
        "bob",
        "bob",
        Role::Student,
        Some(id.clone()),
        Duration::from_secs(600),
    );
    newer.iat = now_s() + 1;
    assert_eq!(status(signed(&newer)).await, StatusCode::OK, "issued after");
    // Others are not affected.
    assert_eq!(status(alice).await, StatusCode::OK);
}

/// M1: with an issuer and audience configured, tokens must carry them.
async fn check_issuer_and_audience(app: &TestApp) {
    let rules = TokenRules {
        issuer: Some("https://school.example".into()),
        audience: Some("classcast".into()),
        ..TokenRules::default()
    };
    let strict = Keys::hs256(SECRET.as_bytes()).with_rules(rules);
    let mut state = app.state.clone();
    state.keys = std::sync::Arc::new(strict.clone());
    let view = TestAppView(state);
    let plain = token(Role::Instructor, "alice", None);
    assert_eq!(
        view.create(&plain).await.0,
        StatusCode::UNAUTHORIZED,
        "no iss/aud"
    );
    let claims = Claims::new(
        "alice",
        "alice",
        Role::Instructor,
        None,
        Duration::from_secs(60),
    );
    // Ours are signed with both.
    let ours = strict.sign(&claims).expect("sign");
    assert_eq!(view.create(&ours).await.0, StatusCode::CREATED);
    let mut wrong = claims.clone();
    wrong.aud = Some("another-app".into());
    assert_eq!(
        view.create(&strict.sign(&wrong).expect("sign")).await.0,
        StatusCode::UNAUTHORIZED,
        "wrong aud"
    );
    let mut wrong = claims;
    wrong.iss = Some("https://elsewhere.example".into());
    assert_eq!(
        view.create(&strict.sign(&wrong).expect("sign")).await.0,
        StatusCode::UNAUTHORIZED,
        "wrong iss"
    );
}

/// M2: the playback URL's token plays the recording, nothing else, and
/// never outlives the token that listed it.
async fn check_replay_tokens(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "A").await;
    let rec = uuid::Uuid::new_v4().to_string();
    let db = &app.state.db;
    db.create_recording(&rec, &id, "720p", 0)
        .await
        .expect("create");
    db.stop_recording(&rec, Some(4)).await.expect("stop");
    let key = classcast::storage::recording_key(&id, &rec);
    let path = app.state.data_dir().join(&key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"mp4").expect("write");
    db.recording_produced(&rec, 4, &key, 10_000, 3, true)
        .await
        .expect("produced");

    // A 15-minute join token.
    let join = Claims::new(
        "bob",
        "bob",
        Role::Student,
        Some(id.clone()),
        Duration::from_secs(900),
    );
    let bob = signed(&join);
    let list = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/recordings"),
            Some(&bob),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let url = list.json()["recordings"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let replay = url
        .split("token=")
        .nth(1)
        .expect("a token in the URL")
        .to_owned();
    let claims = keys().verify(&replay).expect("valid");
    assert!(claims.replay, "a replay token");
    assert!(
        claims.exp <= join.exp,
        "outlives the join token: {} > {}",
        claims.exp,
        join.exp
    );
    assert_eq!(claims.session.as_deref(), Some(id.as_str()));

    // It plays the recording…
    let path = url.trim_start_matches("http://127.0.0.1:9");
    assert_eq!(
        app.call(Method::GET, path, None).await.status,
        StatusCode::OK
    );
    // …and nothing else: not the session, not its HLS, not the socket's REST.
    for path in [
        format!("/api/sessions/{id}"),
        format!("/api/sessions/{id}/publishes"),
        format!("/whep/{id}"),
    ] {
        let method = if path.starts_with("/whep") {
            Method::POST
        } else {
            Method::GET
        };
        let r = app
            .request(method, &path, Some(&replay), SDP, NOT_SDP)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text());
    }
    let hls = app
        .call(
            Method::GET,
            &format!("/hls/{id}/master.m3u8?token={replay}"),
            None,
        )
        .await;
    assert_eq!(hls.status, StatusCode::FORBIDDEN);
}

/// L6: a playlist passes on a short token scoped to its session, and only
/// to a player that came with a token in the query.
async fn check_playlists_pass_on_a_scoped_token(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "A").await;
    let dir = app.state.hls.session_dir(&id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("master.m3u8"), "#EXTM3U\n360p/index.m3u8\n").expect("master");

    let with_header = app
        .call(Method::GET, &format!("/hls/{id}/master.m3u8"), Some(&alice))
        .await;
    assert_eq!(
        with_header.text(),
        "#EXTM3U\n360p/index.m3u8\n",
        "no token added"
    );

    let in_query = app
        .call(
            Method::GET,
            &format!("/hls/{id}/master.m3u8?token={alice}"),
            None,
        )
        .await;
    let text = in_query.text();
    assert!(
        !text.contains(&alice),
        "the instructor's own token is copied: {text}"
    );
    let passed = text
        .lines()
        .find_map(|l| l.strip_prefix("360p/index.m3u8?token="))
        .expect("a token on the URI");
    let claims = keys().verify(passed).expect("valid");
    assert_eq!(claims.session.as_deref(), Some(id.as_str()), "scoped");
    assert!(claims.exp <= now_s() + 3600 + 5, "short");
    let _ = std::fs::remove_dir_all(dir);
}

on_both_databases! {
    token_rules => check_token_rules;
    issuer_and_audience => check_issuer_and_audience;
    replay_tokens => check_replay_tokens;
    playlists_pass_on_a_scoped_token => check_playlists_pass_on_a_scoped_token;
}

/// L6: tokens never reach the log, even at debug.
#[tokio::test]
async fn tokens_are_not_logged() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let app = TestApp::new(Backend::Sqlite).await;
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "A").await;
    let guest = token(Role::Guest, "gina", Some(&id));
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        for path in [
            format!("/hls/{id}/master.m3u8?token={guest}"),
            format!("/hls/{id}/360p/index.m3u8?token={guest}"),
            format!("/recordings/{id}/x.mp4?token={guest}"),
        ] {
            app.call(Method::GET, &path, None).await;
        }
        app.call(Method::GET, &format!("/api/sessions/{id}"), Some(&guest))
            .await;
    }
    let log = String::from_utf8_lossy(&buffer.0.lock().expect("lock")).into_owned();
    assert!(log.contains("request"), "the log was captured: {log}");
    assert!(!log.contains(&guest), "a token in the log:\n{log}");
    app.cleanup().await;
}
