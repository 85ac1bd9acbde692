//! WHEP (viewing) input checks, viewer figures and the session's viewer
//! fields, in-process, on SQLite and PostgreSQL. Nothing publishes here, so
//! every session is not live: these are the refusals that need no media.

#[macro_use]
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use classcast::auth::{Claims, Role};
use common::{token, Backend, Reply, TestApp};

const CHROME_OFFER: &str = include_str!("fixtures/chrome-offer.sdp");
const SDP: Option<&str> = Some("application/sdp");
const JSON: Option<&str> = Some("application/json");
const TRICKLE: Option<&str> = Some("application/trickle-ice-sdpfrag");
const FRAG: &str = "a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n";

/// What a Chromium viewer offers: the publisher's offer, receiving instead.
fn recvonly_offer() -> String {
    let offer = CHROME_OFFER.replace("a=sendonly", "a=recvonly");
    assert!(!offer.contains("a=sendonly") && offer.contains("a=recvonly"));
    offer
}

async fn create(app: &TestApp, instructor: &str, body: serde_json::Value) -> serde_json::Value {
    let r = app
        .request(
            Method::POST,
            "/api/sessions",
            Some(instructor),
            JSON,
            body.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

fn error(r: &Reply) -> String {
    r.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", r.text()))
        .to_owned()
}

/// 409 "not live": the refusal every well-formed offer gets here.
fn assert_not_live(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{what}: {}", r.text());
    assert!(error(r).contains("not live"), "{what}: {}", r.text());
    assert_eq!(r.headers["retry-after"], "5", "{what}");
    assert_eq!(r.json()["status"], 409, "{what}");
    assert!(r.json().get("hls").is_none(), "{what}: {}", r.text());
}

async fn check_auth(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "whep auth").await;
    let whep = format!("/whep/{id}");
    let offer = recvonly_offer();

    let r = app
        .request(Method::POST, &whep, None, SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert!(error(&r).contains("missing"), "{}", r.text());

    let r = app
        .request(Method::POST, &whep, Some("garbage"), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    let mut old = Claims::new(
        "sam",
        "sam",
        Role::Student,
        Some(id.clone()),
        Duration::from_secs(60),
    );
    old.exp = 1_000_000;
    let expired = common::keys().sign(&old).expect("sign");
    let r = app
        .request(Method::POST, &whep, Some(&expired), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());

    let elsewhere = token(Role::Student, "sam", Some("another-session"));
    let r = app
        .request(Method::POST, &whep, Some(&elsewhere), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(error(&r).contains("another session"), "{}", r.text());

    let r = app
        .request(Method::POST, "/whep/nope", Some(&alice), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // A guest on a session without guests_webrtc is sent to HLS.
    let guest = token(Role::Guest, "gus", Some(&id));
    let r = app
        .request(Method::POST, &whep, Some(&guest), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let hls = format!("http://127.0.0.1:9/hls/{id}/master.m3u8");
    assert!(error(&r).contains(&hls), "{}", r.text());
    assert!(error(&r).contains("HLS"), "{}", r.text());

    // Students, the instructor and (with guests_webrtc) guests get past
    // auth: the session is simply not live.
    let student = token(Role::Student, "sam", Some(&id));
    let r = app
        .request(Method::POST, &whep, Some(&student), SDP, offer.clone())
        .await;
    assert_not_live(&r, "student");
    let r = app
        .request(Method::POST, &whep, Some(&alice), SDP, offer.clone())
        .await;
    assert_not_live(&r, "instructor");

    let open = create(
        app,
        &alice,
        serde_json::json!({ "title": "open to guests", "guests_webrtc": true }),
    )
    .await;
    assert_eq!(open["guests_webrtc"], true);
    let open_id = open["id"].as_str().expect("id");
    let guest = token(Role::Guest, "gus", Some(open_id));
    let r = app
        .request(
            Method::POST,
            &format!("/whep/{open_id}"),
            Some(&guest),
            SDP,
            offer.clone(),
        )
        .await;
    assert_not_live(&r, "guest with guests_webrtc");
}

async fn check_offer_input(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "whep input").await;
    let whep = format!("/whep/{id}");
    let sam = token(Role::Student, "sam", Some(&id));
    let offer = recvonly_offer();

    let r = app
        .request(
            Method::POST,
            &whep,
            Some(&sam),
            Some("application/json"),
            offer.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    assert!(error(&r).contains("application/sdp"), "{}", r.text());
    let r = app
        .request(Method::POST, &whep, Some(&sam), None, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    assert!(error(&r).contains("application/sdp"), "{}", r.text());
    // Parameters on the type are fine.
    let r = app
        .request(
            Method::POST,
            &whep,
            Some(&sam),
            Some("Application/SDP; charset=utf-8"),
            offer.clone(),
        )
        .await;
    assert_not_live(&r, "content type with parameters");

    let huge = format!("{offer}{}", "a=x-padding:0123456789abcdef\r\n".repeat(4000));
    assert!(huge.len() > 64 * 1024);
    let r = app
        .request(Method::POST, &whep, Some(&sam), SDP, huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());

    let r = app
        .request(
            Method::POST,
            &whep,
            Some(&sam),
            SDP,
            vec![0xffu8, 0xfe, 0x00],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(error(&r).contains("UTF-8"), "{}", r.text());

    // The offer is parsed before the live check: garbage is a 400 even
    // while nobody publishes.
    let r = app
        .request(Method::POST, &whep, Some(&sam), SDP, "hello")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(error(&r).contains("SDP"), "{}", r.text());
    assert!(r.headers.get("retry-after").is_none());

    // A sendonly offer is refused by the answer plan, which runs after the
    // live check: not live comes first.
    let r = app
        .request(Method::POST, &whep, Some(&sam), SDP, CHROME_OFFER)
        .await;
    assert_not_live(&r, "sendonly offer");

    // Query parameters.
    for q in [
        "audio_only=1",
        "audio_only=true",
        "audio_only=0",
        "audio_only=",
    ] {
        let r = app
            .request(
                Method::POST,
                &format!("{whep}?{q}"),
                Some(&sam),
                SDP,
                offer.clone(),
            )
            .await;
        assert_not_live(&r, q);
    }
    let r = app
        .request(
            Method::POST,
            &format!("{whep}?audio_only=maybe"),
            Some(&sam),
            SDP,
            offer.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(error(&r).contains("audio_only"), "{}", r.text());
    let r = app
        .request(
            Method::POST,
            &format!("{whep}?quality=low"),
            Some(&sam),
            SDP,
            offer.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(error(&r).contains("quality"), "{}", r.text());

    // Every WHEP response says what the endpoint takes.
    assert_eq!(r.headers["accept-post"], "application/sdp");
    assert_eq!(r.headers["accept-patch"], "application/trickle-ice-sdpfrag");

    // An ended session is final: 409 without a hint to retry.
    let r = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .request(Method::POST, &whep, Some(&sam), SDP, offer.clone())
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(error(&r).contains("ended"), "{}", r.text());
    assert!(r.headers.get("retry-after").is_none());

    // Nothing was counted.
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/viewers"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.json()["webrtc"], 0, "{}", r.text());
}

async fn check_resources(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "whep resources").await;
    let sam = token(Role::Student, "sam", Some(&id));
    let res = format!("/whep/{id}/0000");

    for who in [&sam, &alice] {
        let r = app.call(Method::DELETE, &res, Some(who)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
        assert!(error(&r).contains("WHEP resource"), "{}", r.text());
        let r = app
            .request(Method::PATCH, &res, Some(who), TRICKLE, FRAG)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
        // The resource is looked up before the body's type.
        let r = app.request(Method::PATCH, &res, Some(who), SDP, FRAG).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
        let r = app
            .request(Method::PATCH, &res, Some(who), None, FRAG)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    }

    let r = app.call(Method::DELETE, &res, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = app.request(Method::PATCH, &res, None, TRICKLE, FRAG).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let elsewhere = token(Role::Student, "sam", Some("another-session"));
    let r = app.call(Method::DELETE, &res, Some(&elsewhere)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app
        .call(Method::DELETE, "/whep/nope/0000", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(error(&r).contains("no session"), "{}", r.text());
}

async fn check_viewers(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let v = create(
        app,
        &alice,
        serde_json::json!({ "title": "viewers", "max_webrtc_viewers": 7 }),
    )
    .await;
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["guests_webrtc"], false, "off by default");
    assert_eq!(v["viewers"]["webrtc"], 0);
    let path = format!("/api/sessions/{id}/viewers");

    let r = app.call(Method::GET, &path, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["webrtc"], 0);
    assert_eq!(v["webrtc_capped"], 0);
    assert_eq!(v["max_webrtc_viewers"], 7);
    assert_eq!(v["by_level"], serde_json::json!({}));
    assert_eq!(v["viewers"], serde_json::json!([]));

    let sam = token(Role::Student, "sam", Some(&id));
    let r = app.call(Method::GET, &path, Some(&sam)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let bob = token(Role::Instructor, "bob", None);
    let r = app.call(Method::GET, &path, Some(&bob)).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "another instructor: {}",
        r.text()
    );
    let r = app.call(Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = app
        .call(Method::GET, "/api/sessions/nope/viewers", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The session's own JSON carries the counts and the guest switch.
    for who in [&alice, &sam] {
        let r = app
            .call(Method::GET, &format!("/api/sessions/{id}"), Some(who))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(
            v["viewers"],
            serde_json::json!({ "webrtc": 0, "hls": 0, "by_level": {} })
        );
        assert_eq!(v["guests_webrtc"], false);
        assert_eq!(v["whep_url"], format!("http://127.0.0.1:9/whep/{id}"));
    }
    let open = create(
        app,
        &alice,
        serde_json::json!({ "title": "open", "guests_webrtc": true }),
    )
    .await;
    let open_id = open["id"].as_str().expect("id");
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{open_id}"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.json()["guests_webrtc"], true);
    let r = app.call(Method::GET, "/api/sessions", Some(&alice)).await;
    let list = r.json();
    let listed = list
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["id"] == open_id)
        .expect("listed");
    assert_eq!(listed["guests_webrtc"], true);

    let r = app
        .request(
            Method::POST,
            "/api/sessions",
            Some(&alice),
            JSON,
            r#"{"title":"x","guests_webrtc":"yes"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
}

on_both_databases! {
    whep_auth => check_auth;
    whep_offer_input => check_offer_input;
    whep_resources => check_resources;
    whep_viewers => check_viewers;
}

#[tokio::test]
async fn whep_preflight_advertises_sdp() {
    let app = TestApp::new(Backend::Sqlite).await;
    let req = axum::http::Request::builder()
        .method(Method::OPTIONS)
        .uri("/whep/any")
        .header("origin", "http://example.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(axum::body::Body::empty())
        .expect("request");
    let r = tower::ServiceExt::oneshot(classcast::app(app.state.clone()), req)
        .await
        .expect("response");
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"].to_str().expect("ascii");
    for m in ["POST", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "if-match"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(h["accept-post"], "application/sdp");

    // The actual response (here a 401) lets a page read the WHEP headers.
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/whep/any")
        .header("origin", "http://example.test")
        .header("content-type", "application/sdp")
        .body(axum::body::Body::from(recvonly_offer()))
        .expect("request");
    let r = tower::ServiceExt::oneshot(classcast::app(app.state.clone()), req)
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["accept-post"], "application/sdp");
    let exposed = h["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for name in ["location", "link", "etag", "retry-after", "accept-post"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    app.cleanup().await;
}
