//! Auth, sessions API and WHIP input checks, in-process, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use axum::http::{Method, StatusCode};
use classcast::auth::{Claims, Keys, Role};
use common::{token, Backend, TestApp};
use std::time::Duration;

const GOOD_OFFER: &str = include_str!("fixtures/chrome-offer.sdp");

async fn check_session_lifecycle(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let r = app
        .request(
            Method::POST,
            "/api/sessions",
            Some(&alice),
            Some("application/json"),
            r#"{"title":"Algebra","scheduled_start":"2099-11-23T10:00:00Z","scheduled_end":"2099-11-23T11:00:00Z","max_webrtc_viewers":20,"record":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["state"], "scheduled");
    assert_eq!(v["live"], false);
    assert_eq!(v["record"], true);
    assert_eq!(v["max_webrtc_viewers"], 20);
    assert_eq!(v["scheduled_start"], "2099-11-23T10:00:00.000Z");
    assert_eq!(v["whip_url"], format!("http://127.0.0.1:9/whip/{id}"));
    assert_eq!(v["whep_url"], format!("http://127.0.0.1:9/whep/{id}"));
    assert_eq!(
        v["hls_url"],
        format!("http://127.0.0.1:9/hls/{id}/master.m3u8")
    );
    assert_eq!(v["ws_url"], format!("ws://127.0.0.1:9/ws/sessions/{id}"));

    // Any valid token reads it; a student sees the same view.
    let student = token(Role::Student, "sam", Some(&id));
    let r = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&student))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["title"], "Algebra");

    // Listing: an instructor sees their own sessions only.
    let bob = token(Role::Instructor, "bob", None);
    app.create_session(&bob, "Bob's").await;
    let r = app.call(Method::GET, "/api/sessions", Some(&alice)).await;
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], id.as_str());
    let r = app.call(Method::GET, "/api/sessions", Some(&student)).await;
    assert_eq!(
        r.json().as_array().map(Vec::len),
        Some(1),
        "a scoped token lists its session"
    );

    // Ending: only its instructor; ended is final and WHIP refuses it.
    let r = app
        .call(Method::POST, &format!("/api/sessions/{id}/end"), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&student),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["state"], "ended");
    let r = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "ending twice is harmless");
    let r = app
        .request(
            Method::POST,
            &format!("/whip/{id}"),
            Some(&alice),
            Some("application/sdp"),
            GOOD_OFFER,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("ended"));
}

async fn check_auth_failures(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "x").await;
    let path = format!("/api/sessions/{id}");

    let r = app.call(Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("missing")));

    let r = app.call(Method::GET, &path, Some("not.a.jwt")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let forged = Keys::hs256(b"some-other-secret-some-other-sec")
        .sign(&Claims::new(
            "alice",
            "alice",
            Role::Instructor,
            None,
            Duration::from_secs(60),
        ))
        .expect("sign");
    let r = app.call(Method::GET, &path, Some(&forged)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let mut old = Claims::new(
        "alice",
        "alice",
        Role::Instructor,
        None,
        Duration::from_secs(60),
    );
    old.exp = 1_000_000;
    let expired = common::keys().sign(&old).expect("sign");
    let r = app.call(Method::GET, &path, Some(&expired)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("expired"));

    // Wrong role.
    for role in [Role::Student, Role::Guest] {
        let t = token(role, "s", None);
        let r = app
            .request(
                Method::POST,
                "/api/sessions",
                Some(&t),
                Some("application/json"),
                r#"{"title":"no"}"#,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role:?}");
    }
    // A token for another session.
    let other = token(Role::Student, "s", Some("another-session"));
    let r = app.call(Method::GET, &path, Some(&other)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Unknown session.
    let r = app
        .call(Method::GET, "/api/sessions/nope", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call(Method::POST, "/api/sessions/nope/end", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn check_join_link_expiry(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let r = app
        .request(
            Method::POST,
            "/api/sessions",
            Some(&alice),
            Some("application/json"),
            r#"{"title":"Yesterday","scheduled_start":"2020-01-01T09:00:00Z","scheduled_end":"2020-01-01T10:00:00Z"}"#,
        )
        .await;
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let student = token(Role::Student, "sam", Some(&id));
    let r = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&student))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("no longer works"), "{}", r.text());
    let r = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK, "the instructor still sees it");
}

async fn check_create_validation(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let cases: &[(Option<&str>, &str, StatusCode)] = &[
        (
            Some("application/json"),
            "{not json",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("text/plain"),
            r#"{"title":"x"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (None, r#"{"title":"x"}"#, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            Some("application/json"),
            r#"{"title":"   "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some("application/json"),
            r#"{"title":"x","scheduled_start":"yesterday"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some("application/json"),
            r#"{"title":"x","scheduled_start":"2026-11-23T11:00:00Z","scheduled_end":"2026-11-23T10:00:00Z"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some("application/json"),
            r#"{"title":"x","max_webrtc_viewers":-1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some("application/json"),
            r#"{"title":"x","bogus":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (ct, body, want) in cases {
        let r = app
            .request(Method::POST, "/api/sessions", Some(&alice), *ct, *body)
            .await;
        assert_eq!(r.status, *want, "{ct:?} {body}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    let long = format!(r#"{{"title":"{}"}}"#, "a".repeat(201));
    let r = app
        .request(
            Method::POST,
            "/api/sessions",
            Some(&alice),
            Some("application/json"),
            long,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn check_whip_input(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "whip").await;
    let whip = format!("/whip/{id}");
    let sdp = Some("application/sdp");

    let r = app
        .request(Method::POST, &whip, None, sdp, GOOD_OFFER)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .request(Method::POST, &whip, Some("garbage"), sdp, GOOD_OFFER)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let student = token(Role::Student, "sam", Some(&id));
    let r = app
        .request(Method::POST, &whip, Some(&student), sdp, GOOD_OFFER)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bob = token(Role::Instructor, "bob", None);
    let r = app
        .request(Method::POST, &whip, Some(&bob), sdp, GOOD_OFFER)
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "another instructor's session"
    );
    let r = app
        .request(Method::POST, "/whip/unknown", Some(&alice), sdp, GOOD_OFFER)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .request(
            Method::POST,
            &whip,
            Some(&alice),
            Some("application/json"),
            GOOD_OFFER,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = app
        .request(Method::POST, &whip, Some(&alice), None, GOOD_OFFER)
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        "{GOOD_OFFER}{}",
        "a=x-padding:0123456789abcdef\r\n".repeat(4000)
    );
    let r = app
        .request(Method::POST, &whip, Some(&alice), sdp, huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = app
        .request(Method::POST, &whip, Some(&alice), sdp, "this is not SDP")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("SDP"), "{}", r.text());
    let r = app
        .request(
            Method::POST,
            &whip,
            Some(&alice),
            sdp,
            vec![0xffu8, 0xfe, 0x00],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let vp9_only = GOOD_OFFER
        .replace("VP8/90000", "VP9/90000")
        .replace("H264/90000", "AV1/90000");
    let r = app
        .request(Method::POST, &whip, Some(&alice), sdp, vp9_only)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("no supported video codec"),
        "{}",
        r.text()
    );
    let recvonly = GOOD_OFFER.replace("a=sendonly", "a=recvonly");
    let r = app
        .request(Method::POST, &whip, Some(&alice), sdp, recvonly)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Resources that do not exist.
    let res = format!("{whip}/0000");
    let r = app.call(Method::DELETE, &res, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let frag = "a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n";
    let r = app
        .request(
            Method::PATCH,
            &res,
            Some(&alice),
            Some("application/trickle-ice-sdpfrag"),
            frag,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .request(
            Method::PATCH,
            &res,
            Some(&alice),
            Some("application/sdp"),
            frag,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = app.call(Method::DELETE, &res, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Nothing went live.
    let r = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&alice))
        .await;
    assert_eq!(r.json()["state"], "scheduled");
    assert_eq!(r.json()["live"], false);
}

on_both_databases! {
    session_lifecycle => check_session_lifecycle;
    auth_failures => check_auth_failures;
    create_validation => check_create_validation;
    whip_input => check_whip_input;
    join_link_expiry => check_join_link_expiry;
}

#[test]
fn rs256_tokens_from_key_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let private = dir.path().join("key.pem");
    let public = dir.path().join("pub.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .status()
        .expect("openssl")
        .success()
        && std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .expect("openssl")
            .success();
    assert!(ok, "openssl could not make a key pair");
    let args = classcast::auth::AuthConfig {
        keys: classcast::auth::KeySource::Rsa {
            private_key: Some(private),
            public_key: Some(public),
        },
        ..Default::default()
    };
    let keys = Keys::from_config(&args, dir.path()).expect("RS256 keys");
    let claims = Claims::new(
        "alice",
        "Alice",
        Role::Instructor,
        None,
        Duration::from_secs(60),
    );
    let signed = keys.sign(&claims).expect("sign");
    assert_eq!(keys.verify(&signed).expect("verify"), claims);
    // An HS256 token is not accepted by an RS256 server.
    let hs = common::keys().sign(&claims).expect("sign");
    assert!(keys.verify(&hs).is_err());
    assert!(
        !dir.path().join("jwt-secret").exists(),
        "no secret is generated in RS256 mode"
    );
}

#[tokio::test]
async fn whip_preflight_and_health() {
    let app = TestApp::new(Backend::Sqlite).await;
    let req = axum::http::Request::builder()
        .method(Method::OPTIONS)
        .uri("/whip/any")
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
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["accept-post"], "application/sdp");
    // The actual (non-preflight) response lets the page read the WHIP headers.
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/whip/any")
        .header("origin", "http://example.test")
        .body(axum::body::Body::empty())
        .expect("request");
    let r = tower::ServiceExt::oneshot(classcast::app(app.state.clone()), req)
        .await
        .expect("response");
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii");
    for h in ["location", "link", "etag"] {
        assert!(exposed.contains(h), "{exposed}");
    }

    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    let r = app.call(Method::GET, "/player/publish.html", None).await;
    assert_eq!(r.status, StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test]
async fn hls_files_need_a_token_and_a_valid_name() {
    let app = TestApp::new(Backend::Sqlite).await;
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "hls").await;
    let guest = token(Role::Guest, "g", Some(&id));
    let master = format!("/hls/{id}/master.m3u8");

    let r = app
        .call(Method::GET, &format!("{master}?token={guest}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not live yet");
    assert!(r.text().contains("no HLS yet"));

    let dir = app.state.hls.session_dir(&id);
    std::fs::create_dir_all(dir.join("720p")).expect("mkdir");
    std::fs::write(
        dir.join("master.m3u8"),
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("720p/index.m3u8"),
        "#EXTM3U\n#EXTINF:2,\nseg_00000.ts\n",
    )
    .expect("write");
    std::fs::write(dir.join("720p/seg_00000.ts"), b"\x47ts").expect("write");
    std::fs::write(dir.join("720p/notes.txt"), b"secret").expect("write");

    // The token rides along on every URI of a playlist fetched with ?token=.
    let r = app
        .call(Method::GET, &format!("{master}?token={guest}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().contains(&format!("720p/index.m3u8?token={guest}")),
        "{}",
        r.text()
    );
    let r = app
        .call(
            Method::GET,
            &format!("/hls/{id}/720p/index.m3u8?token={guest}"),
            None,
        )
        .await;
    assert!(r.text().contains(&format!("seg_00000.ts?token={guest}")));
    // A bearer header or a cookie works too, and then URIs stay as they are.
    let r = app.call(Method::GET, &master, Some(&guest)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains("token="));
    let req = axum::http::Request::builder()
        .uri(format!("/hls/{id}/720p/seg_00000.ts"))
        .header("cookie", format!("theme=dark; classcast_token={guest}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let r = tower::ServiceExt::oneshot(classcast::app(app.state.clone()), req)
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp2t");

    let other = token(Role::Guest, "g", Some("another"));
    let cases = [
        (master.clone(), None, StatusCode::UNAUTHORIZED),
        (
            format!("{master}?token=garbage"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            format!("{master}?token={other}"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/hls/nope/master.m3u8?token={alice}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/{id}/720p/notes.txt?token={guest}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/{id}/..%2F..%2Fjwt-secret/x.ts?token={guest}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/hls/{id}/720p/seg_00009.ts"),
            Some(guest.as_str()),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, bearer, want) in cases {
        let r = app.call(Method::GET, &path, bearer).await;
        assert_eq!(r.status, want, "{path}: {}", r.text());
    }
    app.cleanup().await;
}
