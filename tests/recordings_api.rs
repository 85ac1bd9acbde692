//! Recordings, the record switch, consent and retention through the API,
//! in-process, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use classcast::auth::Role;
use classcast::recording::retention;
use common::{token, wait_for, Backend, TestApp};

const JSON: Option<&str> = Some("application/json");

/// A finished recording of `session` with an MP4 of `bytes` on local storage.
async fn ready_recording(app: &TestApp, session: &str, bytes: &[u8]) -> String {
    let db = &app.state.db;
    let id = uuid::Uuid::new_v4().to_string();
    db.create_recording(&id, session, "720p", 0)
        .await
        .expect("create");
    db.stop_recording(&id, Some(4)).await.expect("stop");
    let key = classcast::storage::recording_key(session, &id);
    let path = app.state.data_dir().join(&key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    db.recording_produced(&id, 4, &key, 10_000, bytes.len() as u64, true)
        .await
        .expect("produced");
    id
}

async fn check_recordings_are_listed_with_playable_urls(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Physics").await;
    let other = app.create_session(&alice, "Other").await;
    let bytes: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let rid = ready_recording(app, &id, &bytes).await;

    let bob = token(Role::Student, "bob", Some(&id));
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/recordings"),
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let rec = &v["recordings"][0];
    assert_eq!(rec["id"], rid.as_str());
    assert_eq!(rec["state"], "ready");
    assert_eq!(rec["part"], 1);
    assert_eq!(rec["duration_seconds"], 10.0);
    let url = rec["url"].as_str().expect("url");
    let path = url.strip_prefix("http://127.0.0.1:9").expect("server URL");
    assert!(
        path.starts_with(&format!("/recordings/{id}/{rid}.mp4?token=")),
        "{path}"
    );
    let r = app.call(Method::GET, path, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[..], bytes[..]);

    let r = app
        .call(Method::GET, &format!("/api/recordings/{rid}"), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["session_id"], id.as_str());

    // Someone else's session, or a token for another session: refused.
    let eve = token(Role::Student, "eve", Some(&other));
    for (path, who, want) in [
        (
            format!("/api/recordings/{rid}"),
            Some(eve.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/sessions/{id}/recordings"),
            Some(eve.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/recordings/{rid}"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/recordings/nope".to_owned(),
            Some(alice.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/sessions/nope/recordings".to_owned(),
            Some(alice.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/recordings/{id}/{rid}.mp4"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            format!("/recordings/{id}/{rid}.mp4?token={eve}"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/recordings/{id}/../jwt-secret?token={bob}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/recordings/{id}/nope.mp4?token={bob}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/recordings/{other}/{rid}.mp4?token={alice}"),
            None,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = app.call(Method::GET, &path, who).await;
        assert_eq!(r.status, want, "{path}: {}", r.text());
    }
}

async fn check_the_record_switch(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Chemistry").await;
    let path = format!("/api/sessions/{id}/record");
    let r = app
        .request(Method::PUT, &path, Some(&alice), JSON, r#"{"record":true}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["record"], true);
    assert!(
        r.json()["recording"].is_null(),
        "not live: nothing to record yet"
    );
    let view = app
        .call(Method::GET, &format!("/api/sessions/{id}"), Some(&alice))
        .await
        .json();
    assert_eq!(view["record"], true, "later publishes are recorded");
    let r = app
        .request(
            Method::PUT,
            &path,
            Some(&alice),
            JSON,
            r#"{"record":false}"#,
        )
        .await;
    assert_eq!(r.json()["record"], false);

    let bob = token(Role::Student, "bob", Some(&id));
    let mallory = token(Role::Instructor, "mallory", None);
    for (who, ct, body, want) in [
        (
            Some(bob.as_str()),
            JSON,
            r#"{"record":true}"#,
            StatusCode::FORBIDDEN,
        ),
        (
            Some(mallory.as_str()),
            JSON,
            r#"{"record":true}"#,
            StatusCode::FORBIDDEN,
        ),
        (None, JSON, r#"{"record":true}"#, StatusCode::UNAUTHORIZED),
        (
            Some(alice.as_str()),
            Some("text/plain"),
            r#"{"record":true}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some(alice.as_str()),
            JSON,
            r#"{"record":"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(alice.as_str()),
            JSON,
            r#"{"record":"yes"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some(alice.as_str()),
            JSON,
            r#"{"record":true,"x":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = app.request(Method::PUT, &path, who, ct, body).await;
        assert_eq!(r.status, want, "{body}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    let r = app
        .request(
            Method::PUT,
            "/api/sessions/nope/record",
            Some(&alice),
            JSON,
            r#"{"record":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn check_recording_consent(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Biology").await;
    let bob = token(Role::Student, "bob", Some(&id));
    let carol = token(Role::Student, "carol", Some(&id));
    let guest = token(Role::Guest, "gus", Some(&id));
    // Carol only opens the session: listed, not answered.
    assert_eq!(
        app.call(Method::GET, &format!("/api/sessions/{id}"), Some(&carol))
            .await
            .status,
        StatusCode::OK
    );
    let consent = format!("/api/sessions/{id}/consent");
    let r = app
        .request(
            Method::PUT,
            &consent,
            Some(&bob),
            JSON,
            r#"{"consent":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["recording_consent"], true);
    let r = app
        .request(
            Method::PUT,
            &consent,
            Some(&guest),
            JSON,
            r#"{"consent":false}"#,
        )
        .await;
    assert_eq!(r.json()["recording_consent"], false);

    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/participants"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["participants"].as_array().map(Vec::len), Some(3), "{v}");
    let mut missing: Vec<&str> = v["without_recording_consent"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["user_id"].as_str())
        .collect();
    missing.sort();
    assert_eq!(missing, ["carol", "gus"]);

    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/participants"),
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (body, want) in [
        (r#"{"consent":"maybe"}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY),
        ("not json", StatusCode::BAD_REQUEST),
    ] {
        let r = app
            .request(Method::PUT, &consent, Some(&bob), JSON, body)
            .await;
        assert_eq!(r.status, want, "{body}: {}", r.text());
    }
    let r = app
        .request(
            Method::PUT,
            "/api/sessions/nope/consent",
            Some(&alice),
            JSON,
            r#"{"consent":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn check_retention(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let old_session = app.create_session(&alice, "Last term").await;
    let new_session = app.create_session(&alice, "This week").await;
    let old = ready_recording(app, &old_session, b"old").await;
    let new = ready_recording(app, &new_session, b"new").await;
    let db = &app.state.db;
    let long_ago = classcast::time::now_ms() - 91 * 24 * 3600 * 1000;
    db.set_recording_created_at(&old, long_ago)
        .await
        .expect("age");
    let hls = app.state.data_dir().join("hls").join(&old_session);
    std::fs::create_dir_all(hls.join("720p")).expect("hls dir");
    std::fs::write(hls.join("720p/seg_00000.ts"), b"ts").expect("segment");
    let ninety_days = Duration::from_secs(90 * 24 * 3600);
    let storage = &app.state.storage;
    let data_dir = app.state.data_dir();

    let dry = retention::prune(db, storage, data_dir, ninety_days, true)
        .await
        .expect("dry run");
    assert_eq!(dry.recordings_deleted, vec![old.clone()]);
    assert_eq!(
        db.recording(&old)
            .await
            .expect("db")
            .expect("row")
            .state
            .as_str(),
        "ready"
    );

    let report = retention::prune(db, storage, data_dir, ninety_days, false)
        .await
        .expect("prune");
    assert_eq!(report.recordings_deleted, vec![old.clone()]);
    assert_eq!(report.sessions_cleared, vec![old_session.clone()]);
    let row = db.recording(&old).await.expect("db").expect("row");
    assert_eq!(row.state.as_str(), "deleted");
    assert!(row.deleted_at.is_some());
    let key = classcast::storage::recording_key(&old_session, &old);
    assert!(!data_dir.join(key).exists(), "the MP4 is gone");
    assert!(!hls.exists(), "the session's HLS is gone");
    assert_eq!(
        db.recording(&new)
            .await
            .expect("db")
            .expect("row")
            .state
            .as_str(),
        "ready"
    );
    // Students no longer see it; the instructor sees it marked deleted.
    let bob = token(Role::Student, "bob", Some(&old_session));
    let v = app
        .call(
            Method::GET,
            &format!("/api/sessions/{old_session}/recordings"),
            Some(&bob),
        )
        .await
        .json();
    assert_eq!(v["recordings"].as_array().map(Vec::len), Some(0), "{v}");
    let v = app
        .call(
            Method::GET,
            &format!("/api/sessions/{old_session}/recordings"),
            Some(&alice),
        )
        .await
        .json();
    assert_eq!(v["recordings"][0]["state"], "deleted");
    assert!(v["recordings"][0]["url"].is_null());
    // Again: nothing left to do.
    let again = retention::prune(db, storage, data_dir, ninety_days, false)
        .await
        .expect("prune");
    assert!(again.recordings_deleted.is_empty());
}

on_both_databases! {
    recordings_listed => check_recordings_are_listed_with_playable_urls;
    record_switch => check_the_record_switch;
    recording_consent => check_recording_consent;
    retention_prunes => check_retention;
}

#[tokio::test]
async fn storage_status_and_metrics() {
    let app = TestApp::new(Backend::Sqlite).await;
    let alice = token(Role::Instructor, "alice", None);
    let r = app.call(Method::GET, "/api/storage", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["backend"], "local");
    assert_eq!(r.json()["pending"], 0);
    let bob = token(Role::Student, "bob", None);
    assert_eq!(
        app.call(Method::GET, "/api/storage", Some(&bob))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app.call(Method::GET, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().contains("classcast_uploads_pending 0"),
        "{}",
        r.text()
    );
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.json()["storage"]["backend"], "local");
    app.cleanup().await;
}

/// `classcast recordings prune` on the embedded default (SQLite in the data
/// directory, local storage).
#[test]
fn the_prune_command() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classcast"))
        .args(["recordings", "prune", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(v["recordings_deleted"], serde_json::json!([]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classcast"))
        .args(["recordings", "prune", "--storage", "s3", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bucket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Remux leftovers (`<id>.mp4.part`, `.moov`) of a crash or a failed remux:
/// the hourly pass deletes those untouched for an hour (a running remux's
/// file is fresh and stays), start-up recovery deletes them all.
#[tokio::test]
async fn remux_leftovers_are_swept() {
    let app = TestApp::new(Backend::Sqlite).await;
    let alice = token(Role::Instructor, "alice", None);
    let session = app.create_session(&alice, "Leftovers").await;
    let kept = ready_recording(&app, &session, b"mp4").await;
    let data_dir = app.state.data_dir();
    let dir = data_dir.join("recordings").join(&session);
    let file = |name: &str| dir.join(name);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for name in ["old.mp4.part", "old.mp4.moov"] {
        std::fs::write(file(name), b"half").expect("write");
        std::fs::File::options()
            .write(true)
            .open(file(name))
            .and_then(|f| f.set_modified(two_hours_ago))
            .expect("age");
    }
    std::fs::write(file("running.mp4.part"), b"in progress").expect("write");

    let report = retention::prune(
        &app.state.db,
        &app.state.storage,
        data_dir,
        Duration::from_secs(90 * 24 * 3600),
        false,
    )
    .await
    .expect("prune");
    assert_eq!(report.partials_swept.len(), 2, "{report:?}");
    assert!(!file("old.mp4.part").exists() && !file("old.mp4.moov").exists());
    assert!(
        file("running.mp4.part").exists(),
        "a fresh .part may be a running remux"
    );
    let mp4 = data_dir.join(classcast::storage::recording_key(&session, &kept));
    assert!(mp4.exists(), "finished recordings are not leftovers");

    // After a restart nothing is remuxing: every leftover goes.
    app.state.recorder.recover().await.expect("recover");
    assert!(!file("running.mp4.part").exists());
    assert!(mp4.exists());
    app.cleanup().await;
}

/// The app with an S3 spool whose store refuses every connection.
async fn app_with_a_dead_store(
    metrics_token: Option<&str>,
) -> (TestApp, classcast::storage::Uploads) {
    use classcast::storage::{S3Settings, S3Store, Storage, Uploads, UploadsSettings};
    common::s3::aws_test_env();
    let mut app = TestApp::new(Backend::Sqlite).await;
    let store = S3Store::new(&S3Settings {
        bucket: "b".into(),
        // Nothing listens on the discard port: connection refused.
        endpoint: Some("http://127.0.0.1:9".into()),
        path_style: true,
        ..S3Settings::default()
    })
    .await
    .expect("store");
    let uploads = Uploads::new(
        app.state.db.clone(),
        Storage::S3(std::sync::Arc::new(store)),
        None,
        UploadsSettings::default(),
    )
    .await
    .expect("spool");
    app.state.uploads = Some(uploads.clone());
    let mut settings = (*app.state.settings).clone();
    settings.metrics_token = metrics_token.map(str::to_owned);
    app.state.settings = std::sync::Arc::new(settings);
    (app, uploads)
}

#[tokio::test]
async fn anonymous_health_and_metrics_show_no_store_errors_or_session_ids() {
    const OPERATOR: &str = "operator-token-0123456789";
    let (app, uploads) = app_with_a_dead_store(None).await;
    let alice = token(Role::Instructor, "alice", None);
    let session = app.create_session(&alice, "Watched").await;
    app.state.hls_audience.record(&session, "bob");
    let meta = classcast::storage::ObjectMeta::for_key("hls/x/index.m3u8", true);
    uploads
        .enqueue_playlist(
            &session,
            &format!("hls/{session}/index.m3u8"),
            "#EXTM3U\n".into(),
            &meta,
        )
        .await
        .expect("enqueue");
    let worker = uploads.start();
    let error = wait_for(Duration::from_secs(20), "a failed upload", || async {
        uploads.backlog().await.last_error
    })
    .await;
    assert!(!error.is_empty());

    // Anyone: how it goes, not why.
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["storage"]["status"], "retrying", "{v}");
    assert_eq!(v["storage"]["pending"], 1, "{v}");
    assert!(
        !r.text().contains(&error),
        "the store's error text leaks: {v}"
    );
    assert!(v["storage"].get("last_error").is_none(), "{v}");
    // Metrics without a token: sums, no session ids.
    let r = app.call(Method::GET, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().contains(&session), "{}", r.text());
    assert!(
        r.text().contains("classcast_hls_viewers 1\n"),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("classcast_webrtc_viewers 0\n"),
        "{}",
        r.text()
    );
    worker.abort();
    app.cleanup().await;

    // With an operator token: /metrics needs it, and it shows the details.
    let (app, uploads) = app_with_a_dead_store(Some(OPERATOR)).await;
    let session = app.create_session(&alice, "Watched").await;
    app.state.hls_audience.record(&session, "bob");
    uploads
        .enqueue_playlist(
            &session,
            &format!("hls/{session}/index.m3u8"),
            "#EXTM3U\n".into(),
            &meta,
        )
        .await
        .expect("enqueue");
    let worker = uploads.start();
    let error = wait_for(Duration::from_secs(20), "a failed upload", || async {
        uploads.backlog().await.last_error
    })
    .await;
    for who in [None, Some(alice.as_str()), Some("wrong")] {
        let r = app.call(Method::GET, "/metrics", who).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{who:?}");
        let r = app.call(Method::GET, "/healthz", who).await;
        assert!(!r.text().contains(&error), "{who:?}: {}", r.text());
    }
    let r = app.call(Method::GET, "/metrics", Some(OPERATOR)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text()
            .contains(&format!("classcast_hls_viewers{{session=\"{session}\"}} 1")),
        "{}",
        r.text()
    );
    let r = app.call(Method::GET, "/healthz", Some(OPERATOR)).await;
    assert_eq!(r.json()["storage"]["last_error"], error.as_str());
    worker.abort();
    app.cleanup().await;
}

/// A spool on moto where one upload can never succeed (its "file" is a
/// directory: the store never gets a body) while a class keeps producing
/// segments: the others go up as they come, the bad one backs off on its own
/// and is given up after `max_attempts` failures, reported in /healthz and
/// /metrics, its local path untouched; a restart tries it again.
#[tokio::test]
async fn one_upload_that_always_fails_does_not_hold_up_the_others() {
    one_failing_upload(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_upload_that_always_fails_does_not_hold_up_the_others_postgres() {
    one_failing_upload(Backend::Postgres).await;
}

async fn one_failing_upload(backend: Backend) {
    use classcast::storage::{ObjectMeta, S3Settings, S3Store, Storage, Uploads, UploadsSettings};
    common::s3::aws_test_env();
    let moto = common::MotoServer::start();
    let s3 = common::s3::s3_client(&moto.endpoint);
    common::s3::create_bucket(&s3).await;
    let mut app = TestApp::new(backend).await;
    let store = Storage::S3(std::sync::Arc::new(
        S3Store::new(&S3Settings {
            bucket: common::s3::BUCKET.into(),
            endpoint: Some(moto.endpoint.clone()),
            path_style: true,
            ..S3Settings::default()
        })
        .await
        .expect("store"),
    ));
    let settings = UploadsSettings {
        concurrency: 2,
        retry_max: Duration::from_millis(300),
        max_attempts: 3,
    };
    let db = app.state.db.clone();
    let uploads = Uploads::new(db.clone(), store.clone(), None, settings.clone())
        .await
        .expect("spool");
    app.state.uploads = Some(uploads.clone());
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("seg_00000.ts");
    std::fs::create_dir(&bad).expect("a directory where a file should be");
    let meta = |k: &str| ObjectMeta::for_key(k, true);
    uploads
        .enqueue_file("s1", "hls/s1/720p/seg_00000.ts", &bad, &meta(".ts"), None)
        .await
        .expect("enqueue");
    // Its session's playlist waits for it (never list a missing segment)…
    uploads
        .enqueue_playlist(
            "s1",
            "hls/s1/720p/index.m3u8",
            "#EXTM3U\n".into(),
            &meta(".m3u8"),
        )
        .await
        .expect("enqueue");
    let worker = uploads.start();

    // …while another class's segments keep coming and go up as they come.
    let mut n = 0;
    let given_up = loop {
        n += 1;
        let key = format!("hls/s2/720p/seg_{n:05}.ts");
        let path = dir.path().join(format!("good_{n}.ts"));
        std::fs::write(&path, b"segment").expect("write");
        uploads
            .enqueue_file("s2", &key, &path, &meta(".ts"), None)
            .await
            .expect("enqueue");
        wait_for(Duration::from_secs(10), "a good segment uploaded", || {
            let s3 = &s3;
            let key = key.clone();
            async move {
                common::s3::keys(s3, &key)
                    .await
                    .contains(&key)
                    .then_some(())
            }
        })
        .await;
        let b = uploads.backlog().await;
        if b.failed == 1 {
            break b;
        }
        assert!(n < 200, "never given up: {b:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(given_up.failures >= 3, "{given_up:?}");
    assert_eq!(given_up.failed_uploads[0].key, "hls/s1/720p/seg_00000.ts");
    assert!(bad.exists(), "the local file is kept");
    // Given up, it no longer holds its session's playlist back.
    wait_for(
        Duration::from_secs(10),
        "the s1 playlist uploaded",
        || async {
            let k = "hls/s1/720p/index.m3u8";
            common::s3::keys(&s3, k)
                .await
                .contains(&k.to_owned())
                .then_some(())
        },
    )
    .await;
    // What an operator sees.
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.json()["storage"]["status"], "degraded", "{}", r.text());
    assert_eq!(r.json()["storage"]["failed"], 1, "{}", r.text());
    let r = app.call(Method::GET, "/metrics", None).await;
    assert!(
        r.text().contains("classcast_uploads_failed 1\n"),
        "{}",
        r.text()
    );
    worker.abort();

    // A restart tries it again.
    let again = Uploads::new(db, store, None, settings)
        .await
        .expect("spool");
    let b = again.backlog().await;
    assert_eq!((b.failed, b.pending), (0, 1), "{b:?}");
    app.cleanup().await;
}

/// A publish into `session` that started and stopped now.
async fn published(app: &TestApp, session: &str) {
    let id = uuid::Uuid::new_v4().to_string();
    let db = &app.state.db;
    db.start_publish(&classcast::db::PublishEvent {
        id: id.clone(),
        session_id: session.into(),
        resource_id: "r".into(),
        publisher_id: "alice".into(),
        publisher_name: "alice".into(),
        video_codec: Some("H264".into()),
        audio_codec: None,
        started_at: classcast::time::now_ms(),
        stopped_at: None,
        stop_reason: None,
    })
    .await
    .expect("publish");
    db.stop_publish(&id, "deleted").await.expect("stop");
}

/// The ladder's files of a publish, as a viewer fetches them.
fn hls_files(app: &TestApp, session: &str) -> std::path::PathBuf {
    let dir = app.state.hls.session_dir(session);
    std::fs::create_dir_all(dir.join("720p")).expect("mkdir");
    std::fs::write(dir.join("master.m3u8"), "#EXTM3U\n").expect("master");
    std::fs::write(dir.join("720p/index.m3u8"), "#EXTM3U\n").expect("playlist");
    std::fs::write(dir.join("720p/seg_00000.ts"), b"ts").expect("segment");
    dir
}

async fn check_unrecorded_hls_expires(app: &TestApp) {
    let alice = token(Role::Instructor, "alice", None);
    let unrecorded = app.create_session(&alice, "Not recorded").await;
    let recorded = app.create_session(&alice, "Recorded").await;
    app.state
        .db
        .set_session_record(&recorded, true)
        .await
        .expect("record");
    published(app, &unrecorded).await;
    published(app, &recorded).await;
    let gone_dir = hls_files(app, &unrecorded);
    let kept_dir = hls_files(app, &recorded);
    let bob = token(Role::Student, "bob", Some(&unrecorded));
    let master = format!("/hls/{unrecorded}/master.m3u8");
    let segment = format!("/hls/{unrecorded}/720p/seg_00000.ts");
    let (db, storage, data_dir) = (&app.state.db, &app.state.storage, app.state.data_dir());
    let expire = |grace| retention::expire_unrecorded_hls(db, storage, None, data_dir, grace);

    // Within the grace (the class just ended) it still plays.
    let cleared = expire(Duration::from_secs(3600)).await.expect("expire");
    assert!(cleared.is_empty(), "{cleared:?}");
    assert_eq!(
        app.call(Method::GET, &master, Some(&bob)).await.status,
        StatusCode::OK
    );

    // Past it (a shortened grace): deleted, and said so.
    let cleared = expire(Duration::ZERO).await.expect("expire");
    assert_eq!(cleared, vec![unrecorded.clone()]);
    assert!(!gone_dir.exists(), "the HLS files are gone");
    assert!(
        kept_dir.join("720p/seg_00000.ts").exists(),
        "a recorded class keeps its VOD"
    );
    for path in [&master, &segment] {
        let r = app.call(Method::GET, path, Some(&bob)).await;
        assert_eq!(r.status, StatusCode::GONE, "{path}: {}", r.text());
        assert!(r.text().contains("not recorded"), "{}", r.text());
    }
    // Done once.
    assert!(expire(Duration::ZERO).await.expect("expire").is_empty());

    // Published again (on a later millisecond than the deletion): a new HLS,
    // served, and expired in its turn.
    let deleted_at = classcast::time::now_ms();
    while classcast::time::now_ms() <= deleted_at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    published(app, &unrecorded).await;
    hls_files(app, &unrecorded);
    assert_eq!(
        app.call(Method::GET, &master, Some(&bob)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        expire(Duration::ZERO).await.expect("expire"),
        vec![unrecorded.clone()]
    );
    assert_eq!(
        app.call(Method::GET, &master, Some(&bob)).await.status,
        StatusCode::GONE
    );
}

on_both_databases! {
    unrecorded_hls_expires => check_unrecorded_hls_expires;
}

/// With less free space than `--min-free-disk-mb` in the data directory, the
/// record switch is refused with words and /healthz says the disk is low.
#[tokio::test]
async fn a_nearly_full_disk_refuses_new_recordings_and_says_so() {
    let mut app = TestApp::new(Backend::Sqlite).await;
    let alice = token(Role::Instructor, "alice", None);
    let id = app.create_session(&alice, "Full disk").await;
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.json()["disk"]["status"], "ok", "{}", r.text());

    // More than any disk has: always below.
    let data_dir = app.state.data_dir().to_path_buf();
    app.state.recorder = classcast::recording::Recorder::new(
        app.state.db.clone(),
        app.state.hls.clone(),
        app.state.storage.clone(),
        None,
        data_dir.clone(),
    )
    .with_disk_guard(classcast::storage::DiskGuard::new(data_dir, u64::MAX));
    let r = app
        .request(
            Method::PUT,
            &format!("/api/sessions/{id}/record"),
            Some(&alice),
            JSON,
            r#"{"record":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.text().contains("disk space"), "{}", r.text());
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["disk"]["status"], "low", "{}", r.text());
    app.cleanup().await;
}
