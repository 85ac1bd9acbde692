//! Issue 15's acceptance walk in headless Chromium (tests/browser/web/class.mjs):
//! home → new class → studio (lobby on, Go live with the fake camera) →
//! two students through the studio's invite link with their names → admit
//! one, then all → WebRTC frames on a student's page → camera off seen within
//! 1 s → hand → call on stage → the instructor hands over → the studio shows
//! the student's video → demote.

mod common;

use std::time::Duration;

use classcast::auth::Role;
use common::{token, ClientProcess, ServerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_from_the_home_page_to_a_student_on_stage() {
    let server = ServerProcess::start(&[]);
    let instructor = token(Role::Instructor, "grace", None);
    let base = server.url.clone();
    tokio::task::spawn_blocking(move || {
        ClientProcess::web_scenario("class.mjs", &base, &[("instructor", &instructor)])
            .finish(Duration::from_secs(200));
    })
    .await
    .expect("the scenario's thread");
}
