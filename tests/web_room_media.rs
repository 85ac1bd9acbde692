//! The classroom panels in headless Chromium: an instructor in the studio
//! and two students in the classroom (separate browser contexts) go through
//! the lobby, chat (reply, mention, delete), hands and a poll
//! (tests/browser/web/room.mjs), with no console errors, axe-clean pages and
//! screenshots of both pages' panels.

mod common;

use std::time::Duration;

use classcast::auth::Role;
use common::{create_session, token, ClientProcess, ServerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_chat_hands_and_a_poll_between_a_studio_and_two_classrooms() {
    let server = ServerProcess::start(&[]);
    let teacher = token(Role::Instructor, "teacher", None);
    let session = create_session(&server.url, &teacher, "Algorithms").await;
    let s1 = token(Role::Student, "s1", Some(&session));
    let s2 = token(Role::Student, "s2", Some(&session));
    let base = server.url.clone();
    tokio::task::spawn_blocking(move || {
        ClientProcess::web_scenario(
            "room.mjs",
            &base,
            &[
                ("session", &session),
                ("instructor", &teacher),
                ("s1", &s1),
                ("s2", &s2),
            ],
        )
        .finish(Duration::from_secs(180));
    })
    .await
    .expect("the scenario's thread");
}
