//! The studio's media side in headless Chromium with the fake camera and
//! microphone: devices, Go live over WHIP, what is sent, Camera off reaching
//! the class, the screen shared beside the camera (a second publish) and
//! stopped, Stop; foreign tokens get a clear page (tests/browser/web/studio.mjs).

mod common;

use std::time::Duration;

use classcast::auth::Role;
use common::{create_session, token, ClientProcess, ServerProcess};

#[tokio::test(flavor = "multi_thread")]
async fn the_instructor_goes_live_from_the_studio_and_controls_the_broadcast() {
    let server = ServerProcess::start(&[]);
    let alice = token(Role::Instructor, "alice", None);
    let session = create_session(&server.url, &alice, "Studio test").await;
    let student = token(Role::Student, "sam", Some(&session));
    let observer = token(Role::Student, "olive", Some(&session));
    let stranger = token(Role::Instructor, "bob", None);
    let scenario = ClientProcess::web_scenario(
        "studio.mjs",
        &server.url,
        &[
            ("session", &session),
            ("instructor", &alice),
            ("student", &student),
            ("observer", &observer),
            ("stranger", &stranger),
        ],
    );
    tokio::task::spawn_blocking(move || scenario.finish(Duration::from_secs(150)))
        .await
        .expect("scenario");
}
