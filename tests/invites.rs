//! Invite links through the API: the instructor creates, lists and revokes
//! them; anyone with the code previews and redeems it for a token scoped to
//! the session. In-process on SQLite and PostgreSQL, as a hostile caller
//! would try them; then against the binary: the per-address redeem limit,
//! and a redeemed token joining the classroom socket.

#[macro_use]
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use classcast::auth::Role;
use common::{create_session, http, token, Backend, Reply, ServerProcess, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const JSON: Option<&str> = Some("application/json");
const CHROME_OFFER: &str = include_str!("fixtures/chrome-offer.sdp");

async fn post(app: &TestApp, path: &str, tok: Option<&str>, body: Value) -> Reply {
    app.request(Method::POST, path, tok, JSON, body.to_string())
        .await
}

fn error(r: &Reply) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// A new invite of `session`, as the API answers it.
async fn invite(app: &TestApp, owner: &str, session: &str, body: Value) -> Value {
    let r = post(
        app,
        &format!("/api/sessions/{session}/invites"),
        Some(owner),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

fn code(invite: &Value) -> String {
    invite["code"].as_str().expect("code").to_owned()
}

async fn redeem(app: &TestApp, code: &str, name: &str) -> Reply {
    post(
        app,
        &format!("/api/invites/{code}/redeem"),
        None,
        json!({ "name": name }),
    )
    .await
}

/// Redeems and expects a 410 saying `words`.
async fn assert_gone(app: &TestApp, code: &str, words: &str) {
    let r = app
        .call(Method::GET, &format!("/api/invites/{code}"), None)
        .await;
    assert_eq!(r.status, StatusCode::GONE, "preview: {}", r.text());
    assert_eq!(error(&r), words);
    let r = redeem(app, code, "Late Larry").await;
    assert_eq!(r.status, StatusCode::GONE, "redeem: {}", r.text());
    assert_eq!(error(&r), words);
}

async fn check_the_instructor_invites_and_a_student_joins(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let r = post(
        app,
        "/api/sessions",
        Some(&alice),
        json!({ "title": "Algebra I", "scheduled_end": "2099-01-01T10:00:00Z" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let other = app.create_session(&alice, "Geometry").await;

    let inv = invite(
        app,
        &alice,
        &id,
        json!({ "role": "student", "max_uses": 2 }),
    )
    .await;
    let c = code(&inv);
    assert!(c.len() >= 22, "128 bits at least: {c}");
    assert!(c
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(inv["role"], "student");
    assert_eq!(inv["url"], format!("http://127.0.0.1:9/join/{c}"));
    assert_eq!(inv["max_uses"], 2);
    assert_eq!(inv["uses"], 0);
    assert_eq!(inv["revoked"], false);
    for field in ["id", "expires_at", "created_at"] {
        assert!(inv[field].is_string(), "{field}: {inv}");
    }
    // Default lifetime: a week.
    let expires = classcast::time::parse_rfc3339(inv["expires_at"].as_str().expect("time"))
        .expect("RFC 3339");
    let week_ms = 7 * 24 * 3600 * 1000;
    assert!((expires - classcast::time::now_ms() - week_ms).abs() < 60_000);
    let guest_inv = invite(
        app,
        &alice,
        &id,
        json!({ "role": "guest", "expires_in_s": 3600, "max_uses": null }),
    )
    .await;
    assert_eq!(guest_inv["max_uses"], Value::Null);
    assert_ne!(code(&guest_inv), c);

    // Listed newest first.
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/invites"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    assert_eq!(list[0]["id"], guest_inv["id"]);
    assert_eq!(list[1]["id"], inv["id"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    // The preview needs no token.
    let r = app
        .call(Method::GET, &format!("/api/invites/{c}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json();
    assert_eq!(p["role"], "student");
    assert_eq!(p["session"]["id"], id.as_str());
    assert_eq!(p["session"]["title"], "Algebra I");
    assert_eq!(p["session"]["state"], "scheduled");
    assert_eq!(p["session"]["instructor_name"], "alice");
    assert_eq!(p["session"]["record"], false);
    assert_eq!(p["session"]["scheduled_end"], "2099-01-01T10:00:00.000Z");
    assert!(p["session"].get("instructor_id").is_none(), "{p}");

    // Redeem: a token for this session, a new user each time.
    let r = redeem(app, &c, "  Ada Lovelace  ").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ada = r.json();
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["role"], "student");
    assert_eq!(ada["session_id"], id.as_str());
    let ada_t = ada["token"].as_str().expect("token").to_owned();
    let claims = app.state.keys.verify(&ada_t).expect("our token");
    assert!(claims.sub.starts_with("inv-"), "{}", claims.sub);
    assert_eq!(claims.name, "Ada Lovelace");
    assert_eq!(claims.role, Role::Student);
    assert_eq!(claims.session.as_deref(), Some(id.as_str()));
    assert!(!claims.replay && !claims.stage);
    assert_eq!(
        ada["expires_at"],
        classcast::time::rfc3339(claims.exp as i64 * 1000)
    );
    // The class ends far ahead: the token lives as long as the server allows.
    let left = claims.exp - claims.iat;
    assert!((24 * 3600 - 5..=24 * 3600).contains(&left), "{left}");

    let r = redeem(app, &c, "Ada Lovelace").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let twin = app
        .state
        .keys
        .verify(r.json()["token"].as_str().expect("token"))
        .expect("token");
    assert_ne!(twin.sub, claims.sub, "each redemption is its own user");

    // The token works like any session token: the session, the participant
    // list, WHEP (409: not live yet, so past the access policy)…
    let r = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&ada_t))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/participants"),
            Some(&alice),
        )
        .await;
    assert!(
        r.json()["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .any(|p| p["user_id"] == claims.sub.as_str() && p["name"] == "Ada Lovelace"),
        "{}",
        r.text()
    );
    let offer = CHROME_OFFER.replace("a=sendonly", "a=recvonly");
    let r = app
        .request(
            Method::POST,
            &format!("/whep/{id}"),
            Some(&ada_t),
            Some("application/sdp"),
            offer.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // …and nothing else: not another session, not the owner's endpoints.
    for (method, path) in [
        (Method::GET, format!("/api/sessions/{other}")),
        (Method::GET, format!("/api/sessions/{other}/invites")),
        (Method::GET, format!("/api/sessions/{id}/invites")),
        (Method::GET, format!("/api/sessions/{id}/report")),
        (Method::POST, format!("/api/sessions/{id}/end")),
    ] {
        let r = app.call(method.clone(), &path, Some(&ada_t)).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text()
        );
    }
    let r = post(
        app,
        &format!("/api/sessions/{id}/invites"),
        Some(&ada_t),
        json!({ "role": "student" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A guest's token: guests watch over HLS unless the session says so.
    let r = redeem(app, &code(&guest_inv), "Gina").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["role"], "guest");
    let gina_t = r.json()["token"].as_str().expect("token").to_owned();
    let r = app
        .request(
            Method::POST,
            &format!("/whep/{id}"),
            Some(&gina_t),
            Some("application/sdp"),
            offer,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // Two uses of two: the third is refused in words.
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/invites"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.json()[1]["uses"], 2);
    assert_gone(
        app,
        &c,
        "This invite link has been used as many times as it allows.",
    )
    .await;
}

async fn check_owner_endpoints_refuse_everyone_else(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let mallory = token(Role::Instructor, "mallory", None);
    let id = app.create_session(&alice, "Mine").await;
    let theirs = app.create_session(&mallory, "Theirs").await;
    let inv = invite(app, &alice, &id, json!({ "role": "student" })).await;
    let their_inv = invite(app, &mallory, &theirs, json!({ "role": "guest" })).await;
    let bob = token(Role::Student, "bob", Some(&id));
    let gina = token(Role::Guest, "gina", Some(&id));
    let bob_elsewhere = token(Role::Student, "bob", Some(&theirs));
    let alice_scoped_elsewhere = token(Role::Instructor, "alice", Some(&theirs));
    let invites = format!("/api/sessions/{id}/invites");
    let one = format!("{invites}/{}", inv["id"].as_str().expect("id"));
    for (who, tok, want) in [
        (
            "another instructor",
            Some(mallory.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a student of the session",
            Some(bob.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a guest of the session",
            Some(gina.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a student of another session",
            Some(bob_elsewhere.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "the owner scoped elsewhere",
            Some(alice_scoped_elsewhere.as_str()),
            StatusCode::FORBIDDEN,
        ),
        ("nobody", None, StatusCode::UNAUTHORIZED),
        ("a bad token", Some("not-a-jwt"), StatusCode::UNAUTHORIZED),
    ] {
        let r = post(app, &invites, tok, json!({ "role": "student" })).await;
        assert_eq!(r.status, want, "{who} creates: {}", r.text());
        let r = app.call(Method::GET, &invites, tok).await;
        assert_eq!(r.status, want, "{who} lists: {}", r.text());
        let r = app.call(Method::DELETE, &one, tok).await;
        assert_eq!(r.status, want, "{who} revokes: {}", r.text());
        let r = app
            .call(Method::GET, &format!("/api/sessions/{id}/report.csv"), tok)
            .await;
        assert_eq!(r.status, want, "{who} reads the CSV: {}", r.text());
    }
    // Unknown session; another session's invite through mine: 404.
    let r = post(
        app,
        "/api/sessions/nope/invites",
        Some(&alice),
        json!({ "role": "student" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = app
        .call(
            Method::DELETE,
            &format!("{invites}/{}", their_inv["id"].as_str().expect("id")),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = app
        .call(Method::DELETE, &format!("{invites}/nope"), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Mallory's invite still works.
    let r = app
        .call(
            Method::GET,
            &format!("/api/invites/{}", code(&their_inv)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // The owner revokes (twice is the same as once): the link stops working.
    for _ in 0..2 {
        let r = app.call(Method::DELETE, &one, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let r = app.call(Method::GET, &invites, Some(&alice)).await;
    assert_eq!(r.json()[0]["revoked"], true);
    assert_gone(
        app,
        &code(&inv),
        "This invite link was withdrawn by the instructor.",
    )
    .await;
}

async fn check_bad_requests_are_refused_in_words(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Strict").await;
    let invites = format!("/api/sessions/{id}/invites");
    for (body, want) in [
        (
            json!({ "role": "instructor" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({ "role": "admin" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({ "role": "student", "expires_in_s": 59 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "expires_in_s": 2_592_001 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "expires_in_s": "soon" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "max_uses": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "max_uses": -1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "max_uses": 10_001 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "role": "student", "admin": true }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = post(app, &invites, Some(&alice), body.clone()).await;
        assert_eq!(r.status, want, "{body}: {}", r.text());
        assert!(!error(&r).is_empty(), "{body}: no words");
    }
    let r = app
        .request(Method::POST, &invites, Some(&alice), JSON, "{not json")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .request(
            Method::POST,
            &invites,
            Some(&alice),
            None,
            r#"{"role":"student"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    // The bounds themselves are fine.
    invite(
        app,
        &alice,
        &id,
        json!({ "role": "student", "expires_in_s": 60, "max_uses": 1 }),
    )
    .await;
    invite(
        app,
        &alice,
        &id,
        json!({ "role": "guest", "expires_in_s": 2_592_000, "max_uses": 10_000 }),
    )
    .await;

    // Names.
    let inv = invite(app, &alice, &id, json!({ "role": "student" })).await;
    let c = code(&inv);
    for name in [
        "".to_owned(),
        "   ".to_owned(),
        "a".repeat(65),
        "Bob\u{7}".to_owned(),
        "Bob\nSmith".to_owned(),
        "evil\u{202E}nimda".to_owned(),
    ] {
        let r = redeem(app, &c, &name).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}: {}", r.text());
        assert!(error(&r).contains("name"), "{name:?}: {}", r.text());
    }
    let r = redeem(app, &c, &"é".repeat(64)).await;
    assert_eq!(r.status, StatusCode::OK, "64 characters: {}", r.text());
    let redeem_path = format!("/api/invites/{c}/redeem");
    for (body, want) in [
        ("{not json", StatusCode::BAD_REQUEST),
        (r#"{"name": 5}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (
            r#"{"name":"Bob","role":"instructor"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = app
            .request(Method::POST, &redeem_path, None, JSON, body)
            .await;
        assert_eq!(r.status, want, "{body}: {}", r.text());
    }
    let r = app
        .request(Method::POST, &redeem_path, None, None, r#"{"name":"Bob"}"#)
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());

    // Unknown codes, plausible or not, are not valid (and not looked up).
    for bad in [
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "short",
        "..%2F..%2Fetc",
        &"x".repeat(200),
    ] {
        let r = app
            .call(Method::GET, &format!("/api/invites/{bad}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {}", r.text());
        assert_eq!(error(&r), "This invite link is not valid.");
        let r = redeem(app, bad, "Bob").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {}", r.text());
    }
}

async fn check_expired_used_up_and_ended(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Ends").await;
    let expired = invite(app, &alice, &id, json!({ "role": "student" })).await;
    sqlx::query("UPDATE invites SET expires_at = $1 WHERE id = $2")
        .bind(classcast::time::now_ms() - 1)
        .bind(expired["id"].as_str().expect("id"))
        .execute(app.state.db.pool())
        .await
        .expect("expire");
    assert_gone(app, &code(&expired), "This invite link has expired.").await;

    let once = invite(app, &alice, &id, json!({ "role": "guest", "max_uses": 1 })).await;
    let r = redeem(app, &code(&once), "First").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_gone(
        app,
        &code(&once),
        "This invite link has been used as many times as it allows.",
    )
    .await;

    let live = invite(app, &alice, &id, json!({ "role": "student" })).await;
    let r = app
        .call(
            Method::POST,
            &format!("/api/sessions/{id}/end"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_gone(app, &code(&live), "This class has ended.").await;
    let r = post(
        app,
        &format!("/api/sessions/{id}/invites"),
        Some(&alice),
        json!({ "role": "student" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(error(&r), "This class has ended.");
}

async fn check_uses_are_counted_atomically(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Race").await;
    for (max_uses, racers) in [(1, 8), (3, 10)] {
        let inv = invite(
            app,
            &alice,
            &id,
            json!({ "role": "student", "max_uses": max_uses }),
        )
        .await;
        let c = code(&inv);
        let replies = futures::future::join_all((0..racers).map(|i| {
            let c = c.clone();
            async move { redeem(app, &c, &format!("Racer {i}")).await }
        }))
        .await;
        let won = replies
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        let gone = replies
            .iter()
            .filter(|r| r.status == StatusCode::GONE)
            .count();
        assert_eq!(
            (won, gone),
            (max_uses, racers - max_uses),
            "max_uses {max_uses}"
        );
        let r = app
            .call(
                Method::GET,
                &format!("/api/sessions/{id}/invites"),
                Some(&alice),
            )
            .await;
        assert_eq!(r.json()[0]["uses"], max_uses as i64);
    }
}

async fn check_live_invites_are_capped(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Many").await;
    let invites = format!("/api/sessions/{id}/invites");
    let mut first = None;
    for _ in 0..100 {
        let inv = invite(app, &alice, &id, json!({ "role": "guest" })).await;
        first.get_or_insert(inv);
    }
    let r = post(app, &invites, Some(&alice), json!({ "role": "guest" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(error(&r).contains("100"), "{}", r.text());
    // A revoked one no longer counts.
    let first = first.expect("one");
    let r = app
        .call(
            Method::DELETE,
            &format!("{invites}/{}", first["id"].as_str().expect("id")),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    invite(app, &alice, &id, json!({ "role": "guest" })).await;
}

async fn check_the_attendance_csv(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Maths, \"B\"").await;
    let inv = invite(app, &alice, &id, json!({ "role": "student" })).await;
    let r = redeem(app, &code(&inv), "=HYPERLINK(\"http://evil\")").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let evil = r.json()["token"].as_str().expect("token").to_owned();
    let sub = app.state.keys.verify(&evil).expect("token").sub;
    let db = &app.state.db;
    db.attendance_join(
        &id,
        &sub,
        "=HYPERLINK(\"http://evil\")",
        "student",
        "test",
        1_000_000,
    )
    .await
    .expect("join");
    let r = app
        .request(
            Method::PUT,
            &format!("/api/sessions/{id}/consent"),
            Some(&evil),
            JSON,
            json!({ "consent": true }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/report.csv"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"Maths_ _B_-attendance.csv\""),
        "{disposition}"
    );
    let csv = r.text();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(
        lines[0].starts_with("Name,Role,Joined at,Left at,Minutes present"),
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with("\"'=HYPERLINK(\"\"http://evil\"\")\",student,"),
        "{csv}"
    );
    assert!(lines[1].ends_with(",yes"), "{csv}");
    // The same figures as the JSON report.
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/report"),
            Some(&alice),
        )
        .await;
    let person = &r.json()["participants"][0];
    assert!(
        lines[1].contains(&format!(
            ",{},",
            person["first_join"].as_str().expect("join")
        )),
        "{csv}"
    );
}

on_both_databases! {
    the_instructor_invites_and_a_student_joins => check_the_instructor_invites_and_a_student_joins;
    owner_endpoints_refuse_everyone_else => check_owner_endpoints_refuse_everyone_else;
    bad_requests_are_refused_in_words => check_bad_requests_are_refused_in_words;
    expired_used_up_and_ended_invites_are_gone => check_expired_used_up_and_ended;
    uses_are_counted_atomically => check_uses_are_counted_atomically;
    live_invites_are_capped => check_live_invites_are_capped;
    the_attendance_csv_is_quoted_and_defused => check_the_attendance_csv;
}

// ---------------------------------------------------------------------------
// Against the binary.
// ---------------------------------------------------------------------------

async fn new_invite(base: &str, owner: &str, session: &str, role: &str) -> String {
    let r = http()
        .post(format!("{base}/api/sessions/{session}/invites"))
        .bearer_auth(owner)
        .json(&json!({ "role": role }))
        .send()
        .await
        .expect("POST invites");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    v["code"].as_str().expect("code").to_owned()
}

async fn redeem_at(base: &str, code: &str, name: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/api/invites/{code}/redeem"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("POST redeem")
}

#[tokio::test(flavor = "multi_thread")]
async fn redeems_are_limited_per_address() {
    let server = ServerProcess::start(&["--rate-limit-invite-redeems", "10/1m"]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "Limited").await;
    let c = new_invite(base, &alice, &id, "student").await;
    // Failed tries count too: guessing codes costs the same.
    for i in 0..10 {
        let r = if i % 2 == 0 {
            redeem_at(base, &c, &format!("Student {i}")).await
        } else {
            redeem_at(base, "AAAAAAAAAAAAAAAAAAAAAAAA", "Guesser").await
        };
        let want = if i % 2 == 0 { 200 } else { 404 };
        assert_eq!(r.status(), want, "redeem {i}");
    }
    let r = redeem_at(base, &c, "One too many").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=6).contains(&wait), "{wait}");
    // The preview and the rest of the API are not held up.
    let r = http()
        .get(format!("{base}/api/invites/{c}"))
        .send()
        .await
        .expect("preview");
    assert_eq!(r.status(), 200);
}

/// A classroom socket client: connects, authenticates, and reads until a
/// message of the wanted type.
async fn socket_welcome(base: &str, session: &str, tok: &str) -> Value {
    let url = format!(
        "{}/ws/sessions/{session}",
        base.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade");
    ws.send(Message::text(
        json!({ "type": "auth", "token": tok }).to_string(),
    ))
    .await
    .expect("send auth");
    let welcome = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = ws.next().await {
            match frame.expect("frame") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).expect("JSON");
                    if v["type"] == "welcome" {
                        return v;
                    }
                }
                Message::Close(c) => panic!("closed before welcome: {c:?}"),
                _ => {}
            }
        }
        panic!("socket ended before welcome");
    })
    .await
    .expect("welcome within 10 s");
    let _ = ws.close(None).await;
    welcome
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redeemed_token_joins_the_classroom_in_the_invites_role_and_name() {
    let server = ServerProcess::start(&[]);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = create_session(base, &alice, "Socket class").await;
    let other = create_session(base, &alice, "Other class").await;
    for (role, name) in [("student", "Ada Lovelace"), ("guest", "Zoë 李")] {
        let c = new_invite(base, &alice, &id, role).await;
        let r = redeem_at(base, &c, name).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        let tok = v["token"].as_str().expect("token");
        let welcome = socket_welcome(base, &id, tok).await;
        let you = &welcome["you"];
        assert_eq!(you["role"], role, "{welcome}");
        assert_eq!(you["name"], name, "{welcome}");
        assert!(
            you["id"].as_str().is_some_and(|i| i.starts_with("inv-")),
            "{welcome}"
        );

        // The same token on another session's socket is refused.
        let url = format!(
            "{}/ws/sessions/{other}",
            base.replacen("http://", "ws://", 1)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("upgrade");
        ws.send(Message::text(
            json!({ "type": "auth", "token": tok }).to_string(),
        ))
        .await
        .expect("send auth");
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Message::Text(t)) => {
                        let v: Value = serde_json::from_str(&t).expect("JSON");
                        assert_ne!(v["type"], "welcome", "welcomed elsewhere: {v}");
                    }
                    Ok(Message::Close(c)) => return c.map(|f| u16::from(f.code)),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .expect("closed within 10 s");
        assert!(
            matches!(closed, Some(c) if (4000..5000).contains(&c)),
            "{closed:?}"
        );
    }
}
