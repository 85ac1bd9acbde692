//! What the replay and home pages read beyond the session itself: a
//! session's course and download switch, the library of a course's
//! recordings, where each user left off in a recording, and the chat as it
//! was written. In-process on SQLite and PostgreSQL, with hostile callers;
//! then the position write limit against the binary.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use classcast::auth::Role;
use classcast::db::ChatRow;
use common::{http, token, Backend, Reply, ServerProcess, TestApp};
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");

async fn post(app: &TestApp, path: &str, tok: &str, body: Value) -> Reply {
    app.request(Method::POST, path, Some(tok), JSON, body.to_string())
        .await
}

async fn session(app: &TestApp, owner: &str, body: Value) -> String {
    let r = post(app, "/api/sessions", owner, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

/// A recording of `session`: ready (with a small MP4 on local storage and
/// 10 s long) or still processing; created at `created_at` (ms).
async fn recording(app: &TestApp, session: &str, ready: bool, created_at: i64) -> String {
    let db = &app.state.db;
    let id = uuid::Uuid::new_v4().to_string();
    db.create_recording(&id, session, "720p", 0)
        .await
        .expect("create");
    db.stop_recording(&id, Some(4)).await.expect("stop");
    if ready {
        let key = classcast::storage::recording_key(session, &id);
        let path = app.state.data_dir().join(&key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"not really an mp4").expect("write");
        db.recording_produced(&id, 4, &key, 10_000, 17, true)
            .await
            .expect("produced");
    }
    db.set_recording_created_at(&id, created_at)
        .await
        .expect("created_at");
    id
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn check_sessions_carry_course_and_download_and_list_newest_first(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let r = post(
        app,
        "/api/sessions",
        &alice,
        json!({ "title": "Week 1", "course": "  MATH 101 ", "allow_download": true,
                "scheduled_start": "2030-01-01T09:00:00Z" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let week1 = r.json();
    assert_eq!(week1["course"], "MATH 101");
    assert_eq!(week1["allow_download"], true);
    let plain = session(app, &alice, json!({ "title": "No course", "course": "  " })).await;
    let later = session(
        app,
        &alice,
        json!({ "title": "Week 2", "course": "MATH 101", "scheduled_start": "2030-01-08T09:00:00Z" }),
    )
    .await;
    let earlier = session(
        app,
        &alice,
        json!({ "title": "Week 0", "scheduled_start": "2020-01-01T09:00:00Z" }),
    )
    .await;
    let r = app.call(Method::GET, "/api/sessions", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    // By scheduled start, else creation (now, between 2020 and 2030).
    assert_eq!(
        ids(&list),
        [
            later.clone(),
            week1["id"].as_str().expect("id").to_owned(),
            plain.clone(),
            earlier
        ]
    );
    let no_course = &list[2];
    assert_eq!(no_course["course"], Value::Null);
    assert_eq!(no_course["allow_download"], false);

    for body in [
        json!({ "title": "x", "course": "c".repeat(121) }),
        json!({ "title": "x", "course": "a\u{0}b" }),
        json!({ "title": "x", "course": 5 }),
        json!({ "title": "x", "allow_download": "yes" }),
    ] {
        let r = post(app, "/api/sessions", &alice, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
    }
    session(
        app,
        &alice,
        json!({ "title": "x", "course": "c".repeat(120) }),
    )
    .await;
}

async fn check_recordings_carry_title_time_and_download(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let open = session(
        app,
        &alice,
        json!({ "title": "Open class", "allow_download": true }),
    )
    .await;
    let closed = session(app, &alice, json!({ "title": "Closed class" })).await;
    let ready = recording(app, &open, true, 1_000_000).await;
    let processing = recording(app, &open, false, 2_000_000).await;
    let not_allowed = recording(app, &closed, true, 3_000_000).await;
    let bob = token(Role::Student, "bob", Some(&open));

    let r = app
        .call(Method::GET, &format!("/api/recordings/{ready}"), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["session_title"], "Open class");
    assert_eq!(v["created_at_ms"], 1_000_000);
    assert_eq!(v["created_at"], "1970-01-01T00:16:40.000Z");
    let download = v["download_url"].as_str().expect("download_url").to_owned();
    assert!(download.contains("download=1"), "{download}");
    let path = download.strip_prefix("http://127.0.0.1:9").expect("ours");
    let r = app.call(Method::GET, path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(&r.body[..], b"not really an mp4");
    let disposition = r.headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"Open class (part 1).mp4\""),
        "{disposition}"
    );
    // Playing is not downloading.
    let play = v["url"].as_str().expect("url");
    let r = app
        .call(
            Method::GET,
            play.strip_prefix("http://127.0.0.1:9").expect("ours"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("content-disposition").is_none());

    let r = app
        .call(
            Method::GET,
            &format!("/api/recordings/{processing}"),
            Some(&alice),
        )
        .await;
    assert!(
        r.json().get("download_url").is_none(),
        "not ready: {}",
        r.text()
    );
    let r = app
        .call(
            Method::GET,
            &format!("/api/recordings/{not_allowed}"),
            Some(&alice),
        )
        .await;
    let v = r.json();
    assert!(v["url"].is_string(), "{v}");
    assert!(v.get("download_url").is_none(), "not allowed: {v}");
    // Asking a closed session's file for a download plays it instead.
    let play = v["url"]
        .as_str()
        .expect("url")
        .strip_prefix("http://127.0.0.1:9")
        .expect("ours");
    let r = app
        .call(Method::GET, &format!("{play}&download=1"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("content-disposition").is_none());
}

async fn check_the_library_lists_what_the_caller_may_replay(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let mallory = token(Role::Instructor, "mallory", None);
    let a1 = session(
        app,
        &alice,
        json!({ "title": "Algebra 1", "course": "MATH" }),
    )
    .await;
    let a2 = session(
        app,
        &alice,
        json!({ "title": "Algebra 2", "course": "MATH" }),
    )
    .await;
    let other = session(app, &alice, json!({ "title": "Poetry", "course": "ENGL" })).await;
    let theirs = session(
        app,
        &mallory,
        json!({ "title": "Their maths", "course": "MATH" }),
    )
    .await;
    let r1 = recording(app, &a1, true, 1_000_000).await;
    let r2 = recording(app, &a2, true, 3_000_000).await;
    let r1b = recording(app, &a1, false, 2_000_000).await;
    let gone = recording(app, &a2, true, 4_000_000).await;
    app.state.db.recording_deleted(&gone).await.expect("delete");
    let poem = recording(app, &other, true, 5_000_000).await;
    let their = recording(app, &theirs, true, 6_000_000).await;

    let library = |tok: String, query: &'static str| async move {
        let r = app
            .call(Method::GET, &format!("/api/recordings{query}"), Some(&tok))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        r.json()
    };
    let v = library(alice.clone(), "?course=MATH").await;
    assert_eq!(v["course"], "MATH");
    assert_eq!(ids(&v["recordings"]), [r2.clone(), r1b.clone(), r1.clone()]);
    assert_eq!(v["recordings"][0]["session_title"], "Algebra 2");
    assert!(v["recordings"][0]["url"].is_string());
    let v = library(alice.clone(), "").await;
    assert_eq!(v["course"], Value::Null);
    assert_eq!(
        ids(&v["recordings"]),
        [poem.clone(), r2.clone(), r1b.clone(), r1.clone()]
    );
    let v = library(mallory.clone(), "?course=MATH").await;
    assert_eq!(ids(&v["recordings"]), [their]);
    let v = library(alice.clone(), "?course=NOPE").await;
    assert_eq!(ids(&v["recordings"]), Vec::<String>::new());

    // A student sees the session their token names, of that course only.
    let bob = token(Role::Student, "bob", Some(&a1));
    let v = library(bob.clone(), "?course=MATH").await;
    assert_eq!(ids(&v["recordings"]), [r1b, r1.clone()]);
    let v = library(bob.clone(), "").await;
    assert_eq!(v["recordings"].as_array().map(Vec::len), Some(2));
    let v = library(bob.clone(), "?course=ENGL").await;
    assert_eq!(ids(&v["recordings"]), Vec::<String>::new());
    // A kicked student sees nothing.
    app.state.db.ban(&a1, "bob", 1).await.expect("ban");
    let v = library(bob, "?course=MATH").await;
    assert_eq!(ids(&v["recordings"]), Vec::<String>::new());

    let r = app.call(Method::GET, "/api/recordings", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let unscoped = token(Role::Student, "sam", None);
    let r = app
        .call(Method::GET, "/api/recordings", Some(&unscoped))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

async fn check_positions_are_kept_per_user(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let mallory = token(Role::Instructor, "mallory", None);
    let id = session(app, &alice, json!({ "title": "Resume" })).await;
    let other = session(app, &alice, json!({ "title": "Other" })).await;
    let rec = recording(app, &id, true, 1_000_000).await;
    let path = format!("/api/recordings/{rec}/position");
    let bob = token(Role::Student, "bob", Some(&id));
    let put = |tok: String, body: String| {
        let path = path.clone();
        async move {
            app.request(Method::PUT, &path, Some(&tok), JSON, body)
                .await
        }
    };

    let r = app.call(Method::GET, &path, Some(&bob)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({ "position_s": null, "updated_at": null }));
    for (body, want) in [
        (r#"{"position_s": 4.25}"#, StatusCode::NO_CONTENT),
        (r#"{"position_s": 7.5}"#, StatusCode::NO_CONTENT),
        (r#"{"position_s": 0}"#, StatusCode::NO_CONTENT),
        (r#"{"position_s": 15}"#, StatusCode::NO_CONTENT),
        (
            r#"{"position_s": 15.001}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (r#"{"position_s": -0.5}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"position_s": 1e308}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"position_s": "3"}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (
            r#"{"position_s": 3, "x": 1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"position_s": 3"#, StatusCode::BAD_REQUEST),
        (r#"{"position_s": 9.5}"#, StatusCode::NO_CONTENT),
    ] {
        let r = put(bob.clone(), body.to_owned()).await;
        assert_eq!(r.status, want, "{body}: {}", r.text());
    }
    // The last accepted write wins; each user has their own.
    let r = app.call(Method::GET, &path, Some(&bob)).await;
    let v = r.json();
    assert_eq!(v["position_s"], 9.5);
    assert!(v["updated_at"].is_string(), "{v}");
    let r = app.call(Method::GET, &path, Some(&alice)).await;
    assert_eq!(r.json()["position_s"], Value::Null);
    let r = put(alice.clone(), r#"{"position_s": 2}"#.into()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::GET, &path, Some(&bob)).await;
    assert_eq!(r.json()["position_s"], 9.5);

    // Nobody else reads or writes them.
    let eve = token(Role::Student, "eve", Some(&other));
    for (who, tok, want) in [
        (
            "another session's student",
            Some(eve.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "another instructor",
            Some(mallory.as_str()),
            StatusCode::FORBIDDEN,
        ),
        ("nobody", None, StatusCode::UNAUTHORIZED),
    ] {
        let r = app.call(Method::GET, &path, tok).await;
        assert_eq!(r.status, want, "{who} reads: {}", r.text());
        let r = app
            .request(Method::PUT, &path, tok, JSON, r#"{"position_s": 1}"#)
            .await;
        assert_eq!(r.status, want, "{who} writes: {}", r.text());
    }
    // Unknown recordings: 404 to an instructor, the same 403 as another
    // session's to a scoped token.
    let r = app
        .call(Method::GET, "/api/recordings/nope/position", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = app
        .call(Method::GET, "/api/recordings/nope/position", Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

fn message(id: &str, sender: &str, text: &str, at: i64, reply_to: Option<&str>) -> ChatRow {
    ChatRow {
        id: id.into(),
        sender_id: sender.to_lowercase(),
        sender_name: sender.into(),
        text: text.into(),
        reply_to: reply_to.map(str::to_owned),
        mentions: vec![],
        created_at: at,
        reactions: BTreeMap::new(),
    }
}

async fn check_the_chat_as_written(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = session(
        app,
        &alice,
        json!({ "title": "Chatty", "scheduled_start": "2020-01-01T09:00:00Z",
                "scheduled_end": "2020-01-01T10:00:00Z" }),
    )
    .await;
    let other = session(app, &alice, json!({ "title": "Other" })).await;
    let db = &app.state.db;
    let t0 = 1_577_869_200_000; // 2020-01-01T09:00:00Z
    for m in [
        message("m1", "Alice", "Welcome", t0, None),
        message("m2", "Bob", "Hi!", t0 + 1000, Some("m1")),
        message("m3", "Bob", "oops", t0 + 2000, None),
        message("m4", "Gina", "=1+1 and \"quotes\"", t0 + 2000, None),
        message("m5", "Alice", "Let's start", t0 + 5000, None),
    ] {
        assert!(db.store_chat(&id, &m).await.expect("store"));
    }
    assert!(db
        .store_chat(&other, &message("x1", "Eve", "elsewhere", t0 + 1500, None))
        .await
        .expect("store"));
    assert!(db.delete_chat("m3", t0 + 3000).await.expect("delete"));

    let bob = token(Role::Student, "bob", Some(&id));
    let chat = |query: String| {
        let bob = bob.clone();
        let id = id.clone();
        async move {
            app.call(
                Method::GET,
                &format!("/api/sessions/{id}/chat{query}"),
                Some(&bob),
            )
            .await
        }
    };
    // The class ended long ago: a student still replays it.
    let r = chat(String::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(ids(&v["messages"]), ["m1", "m2", "m4", "m5"]);
    assert_eq!(v["next_since_ms"], Value::Null);
    let m2 = &v["messages"][1];
    assert_eq!(
        *m2,
        json!({ "id": "m2", "sender_name": "Bob", "text": "Hi!", "at": "2020-01-01T09:00:01.000Z",
                "at_ms": t0 + 1000, "reply_to": "m1" })
    );

    // Pages: at or after since_ms, never ending inside a millisecond.
    let r = chat(format!("?since_ms={}&limit=2", t0 + 1000)).await;
    let v = r.json();
    assert_eq!(ids(&v["messages"]), ["m2", "m4"]);
    assert_eq!(v["next_since_ms"], t0 + 5000);
    let r = chat(format!("?since_ms={}&limit=2", t0 + 5000)).await;
    let v = r.json();
    assert_eq!(ids(&v["messages"]), ["m5"]);
    assert_eq!(v["next_since_ms"], Value::Null);
    let r = chat("?limit=1".into()).await;
    assert_eq!(r.json()["next_since_ms"], t0 + 1000);
    let r = chat(format!("?since_ms={}", t0 + 6000)).await;
    assert_eq!(ids(&r.json()["messages"]), Vec::<String>::new());
    let r = chat("?limit=500&since_ms=-5".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    for query in [
        "?limit=0",
        "?limit=501",
        "?limit=-1",
        "?since_ms=soon",
        "?limit=1.5",
    ] {
        let r = chat(query.into()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text());
    }

    // Who may read it: those who may replay the session.
    let eve = token(Role::Student, "eve", Some(&other));
    let gina = token(Role::Guest, "gina", Some(&id));
    let mallory = token(Role::Instructor, "mallory", None);
    let path = format!("/api/sessions/{id}/chat");
    for (who, tok, want) in [
        ("the instructor", Some(alice.as_str()), StatusCode::OK),
        (
            "another session's student",
            Some(eve.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a guest after the class",
            Some(gina.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "another instructor",
            Some(mallory.as_str()),
            StatusCode::FORBIDDEN,
        ),
        ("nobody", None, StatusCode::UNAUTHORIZED),
    ] {
        let r = app.call(Method::GET, &path, tok).await;
        assert_eq!(r.status, want, "{who}: {}", r.text());
    }
    let r = app
        .call(Method::GET, "/api/sessions/nope/chat", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

on_both_databases! {
    sessions_carry_course_and_download => check_sessions_carry_course_and_download_and_list_newest_first;
    recordings_carry_title_time_and_download => check_recordings_carry_title_time_and_download;
    the_library_lists_what_the_caller_may_replay => check_the_library_lists_what_the_caller_may_replay;
    positions_are_kept_per_user => check_positions_are_kept_per_user;
    the_chat_as_written => check_the_chat_as_written;
}

#[tokio::test(flavor = "multi_thread")]
async fn position_writes_are_limited_per_user() {
    let server = ServerProcess::start(&["--rate-limit-position-writes", "2/1s"]);
    let base = &server.url;
    let bob = token(Role::Student, "bob", Some("s1"));
    let put = |tok: String| async move {
        http()
            .put(format!("{base}/api/recordings/r1/position"))
            .bearer_auth(tok)
            .json(&json!({ "position_s": 1 }))
            .send()
            .await
            .expect("PUT position")
    };
    // Refused by the policy (no such recording), but counted first.
    for _ in 0..2 {
        assert_eq!(put(bob.clone()).await.status(), 403);
    }
    let r = put(bob.clone()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    // Another user has their own budget; reads are not limited.
    let carol = token(Role::Student, "carol", Some("s1"));
    assert_eq!(put(carol).await.status(), 403);
    let r = http()
        .get(format!("{base}/api/recordings/r1/position"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("GET position");
    assert_eq!(r.status(), 403);
}
